-- Purpose registry (API section 1): define (insert or update), view, drop,
-- refusal while in use, bad input, and the per-backend cache.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE SCHEMA purposes_test;

SELECT gdpr.define_purpose('pt_levering', 'contract', NULL, 'Bestellingen bezorgen');
SELECT gdpr.define_purpose('pt_facturen', 'legal_obligation', '7 years', 'Fiscale bewaarplicht');
SELECT gdpr.define_purpose('pt_nieuwsbrief', 'consent', '2 years', 'Nieuwsbrief', '2 years');
SELECT name, legal_basis, retention, consent_valid_for, description
  FROM gdpr.purposes WHERE name LIKE 'pt\_%' ORDER BY name;

-- redefinition updates (basis case-insensitive), keeps created_at, moves updated_at
SELECT created_at AS created_before FROM gdpr.purpose WHERE name = 'pt_levering' \gset
SELECT gdpr.define_purpose('pt_levering', 'Contract', '1 year', 'Bestellingen bezorgen en retouren');
SELECT name, legal_basis, retention, description, created_at = :'created_before' AS same_created,
       updated_at >= created_at AS updated
  FROM gdpr.purposes WHERE name = 'pt_levering';
SELECT count(*) FROM gdpr.purpose WHERE name = 'pt_levering';

-- the cache of this backend sees the change at once
SELECT array(SELECT x FROM unnest(gdpr._purpose_cache()) x WHERE x LIKE 'pt\_%' ORDER BY x);

-- bad input
SELECT gdpr.define_purpose('pt_x', 'because');
SELECT gdpr.define_purpose('pt_x', NULL);
SELECT gdpr.define_purpose(NULL, 'consent');
SELECT gdpr.define_purpose('', 'consent');
SELECT gdpr.define_purpose('pt_x', 'consent', '-1 day');
SELECT gdpr.define_purpose('pt_x', 'contract', NULL, NULL, '1 year');
SELECT gdpr.define_purpose(repeat('x', 64), 'contract');
SELECT count(*) FROM gdpr.purpose WHERE name LIKE 'pt\_x%' OR name = '';

-- drop: unknown, in use (the error names the columns), then free
SELECT gdpr.drop_purpose('pt_nope');
SELECT gdpr.drop_purpose(NULL);
CREATE TABLE purposes_test.k (id int PRIMARY KEY, email text, naam text);
SECURITY LABEL FOR gdpr ON COLUMN purposes_test.k.email IS 'PURPOSE pt_levering, pt_nieuwsbrief';
SECURITY LABEL FOR gdpr ON COLUMN purposes_test.k.naam IS 'PURPOSE pt_levering';
SELECT gdpr.drop_purpose('pt_levering');
SELECT gdpr.drop_purpose('pt_nieuwsbrief');
SECURITY LABEL FOR gdpr ON COLUMN purposes_test.k.email IS 'PURPOSE pt_levering';
SELECT gdpr.drop_purpose('pt_nieuwsbrief');
SELECT gdpr.drop_purpose('pt_facturen');
SELECT name FROM gdpr.purposes WHERE name LIKE 'pt\_%' ORDER BY name;

-- a purpose view and consent records also keep a purpose in use
SELECT gdpr.define_purpose('pt_mail', 'consent', '2 years');
CREATE TABLE purposes_test.lid (id int PRIMARY KEY, email text);
INSERT INTO purposes_test.lid VALUES (1, 'lid@example.nl');
SECURITY LABEL FOR gdpr ON TABLE purposes_test.lid IS 'SUBJECT KEY (id)';
SECURITY LABEL FOR gdpr ON COLUMN purposes_test.lid.email IS 'PURPOSE pt_mail CATEGORY contact.email';
SELECT gdpr.grant_consent('purposes_test.lid', 1, 'pt_mail', 'checkbox') > 0 AS granted;
SELECT gdpr.create_purpose_view('purposes_test.lid', 'pt_mail');
SELECT gdpr.drop_purpose('pt_mail');
SELECT gdpr.untag_column('purposes_test.lid', 'email');
SELECT gdpr.drop_purpose_view('purposes_test.lid_pt_mail');
SELECT gdpr.drop_purpose('pt_mail');
SELECT sum(rows) > 0 AS erased FROM gdpr.erase('purposes_test.lid', 1);
SELECT gdpr.drop_purpose('pt_mail');
SELECT count(*) FROM gdpr.purposes WHERE name = 'pt_mail';

-- privileges: reading the registry is public, changing it is not
CREATE ROLE purposes_test_user;
SET ROLE purposes_test_user;
SELECT count(*) >= 1 AS can_read FROM gdpr.purposes WHERE name = 'pt_levering';
SELECT gdpr.define_purpose('pt_sneaky', 'consent');
SELECT gdpr.drop_purpose('pt_levering');
SELECT * FROM gdpr.purpose;
RESET ROLE;
DROP ROLE purposes_test_user;

-- gdpr.purpose is a config table (pg_dump keeps its rows)
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) cfg JOIN pg_class c ON c.oid = cfg
 WHERE e.extname = 'gdpr_crm' AND c.relname = 'purpose';

-- every define and drop was audited (failed calls were not)
SELECT action, details->>'purpose' AS purpose, details->>'legal_basis' AS basis,
       details->>'retention' AS retention, details->>'created' AS created,
       details->'previous'->>'retention' AS previous_retention, details->>'role' AS role
  FROM gdpr.audit_log WHERE details->>'purpose' LIKE 'pt\_%' AND action LIKE 'purpose.%' ORDER BY id;

-- clean up
DROP SCHEMA purposes_test CASCADE;
SELECT gdpr.drop_purpose('pt_levering');
SELECT count(*) FROM gdpr.purposes WHERE name LIKE 'pt\_%';
