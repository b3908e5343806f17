-- gdpr_crm demo, part 40: consent with proof, an unsubscribe link, and the
-- consent-checked purpose view for the newsletter ("nieuwsbrief").
-- Builds on 00_webshop.sql (schema winkel) and 10_tags.sql (purposes, tags).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\echo
\echo '=== 40 consent: newsletter signups with proof (Art. 7(1)) ==='
-- Customers who subscribed to the newsletter (winkel.nieuwsbrief_inschrijvingen)
-- confirmed by double opt-in; the proof is kept with the consent.
SELECT count(gdpr.grant_consent('winkel.klanten', n.klant_id, 'nieuwsbrief', 'double_opt_in',
                                'nieuwsbrief-formulier',
                                jsonb_build_object('bevestigd_via', 'e-mail', 'inschrijving_id', n.inschrijving_id),
                                'privacyverklaring-v3')) AS aanmeldingen
  FROM (SELECT DISTINCT ON (klant_id) klant_id, inschrijving_id
          FROM winkel.nieuwsbrief_inschrijvingen WHERE klant_id IS NOT NULL
         ORDER BY klant_id, inschrijving_id) n;
-- one more customer ticks the box at checkout
SELECT min(klant_id) AS klant FROM winkel.klanten k
 WHERE NOT gdpr.has_consent('winkel.klanten', k.klant_id, 'nieuwsbrief') \gset
SELECT gdpr.grant_consent('winkel.klanten', :klant, 'nieuwsbrief', 'checkbox', 'afrekenpagina',
                          '{"checkbox": "Ja, stuur mij de nieuwsbrief", "ip": "192.0.2.44"}',
                          'privacyverklaring-v3') AS consent_event_id;
\echo '--- the proof, as stored (the history is append-only):'
SELECT id, subject, subject_key, purpose, action, method, source, evidence, policy_version, actor
  FROM gdpr.consent_events WHERE subject_key = :'klant';
\echo '--- a pre-ticked box is no consent (CJEU C-673/17, Planet49):'
DO $$
BEGIN
    PERFORM gdpr.grant_consent('winkel.klanten', 1, 'nieuwsbrief', 'pre_ticked');
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE WARNING '%', SQLERRM;
END $$;
\echo '--- and no consent is recorded for a purpose that has another legal basis:'
DO $$
BEGIN
    PERFORM gdpr.grant_consent('winkel.klanten', 1, 'levering', 'checkbox');
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE WARNING '%', SQLERRM;
END $$;

\echo
\echo '=== 40 consent: the nieuwsbrief view shows only who may be mailed ==='
SELECT gdpr.create_purpose_view('winkel.klanten', 'nieuwsbrief') AS view;
SELECT gdpr.create_purpose_view('winkel.bestellingen', 'nieuwsbrief') AS view;
\d+ winkel.klanten_nieuwsbrief
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'marketing_team') THEN
        CREATE ROLE marketing_team;
    END IF;
END $$;
SELECT gdpr.grant_purpose('marketing_team', 'nieuwsbrief');
SET ROLE marketing_team;
\echo '--- the marketing team sees the view (email, no phone, no date of birth) but not the table:'
SELECT (SELECT count(*) FROM winkel.klanten_nieuwsbrief) AS mag_mailen;
SELECT klant_id, email FROM winkel.klanten_nieuwsbrief WHERE klant_id = :klant;
DO $$
BEGIN
    PERFORM count(*) FROM winkel.klanten;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING '%', SQLERRM;
END $$;
RESET ROLE;
SELECT count(*) AS alle_klanten FROM winkel.klanten;

\echo
\echo '=== 40 consent: unsubscribe link in the newsletter ==='
SELECT gdpr.consent_token('winkel.klanten', :klant, 'nieuwsbrief') AS token \gset
\echo 'https://winkel.example/afmelden?t=':token
\echo '(version byte + consent event id + HMAC: no name, no email, no customer number)'
-- the unsubscribe endpoint logs in as a role that may call withdraw_by_token and nothing else
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'afmeld_endpoint') THEN
        CREATE ROLE afmeld_endpoint;
    END IF;
END $$;
GRANT EXECUTE ON FUNCTION gdpr.withdraw_by_token(text) TO afmeld_endpoint;
SELECT set_config('demo.token', :'token', false) \g /dev/null
SET ROLE afmeld_endpoint;
SELECT gdpr.withdraw_by_token(:'token') AS afgemeld;
SELECT gdpr.withdraw_by_token(:'token') AS nogmaals;
\echo '--- a tampered link changes nothing:'
DO $$
BEGIN
    PERFORM gdpr.withdraw_by_token(overlay(current_setting('demo.token') PLACING 'x' FROM 12 FOR 1));
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE WARNING '%', SQLERRM;
END $$;
RESET ROLE;
SET ROLE marketing_team;
\echo '--- the view, at the very next statement:'
SELECT (SELECT count(*) FROM winkel.klanten_nieuwsbrief) AS mag_mailen;
SELECT klant_id, email FROM winkel.klanten_nieuwsbrief WHERE klant_id = :klant;
RESET ROLE;
\echo '--- the grant stays as proof, the withdrawal points to it:'
SELECT id, at::date, action, method, source, withdraws, actor
  FROM gdpr.consent_events WHERE subject_key = :'klant' ORDER BY id;
\echo '--- and the audit log names the subject by a keyed hash only:'
SELECT action, subject_ref, relation, details FROM gdpr.audit_log
 WHERE action LIKE 'consent.%' AND subject_ref = gdpr.subject_ref('winkel.klanten', :klant)
 ORDER BY id;
