-- Registers (API section 9): processors, the processing register, breaches.
-- Own database, so ids and registers start empty.
CREATE DATABASE gdpr_registers;
\c gdpr_registers
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

-- A small shop: customers (subjects), their addresses, orders, order lines,
-- invoices, visits linked by BELONGS TO.
SELECT gdpr.define_purpose('levering', 'contract', NULL, 'Bestellingen leveren');
SELECT gdpr.define_purpose('nieuwsbrief', 'consent', '2 years', 'Nieuwsbrief sturen', '2 years');
SELECT gdpr.define_purpose('analytics', 'legitimate_interests', '13 months', 'Websitestatistiek');
SELECT gdpr.define_purpose('facturen', 'legal_obligation', '7 years', 'Fiscale bewaarplicht');
CREATE SCHEMA shop;
CREATE TABLE shop.adres (adres_id int PRIMARY KEY, straat text, plaats text);
CREATE TABLE shop.klant (klant_id int PRIMARY KEY, naam text, email text,
                         adres_id int REFERENCES shop.adres, door int REFERENCES shop.klant,
                         laatst_actief timestamptz);
COMMENT ON TABLE shop.klant IS 'klanten van de webshop';
CREATE TABLE shop.bestelling (bestelling_id int PRIMARY KEY, klant_id int REFERENCES shop.klant, totaal numeric);
CREATE TABLE shop.regel (bestelling_id int REFERENCES shop.bestelling, nr int, product text,
                         PRIMARY KEY (bestelling_id, nr));
CREATE TABLE shop.factuur (factuur_id int PRIMARY KEY, bestelling_id int REFERENCES shop.bestelling,
                           datum date, naam_op_factuur text);
CREATE TABLE shop.bezoek (bezoek_id int PRIMARY KEY, klant int, ip inet);
CREATE TABLE shop.product (product_id int PRIMARY KEY, naam text);
SECURITY LABEL FOR gdpr ON TABLE shop.klant IS 'SUBJECT KEY (klant_id) RETAIN FROM laatst_actief';
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.naam IS 'PURPOSE levering, facturen CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.email IS 'PURPOSE levering, nieuwsbrief CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON COLUMN shop.adres.straat IS 'PURPOSE levering CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN shop.adres.plaats IS 'PURPOSE levering CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN shop.bestelling.totaal IS 'PURPOSE levering CATEGORY financial';
SECURITY LABEL FOR gdpr ON TABLE shop.factuur IS 'RETAIN FROM datum';
SECURITY LABEL FOR gdpr ON COLUMN shop.factuur.naam_op_factuur IS 'PURPOSE facturen CATEGORY name';
SECURITY LABEL FOR gdpr ON TABLE shop.bezoek IS 'BELONGS TO shop.klant (klant)';
SECURITY LABEL FOR gdpr ON COLUMN shop.bezoek.ip IS 'PURPOSE analytics CATEGORY identifier.online';
INSERT INTO shop.adres VALUES (1, 'Dorpsstraat 1', 'Ede'), (2, 'Kerkweg 2', 'Zeist'), (3, 'Laan 3', 'Epe');
INSERT INTO shop.klant VALUES (1, 'Jan', 'jan@example.nl', 1, NULL, now()),
                              (2, 'Piet', 'piet@example.nl', 2, 1, now()),
                              (3, 'Kees', NULL, 3, NULL, now()),
                              (4, 'Anna', 'anna@example.nl', NULL, NULL, now()),
                              (5, 'Eva', NULL, NULL, NULL, now());
INSERT INTO shop.bestelling VALUES (10, 1, 10), (11, 1, 20), (12, 2, 5), (13, 3, NULL);
INSERT INTO shop.regel VALUES (10, 1, 'a'), (10, 2, 'b'), (11, 1, 'c'), (12, 1, 'd');
INSERT INTO shop.factuur VALUES (100, 10, '2026-01-02', 'J. Jansen'), (101, 12, '2026-01-03', NULL);
INSERT INTO shop.bezoek VALUES (1, 1, '192.0.2.1'), (2, 5, '192.0.2.5'), (3, 5, '192.0.2.6');

-- Processors -------------------------------------------------------------
SELECT gdpr.register_processor('HostNL B.V.', 'nl', '2024-01-01', NULL, '{levering,facturen}', 'dpo@hostnl.example');
SELECT gdpr.register_processor('MailChimp-ish Inc.', 'US', '2024-01-01', '2025-01-01', '{nieuwsbrief}');
SELECT gdpr.register_processor('Stats GmbH', 'DE', '2020-01-01', '2999-12-31', '{analytics}');
-- calling again updates (the agreement was renewed, a safeguard recorded)
SELECT gdpr.register_processor('MailChimp-ish Inc.', 'US', '2025-01-01', '2999-01-01', '{nieuwsbrief}',
                               'privacy@mail.example', 'EU-US Data Privacy Framework');
SELECT gdpr.register_processor('Old Printer', 'BE', '2019-01-01', '2020-01-01', '{}');
SELECT name, country, agreement_signed, agreement_expires, purposes, contact, agreement_valid,
       third_country, transfer_safeguard
  FROM gdpr.processors ORDER BY name;
-- errors: nothing registered
SELECT pg_temp.err($$SELECT gdpr.register_processor('X', 'UK', '2024-01-01')$$);
SELECT pg_temp.err($$SELECT gdpr.register_processor('X', 'ZZ', '2024-01-01')$$);
SELECT pg_temp.err($$SELECT gdpr.register_processor('X', 'Netherlands', '2024-01-01')$$);
SELECT pg_temp.err($$SELECT gdpr.register_processor('X', 'DE', '2024-01-01', NULL, '{bogus,levering}')$$);
SELECT pg_temp.err($$SELECT gdpr.register_processor('X', 'DE', '2024-01-01', '2023-12-31')$$);
SELECT pg_temp.err($$SELECT gdpr.register_processor(NULL, 'DE', '2024-01-01')$$);
SELECT pg_temp.err($$SELECT gdpr.register_processor(' ', 'DE', '2024-01-01')$$);
SELECT pg_temp.err($$SELECT gdpr.register_processor('X', NULL, '2024-01-01')$$);
SELECT pg_temp.err($$SELECT gdpr.register_processor('X', 'DE', NULL)$$);
SELECT pg_temp.err($$SELECT gdpr.register_processor('X', 'DE', '2024-01-01', NULL, NULL)$$);
SELECT pg_temp.err($$SELECT gdpr.register_processor('X', 'DE', '2024-01-01', NULL, '{levering,NULL}')$$);
SELECT pg_temp.err($$SELECT gdpr.drop_processor('X')$$);
SELECT count(*) AS processors FROM gdpr.processor;
SELECT gdpr.drop_processor('Old Printer');
SELECT gdpr.in_eea('NO') AS norway, gdpr.in_eea('ch') AS switzerland, gdpr.in_eea('GR') AS greece;

-- The processing register (Art. 30(1)) ----------------------------------
SELECT purpose, legal_basis, subject_categories, data_categories, recipients, third_countries,
       retention, relations
  FROM gdpr.processing_register ORDER BY purpose;
SELECT purpose, security_measures FROM gdpr.processing_register ORDER BY purpose;
-- a new tag shows up without typing anything twice
SECURITY LABEL FOR gdpr ON COLUMN shop.factuur.datum IS 'PURPOSE facturen CATEGORY financial';
SELECT data_categories, relations FROM gdpr.processing_register WHERE purpose = 'facturen';
SELECT regexp_replace(gdpr.processing_register_document('Webwinkel B.V.', 'privacy@webwinkel.example'),
                      'Generated: [0-9-]+', 'Generated: (date)') AS document;

-- Breaches (Art. 33) ------------------------------------------------------
-- estimates, checked against plain SQL
SELECT gdpr.estimate_affected_subjects() AS everything,
       (SELECT count(*) FROM shop.klant) AS customers;
SELECT gdpr.estimate_affected_subjects('{shop.regel}') AS via_order_lines,
       (SELECT count(DISTINCT b.klant_id) FROM shop.regel r JOIN shop.bestelling b USING (bestelling_id)) AS plain_sql;
SELECT gdpr.estimate_affected_subjects('{shop.adres}') AS via_addresses,
       (SELECT count(*) FROM shop.klant WHERE adres_id IS NOT NULL) AS plain_sql;
SELECT gdpr.estimate_affected_subjects(NULL, '{contact.email}') AS with_email,
       (SELECT count(*) FROM shop.klant WHERE email IS NOT NULL) AS plain_sql;
SELECT gdpr.estimate_affected_subjects('{shop.bestelling}', '{financial}') AS with_totals,
       (SELECT count(DISTINCT klant_id) FROM shop.bestelling WHERE totaal IS NOT NULL) AS plain_sql;
SELECT gdpr.estimate_affected_subjects('{shop.bezoek}') AS visitors,
       (SELECT count(DISTINCT klant) FROM shop.bezoek) AS plain_sql;
SELECT gdpr.estimate_affected_subjects('{shop.factuur,shop.bezoek}') AS invoices_or_visits,
       (SELECT count(*) FROM (SELECT b.klant_id FROM shop.factuur f JOIN shop.bestelling b USING (bestelling_id)
                              UNION SELECT klant FROM shop.bezoek) u) AS plain_sql;
SELECT gdpr.estimate_affected_subjects('{shop.product}') AS products;
SELECT gdpr.estimate_affected_subjects(NULL, '{special.health}') AS nobody;

SELECT gdpr.report_breach('Laptop met klantexport gestolen', '2026-01-05 09:00+01', '{shop.klant,shop.adres}',
                          '{contact.address,contact.email}');
SELECT gdpr.report_breach('Verkeerd gerichte mailing', now() - interval '2 hours', '{shop.klant}', '{contact.email}');
SELECT gdpr.report_breach('Onbekend lek', now() - interval '80 hours');
SELECT gdpr.report_breach('Back-up onversleuteld gedeeld', '2026-03-01 12:00+01', '{shop.bezoek}');
SELECT id, description, CASE WHEN id IN (1, 4) THEN discovered_at END AS discovered_at,
       CASE WHEN id IN (1, 4) THEN notify_by END AS notify_by, notify_by - discovered_at AS window,
       notified_at IS NOT NULL AS notified, overdue, affected_subjects, relations, categories
  FROM gdpr.breaches ORDER BY id;
SELECT gdpr.notify_breach(1, '2026-01-09 10:00+01');
SELECT gdpr.notify_breach(2);
SELECT id, overdue, notified_late FROM gdpr.breaches ORDER BY id;
-- errors: nothing reported
SELECT pg_temp.err($$SELECT gdpr.report_breach(NULL, now())$$);
SELECT pg_temp.err($$SELECT gdpr.report_breach('  ', now())$$);
SELECT pg_temp.err($$SELECT gdpr.report_breach('x', NULL)$$);
SELECT pg_temp.err($$SELECT gdpr.report_breach('x', now() + interval '1 day')$$);
SELECT pg_temp.err($$SELECT gdpr.report_breach('x', now(), NULL, '{contact.mail}')$$);
SELECT pg_temp.err($$SELECT gdpr.report_breach('x', now(), '{shop.klant,NULL}')$$);
SELECT pg_temp.err($$SELECT gdpr.report_breach('x', now(), '{shop.nope}')$$);
SELECT pg_temp.err($$SELECT gdpr.notify_breach(99)$$);
SELECT pg_temp.err($$SELECT gdpr.notify_breach(NULL)$$);
SELECT pg_temp.err($$SELECT gdpr.notify_breach(3, NULL)$$);
SELECT pg_temp.err($$SELECT gdpr.notify_breach(1)$$);
SELECT pg_temp.err($$SELECT gdpr.notify_breach(4, '2026-02-28')$$);
SELECT count(*) AS breaches FROM gdpr.breach;

-- Audited -----------------------------------------------------------------
SELECT action, details->>'name' AS name, details->>'breach' AS breach, details->>'affected_subjects' AS affected,
       subject_ref IS NULL AS no_subject
  FROM gdpr.audit_log
 WHERE action IN ('processor.register', 'breach.report', 'breach.notify') ORDER BY id;

-- Privileges: nothing for PUBLIC ------------------------------------------
SELECT c AS object, has_table_privilege('public', c, 'SELECT') AS public_select
  FROM unnest(ARRAY['gdpr.processors', 'gdpr.processor', 'gdpr.processing_register',
                    'gdpr.breaches', 'gdpr.breach']) c;
SELECT f AS function, has_function_privilege('public', f, 'EXECUTE') AS public_execute
  FROM unnest(ARRAY['gdpr.register_processor(text,text,date,date,text[],text,text)',
                    'gdpr.drop_processor(text)',
                    'gdpr.processing_register_document(text,text)',
                    'gdpr.report_breach(text,timestamptz,regclass[],text[])',
                    'gdpr.notify_breach(bigint,timestamptz)',
                    'gdpr.estimate_affected_subjects(regclass[],text[])']) f;
-- what the DBA grants is enough: SELECT on the views, EXECUTE on the functions
CREATE ROLE gdpr_registers_officer;
GRANT SELECT ON gdpr.processors, gdpr.processing_register, gdpr.breaches TO gdpr_registers_officer;
GRANT EXECUTE ON FUNCTION gdpr.processing_register_document(text, text),
                          gdpr.report_breach(text, timestamptz, regclass[], text[]) TO gdpr_registers_officer;
-- (naming relations in report_breach needs USAGE on their schema, not SELECT)
GRANT USAGE ON SCHEMA shop TO gdpr_registers_officer;
SET ROLE gdpr_registers_officer;
SELECT pg_temp.err($$SELECT count(*) FROM shop.klant$$);
SELECT count(*) AS purposes, sum(cardinality(recipients)) AS recipients FROM gdpr.processing_register;
SELECT count(*) AS processors FROM gdpr.processors;
SELECT length(gdpr.processing_register_document()) > 500 AS document;
SELECT gdpr.report_breach('Inloggegevens gelekt', now() - interval '1 hour', '{shop.bestelling}') AS officer_breach;
SELECT affected_subjects FROM gdpr.breaches WHERE id = 5;
SELECT pg_temp.err($$SELECT gdpr.register_processor('X', 'DE', '2024-01-01')$$);
RESET ROLE;

REVOKE USAGE ON SCHEMA shop FROM gdpr_registers_officer;

\c contrib_regression
DROP DATABASE gdpr_registers;
DROP ROLE gdpr_registers_officer;
