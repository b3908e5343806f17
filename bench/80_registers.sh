#!/usr/bin/env bash
# Bench: the registers capability against hand-written SQL on the same data.
#   export:   gdpr.export_subject of a random customer (3 orders, 6 lines,
#             purposes, recipients, consents, audit entry) vs one hand-written
#             jsonb query of the same rows: ratio of average latencies in one
#             mixed pgbench run (target >= 0.2)
#   estimate: gdpr.estimate_affected_subjects over the order lines vs the
#             plain count(DISTINCT) through the joins (target >= 0.5)
# Runs against the cluster of PGHOST/PGPORT (bench/run.sh or by hand:
#   PGHOST=/path PGPORT=5432 bash bench/80_registers.sh).
set -euo pipefail
SYS_BIN=${SYS_BIN:-/usr/lib/postgresql/15/bin}
export PGUSER=${PGUSER:-postgres}
DB=bench_registers
N=${BENCH_REGISTERS_CUSTOMERS:-20000}
SECS=${BENCH_SECONDS:-2}
ROUNDS=${BENCH_ROUNDS:-9}
psqlq() { "$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

psqlq -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psqlq -d $DB >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
SELECT FROM gdpr.define_purpose('bench_service', 'contract');
SELECT FROM gdpr.define_purpose('bench_mail', 'consent', '2 years', NULL, '2 years');
CREATE SCHEMA g;
CREATE TABLE g.customer (id int PRIMARY KEY, name text, email text);
CREATE TABLE g.orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES g.customer, at timestamptz, total numeric);
CREATE INDEX ON g.orders (customer_id);
CREATE TABLE g.line (order_id int NOT NULL REFERENCES g.orders, n int, product text, PRIMARY KEY (order_id, n));
SECURITY LABEL FOR gdpr ON TABLE g.customer IS 'SUBJECT KEY (id)';
SECURITY LABEL FOR gdpr ON COLUMN g.customer.name IS 'PURPOSE bench_service CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN g.customer.email IS 'PURPOSE bench_service, bench_mail CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON COLUMN g.orders.total IS 'PURPOSE bench_service CATEGORY financial';
INSERT INTO g.customer SELECT i, 'name ' || i, i || '@example.org' FROM generate_series(1, $N) i;
INSERT INTO g.orders SELECT c * 3 + k, c, now(), k FROM generate_series(1, $N) c, generate_series(0, 2) k;
INSERT INTO g.line SELECT id, l, 'p' FROM g.orders, generate_series(1, 2) l;
SELECT FROM gdpr.register_processor('Host', 'NL', current_date - 10, NULL, '{bench_service}');
SELECT FROM gdpr.register_processor('Mail', 'US', current_date - 10, NULL, '{bench_mail}');
VACUUM ANALYZE;
SQL

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cat >"$W/export_gdpr.sql" <<SQL
\\set id random(1, $N)
SELECT length(gdpr.export_subject('g.customer', :id)::text);
SQL
cat >"$W/export_plain.sql" <<SQL
\\set id random(1, $N)
SELECT length(jsonb_build_object(
    'g.customer', (SELECT jsonb_agg(to_jsonb(c)) FROM g.customer c WHERE c.id = :id),
    'g.orders', (SELECT jsonb_agg(to_jsonb(o) ORDER BY o.id) FROM g.orders o WHERE o.customer_id = :id),
    'g.line', (SELECT jsonb_agg(to_jsonb(l) ORDER BY l.order_id, l.n) FROM g.line l
                 JOIN g.orders o ON o.id = l.order_id WHERE o.customer_id = :id))::text);
SQL
cat >"$W/estimate_gdpr.sql" <<'SQL'
SELECT gdpr.estimate_affected_subjects('{g.line}');
SQL
cat >"$W/estimate_plain.sql" <<'SQL'
SELECT count(DISTINCT c.id) FROM g.line l JOIN g.orders o ON o.id = l.order_id JOIN g.customer c ON c.id = o.customer_id;
SQL

# the export is what it claims: same rows as the hand-written query
same=$(psqlq -At -d $DB -c "SELECT (SELECT jsonb_array_length(gdpr.export_subject('g.customer', 77)->'data'->'g.line'))
                                  = (SELECT count(*) FROM g.line l JOIN g.orders o ON o.id = l.order_id WHERE o.customer_id = 77)")
[ "$same" = t ] || { echo "export and plain SQL disagree" >&2; exit 1; }
est=$(psqlq -At -d $DB -f "$W/estimate_gdpr.sql"); pl=$(psqlq -At -d $DB -f "$W/estimate_plain.sql")
[ "$est" = "$pl" ] || { echo "estimate $est differs from plain count $pl" >&2; exit 1; }

mixed() { # name target scriptA scriptB clients seconds
	local out la lb
	out=$("$SYS_BIN/pgbench" -n -T "$6" -c "$5" -j "$5" -f "$W/$3.sql" -f "$W/$4.sql" $DB 2>&1)
	la=$(awk '/^SQL script 1:/ { s = 1 } /^SQL script 2:/ { s = 2 } s == 1 && /latency average/ { print $5 }' <<<"$out")
	lb=$(awk '/^SQL script 1:/ { s = 1 } /^SQL script 2:/ { s = 2 } s == 2 && /latency average/ { print $5 }' <<<"$out")
	[ -n "$la" ] && [ -n "$lb" ] || { echo "$out" >&2; echo "pgbench failed" >&2; exit 1; }
	echo "  $3: $la ms, $4: $lb ms average latency ($5 clients, ${6}s, mixed)"
	echo "ratio $1: $(awk -v a="$la" -v b="$lb" 'BEGIN { printf "%.3f", b / a }') (target >= $2)"
}
mixed export 0.2 export_gdpr export_plain 1 $((SECS * ROUNDS))
mixed estimate 0.5 estimate_gdpr estimate_plain 1 $((SECS * 3))
[ -n "${BENCH_KEEP:-}" ] || psqlq -d postgres -c "DROP DATABASE $DB"
