-- pgTAP: the audit log's objects and privileges.
BEGIN;
SELECT plan(22);

SELECT has_table('gdpr', 'audit_log', 'gdpr.audit_log exists');
SELECT has_table('gdpr', 'secret', 'gdpr.secret exists');
SELECT columns_are('gdpr', 'audit_log',
    ARRAY['id', 'at', 'actor', 'action', 'subject_ref', 'relation', 'details', 'prev_hash', 'hash', 'relation_name'],
    'audit_log has the API columns (plus relation_name)');
SELECT col_type_is('gdpr', 'audit_log', 'relation', 'regclass', 'relation is a regclass');
SELECT col_is_pk('gdpr', 'audit_log', 'id', 'id is the primary key');
SELECT has_trigger('gdpr', 'audit_log', 'audit_log_append_only', 'UPDATE/DELETE refusal trigger exists');
SELECT has_trigger('gdpr', 'audit_log', 'audit_log_no_truncate', 'TRUNCATE refusal trigger exists');
SELECT has_trigger('gdpr', 'secret', 'secret_replace', 'restored secret replaces the fresh one');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'gdpr.audit_log'::regclass AND tgenabled = 'D'),
          0, 'no audit_log trigger is disabled');

-- registered for pg_dump
SELECT ok((SELECT 'gdpr.audit_log'::regclass::oid = ANY (extconfig) AND 'gdpr.secret'::regclass::oid = ANY (extconfig)
             FROM pg_extension WHERE extname = 'gdpr_crm'),
          'audit_log and secret are extension config tables');

-- the secret is there and random-sized right
SELECT is((SELECT length(secret) FROM gdpr.secret), 32, 'the secret has 32 bytes');

-- an ordinary role can read neither the secret nor the log
CREATE ROLE pgtap_audit_nobody;
SELECT ok(NOT has_table_privilege('pgtap_audit_nobody', 'gdpr.secret', 'SELECT'), 'secret not readable by an ordinary role');
SELECT ok(NOT has_table_privilege('pgtap_audit_nobody', 'gdpr.audit_log', 'SELECT'), 'audit_log not readable by an ordinary role');
SELECT ok(NOT has_table_privilege('pgtap_audit_nobody', 'gdpr.audit_log', 'INSERT'), 'audit_log not writable by an ordinary role');
SELECT ok(NOT has_function_privilege('pgtap_audit_nobody', 'gdpr._audit(text, text, regclass, jsonb)', 'EXECUTE'), '_audit not executable by PUBLIC');
SELECT ok(NOT has_function_privilege('pgtap_audit_nobody', 'gdpr.verify_audit(bigint, bytea)', 'EXECUTE'), 'verify_audit not executable by PUBLIC');
SELECT ok(NOT has_function_privilege('pgtap_audit_nobody', 'gdpr.subject_ref(regclass, anyelement)', 'EXECUTE'), 'subject_ref not executable by PUBLIC');
SET LOCAL ROLE pgtap_audit_nobody;
SELECT throws_ok('SELECT * FROM gdpr.secret', '42501', NULL, 'reading the secret is refused');
SELECT throws_ok('SELECT * FROM gdpr.audit_log', '42501', NULL, 'reading the audit log is refused');
RESET ROLE;

-- refusals carry SQLSTATE 42501, for the owner too
SELECT throws_ok('UPDATE gdpr.audit_log SET action = action', '42501',
    'gdpr.audit_log is append-only: UPDATE is not allowed', 'UPDATE refused');
SELECT throws_ok('DELETE FROM gdpr.audit_log', '42501',
    'gdpr.audit_log is append-only: DELETE is not allowed', 'DELETE refused');
SELECT throws_ok('TRUNCATE gdpr.audit_log', '42501',
    'gdpr.audit_log is append-only: TRUNCATE is not allowed', 'TRUNCATE refused');

SELECT * FROM finish();
ROLLBACK;
