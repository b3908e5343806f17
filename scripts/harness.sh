#!/usr/bin/env bash
# gdpr_crm harness: installs what is missing, builds, installs, and runs a
# throwaway PostgreSQL cluster as the postgres OS user (PostgreSQL refuses to
# run as root).  Used by `make demo`, `make test`, `make bench`.
#
#   scripts/harness.sh deps|build|start|stop|psql|test|demo|bench [args]
#
# Environment:
#   PGVER          PostgreSQL major version (default 15)
#   GDPR_PORT      port of the throwaway cluster (default 55432)
#   GDPR_WORKDIR   where the cluster lives (default .tmp/ under the project)
#   GDPR_PRIVATE   1 = install into a private copy of the server under
#                  GDPR_WORKDIR instead of the system directories (lets
#                  several checkouts test side by side)
#   GDPR_KEEP      1 = leave the cluster running after test/demo
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGVER=${PGVER:-15}
PORT=${GDPR_PORT:-55432}
WORK=${GDPR_WORKDIR:-$ROOT/.tmp}
PRIVATE=${GDPR_PRIVATE:-0}
SYS_BIN=/usr/lib/postgresql/$PGVER/bin
DATASETS=${GDPR_DATASETS:-$ROOT/../shared/datasets}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ---------------------------------------------------------------- deps
need_pkgs() {
	local missing=() p
	for p in postgresql-$PGVER postgresql-server-dev-$PGVER postgresql-$PGVER-pgtap \
		libtap-parser-sourcehandler-pgtap-perl make gcc; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		if [ "$(id -u)" != 0 ]; then
			echo "missing packages: ${missing[*]} (run as root to install them)" >&2
			exit 1
		fi
		log "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		# the Debian package starts a default cluster; we use our own
		pg_ctlcluster "$PGVER" main stop >/dev/null 2>&1 || true
	fi
}

# ---------------------------------------------------------------- build
PG_CONFIG=$SYS_BIN/pg_config
if [ "$PRIVATE" = 1 ]; then
	INST=$WORK/inst
	BIN=$INST$SYS_BIN
else
	INST=
	BIN=$SYS_BIN
fi

build() {
	cd "$ROOT"
	if [ "$PRIVATE" = 1 ] && [ ! -x "$BIN/postgres" ]; then
		log "copying the server into $INST"
		mkdir -p "$INST/usr/lib/postgresql" "$INST/usr/share/postgresql"
		cp -a /usr/lib/postgresql/$PGVER "$INST/usr/lib/postgresql/"
		cp -a /usr/share/postgresql/$PGVER "$INST/usr/share/postgresql/"
		chmod -R a+rX "$INST"
	fi
	log "building"
	make -s -j2 PG_CONFIG="$PG_CONFIG" >/dev/null
	if [ "$PRIVATE" = 1 ]; then
		make -s install PG_CONFIG="$PG_CONFIG" DESTDIR="$INST" >/dev/null
	else
		make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
	fi
}

# ---------------------------------------------------------------- cluster
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

prepare_workdir() {
	mkdir -p "$WORK"
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$WORK"
		# the postgres user must reach the directory (a clone under /root
		# would not be): fall back to a directory under /tmp.
		if ! runuser -u postgres -- test -w "$WORK"; then
			WORK=$(mktemp -d /tmp/gdpr_crm.XXXXXX)
			chown postgres: "$WORK"
			log "project directory not reachable by postgres; cluster in $WORK"
		fi
	fi
	DATA=$WORK/data
	SOCK=$WORK
}

export PGHOST PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres

start() {
	prepare_workdir
	PGHOST=$SOCK
	if as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
		as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
	fi
	rm -rf "$DATA"
	as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
	cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = ''
port = $PORT
unix_socket_directories = '$SOCK'
shared_preload_libraries = 'gdpr_crm'
max_prepared_transactions = 10
max_worker_processes = 16
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%a '
gdpr.database = 'postgres'
gdpr.retention_naptime = 1
EOF
	# suites may append settings (e.g. worker databases) before start
	if [ -n "${GDPR_EXTRA_CONF:-}" ]; then printf '%s\n' "$GDPR_EXTRA_CONF" >>"$DATA/postgresql.conf"; fi
	as_pg "$BIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 60 start >/dev/null
	log "cluster running on port $PORT (socket $SOCK, log $WORK/server.log)"
}

stop() {
	prepare_workdir
	as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
}

psql_() { "$SYS_BIN/psql" -X -v ON_ERROR_STOP=1 -q "$@"; }

# Sample databases, loaded once per run as templates; tests copy them with
# CREATE DATABASE x TEMPLATE chinook_tpl so each test starts pristine.
load_datasets() {
	log "loading Chinook and Northwind"
	psql_ -d postgres -c "CREATE DATABASE chinook_tpl" -c "CREATE DATABASE northwind_tpl"
	sed '1,/^\\c chinook;/d' "$DATASETS/chinook.sql" | psql_ -d chinook_tpl >/dev/null
	psql_ -d northwind_tpl -f "$DATASETS/northwind.sql" >/dev/null
	for db in chinook_tpl northwind_tpl; do
		psql_ -d $db -c "CREATE EXTENSION gdpr_crm CASCADE" -c "CREATE EXTENSION pgtap"
	done
}

# ---------------------------------------------------------------- test
PASS=0
FAIL=0
FAILED_NAMES=()
count_result() { # name ok|fail
	if [ "$2" = ok ]; then PASS=$((PASS + 1)); else
		FAIL=$((FAIL + 1))
		FAILED_NAMES+=("$1")
	fi
}

# Parse pg_regress / pg_isolation_regress output: one line per test.
# Every test named in $3 must have a verdict line: a test the runner never
# reported (missing expected file, aborted run) counts as failed.
count_regress_output() { # suite file "tests"
	local line name t
	local -A seen=()
	while IFS= read -r line; do
		if [[ $line =~ ^(test|ok|not\ ok|\ +)[[:space:]]*([A-Za-z0-9_]+)[[:space:]]+\.\.\.[[:space:]]+(ok|FAILED|failed) ]]; then
			name=${BASH_REMATCH[2]}
			seen[$name]=1
			if [ "${BASH_REMATCH[3]}" = ok ]; then count_result "$1/$name" ok; else count_result "$1/$name" fail; fi
		fi
	done <"$2"
	for t in $3; do
		[ -n "${seen[$t]:-}" ] || count_result "$1/$t (no result)" fail
	done
}

run_regress() {
	local tests
	tests=$(cd "$ROOT/sql" && ls *.sql 2>/dev/null | sed 's/\.sql$//' | sort | tr "\n" " " || true)
	[ -n "$tests" ] || return 0
	log "pg_regress: $tests"
	mkdir -p "$WORK/regress"
	set +e
	"$($PG_CONFIG --pgxs | xargs dirname)/../test/regress/pg_regress" \
		--inputdir="$ROOT" --outputdir="$WORK/regress" --bindir="$SYS_BIN" \
		--host="$PGHOST" --port="$PORT" --user=postgres --dbname=contrib_regression \
		--load-extension=pgcrypto --load-extension=gdpr_crm --load-extension=pgtap \
		$tests 2>&1 | tee "$WORK/regress/run.log"
	set -e
	count_regress_output regress "$WORK/regress/run.log" "$tests"
	[ -f "$WORK/regress/regression.diffs" ] && log "diffs: $WORK/regress/regression.diffs"
	return 0
}

run_isolation() {
	local tests
	tests=$(cd "$ROOT/test/isolation/specs" 2>/dev/null && ls *.spec 2>/dev/null | sed 's/\.spec$//' | sort | tr "\n" " " || true)
	[ -n "$tests" ] || return 0
	log "pg_isolation_regress: $tests"
	mkdir -p "$WORK/isolation"
	set +e
	"$($PG_CONFIG --pgxs | xargs dirname)/../test/isolation/pg_isolation_regress" \
		--inputdir="$ROOT/test/isolation" --outputdir="$WORK/isolation" --bindir="$SYS_BIN" \
		--host="$PGHOST" --port="$PORT" --user=postgres --dbname=isolation_regression \
		--load-extension=pgcrypto --load-extension=gdpr_crm \
		$tests 2>&1 | tee "$WORK/isolation/run.log"
	set -e
	count_regress_output isolation "$WORK/isolation/run.log" "$tests"
	[ -f "$WORK/isolation/regression.diffs" ] && log "diffs: $WORK/isolation/regression.diffs"
	return 0
}

run_pgtap() {
	local f db
	for f in "$ROOT"/test/pgtap/*.sql; do
		[ -e "$f" ] || continue
		db=pgtap_$(basename "$f" .sql)
		psql_ -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
		psql_ -d $db -c "CREATE EXTENSION gdpr_crm CASCADE" -c "CREATE EXTENSION pgtap"
		log "pgTAP: $(basename "$f")"
		if pg_prove -h "$PGHOST" -p "$PORT" -U postgres -d $db "$f"; then
			count_result "pgtap/$(basename "$f" .sql)" ok
		else
			count_result "pgtap/$(basename "$f" .sql)" fail
		fi
	done
}

# Shell-driven suites (crash, dump/restore, ...): each exits 0 on success.
run_scripts() {
	local f
	for f in "$ROOT"/test/scripts/*.sh; do
		[ -e "$f" ] || continue
		log "script: $(basename "$f")"
		if ROOT=$ROOT BIN=$BIN SYS_BIN=$SYS_BIN DATA=$DATA WORK=$WORK DATASETS=$DATASETS \
			bash "$f" >"$WORK/$(basename "$f").log" 2>&1; then
			count_result "script/$(basename "$f" .sh)" ok
		else
			count_result "script/$(basename "$f" .sh)" fail
			tail -n 30 "$WORK/$(basename "$f").log"
		fi
	done
}

cmd_test() {
	need_pkgs
	build
	start
	load_datasets
	run_regress
	run_isolation
	run_pgtap
	run_scripts
	[ "${GDPR_KEEP:-0}" = 1 ] || stop
	if [ ${#FAILED_NAMES[@]} -gt 0 ]; then
		echo "failed: ${FAILED_NAMES[*]}"
	fi
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" = 0 ] && [ "$PASS" -gt 0 ]
}

cmd_demo() {
	need_pkgs
	build
	start
	local f
	for f in "$ROOT"/demo/*.sql; do
		log "demo: $(basename "$f")"
		"$SYS_BIN/psql" -X -v ON_ERROR_STOP=1 -d postgres -v datasets="$DATASETS" -f "$f"
	done
	[ "${GDPR_KEEP:-0}" = 1 ] || stop
}

cmd_bench() {
	need_pkgs
	build
	start
	ROOT=$ROOT BIN=$BIN SYS_BIN=$SYS_BIN WORK=$WORK bash "$ROOT/bench/run.sh" "$@"
	[ "${GDPR_KEEP:-0}" = 1 ] || stop
}

case "${1:-}" in
deps) need_pkgs ;;
build) need_pkgs; build ;;
start) start ;;
stop) stop ;;
psql) shift; prepare_workdir; PGHOST=$SOCK; psql_ "$@" ;;
test) cmd_test ;;
demo) cmd_demo ;;
bench) shift; cmd_bench "$@" ;;
*) echo "usage: $0 deps|build|start|stop|psql|test|demo|bench" >&2; exit 2 ;;
esac
