-- The compliance self-check (API section 10): every check reports, each
-- problem says what is wrong and how to fix it, and the fix turns it ok.
CREATE DATABASE gdpr_compliance;
\c gdpr_compliance
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
RESET client_min_messages;
-- an empty database: everything ok
SELECT check_name, status FROM gdpr.compliance_report();

SELECT gdpr.define_purpose('levering', 'contract', NULL, 'Bestellingen leveren');
SELECT gdpr.define_purpose('nieuwsbrief', 'consent', '2 years', 'Nieuwsbrief', '2 years');
SELECT gdpr.define_purpose('zorg', 'contract', NULL, 'Maatwerk op medisch advies');
CREATE SCHEMA shop;
CREATE TABLE shop.klant (klant_id int PRIMARY KEY, naam text, email text, telefoon text, allergie text);
SECURITY LABEL FOR gdpr ON TABLE shop.klant IS 'SUBJECT KEY (klant_id)';
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.naam IS 'PURPOSE levering CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.email IS 'PURPOSE levering, nieuwsbrief CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.allergie IS 'PURPOSE zorg CATEGORY special.health';
INSERT INTO shop.klant VALUES (1, 'Jan', 'jan@example.nl', '0612345678', 'noten');
SELECT gdpr.register_processor('HostNL B.V.', 'NL', '2020-01-01', '2021-01-01', '{levering}');
SELECT gdpr.register_processor('Mail Inc.', 'US', '2024-01-01', NULL, '{nieuwsbrief}');
CREATE ROLE gdpr_compliance_clerk;
GRANT USAGE ON SCHEMA shop TO gdpr_compliance_clerk;
GRANT SELECT ON shop.klant TO gdpr_compliance_clerk;
GRANT SELECT (naam) ON shop.klant TO PUBLIC;
-- a partitioned table: a grant on one partition bypasses the views too
CREATE TABLE shop.bezoek (id int, klant_id int REFERENCES shop.klant, op date, ip inet) PARTITION BY RANGE (op);
CREATE TABLE shop.bezoek_2026 PARTITION OF shop.bezoek FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SECURITY LABEL FOR gdpr ON COLUMN shop.bezoek.ip IS 'PURPOSE levering CATEGORY identifier.online';
GRANT SELECT ON shop.bezoek_2026 TO gdpr_compliance_clerk;
SELECT gdpr.request('shop.klant', 1, 'access', '2026-01-01 12:00+00');
SELECT gdpr.report_breach('USB-stick kwijt', '2026-02-01 08:00+00', '{shop.klant}');

SELECT check_name, status FROM gdpr.compliance_report();
-- the details that are not heuristic
SELECT check_name, status, detail FROM gdpr.compliance_report()
 WHERE check_name NOT IN ('untagged_personal_columns', 'audit_chain', 'retention_backlog', 'transport_encryption')
   AND status <> 'ok';
SELECT status, detail LIKE 'shop.klant.telefoon %' AS names_it, detail LIKE '%gdpr.tag_column%' AS says_fix
  FROM gdpr.compliance_report() WHERE check_name = 'untagged_personal_columns' AND detail LIKE '%telefoon%';

-- fix everything
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.telefoon IS 'PURPOSE levering CATEGORY contact.phone';
REVOKE SELECT ON shop.klant FROM gdpr_compliance_clerk;
REVOKE SELECT ON shop.bezoek_2026 FROM gdpr_compliance_clerk;
REVOKE SELECT (naam) ON shop.klant FROM PUBLIC;
SELECT gdpr.create_purpose_view('shop.klant', 'nieuwsbrief') IS NOT NULL AS view_created;
SELECT gdpr.register_processor('HostNL B.V.', 'NL', '2021-01-01', '2999-01-01', '{levering}');
SELECT gdpr.register_processor('Mail Inc.', 'US', '2024-01-01', NULL, '{nieuwsbrief}', NULL,
                               'standard contractual clauses (2021/914)');
SELECT gdpr.complete_request(1, 'export sent');
SELECT gdpr.notify_breach(1, '2026-02-05 08:00+00');
SELECT gdpr.define_purpose('zorg_toestemming', 'consent', NULL, 'Maatwerk op medisch advies, met uitdrukkelijke toestemming');
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.allergie IS 'PURPOSE zorg_toestemming CATEGORY special.health';
SELECT gdpr.create_purpose_view('shop.klant', 'zorg_toestemming') IS NOT NULL AS view_created;
SELECT check_name, status, CASE WHEN check_name IN ('untagged_personal_columns', 'audit_chain', 'retention_backlog')
                                THEN NULL ELSE detail END AS detail
  FROM gdpr.compliance_report();
-- a processor outside the EEA with its safeguard stays listed, as ok
SELECT status, detail FROM gdpr.compliance_report() WHERE check_name = 'third_country_transfers';

-- transport encryption, every branch (the test cluster listens on Unix sockets only;
-- its pg_hba.conf is initdb's: host lines for 127.0.0.1 and ::1)
SELECT * FROM gdpr._transport_findings('', 'off');
SELECT * FROM gdpr._transport_findings('*', 'off');
SELECT status, detail ~ '^pg_hba.conf line [0-9]+ \(host (all|replication) all (127.0.0.1|::1) trust\) allows connections without TLS' AS loopback_line
  FROM gdpr._transport_findings('*', 'on');

-- not for PUBLIC
SELECT has_function_privilege('public', 'gdpr.compliance_report()', 'EXECUTE') AS public_execute;

\c contrib_regression
DROP DATABASE gdpr_compliance;
DROP ROLE gdpr_compliance_clerk;
