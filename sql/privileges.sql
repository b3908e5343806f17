-- Privileges (issue 8, docs/SECURITY.md): what an application role that was
-- granted only a purpose's views, an unsubscribe endpoint role with only
-- EXECUTE on withdraw_by_token, and a role that owns nothing can and cannot
-- do; and search_path / pg_temp attacks against the code of gdpr.
-- test/pgtap/privileges.sql checks the privilege map of every object.
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE SCHEMA priv_shop;
CREATE TABLE priv_shop.klant (id int PRIMARY KEY, naam text, email text, land text);
INSERT INTO priv_shop.klant VALUES (1, 'Ann', 'ann@example.org', 'NL'),
                                   (2, 'Bob', 'bob@example.org', 'BE');
SELECT gdpr.define_purpose('priv_news', 'consent', NULL, NULL, '1 year');
SELECT gdpr.define_purpose('priv_ship', 'contract');
SELECT gdpr.register_subject_table('priv_shop.klant', 'id');
SELECT gdpr.tag_column('priv_shop.klant', 'naam', ARRAY['priv_ship'], 'name');
SELECT gdpr.tag_column('priv_shop.klant', 'email', ARRAY['priv_news'], 'contact.email');
SELECT gdpr.grant_consent('priv_shop.klant', 1, 'priv_news', 'checkbox') IS NOT NULL AS granted;
SELECT gdpr.create_purpose_view('priv_shop.klant', 'priv_news')::text AS view;

DROP ROLE IF EXISTS gdpr_priv_app;
DROP ROLE IF EXISTS gdpr_priv_unsub;
DROP ROLE IF EXISTS gdpr_priv_other;
CREATE ROLE gdpr_priv_app;
CREATE ROLE gdpr_priv_unsub;
CREATE ROLE gdpr_priv_other;
SELECT gdpr.grant_purpose('gdpr_priv_app', 'priv_news');
GRANT EXECUTE ON FUNCTION gdpr.withdraw_by_token(text) TO gdpr_priv_unsub;
SELECT gdpr.consent_token('priv_shop.klant', 1, 'priv_news') AS tok \gset

-- ---------------------------------------------------------------------
-- 1. the application role reads its purpose view, and nothing else
-- ---------------------------------------------------------------------
SET ROLE gdpr_priv_app;
SELECT * FROM priv_shop.klant_priv_news ORDER BY id;
SELECT * FROM priv_shop.klant;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.secret;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.audit_log;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.consent_event;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.consent_events;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.consent_status;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.requests;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.breaches;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.retention_runs;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.verify_audit();
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.audit_head();
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.subject_ref('priv_shop.klant', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.export_subject('priv_shop.klant', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.export_subject('priv_shop.klant', '1'::text);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr._export_subject('priv_shop.klant', '1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.erase('priv_shop.klant', 1, NULL, true);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr._subject_reach('priv_shop.klant', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.expire(true);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.consent_token('priv_shop.klant', 1, 'priv_news');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.grant_consent('priv_shop.klant', 2, 'priv_news', 'checkbox');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.withdraw_consent('priv_shop.klant', 1, 'priv_news');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.discover(10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.compliance_report();
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.processing_register_document();
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.estimate_affected_subjects(ARRAY['priv_shop.klant'::regclass]);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.request('priv_shop.klant', 1, 'access');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.create_purpose_view('priv_shop.klant', 'priv_ship');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.grant_purpose('gdpr_priv_app', 'priv_ship');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.define_purpose('priv_news', 'contract');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('priv_shop.klant', 'email', ARRAY['priv_ship']);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr._audit('erase', NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
-- the purpose view cannot be used to reach the other columns or rows
SELECT * FROM priv_shop.klant_priv_news WHERE id = 2;
SELECT naam FROM priv_shop.klant_priv_news;
\echo :LAST_ERROR_SQLSTATE
-- what the public helpers tell: metadata, never a value from the table
SELECT column_name, purposes, category FROM gdpr.column_tags
 WHERE relation = 'priv_shop.klant'::regclass ORDER BY 1;
SELECT gdpr.has_consent('priv_shop.klant', 1, 'priv_news') AS ann,
       gdpr.has_consent('priv_shop.klant', 2, 'priv_news') AS bob;
RESET ROLE;

-- ---------------------------------------------------------------------
-- 2. a non-owner cannot label (or unlabel) a table, even with EXECUTE on
--    the wrappers; the owner can
-- ---------------------------------------------------------------------
CREATE TABLE priv_shop.other (id int PRIMARY KEY, notitie text);
ALTER TABLE priv_shop.other OWNER TO gdpr_priv_other;
GRANT USAGE ON SCHEMA priv_shop TO gdpr_priv_other;
GRANT EXECUTE ON FUNCTION gdpr.tag_column(regclass, name, text[], text),
                          gdpr.untag_column(regclass, name),
                          gdpr.register_subject_table(regclass, name)
   TO gdpr_priv_app, gdpr_priv_other;
SET ROLE gdpr_priv_app;
SECURITY LABEL FOR gdpr ON COLUMN priv_shop.other.notitie IS 'PURPOSE priv_ship';
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('priv_shop.other', 'notitie', ARRAY['priv_ship']);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.register_subject_table('priv_shop.other', 'id');
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN priv_shop.klant.email IS NULL;
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.untag_column('priv_shop.klant', 'email');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE gdpr_priv_other;
SELECT gdpr.tag_column('priv_shop.other', 'notitie', ARRAY['priv_ship'], 'other');
RESET ROLE;
SELECT relation, column_name, purposes FROM gdpr.column_tags
 WHERE relation::text LIKE 'priv_shop.%' ORDER BY 1, 2;

-- ---------------------------------------------------------------------
-- 3. the unsubscribe endpoint: withdraw_by_token and nothing else
-- ---------------------------------------------------------------------
SET ROLE gdpr_priv_unsub;
SELECT gdpr.withdraw_by_token(:'tok') AS withdrawn;
SELECT gdpr.withdraw_by_token(:'tok') AS withdrawn_again;
SELECT gdpr.withdraw_by_token('AQAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM priv_shop.klant_priv_news;
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.consent_token('priv_shop.klant', 2, 'priv_news');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.consent_events;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT subject_key, action, source FROM gdpr.consent_events
 WHERE subject = 'priv_shop.klant'::regclass ORDER BY id;

-- ---------------------------------------------------------------------
-- 4. search_path and pg_temp attacks.  Schema priv_evil holds look-alikes
--    of the functions and operators that SQL code commonly calls (with the
--    exact argument types, so they win over pg_catalog when placed before
--    it) and pg_temp holds relations named like gdpr's tables.  Every
--    look-alike records that it was called.  Then the DBA runs the whole
--    gdpr API with priv_evil first on the search_path.  Nothing of gdpr may
--    call a look-alike or read a pg_temp relation.
-- ---------------------------------------------------------------------
CREATE SCHEMA priv_evil;
CREATE TABLE priv_evil.hits (what text);
GRANT USAGE ON SCHEMA priv_evil TO PUBLIC;
GRANT INSERT, SELECT ON priv_evil.hits TO PUBLIC;
CREATE FUNCTION priv_evil.hit(what text) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO priv_evil.hits VALUES (what) RETURNING true $$;
CREATE FUNCTION priv_evil.format(text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('format(text)') THEN pg_catalog.format($1) END $$;
CREATE FUNCTION priv_evil.quote_ident(text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('quote_ident') THEN pg_catalog.quote_ident($1) END $$;
CREATE FUNCTION priv_evil.quote_literal(text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('quote_literal') THEN pg_catalog.quote_literal($1) END $$;
CREATE FUNCTION priv_evil.quote_nullable(text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('quote_nullable') THEN pg_catalog.quote_nullable($1) END $$;
CREATE FUNCTION priv_evil.lower(text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('lower') THEN pg_catalog.lower($1) END $$;
CREATE FUNCTION priv_evil.upper(text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('upper') THEN pg_catalog.upper($1) END $$;
CREATE FUNCTION priv_evil.length(text) RETURNS int LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('length') THEN pg_catalog.length($1) END $$;
CREATE FUNCTION priv_evil.now() RETURNS timestamptz LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('now') THEN pg_catalog.now() END $$;
CREATE FUNCTION priv_evil.current_setting(text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('current_setting') THEN pg_catalog.current_setting($1) END $$;
CREATE FUNCTION priv_evil.array_to_string(anyarray, text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('array_to_string') THEN pg_catalog.array_to_string($1, $2) END $$;
CREATE FUNCTION priv_evil.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('to_jsonb') THEN pg_catalog.to_jsonb($1) END $$;
CREATE FUNCTION priv_evil.encode(bytea, text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('encode') THEN pg_catalog.encode($1, $2) END $$;
CREATE FUNCTION priv_evil.digest(bytea, text) RETURNS bytea LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('digest') THEN public.digest($1, $2) END $$;
CREATE FUNCTION priv_evil.hmac(bytea, bytea, text) RETURNS bytea LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('hmac') THEN public.hmac($1, $2, $3) END $$;
CREATE FUNCTION priv_evil.gen_random_bytes(int) RETURNS bytea LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('gen_random_bytes') THEN public.gen_random_bytes($1) END $$;
CREATE FUNCTION priv_evil.text_eq(text, text) RETURNS boolean LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('=(text,text)') THEN pg_catalog.texteq($1, $2) END $$;
CREATE OPERATOR priv_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = priv_evil.text_eq);
CREATE FUNCTION priv_evil.int8_eq(bigint, bigint) RETURNS boolean LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('=(bigint,bigint)') THEN pg_catalog.int8eq($1, $2) END $$;
CREATE OPERATOR priv_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = priv_evil.int8_eq);
CREATE FUNCTION priv_evil.oid_eq(oid, oid) RETURNS boolean LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('=(oid,oid)') THEN pg_catalog.oideq($1, $2) END $$;
CREATE OPERATOR priv_evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = priv_evil.oid_eq);
CREATE FUNCTION priv_evil.text_cat(text, text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN priv_evil.hit('||(text,text)') THEN pg_catalog.textcat($1, $2) END $$;
CREATE OPERATOR priv_evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = priv_evil.text_cat);
-- relations named like gdpr's own, in pg_temp (searched first for relations)
CREATE TEMP VIEW purpose AS SELECT * FROM gdpr.purpose WHERE priv_evil.hit('pg_temp.purpose');
CREATE TEMP VIEW purposes AS SELECT * FROM gdpr.purposes WHERE priv_evil.hit('pg_temp.purposes');
CREATE TEMP VIEW secret AS SELECT * FROM gdpr.secret WHERE priv_evil.hit('pg_temp.secret');
CREATE TEMP VIEW audit_log AS SELECT * FROM gdpr.audit_log WHERE priv_evil.hit('pg_temp.audit_log');
CREATE TEMP VIEW consent_event AS SELECT * FROM gdpr.consent_event WHERE priv_evil.hit('pg_temp.consent_event');
CREATE TEMP VIEW purpose_view_registry AS SELECT * FROM gdpr.purpose_view_registry WHERE priv_evil.hit('pg_temp.purpose_view_registry');
CREATE TEMP VIEW purpose_grant AS SELECT * FROM gdpr.purpose_grant WHERE priv_evil.hit('pg_temp.purpose_grant');
CREATE TEMP VIEW request AS SELECT * FROM gdpr.request WHERE priv_evil.hit('pg_temp.request');
CREATE TEMP VIEW processor AS SELECT * FROM gdpr.processor WHERE priv_evil.hit('pg_temp.processor');
CREATE TEMP VIEW breach AS SELECT * FROM gdpr.breach WHERE priv_evil.hit('pg_temp.breach');
CREATE TEMP VIEW retention_run AS SELECT * FROM gdpr.retention_run WHERE priv_evil.hit('pg_temp.retention_run');
CREATE TEMP VIEW column_tags AS SELECT * FROM gdpr.column_tags WHERE priv_evil.hit('pg_temp.column_tags');
CREATE TEMP VIEW subject_tables AS SELECT * FROM gdpr.subject_tables WHERE priv_evil.hit('pg_temp.subject_tables');
CREATE TEMP VIEW klant AS SELECT * FROM priv_shop.klant WHERE priv_evil.hit('pg_temp.klant');
-- the look-alikes work, and win, when called unqualified from this path
SET search_path = priv_evil, pg_catalog, public, priv_shop;
SELECT lower('X') = 'x' AS lookalike_works;
SELECT what FROM priv_evil.hits ORDER BY 1;
TRUNCATE priv_evil.hits;

-- the DBA works with this search_path: the SECURITY DEFINER functions and
-- the functions that pin their search_path must not touch a look-alike
SELECT gdpr.define_purpose('priv_evil_p', 'consent', '1 year', 'x', '1 year');
SELECT gdpr.tag_column('priv_shop.klant', 'land', ARRAY['priv_evil_p'], 'location');
SELECT gdpr.grant_consent('priv_shop.klant', 2, 'priv_evil_p', 'checkbox') IS NOT NULL AS granted;
SELECT gdpr.withdraw_by_token(gdpr.consent_token('priv_shop.klant', 2, 'priv_evil_p')) AS withdrawn;
SELECT gdpr.grant_consent('priv_shop.klant', 2, 'priv_evil_p', 'checkbox') IS NOT NULL AS granted;
SELECT gdpr.withdraw_consent('priv_shop.klant', 2, 'priv_evil_p') AS withdrawn;
SELECT gdpr.complete_request(gdpr.request('priv_shop.klant', 2, 'access'), 'done');
SELECT gdpr.export_subject('priv_shop.klant', 2) ? 'data' AS exported;
SELECT gdpr.register_processor('priv_evil_proc', 'NL', '2024-01-01', NULL, ARRAY['priv_evil_p']);
SELECT gdpr.notify_breach(gdpr.report_breach('priv evil breach', '2024-01-01', ARRAY['priv_shop.klant'::regclass]));
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 AS report FROM gdpr.compliance_report();
SELECT gdpr.drop_processor('priv_evil_proc');
SELECT what AS "SECURITY DEFINER / pinned code that used a look-alike" FROM priv_evil.hits ORDER BY 1;
TRUNCATE priv_evil.hits;
SELECT relation::text, action, rows FROM gdpr.erase('priv_shop.klant', 2, 'evil path', true) ORDER BY 1, 2;
SELECT what AS "erase (dry run) used a look-alike" FROM priv_evil.hits ORDER BY 1;
TRUNCATE priv_evil.hits;
-- purpose views, expire and discover pin their search_path as well
SELECT gdpr.create_purpose_view('priv_shop.klant', 'priv_evil_p', 'priv_shop.klant_evil') IS NOT NULL AS view_made;
SELECT gdpr.grant_purpose('gdpr_priv_app', 'priv_evil_p');
SELECT gdpr.revoke_purpose('gdpr_priv_app', 'priv_evil_p');
SELECT gdpr.drop_purpose_view('priv_shop.klant_evil');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS expire_ran FROM gdpr.expire(true);
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS discover_ran FROM gdpr.discover(10);
SELECT what AS "purpose views, expire, discover used a look-alike" FROM priv_evil.hits ORDER BY 1;
TRUNCATE priv_evil.hits;

-- the unsubscribe role with its own hostile search_path
RESET search_path;
SELECT gdpr.grant_consent('priv_shop.klant', 1, 'priv_news', 'checkbox') IS NOT NULL AS granted;
SELECT gdpr.consent_token('priv_shop.klant', 1, 'priv_news') AS tok2 \gset
SET ROLE gdpr_priv_unsub;
SET search_path = priv_evil, pg_catalog, public;
SELECT gdpr.withdraw_by_token(:'tok2') AS withdrawn;
RESET ROLE;
SELECT what AS "withdraw_by_token used a look-alike" FROM priv_evil.hits ORDER BY 1;
RESET search_path;

-- clean up
SELECT gdpr.revoke_purpose('gdpr_priv_app', 'priv_news');
SELECT gdpr.drop_purpose_view(view) FROM gdpr.purpose_views WHERE relation = 'priv_shop.klant'::regclass;
DELETE FROM gdpr.request WHERE subject = 'priv_shop.klant'::regclass;
DELETE FROM gdpr.breach WHERE description = 'priv evil breach';
DROP SCHEMA priv_shop CASCADE;
DROP SCHEMA priv_evil CASCADE;
DISCARD TEMP;
SELECT gdpr.drop_purpose('priv_evil_p');
SELECT gdpr.drop_purpose('priv_news');
SELECT gdpr.drop_purpose('priv_ship');
REVOKE ALL ON FUNCTION gdpr.withdraw_by_token(text) FROM gdpr_priv_unsub;
REVOKE ALL ON FUNCTION gdpr.tag_column(regclass, name, text[], text),
                       gdpr.untag_column(regclass, name),
                       gdpr.register_subject_table(regclass, name)
  FROM gdpr_priv_app, gdpr_priv_other;
DROP ROLE gdpr_priv_app;
DROP ROLE gdpr_priv_unsub;
DROP ROLE gdpr_priv_other;
SELECT ok FROM gdpr.verify_audit();
