#!/usr/bin/env bash
# Bench: consent-checked purpose views (issue 3).
#   1,000,000 customers, 40% consenting to "marketing".
#   - full scan (count + aggregates over the view's columns): purpose view vs
#     the base table, and a naive plain-SQL EXISTS view over a consent table;
#   - point lookups by primary key (pgbench, prepared): the same three.
# Prints the ratios.  Needs a running cluster (PGHOST/PGPORT, as `make bench`
# or scripts/harness.sh provide) with gdpr_crm installable.
#   BENCH_CUSTOMERS (default 1000000), BENCH_SECONDS (pgbench duration, 10),
#   BENCH_SCANS (timed scans per variant, 7)
set -euo pipefail
SYS_BIN=${SYS_BIN:-/usr/lib/postgresql/15/bin}
N=${BENCH_CUSTOMERS:-1000000}
SECS=${BENCH_SECONDS:-10}
SCANS=${BENCH_SCANS:-7}
DB=bench_consent
PSQL="$SYS_BIN/psql -X -q -v ON_ERROR_STOP=1"
PGBENCH="$SYS_BIN/pgbench"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

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

# sanity: the three agree on who is in
$PSQL -d $DB -At -c "SELECT (SELECT count(*) FROM customers_marketing) = (SELECT count(*) FROM customers_marketing_exists)" | grep -qx t \
	|| { echo "purpose view and EXISTS view disagree" >&2; exit 1; }

AGG='count(*), count(email), sum(length(first_name)), avg(lifetime_value), max(created_at), count(DISTINCT city)'
scan() { # relation [where] -> median ms of $SCANS runs after one warm-up
	local rel=$1 where=${2:-}
	echo "SELECT $AGG FROM $rel $where;" >"$TMP/scan.sql"
	$PGBENCH -n -t 1 -f "$TMP/scan.sql" $DB >/dev/null 2>&1
	for i in $(seq "$SCANS"); do
		$PGBENCH -n -t 1 -r -f "$TMP/scan.sql" $DB 2>/dev/null | awk '/latency average/ {print $4}'
	done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
lookup() { # relation -> tps
	printf '\\set id random(1, %d)\nSELECT * FROM %s WHERE id = :id;\n' "$N" "$1" >"$TMP/point.sql"
	$PGBENCH -n -M prepared -c 1 -j 1 -T 2 -f "$TMP/point.sql" $DB >/dev/null 2>&1
	$PGBENCH -n -M prepared -c 1 -j 1 -T "$SECS" -f "$TMP/point.sql" $DB 2>/dev/null |
		awk '/^tps/ {print $3; exit}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo "== full scans ($SCANS runs each, median)" >&2
base=$(scan customers)
view=$(scan customers_marketing)
naive=$(scan customers_marketing_exists)
# the same scan restricted by a per-row consent check written by hand
echo "== point lookups (pgbench -M prepared, ${SECS}s each)" >&2
tbase=$(lookup customers)
tview=$(lookup customers_marketing)
tnaive=$(lookup customers_marketing_exists)

cat <<OUT
consent bench: $N customers, 40% consent to marketing
  full scan   base table ${base} ms | purpose view ${view} ms | EXISTS view ${naive} ms
              purpose view / base = $(ratio "$view" "$base")x (target <= 1.5)   EXISTS view / base = $(ratio "$naive" "$base")x
  point lookup base table ${tbase} tps | purpose view ${tview} tps | EXISTS view ${tnaive} tps
              purpose view / base = $(ratio "$tview" "$tbase")x (target >= 0.95)  EXISTS view / base = $(ratio "$tnaive" "$tbase")x
OUT
if [ "${BENCH_KEEP:-0}" != 1 ]; then
	$PSQL -d postgres -c "DROP DATABASE $DB"
fi
