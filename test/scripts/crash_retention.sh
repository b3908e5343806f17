#!/usr/bin/env bash
# Crash the retention worker mid-batch (API 6): kill -9 the worker, then
# stop the whole server with -m immediate, each while a batch is running
# (batches are made slow by a sleeping trigger).  After each crash: nothing
# half-done (every deleted order took its lines with it, and the rows gone
# equal the rows the committed batches report in gdpr.retention_runs and in
# the audit log), gdpr.verify_audit() is ok, and the worker resumes and
# finishes by itself.
#
# Environment (from scripts/harness.sh): BIN SYS_BIN DATA WORK PGHOST PGPORT
set -euo pipefail

DB=crash_retention
N=6000            # expired orders, 2 lines each
PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
q() { "${PSQL[@]}" -d "$DB" -c "$1"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

wait_ready() {
	local i
	for i in $(seq 1 120); do
		if "$SYS_BIN/pg_isready" -q -d postgres; then return 0; fi
		sleep 0.5
	done
	fail "server did not come back"
}

# poll a boolean query (bounded)
wait_for() { # query timeout_s
	local i
	for i in $(seq 1 $(($2 * 10))); do
		if [ "$(q "$1" 2>/dev/null || true)" = t ]; then return 0; fi
		sleep 0.1
	done
	return 1
}

worker_pid() {
	q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'gdpr_crm retention worker' AND datname = '$DB'"
}

check_consistent() { # label -- one statement, so one snapshot
	local row orders lines runs audits ok running
	row=$(q "SELECT (SELECT count(*) FROM cr.orders),
	                (SELECT count(*) FROM cr.order_line),
	                (SELECT coalesce(sum(rows), 0) FROM gdpr.retention_run
	                  WHERE relation_name = 'cr.orders' AND action = 'deleted'),
	                (SELECT coalesce(sum((details->>'deleted')::bigint), 0) FROM gdpr.audit_log
	                  WHERE action = 'expire'),
	                (SELECT count(*) FROM cr.orders WHERE placed_at > '2500-01-01')")
	IFS='|' read -r orders lines runs audits running <<<"$row"
	echo "$1: orders=$orders lines=$lines runs_deleted=$runs audit_deleted=$audits"
	[ "$lines" = $((orders * 2)) ] || fail "$1: lines ($lines) are not 2 x orders ($orders): a half-done batch"
	[ "$runs" = $((N - orders)) ] || fail "$1: retention_runs reports $runs deleted, $((N - orders)) are gone"
	[ "$audits" = $((N - orders)) ] || fail "$1: audit log reports $audits deleted, $((N - orders)) are gone"
	[ "$running" = 10 ] || fail "$1: a running order was expired"
	ok=$(q "SELECT ok FROM gdpr.verify_audit()")
	[ "$ok" = t ] || fail "$1: verify_audit() not ok"
}

cleanup() {
	"${PSQL[@]}" -d postgres -c "ALTER SYSTEM RESET gdpr.database" \
		-c "ALTER SYSTEM RESET gdpr.retention_batch_size" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
	sleep 1
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
q "SET client_min_messages = warning; CREATE EXTENSION gdpr_crm CASCADE"
q "SELECT gdpr.define_purpose('cr_marketing', 'consent', '1 year')" >/dev/null
"${PSQL[@]}" -d "$DB" <<SQL
CREATE SCHEMA cr;
CREATE TABLE cr.orders (id int PRIMARY KEY, placed_at date NOT NULL, email text);
CREATE TABLE cr.order_line (order_id int NOT NULL REFERENCES cr.orders, n int, product text,
                            PRIMARY KEY (order_id, n));
CREATE INDEX ON cr.order_line (order_id);
SECURITY LABEL FOR gdpr ON TABLE cr.orders IS 'RETAIN FROM placed_at';
SECURITY LABEL FOR gdpr ON COLUMN cr.orders.email IS 'PURPOSE cr_marketing';
INSERT INTO cr.orders SELECT g, '2000-01-01', 'x' || g || '@example.org' FROM generate_series(1, $N) g;
INSERT INTO cr.order_line SELECT g, n, 'p' FROM generate_series(1, $N) g, generate_series(1, 2) n;
-- 10 running orders that must survive
INSERT INTO cr.orders SELECT g, '2999-01-01', 'y' FROM generate_series($N + 1, $N + 10) g;
INSERT INTO cr.order_line SELECT g, n, 'p' FROM generate_series($N + 1, $N + 10) g, generate_series(1, 2) n;
-- slow batches: 1 ms per deleted order
CREATE FUNCTION cr.slow() RETURNS trigger LANGUAGE plpgsql AS
\$\$BEGIN PERFORM pg_sleep(0.001); RETURN OLD; END\$\$;
CREATE TRIGGER slow BEFORE DELETE ON cr.orders FOR EACH ROW EXECUTE FUNCTION cr.slow();
SQL
N=$((N + 10))   # all orders, for the bookkeeping below
check_consistent "before"

# serve this database, 500 rows (0.5 s) per batch
"${PSQL[@]}" -d postgres -c "ALTER SYSTEM SET gdpr.database = 'postgres, $DB'" \
	-c "ALTER SYSTEM SET gdpr.retention_batch_size = 500" -c "SELECT pg_reload_conf()" >/dev/null

# 1. kill -9 the worker in the middle of a batch
wait_for "SELECT count(*) < $N - 600 FROM cr.orders" 60 || fail "the worker did not start expiring"
pid=$(worker_pid)
[ -n "$pid" ] || fail "no retention worker found"
[ "$(q "SELECT state FROM pg_stat_activity WHERE pid = $pid")" = active ] || echo "note: worker $pid not active at kill time"
echo "killing worker $pid with SIGKILL"
kill -KILL "$pid"
sleep 1
wait_ready
check_consistent "after SIGKILL of the worker"

# 2. stop the whole server immediately (no shutdown checkpoint) mid-batch
before=$(q "SELECT count(*) FROM cr.orders")
wait_for "SELECT count(*) < $before - 600 FROM cr.orders" 60 || fail "the worker did not resume after the crash"
echo "stopping the server with -m immediate"
as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 60 start >/dev/null
wait_ready
check_consistent "after immediate stop"

# 3. the worker resumes and finishes by itself
wait_for "SELECT count(*) = 10 FROM cr.orders" 120 || fail "the worker did not finish"
check_consistent "finished"
echo "ok"
