-- pgTAP: the privilege map of EVERY object of gdpr_crm (docs/SECURITY.md).
--
-- PostgreSQL grants EXECUTE on a new function to PUBLIC.  Each object gdpr
-- exposes to PUBLIC must be listed in the allow-list below, with a reason;
-- anything else granted to PUBLIC, or to any role other than the owner,
-- fails this test.  So a new function that forgot its
-- `REVOKE ALL ... FROM PUBLIC` fails here until somebody decides:
--   * it exposes nothing personal (metadata, constants, a pure helper) ->
--     add it to the allow-list with the reason, or
--   * it changes state or can read personal data -> REVOKE it from PUBLIC.
-- Also checked: every SECURITY DEFINER function pins a safe search_path,
-- every object of schema gdpr belongs to the extension (DROP EXTENSION
-- removes it), nobody but the owner may CREATE in schema gdpr.
BEGIN;
SELECT plan(8);

CREATE TEMP TABLE allowed (object text, privilege text, reason text);
INSERT INTO allowed VALUES
  -- the schema itself: the API contract (section 11, Privileges)
  ('schema gdpr', 'USAGE', 'API: USAGE on schema gdpr is granted to PUBLIC'),
  -- views of metadata (no personal values)
  ('view gdpr.purposes', 'SELECT', 'purpose registry: names, bases, retention'),
  ('view gdpr.column_tags', 'SELECT', 'which columns are personal: catalog metadata'),
  ('view gdpr.table_labels', 'SELECT', 'table labels: catalog metadata'),
  ('view gdpr.subject_tables', 'SELECT', 'subject tables and keys: catalog metadata'),
  ('sequence gdpr.erase_seq', 'USAGE', 'erase run numbers; erase runs with the caller''s rights'),
  -- the consent checks that purpose views call as the reading role
  ('function gdpr.has_consent(regclass,anyelement,text)', 'EXECUTE', 'API: callable by whoever reads a purpose view (a consent yes/no per key)'),
  ('function gdpr.may_process(regclass,anyelement,text)', 'EXECUTE', 'API: callable by whoever reads a purpose view'),
  ('function gdpr._consent_expires(text,timestamp with time zone)', 'EXECUTE', 'expiry of a grant from purpose metadata'),
  ('function gdpr._consent_cache_builds()', 'EXECUTE', 'a per-backend counter of consent cache builds (tests); no data'),
  -- label parsing and label metadata
  ('function gdpr.categories()', 'EXECUTE', 'the fixed category taxonomy'),
  ('function gdpr._parse_label(regclass,integer,text)', 'EXECUTE', 'parses a label text; no data'),
  ('function gdpr._table_tags(regclass)', 'EXECUTE', 'parsed labels of a table: metadata'),
  ('function gdpr._table_label(regclass)', 'EXECUTE', 'parsed table label: metadata'),
  ('function gdpr._table_label_text(name,name,regclass,name)', 'EXECUTE', 'builds label text; pure'),
  ('function gdpr._current_table_label(regclass)', 'EXECUTE', 'current table label: metadata'),
  -- constants and pure helpers of requests and registers
  ('function gdpr._request_kinds()', 'EXECUTE', 'constant list'),
  ('function gdpr._iso_countries()', 'EXECUTE', 'constant list'),
  ('function gdpr._eea_countries()', 'EXECUTE', 'constant list'),
  ('function gdpr.in_eea(text)', 'EXECUTE', 'pure'),
  ('function gdpr._check_country(text)', 'EXECUTE', 'pure'),
  ('function gdpr._interval_text(interval)', 'EXECUTE', 'pure'),
  ('function gdpr._md_cell(text)', 'EXECUTE', 'pure: escapes a Markdown table cell'),
  ('function gdpr._relname(regclass)', 'EXECUTE', 'a relation''s qualified name: catalog metadata'),
  ('function gdpr._set_table_label(regclass,text)', 'EXECUTE', 'invoker''s rights: SECURITY LABEL checks table ownership itself'),
  ('function gdpr._rights()', 'EXECUTE', 'constant text of the data subject rights'),
  ('function gdpr._security_measures(text,text,interval)', 'EXECUTE', 'SECURITY DEFINER; returns fixed texts, reads only whether a purpose has views'),
  ('function gdpr._reg_edges()', 'EXECUTE', 'foreign-key graph: catalog metadata, caller''s rights'),
  ('function gdpr._reg_paths(integer)', 'EXECUTE', 'foreign-key paths: catalog metadata, caller''s rights'),
  ('function gdpr._reg_relation_subjects()', 'EXECUTE', 'relations per subject table: metadata, caller''s rights'),
  -- discovery helpers (pure functions over a value the caller already has)
  ('function gdpr._personal_name_pattern()', 'EXECUTE', 'constant regex'),
  ('function gdpr._detect_counts_accum(bigint[],text)', 'EXECUTE', 'pure aggregate step'),
  ('function gdpr._detect_counts(text)', 'EXECUTE', 'pure aggregate over the caller''s values'),
  ('function gdpr._detector_slots()', 'EXECUTE', 'constant list');

-- every object of schema gdpr, with its ACL (NULL = the kind's default)
CREATE TEMP VIEW gdpr_objects AS
SELECT CASE c.relkind WHEN 'S' THEN 'sequence ' WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view '
                      ELSE 'table ' END || c.oid::regclass::text AS object,
       c.relowner AS owner, coalesce(c.relacl, acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner)) AS acl,
       'pg_class'::regclass AS classid, c.oid AS objid
  FROM pg_class c
 WHERE c.relnamespace = 'gdpr'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
UNION ALL
SELECT 'function ' || p.oid::regprocedure::text, p.proowner,
       coalesce(p.proacl, acldefault('f', p.proowner)), 'pg_proc'::regclass, p.oid
  FROM pg_proc p WHERE p.pronamespace = 'gdpr'::regnamespace
UNION ALL
SELECT 'type ' || t.oid::regtype::text, t.typowner,
       coalesce(t.typacl, acldefault('T', t.typowner)), 'pg_type'::regclass, t.oid
  FROM pg_type t
 WHERE t.typnamespace = 'gdpr'::regnamespace AND t.typrelid = 0 AND t.typelem = 0
UNION ALL
SELECT 'schema gdpr', n.nspowner, coalesce(n.nspacl, acldefault('n', n.nspowner)),
       'pg_namespace'::regclass, n.oid
  FROM pg_namespace n WHERE n.nspname = 'gdpr';

-- 1. what PUBLIC may do is exactly the allow-list (USAGE on a type exposes no
--    data and is PostgreSQL's default for every type: not listed)
SELECT set_eq(
  $$SELECT o.object, a.privilege_type FROM gdpr_objects o, aclexplode(o.acl) a
     WHERE a.grantee = 0 AND NOT (o.classid = 'pg_type'::regclass AND a.privilege_type = 'USAGE')$$,
  $$SELECT object, privilege FROM allowed$$,
  'PUBLIC has exactly the privileges of the allow-list (a new object needs a decision: REVOKE it or allow it here)');

-- 2. no role but the owner and PUBLIC holds a privilege (the extension creates no roles)
SELECT is_empty(
  $$SELECT o.object, a.grantee::regrole::text, a.privilege_type FROM gdpr_objects o, aclexplode(o.acl) a
     WHERE a.grantee <> 0 AND a.grantee <> o.owner$$,
  'no gdpr object is granted to any role other than its owner and PUBLIC');

-- 3. nobody but the owner may create objects in schema gdpr
SELECT is_empty(
  $$SELECT a.grantee FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
     WHERE n.nspname = 'gdpr' AND a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner$$,
  'only the owner may CREATE in schema gdpr');

-- 4. every SECURITY DEFINER function pins search_path to pg_catalog first,
--    pg_temp last, and nothing a user can write to
SELECT is_empty(
  $$SELECT p.oid::regprocedure::text, p.proconfig FROM pg_proc p
     WHERE p.pronamespace = 'gdpr'::regnamespace AND p.prosecdef
       AND NOT EXISTS (
         SELECT 1 FROM unnest(p.proconfig) c
          WHERE c LIKE 'search_path=%'
            AND regexp_split_to_array(replace(substr(c, 13), ' ', ''), ',') IN
                (ARRAY['pg_catalog', 'pg_temp'], ARRAY['pg_catalog', 'gdpr', 'pg_temp']))$$,
  'every SECURITY DEFINER function has SET search_path = pg_catalog, pg_temp');

-- 5. the SECURITY DEFINER functions PUBLIC may run are few and listed
SELECT set_eq(
  $$SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'gdpr'::regnamespace AND p.prosecdef
       AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
  $$VALUES ('function gdpr._security_measures(text,text,interval)')$$,
  'PUBLIC can run no SECURITY DEFINER function but the listed one');

-- 6. the tables that hold personal data, secrets or history: no PUBLIC access at all
SELECT is_empty(
  $$SELECT o.object FROM gdpr_objects o, aclexplode(o.acl) a
     WHERE a.grantee = 0 AND o.object IN
       ('table gdpr.secret', 'table gdpr.audit_log', 'table gdpr.consent_event', 'view gdpr.consent_events',
        'view gdpr.consent_status', 'table gdpr.request', 'view gdpr.requests', 'table gdpr.breach',
        'view gdpr.breaches', 'table gdpr.processor', 'view gdpr.processors', 'table gdpr.retention_run',
        'view gdpr.retention_runs', 'table gdpr.purpose_grant', 'table gdpr.purpose_view_registry')$$,
  'secret, audit log, consent history, requests, breaches, processors, retention runs: nothing for PUBLIC');

-- 7. every object of schema gdpr belongs to the extension (so DROP EXTENSION removes it)
SELECT is_empty(
  $$SELECT o.object FROM gdpr_objects o
     WHERE o.object <> 'schema gdpr'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype = 'e'
                          AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'gdpr_crm'))
       AND NOT (o.classid = 'pg_type'::regclass)$$,
  'every object in schema gdpr is a member of the extension');

-- 8. the event triggers of gdpr run gdpr's own functions only
SELECT is_empty(
  $$SELECT e.evtname FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid
     WHERE e.evtname LIKE 'gdpr%' AND p.pronamespace <> 'gdpr'::regnamespace$$,
  'gdpr event triggers call functions of schema gdpr');

SELECT * FROM finish();
ROLLBACK;
