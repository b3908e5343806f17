-- The gdpr security label provider (API section 2): grammar, catalog checks,
-- object classes, ownership, NULL removes, wrappers, views, the tag cache,
-- rename/drop column, partitions, restore mode.  After each error the
-- SQLSTATE is echoed.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
-- harmless when preloaded; the provider registers in _PG_init either way
LOAD 'gdpr_crm';
CREATE SCHEMA labels_test;
SET search_path = labels_test, public;
SELECT gdpr.define_purpose('lt_levering', 'contract');
SELECT gdpr.define_purpose('lt_nieuwsbrief', 'consent', '2 years', NULL, '2 years');
SELECT gdpr.define_purpose('lt_facturen', 'legal_obligation', '7 years');
SELECT gdpr.define_purpose('LT_Mixed', 'legitimate_interests');

CREATE TABLE klant (
    klant_id   int PRIMARY KEY,
    voornaam   text,
    "Achternaam" text,
    email      text,
    telefoon   text,
    geboren    date,
    actief_op  timestamptz,
    gemaakt_op timestamp,
    nummer     int,
    volledige_naam text GENERATED ALWAYS AS (voornaam || ' ' || "Achternaam") STORED
);
CREATE TABLE bezoek (bezoek_id int PRIMARY KEY, klant_ref int, ip inet, op timestamptz);
CREATE TABLE los (id int, klant int, notitie text);
CREATE VIEW klant_v AS SELECT klant_id, email FROM klant;
CREATE SEQUENCE teller;
CREATE INDEX klant_email_idx ON klant (email);

-- good labels: keywords in any case, quoted identifiers keep their case
SECURITY LABEL FOR gdpr ON TABLE klant IS 'Subject Key (klant_id) retain from ACTIEF_OP';
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'purpose lt_levering, LT_NIEUWSBRIEF category Contact.Email';
SECURITY LABEL FOR gdpr ON COLUMN klant."Achternaam" IS 'PURPOSE lt_levering, "LT_Mixed" CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN klant.voornaam IS E'PURPOSE\tlt_levering\n CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN klant.geboren IS 'PURPOSE lt_levering';
SECURITY LABEL FOR gdpr ON TABLE bezoek IS 'BELONGS TO klant (klant_ref) RETAIN FROM op';
SELECT relation, column_name, purposes, category FROM gdpr.column_tags
 WHERE relation::text LIKE 'klant%' ORDER BY 1, 2;
SELECT * FROM gdpr.subject_tables WHERE relation::text LIKE 'klant%';
SELECT relation, subject_key, retain_from, belongs_to, belongs_to_column
  FROM gdpr.table_labels WHERE relation::text IN ('klant', 'bezoek') ORDER BY 1;

-- syntax errors, with the position
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE lt_levering CATEGORY';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSES lt_levering';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE lt_levering,, lt_facturen';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE lt_levering; DROP TABLE klant';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE "lt_levering';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE lt_levering PURPOSE lt_facturen';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE lt_levering, LT_LEVERING';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'CATEGORY name';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE ""';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS 'SUBJECT KEY klant_id';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS 'SUBJECT KEY (klant_id, email)';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS 'SUBJECT KEY (klant_id) SUBJECT KEY (email)';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS 'RETAIN actief_op';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS 'KEEP FOREVER';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE bezoek IS 'BELONGS TO klant klant_ref';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE bezoek IS 'BELONGS TO a.b.c (klant_ref)';
\echo :LAST_ERROR_SQLSTATE
-- empty label
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS '';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS '   ';
\echo :LAST_ERROR_SQLSTATE

-- unknown purpose (the defined ones are listed; quoting keeps case)
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE lt_marketing';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE lt_mixed';
\echo :LAST_ERROR_SQLSTATE
-- unknown category (the allowed ones are listed)
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE lt_levering CATEGORY contact.fax';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'PURPOSE lt_levering CATEGORY special';
\echo :LAST_ERROR_SQLSTATE
-- unknown columns in table labels
SECURITY LABEL FOR gdpr ON TABLE klant IS 'SUBJECT KEY (id)';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS 'SUBJECT KEY (klant_id) RETAIN FROM "Actief_op"';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE bezoek IS 'BELONGS TO klant (klant_id)';
\echo :LAST_ERROR_SQLSTATE
-- RETAIN FROM needs a date/timestamp column
SECURITY LABEL FOR gdpr ON TABLE klant IS 'RETAIN FROM email';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS 'RETAIN FROM nummer';
\echo :LAST_ERROR_SQLSTATE
-- SUBJECT KEY must be unique
SECURITY LABEL FOR gdpr ON TABLE klant IS 'SUBJECT KEY (email)';
\echo :LAST_ERROR_SQLSTATE
-- BELONGS TO: a subject table that exists; not with SUBJECT KEY; not itself
SECURITY LABEL FOR gdpr ON TABLE los IS 'BELONGS TO bezoek (klant)';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE los IS 'BELONGS TO nergens (klant)';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE los IS 'BELONGS TO public.klant (klant)';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS 'SUBJECT KEY (klant_id) BELONGS TO bezoek (klant_id)';
\echo :LAST_ERROR_SQLSTATE
-- generated columns cannot be tagged: tag what they are computed from
SECURITY LABEL FOR gdpr ON COLUMN klant.volledige_naam IS 'PURPOSE lt_levering';
\echo :LAST_ERROR_SQLSTATE
-- wrong object class, and a table label where a column label belongs
SECURITY LABEL FOR gdpr ON COLUMN klant.email IS 'SUBJECT KEY (klant_id)';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS 'PURPOSE lt_levering';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON VIEW klant_v IS 'SUBJECT KEY (klant_id)';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN klant_v.email IS 'PURPOSE lt_levering';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON SEQUENCE teller IS 'PURPOSE lt_levering';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON SCHEMA labels_test IS 'PURPOSE lt_levering';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON FUNCTION gdpr.categories() IS 'PURPOSE lt_levering';
\echo :LAST_ERROR_SQLSTATE
-- nothing of the failed labels was stored
SELECT objoid::regclass, objsubid, label FROM pg_seclabel WHERE provider = 'gdpr'
   AND objoid IN ('klant'::regclass, 'bezoek'::regclass, 'los'::regclass, 'klant_v'::regclass)
 ORDER BY objoid::regclass::text, 2;

-- only the owner (or a superuser) may label
CREATE ROLE labels_test_owner;
CREATE ROLE labels_test_other;
GRANT USAGE ON SCHEMA labels_test TO labels_test_owner, labels_test_other;
GRANT ALL ON klant TO labels_test_other;
CREATE TABLE eigen (id int PRIMARY KEY, email text);
ALTER TABLE eigen OWNER TO labels_test_owner;
SET ROLE labels_test_other;
SECURITY LABEL FOR gdpr ON COLUMN klant.telefoon IS 'PURPOSE lt_levering';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN eigen.email IS 'PURPOSE lt_levering';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE labels_test_owner;
SECURITY LABEL FOR gdpr ON COLUMN eigen.email IS 'PURPOSE lt_levering CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON TABLE eigen IS 'SUBJECT KEY (id)';
-- the wrappers are not granted to PUBLIC; the owner gets them from the DBA
SELECT gdpr.untag_column('eigen', 'email');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION gdpr.untag_column(regclass, name) TO labels_test_other, labels_test_owner;
SET ROLE labels_test_other;
-- a granted wrapper still runs as the caller: no ownership, no label
SELECT gdpr.untag_column('eigen', 'email');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE labels_test_owner;
SELECT gdpr.untag_column('eigen', 'email');
RESET ROLE;
SELECT relation, column_name FROM gdpr.column_tags WHERE relation = 'eigen'::regclass;
DROP TABLE eigen;
REVOKE ALL ON SCHEMA labels_test FROM labels_test_owner, labels_test_other;
REVOKE ALL ON klant FROM labels_test_other;
REVOKE ALL ON FUNCTION gdpr.untag_column(regclass, name) FROM labels_test_other, labels_test_owner;
DROP ROLE labels_test_owner;
DROP ROLE labels_test_other;

-- NULL removes; removing what is not there is fine
SECURITY LABEL FOR gdpr ON COLUMN klant.geboren IS NULL;
SECURITY LABEL FOR gdpr ON COLUMN klant.telefoon IS NULL;
SELECT column_name FROM gdpr.column_tags WHERE relation = 'klant'::regclass ORDER BY 1;

-- wrappers: same checks, quote_ident for names, table label parts merge
SELECT gdpr.tag_column('klant', 'telefoon', ARRAY['lt_levering', 'LT_Mixed'], 'contact.phone');
SELECT gdpr.tag_column('klant', 'geboren', '{lt_levering}', 'Demographic');
SELECT gdpr.tag_column('klant', 'nummer', '{lt_nope}');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('klant', 'nummer', '{lt_levering}', 'shoe size');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('klant', 'nummer', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('klant', 'nummer', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('klant', 'bestaat_niet', '{lt_levering}');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('klant', 'volledige_naam', '{lt_levering}');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention_column('klant', 'email');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.register_subject_table('klant', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT relation, column_name, purposes, category FROM gdpr.column_tags
 WHERE relation = 'klant'::regclass ORDER BY 2;
-- set_retention_column keeps SUBJECT KEY; register_subject_table keeps RETAIN FROM
SELECT gdpr.set_retention_column('klant', 'gemaakt_op');
SELECT label FROM gdpr.table_labels WHERE relation = 'klant'::regclass;
SELECT gdpr.register_subject_table('klant', 'klant_id');
SELECT label FROM gdpr.table_labels WHERE relation = 'klant'::regclass;
SELECT gdpr.untag_column('klant', 'geboren');
SELECT gdpr.set_belongs_to('los', 'klant', 'klant');
SELECT relation, belongs_to, belongs_to_column, label FROM gdpr.table_labels WHERE relation = 'los'::regclass;
SELECT gdpr.untag_table('los');
SELECT count(*) FROM gdpr.table_labels WHERE relation = 'los'::regclass;

-- identifiers that need quoting round-trip through the wrappers
CREATE TABLE "Mixed Case" ("Klant ID" int PRIMARY KEY, "E-mail" text, "Sinds" date);
SELECT gdpr.register_subject_table('"Mixed Case"', 'Klant ID');
SELECT gdpr.set_retention_column('"Mixed Case"', 'Sinds');
SELECT gdpr.tag_column('"Mixed Case"', 'E-mail', '{LT_Mixed}', 'contact.email');
SELECT label FROM pg_seclabel WHERE objoid = '"Mixed Case"'::regclass ORDER BY objsubid;
SELECT * FROM gdpr.subject_tables WHERE relation = '"Mixed Case"'::regclass;
SELECT relation, column_name, purposes FROM gdpr.column_tags WHERE relation = '"Mixed Case"'::regclass;

-- the tag cache (C) agrees with the views
SELECT * FROM gdpr._table_tags('klant') ORDER BY column_name;
SELECT * FROM gdpr._table_label('klant');
SELECT * FROM gdpr._table_label('bezoek');
SELECT count(*) FROM gdpr._table_label('los');

-- renamed columns keep their tags (pg_seclabel is by attnum); dropped ones lose them
ALTER TABLE klant RENAME COLUMN telefoon TO mobiel;
SELECT column_name, purposes FROM gdpr.column_tags WHERE relation = 'klant'::regclass ORDER BY 1;
SELECT column_name FROM gdpr._table_tags('klant') ORDER BY 1;
ALTER TABLE klant DROP COLUMN mobiel;
SELECT column_name FROM gdpr.column_tags WHERE relation = 'klant'::regclass ORDER BY 1;
SELECT column_name FROM gdpr._table_tags('klant') ORDER BY 1;
SELECT count(*) FROM pg_seclabel WHERE objoid = 'klant'::regclass AND objsubid > 0;

-- partitioned tables: label the parent; partitions (present and future,
-- with other column orders) get its tags; the views list the parent only
CREATE TABLE bestelling (
    bestelling_id int, klant_id int, email text, besteld_op date NOT NULL
) PARTITION BY RANGE (besteld_op);
CREATE TABLE bestelling_2023 PARTITION OF bestelling
    FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
SECURITY LABEL FOR gdpr ON TABLE bestelling IS 'BELONGS TO klant (klant_id) RETAIN FROM besteld_op';
SECURITY LABEL FOR gdpr ON COLUMN bestelling.email IS 'PURPOSE lt_levering CATEGORY contact.email';
CREATE TABLE bestelling_2024 (besteld_op date NOT NULL, email text, bestelling_id int, klant_id int);
ALTER TABLE bestelling ATTACH PARTITION bestelling_2024
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
SELECT relation, column_name FROM gdpr.column_tags WHERE relation::text LIKE 'bestelling%';
SELECT relation, belongs_to, retain_from FROM gdpr.table_labels WHERE relation::text LIKE 'bestelling%';
SELECT t.source, t.column_name, a.attnum, t.purposes
  FROM gdpr._table_tags('bestelling_2024') t
  JOIN pg_attribute a ON a.attrelid = 'bestelling_2024'::regclass AND a.attname = t.column_name;
SELECT * FROM gdpr._table_label('bestelling_2023');
SELECT * FROM gdpr._table_label('bestelling_2024');
-- a table with labels of its own cannot become a partition
CREATE TABLE bestelling_2025 (bestelling_id int, klant_id int, email text, besteld_op date NOT NULL);
SECURITY LABEL FOR gdpr ON COLUMN bestelling_2025.email IS 'PURPOSE lt_facturen';
ALTER TABLE bestelling ATTACH PARTITION bestelling_2025
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN bestelling_2025.email IS NULL;
ALTER TABLE bestelling ATTACH PARTITION bestelling_2025
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT column_name, purposes FROM gdpr._table_tags('bestelling_2025');
-- a partition cannot be labelled by itself
SECURITY LABEL FOR gdpr ON COLUMN bestelling_2023.email IS 'PURPOSE lt_levering';
\echo :LAST_ERROR_SQLSTATE
-- a change on the parent reaches the partitions' cached tags
SECURITY LABEL FOR gdpr ON COLUMN bestelling.email IS 'PURPOSE lt_nieuwsbrief';
SELECT column_name, purposes FROM gdpr._table_tags('bestelling_2023');
SECURITY LABEL FOR gdpr ON COLUMN bestelling.email IS NULL;
SELECT count(*) FROM gdpr._table_tags('bestelling_2024');

-- restore mode (pg_dump output sets check_function_bodies = off): labels
-- come back before the purposes; cross-catalog checks are skipped, syntax
-- and column checks are not
SET check_function_bodies = off;
SECURITY LABEL FOR gdpr ON COLUMN klant.voornaam IS 'PURPOSE lt_not_yet_restored CATEGORY name';
SECURITY LABEL FOR gdpr ON TABLE los IS 'BELONGS TO later_restored (klant)';
SECURITY LABEL FOR gdpr ON COLUMN klant.voornaam IS 'PURPOSE lt_levering CATEGORY nope';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE klant IS 'RETAIN FROM email';
\echo :LAST_ERROR_SQLSTATE
RESET check_function_bodies;
SELECT column_name, purposes FROM gdpr.column_tags WHERE relation = 'klant'::regclass AND column_name = 'voornaam';
SECURITY LABEL FOR gdpr ON TABLE los IS NULL;
SECURITY LABEL FOR gdpr ON COLUMN klant.voornaam IS 'PURPOSE lt_levering CATEGORY name';

-- a column can be tagged with up to 32 purposes
SELECT gdpr.tag_column('klant', 'nummer', array(SELECT 'p' || g FROM generate_series(1, 33) g));
\echo :LAST_ERROR_SQLSTATE

-- categories
SELECT array_agg(c) FROM gdpr.categories() c;

-- table labels name columns and tables: renames rewrite the labels to the
-- new names, and a column that a table label names cannot be dropped
ALTER TABLE klant RENAME COLUMN klant_id TO klantnummer;
ALTER TABLE bezoek RENAME COLUMN klant_ref TO "Klant Ref";
ALTER TABLE klant RENAME TO klanten;
SELECT objoid::regclass, label FROM pg_seclabel
 WHERE objsubid = 0 AND objoid IN ('klanten'::regclass, 'bezoek'::regclass)
 ORDER BY objoid::regclass::text;
SELECT * FROM gdpr._table_label('bezoek');
CREATE SCHEMA labels_test_elders;
ALTER TABLE klanten SET SCHEMA labels_test_elders;
SELECT label FROM pg_seclabel WHERE objsubid = 0 AND objoid = 'bezoek'::regclass;
ALTER SCHEMA labels_test_elders RENAME TO labels_test_anders;
SELECT relation, belongs_to, belongs_to_column, label FROM gdpr.table_labels WHERE relation = 'bezoek'::regclass;
ALTER TABLE labels_test_anders.klanten SET SCHEMA labels_test;
DROP SCHEMA labels_test_anders;
SELECT relation, belongs_to, belongs_to_column, label FROM gdpr.table_labels WHERE relation = 'bezoek'::regclass;
ALTER TABLE klanten DROP COLUMN gemaakt_op;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE klanten DROP COLUMN klantnummer CASCADE;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE bezoek DROP COLUMN "Klant Ref";
\echo :LAST_ERROR_SQLSTATE
-- RETAIN FROM stays a date/timestamp column
ALTER TABLE klanten ALTER COLUMN gemaakt_op TYPE text;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE klanten ALTER COLUMN gemaakt_op TYPE date;
SELECT retain_from, format_type(atttypid, atttypmod) FROM gdpr.subject_tables s
  JOIN pg_attribute a ON a.attrelid = s.relation AND a.attname = s.retain_from
 WHERE s.relation = 'klanten'::regclass;
-- a subject table stays one while another table BELONGS TO it
SECURITY LABEL FOR gdpr ON TABLE klanten IS NULL;
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention_column('bezoek', 'op');
SECURITY LABEL FOR gdpr ON TABLE bezoek IS 'RETAIN FROM op';
SECURITY LABEL FOR gdpr ON TABLE klanten IS NULL;
ALTER TABLE klanten DROP COLUMN gemaakt_op;
SELECT relation, label FROM gdpr.table_labels WHERE relation::text IN ('klanten', 'bezoek') ORDER BY relation::text;

-- every change was audited: who, what, the label text (never a value)
SELECT action, details->>'relation' AS relation, details->>'column' AS column,
       details->>'label' AS label, details->>'previous' AS previous, details->>'reason' AS reason
  FROM gdpr.audit_log
 WHERE details->>'relation' IN ('labels_test.bezoek', 'labels_test.bestelling')
 ORDER BY id;
SELECT action, details->>'role' AS role, details->>'column' AS column
  FROM gdpr.audit_log WHERE details->>'relation' = 'labels_test.eigen' ORDER BY id;
-- failed labels left no audit entry
SELECT count(*) FROM gdpr.audit_log WHERE details->>'label' LIKE '%lt_marketing%';

-- clean up
RESET search_path;
DROP SCHEMA labels_test CASCADE;
SELECT gdpr.drop_purpose(name) FROM gdpr.purposes WHERE name IN ('lt_levering', 'lt_nieuwsbrief', 'lt_facturen', 'LT_Mixed');
SELECT count(*) FROM pg_seclabel WHERE provider = 'gdpr';

-- DROP EXTENSION leaves the labels in pg_seclabel; while it is gone they
-- cannot be set, renames still keep them in step, and they are back in
-- force after CREATE EXTENSION
CREATE DATABASE labels_dropext TEMPLATE chinook_tpl;
\c labels_dropext
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SELECT gdpr.define_purpose('sales', 'contract');
SECURITY LABEL FOR gdpr ON TABLE customer IS 'SUBJECT KEY (customer_id)';
SECURITY LABEL FOR gdpr ON COLUMN customer.email IS 'PURPOSE sales CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON TABLE invoice IS 'RETAIN FROM invoice_date';
DROP EXTENSION gdpr_crm;
SELECT objoid::regclass, objsubid, label FROM pg_seclabel ORDER BY objoid::regclass::text, objsubid;
SECURITY LABEL FOR gdpr ON COLUMN customer.phone IS 'PURPOSE sales';
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE customer RENAME COLUMN customer_id TO klant_id;
ALTER TABLE invoice DROP COLUMN billing_state;
SECURITY LABEL FOR gdpr ON COLUMN customer.email IS NULL;
CREATE EXTENSION gdpr_crm;
SELECT * FROM gdpr.subject_tables;
SELECT relation, retain_from FROM gdpr.table_labels ORDER BY relation::text;
SELECT count(*) FROM gdpr.column_tags;
ALTER TABLE invoice DROP COLUMN invoice_date;
\echo :LAST_ERROR_SQLSTATE
\c contrib_regression
DROP DATABASE labels_dropext;
