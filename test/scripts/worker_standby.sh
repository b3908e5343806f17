#!/usr/bin/env bash
# The retention worker on a standby and with too few worker slots.
#
# 1. A streaming standby of the test cluster (pg_basebackup -R) that lists a
#    database with expired rows in gdpr.database: its worker connects and
#    idles (a standby cannot write), nothing is logged as an error, and
#    after promotion the same worker expires the rows by itself.
# 2. The promoted server restarted with room for two database workers and
#    four databases listed: two are served, the other two are reported once
#    (WARNING with a hint to raise max_worker_processes) and the launcher
#    keeps running; with enough slots all four are served.
#
# Environment (from scripts/harness.sh): BIN SYS_BIN WORK PGHOST PGPORT
set -euo pipefail

DB=worker_standby
TPL=worker_standby_tpl
SB=$WORK/standby
SBSOCK=$WORK/standby_sock
SBPORT=$((PGPORT + 11))
PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
q() { "${PSQL[@]}" -d "$1" -c "$2"; }
qs() { "${PSQL[@]}" -h "$SBSOCK" -p "$SBPORT" -d "$1" -c "$2"; }
fail() {
	echo "FAIL: $*" >&2
	[ -f "$WORK/standby.log" ] && tail -n 20 "$WORK/standby.log" >&2
	exit 1
}

wait_for() { # db query timeout_s  (on the standby)
	local i
	for i in $(seq 1 $(($3 * 10))); do
		if [ "$(qs "$1" "$2" 2>/dev/null || true)" = t ]; then return 0; fi
		sleep 0.1
	done
	return 1
}

# stop and start (not pg_ctl restart, which reuses the postmaster's recorded
# command line and so bypasses a wrapper such as the sanitizer build's)
restart_sb() {
	as_pg "$BIN/pg_ctl" -D "$SB" -m fast -w stop >/dev/null
	as_pg "$BIN/pg_ctl" -D "$SB" -l "$WORK/standby.log" -w -t 60 start >/dev/null
}

cleanup() {
	as_pg "$BIN/pg_ctl" -D "$SB" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$SB" "$SBSOCK"
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
		-c "DROP DATABASE IF EXISTS $TPL WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
rm -f "$WORK/standby.log"

# a template with 100 expired and 5 running visits; the primary does not
# serve these databases (gdpr.database = 'postgres')
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $TPL"
"${PSQL[@]}" -d "$TPL" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
SELECT gdpr.define_purpose('ws_analytics', 'legitimate_interests', '30 days');
CREATE SCHEMA ws;
CREATE TABLE ws.visit (id int PRIMARY KEY, at date NOT NULL, ip text);
SECURITY LABEL FOR gdpr ON TABLE ws.visit IS 'RETAIN FROM at';
SECURITY LABEL FOR gdpr ON COLUMN ws.visit.ip IS 'PURPOSE ws_analytics';
INSERT INTO ws.visit SELECT g, '2000-01-01', '10.0.0.' || g FROM generate_series(1, 100) g;
INSERT INTO ws.visit SELECT g, '2999-01-01', '10.0.1.' || g FROM generate_series(101, 105) g;
SQL
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB TEMPLATE $TPL"
[ "$(q "$DB" "SELECT count(*) FROM ws.visit")" = 105 ] || fail "setup"

# 1. the standby
mkdir -p "$SBSOCK"
if [ "$(id -u)" = 0 ]; then chown postgres: "$SBSOCK"; fi
as_pg "$SYS_BIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$SB" -R -X stream -c fast
cat >>"$SB/postgresql.auto.conf" <<EOF
port = $SBPORT
unix_socket_directories = '$SBSOCK'
hot_standby = on
gdpr.database = 'postgres, $DB'
gdpr.retention_naptime = 1
EOF
as_pg "$BIN/pg_ctl" -D "$SB" -l "$WORK/standby.log" -w -t 60 start >/dev/null
[ "$(qs postgres "SELECT pg_is_in_recovery()")" = t ] || fail "not a standby"
wait_for "$DB" "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'gdpr_crm retention worker' AND datname = '$DB'" 20 ||
	fail "no retention worker for $DB on the standby"
sleep 3   # three naptimes
[ "$(qs "$DB" "SELECT count(*) FROM ws.visit")" = 105 ] || fail "rows changed on the standby"
if grep -E "ERROR|FATAL" "$WORK/standby.log" | grep -v "the database system is\|due to administrator command" >/dev/null; then
	fail "errors on the standby: $(grep -E 'ERROR|FATAL' "$WORK/standby.log" | head -3)"
fi
echo "standby: worker connected and idle, no errors"

as_pg "$BIN/pg_ctl" -D "$SB" -w promote >/dev/null
wait_for "$DB" "SELECT count(*) = 5 FROM ws.visit" 30 || fail "the worker did not expire after promotion"
[ "$(qs "$DB" "SELECT ok FROM gdpr.verify_audit()")" = t ] || fail "verify_audit after promotion"
[ "$(qs "$DB" "SELECT sum(rows) FROM gdpr.retention_runs WHERE action = 'deleted' AND source = 'worker'")" = 100 ] ||
	fail "retention_runs after promotion: $(qs "$DB" "SELECT * FROM gdpr.retention_runs")"
echo "promoted: the worker expired the 100 rows"

# 2. four databases, room for two workers (the logical replication launcher
# and our launcher take the other two slots)
for d in a b c d; do qs postgres "CREATE DATABASE ws_$d TEMPLATE $TPL"; done
cat >>"$SB/postgresql.auto.conf" <<EOF
max_worker_processes = 4
gdpr.database = 'ws_a, ws_b, ws_c, ws_d'
EOF
restart_sb
served() {
	local n=0 d
	for d in a b c d; do
		[ "$(qs "ws_$d" "SELECT count(*) FROM ws.visit")" = 5 ] && n=$((n + 1))
	done
	echo $n
}
for i in $(seq 1 100); do [ "$(served)" = 2 ] && break; sleep 0.2; done
sleep 3
[ "$(served)" = 2 ] || fail "expected 2 databases served with 2 worker slots, got $(served)"
[ "$(qs postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'gdpr_crm retention launcher'")" = 1 ] ||
	fail "the launcher is not running"
warnings=$(grep -c "could not start the retention worker for database" "$WORK/standby.log" || true)
[ "$warnings" = 2 ] || fail "expected one warning per unserved database, got $warnings"
grep -q "Raise max_worker_processes" "$WORK/standby.log" || fail "no hint in the log"
echo "too few slots: 2 of 4 served, one warning each"

sed -i 's/^max_worker_processes = 4$/max_worker_processes = 8/' "$SB/postgresql.auto.conf"
restart_sb
for i in $(seq 1 100); do [ "$(served)" = 4 ] && break; sleep 0.2; done
[ "$(served)" = 4 ] || fail "with enough slots all 4 databases should be served, got $(served)"
echo "enough slots: all 4 served"
echo "ok"
