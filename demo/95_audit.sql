-- gdpr_crm demo: the audit log (Art. 5(2), accountability).
-- Runs last: everything the earlier parts did is in the log by now.
\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = warning;
\echo
\echo '=== 95 audit: an append-only, hash-chained log of every GDPR action ==='

\echo '--- what was recorded, in chain order ---'
SELECT action, count(*) AS entries, min(id) AS first_id, max(id) AS last_id
  FROM gdpr.audit_log GROUP BY action ORDER BY min(id);

\echo '--- the newest entries: each one carries the hash of the one before ---'
SELECT id, at::timestamp(0) AS at, actor, action,
       CASE WHEN subject_ref IS NOT NULL THEN left(subject_ref, 12) || '…' END AS subject_ref,
       relation, left(details::text, 40) AS details,
       encode(substr(prev_hash, 1, 6), 'hex') || '…' AS prev_hash,
       encode(substr(hash, 1, 6), 'hex') || '…' AS hash
  FROM gdpr.audit_log ORDER BY id DESC LIMIT 5;

\echo '--- verify_audit() recomputes the whole chain ---'
SELECT * FROM gdpr.verify_audit();

\echo '--- an anchor to keep outside the database (a ticket, a signed mail) ---'
SELECT id AS anchor_id, encode(hash, 'hex') AS anchor_hash FROM gdpr.audit_head() \gset
SELECT :anchor_id AS anchor_id, :'anchor_hash' AS anchor_hash;

\echo '--- nobody may change or remove entries, not even the owner ---'
SET client_min_messages = notice;
DO $$
BEGIN
    UPDATE gdpr.audit_log SET actor = 'mallory' WHERE id = 1;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'UPDATE refused: %', SQLERRM;
END;
$$;
DO $$
BEGIN
    DELETE FROM gdpr.audit_log WHERE action = 'erase';
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'DELETE refused: %', SQLERRM;
END;
$$;
SET client_min_messages = warning;

\echo '--- a superuser who disables the triggers is caught by the chain (all rolled back) ---'
BEGIN;
ALTER TABLE gdpr.audit_log DISABLE TRIGGER audit_log_append_only;
\echo 'one entry quietly altered:'
UPDATE gdpr.audit_log SET details = coalesce(details, '{}') || '{"note": "nothing happened"}'
 WHERE id = (SELECT max(id) / 2 + 1 FROM gdpr.audit_log);
SELECT * FROM gdpr.verify_audit();
ROLLBACK;
BEGIN;
ALTER TABLE gdpr.audit_log DISABLE TRIGGER audit_log_append_only;
\echo 'the newest entry removed: the chain alone still looks fine, the anchor does not:'
DELETE FROM gdpr.audit_log WHERE id = :anchor_id;
SELECT 'without anchor' AS check, * FROM gdpr.verify_audit()
UNION ALL
SELECT 'with anchor', * FROM gdpr.verify_audit(:anchor_id, decode(:'anchor_hash', 'hex'));
ROLLBACK;
\echo 'after the rollbacks:'
SELECT * FROM gdpr.verify_audit(:anchor_id, decode(:'anchor_hash', 'hex'));

\echo '--- subject_ref: a keyed hash (per-database secret) names the subject, never the key ---'
SELECT gdpr.subject_ref('winkel.klanten', 1) AS klant_1,
       gdpr.subject_ref('winkel.klanten', '1') = gdpr.subject_ref('winkel.klanten', 1::bigint) AS same_for_any_key_type;
SELECT has_table_privilege('public', 'gdpr.secret', 'SELECT') AS public_reads_secret,
       has_table_privilege('public', 'gdpr.audit_log', 'SELECT') AS public_reads_log;
