-- Consent registry (API section 3): proof, refusal of invalid consent,
-- withdrawal, lapse, tokens, the per-backend cache, audit, privileges.
CREATE SCHEMA consent_t;
CREATE TABLE consent_t.klant (
    id integer PRIMARY KEY,
    naam text NOT NULL,
    email text
);
INSERT INTO consent_t.klant
SELECT i, 'klant ' || i, 'k' || i || '@example.nl' FROM generate_series(1, 10) i;
-- a subject table with a text key
CREATE TABLE consent_t.lid (code varchar(8) PRIMARY KEY, email text);
INSERT INTO consent_t.lid VALUES ('AB-1', 'ab@example.nl'), ('CD-2', 'cd@example.nl');
-- not a subject table
CREATE TABLE consent_t.los (id int PRIMARY KEY);
-- bigint keys far apart (looked up by hash, not by the dense-key bitmap)
CREATE TABLE consent_t.account (nr bigint PRIMARY KEY);
INSERT INTO consent_t.account VALUES (1), (5000000000), (-7), (42);

SELECT gdpr.define_purpose('ct_news', 'consent', '2 years', 'newsletter', '1 year');
SELECT gdpr.define_purpose('ct_forever', 'consent');
SELECT gdpr.define_purpose('ct_delivery', 'contract');
SECURITY LABEL FOR gdpr ON TABLE consent_t.klant IS 'SUBJECT KEY (id)';
SECURITY LABEL FOR gdpr ON COLUMN consent_t.klant.email IS 'PURPOSE ct_news CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON TABLE consent_t.lid IS 'SUBJECT KEY (code)';
SECURITY LABEL FOR gdpr ON TABLE consent_t.account IS 'SUBJECT KEY (nr)';

-- ---------------------------------------------------------------- refusals
-- Planet49: pre-ticked boxes, implied consent and opt-out are no consent
SELECT gdpr.grant_consent('consent_t.klant', 1, 'ct_news', 'pre_ticked');
SELECT gdpr.grant_consent('consent_t.klant', 1, 'ct_news', 'implied');
SELECT gdpr.grant_consent('consent_t.klant', 1, 'ct_news', 'opt_out');
SELECT gdpr.grant_consent('consent_t.klant', 1, 'ct_news', 'telepathy');
-- consent for a purpose whose basis is not consent
SELECT gdpr.grant_consent('consent_t.klant', 1, 'ct_delivery', 'checkbox');
SELECT gdpr.grant_consent('consent_t.klant', 1, 'ct_nope', 'checkbox');
SELECT gdpr.grant_consent('consent_t.los', 1, 'ct_news', 'checkbox');
SELECT gdpr.grant_consent('consent_t.klant', 99, 'ct_news', 'checkbox');
SELECT gdpr.grant_consent('consent_t.klant', 'x'::text, 'ct_news', 'checkbox');
-- NULLs of state-changing functions are errors
SELECT gdpr.grant_consent(NULL, 1, 'ct_news', 'checkbox');
SELECT gdpr.grant_consent('consent_t.klant', NULL::int, 'ct_news', 'checkbox');
SELECT gdpr.grant_consent('consent_t.klant', 1, NULL, 'checkbox');
SELECT gdpr.grant_consent('consent_t.klant', 1, 'ct_news', NULL);
SELECT gdpr.withdraw_consent('consent_t.klant', NULL::int, 'ct_news');
SELECT gdpr.consent_token('consent_t.klant', 1, NULL);
-- nothing was recorded by any of the above
SELECT count(*) FROM gdpr.consent_events WHERE purpose LIKE 'ct\_%';

-- ---------------------------------------------------------------- grants
SELECT gdpr.grant_consent('consent_t.klant', 1, 'ct_news', 'double_opt_in',
                          'website signup form', '{"ip": "192.0.2.1", "form": "nb-2024"}',
                          'privacy-v3') > 0 AS granted;
-- any type names the same subject: text, bigint
SELECT gdpr.grant_consent('consent_t.klant', '2'::text, 'ct_news', 'checkbox') > 0 AS granted;
SELECT gdpr.grant_consent('consent_t.klant', 3::bigint, 'ct_news', 'written', 'paper form') > 0 AS granted;
SELECT gdpr.grant_consent('consent_t.klant', 4, 'ct_forever', 'verbal', 'phone call') > 0 AS granted;
SELECT gdpr.grant_consent('consent_t.lid', 'AB-1'::text, 'ct_news', 'electronic_signature') > 0 AS granted;

SELECT subject, subject_key, purpose, action, method, source, evidence, policy_version,
       actor, subject_name, withdraws
  FROM gdpr.consent_events WHERE purpose LIKE 'ct\_%' ORDER BY id;
SELECT subject, subject_key, purpose, granted_at <= now() AS granted_before_now,
       expires_at = granted_at + interval '1 year' AS expires_in_a_year,
       expires_at IS NULL AS never_lapses
  FROM gdpr.consent_status WHERE purpose LIKE 'ct\_%' ORDER BY subject::text, subject_key, purpose;

-- has_consent / may_process, any key type, NULL key -> false
SELECT k, gdpr.has_consent('consent_t.klant', k, 'ct_news') AS news,
       gdpr.has_consent('consent_t.klant', k, 'ct_forever') AS forever,
       gdpr.may_process('consent_t.klant', k, 'ct_news') AS may_news,
       gdpr.may_process('consent_t.klant', k, 'ct_delivery') AS may_delivery,
       gdpr.has_consent('consent_t.klant', k, 'ct_delivery') AS has_delivery
  FROM (VALUES (1), (2), (3), (4), (5), (NULL)) v(k) ORDER BY k;
SELECT gdpr.has_consent('consent_t.klant', '1'::text, 'ct_news') AS text_key,
       gdpr.has_consent('consent_t.klant', 1::bigint, 'ct_news') AS bigint_key,
       gdpr.has_consent('consent_t.klant', 1::smallint, 'ct_news') AS smallint_key,
       gdpr.has_consent('consent_t.klant', 1::numeric, 'ct_news') AS numeric_key;
-- a key that is no valid key of the column's type
SELECT gdpr.has_consent('consent_t.klant', 'x'::text, 'ct_news');
SELECT code, gdpr.has_consent('consent_t.lid', code, 'ct_news') AS news,
       gdpr.may_process('consent_t.lid', code, 'ct_news') AS may
  FROM consent_t.lid ORDER BY code;
SELECT gdpr.has_consent('consent_t.lid', NULL::text, 'ct_news') AS null_key;
SELECT count(gdpr.grant_consent('consent_t.account', nr, 'ct_forever', 'checkbox'))
  FROM consent_t.account WHERE nr <> 42;
SELECT nr, gdpr.has_consent('consent_t.account', nr, 'ct_forever') AS forever
  FROM (VALUES (1::bigint), (5000000000), (-7), (42), (2), (5000000001)) v(nr) ORDER BY nr;
SELECT gdpr.has_consent(NULL, 1, 'ct_news');
SELECT gdpr.may_process('consent_t.klant', 1, NULL);
SELECT gdpr.may_process('consent_t.klant', 1, 'ct_nope');
SELECT gdpr.has_consent('consent_t.los', 1, 'ct_news');
-- per-row use: counts match the derived status
SELECT count(*) FILTER (WHERE gdpr.may_process('consent_t.klant', id, 'ct_news')) AS via_fn,
       (SELECT count(*) FROM gdpr.consent_status
         WHERE subject = 'consent_t.klant'::regclass AND purpose = 'ct_news') AS via_status
  FROM consent_t.klant;

-- ---------------------------------------------------------------- withdraw
SELECT gdpr.withdraw_consent('consent_t.klant', 1, 'ct_news', 'account page') AS withdrawn;
-- the cache is built once after an invalidation, not per row or per call
SELECT gdpr._consent_cache_builds() AS builds_before \gset
SELECT count(*) FILTER (WHERE gdpr.may_process('consent_t.klant', id, 'ct_news')) AS may,
       count(*) AS calls
  FROM consent_t.klant, generate_series(1, 100);
SELECT gdpr._consent_cache_builds() - :builds_before AS builds;
SELECT gdpr.withdraw_consent('consent_t.klant', 1, 'ct_news') AS again;
SELECT gdpr.withdraw_consent('consent_t.klant', 5, 'ct_news') AS never_granted;
SELECT gdpr.has_consent('consent_t.klant', 1, 'ct_news') AS after_withdraw;
-- the grant is kept as proof; the withdrawal points to it
SELECT e.action, e.method, e.source, e.evidence, w.action AS withdrawn_by, w.source AS via
  FROM gdpr.consent_events e
  LEFT JOIN gdpr.consent_events w ON w.withdraws = e.id
 WHERE e.subject = 'consent_t.klant'::regclass AND e.subject_key = '1' ORDER BY e.id;
SELECT count(*) AS status_rows FROM gdpr.consent_status
 WHERE subject = 'consent_t.klant'::regclass AND subject_key = '1';
-- granting again makes it active again
SELECT gdpr.grant_consent('consent_t.klant', 1, 'ct_news', 'checkbox', 'renewed') > 0 AS regranted;
SELECT gdpr.has_consent('consent_t.klant', 1, 'ct_news') AS after_regrant;

-- inside one transaction: the cache follows every statement, and a
-- rollback restores the state
BEGIN;
SELECT gdpr.has_consent('consent_t.klant', 2, 'ct_news') AS before;
SELECT gdpr.withdraw_consent('consent_t.klant', 2, 'ct_news') AS withdrawn;
SELECT gdpr.has_consent('consent_t.klant', 2, 'ct_news') AS in_xact;
ROLLBACK;
SELECT gdpr.has_consent('consent_t.klant', 2, 'ct_news') AS after_rollback;
BEGIN;
SAVEPOINT s;
SELECT gdpr.withdraw_consent('consent_t.klant', 2, 'ct_news') AS withdrawn;
SELECT gdpr.has_consent('consent_t.klant', 2, 'ct_news') AS in_subxact;
ROLLBACK TO SAVEPOINT s;
SELECT gdpr.has_consent('consent_t.klant', 2, 'ct_news') AS after_rollback_to;
COMMIT;

-- ---------------------------------------------------------------- lapse
-- consent_valid_for makes consent lapse (as the purpose defines it now)
SELECT gdpr.define_purpose('ct_news', 'consent', '2 years', 'newsletter', '1 microsecond');
SELECT gdpr.has_consent('consent_t.klant', 3, 'ct_news') AS lapsed,
       gdpr.may_process('consent_t.klant', 3, 'ct_news') AS may;
SELECT count(*) AS active FROM gdpr.consent_status WHERE purpose = 'ct_news';
SELECT gdpr.withdraw_consent('consent_t.klant', 3, 'ct_news') AS nothing_active;
SELECT gdpr.define_purpose('ct_news', 'consent', '2 years', 'newsletter', '1 year');
SELECT gdpr.has_consent('consent_t.klant', 3, 'ct_news') AS back;

-- ---------------------------------------------------------------- tokens
SELECT gdpr.consent_token('consent_t.klant', 3, 'ct_news') AS tok \gset
-- URL-safe, stable, and it carries a version byte and the grant's event id
-- (an opaque number) + MAC: no personal data
SELECT length(:'tok') AS len, :'tok' ~ '^[A-Za-z0-9_-]+$' AS url_safe,
       :'tok' = gdpr.consent_token('consent_t.klant', '3'::text, 'ct_news') AS stable,
       get_byte(b, 0) AS version,
       ('x' || encode(substring(b FROM 2 FOR 8), 'hex'))::bit(64)::bigint =
         (SELECT grant_id FROM gdpr.consent_status
           WHERE subject = 'consent_t.klant'::regclass AND subject_key = '3') AS carries_grant_id,
       length(b) AS bytes
  FROM (SELECT decode(translate(:'tok', '-_', '+/') || '=', 'base64') AS b) x;
SELECT gdpr.consent_token('consent_t.klant', 6, 'ct_news');
SELECT count(*) AS events_before FROM gdpr.consent_event \gset
-- forged, truncated, garbage, oversized: an error and nothing changed
SELECT gdpr.withdraw_by_token(overlay(:'tok' placing
         CASE WHEN substr(:'tok', 20, 1) = 'A' THEN 'B' ELSE 'A' END FROM 20 FOR 1));
SELECT gdpr.withdraw_by_token(overlay(:'tok' placing
         CASE WHEN substr(:'tok', 3, 1) = 'A' THEN 'B' ELSE 'A' END FROM 3 FOR 1));
SELECT gdpr.withdraw_by_token(left(:'tok', 40));
SELECT gdpr.withdraw_by_token(:'tok' || 'AAAA');
SELECT gdpr.withdraw_by_token('not a token at all!');
SELECT gdpr.withdraw_by_token('');
SELECT gdpr.withdraw_by_token(repeat('A', 100000));
SELECT gdpr.withdraw_by_token(NULL);
-- version byte 2 with an otherwise valid shape
SELECT gdpr.withdraw_by_token('Ag' || substr(:'tok', 3));
SELECT count(*) = :events_before AS nothing_changed FROM gdpr.consent_event;
SELECT gdpr.has_consent('consent_t.klant', 3, 'ct_news') AS still_active;

-- an unsubscribe endpoint role: EXECUTE on withdraw_by_token and nothing else
CREATE ROLE consent_t_unsub LOGIN;
GRANT EXECUTE ON FUNCTION gdpr.withdraw_by_token(text) TO consent_t_unsub;
GRANT USAGE ON SCHEMA consent_t TO consent_t_unsub;  -- to show what else it cannot do
SET ROLE consent_t_unsub;
SELECT gdpr.withdraw_by_token(:'tok') AS unsubscribed;
SELECT gdpr.withdraw_by_token(:'tok') AS already_withdrawn;
SELECT count(*) FROM gdpr.consent_events;
SELECT gdpr.withdraw_consent('consent_t.klant', 2, 'ct_news');
SELECT gdpr.consent_token('consent_t.klant', 2, 'ct_news');
SELECT * FROM consent_t.klant;
RESET ROLE;
SELECT gdpr.has_consent('consent_t.klant', 3, 'ct_news') AS after_unsubscribe;
SELECT action, source, actor FROM gdpr.consent_events
 WHERE subject = 'consent_t.klant'::regclass AND subject_key = '3' ORDER BY id;

-- ---------------------------------------------------------------- audit
-- every grant and withdrawal, with a subject_ref and never the key
SELECT a.action, a.subject_ref = gdpr.subject_ref('consent_t.klant', 3) AS ref_ok,
       a.relation, a.details->>'purpose' AS purpose, a.details ? 'event_id' AS has_event,
       a.details::text NOT LIKE '%k3@%' AS no_email
  FROM gdpr.audit_log a
 WHERE a.action LIKE 'consent.%' AND a.subject_ref = gdpr.subject_ref('consent_t.klant', 3)
 ORDER BY a.id;
SELECT count(*) FILTER (WHERE action = 'consent.grant') AS grants,
       count(*) FILTER (WHERE action = 'consent.withdraw') AS withdrawals
  FROM gdpr.audit_log
 WHERE action LIKE 'consent.%' AND relation IN ('consent_t.klant'::regclass, 'consent_t.lid'::regclass);
SELECT count(*) = (SELECT count(*) FROM gdpr.consent_event WHERE subject::text LIKE 'consent_t.%')
       AS one_audit_entry_per_event
  FROM gdpr.audit_log
 WHERE action LIKE 'consent.%'
   AND relation IN ('consent_t.klant'::regclass, 'consent_t.lid'::regclass, 'consent_t.account'::regclass);

-- ---------------------------------------------------------------- privileges
SELECT has_table_privilege('public', 'gdpr.consent_event', 'SELECT') AS public_events,
       has_table_privilege('public', 'gdpr.consent_events', 'SELECT') AS public_history,
       has_table_privilege('public', 'gdpr.consent_status', 'SELECT') AS public_status,
       has_function_privilege('public', 'gdpr.grant_consent(regclass,anyelement,text,text,text,jsonb,text)', 'EXECUTE') AS public_grant,
       has_function_privilege('public', 'gdpr.withdraw_by_token(text)', 'EXECUTE') AS public_token,
       has_function_privilege('public', 'gdpr.has_consent(regclass,anyelement,text)', 'EXECUTE') AS public_has,
       has_function_privilege('public', 'gdpr.may_process(regclass,anyelement,text)', 'EXECUTE') AS public_may;
SELECT p.proname, p.prosecdef, p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'gdpr'::regnamespace
   AND p.proname IN ('grant_consent', 'withdraw_consent', 'consent_token', 'withdraw_by_token',
                     'has_consent', 'may_process')
 ORDER BY 1;
-- the history is append-only
UPDATE gdpr.consent_event SET source = 'x' WHERE subject = 'consent_t.klant'::regclass;
DELETE FROM gdpr.consent_event WHERE subject = 'consent_t.klant'::regclass;
TRUNCATE gdpr.consent_event;
-- config tables are dumped
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) x(oid)
  JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'gdpr_crm' AND c.relname LIKE 'consent%' ORDER BY 1;

-- ---------------------------------------------------------------- cleanup
REVOKE EXECUTE ON FUNCTION gdpr.withdraw_by_token(text) FROM consent_t_unsub;
REVOKE USAGE ON SCHEMA consent_t FROM consent_t_unsub;
DROP ROLE consent_t_unsub;
-- dropping the subject table forgets its consent history
DROP SCHEMA consent_t CASCADE;
SELECT count(*) AS left_over FROM gdpr.consent_event WHERE purpose LIKE 'ct\_%';
SELECT gdpr.drop_purpose('ct_news');
SELECT gdpr.drop_purpose('ct_forever');
SELECT gdpr.drop_purpose('ct_delivery');
