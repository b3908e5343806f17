#!/usr/bin/env bash
# `make load`: a pgbench mix against gdpr_crm while the retention worker runs.
#
#   2 clients, LOAD_SECONDS (default 300): purpose-view reads (weight 4),
#   consent grants/withdrawals (2), inserts of customers with orders (3),
#   erasures (1) of customers whose retention is running out while the
#   worker expires them (naptime 1 s).
# Passes when: no failed transaction and no client aborted (serialization
# failures that erase reports for a concurrently changed subject are retried
# by pgbench, up to 10 tries, and counted), no deadlock in the server log,
# the row counts add up (start + inserted - erased - expired = counted, from
# a ledger the clients write in the same transactions, and the worker's
# gdpr.retention_runs), no retention run failed, verify_audit() is ok.
#
# Standalone (`make load`): builds and starts a private cluster (GDPR_PORT,
# default 55498).  Inside `make test` (test/scripts/load_short.sh) it uses
# the suite's cluster: PGHOST/PGPORT/WORK set, LOAD_SECONDS=20.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SYS_BIN=${SYS_BIN:-/usr/lib/postgresql/15/bin}
SECS=${LOAD_SECONDS:-300}
CLIENTS=${LOAD_CLIENTS:-2}
N=${LOAD_AGEING:-$((SECS * 20))}
S=${LOAD_STABLE:-1000}
DB=gdpr_load
STANDALONE=0

if [ -z "${WORK:-}" ]; then
	STANDALONE=1
	export GDPR_PRIVATE=${GDPR_PRIVATE:-1} GDPR_PORT=${GDPR_PORT:-55498}
	export GDPR_WORKDIR=${GDPR_WORKDIR:-$ROOT/.tmp-load}
	bash "$ROOT/scripts/harness.sh" build
	bash "$ROOT/scripts/harness.sh" start
	WORK=$GDPR_WORKDIR
	export PGHOST=$WORK PGPORT=$GDPR_PORT PGUSER=postgres
fi
LOG=$WORK/server.log
PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1)
fail() { echo "FAIL: $*" >&2; exit 1; }

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB TEMPLATE template0" 2>/dev/null
"${PSQL[@]}" -d $DB -v n="$N" -v s="$S" -v secs="$SECS" -f "$HERE/setup.sql" >/dev/null

# the worker serves this database too, every second, while the clients run
old_db=$("${PSQL[@]}" -At -d postgres -c "SHOW gdpr.database")
old_nap=$("${PSQL[@]}" -At -d postgres -c "SHOW gdpr.retention_naptime")
restore_conf() {
	"${PSQL[@]}" -d postgres -c "ALTER SYSTEM RESET gdpr.database" -c "ALTER SYSTEM RESET gdpr.retention_naptime" \
		-c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
}
trap restore_conf EXIT
case ",$(echo "$old_db" | tr -d ' ')," in *",$DB,"*) new_db=$old_db ;; *) new_db="$old_db, $DB" ;; esac
"${PSQL[@]}" -d postgres -c "ALTER SYSTEM SET gdpr.database = '$new_db'" \
	-c "ALTER SYSTEM SET gdpr.retention_naptime = 1" -c "SELECT pg_reload_conf()" >/dev/null
echo "load: worker databases '$new_db' (naptime was $old_nap)"

log_from=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
echo "load: $CLIENTS clients for ${SECS}s, $N ageing + $S stable customers"
set +e
"$SYS_BIN/pgbench" -n -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" -d $DB \
	-D n="$N" -D s="$S" --max-tries=10 --failures-detailed \
	-f "$HERE/read.sql@4" -f "$HERE/consent.sql@2" -f "$HERE/insert.sql@3" -f "$HERE/erase.sql@1" \
	>"$WORK/pgbench.out" 2>"$WORK/pgbench.err"
rc=$?
set -e
grep -E 'number of (transactions actually processed|failed|transactions retried|total retries)|serialization failures|deadlock failures|tps =' "$WORK/pgbench.out" || true
[ "$rc" = 0 ] || fail "pgbench exited $rc (a client aborted): $(tail -5 "$WORK/pgbench.err")"
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/pgbench.out")
[ "$failed" = 0 ] || fail "$failed failed transactions: $(grep -m5 ERROR "$WORK/pgbench.err")"
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.out")
[ "${processed:-0}" -gt 0 ] || fail "no transaction was processed"

# give the worker one more pass, then check
sleep 3
restore_conf
deadlocks=$(tail -c +"$((log_from + 1))" "$LOG" | grep -c 'deadlock detected' || true)
echo "load: deadlocks in the server log: $deadlocks"
[ "$deadlocks" = 0 ] || fail "deadlocks during the load: $(tail -c +"$((log_from + 1))" "$LOG" | grep -m3 -A3 'deadlock detected')"
crashes=$(tail -c +"$((log_from + 1))" "$LOG" | grep -c 'terminated by signal\|was terminated' || true)
[ "$crashes" = 0 ] || fail "a server process crashed during the load"

"${PSQL[@]}" -At -d $DB -f "$HERE/check.sql" | tee "$WORK/load_check.out"
if grep -q '^FAIL' "$WORK/load_check.out"; then
	fail "the load checks failed"
fi
"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB WITH (FORCE)" 2>/dev/null || true
[ "$STANDALONE" = 1 ] && bash "$ROOT/scripts/harness.sh" stop
echo "load: ok"
