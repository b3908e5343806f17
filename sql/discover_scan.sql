-- gdpr.discover on a schema built for it, in a database of its own (discover
-- reads every table of the database): content beats names, names need
-- content where content can be checked, privileges are the caller's.
CREATE DATABASE discover_scan;
\c discover_scan
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
RESET client_min_messages;
CREATE SCHEMA shop;

-- a valid BSN from 8 digits (11-test), NULL when no check digit fits
CREATE FUNCTION pg_temp.bsn(n bigint) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN c <= 9 THEN s || c END
    FROM (SELECT s, (SELECT sum((9 - i) * substr(s, i + 1, 1)::int) FROM generate_series(0, 7) i) % 11 AS c
            FROM (SELECT lpad(n::text, 8, '0') AS s) a) b $$;
-- a valid Dutch IBAN at the ABNA bank for a 10-digit account number
CREATE FUNCTION pg_temp.iban(acct bigint) RETURNS text LANGUAGE sql AS $$
  SELECT 'NL' || lpad((98 - ('10112310' || lpad(acct::text, 10, '0') || '232100')::numeric % 97)::text, 2, '0')
         || 'ABNA' || lpad(acct::text, 10, '0') $$;
SELECT pg_temp.bsn(12345678) AS bsn, gdpr._detect('bsn', pg_temp.bsn(12345678)) AS bsn_ok,
       pg_temp.iban(417164300) AS iban, gdpr._detect('iban', pg_temp.iban(417164300)) AS iban_ok;

-- customers: names say most, contents confirm
CREATE TABLE shop.klanten (
    klant_id int PRIMARY KEY, voornaam text, achternaam text, email text,
    telefoon text, postcode text, woonplaats text, land text,
    geboortedatum date, aangemaakt date, klantnummer bigint);
INSERT INTO shop.klanten
SELECT i, 'Voornaam' || i, 'Achternaam' || i, 'klant' || i || '@example.nl',
       '06-' || (10000000 + i * 7919 % 90000000), (1000 + i % 9000) || ' AB',
       'Utrecht', 'NL', DATE '1950-01-01' + i * 97 % 18000, DATE '2020-01-01' + i,
       100000 + i
  FROM generate_series(1, 300) i;

-- orders: notes full of phone numbers, nobody named the column for it
CREATE TABLE shop.bestellingen (bestelling_id int PRIMARY KEY, opmerkingen text, totaal numeric);
INSERT INTO shop.bestellingen
SELECT i, CASE WHEN i % 3 = 0 THEN 'graag achterom bezorgen'
               ELSE 'bel klant op 06 ' || (10000000 + i * 7919 % 90000000) || ' voor aflevering' END,
       i * 1.5
  FROM generate_series(1, 300) i;

-- settings: a template column named after e-mail, a sender column not named so
CREATE TABLE shop.mail_settings (id int PRIMARY KEY, order_email_template text, afzender text, email_subject text);
INSERT INTO shop.mail_settings
SELECT i, 'Beste {naam}, uw bestelling {nummer} is onderweg.', 'medewerker' || i || '@winkel.example',
       'Uw bestelling'
  FROM generate_series(1, 20) i;

-- payments: IBANs, cards, BSNs, and reference numbers that are none of them
CREATE TABLE shop.betalingen (id int PRIMARY KEY, tegenrekening text, kaart text, burger text, kenmerk text);
INSERT INTO shop.betalingen
SELECT i, pg_temp.iban(417164300 + i * 13),
       (ARRAY['4111 1111 1111 1111', '5555555555554444', '378282246310005', '6011111111111117'])[1 + i % 4],
       pg_temp.bsn(10000000 + i * 37),
       lpad((i::bigint * 7919 * 104729 % 1000000000)::text, 9, '0')
  FROM generate_series(1, 400) i;

-- web visits: an inet column, and IPv4 addresses in a text column
CREATE TABLE shop.bezoeken (id int PRIMARY KEY, ip inet, pagina text, client_ip text);
INSERT INTO shop.bezoeken
SELECT i, CASE WHEN i % 2 = 0 THEN ('10.0.' || i % 256 || '.' || i % 200)::inet
               ELSE ('2001:db8::' || to_hex(i))::inet END, '/product/' || i,
       '192.0.' || i % 3 || '.' || i
  FROM generate_series(1, 100) i;

-- a column named "email" holding phone numbers: the content wins
CREATE TABLE shop.leads (id int PRIMARY KEY, email text, geboortedatum date);
INSERT INTO shop.leads
SELECT i, '+31 20 ' || (1000000 + i * 31), DATE '2030-01-01' + i  -- no plausible birth dates
  FROM generate_series(1, 50) i;

-- nothing personal (versie holds version numbers that are valid IPv4 addresses)
CREATE TABLE shop.producten (product_id int PRIMARY KEY, naam text, omschrijving text, prijs numeric, versie text);
INSERT INTO shop.producten
SELECT i, 'Product ' || i, 'Een mooi product, maat ' || i % 50, i, '1.2.' || i % 10 || '.' || i % 7
  FROM generate_series(1, 100) i;

-- partitioned: the parent is reported, not its partitions
CREATE TABLE shop.log (id int, bij date, contact text) PARTITION BY RANGE (bij);
CREATE TABLE shop.log_2024 PARTITION OF shop.log FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE shop.log_2025 PARTITION OF shop.log FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO shop.log SELECT i, DATE '2024-06-01' + i, 'user' || i || '@example.org' FROM generate_series(1, 400) i;

SELECT relation, column_name, category, confidence, evidence
  FROM gdpr.discover(100000) ORDER BY relation::text, column_name;

-- the threshold is a parameter; 0 shows the weak signals too
SELECT relation, column_name, category, confidence
  FROM gdpr.discover(100000, 0.0)
 WHERE confidence < 0.5 ORDER BY relation::text, column_name;

-- tagged columns are reported as tagged, not as findings
SELECT gdpr.define_purpose('discover_levering', 'contract');
SELECT gdpr.tag_column('shop.klanten', 'email', '{discover_levering}', 'contact.email');
SELECT gdpr.tag_column('shop.klanten', 'telefoon', '{discover_levering}');
SELECT relation, column_name, category, confidence, evidence
  FROM gdpr.discover(100000)
 WHERE relation = 'shop.klanten'::regclass AND column_name IN ('email', 'telefoon', 'voornaam')
 ORDER BY column_name;
-- what compliance_report calls untagged personal data: everything else
SELECT count(*) FILTER (WHERE category NOT LIKE 'tagged:%') AS untagged_findings,
       count(*) FILTER (WHERE category LIKE 'tagged:%') AS tagged_findings
  FROM gdpr.discover(100000);
SELECT count(*) > 10 AS warns_about_untagged,
       bool_and(detail NOT LIKE 'shop.klanten.email %' AND detail NOT LIKE 'shop.klanten.telefoon %') AS not_about_tagged,
       bool_or(detail LIKE 'shop.bestellingen.opmerkingen %') AS names_opmerkingen
  FROM gdpr.compliance_report() WHERE check_name = 'untagged_personal_columns' AND status = 'warn';

-- a big table is sampled (TABLESAMPLE), not read whole
CREATE TABLE shop.groot (id int, contact text);
INSERT INTO shop.groot SELECT i, 'persoon' || i || '@example.com' FROM generate_series(1, 100000) i;
ANALYZE shop.groot;
SELECT relation, column_name, category,
       substring(evidence from 'of ([0-9]+) sampled')::int BETWEEN 1 AND 500 AS sampled_at_most_500
  FROM gdpr.discover(500) WHERE relation = 'shop.groot'::regclass;
DROP TABLE shop.groot;

-- bad arguments
SELECT * FROM gdpr.discover(0);
SELECT * FROM gdpr.discover(NULL);
SELECT * FROM gdpr.discover(10, 1.5);

-- privileges: not for PUBLIC; with EXECUTE, only what the caller may read
CREATE ROLE discover_auditor;
SET ROLE discover_auditor;
SELECT * FROM gdpr.discover();
RESET ROLE;
GRANT EXECUTE ON FUNCTION gdpr.discover(int) TO discover_auditor;
GRANT USAGE ON SCHEMA shop TO discover_auditor;
GRANT SELECT ON shop.bestellingen TO discover_auditor;
GRANT SELECT (klant_id, email) ON shop.klanten TO discover_auditor;
SET ROLE discover_auditor;
SELECT relation, column_name, category FROM gdpr.discover(100000) ORDER BY relation::text, column_name;
RESET ROLE;

\c contrib_regression
DROP DATABASE discover_scan;
DROP ROLE discover_auditor;
