-- Subject access export (API section 8, Art. 15 and 20).
CREATE DATABASE gdpr_export;
\c gdpr_export
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
RESET client_min_messages;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT gdpr.define_purpose('levering', 'contract', NULL, 'Bestellingen leveren');
SELECT gdpr.define_purpose('nieuwsbrief', 'consent', '2 years', 'Nieuwsbrief sturen', '2 years');
SELECT gdpr.define_purpose('facturen', 'legal_obligation', '7 years', 'Fiscale bewaarplicht');
SELECT gdpr.define_purpose('analytics', 'legitimate_interests', '13 months', 'Websitestatistiek');
CREATE SCHEMA shop;
CREATE TABLE shop.adres (adres_id int PRIMARY KEY, straat text, plaats text);
CREATE TABLE shop.klant (klant_id int PRIMARY KEY, naam text, email text,
                         adres_id int REFERENCES shop.adres, door int REFERENCES shop.klant);
CREATE TABLE shop.bestelling (bestelling_id int PRIMARY KEY, klant_id int REFERENCES shop.klant, totaal numeric);
CREATE TABLE shop.regel (bestelling_id int REFERENCES shop.bestelling, nr int, product text,
                         PRIMARY KEY (bestelling_id, nr));
CREATE TABLE shop.factuur (factuur_id int PRIMARY KEY, bestelling_id int REFERENCES shop.bestelling,
                           datum date, naam_op_factuur text);
SECURITY LABEL FOR gdpr ON TABLE shop.klant IS 'SUBJECT KEY (klant_id)';
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.naam IS 'PURPOSE levering, facturen CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.email IS 'PURPOSE levering, nieuwsbrief CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON COLUMN shop.adres.straat IS 'PURPOSE levering CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN shop.bestelling.totaal IS 'PURPOSE levering CATEGORY financial';
SECURITY LABEL FOR gdpr ON TABLE shop.factuur IS 'RETAIN FROM datum';
SECURITY LABEL FOR gdpr ON COLUMN shop.factuur.naam_op_factuur IS 'PURPOSE facturen CATEGORY name';
-- a partitioned table: rows listed under the parent, fetched from their partition
CREATE TABLE shop.levering (levering_id int, klant_id int REFERENCES shop.klant, op date, bezorger text,
                            PRIMARY KEY (levering_id, op)) PARTITION BY RANGE (op);
CREATE TABLE shop.levering_2025 PARTITION OF shop.levering FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE shop.levering_2026 PARTITION OF shop.levering FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SECURITY LABEL FOR gdpr ON COLUMN shop.levering.bezorger IS 'PURPOSE levering CATEGORY other';
INSERT INTO shop.adres VALUES (1, 'Dorpsstraat 1', 'Ede'), (2, 'Kerkweg 2', 'Zeist'), (3, 'Gedeeld 3', 'Epe');
INSERT INTO shop.klant VALUES (1, 'Jan', 'jan@example.nl', 1, NULL), (2, 'Piet', 'piet@example.nl', 2, 1),
                              (3, 'Kees', NULL, 3, NULL), (4, 'Ria', NULL, 3, NULL), (5, 'Eva', NULL, NULL, NULL);
INSERT INTO shop.bestelling VALUES (10, 1, 10), (11, 1, 20), (12, 2, 5);
INSERT INTO shop.regel VALUES (10, 1, 'boek'), (10, 2, 'pen'), (11, 1, 'lamp'), (12, 1, 'stoel');
INSERT INTO shop.factuur VALUES (100, 10, '2026-01-02', 'J. Jansen'), (101, 12, '2026-01-03', 'P. Pietersen');
-- the first row of each partition sits at the same ctid: only the subject's rows may come out
INSERT INTO shop.levering VALUES (2, 2, '2025-03-01', 'PostNL'), (1, 1, '2026-02-01', 'DHL'),
                                 (3, 1, '2025-04-01', 'PostNL'), (4, 2, '2026-03-01', 'DPD');
SELECT gdpr.grant_consent('shop.klant', 1, 'nieuwsbrief', 'double_opt_in', 'website footer', NULL, 'v3');
SELECT gdpr.withdraw_consent('shop.klant', 1, 'nieuwsbrief', 'unsubscribe link');
SELECT gdpr.register_processor('HostNL B.V.', 'NL', '2024-01-01', NULL, '{levering,facturen}');
SELECT gdpr.register_processor('Mail Inc.', 'US', '2024-01-01', NULL, '{nieuwsbrief}', NULL, 'EU-US Data Privacy Framework');
SELECT gdpr.register_processor('Stats GmbH', 'DE', '2024-01-01', NULL, '{analytics}');

SELECT gdpr.export_subject('shop.klant', 1) AS e \gset
SELECT jsonb_pretty(:'e'::jsonb - 'generated_at' - 'subject_ref' - 'consents' - 'rights');
-- the top-level keys of the contract
SELECT array_agg(k ORDER BY k) AS keys FROM jsonb_object_keys(:'e'::jsonb) k;
SELECT (:'e'::jsonb->>'subject_ref') = gdpr.subject_ref('shop.klant', 1) AS ref_matches,
       (:'e'::jsonb->>'generated_at')::timestamptz <= now() AS generated;
-- consent history: both events, no key in them
SELECT c->>'purpose' AS purpose, c->>'action' AS action, c->>'method' AS method, c->>'source' AS source,
       c->>'policy_version' AS policy_version
  FROM jsonb_array_elements(:'e'::jsonb->'consents') c;
SELECT :'e'::jsonb->'rights'->'complaint'->>'authority' AS authority,
       :'e'::jsonb->'rights'->'complaint'->>'website' AS website,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'e'::jsonb->'rights') k) AS rights;
-- the rows match plain SQL, relation by relation
SELECT (SELECT jsonb_array_length(:'e'::jsonb->'data'->'shop.bestelling')) AS export_orders,
       (SELECT count(*) FROM shop.bestelling WHERE klant_id = 1) AS sql_orders,
       (SELECT jsonb_array_length(:'e'::jsonb->'data'->'shop.regel')) AS export_lines,
       (SELECT count(*) FROM shop.regel r JOIN shop.bestelling b USING (bestelling_id) WHERE b.klant_id = 1) AS sql_lines;
SELECT :'e'::jsonb->'data'->'shop.levering' AS deliveries_of_1;
-- a referred customer (2 points to 1) is not 1's data; a shared address is nobody's own
SELECT jsonb_pretty(gdpr.export_subject('shop.klant', '2')->'data');
SELECT jsonb_pretty(gdpr.export_subject('shop.klant', 3::bigint)->'data');
-- a subject without rows: an empty export, not an error
SELECT gdpr.export_subject('shop.klant', 99)->'data' AS nothing;
-- errors
SELECT pg_temp.err($$SELECT gdpr.export_subject(NULL, 1)$$);
SELECT pg_temp.err($$SELECT gdpr.export_subject('shop.klant', NULL::int)$$);
SELECT pg_temp.err($$SELECT gdpr.export_subject('shop.klant', 'een')$$);
SELECT pg_temp.err($$SELECT gdpr.export_subject('shop.regel', 1)$$);
-- audited, by subject_ref, with counts only
SELECT action, relation, subject_ref = gdpr.subject_ref('shop.klant', 1) AS subject_1, details
  FROM gdpr.audit_log WHERE action = 'export' ORDER BY id;
-- not for PUBLIC; a role with EXECUTE only can export (SECURITY DEFINER)
SELECT has_function_privilege('public', 'gdpr.export_subject(regclass,anyelement)', 'EXECUTE') AS public_any,
       has_function_privilege('public', 'gdpr.export_subject(regclass,text)', 'EXECUTE') AS public_text;
CREATE ROLE gdpr_export_officer;
GRANT EXECUTE ON FUNCTION gdpr.export_subject(regclass, text) TO gdpr_export_officer;
-- (naming the subject table takes USAGE on its schema; its rows stay unreadable)
GRANT USAGE ON SCHEMA shop TO gdpr_export_officer;
SET ROLE gdpr_export_officer;
SELECT pg_temp.err($$SELECT count(*) FROM shop.klant$$);
SELECT jsonb_array_length(gdpr.export_subject('shop.klant', '1')->'data'->'shop.regel') AS lines;
RESET ROLE;
REVOKE USAGE ON SCHEMA shop FROM gdpr_export_officer;

\c contrib_regression
DROP DATABASE gdpr_export;
DROP ROLE gdpr_export_officer;
