#!/usr/bin/env bash
# gdpr_crm benchmarks: runs every bench/NN_*.sh against the cluster that
# scripts/harness.sh started (`make bench`), in one database made here with a
# generated CRM (bench/gen_crm.sql).  Each script prints lines
#   ratio <name>: <x> (target >= <t>)
# and this runner repeats them in a summary.  Ratios compare two workloads
# measured in the same run, alternating, so machine noise hits both alike.
#
# Environment: PGHOST PGPORT PGUSER (the cluster), SYS_BIN, ROOT, WORK.
#   BENCH_CUSTOMERS  customers in the generated CRM (default 20000)
#   BENCH_SECONDS    seconds per measured round (default 4)
#   BENCH_ROUNDS     rounds per workload, alternating (default 5)
#   BENCH_ONLY       run only scripts whose name contains this
set -euo pipefail

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SYS_BIN=${SYS_BIN:-/usr/lib/postgresql/15/bin}
WORK=${WORK:-$ROOT/.tmp}
export ROOT SYS_BIN WORK
export BENCH_DB=${BENCH_DB:-gdpr_bench}
export BENCH_CUSTOMERS=${BENCH_CUSTOMERS:-20000}
export BENCH_SECONDS=${BENCH_SECONDS:-4}
export BENCH_ROUNDS=${BENCH_ROUNDS:-5}
PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1)

echo "==> bench database $BENCH_DB with $BENCH_CUSTOMERS customers"
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $BENCH_DB" -c "CREATE DATABASE $BENCH_DB"
"${PSQL[@]}" -d "$BENCH_DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS gdpr_crm CASCADE"
"${PSQL[@]}" -d "$BENCH_DB" -v n="$BENCH_CUSTOMERS" -f "$ROOT/bench/gen_crm.sql"

results=()
for f in "$ROOT"/bench/[0-9][0-9]_*.sh; do
	[ -e "$f" ] || continue
	if [ -n "${BENCH_ONLY:-}" ] && [[ $(basename "$f") != *"$BENCH_ONLY"* ]]; then continue; fi
	echo "==> $(basename "$f")"
	out=$(bash "$f" 2>&1) || { echo "$out"; echo "bench $(basename "$f") failed" >&2; exit 1; }
	echo "$out"
	while IFS= read -r line; do results+=("$line"); done < <(grep '^ratio ' <<<"$out" || true)
done

echo
echo "==> summary"
below=0
for r in "${results[@]}"; do
	if [[ $r =~ ^ratio\ .*:\ ([0-9.]+)\ \(target\ \>=\ ([0-9.]+)\) ]]; then
		if awk -v x="${BASH_REMATCH[1]}" -v t="${BASH_REMATCH[2]}" 'BEGIN { exit !(x < t) }'; then
			echo "$r  BELOW TARGET"
			below=$((below + 1))
		else
			echo "$r"
		fi
	else
		echo "$r"
	fi
done
echo "${#results[@]} ratios, $below below target"
