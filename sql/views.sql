-- Consent-checked purpose views (API section 4): columns, rows, child tables
-- through foreign keys and BELONGS TO, index use, grants, regeneration on
-- tag and table changes, drop.
CREATE SCHEMA views_t;
CREATE TABLE views_t.adres (adres_id int PRIMARY KEY, straat text, plaats text);
CREATE TABLE views_t.klant (
    klant_id int PRIMARY KEY,
    naam text,
    email text,
    telefoon text,
    adres_id int REFERENCES views_t.adres,
    aangebracht_door int REFERENCES views_t.klant,
    segment text
);
CREATE TABLE views_t.bestelling (
    bestelling_id int PRIMARY KEY,
    klant_id int REFERENCES views_t.klant,
    totaal numeric
);
CREATE INDEX ON views_t.bestelling (klant_id);
CREATE TABLE views_t.regel (
    bestelling_id int REFERENCES views_t.bestelling,
    regelnr int,
    product text,
    PRIMARY KEY (bestelling_id, regelnr)
);
-- no foreign key: BELONGS TO
CREATE TABLE views_t.bezoek (bezoek_id int PRIMARY KEY, klant int, pagina text);
-- no subject at all
CREATE TABLE views_t.los (id int PRIMARY KEY, x text);

INSERT INTO views_t.adres SELECT i, 'straat ' || i, 'plaats' FROM generate_series(1, 10) i;
INSERT INTO views_t.klant
SELECT i, 'klant ' || i, 'k' || i || '@example.nl', '06-' || i, i, NULLIF(i - 1, 0), 'seg' || (i % 2)
  FROM generate_series(1, 10) i;
INSERT INTO views_t.bestelling SELECT i, 1 + i % 10, i * 10 FROM generate_series(1, 30) i;
INSERT INTO views_t.regel SELECT b, r, 'p' || r FROM generate_series(1, 30) b, generate_series(1, 2) r;
INSERT INTO views_t.bezoek SELECT i, 1 + i % 10, '/p' || i FROM generate_series(1, 20) i;
INSERT INTO views_t.bezoek VALUES (99, NULL, '/anon');
ANALYZE views_t.klant;

SELECT gdpr.define_purpose('vt_news', 'consent');
SELECT gdpr.define_purpose('vt_lev', 'contract');
SECURITY LABEL FOR gdpr ON TABLE views_t.klant IS 'SUBJECT KEY (klant_id)';
SECURITY LABEL FOR gdpr ON TABLE views_t.bezoek IS 'BELONGS TO views_t.klant (klant)';
SECURITY LABEL FOR gdpr ON COLUMN views_t.klant.naam IS 'PURPOSE vt_lev CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN views_t.klant.email IS 'PURPOSE vt_lev, vt_news CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON COLUMN views_t.klant.telefoon IS 'PURPOSE vt_lev CATEGORY contact.phone';
SECURITY LABEL FOR gdpr ON COLUMN views_t.adres.straat IS 'PURPOSE vt_lev CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN views_t.bezoek.pagina IS 'PURPOSE vt_news CATEGORY behavioral';

-- klanten 2, 4, 6 consent to the newsletter
SELECT count(gdpr.grant_consent('views_t.klant', k, 'vt_news', 'checkbox')) FROM unnest('{2,4,6}'::int[]) k;

-- ---------------------------------------------------------------- create
SELECT gdpr.create_purpose_view('views_t.klant', 'vt_news');
SELECT gdpr.create_purpose_view('views_t.klant', 'vt_lev');
SELECT gdpr.create_purpose_view('views_t.bestelling', 'vt_news');
SELECT gdpr.create_purpose_view('views_t.regel', 'vt_news', 'views_t.regels_nieuwsbrief');
SELECT gdpr.create_purpose_view('views_t.bezoek', 'vt_news');
SELECT gdpr.create_purpose_view('views_t.adres', 'vt_news');
SELECT view, relation, purpose FROM gdpr.purpose_views WHERE purpose LIKE 'vt\_%' ORDER BY 1::text;

-- untagged columns + the purpose's columns; security_barrier
SELECT c.relname, c.reloptions,
       array_agg(a.attname ORDER BY a.attnum) AS columns
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
 WHERE c.relnamespace = 'views_t'::regnamespace AND c.relkind = 'v'
 GROUP BY c.relname, c.reloptions ORDER BY 1;
-- the filters: own key, the child's FK column directly, a join up for
-- grandchildren, the BELONGS TO column, the referencing subjects
SELECT pg_get_viewdef('views_t.klant_vt_news');
SELECT pg_get_viewdef('views_t.bestelling_vt_news');
SELECT pg_get_viewdef('views_t.regels_nieuwsbrief');
SELECT pg_get_viewdef('views_t.bezoek_vt_news');
SELECT pg_get_viewdef('views_t.adres_vt_news');

-- rows: only consenting subjects, checked against an independent count
SELECT (SELECT array_agg(klant_id ORDER BY klant_id) FROM views_t.klant_vt_news) AS klanten,
       (SELECT count(*) FROM views_t.klant_vt_lev) AS contract_all;
SELECT (SELECT count(*) FROM views_t.bestelling_vt_news) AS view_orders,
       (SELECT count(*) FROM views_t.bestelling b
         WHERE EXISTS (SELECT 1 FROM gdpr.consent_status s
                        WHERE s.subject = 'views_t.klant'::regclass AND s.purpose = 'vt_news'
                          AND s.subject_key = b.klant_id::text)) AS independent_orders,
       (SELECT count(*) FROM views_t.regels_nieuwsbrief) AS view_lines,
       (SELECT count(*) FROM views_t.regel r JOIN views_t.bestelling b USING (bestelling_id)
         WHERE b.klant_id IN (2, 4, 6)) AS independent_lines,
       (SELECT count(*) FROM views_t.bezoek_vt_news) AS view_visits,
       (SELECT count(*) FROM views_t.bezoek WHERE klant IN (2, 4, 6)) AS independent_visits,
       (SELECT array_agg(adres_id ORDER BY adres_id) FROM views_t.adres_vt_news) AS addresses;

-- point lookups by key still use the base table's index (the tables are
-- tiny: make a sequential scan unattractive, as it would be on real data)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM views_t.klant_vt_news WHERE klant_id = 4;
EXPLAIN (COSTS OFF) SELECT * FROM views_t.bestelling_vt_news WHERE bestelling_id = 3;
EXPLAIN (COSTS OFF) SELECT * FROM views_t.regels_nieuwsbrief WHERE bestelling_id = 3;
RESET enable_seqscan;
SELECT klant_id, email FROM views_t.klant_vt_news WHERE klant_id = 4;
SELECT klant_id, email FROM views_t.klant_vt_news WHERE klant_id = 5;

-- withdrawal and grant show at the next statement
SELECT gdpr.withdraw_consent('views_t.klant', 4, 'vt_news');
SELECT array_agg(klant_id ORDER BY klant_id) FROM views_t.klant_vt_news;
SELECT gdpr.grant_consent('views_t.klant', 5, 'vt_news', 'double_opt_in') > 0;
SELECT array_agg(klant_id ORDER BY klant_id) FROM views_t.klant_vt_news;
SELECT count(*) FROM views_t.bezoek_vt_news;

-- parallel workers see what the leader sees (the leader's copy of the
-- cache, or their own), before and after a change
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET force_parallel_mode = on;
EXPLAIN (COSTS OFF) SELECT klant_id FROM views_t.klant_vt_news;
SELECT array_agg(klant_id ORDER BY klant_id) AS parallel FROM views_t.klant_vt_news;
SELECT array_agg(klant_id ORDER BY klant_id) AS parallel_again FROM views_t.klant_vt_news;
SELECT gdpr.withdraw_consent('views_t.klant', 6, 'vt_news');
SELECT array_agg(klant_id ORDER BY klant_id) AS parallel_after_withdraw FROM views_t.klant_vt_news;
SELECT gdpr.grant_consent('views_t.klant', 6, 'vt_news', 'checkbox') > 0 AS regranted;
SELECT array_agg(klant_id ORDER BY klant_id) AS parallel_after_grant FROM views_t.klant_vt_news;
SELECT count(*) AS parallel_orders FROM views_t.bestelling_vt_news;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
RESET force_parallel_mode;

-- ---------------------------------------------------------------- errors
SELECT gdpr.create_purpose_view('views_t.los', 'vt_news');
SELECT gdpr.create_purpose_view('views_t.klant', 'vt_nope');
SELECT gdpr.create_purpose_view(NULL, 'vt_news');
SELECT gdpr.create_purpose_view('views_t.klant', NULL);
SELECT gdpr.create_purpose_view('views_t.klant_vt_news', 'vt_news');
SELECT gdpr.create_purpose_view('views_t.bestelling', 'vt_lev', 'views_t.klant_vt_news');
SELECT gdpr.create_purpose_view('views_t.bestelling', 'vt_lev', 'views_t.los');
-- again for the same relation and purpose: the same view
SELECT gdpr.create_purpose_view('views_t.klant', 'vt_news');
SELECT gdpr.drop_purpose_view('views_t.los');
SELECT gdpr.drop_purpose_view(NULL);
-- a purpose with views cannot be dropped
SELECT gdpr.drop_purpose('vt_lev');

-- ---------------------------------------------------------------- grants
CREATE ROLE views_t_marketing;
CREATE ROLE views_t_other;
SELECT gdpr.grant_purpose('views_t_marketing', 'vt_news');
SET ROLE views_t_marketing;
SELECT count(*) FROM views_t.klant_vt_news;
SELECT count(*) FROM views_t.regels_nieuwsbrief;
SELECT count(*) FROM views_t.klant;
SELECT count(*) FROM views_t.klant_vt_lev;
SELECT count(*) FROM gdpr.consent_events;
SELECT count(*) FROM gdpr.consent_event;
RESET ROLE;
-- views created later are granted too
CREATE TABLE views_t.extra (id int PRIMARY KEY, klant_id int REFERENCES views_t.klant, notitie text);
INSERT INTO views_t.extra SELECT i, i, 'n' || i FROM generate_series(1, 10) i;
SELECT gdpr.create_purpose_view('views_t.extra', 'vt_news');
SET ROLE views_t_marketing;
SELECT array_agg(klant_id ORDER BY klant_id) FROM views_t.extra_vt_news;
RESET ROLE;
SET ROLE views_t_other;
SELECT count(*) FROM views_t.klant_vt_news;
RESET ROLE;
SELECT has_schema_privilege('views_t_marketing', 'views_t', 'USAGE') AS usage_before;
SELECT gdpr.revoke_purpose('views_t_marketing', 'vt_news');
SELECT has_schema_privilege('views_t_marketing', 'views_t', 'USAGE') AS usage_after,
       has_table_privilege('views_t_marketing', 'views_t.klant_vt_news', 'SELECT') AS select_after;
SET ROLE views_t_marketing;
SELECT count(*) FROM views_t.klant_vt_news;
RESET ROLE;
SELECT gdpr.grant_purpose('views_t_nobody', 'vt_news');
SELECT gdpr.grant_purpose('views_t_marketing', 'vt_nope');

-- ---------------------------------------------------------------- in step
-- a tag change adds or removes the column
SECURITY LABEL FOR gdpr ON COLUMN views_t.klant.telefoon IS 'PURPOSE vt_lev, vt_news CATEGORY contact.phone';
SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
 WHERE attrelid = 'views_t.klant_vt_news'::regclass AND attnum > 0;
SELECT gdpr.tag_column('views_t.klant', 'segment', '{vt_lev}', 'other');
SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
 WHERE attrelid = 'views_t.klant_vt_news'::regclass AND attnum > 0;
SELECT gdpr.untag_column('views_t.klant', 'telefoon');
SELECT gdpr.tag_column('views_t.klant', 'telefoon', '{vt_lev}', 'contact.phone');
SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
 WHERE attrelid = 'views_t.klant_vt_news'::regclass AND attnum > 0;
-- table changes: new, dropped, renamed and retyped columns
ALTER TABLE views_t.klant ADD COLUMN taal text DEFAULT 'nl';
ALTER TABLE views_t.klant DROP COLUMN aangebracht_door;
ALTER TABLE views_t.klant RENAME COLUMN taal TO voorkeurstaal;
ALTER TABLE views_t.klant ALTER COLUMN segment TYPE varchar(10);
SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
 WHERE a.attrelid = 'views_t.klant_vt_news'::regclass AND a.attnum > 0 ORDER BY a.attnum;
-- the regenerated view keeps its grants, filter and security barrier
SELECT gdpr.grant_purpose('views_t_marketing', 'vt_news');
ALTER TABLE views_t.klant DROP COLUMN voorkeurstaal;
SET ROLE views_t_marketing;
SELECT array_agg(klant_id ORDER BY klant_id) FROM views_t.klant_vt_news;
RESET ROLE;
SELECT c.reloptions FROM pg_class c WHERE c.oid = 'views_t.klant_vt_news'::regclass;
-- the key column of the child changes type: its view follows
ALTER TABLE views_t.bezoek ALTER COLUMN klant TYPE bigint;
SELECT count(*) FROM views_t.bezoek_vt_news;
SELECT gdpr._refresh_purpose_views('views_t.klant') > 0 AS refreshed;

-- ---------------------------------------------------------------- drop
SELECT gdpr.drop_purpose_view('views_t.adres_vt_news');
SELECT to_regclass('views_t.adres_vt_news') AS gone;
DROP VIEW views_t.extra_vt_news;
-- views vanish with their table (no CASCADE needed)
DROP TABLE views_t.regel;
SELECT view, relation, purpose FROM gdpr.purpose_views WHERE purpose LIKE 'vt\_%' ORDER BY 1::text;
SELECT action, details->>'view' AS view FROM gdpr.audit_log
 WHERE action LIKE 'view.%' AND details->>'view' LIKE 'views_t.%' ORDER BY id;
-- registry tables are dumped
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) x(oid)
  JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'gdpr_crm' AND c.relname LIKE 'purpose\_%' ORDER BY 1;

-- ---------------------------------------------------------------- cleanup
SELECT gdpr.revoke_purpose('views_t_marketing', 'vt_news');
DROP SCHEMA views_t CASCADE;
SELECT count(*) AS left_over FROM gdpr.purpose_views WHERE purpose LIKE 'vt\_%';
DROP ROLE views_t_marketing;
DROP ROLE views_t_other;
SELECT gdpr.drop_purpose('vt_news');
SELECT gdpr.drop_purpose('vt_lev');
