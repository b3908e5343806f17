#!/usr/bin/env bash
# Bench: consent-checked purpose views (issue 3).
#   1,000,000 customers, 40% consenting to "marketing".
#   - full scan (count + aggregates over the view's columns): purpose view vs
#     the base table, and a naive plain-SQL EXISTS view over a consent table;
#   - point lookups by primary key (pgbench, prepared): the same three.
# Prints the ratios.  Needs a running cluster (PGHOST/PGPORT, as `make bench`
# or scripts/harness.sh provide) with gdpr_crm installable.
#   CONSENT_BENCH_CUSTOMERS (default 1000000), BENCH_SECONDS (pgbench duration, 10),
#   BENCH_ROUNDS (pgbench rounds per variant, 3),
#   BENCH_SCANS (timed scans per variant, 7), BENCH_REUSE=1 (keep an existing
#   bench_consent database), BENCH_KEEP=1 (do not drop it afterwards)
set -euo pipefail
SYS_BIN=${SYS_BIN:-/usr/lib/postgresql/15/bin}
# its own size: the issue's 1,000,000 customers, whatever bench/run.sh uses
N=${CONSENT_BENCH_CUSTOMERS:-1000000}
SECS=${BENCH_SECONDS:-10}
SCANS=${BENCH_SCANS:-7}
DB=bench_consent
PSQL="$SYS_BIN/psql -X -q -v ON_ERROR_STOP=1"
PGBENCH="$SYS_BIN/pgbench"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [ "${BENCH_REUSE:-0}" = 1 ] && $PSQL -d $DB -c 'SELECT 1' >/dev/null 2>&1; then
	echo "== reusing database $DB" >&2
else
$PSQL -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
echo "== generating $N customers (40% consent to marketing)" >&2
$PSQL -d $DB <<SQL
CREATE EXTENSION gdpr_crm CASCADE;
CREATE TABLE customers (
    id integer PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text NOT NULL,
    phone text,
    city text,
    country text,
    created_at timestamptz NOT NULL,
    lifetime_value numeric(10,2) NOT NULL
);
INSERT INTO customers
SELECT i, 'Voornaam' || (i % 997), 'Achternaam' || (i % 4999),
       'klant' || i || '@example.nl', '06-' || lpad((i::bigint * 7919 % 100000000)::text, 8, '0'),
       (ARRAY['Amsterdam','Rotterdam','Utrecht','Den Haag','Eindhoven'])[1 + i % 5], 'NL',
       timestamptz '2020-01-01' + (i % 1500) * interval '1 day',
       (i % 10000) / 7.0
  FROM generate_series(1, $N) i;
SELECT gdpr.define_purpose('marketing', 'consent', NULL, 'newsletter', '2 years');
SELECT gdpr.define_purpose('delivery', 'contract');
SECURITY LABEL FOR gdpr ON TABLE customers IS 'SUBJECT KEY (id)';
SECURITY LABEL FOR gdpr ON COLUMN customers.email IS 'PURPOSE marketing, delivery CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON COLUMN customers.first_name IS 'PURPOSE marketing, delivery CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN customers.last_name IS 'PURPOSE delivery CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN customers.phone IS 'PURPOSE delivery CATEGORY contact.phone';
-- 40% consent.  Bulk-loaded as the same events grant_consent() records
-- (one grant_consent call per customer would also write 400k audit entries).
INSERT INTO gdpr.consent_event (subject, subject_name, subject_key, purpose, action, method, source, actor)
SELECT 'customers'::regclass, 'public.customers', id::text, 'marketing', 'grant', 'checkbox', 'bench', current_user
  FROM customers WHERE id % 5 < 2;
-- the real thing for one more customer, to be sure the API path works here
SELECT gdpr.grant_consent('customers', 3, 'marketing', 'double_opt_in') > 0 AS granted;
SELECT gdpr.create_purpose_view('customers', 'marketing');

-- the naive alternative: a consent table and a plain SQL EXISTS view
CREATE TABLE consent_naive (
    customer_id integer NOT NULL REFERENCES customers,
    purpose text NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    withdrawn_at timestamptz,
    PRIMARY KEY (customer_id, purpose)
);
INSERT INTO consent_naive (customer_id, purpose)
SELECT id, 'marketing' FROM customers WHERE id % 5 < 2 OR id = 3;
CREATE VIEW customers_marketing_exists WITH (security_barrier) AS
SELECT c.id, c.first_name, c.email, c.city, c.country, c.created_at, c.lifetime_value
  FROM customers c
 WHERE EXISTS (SELECT 1 FROM consent_naive n
                WHERE n.customer_id = c.id AND n.purpose = 'marketing'
                  AND n.withdrawn_at IS NULL);
VACUUM ANALYZE;
SQL
fi

# sanity: the three agree on who is in
$PSQL -d $DB -At -c "SELECT (SELECT count(*) FROM customers_marketing) = (SELECT count(*) FROM customers_marketing_exists)" | grep -qx t \
	|| { echo "purpose view and EXISTS view disagree" >&2; exit 1; }

AGG='count(*), sum(length(email)), sum(length(first_name)), avg(lifetime_value), max(created_at)'
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Full scans, in one session (the consent cache is per backend: built once,
# by the warm-up, as in any pooled connection).  Rounds interleave the three
# variants so load changes hit all of them alike.  $1: max_parallel_workers_per_gather
scans() {
	{
		echo "SET max_parallel_workers_per_gather = $1;"
		echo "SELECT $AGG FROM customers_marketing;"  # warm-up: builds the cache
		echo "SELECT $AGG FROM customers_marketing_exists;"
		echo "SELECT $AGG FROM customers;"
		echo '\timing on'
		for i in $(seq "$SCANS"); do
			echo '\echo base'
			echo "SELECT $AGG FROM customers;"
			echo '\echo view'
			echo "SELECT $AGG FROM customers_marketing;"
			echo '\echo naive'
			echo "SELECT $AGG FROM customers_marketing_exists;"
			echo '\echo check'
			echo "SELECT $AGG, count(*) FILTER (WHERE gdpr.may_process('customers', id, 'marketing')) FROM customers;"
		done
	} | $PSQL -d $DB -At >"$TMP/scans.out"
	for v in base view naive check; do
		awk -v v="$v" '$0 == v {want = 1; next} want && /^Time:/ {print $2; want = 0}' "$TMP/scans.out" | median
	done
}

# Point lookups by primary key with pgbench (prepared, one client): the
# three scripts interleaved at random in one run (one connection, the same
# moments), so a busy host slows all three alike.  The latency log gives
# each script's steady rate without its first transaction (which, for the
# view, builds the backend's consent cache: reported separately).
lookups() { # -> "base_tps view_tps naive_tps view_first_ms"
	local rel
	rm -f "$TMP"/pgbench_log.*
	for rel in customers customers_marketing customers_marketing_exists; do
		printf '\\set id random(1, %d)\nSELECT * FROM %s WHERE id = :id;\n' "$N" "$rel" >"$TMP/point_$rel.sql"
	done
	(cd "$TMP" && $PGBENCH -n -M prepared -c 1 -j 1 -T "$((3 * SECS))" -l \
		-f "$TMP/point_customers.sql" -f "$TMP/point_customers_marketing.sql" \
		-f "$TMP/point_customers_marketing_exists.sql" $DB >/dev/null 2>&1)
	# log line: client transaction_no latency_us script_no epoch epoch_us
	cat "$TMP"/pgbench_log.* | awk '
		{ s = $4; if (!(s in seen)) { seen[s] = 1; first[s] = $3; next } n[s]++; us[s] += $3 }
		END { printf "%.0f %.0f %.0f %.1f\n", n[0] / (us[0] / 1e6), n[1] / (us[1] / 1e6),
		      n[2] / (us[2] / 1e6), first[1] / 1000 }'
}

echo "== full scans ($SCANS rounds, median)" >&2
set -- $(scans 0)
base=$1 view=$2 naive=$3 check=$4
set -- $(scans 2)
pbase=$1 pview=$2 pnaive=$3 pcheck=$4
echo "== point lookups (pgbench -M prepared, the three interleaved, $((3 * SECS))s per round, ${BENCH_ROUNDS:-3} rounds, median)" >&2
ROUNDS=${BENCH_ROUNDS:-3}
: >"$TMP/tps"
for r in $(seq "$ROUNDS"); do
	lookups >>"$TMP/tps"
done
tbase=$(awk '{print $1}' "$TMP/tps" | median)
tview=$(awk '{print $2}' "$TMP/tps" | median)
tnaive=$(awk '{print $3}' "$TMP/tps" | median)
fview=$(awk '{print $4}' "$TMP/tps" | median)
rview=$(awk '{printf "%.4f\n", $2 / $1}' "$TMP/tps" | median)
rnaive=$(awk '{printf "%.4f\n", $3 / $1}' "$TMP/tps" | median)
build=$($PSQL -d $DB -At -c '\timing on' -c "SELECT gdpr.has_consent('customers', 1, 'marketing')" | awk '/^Time:/ {print $2}')

cat <<OUT
consent bench: $N customers, 40% consent to marketing (load average: $(cut -d' ' -f1-3 /proc/loadavg))
  full scan, serial       base ${base} ms | purpose view ${view} ms | EXISTS view ${naive} ms
                          purpose view / base = $(ratio "$view" "$base")x (target <= 1.5)   EXISTS / base = $(ratio "$naive" "$base")x
  the check on every row  base + may_process() for all $N rows: ${check} ms = $(ratio "$check" "$base")x serial, ${pcheck} ms = $(ratio "$pcheck" "$pbase")x with 2 workers
  full scan, 2 workers    base ${pbase} ms | purpose view ${pview} ms | EXISTS view ${pnaive} ms
                          purpose view / base = $(ratio "$pview" "$pbase")x (target <= 1.5)   EXISTS / base = $(ratio "$pnaive" "$pbase")x
  point lookup (tps)      base ${tbase} | purpose view ${tview} | EXISTS view ${tnaive}
                          purpose view / base = $(ratio "$tview" "$tbase")x (target >= 0.95)  EXISTS / base = $(ratio "$tnaive" "$tbase")x
  consent cache build (once per backend after a consent change): ${build} ms (first view lookup took ${fview} ms)
ratio consent_view_scan_speed (base time / view time, i.e. view <= 1.5x): $(awk -v a="$base" -v b="$view" 'BEGIN {printf "%.3f", a / b}') (target >= 0.667)
ratio consent_view_scan_speed_parallel: $(awk -v a="$pbase" -v b="$pview" 'BEGIN {printf "%.3f", a / b}') (target >= 0.667)
ratio consent_view_lookup_tps: $(awk -v r="$rview" 'BEGIN {printf "%.3f", r}') (target >= 0.95)
ratio consent_exists_view_scan_speed (reference): $(awk -v a="$base" -v b="$naive" 'BEGIN {printf "%.3f", a / b}')
ratio consent_exists_view_lookup_tps (reference): $(awk -v r="$rnaive" 'BEGIN {printf "%.3f", r}')
OUT
if [ "${BENCH_KEEP:-0}" != 1 ]; then
	$PSQL -d postgres -c "DROP DATABASE $DB"
fi
