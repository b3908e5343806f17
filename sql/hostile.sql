-- Hostile identifiers and values through every gdpr function that takes a
-- name or a key: quotes, semicolons, backslashes, unicode, names longer than
-- 63 bytes, NULLs, SQL fragments.  Nothing may execute (the sentinel table
-- h_sentinel.x that every payload tries to drop survives, and no statement
-- takes seconds), nothing may crash, and every refusal is an error with an
-- SQLSTATE that names the problem.  After each statement that must fail,
-- the SQLSTATE is echoed.
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET client_min_messages = warning;
SET statement_timeout = '20s';

CREATE SCHEMA h_sentinel;
CREATE TABLE h_sentinel.x (v int);
INSERT INTO h_sentinel.x VALUES (1);
-- a payload that reaches SQL unquoted would find the sentinel first
SET search_path = h_sentinel, public;

-- a schema, table and columns whose names are SQL
CREATE SCHEMA "h'ostile; drop table x; --";
CREATE TABLE "h'ostile; drop table x; --"."a""b; drop table x; --" (
    "id"""         int PRIMARY KEY,
    "naam'); drop table x; --" text,
    "e\mail"       text,
    "ünï ©ødé 名前"  text,
    "Mixed Case"   text,
    "op$"          timestamptz DEFAULT '2024-05-01 12:00+00'
);
CREATE TABLE "h'ostile; drop table x; --"."order ""lines""" (
    id int PRIMARY KEY,
    "klant"";--" int REFERENCES "h'ostile; drop table x; --"."a""b; drop table x; --",
    item text
);
INSERT INTO "h'ostile; drop table x; --"."a""b; drop table x; --"
  VALUES (1, 'Robert''); DROP TABLE x; --', 'bobby@example.org', 'ボビー', 'x'),
         (2, E'back\\slash', 'two@example.org', 'ü', 'y'),
         (-3, '$$; drop table x; $$', 'three@example.org', NULL, NULL);
INSERT INTO "h'ostile; drop table x; --"."order ""lines""" VALUES (10, 1, 'a'), (11, 2, 'b');

-- purposes: quotes, semicolons, unicode and an over-long name
SELECT gdpr.define_purpose(E'p''; drop table x; --', 'consent', '1 year', E'desc \\'' ; drop table x', '1 year');
SELECT gdpr.define_purpose('ünïcode_zweck', 'contract');
SELECT gdpr.define_purpose('h_contract', 'contract');
SELECT name, legal_basis FROM gdpr.purposes
 WHERE name IN (E'p''; drop table x; --', 'ünïcode_zweck', 'h_contract') ORDER BY name;
SELECT gdpr.define_purpose(repeat('x', 200), 'contract');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.define_purpose('', 'contract');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.define_purpose(NULL, 'contract');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.define_purpose('h_bad', E'consent''; drop table x; --');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.define_purpose('h_bad', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.drop_purpose(E'nope''; drop table x; --');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.drop_purpose(NULL);
\echo :LAST_ERROR_SQLSTATE

-- tags through the wrappers on the hostile names
SELECT gdpr.register_subject_table('"h''ostile; drop table x; --"."a""b; drop table x; --"', 'id"');
SELECT gdpr.set_retention_column('"h''ostile; drop table x; --"."a""b; drop table x; --"', 'op$');
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"',
                       'naam''); drop table x; --', ARRAY[E'p''; drop table x; --', 'ünïcode_zweck'], 'name');
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"',
                       'e\mail', ARRAY[E'p''; drop table x; --'], 'contact.email');
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"',
                       'ünï ©ødé 名前', ARRAY['h_contract'], 'name');
SELECT relation, column_name, purposes, category FROM gdpr.column_tags
 WHERE relation::text LIKE '%h''ostile%' ORDER BY 2;
SELECT relation, key_column, retain_from FROM gdpr.subject_tables
 WHERE relation::text LIKE '%h''ostile%';
-- the label the wrappers wrote is valid label syntax with the names quoted
SELECT provider, label FROM pg_seclabel
 WHERE objoid = '"h''ostile; drop table x; --"."a""b; drop table x; --"'::regclass
 ORDER BY objsubid;
-- bad names: each one an error that names what is wrong
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"',
                       'naam); drop table x; --', ARRAY['h_contract']);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"',
                       'Mixed Case', ARRAY[E'h_contract''; drop table x; --']);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"',
                       'Mixed Case', ARRAY['h_contract'], E'name; drop table x');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"',
                       'Mixed Case', ARRAY[NULL]::text[]);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"',
                       'Mixed Case', ARRAY[]::text[]);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"',
                       'Mixed Case', ARRAY[repeat('ü', 100)]);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column(NULL, 'Mixed Case', ARRAY['h_contract']);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"', NULL, ARRAY['h_contract']);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.tag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"', 'Mixed Case', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.register_subject_table('"h''ostile; drop table x; --"."a""b; drop table x; --"', 'id); drop table x; --');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.untag_column('"h''ostile; drop table x; --"."a""b; drop table x; --"', E'no\\such');
\echo :LAST_ERROR_SQLSTATE
-- names longer than NAMEDATALEN - 1 (63 bytes) are cut like PostgreSQL cuts
-- them, on a character boundary; a multibyte character is never split
CREATE TABLE "h'ostile; drop table x; --".long_names (
    id int PRIMARY KEY,
    "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé" text);
SELECT gdpr.register_subject_table('"h''ostile; drop table x; --".long_names', 'id');
SELECT gdpr.tag_column('"h''ostile; drop table x; --".long_names',
                       repeat('é', 40), ARRAY['h_contract'], 'name');
SELECT column_name, octet_length(column_name::text) AS bytes FROM gdpr.column_tags
 WHERE relation = '"h''ostile; drop table x; --".long_names'::regclass;
SECURITY LABEL FOR gdpr ON COLUMN "h'ostile; drop table x; --".long_names."ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé"
    IS 'PURPOSE h_contract, ééééééééééééééééééééééééééééééééééééééééééééééééé';
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.untag_table('"h''ostile; drop table x; --".long_names');
SELECT gdpr.register_subject_table(NULL, 'id');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.register_subject_table('"h''ostile; drop table x; --".long_names', NULL);
\echo :LAST_ERROR_SQLSTATE

-- raw labels with SQL in them
SECURITY LABEL FOR gdpr ON COLUMN "h'ostile; drop table x; --"."a""b; drop table x; --"."Mixed Case"
    IS 'PURPOSE h_contract; DROP TABLE x; --';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN "h'ostile; drop table x; --"."a""b; drop table x; --"."Mixed Case"
    IS E'PURPOSE h_contract\\'' CATEGORY name';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN "h'ostile; drop table x; --"."a""b; drop table x; --"."Mixed Case"
    IS 'PURPOSE "h_contract"" CATEGORY name';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE "h'ostile; drop table x; --"."order ""lines"""
    IS 'BELONGS TO "h''ostile; drop table x; --"."a""b; drop table x; --" ("klant"";--")';

-- consent with hostile keys and values
SELECT gdpr.grant_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1,
                          E'p''; drop table x; --', 'checkbox', E'src''; drop table x; --',
                          '{"ip": "1.2.3.4\"; drop table x; --"}', E'v1\\''') IS NOT NULL AS granted;
SELECT gdpr.grant_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', '-3'::text,
                          E'p''; drop table x; --', 'double_opt_in') IS NOT NULL AS granted;
SELECT gdpr.has_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1, E'p''; drop table x; --'),
       gdpr.has_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', -3, E'p''; drop table x; --'),
       gdpr.has_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', 2, E'p''; drop table x; --'),
       gdpr.has_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', NULL::int, E'p''; drop table x; --'),
       gdpr.may_process('"h''ostile; drop table x; --"."a""b; drop table x; --"', 2, 'h_contract');
SELECT gdpr.grant_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', '1; drop table x; --'::text,
                          E'p''; drop table x; --', 'checkbox');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.grant_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1,
                          E'p''; drop table x; --', E'checkbox''; drop table x; --');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.grant_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1,
                          E'nope''; drop table x; --', 'checkbox');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.grant_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', NULL::int,
                          E'p''; drop table x; --', 'checkbox');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.has_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.consent_token('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1, E'p''; drop table x; --')
       ~ '^[A-Za-z0-9_-]+$' AS token_is_url_safe;
-- forged, mangled and hostile tokens: invalid_parameter_value, nothing changes
SELECT gdpr.withdraw_by_token(E'\'; drop table x; --');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.withdraw_by_token('');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.withdraw_by_token(repeat('A', 100000));
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.withdraw_by_token(repeat('A', 55));
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.withdraw_by_token('ÄÖÜ名前');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.withdraw_by_token(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.withdraw_by_token(overlay(t placing (CASE substr(t, 20, 1) WHEN 'A' THEN 'B' ELSE 'A' END) from 20 for 1))
  FROM (SELECT gdpr.consent_token('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1, E'p''; drop table x; --') AS t) s;
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.has_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1, E'p''; drop table x; --') AS still_consented;
-- the real token still works
SELECT gdpr.withdraw_by_token(gdpr.consent_token('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1, E'p''; drop table x; --'));
SELECT gdpr.withdraw_consent('"h''ostile; drop table x; --"."a""b; drop table x; --"', -3, E'p''; drop table x; --', E'\\x00''');

-- purpose views with hostile names
SELECT gdpr.create_purpose_view('"h''ostile; drop table x; --"."a""b; drop table x; --"', E'p''; drop table x; --')::text
       AS default_view_name;
SELECT gdpr.create_purpose_view('"h''ostile; drop table x; --"."a""b; drop table x; --"', 'h_contract',
                                E'"h''ostile; drop table x; --"."v""; drop table x; --"')::text AS given_view_name;
SELECT * FROM "h'ostile; drop table x; --"."v""; drop table x; --" ORDER BY 1;
SELECT gdpr.create_purpose_view('"h''ostile; drop table x; --"."a""b; drop table x; --"', 'h_contract',
                                'v; drop table x; --');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.create_purpose_view('"h''ostile; drop table x; --"."a""b; drop table x; --"', E'nope''; drop table x');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.grant_purpose(E'nobody''; drop table x; --', 'h_contract');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.grant_purpose(NULL, 'h_contract');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.revoke_purpose(E'nobody"; drop table x; --', 'h_contract');
\echo :LAST_ERROR_SQLSTATE

-- subject references, requests, export, erase with hostile keys
SELECT gdpr.subject_ref('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1)
     = gdpr.subject_ref('"h''ostile; drop table x; --"."a""b; drop table x; --"', '1'::text) AS same_ref,
       gdpr.subject_ref('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1) !~ 'drop' AS opaque;
SELECT gdpr.subject_ref('"h''ostile; drop table x; --"."a""b; drop table x; --"', '1; drop table x'::text);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.request('"h''ostile; drop table x; --"."a""b; drop table x; --"', 2, E'access''; drop table x; --');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.request('"h''ostile; drop table x; --"."a""b; drop table x; --"', E'2\'; drop table x; --', 'access');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.complete_request(gdpr.request('"h''ostile; drop table x; --"."a""b; drop table x; --"', 2, 'access'),
                             E'note \'; drop table x; --');
SELECT kind, completed_at IS NOT NULL AS completed FROM gdpr.requests
 WHERE subject = '"h''ostile; drop table x; --"."a""b; drop table x; --"'::regclass;
SELECT jsonb_pretty(gdpr.export_subject('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1) -> 'data');
SELECT gdpr.export_subject('"h''ostile; drop table x; --"."a""b; drop table x; --"', E'1\'; drop table x; --');
\echo :LAST_ERROR_SQLSTATE
SELECT relation::text, action, rows
  FROM gdpr.erase('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1, E'reason \'; drop table x; --', true)
 ORDER BY 1, 2;
SELECT relation::text, action, rows
  FROM gdpr.erase('"h''ostile; drop table x; --"."a""b; drop table x; --"', 1, E'reason \'; drop table x; --')
 ORDER BY 1, 2;
SELECT gdpr.erase('"h''ostile; drop table x; --"."a""b; drop table x; --"', E'1 OR 1=1'::text);
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.erase('"h''ostile; drop table x; --"."a""b; drop table x; --"', NULL::int);
\echo :LAST_ERROR_SQLSTATE
-- the other subjects are all still there
SELECT "id""" FROM "h'ostile; drop table x; --"."a""b; drop table x; --" ORDER BY 1;

-- registers
SELECT gdpr.register_processor(E'Proc\'; drop table x; --', 'NL', '2024-01-01', NULL,
                               ARRAY['h_contract'], E'contact \\ "x"');
SELECT gdpr.register_processor(E'Proc2', E'NL\'; drop table x; --', '2024-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.register_processor(E'Proc3', 'NL', '2024-01-01', NULL, ARRAY[E'nope\'; drop table x']);
\echo :LAST_ERROR_SQLSTATE
SELECT name, country, purposes FROM gdpr.processors WHERE name LIKE 'Proc%';
SELECT gdpr.drop_processor(E'Proc\'; drop table x; --');
SELECT gdpr.notify_breach(gdpr.report_breach(E'leak \'; drop table x; --', now(),
       ARRAY['"h''ostile; drop table x; --"."a""b; drop table x; --"'::regclass], ARRAY[E'name\'; drop']));
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.report_breach(NULL, now());
\echo :LAST_ERROR_SQLSTATE

-- discovery and self-audit over the hostile names: no error
SELECT count(*) >= 0 AS discover_ran FROM gdpr.discover(50)
 WHERE relation::text LIKE '%h''ostile%';
SELECT count(*) > 0 AS compliance_ran FROM gdpr.compliance_report();
SELECT count(*) >= 0 AS expire_ran FROM gdpr.expire(true);

-- clean up; then: the sentinel survived and the audit chain is intact
SELECT gdpr.drop_purpose_view('"h''ostile; drop table x; --"."v""; drop table x; --"');
SELECT gdpr.drop_purpose_view(view) FROM gdpr.purpose_views
 WHERE relation = '"h''ostile; drop table x; --"."a""b; drop table x; --"'::regclass;
-- requests are kept when their subject table goes; these are the test's own
DELETE FROM gdpr.request WHERE subject = '"h''ostile; drop table x; --"."a""b; drop table x; --"'::regclass;
DROP SCHEMA "h'ostile; drop table x; --" CASCADE;
SELECT gdpr.drop_purpose(E'p''; drop table x; --');
SELECT gdpr.drop_purpose('ünïcode_zweck');
SELECT gdpr.drop_purpose('h_contract');
SELECT * FROM h_sentinel.x;
SELECT ok FROM gdpr.verify_audit();
RESET search_path;
DROP SCHEMA h_sentinel CASCADE;
