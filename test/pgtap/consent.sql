-- pgTAP: the consent registry's and the purpose views' objects, privileges
-- and behaviour in a fresh database.
BEGIN;
SELECT plan(30);

SELECT has_table('gdpr', 'consent_event', 'gdpr.consent_event exists');
SELECT has_view('gdpr', 'consent_events', 'gdpr.consent_events exists');
SELECT has_view('gdpr', 'consent_status', 'gdpr.consent_status exists');
SELECT has_view('gdpr', 'purpose_views', 'gdpr.purpose_views exists');
SELECT columns_are('gdpr', 'consent_events',
    ARRAY['id', 'at', 'subject', 'subject_key', 'purpose', 'action', 'method', 'source',
          'evidence', 'policy_version', 'actor', 'subject_name', 'withdraws'],
    'consent_events has the API columns (plus subject_name, withdraws)');
SELECT columns_are('gdpr', 'consent_status',
    ARRAY['subject', 'subject_key', 'purpose', 'granted_at', 'expires_at', 'grant_id', 'method',
          'policy_version', 'subject_name'],
    'consent_status has the API columns first');
SELECT col_type_is('gdpr', 'consent_event', 'subject', 'regclass', 'subject is a regclass');
SELECT col_type_is('gdpr', 'consent_event', 'subject_key', 'text', 'subject_key is text');
SELECT has_trigger('gdpr', 'consent_event', 'consent_event_inval', 'cache invalidation trigger exists');
SELECT has_trigger('gdpr', 'consent_event', 'consent_event_append_only', 'append-only trigger exists');
SELECT ok((SELECT 'gdpr.consent_event'::regclass::oid = ANY (extconfig)
                  AND 'gdpr.purpose_view_registry'::regclass::oid = ANY (extconfig)
                  AND 'gdpr.purpose_grant'::regclass::oid = ANY (extconfig)
             FROM pg_extension WHERE extname = 'gdpr_crm'),
          'consent and view registries are extension config tables');
SELECT function_returns('gdpr', 'grant_consent',
    ARRAY['regclass', 'anyelement', 'text', 'text', 'text', 'jsonb', 'text'], 'bigint');
SELECT function_returns('gdpr', 'withdraw_consent', ARRAY['regclass', 'anyelement', 'text', 'text'], 'boolean');
SELECT function_returns('gdpr', 'has_consent', ARRAY['regclass', 'anyelement', 'text'], 'boolean');
SELECT function_returns('gdpr', 'may_process', ARRAY['regclass', 'anyelement', 'text'], 'boolean');
SELECT function_returns('gdpr', 'consent_token', ARRAY['regclass', 'anyelement', 'text'], 'text');
SELECT function_returns('gdpr', 'withdraw_by_token', ARRAY['text'], 'boolean');
SELECT function_returns('gdpr', 'create_purpose_view', ARRAY['regclass', 'text', 'text'], 'regclass');
SELECT is_definer('gdpr', 'withdraw_by_token', ARRAY['text'], 'withdraw_by_token is SECURITY DEFINER');
SELECT ok((SELECT proconfig = '{"search_path=pg_catalog, pg_temp"}' FROM pg_proc
            WHERE oid = 'gdpr.withdraw_by_token(text)'::regprocedure),
          'withdraw_by_token pins its search_path');

-- privileges of an ordinary role
CREATE ROLE pgtap_consent_nobody;
SELECT ok(NOT has_table_privilege('pgtap_consent_nobody', 'gdpr.consent_events', 'SELECT'), 'history not readable by PUBLIC');
SELECT ok(NOT has_function_privilege('pgtap_consent_nobody', 'gdpr.withdraw_by_token(text)', 'EXECUTE'), 'withdraw_by_token not granted to PUBLIC');
SELECT ok(has_function_privilege('pgtap_consent_nobody', 'gdpr.may_process(regclass,anyelement,text)', 'EXECUTE'), 'may_process callable by view readers');

-- behaviour in a fresh database
CREATE TABLE pgtap_klant (id int PRIMARY KEY, email text);
INSERT INTO pgtap_klant VALUES (1, 'a@example.nl'), (2, 'b@example.nl'), (3, 'c@example.nl');
SELECT gdpr.define_purpose('pgtap_news', 'consent');
SECURITY LABEL FOR gdpr ON TABLE pgtap_klant IS 'SUBJECT KEY (id)';
SELECT throws_ok($$SELECT gdpr.grant_consent('pgtap_klant', 1, 'pgtap_news', 'pre_ticked')$$,
                 '22023', NULL, 'pre-ticked consent is refused');
SELECT ok(gdpr.grant_consent('pgtap_klant', 2, 'pgtap_news', 'checkbox') > 0, 'consent granted');
SELECT is(gdpr.create_purpose_view('pgtap_klant', 'pgtap_news')::text, 'pgtap_klant_pgtap_news', 'default view name');
SELECT results_eq('SELECT id FROM pgtap_klant_pgtap_news', ARRAY[2], 'view shows the consenting subject only');
SELECT throws_ok($$SELECT gdpr.withdraw_by_token('AAAA')$$, '22023', NULL, 'garbage token refused');
SELECT ok(gdpr.withdraw_by_token(gdpr.consent_token('pgtap_klant', 2, 'pgtap_news')), 'token withdraws');
SELECT is_empty('SELECT id FROM pgtap_klant_pgtap_news', 'view empty after the withdrawal');

SELECT * FROM finish();
ROLLBACK;
