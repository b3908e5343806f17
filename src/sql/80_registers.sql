-- gdpr_crm 1.0 — the registers an auditor asks for (API section 9):
-- processors and their agreements (Art. 28), the record of processing
-- activities (Art. 30(1)), personal data breaches (Art. 33).
--
-- Nothing here is granted to PUBLIC: the DBA grants the registers to the
-- privacy officer.  The processing register is derived from the purposes,
-- the tags, the subject tables and the processors: nothing is typed twice.

---------------------------------------------------------------------------
-- Countries: ISO 3166-1 alpha-2, and the EEA (EU 27 + Iceland, Liechtenstein,
-- Norway).  A transfer to any other country is a third-country transfer
-- (Chapter V) that needs an adequacy decision or appropriate safeguards.
CREATE FUNCTION gdpr._iso_countries() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN string_to_array(
        'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO '
        'BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ '
        'DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP '
        'GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG '
        'KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML '
        'MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE '
        'PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL '
        'SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM '
        'US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW', ' ');

CREATE FUNCTION gdpr._eea_countries() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY['AT', 'BE', 'BG', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GR', 'HR',
                 'HU', 'IE', 'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'PL', 'PT', 'RO', 'SE', 'SI',
                 'SK', 'IS', 'LI', 'NO'];

CREATE FUNCTION gdpr.in_eea(country text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN upper(country) = ANY (gdpr._eea_countries());
COMMENT ON FUNCTION gdpr.in_eea(text) IS
    'true for an ISO 3166-1 alpha-2 code of the EEA (EU + IS, LI, NO): no third-country transfer';

---------------------------------------------------------------------------
-- Processors (Art. 28)
CREATE TABLE gdpr.processor (
    name               text PRIMARY KEY CHECK (btrim(name) <> ''),
    country            text NOT NULL CHECK (country = ANY (gdpr._iso_countries())),
    agreement_signed   date NOT NULL,
    agreement_expires  date CHECK (agreement_expires >= agreement_signed),
    purposes           text[] NOT NULL DEFAULT '{}',
    contact            text,
    transfer_safeguard text,
    registered_at      timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON TABLE gdpr.processor FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('gdpr.processor', '');
COMMENT ON TABLE gdpr.processor IS
    'Processors (Art. 28) with their data processing agreement; maintained by gdpr.register_processor().';

CREATE FUNCTION gdpr._check_country(country text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c text := upper(btrim(country));
BEGIN
    IF c = ANY (gdpr._iso_countries()) THEN
        RETURN c;
    END IF;
    RAISE EXCEPTION 'unknown country code "%"', country
        USING ERRCODE = 'invalid_parameter_value',
              HINT = CASE c WHEN 'UK' THEN 'The ISO 3166-1 code of the United Kingdom is GB.'
                            WHEN 'EL' THEN 'The ISO 3166-1 code of Greece is GR.'
                            ELSE 'Give an ISO 3166-1 alpha-2 code such as NL, DE, US.' END;
END;
$$;

CREATE FUNCTION gdpr.register_processor(name text, country text, agreement_signed date,
                                        agreement_expires date DEFAULT NULL,
                                        purposes text[] DEFAULT '{}', contact text DEFAULT NULL,
                                        transfer_safeguard text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c       text;
    unknown text[];
    p       text[];
    existed boolean;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF btrim(name) = '' THEN
        RAISE EXCEPTION 'a processor needs a name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF country IS NULL THEN
        RAISE EXCEPTION 'country must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Give the ISO 3166-1 alpha-2 code of the country where the processor processes the data.';
    END IF;
    IF agreement_signed IS NULL THEN
        RAISE EXCEPTION 'agreement_signed must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Art. 28(3): processing by a processor is governed by a contract; give the date it was signed.';
    END IF;
    IF purposes IS NULL THEN
        RAISE EXCEPTION 'purposes must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass ''{}'' for a processor that serves no purpose yet.';
    END IF;
    c := gdpr._check_country(country);
    IF agreement_expires < agreement_signed THEN
        RAISE EXCEPTION 'agreement_expires (%) lies before agreement_signed (%)', agreement_expires, agreement_signed
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(DISTINCT x ORDER BY x) INTO p FROM unnest(purposes) x;
    p := coalesce(p, '{}');
    IF array_position(p, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'purposes must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT array_agg(x ORDER BY x) INTO unknown
      FROM unnest(p) x
     WHERE NOT EXISTS (SELECT 1 FROM gdpr.purposes gp WHERE gp.name = x);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown purpose(s): %', array_to_string(unknown, ', ')
            USING ERRCODE = 'undefined_object',
                  HINT = 'Define them first with gdpr.define_purpose(); see SELECT name FROM gdpr.purposes.';
    END IF;

    SELECT true INTO existed FROM gdpr.processor pr WHERE pr.name = register_processor.name FOR UPDATE;
    INSERT INTO gdpr.processor AS pr (name, country, agreement_signed, agreement_expires, purposes,
                                      contact, transfer_safeguard)
    VALUES (register_processor.name, c, register_processor.agreement_signed,
            register_processor.agreement_expires, p, register_processor.contact,
            register_processor.transfer_safeguard)
    ON CONFLICT ON CONSTRAINT processor_pkey DO UPDATE
       SET country = excluded.country, agreement_signed = excluded.agreement_signed,
           agreement_expires = excluded.agreement_expires, purposes = excluded.purposes,
           contact = excluded.contact, transfer_safeguard = excluded.transfer_safeguard,
           updated_at = now();

    PERFORM gdpr._audit('processor.register', NULL, NULL,
                        jsonb_build_object('name', register_processor.name, 'country', c,
                                           'agreement_signed', register_processor.agreement_signed,
                                           'agreement_expires', register_processor.agreement_expires,
                                           'purposes', to_jsonb(p),
                                           'updated', coalesce(existed, false)));
END;
$$;
REVOKE ALL ON FUNCTION gdpr.register_processor(text, text, date, date, text[], text, text) FROM PUBLIC;

CREATE FUNCTION gdpr.drop_processor(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM gdpr.processor pr WHERE pr.name = drop_processor.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no processor "%"', name
            USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM gdpr.processors.';
    END IF;
    PERFORM gdpr._audit('processor.register', NULL, NULL,
                        jsonb_build_object('name', drop_processor.name, 'dropped', true));
END;
$$;
REVOKE ALL ON FUNCTION gdpr.drop_processor(text) FROM PUBLIC;

CREATE VIEW gdpr.processors AS
SELECT pr.name, pr.country, pr.agreement_signed, pr.agreement_expires, pr.purposes, pr.contact,
       (pr.agreement_signed <= current_date
        AND (pr.agreement_expires IS NULL OR pr.agreement_expires >= current_date)) AS agreement_valid,
       NOT gdpr.in_eea(pr.country) AS third_country,
       pr.transfer_safeguard,
       pr.registered_at, pr.updated_at
  FROM gdpr.processor pr;
REVOKE ALL ON TABLE gdpr.processors FROM PUBLIC;

---------------------------------------------------------------------------
-- The subject graph as the registers see it (catalog only, no data): links
-- child -> parent through declared foreign keys (top-level constraints, so a
-- partitioned table appears as its parent) and BELONGS TO labels.  Used to
-- name the subject categories of a relation and to estimate the subjects a
-- breach reaches; the erase helper's gdpr._subject_reach() is what reaches
-- the rows of one subject.
CREATE FUNCTION gdpr._reg_edges()
    RETURNS TABLE(child regclass, child_cols name[], parent regclass, parent_cols name[])
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.conrelid::regclass,
           ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
           c.confrelid::regclass,
           ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)
      FROM pg_constraint c
      JOIN pg_class r ON r.oid = c.conrelid
      JOIN pg_namespace n ON n.oid = r.relnamespace
     WHERE c.contype = 'f' AND c.conparentid = 0 AND c.conrelid <> c.confrelid
       AND NOT r.relispartition
       AND n.nspname NOT IN ('gdpr', 'pg_catalog', 'information_schema')
    UNION
    SELECT tl.relation, ARRAY[tl.belongs_to_column], tl.belongs_to, ARRAY[st.key_column]
      FROM gdpr.table_labels tl
      JOIN gdpr.subject_tables st ON st.relation = tl.belongs_to
     WHERE tl.belongs_to IS NOT NULL
$$;
-- catalog structure only; gdpr.processing_register calls it as its reader
GRANT EXECUTE ON FUNCTION gdpr._reg_edges() TO PUBLIC;

-- Paths of links from a relation to the relations it references (directly
-- or through others), never through a subject table, at most max_depth links.
CREATE FUNCTION gdpr._reg_paths(max_depth integer DEFAULT 6)
    RETURNS TABLE(start regclass, finish regclass, edges jsonb, depth integer)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE e AS (
        SELECT g.child, g.parent,
               jsonb_build_object('child', g.child::oid, 'cc', to_jsonb(g.child_cols),
                                  'parent', g.parent::oid, 'pc', to_jsonb(g.parent_cols)) AS edge
          FROM gdpr._reg_edges() g
    ), subj AS (
        SELECT relation FROM gdpr.subject_tables
    ), p(start, finish, edges, visited, depth) AS (
        SELECT e.child, e.parent, jsonb_build_array(e.edge), ARRAY[e.child::oid, e.parent::oid], 1
          FROM e
        UNION ALL
        SELECT p.start, e.parent, p.edges || jsonb_build_array(e.edge), p.visited || e.parent::oid,
               p.depth + 1
          FROM p JOIN e ON e.child = p.finish
         WHERE p.depth < max_depth
           AND NOT e.parent::oid = ANY (p.visited)
           AND NOT EXISTS (SELECT 1 FROM subj WHERE subj.relation = p.finish)
    )
    SELECT start, finish, edges, depth FROM p
$$;
-- catalog structure only; gdpr.processing_register calls it as its reader
GRANT EXECUTE ON FUNCTION gdpr._reg_paths(integer) TO PUBLIC;

-- The relations that hold rows of subjects and the subject tables whose
-- subjects they belong to: a subject table itself; a relation that
-- references subject tables (directly or through other rows); else, for a
-- relation with tagged columns, the subject tables that reference it (an
-- address).
CREATE FUNCTION gdpr._reg_relation_subjects()
    RETURNS TABLE(relation regclass, subject regclass, edges jsonb, direction text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH st AS (SELECT s.relation FROM gdpr.subject_tables s),
    rels AS (
        SELECT DISTINCT t.relation FROM gdpr.column_tags t
    ),
    paths AS (SELECT * FROM gdpr._reg_paths()),
    up AS (
        SELECT p.start AS relation, p.finish AS subject, p.edges, 'up'::text AS direction
          FROM paths p
         WHERE p.finish IN (SELECT relation FROM st)
           AND p.start NOT IN (SELECT relation FROM st)
    ),
    down AS (
        SELECT r.relation, p.start AS subject, p.edges, 'down'::text AS direction
          FROM rels r JOIN paths p ON p.finish = r.relation
         WHERE p.start IN (SELECT relation FROM st)
           AND r.relation NOT IN (SELECT relation FROM st)
           AND NOT EXISTS (SELECT 1 FROM up WHERE up.relation = r.relation)
    )
    SELECT st.relation, st.relation, '[]'::jsonb, 'self' FROM st
    UNION ALL SELECT * FROM up
    UNION ALL SELECT * FROM down
$$;
-- catalog structure only; gdpr.processing_register calls it as its reader
GRANT EXECUTE ON FUNCTION gdpr._reg_relation_subjects() TO PUBLIC;

-- "FROM a t0 JOIN b t1 ON t0.x = t1.y ..." along a path; t0 is the start.
CREATE FUNCTION gdpr._reg_path_from(start regclass, edges jsonb) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sql  text := format('FROM %s t0', start);
    e    jsonb;
    i    integer := 0;
    cond text[];
    j    integer;
BEGIN
    FOR e IN SELECT x FROM jsonb_array_elements(edges) WITH ORDINALITY a(x, n) ORDER BY n LOOP
        i := i + 1;
        cond := '{}';
        FOR j IN 0 .. jsonb_array_length(e -> 'cc') - 1 LOOP
            cond := cond || format('t%s.%I = t%s.%I', i - 1, e -> 'cc' ->> j, i, e -> 'pc' ->> j);
        END LOOP;
        sql := sql || format(' JOIN %s t%s ON %s', (e ->> 'parent')::oid::regclass, i,
                             array_to_string(cond, ' AND '));
    END LOOP;
    RETURN sql;
END;
$$;
REVOKE ALL ON FUNCTION gdpr._reg_path_from(regclass, jsonb) FROM PUBLIC;

-- format('%I.%I', schema, table) of a relation, whatever the search_path.
CREATE FUNCTION gdpr._relname(rel regclass) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE STRICT
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT format('%I.%I', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = rel);

-- An interval as text in one style whatever the session's IntervalStyle
-- ("7 years", "1 year 1 mon"), for registers and exports.
CREATE FUNCTION gdpr._interval_text(i interval) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET IntervalStyle = postgres
    AS 'SELECT $1::pg_catalog.text';

---------------------------------------------------------------------------
-- The record of processing activities (Art. 30(1)), one row per purpose.
-- SECURITY DEFINER: gdpr.processing_register calls it as its reader, who
-- need not read gdpr.purpose_views; it returns only the list of measures.
CREATE FUNCTION gdpr._security_measures(purpose text, legal_basis text, retention interval)
    RETURNS text[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    has_views boolean := false;
BEGIN
    IF to_regclass('gdpr.purpose_views') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM gdpr.purpose_views v WHERE v.purpose = $1)'
            INTO has_views USING purpose;
    END IF;
    RETURN array_remove(ARRAY[
        'personal columns tagged per purpose and category (security labels)',
        CASE WHEN has_views
             THEN 'access for processing through consent-checked purpose views' END,
        CASE WHEN legal_basis = 'consent'
             THEN 'consent recorded with method and evidence, withdrawable (Art. 7)' END,
        CASE WHEN retention IS NOT NULL
             THEN 'automatic erasure when the retention period has run (gdpr.expire)' END,
        'erasure across all related tables on request (gdpr.erase)',
        'tamper-evident hash-chained audit log; subjects pseudonymised by keyed hash',
        CASE WHEN current_setting('ssl') = 'on' THEN 'TLS for client connections' END
    ], NULL);
END;
$$;
GRANT EXECUTE ON FUNCTION gdpr._security_measures(text, text, interval) TO PUBLIC;

CREATE VIEW gdpr.processing_register AS
WITH tags AS (
    SELECT t.relation, t.column_name, u.purpose, t.category
      FROM gdpr.column_tags t CROSS JOIN LATERAL unnest(t.purposes) u(purpose)
), rs AS (
    SELECT DISTINCT relation, subject FROM gdpr._reg_relation_subjects()
)
SELECT p.name AS purpose,
       p.legal_basis,
       ARRAY(SELECT DISTINCT gdpr._relname(rs.subject)
                             || coalesce(' (' || obj_description(rs.subject, 'pg_class') || ')', '')
               FROM tags t JOIN rs ON rs.relation = t.relation
              WHERE t.purpose = p.name ORDER BY 1) AS subject_categories,
       ARRAY(SELECT DISTINCT coalesce(t.category, 'other') FROM tags t
              WHERE t.purpose = p.name ORDER BY 1) AS data_categories,
       ARRAY(SELECT pr.name || ' (' || pr.country || ')' FROM gdpr.processor pr
              WHERE p.name = ANY (pr.purposes) ORDER BY pr.name) AS recipients,
       ARRAY(SELECT DISTINCT pr.country FROM gdpr.processor pr
              WHERE p.name = ANY (pr.purposes) AND NOT gdpr.in_eea(pr.country) ORDER BY 1) AS third_countries,
       coalesce(gdpr._interval_text(p.retention), 'no automatic expiry') AS retention,
       gdpr._security_measures(p.name, p.legal_basis, p.retention) AS security_measures,
       p.description,
       ARRAY(SELECT DISTINCT gdpr._relname(t.relation) FROM tags t WHERE t.purpose = p.name ORDER BY 1) AS relations
  FROM gdpr.purposes p;
REVOKE ALL ON TABLE gdpr.processing_register FROM PUBLIC;
COMMENT ON VIEW gdpr.processing_register IS
    'Record of processing activities (Art. 30(1)), derived from purposes, tags, subject tables and processors';

-- A value for a Markdown table cell: pipes escaped, line breaks flattened.
CREATE FUNCTION gdpr._md_cell(v text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN regexp_replace(replace(coalesce(v, ''), '|', '\|'), '\s*\n\s*', ' ', 'g');

-- The register as a Markdown document an auditor can read.
CREATE FUNCTION gdpr.processing_register_document(controller text DEFAULT NULL,
                                                  contact text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET IntervalStyle = postgres
    SET DateStyle = 'ISO, YMD'
AS $$
DECLARE
    r   record;
    doc text;
BEGIN
    doc := format(E'# Record of processing activities (Art. 30(1) GDPR)\n\n'
                  '- Controller: %s\n- Contact: %s\n- Database: %s\n- Generated: %s\n',
                  coalesce(controller, '(not given)'), coalesce(contact, '(not given)'),
                  current_database(), to_char(now(), 'YYYY-MM-DD'));
    FOR r IN SELECT * FROM gdpr.processing_register ORDER BY purpose LOOP
        doc := doc || format(E'\n## Purpose: %s\n\n', r.purpose)
            || CASE WHEN r.description IS NOT NULL THEN r.description || E'\n\n' ELSE '' END
            || E'| Record | Entry |\n|---|---|\n'
            || format(E'| Lawful basis (Art. 6) | %s |\n', replace(r.legal_basis, '_', ' '))
            || format(E'| Categories of data subjects | %s |\n',
                      gdpr._md_cell(coalesce(nullif(array_to_string(r.subject_categories, ', '), ''), '(none tagged)')))
            || format(E'| Categories of personal data | %s |\n',
                      coalesce(nullif(array_to_string(r.data_categories, ', '), ''), '(none tagged)'))
            || format(E'| Recipients (processors) | %s |\n',
                      gdpr._md_cell(coalesce(nullif(array_to_string(r.recipients, ', '), ''), 'none')))
            || format(E'| Transfers to third countries | %s |\n',
                      coalesce(nullif(array_to_string(r.third_countries, ', '), ''), 'none'))
            || format(E'| Retention | %s |\n', r.retention)
            || format(E'| Tables | %s |\n',
                      coalesce(nullif(array_to_string(r.relations, ', '), ''), '(none)'))
            || E'\nSecurity measures (Art. 32):\n\n'
            || coalesce((SELECT string_agg('- ' || m, E'\n') FROM unnest(r.security_measures) m), '- (none)')
            || E'\n';
    END LOOP;
    doc := doc || E'\n## Processors (Art. 28)\n\n| Processor | Country | Agreement signed | Expires | Valid | Purposes |\n|---|---|---|---|---|---|\n';
    FOR r IN SELECT * FROM gdpr.processors ORDER BY name LOOP
        doc := doc || format(E'| %s | %s%s | %s | %s | %s | %s |\n', gdpr._md_cell(r.name), r.country,
                             CASE WHEN r.third_country THEN ' (third country' ||
                                  coalesce(', ' || gdpr._md_cell(r.transfer_safeguard), '') || ')' ELSE '' END,
                             r.agreement_signed, coalesce(r.agreement_expires::text, '-'),
                             CASE WHEN r.agreement_valid THEN 'yes' ELSE '**no**' END,
                             array_to_string(r.purposes, ', '));
    END LOOP;
    RETURN doc;
END;
$$;
REVOKE ALL ON FUNCTION gdpr.processing_register_document(text, text) FROM PUBLIC;

---------------------------------------------------------------------------
-- Personal data breaches (Art. 33): notify the supervisory authority
-- within 72 hours of becoming aware.
CREATE TABLE gdpr.breach (
    id                bigserial PRIMARY KEY,
    description       text NOT NULL,
    discovered_at     timestamptz NOT NULL,
    relations         regclass[],
    categories        text[],
    affected_subjects bigint,
    notify_by         timestamptz NOT NULL,
    notified_at       timestamptz,
    reported_at       timestamptz NOT NULL DEFAULT now(),
    reported_by       name NOT NULL DEFAULT session_user
);
REVOKE ALL ON TABLE gdpr.breach FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('gdpr.breach', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.breach_id_seq', '');

-- Distinct subjects that have rows in the given relations (NULL: every
-- relation with personal data) holding a value of one of the given
-- categories (NULL: any row), reached through the subject graph.
CREATE FUNCTION gdpr.estimate_affected_subjects(relations regclass[] DEFAULT NULL,
                                                categories text[] DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s       record;
    r       record;
    parts   text[];
    total   bigint := 0;
    n       bigint;
    cond    text;
    keycol  name;
BEGIN
    FOR s IN SELECT st.relation, st.key_column FROM gdpr.subject_tables st ORDER BY 1 LOOP
        parts := '{}';
        FOR r IN
            SELECT rs.relation, rs.edges, rs.direction
              FROM gdpr._reg_relation_subjects() rs
             WHERE rs.subject = s.relation
               AND (estimate_affected_subjects.relations IS NULL
                    OR rs.relation = ANY (estimate_affected_subjects.relations))
        LOOP
            IF estimate_affected_subjects.categories IS NULL THEN
                cond := 'true';
            ELSE
                SELECT string_agg(format('%s.%I IS NOT NULL',
                                         CASE WHEN r.direction = 'down'
                                              THEN 't' || jsonb_array_length(r.edges) ELSE 't0' END,
                                         t.column_name), ' OR ')
                  INTO cond
                  FROM gdpr.column_tags t
                 WHERE t.relation = r.relation
                   AND t.category = ANY (estimate_affected_subjects.categories);
                CONTINUE WHEN cond IS NULL;
            END IF;
            IF r.direction = 'self' THEN
                parts := parts || format('SELECT t0.%I AS k FROM %s t0 WHERE %s', s.key_column, s.relation, cond);
            ELSIF r.direction = 'up' THEN
                parts := parts || format('SELECT t%s.%I AS k %s WHERE %s', jsonb_array_length(r.edges),
                                         s.key_column, gdpr._reg_path_from(r.relation, r.edges), cond);
            ELSE
                parts := parts || format('SELECT t0.%I AS k %s WHERE %s', s.key_column,
                                         gdpr._reg_path_from(s.relation, r.edges), cond);
            END IF;
        END LOOP;
        IF cardinality(parts) > 0 THEN
            EXECUTE 'SELECT count(DISTINCT k) FROM (' || array_to_string(parts, ' UNION ALL ') || ') u' INTO n;
            total := total + n;
        END IF;
    END LOOP;
    RETURN total;
END;
$$;
REVOKE ALL ON FUNCTION gdpr.estimate_affected_subjects(regclass[], text[]) FROM PUBLIC;

CREATE FUNCTION gdpr.report_breach(description text, discovered_at timestamptz,
                                   relations regclass[] DEFAULT NULL, categories text[] DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad     text[];
    n       bigint;
    new_id  bigint;
    due     timestamptz;
BEGIN
    IF description IS NULL OR btrim(description) = '' THEN
        RAISE EXCEPTION 'a breach needs a description'
            USING ERRCODE = CASE WHEN description IS NULL THEN 'null_value_not_allowed' ELSE 'invalid_parameter_value' END,
                  HINT = 'Art. 33(3)(a): describe the nature of the breach.';
    END IF;
    IF discovered_at IS NULL THEN
        RAISE EXCEPTION 'discovered_at must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Give the moment the controller became aware of the breach; the 72 hours run from it.';
    END IF;
    IF discovered_at > now() + interval '1 hour' THEN
        RAISE EXCEPTION 'discovered_at lies in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_position(relations, NULL) IS NOT NULL OR array_position(categories, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'relations and categories must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT array_agg(c ORDER BY c) INTO bad
      FROM unnest(categories) c
     WHERE NOT c IN (SELECT gdpr.categories());
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown categor%: %', CASE WHEN cardinality(bad) = 1 THEN 'y' ELSE 'ies' END,
                        array_to_string(bad, ', ')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Allowed: ' || (SELECT string_agg(c, ', ') FROM gdpr.categories() c) || '.';
    END IF;

    n := gdpr.estimate_affected_subjects(relations, categories);
    due := discovered_at + interval '72 hours';
    INSERT INTO gdpr.breach (description, discovered_at, relations, categories, affected_subjects, notify_by)
    VALUES (report_breach.description, report_breach.discovered_at, report_breach.relations,
            report_breach.categories, n, due)
    RETURNING id INTO new_id;
    PERFORM gdpr._audit('breach.report', NULL, NULL,
                        jsonb_build_object('breach', new_id, 'discovered_at', discovered_at,
                                           'notify_by', due, 'affected_subjects', n,
                                           'relations', to_jsonb(relations::text[]),
                                           'categories', to_jsonb(categories)));
    RETURN new_id;
END;
$$;
REVOKE ALL ON FUNCTION gdpr.report_breach(text, timestamptz, regclass[], text[]) FROM PUBLIC;

CREATE FUNCTION gdpr.notify_breach(id bigint, notified_at timestamptz DEFAULT now())
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b gdpr.breach;
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF notified_at IS NULL THEN
        RAISE EXCEPTION 'notified_at must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Leave it out to use now().';
    END IF;
    SELECT * INTO b FROM gdpr.breach x WHERE x.id = notify_breach.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no breach with id %', id
            USING ERRCODE = 'undefined_object', HINT = 'See SELECT * FROM gdpr.breaches.';
    END IF;
    IF b.notified_at IS NOT NULL THEN
        RAISE EXCEPTION 'breach % was already notified', id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was notified at %s.', b.notified_at);
    END IF;
    IF notified_at < b.discovered_at THEN
        RAISE EXCEPTION 'notified_at lies before the breach was discovered (%)', b.discovered_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF notified_at > now() + interval '1 hour' THEN
        RAISE EXCEPTION 'notified_at lies in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE gdpr.breach x SET notified_at = notify_breach.notified_at WHERE x.id = b.id;
    PERFORM gdpr._audit('breach.notify', NULL, NULL,
                        jsonb_build_object('breach', b.id, 'notified_at', notified_at,
                                           'late', notified_at > b.notify_by));
END;
$$;
REVOKE ALL ON FUNCTION gdpr.notify_breach(bigint, timestamptz) FROM PUBLIC;

CREATE VIEW gdpr.breaches AS
SELECT b.id, b.description, b.discovered_at, b.notify_by, b.notified_at,
       b.notified_at IS NULL AND now() > b.notify_by AS overdue,
       b.affected_subjects,
       b.notified_at > b.notify_by AS notified_late,
       b.relations, b.categories, b.reported_at, b.reported_by
  FROM gdpr.breach b;
REVOKE ALL ON TABLE gdpr.breaches FROM PUBLIC;
COMMENT ON VIEW gdpr.breaches IS
    'Personal data breaches (Art. 33): notify_by = discovered_at + 72 hours; overdue = not notified in time';
