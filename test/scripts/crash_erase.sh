#!/usr/bin/env bash
# Crash safety of gdpr.erase: SIGKILL the backend in the middle of an erase,
# while it deletes or anonymizes the customer row (a trigger of the test makes
# that wait), after it has written other rows of the subject in the same
# transaction (checked: the backend holds a transaction id).  After crash recovery:
# every row of the subject is exactly as before (nothing half-done), the
# consent history and the open erasure request are untouched, no erase
# entry is in the audit log and verify_audit() is ok.  Erasing again then
# works completely, with one audit entry.
# Environment (from scripts/harness.sh): SYS_BIN PGHOST PGPORT PGUSER.
set -euo pipefail

PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At)
# the test cluster runs with synchronous_commit = off; here committed must
# mean durable
export PGOPTIONS="-c synchronous_commit=on"
DB=gdpr_crash_erase
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { "${PSQL[@]}" -d $DB -c "$*"; }

wait_ready() {
	local i
	for i in $(seq 1 120); do
		if "${PSQL[@]}" -d $DB -c "SELECT 1" >/dev/null 2>&1; then return 0; fi
		sleep 0.5
	done
	fail "server did not come back after the crash"
}

backend_pid() { # appname wait-condition-sql
	local i pid
	for i in $(seq 1 120); do
		pid=$("${PSQL[@]}" -d postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' AND ($2)" 2>/dev/null || true)
		if [ -n "$pid" ]; then echo "$pid"; return 0; fi
		sleep 0.25
	done
	return 1
}

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB TEMPLATE template0" 2>/dev/null
"${PSQL[@]}" -d $DB >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
CREATE SCHEMA shop;
CREATE TABLE shop.klant (id int PRIMARY KEY, naam text NOT NULL, email text, gezien date);
CREATE TABLE shop.bestelling (id int PRIMARY KEY, klant_id int NOT NULL REFERENCES shop.klant,
                              besteld_op date NOT NULL);
CREATE TABLE shop.regel (bestelling_id int REFERENCES shop.bestelling, n int, product text,
                         PRIMARY KEY (bestelling_id, n));
CREATE TABLE shop.factuur (id int PRIMARY KEY, klant_id int REFERENCES shop.klant,
                           datum date NOT NULL, bedrag numeric NOT NULL, naam_op_factuur text);
SELECT gdpr.define_purpose('ce_levering', 'contract');
SELECT gdpr.define_purpose('ce_fiscus', 'legal_obligation', '7 years');
SELECT gdpr.define_purpose('ce_nieuws', 'consent', NULL, NULL, '2 years');
SELECT gdpr.register_subject_table('shop.klant', 'id');
SELECT gdpr.tag_column('shop.klant', 'naam', ARRAY['ce_levering'], 'name');
SELECT gdpr.tag_column('shop.klant', 'email', ARRAY['ce_levering', 'ce_nieuws'], 'contact.email');
SELECT gdpr.set_retention_column('shop.factuur', 'datum');
SELECT gdpr.tag_column('shop.factuur', 'bedrag', ARRAY['ce_fiscus'], 'financial');
SELECT gdpr.tag_column('shop.factuur', 'naam_op_factuur', ARRAY['ce_levering'], 'name');
INSERT INTO shop.klant SELECT g, 'klant ' || g, 'k' || g || '@example.nl', current_date FROM generate_series(1, 50) g;
INSERT INTO shop.bestelling SELECT g, 1 + g % 50, current_date - g FROM generate_series(1, 2000) g;
INSERT INTO shop.regel SELECT b, n, 'product ' || n FROM generate_series(1, 2000) b, generate_series(1, 3) n;
INSERT INTO shop.factuur SELECT g, 1 + g % 50, current_date - 10, g * 2.5, 'klant ' || (1 + g % 50)
  FROM generate_series(1, 200) g;
SELECT gdpr.grant_consent('shop.klant', 7, 'ce_nieuws', 'double_opt_in');
SELECT gdpr.request('shop.klant', 7, 'erasure');
-- the test's brake: the delete of a customer row waits while crash.sleep is on
CREATE FUNCTION shop.brake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('crash.sleep', true) = 'on' THEN
        PERFORM pg_sleep(300);
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER brake BEFORE UPDATE OR DELETE ON shop.klant FOR EACH ROW EXECUTE FUNCTION shop.brake();
SQL

# everything of subject 7 (and of the others) as one text
snapshot() {
	q "SELECT md5(string_agg(t, E'\n' ORDER BY t)) FROM (
	     SELECT 'k' || k::text AS t FROM shop.klant k
	     UNION ALL SELECT 'b' || b::text FROM shop.bestelling b
	     UNION ALL SELECT 'r' || r::text FROM shop.regel r
	     UNION ALL SELECT 'f' || f::text FROM shop.factuur f
	     UNION ALL SELECT 'c' || c.id || c.action FROM gdpr.consent_events c
	     UNION ALL SELECT 'q' || r.id || coalesce(r.completed_at::text, 'open') FROM gdpr.requests r) s"
}
before=$(snapshot)
audit_before=$(q "SELECT count(*) FROM gdpr.audit_log")
rows7=$(q "SELECT (SELECT count(*) FROM shop.bestelling WHERE klant_id = 7) || '/' ||
                  (SELECT count(*) FROM shop.regel r JOIN shop.bestelling b ON b.id = r.bestelling_id WHERE b.klant_id = 7) || '/' ||
                  (SELECT count(*) FROM shop.factuur WHERE klant_id = 7 AND naam_op_factuur IS NOT NULL)")
echo "subject 7 before: orders/lines/named invoices = $rows7"

# ---- the erase, killed while it deletes the customer row
PGAPPNAME=crash_erase PGOPTIONS="$PGOPTIONS -c crash.sleep=on" "${PSQL[@]}" -d $DB >/dev/null 2>&1 <<'SQL' &
SELECT * FROM gdpr.erase('shop.klant', 7, 'crash test');
SQL
pid=$(backend_pid crash_erase "wait_event = 'PgSleep'") || fail "the erase did not reach the customer row"
# it really is in the middle: its own deletes are done but not visible
inflight=$("${PSQL[@]}" -d postgres -c "SELECT count(*) FROM pg_locks WHERE pid = $pid AND locktype = 'transactionid' AND mode = 'ExclusiveLock'")
[ "$inflight" = 1 ] || fail "erase backend holds no transaction id (nothing written yet?)"
kill -9 "$pid"
wait || true
wait_ready
echo "ok - erase backend killed mid-erase, server recovered"

after=$(snapshot)
[ "$before" = "$after" ] || fail "data changed by the killed erase (half-done)"
echo "ok - nothing of the killed erase is left: all rows, consents and requests as before"
[ "$(q "SELECT count(*) FROM gdpr.audit_log")" = "$audit_before" ] || fail "the killed erase left audit entries"
[ "$(q "SELECT ok FROM gdpr.verify_audit()")" = t ] || fail "verify_audit() not ok after the crash"
echo "ok - no audit entry of the killed erase, verify_audit() ok"

# ---- erasing again works, completely
res=$(q "SELECT string_agg(relation::text || ':' || action || ':' || rows, ' ' ORDER BY relation::text, action) FROM gdpr.erase('shop.klant', 7, 'after the crash')")
echo "erase after recovery: $res"
# the customer row is deleted, or anonymized where a kept invoice refers to it
[ "$(q "SELECT count(*) FROM shop.klant WHERE id = 7 AND (naam = 'klant 7' OR email IS NOT NULL)")" = 0 ] ||
	fail "customer 7 still there with personal data"
[ "$(q "SELECT count(*) FROM shop.bestelling WHERE klant_id = 7")" = 0 ] || fail "orders of 7 still there"
[ "$(q "SELECT count(*) FROM shop.factuur WHERE klant_id IS NOT DISTINCT FROM 7 AND naam_op_factuur IS NOT NULL")" = 0 ] ||
	fail "an invoice of 7 still carries the name"
[ "$(q "SELECT count(*) FROM shop.klant WHERE id <> 7 AND naam = 'klant ' || id AND email IS NOT NULL")" = 49 ] ||
	fail "other customers touched"
[ "$(q "SELECT count(*) FROM gdpr.audit_log WHERE action = 'erase'")" = 1 ] || fail "expected exactly one erase audit entry"
[ "$(q "SELECT ok FROM gdpr.verify_audit()")" = t ] || fail "verify_audit() not ok after the second erase"
echo "ok - the erase after recovery is complete, one audit entry, chain ok"

"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
