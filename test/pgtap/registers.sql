-- pgTAP: the register views' columns and types, and that none of the
-- registers, exports or reports is open to PUBLIC.
BEGIN;
SELECT plan(31);

SELECT has_view('gdpr', 'requests', 'view gdpr.requests exists');
SELECT columns_are('gdpr', 'requests',
    ARRAY['id', 'subject', 'subject_ref', 'kind', 'received_at', 'due_at', 'completed_at', 'overdue',
          'extended', 'extension_reason', 'completed_late', 'note']);
SELECT col_type_is('gdpr', 'requests', 'due_at', 'timestamp with time zone', 'requests.due_at is timestamp with time zone');
SELECT col_type_is('gdpr', 'requests', 'overdue', 'boolean', 'requests.overdue is boolean');

SELECT has_view('gdpr', 'processors', 'view gdpr.processors exists');
SELECT columns_are('gdpr', 'processors',
    ARRAY['name', 'country', 'agreement_signed', 'agreement_expires', 'purposes', 'contact',
          'agreement_valid', 'third_country', 'transfer_safeguard', 'registered_at', 'updated_at']);
SELECT col_type_is('gdpr', 'processors', 'agreement_valid', 'boolean', 'processors.agreement_valid is boolean');
SELECT col_type_is('gdpr', 'processors', 'purposes', 'text[]', 'processors.purposes is text[]');

SELECT has_view('gdpr', 'processing_register', 'view gdpr.processing_register exists');
SELECT columns_are('gdpr', 'processing_register',
    ARRAY['purpose', 'legal_basis', 'subject_categories', 'data_categories', 'recipients',
          'third_countries', 'retention', 'security_measures', 'description', 'relations']);
SELECT col_type_is('gdpr', 'processing_register', 'data_categories', 'text[]', 'processing_register.data_categories is text[]');

SELECT has_view('gdpr', 'breaches', 'view gdpr.breaches exists');
SELECT columns_are('gdpr', 'breaches',
    ARRAY['id', 'description', 'discovered_at', 'notify_by', 'notified_at', 'overdue', 'affected_subjects',
          'notified_late', 'relations', 'categories', 'reported_at', 'reported_by']);
SELECT col_type_is('gdpr', 'breaches', 'affected_subjects', 'bigint', 'breaches.affected_subjects is bigint');

SELECT function_returns('gdpr', 'export_subject', ARRAY['regclass', 'anyelement'], 'jsonb');
SELECT function_returns('gdpr', 'request', ARRAY['regclass', 'anyelement', 'text', 'timestamp with time zone'], 'bigint');
SELECT function_returns('gdpr', 'report_breach', ARRAY['text', 'timestamp with time zone', 'regclass[]', 'text[]'], 'bigint');
SELECT function_returns('gdpr', 'compliance_report', ARRAY[]::text[], 'setof record');

-- SECURITY DEFINER functions pin search_path
SELECT is(
    (SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
      WHERE p.pronamespace = 'gdpr'::regnamespace AND p.prosecdef
        AND p.oid::regprocedure::text ~ '(request|processor|breach|export|compliance)'
        AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
    NULL, 'every SECURITY DEFINER function of the registers pins search_path');

-- nothing for PUBLIC
SELECT ok(NOT has_table_privilege('public', t, 'SELECT'), t || ' not readable by PUBLIC')
  FROM unnest(ARRAY['gdpr.requests', 'gdpr.request', 'gdpr.processors', 'gdpr.processor',
                    'gdpr.processing_register', 'gdpr.breaches', 'gdpr.breach']) t;
SELECT ok(NOT has_function_privilege('public', f, 'EXECUTE'), f || ' not executable by PUBLIC')
  FROM unnest(ARRAY['gdpr.export_subject(regclass,anyelement)',
                    'gdpr.register_processor(text,text,date,date,text[],text,text)',
                    'gdpr.report_breach(text,timestamptz,regclass[],text[])',
                    'gdpr.compliance_report()',
                    'gdpr.processing_register_document(text,text)']) f;

SELECT * FROM finish();
ROLLBACK;
