#!/usr/bin/env bash
# Retention expiry throughput (issue 5): gdpr.expire() removing 500,000
# expired orders with their 1,000,000 order lines (audit entry included)
# against a plain DELETE of the same rows on an identical copy (ON DELETE
# CASCADE to the lines).  Both copies hold the same 100,000 running orders
# that must stay.  Target: expire throughput >= 0.87x the plain DELETE.
#
# Environment: PGHOST PGPORT PGUSER, SYS_BIN, BENCH_DB (see bench/run.sh)
#   BENCH_EXPIRE_ROWS  expired orders (default 500000)
#   BENCH_EXPIRE_ROUNDS rounds, each on fresh copies (default 3; best of each)
set -euo pipefail

SYS_BIN=${SYS_BIN:-/usr/lib/postgresql/15/bin}
DB=${BENCH_DB:-gdpr_bench}
N=${BENCH_EXPIRE_ROWS:-500000}
ROUNDS=${BENCH_EXPIRE_ROUNDS:-3}
PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$DB")

"${PSQL[@]}" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS gdpr_crm CASCADE" >/dev/null
"${PSQL[@]}" -c "SELECT gdpr.define_purpose('bench_expire_marketing', 'consent', '1 year')" >/dev/null

build() { # schema labelled(0/1)
	"${PSQL[@]}" <<SQL >/dev/null
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS $1 CASCADE;
CREATE SCHEMA $1;
CREATE TABLE $1.orders (id int PRIMARY KEY, placed_at date NOT NULL, email text, name text, total numeric);
CREATE TABLE $1.order_line (order_id int NOT NULL REFERENCES $1.orders ON DELETE CASCADE,
                            n int, product text, price numeric, PRIMARY KEY (order_id, n));
INSERT INTO $1.orders
  SELECT g, CASE WHEN g <= $N THEN date '2001-01-01' + (g % 3000) ELSE date '2999-01-01' END,
         'customer' || g || '@example.org', 'Name ' || g, g % 1000
    FROM generate_series(1, $N + 100000) g;
INSERT INTO $1.order_line
  SELECT g, n, 'product ' || (g % 500), 9.95 FROM generate_series(1, $N + 100000) g, generate_series(1, 2) n;
VACUUM ANALYZE $1.orders;
VACUUM ANALYZE $1.order_line;
SQL
	if [ "$2" = 1 ]; then
		"${PSQL[@]}" <<SQL >/dev/null
SECURITY LABEL FOR gdpr ON TABLE $1.orders IS 'RETAIN FROM placed_at';
SECURITY LABEL FOR gdpr ON COLUMN $1.orders.email IS 'PURPOSE bench_expire_marketing';
SECURITY LABEL FOR gdpr ON COLUMN $1.orders.name IS 'PURPOSE bench_expire_marketing';
SQL
	fi
}

now() { date +%s.%N; }

measure_expire() {
	local t0 t1
	t0=$(now)
	out=$("${PSQL[@]}" -c "SELECT string_agg(relation || ' ' || action || ' ' || rows, ', ' ORDER BY relation::text, action) FROM gdpr.expire()")
	t1=$(now)
	t_exp=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}
measure_delete() {
	local t0 t1
	t0=$(now)
	deleted=$("${PSQL[@]}" -c "WITH d AS (DELETE FROM bench_exp_b.orders WHERE placed_at < now() - interval '1 year' RETURNING 1) SELECT count(*) FROM d")
	t1=$(now)
	t_del=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# The machine is shared and noisy: several rounds on fresh copies, the
# order alternating, and the best time of each side compared.
best_exp=999999
best_del=999999
for round in $(seq 1 "$ROUNDS"); do
	# the copy built last is the one in shared buffers: it is also the one
	# measured first, alternating between the two
	if [ $((round % 2)) = 1 ]; then
		build bench_exp_b 0
		build bench_exp_a 1
	else
		build bench_exp_a 1
		build bench_exp_b 0
	fi
	"${PSQL[@]}" -c "CHECKPOINT" >/dev/null
	if [ $((round % 2)) = 1 ]; then
		measure_expire; "${PSQL[@]}" -c "CHECKPOINT" >/dev/null; measure_delete
	else
		measure_delete; "${PSQL[@]}" -c "CHECKPOINT" >/dev/null; measure_expire
	fi

	left_a=$("${PSQL[@]}" -c "SELECT (SELECT count(*) FROM bench_exp_a.orders) || '/' || (SELECT count(*) FROM bench_exp_a.order_line)")
	left_b=$("${PSQL[@]}" -c "SELECT (SELECT count(*) FROM bench_exp_b.orders) || '/' || (SELECT count(*) FROM bench_exp_b.order_line)")
	[ "$left_a" = "$left_b" ] || { echo "copies differ after the run: expire left $left_a, DELETE left $left_b" >&2; exit 1; }
	[ "$deleted" = "$N" ] || { echo "plain DELETE removed $deleted rows, expected $N" >&2; exit 1; }

	echo "round $round: gdpr.expire() ${t_exp}s ($out), plain DELETE ${t_del}s; left orders/lines $left_a"
	best_exp=$(awk -v a="$best_exp" -v b="$t_exp" 'BEGIN { print (b < a) ? b : a }')
	best_del=$(awk -v a="$best_del" -v b="$t_del" 'BEGIN { print (b < a) ? b : a }')
done
best_ratio=$(awk -v e="$best_exp" -v d="$best_del" 'BEGIN { printf "%.2f", d / e }')
echo "best: gdpr.expire() ${best_exp}s, plain DELETE ${best_del}s for $N orders + $((2 * N)) lines"

audits=$("${PSQL[@]}" -c "SELECT count(*) FROM gdpr.audit_log WHERE action = 'expire' AND relation = 'bench_exp_a.orders'::regclass")
echo "audit entries for the expiry: $audits (one per batch, not per row)"
"${PSQL[@]}" -c "SET client_min_messages = warning" -c "DROP SCHEMA bench_exp_a CASCADE" -c "DROP SCHEMA bench_exp_b CASCADE" >/dev/null
"${PSQL[@]}" -c "SELECT gdpr.drop_purpose('bench_expire_marketing')" >/dev/null
echo "ratio expire_vs_delete: $best_ratio (target >= 0.87)"
