-- gdpr_crm demo, part 9: discover personal data nobody tagged.
-- gdpr.discover() samples every table (one query per table, detectors in C)
-- and reports columns that hold personal data, with a confidence and the
-- evidence: which detector, what share of the sampled values matched, what
-- the column name says.  Never the values themselves.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\echo
\echo '=== 90 discover: find personal data nobody tagged ==='

\echo '--- a developer adds a notes column to the orders; customers leave phone numbers in it ---'
ALTER TABLE winkel.bestellingen ADD COLUMN IF NOT EXISTS opmerkingen text;
UPDATE winkel.bestellingen
   SET opmerkingen = CASE bestelling_id % 4
       WHEN 0 THEN 'Graag achterom bezorgen'
       WHEN 1 THEN 'Bel mij even op 06-' || (10000000 + bestelling_id * 7919 % 90000000) || ' als ik niet thuis ben'
       WHEN 2 THEN 'Niet aanbellen, baby slaapt. Tel: +31 6 ' || (10000000 + bestelling_id * 104729 % 90000000)
       ELSE '06 ' || (10000000 + bestelling_id * 31 % 90000000) END;
SELECT opmerkingen AS "a few notes (the demo shows them; discover never does)"
  FROM winkel.bestellingen ORDER BY bestelling_id LIMIT 4;

\echo '--- and a mail template table: a column named after e-mail that holds no addresses, and'
\echo '    the address of the employee who sends each mail, in a column not named after e-mail ---'
DROP TABLE IF EXISTS winkel.mail_sjablonen;
CREATE TABLE winkel.mail_sjablonen (sjabloon_id serial PRIMARY KEY, order_email_template text, afzender text);
INSERT INTO winkel.mail_sjablonen (order_email_template, afzender) VALUES
  ('Beste {voornaam}, je bestelling {nummer} is onderweg.', 'petra.devries@winkel.example'),
  ('Beste {voornaam}, je factuur {nummer} staat klaar.', 'ahmed.elamrani@winkel.example'),
  ('Hoi {voornaam}, je pakket is bezorgd.', 'petra.devries@winkel.example'),
  ('Beste {voornaam}, bedankt voor je review.', 'joost.bakker@winkel.example'),
  ('Beste {voornaam}, je retour is ontvangen.', 'joost.bakker@winkel.example');

\echo '--- gdpr.discover(): personal data in winkel that has no tag ---'
SELECT relation, column_name, category, confidence, evidence
  FROM gdpr.discover()
 WHERE relation::text LIKE 'winkel.%' AND category NOT LIKE 'tagged:%'
 ORDER BY confidence DESC, relation::text, column_name;

\echo '--- the notes column was found by its contents, not its name: ---'
SELECT column_name, category, evidence FROM gdpr.discover()
 WHERE relation = 'winkel.bestellingen'::regclass AND column_name = 'opmerkingen';

\echo '--- order_email_template is named after e-mail, but its values are no e-mail addresses (weak signals, threshold 0) ---'
SELECT column_name, category, confidence, evidence FROM gdpr.discover(1000, 0)
 WHERE relation = 'winkel.mail_sjablonen'::regclass ORDER BY column_name;

\echo '--- columns already tagged are reported as tagged, not as findings ---'
SELECT relation, column_name, category, confidence
  FROM gdpr.discover()
 WHERE relation::text LIKE 'winkel.%' AND category LIKE 'tagged:%'
 ORDER BY relation::text, column_name;

\echo '--- compliance_report uses discover for its untagged-personal-data check ---'
SELECT check_name, status, detail FROM gdpr.compliance_report()
 WHERE check_name = 'untagged_personal_columns' AND detail LIKE 'winkel.%';

\echo '--- fix: tag the notes column (and the sender column); discover now reports them as tagged ---'
\o /dev/null
SELECT gdpr.define_purpose('klantcontact', 'contract', '1 year', 'Contact met de klant over de bezorging');
SELECT gdpr.tag_column('winkel.bestellingen', 'opmerkingen', '{klantcontact}', 'contact.phone');
SELECT gdpr.tag_column('winkel.mail_sjablonen', 'afzender', '{klantcontact}', 'contact.email');
\o
SELECT relation, column_name, category FROM gdpr.discover()
 WHERE (relation, column_name) IN (('winkel.bestellingen'::regclass, 'opmerkingen'), ('winkel.mail_sjablonen'::regclass, 'afzender'));
SELECT count(*) AS "compliance warnings about winkel" FROM gdpr.compliance_report()
 WHERE check_name = 'untagged_personal_columns' AND detail LIKE 'winkel.%';
