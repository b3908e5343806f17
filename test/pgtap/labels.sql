-- pgTAP: catalog facts of the purpose registry and the gdpr label provider.
BEGIN;
SELECT plan(44);

-- functions with the contract's signatures
SELECT has_function('gdpr', 'define_purpose', ARRAY['text', 'text', 'interval', 'text', 'interval'], 'define_purpose(name, legal_basis, retention, description, consent_valid_for)');
SELECT function_returns('gdpr', 'define_purpose', ARRAY['text', 'text', 'interval', 'text', 'interval'], 'void', 'define_purpose returns void');
SELECT has_function('gdpr', 'drop_purpose', ARRAY['text'], 'drop_purpose(name)');
SELECT function_returns('gdpr', 'drop_purpose', ARRAY['text'], 'void', 'drop_purpose returns void');
SELECT has_function('gdpr', 'tag_column', ARRAY['regclass', 'name', 'text[]', 'text'], 'tag_column(rel, col, purposes, category)');
SELECT has_function('gdpr', 'untag_column', ARRAY['regclass', 'name'], 'untag_column(rel, col)');
SELECT has_function('gdpr', 'register_subject_table', ARRAY['regclass', 'name'], 'register_subject_table(rel, key_column)');
SELECT has_function('gdpr', 'set_retention_column', ARRAY['regclass', 'name'], 'set_retention_column(rel, col)');
SELECT is((SELECT array_agg(p.parameter_name::text ORDER BY p.ordinal_position)
             FROM information_schema.parameters p JOIN information_schema.routines r USING (specific_schema, specific_name)
            WHERE r.routine_schema = 'gdpr' AND r.routine_name = 'define_purpose'),
          ARRAY['name', 'legal_basis', 'retention', 'description', 'consent_valid_for'],
          'define_purpose argument names');
SELECT is((SELECT pronargdefaults FROM pg_proc WHERE oid = 'gdpr.define_purpose(text,text,interval,text,interval)'::regprocedure),
          3::smallint, 'define_purpose: retention, description, consent_valid_for have defaults');
SELECT is((SELECT pronargdefaults FROM pg_proc WHERE oid = 'gdpr.tag_column(regclass,name,text[],text)'::regprocedure),
          1::smallint, 'tag_column: category has a default');

-- views with the contract's columns
SELECT has_view('gdpr', 'purposes', 'view gdpr.purposes');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = 'gdpr.purposes'::regclass AND attnum BETWEEN 1 AND 5),
          ARRAY['name', 'legal_basis', 'retention', 'consent_valid_for', 'description'],
          'gdpr.purposes starts with the contract columns');
SELECT col_type_is('gdpr', 'purposes', 'retention', 'interval', 'purposes.retention is an interval');
SELECT has_view('gdpr', 'column_tags', 'view gdpr.column_tags');
SELECT columns_are('gdpr', 'column_tags', ARRAY['relation', 'column_name', 'purposes', 'category'], 'column_tags columns');
SELECT col_type_is('gdpr', 'column_tags', 'relation', 'regclass', 'column_tags.relation is regclass');
SELECT col_type_is('gdpr', 'column_tags', 'column_name', 'name', 'column_tags.column_name is name');
SELECT col_type_is('gdpr', 'column_tags', 'purposes', 'text[]', 'column_tags.purposes is text[]');
SELECT col_type_is('gdpr', 'column_tags', 'category', 'text', 'column_tags.category is text');
SELECT has_view('gdpr', 'subject_tables', 'view gdpr.subject_tables');
SELECT columns_are('gdpr', 'subject_tables', ARRAY['relation', 'key_column', 'retain_from'], 'subject_tables columns');
SELECT col_type_is('gdpr', 'subject_tables', 'relation', 'regclass', 'subject_tables.relation is regclass');
SELECT col_type_is('gdpr', 'subject_tables', 'key_column', 'name', 'subject_tables.key_column is name');
SELECT col_type_is('gdpr', 'subject_tables', 'retain_from', 'name', 'subject_tables.retain_from is name');

-- the registry table: config table, checked basis, cache trigger
SELECT has_table('gdpr', 'purpose', 'table gdpr.purpose');
SELECT col_is_pk('gdpr', 'purpose', 'name', 'purpose name is the primary key');
SELECT ok((SELECT 'gdpr.purpose'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'gdpr_crm'),
          'gdpr.purpose is an extension config table (pg_dump keeps its rows)');
SELECT has_trigger('gdpr', 'purpose', 'purpose_relcache_inval', 'purpose changes invalidate the per-backend caches');
SELECT throws_ok($$INSERT INTO gdpr.purpose (name, legal_basis) VALUES ('pgtap_x', 'whim')$$,
                 '23514', NULL, 'the table itself refuses an unknown legal basis');

-- privileges: state-changing functions are not executable by PUBLIC
CREATE FUNCTION pg_temp.public_can_execute(f regprocedure) RETURNS boolean LANGUAGE sql AS $$
    SELECT p.proacl IS NULL
        OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
      FROM pg_proc p WHERE p.oid = f
$$;
SELECT ok(NOT pg_temp.public_can_execute('gdpr.define_purpose(text,text,interval,text,interval)'), 'define_purpose not executable by PUBLIC');
SELECT ok(NOT pg_temp.public_can_execute('gdpr.drop_purpose(text)'), 'drop_purpose not executable by PUBLIC');
SELECT ok(NOT pg_temp.public_can_execute('gdpr.tag_column(regclass,name,text[],text)'), 'tag_column not executable by PUBLIC');
SELECT ok(NOT pg_temp.public_can_execute('gdpr.untag_column(regclass,name)'), 'untag_column not executable by PUBLIC');
SELECT ok(NOT pg_temp.public_can_execute('gdpr.register_subject_table(regclass,name)'), 'register_subject_table not executable by PUBLIC');
SELECT ok(NOT pg_temp.public_can_execute('gdpr.set_retention_column(regclass,name)'), 'set_retention_column not executable by PUBLIC');
SELECT ok(NOT pg_temp.public_can_execute('gdpr._purpose_audit(text,jsonb)'), '_purpose_audit not executable by PUBLIC');
SELECT ok(NOT has_table_privilege('public', 'gdpr.purpose', 'INSERT'), 'PUBLIC cannot write gdpr.purpose');
SELECT ok(has_table_privilege('public', 'gdpr.column_tags', 'SELECT'), 'PUBLIC may read gdpr.column_tags (metadata, no personal data)');

-- SECURITY DEFINER functions pin search_path; the label wrappers run as the caller
SELECT ok((SELECT bool_and(prosecdef AND proconfig @> ARRAY['search_path=pg_catalog, pg_temp'])
             FROM pg_proc WHERE oid IN ('gdpr.define_purpose(text,text,interval,text,interval)'::regprocedure,
                                        'gdpr.drop_purpose(text)'::regprocedure)),
          'define_purpose and drop_purpose are SECURITY DEFINER with a pinned search_path');
SELECT ok((SELECT NOT bool_or(prosecdef) FROM pg_proc
            WHERE oid IN ('gdpr.tag_column(regclass,name,text[],text)'::regprocedure,
                          'gdpr.untag_column(regclass,name)'::regprocedure,
                          'gdpr.register_subject_table(regclass,name)'::regprocedure,
                          'gdpr.set_retention_column(regclass,name)'::regprocedure)),
          'label wrappers are SECURITY INVOKER (SECURITY LABEL checks ownership of the caller)');

-- the provider is registered and validates
CREATE TABLE pg_temp.pgtap_t (id int PRIMARY KEY, email text);
SELECT lives_ok($$SELECT gdpr.define_purpose('pgtap_p', 'contract')$$, 'define a purpose');
SELECT lives_ok($$SECURITY LABEL FOR gdpr ON COLUMN pg_temp.pgtap_t.email IS 'PURPOSE pgtap_p CATEGORY contact.email'$$,
                'the gdpr label provider accepts a valid label');
SELECT throws_ok($$SECURITY LABEL FOR gdpr ON COLUMN pg_temp.pgtap_t.email IS 'PURPOSE nope'$$,
                 '42704', 'purpose "nope" does not exist', 'and refuses an unknown purpose');

SELECT * FROM finish();
ROLLBACK;
