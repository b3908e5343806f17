-- gdpr_crm demo, part 1: purposes and tags on the webshop.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\echo
\echo '=== 10 tags: purposes (lawful basis, retention) and gdpr labels ==='

\echo '--- the four purposes of the webshop ---'
\o /dev/null
SELECT gdpr.define_purpose('levering', 'contract', NULL,
                           'Bestellingen leveren en klantcontact over de bestelling');
SELECT gdpr.define_purpose('facturen', 'legal_obligation', '7 years',
                           'Fiscale bewaarplicht (art. 52 AWR): facturen 7 jaar bewaren');
SELECT gdpr.define_purpose('nieuwsbrief', 'consent', '2 years',
                           'Nieuwsbrief per e-mail, alleen met toestemming', '2 years');
SELECT gdpr.define_purpose('analytics', 'legitimate_interests', '13 months',
                           'Websitestatistiek en verbetering van de winkel');
\o
SELECT name, legal_basis, retention, consent_valid_for FROM gdpr.purposes ORDER BY name;

\echo '--- tables: who is a data subject, and which column starts the retention clock ---'
SECURITY LABEL FOR gdpr ON TABLE winkel.klanten IS 'SUBJECT KEY (klant_id) RETAIN FROM laatst_actief';
SECURITY LABEL FOR gdpr ON TABLE winkel.facturen IS 'RETAIN FROM factuurdatum';
SECURITY LABEL FOR gdpr ON TABLE winkel.bestellingen IS 'RETAIN FROM besteld_op';
SECURITY LABEL FOR gdpr ON TABLE winkel.websitebezoeken IS 'RETAIN FROM bezocht_op';

\echo '--- columns: the purposes each personal column is held for, and its category ---'
-- with SECURITY LABEL ...
SECURITY LABEL FOR gdpr ON COLUMN winkel.klanten.voornaam IS 'PURPOSE levering, facturen CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN winkel.klanten.achternaam IS 'PURPOSE levering, facturen CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN winkel.klanten.email IS 'PURPOSE levering, nieuwsbrief CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON COLUMN winkel.klanten.telefoon IS 'PURPOSE levering CATEGORY contact.phone';
SECURITY LABEL FOR gdpr ON COLUMN winkel.klanten.geboortedatum IS 'PURPOSE analytics CATEGORY demographic';
-- ... or with the wrapper functions (they run the same checks)
\o /dev/null
SELECT gdpr.tag_column('winkel.adressen', c, '{levering,facturen}', 'contact.address')
  FROM unnest('{straat,huisnummer,postcode,woonplaats,land}'::name[]) c;
SELECT gdpr.tag_column('winkel.bestellingen', 'totaal', '{levering}', 'financial');
SELECT gdpr.tag_column('winkel.facturen', 'naam_op_factuur', '{levering}', 'name');
SELECT gdpr.tag_column('winkel.facturen', 'factuuradres', '{levering}', 'contact.address');
SELECT gdpr.tag_column('winkel.facturen', 'bedrag', '{facturen}', 'financial');
SELECT gdpr.tag_column('winkel.nieuwsbrief_inschrijvingen', 'email', '{nieuwsbrief}', 'contact.email');
SELECT gdpr.tag_column('winkel.websitebezoeken', 'ip_adres', '{analytics}', 'identifier.online');
SELECT gdpr.tag_column('winkel.websitebezoeken', 'pagina', '{analytics}', 'behavioral');
\o

\echo '--- gdpr.column_tags ---'
SELECT relation, column_name, purposes, category
  FROM gdpr.column_tags ORDER BY relation::text, column_name;

\echo '--- gdpr.subject_tables ---'
SELECT * FROM gdpr.subject_tables ORDER BY relation::text;

\echo '--- all table labels (gdpr.table_labels) ---'
SELECT relation, subject_key, retain_from, belongs_to FROM gdpr.table_labels ORDER BY relation::text;

\echo '--- a mistake gets a clear answer (RETAIN FROM on a text column, a typo in a category) ---'
\set ON_ERROR_STOP 0
SECURITY LABEL FOR gdpr ON TABLE winkel.facturen IS 'RETAIN FROM naam_op_factuur';
SECURITY LABEL FOR gdpr ON COLUMN winkel.klanten.telefoon IS 'PURPOSE levering CATEGORY contact.telefoon';
\set ON_ERROR_STOP 1
