#!/usr/bin/env bash
# Crash safety of the audit chain: SIGKILL a backend (1) in the middle of a
# transaction that queued audit entries and (2) in the middle of writing them
# at commit, holding the chain lock with one entry already inserted.  After
# crash recovery the chain verifies, the ids have no gaps, nothing of the
# killed transactions is there, and appending continues.
# Environment (from scripts/harness.sh): SYS_BIN PGHOST PGPORT PGUSER.
set -euo pipefail

PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At)
# the test cluster runs with synchronous_commit = off, which may lose the last
# commits in a crash; here committed must mean durable
export PGOPTIONS="-c synchronous_commit=on"
DB=gdpr_crash_audit
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { "${PSQL[@]}" -d $DB -c "$*"; }

wait_ready() {
	local i
	for i in $(seq 1 120); do
		if "${PSQL[@]}" -d postgres -c "SELECT 1" >/dev/null 2>&1; then return 0; fi
		sleep 0.5
	done
	fail "server did not come back after the crash"
}

# pid of the backend with this application_name, once it is in the given state
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
q "SET client_min_messages = warning; CREATE EXTENSION gdpr_crm CASCADE"
q "SELECT gdpr._audit('export', NULL, NULL, jsonb_build_object('n', g)) FROM generate_series(1, 5) g" >/dev/null
[ "$(q "SELECT count(*) FROM gdpr.audit_log")" = 5 ] || fail "setup"

# ---- 1. killed in the middle of a transaction that queued entries
PGAPPNAME=crash_mid_xact "${PSQL[@]}" -d $DB >/dev/null 2>&1 <<'SQL' &
BEGIN;
SELECT gdpr._audit('erase', NULL, NULL, jsonb_build_object('killed', 'mid-transaction', 'n', g)) FROM generate_series(1, 100) g;
SELECT pg_sleep(300);
COMMIT;
SQL
pid=$(backend_pid crash_mid_xact "wait_event = 'PgSleep'") || fail "mid-transaction backend not found"
kill -9 "$pid"
wait || true
wait_ready

res=$(q "SELECT ok, checked FROM gdpr.verify_audit()")
[ "$res" = "t|5" ] || fail "after the mid-transaction kill: verify_audit = $res"
[ "$(q "SELECT count(*) FROM gdpr.audit_log WHERE details ? 'killed'")" = 0 ] || fail "entries of the killed transaction are there"

# ---- 2. killed in the middle of the commit, while writing the entries.
# A superuser transaction inserts an uncommitted row with the id the second
# entry will get; the committing backend writes its first entry, then waits on
# that row's unique-index check -- inside its pre-commit, holding the chain lock.
q "SELECT gdpr._audit('export', NULL, NULL, '{\"n\": 6}')" >/dev/null
PGAPPNAME=crash_blocker "${PSQL[@]}" -d $DB >/dev/null 2>&1 <<'SQL' &
BEGIN;
INSERT INTO gdpr.audit_log (id, at, actor, action, prev_hash, hash)
VALUES ((SELECT max(id) + 2 FROM gdpr.audit_log), now(), 'blocker', 'export', '\x00', '\x00');
SELECT pg_sleep(300);
COMMIT;
SQL
backend_pid crash_blocker "wait_event = 'PgSleep'" >/dev/null || fail "blocker not found"
PGAPPNAME=crash_mid_commit "${PSQL[@]}" -d $DB >/dev/null 2>&1 <<'SQL' &
BEGIN;
SELECT gdpr._audit('erase', NULL, NULL, jsonb_build_object('killed', 'mid-commit', 'n', g)) FROM generate_series(1, 3) g;
COMMIT;
SQL
pid=$(backend_pid crash_mid_commit "wait_event_type = 'Lock' AND query = 'COMMIT;'") || fail "committing backend did not block mid-commit"
# a third session that wants to commit entries now waits for the chain lock
PGAPPNAME=crash_waiter "${PSQL[@]}" -d $DB >/dev/null 2>&1 <<'SQL' &
SELECT gdpr._audit('erase', NULL, NULL, '{"killed": "waiting"}');
SQL
backend_pid crash_waiter "wait_event_type = 'Lock'" >/dev/null || fail "third appender did not wait for the chain lock"
"${PSQL[@]}" -d postgres -c "SELECT application_name, wait_event_type, wait_event, left(query, 30) FROM pg_stat_activity WHERE application_name LIKE 'crash_%'"
kill -9 "$pid"
wait || true
wait_ready

res=$(q "SELECT ok, checked FROM gdpr.verify_audit()")
[ "$res" = "t|6" ] || fail "after the mid-commit kill: verify_audit = $res"
[ "$(q "SELECT count(*) FROM gdpr.audit_log WHERE details ? 'killed' OR actor = 'blocker'")" = 0 ] ||
	fail "half-written entries are there"

# ---- appending continues, gapless
q "SELECT gdpr._audit('export', NULL, NULL, '{\"n\": 7}')" >/dev/null
res=$(q "SELECT ok, checked, (SELECT max(id) = count(*) FROM gdpr.audit_log) FROM gdpr.verify_audit()")
[ "$res" = "t|7|t" ] || fail "after recovery: $res"

"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
echo "crash_audit ok"
