#!/usr/bin/env bash
# Foundation ratios (issue 2), measured with pgbench in alternating rounds:
#   tagged_insert: INSERT throughput into a tagged customers table / into an
#                  identical untagged one (target >= 0.97)
#   audit_append:  audit appends (gdpr._audit, one transaction each) from 2
#                  concurrent clients / inserts of the same rows into an
#                  unchained plain table from 2 clients (target >= 0.8)
# Environment from bench/run.sh: BENCH_DB SYS_BIN WORK BENCH_SECONDS BENCH_ROUNDS.
set -euo pipefail

PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB")
TMP=$(mktemp -d "${WORK:-/tmp}/bench10.XXXXXX")
chmod a+rx "$TMP"
trap 'rm -rf "$TMP"' EXIT
SECS=${BENCH_SECONDS:-4}
ROUNDS=${BENCH_ROUNDS:-5}

"${PSQL[@]}" <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench10 CASCADE;
CREATE SCHEMA bench10;
CREATE TABLE bench10.customers_tagged (LIKE crm.customers INCLUDING DEFAULTS);
ALTER TABLE bench10.customers_tagged ADD PRIMARY KEY (customer_id);
CREATE TABLE bench10.customers_plain (LIKE crm.customers INCLUDING DEFAULTS);
ALTER TABLE bench10.customers_plain ADD PRIMARY KEY (customer_id);
CREATE SEQUENCE bench10.ids;
-- the unchained plain log: the audit log's columns, a bigserial id, no chain
CREATE TABLE bench10.plain_log (
    id bigserial PRIMARY KEY, at timestamptz NOT NULL, actor name NOT NULL, action text NOT NULL,
    subject_ref text, relation regclass, details jsonb, relation_name text);
SQL

# Tag the tagged table when the labels capability is installed.
tagged=$("${PSQL[@]}" -At <<'SQL'
SET client_min_messages = warning;
DO $$
BEGIN
    IF to_regprocedure('gdpr.tag_column(regclass,name,text[],text)') IS NULL THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM gdpr.purposes WHERE name = 'bench_levering') THEN
        PERFORM gdpr.define_purpose('bench_levering', 'contract');
        PERFORM gdpr.define_purpose('bench_nieuwsbrief', 'consent', interval '2 years');
    END IF;
    PERFORM gdpr.register_subject_table('bench10.customers_tagged', 'customer_id');
    PERFORM gdpr.set_retention_column('bench10.customers_tagged', 'last_active');
    PERFORM gdpr.tag_column('bench10.customers_tagged', 'first_name', ARRAY['bench_levering'], 'name');
    PERFORM gdpr.tag_column('bench10.customers_tagged', 'last_name', ARRAY['bench_levering'], 'name');
    PERFORM gdpr.tag_column('bench10.customers_tagged', 'email', ARRAY['bench_levering', 'bench_nieuwsbrief'], 'contact.email');
    PERFORM gdpr.tag_column('bench10.customers_tagged', 'phone', ARRAY['bench_levering'], 'contact.phone');
    PERFORM gdpr.tag_column('bench10.customers_tagged', 'birth_date', ARRAY['bench_levering'], 'demographic');
END;
$$;
SELECT count(*) FROM pg_seclabel WHERE provider = 'gdpr' AND objoid = 'bench10.customers_tagged'::regclass;
SQL
)
if [ "${tagged:-0}" = 0 ]; then
	echo "note: labels capability not installed: the 'tagged' table carries no tags"
else
	echo "tagged table carries $tagged gdpr labels"
fi

for t in tagged plain; do
	cat >"$TMP/insert_$t.sql" <<SQL
\\set r random(1, 1000000)
INSERT INTO bench10.customers_$t (customer_id, first_name, last_name, email, phone, birth_date, created_at, last_active)
VALUES (nextval('bench10.ids'), 'Jan', 'de Vries', 'klant' || :r || '@example.nl', '06' || lpad(:r::text, 8, '0'),
        date '1950-01-01' + :r % 20000, now(), now());
SQL
done
ref=$("${PSQL[@]}" -At -c "SELECT gdpr.subject_ref('crm.customers', 1)")
cat >"$TMP/append_audit.sql" <<SQL
\\set r random(1, 1000000)
BEGIN;
SELECT gdpr._audit('export', '$ref', 'crm.customers', jsonb_build_object('rows', :r::int, 'reason', 'bench'));
COMMIT;
SQL
cat >"$TMP/append_plain.sql" <<SQL
\\set r random(1, 1000000)
BEGIN;
INSERT INTO bench10.plain_log (at, actor, action, subject_ref, relation, details, relation_name)
VALUES (clock_timestamp(), current_user, 'export', '$ref', 'crm.customers', jsonb_build_object('rows', :r::int, 'reason', 'bench'), 'crm.customers');
COMMIT;
SQL

# transactions processed by one pgbench run
run() { # script clients
	"$SYS_BIN/pgbench" -n -M prepared -T "$SECS" -c "$2" -j "$2" -f "$TMP/$1.sql" "$BENCH_DB" 2>&1 |
		awk '/number of transactions actually processed/ { split($0, a, ": "); split(a[2], b, "/"); print b[1] }'
}

# Alternating rounds A B A B ...; the ratio is the median of the per-round
# ratios (robust against bursts of other load on the machine); the summed
# counts are shown too.
ratio() { # name target scriptA scriptB clients
	local a=0 b=0 i x y rs=()
	for i in $(seq 1 "$ROUNDS"); do
		x=$(run "$3" "$5"); y=$(run "$4" "$5")
		[ "${x:-0}" -gt 0 ] && [ "${y:-0}" -gt 0 ] || { echo "pgbench failed ($3: $x, $4: $y)" >&2; exit 1; }
		echo "  round $i: $3 $x, $4 $y transactions in ${SECS}s"
		a=$((a + x)); b=$((b + y))
		rs+=("$(awk -v a=$x -v b=$y 'BEGIN { printf "%.4f", a / b }')")
	done
	echo "  summed: $(awk -v a=$a -v b=$b 'BEGIN { printf "%.3f", a / b }')"
	echo "ratio $1: $(printf '%s\n' "${rs[@]}" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m }') (target >= $2)"
}

# One pgbench run that mixes both scripts at random (same clients, same
# moment, so machine noise hits both alike); the ratio of their average
# latencies is the ratio of their throughputs.
mixed() { # name target scriptA scriptB clients seconds
	local out la lb
	out=$("$SYS_BIN/pgbench" -n -M prepared -T "$6" -c "$5" -j "$5" -f "$TMP/$3.sql" -f "$TMP/$4.sql" "$BENCH_DB" 2>&1)
	la=$(awk '/^SQL script 1:/ { s = 1 } /^SQL script 2:/ { s = 2 } s == 1 && /latency average/ { print $5 }' <<<"$out")
	lb=$(awk '/^SQL script 1:/ { s = 1 } /^SQL script 2:/ { s = 2 } s == 2 && /latency average/ { print $5 }' <<<"$out")
	[ -n "$la" ] && [ -n "$lb" ] || { echo "$out" >&2; echo "pgbench failed" >&2; exit 1; }
	echo "  $3: $la ms, $4: $lb ms average latency ($5 clients, ${6}s, mixed)"
	echo "ratio $1: $(awk -v a="$la" -v b="$lb" 'BEGIN { printf "%.3f", b / a }') (target >= $2)"
}

# Two pgbench runs side by side, at the same moment (so machine noise hits
# both alike): A's clients contend only with each other for what A needs (the
# audit chain), B's likewise.  Repeated; the ratio is the median of the
# per-run ratios of processed transactions.
paired() { # name target scriptA scriptB clients
	local i x y rs=()
	for i in $(seq 1 "$ROUNDS"); do
		run "$3" "$5" >"$TMP/paired_a" &
		y=$(run "$4" "$5")
		wait
		x=$(cat "$TMP/paired_a")
		[ "${x:-0}" -gt 0 ] && [ "${y:-0}" -gt 0 ] || { echo "pgbench failed ($3: $x, $4: $y)" >&2; exit 1; }
		echo "  run $i (side by side): $3 $x, $4 $y transactions in ${SECS}s"
		rs+=("$(awk -v a=$x -v b=$y 'BEGIN { printf "%.4f", a / b }')")
	done
	echo "ratio $1: $(printf '%s\n' "${rs[@]}" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m }') (target >= $2)"
}

"${PSQL[@]}" -c "CHECKPOINT" -c "VACUUM ANALYZE bench10.customers_tagged, bench10.customers_plain"
mixed tagged_insert 0.97 insert_tagged insert_plain 2 $((SECS * ROUNDS * 2))
before=$("${PSQL[@]}" -At -c "SELECT count(*) FROM gdpr.audit_log")
# 2 clients appending audit entries (each its own transaction, contending
# for the chain) side by side with 2 clients inserting the same rows into the
# plain table.
# BENCH_AUDIT_MODE=alternate measures them in alternating rounds instead (no
# self-made CPU oversubscription, but exposed to outside load).
if [ "${BENCH_AUDIT_MODE:-paired}" = alternate ]; then
	ratio audit_append 0.8 append_audit append_plain 2
else
	paired audit_append 0.8 append_audit append_plain 2
fi
"${PSQL[@]}" -At -c "SELECT 'audit log: ' || (count(*) - $before) || ' entries appended, verify_audit ok = ' || (SELECT ok FROM gdpr.verify_audit()) FROM gdpr.audit_log"
