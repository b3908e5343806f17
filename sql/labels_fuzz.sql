-- The label parser against a few thousand generated labels (token soup and
-- mutations of valid labels): every bad one is refused with a syntax or
-- validation error, never anything else, and the server stays up.
-- Deterministic (setseed).
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE SCHEMA labels_fuzz;
SELECT gdpr.define_purpose('lf_a', 'contract');
SELECT gdpr.define_purpose('LF_B', 'consent');
CREATE TABLE labels_fuzz.t (id int PRIMARY KEY, "Id2" int UNIQUE, email text, op date, ts timestamptz);
CREATE TABLE labels_fuzz.u (id int, t_id int, wanneer timestamp);
SECURITY LABEL FOR gdpr ON TABLE labels_fuzz.t IS 'SUBJECT KEY (id)';

CREATE TABLE labels_fuzz.results (id serial, kind text, target text, label text, outcome text);

DO $$
DECLARE
    toks text[] := ARRAY['SUBJECT', 'KEY', 'RETAIN', 'FROM', 'BELONGS', 'TO', 'PURPOSE', 'CATEGORY',
                         '(', ')', ',', '.', 'id', '"Id2"', 'email', 'op', 'ts', 't', 'labels_fuzz',
                         'lf_a', '"LF_B"', 'lf_b', 'contact', 'name', 'special', 'health', '""', '"',
                         ';', '''', 'é', '$', '1', 'subject', 'purpose', '  ', E'\t', E'\n', '--', '/*'];
    valid_t text[] := ARRAY['SUBJECT KEY (id)', 'RETAIN FROM op', 'SUBJECT KEY ("Id2") RETAIN FROM ts'];
    valid_u text[] := ARRAY['BELONGS TO t (t_id)', 'BELONGS TO labels_fuzz.t (t_id) RETAIN FROM wanneer'];
    valid_c text[] := ARRAY['PURPOSE lf_a', 'PURPOSE lf_a, "LF_B" CATEGORY contact.email', 'CATEGORY name PURPOSE lf_a'];
    lbl text;
    target text;
    n int;
    i int;
    k int;
    st text;
BEGIN
    PERFORM setseed(0.5);
    FOR i IN 1..3000 LOOP
        k := i % 3;
        IF i % 2 = 0 THEN
            -- token soup
            n := 1 + floor(random() * 8)::int;
            SELECT string_agg(toks[1 + floor(random() * array_length(toks, 1))::int], ' ')
              INTO lbl FROM generate_series(1, n);
        ELSE
            -- a valid label with one character changed, dropped or doubled
            lbl := CASE k WHEN 0 THEN valid_t[1 + floor(random() * 3)::int]
                          WHEN 1 THEN valid_u[1 + floor(random() * 2)::int]
                          ELSE valid_c[1 + floor(random() * 3)::int] END;
            n := 1 + floor(random() * length(lbl))::int;
            lbl := CASE floor(random() * 3)::int
                       WHEN 0 THEN overlay(lbl PLACING substr('(),."; xé', 1 + floor(random() * 9)::int, 1) FROM n FOR 1)
                       WHEN 1 THEN overlay(lbl PLACING '' FROM n FOR 1)
                       ELSE overlay(lbl PLACING substr(lbl, n, 1) || substr(lbl, n, 1) FROM n FOR 1) END;
        END IF;
        target := CASE k WHEN 0 THEN 'TABLE labels_fuzz.t' WHEN 1 THEN 'TABLE labels_fuzz.u'
                         ELSE 'COLUMN labels_fuzz.t.email' END;
        BEGIN
            EXECUTE format('SECURITY LABEL FOR gdpr ON %s IS %L', target, lbl);
            st := 'accepted';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
        END;
        INSERT INTO labels_fuzz.results (kind, target, label, outcome) VALUES (split_part(target, ' ', 1), target, lbl, st);
    END LOOP;
END;
$$;

-- only these outcomes occur (no internal errors, no crashes)
SELECT outcome, count(*) > 0 AS seen FROM labels_fuzz.results GROUP BY 1 ORDER BY 1;
SELECT count(*) AS unexpected FROM labels_fuzz.results
 WHERE outcome NOT IN ('accepted', '42601', '22023', '42704', '42703', '42804', '42P01',
                       '42P17', '42809', '0A000', '54000', '2BP01');
-- what was accepted (a small set: the valid labels and harmless variants)
SELECT target, label, count(*) FROM labels_fuzz.results WHERE outcome = 'accepted'
 GROUP BY 1, 2 ORDER BY 1, 2;
-- the stored label of each object is the last one accepted for it
SELECT r.target, s.label = r.label AS stored_is_last_accepted
  FROM (SELECT DISTINCT ON (target) target, label FROM labels_fuzz.results
         WHERE outcome = 'accepted' ORDER BY target, id DESC) r
  JOIN pg_seclabel s ON s.provider = 'gdpr'
   AND (s.objoid, s.objsubid) = (CASE r.target WHEN 'TABLE labels_fuzz.u' THEN 'labels_fuzz.u'::regclass
                                               ELSE 'labels_fuzz.t'::regclass END,
                                 CASE r.target WHEN 'COLUMN labels_fuzz.t.email' THEN 3 ELSE 0 END)
 ORDER BY 1;
-- and reads back through the views and the C cache
SELECT relation, column_name, purposes, category FROM gdpr.column_tags WHERE relation::text LIKE 'labels_fuzz.%';
SELECT relation, subject_key, retain_from, belongs_to FROM gdpr.table_labels
 WHERE relation::text LIKE 'labels_fuzz.%' ORDER BY relation::text;
SELECT source, column_name, purposes FROM gdpr._table_tags('labels_fuzz.t');

DROP SCHEMA labels_fuzz CASCADE;
SELECT gdpr.drop_purpose(name) FROM gdpr.purposes WHERE name IN ('lf_a', 'LF_B');
