#!/usr/bin/env bash
# `make fuzz`: build the libFuzzer targets (build.sh) and run each for a
# bounded time.  Fails on any crash, sanitizer report, leak, timeout or
# broken parser contract (the harnesses abort on those).
#
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  which targets (default: labels token)
#
# Seeds are in corpus/<target>/; the growing corpus is kept in
# build/corpus-<target>/ between runs, crash inputs in build/.
# Reproduce a crash: test/fuzz/build/fuzz_<target> test/fuzz/build/crash-...
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${FUZZ_BUILD:-$HERE/build}
SECONDS_EACH=${FUZZ_SECONDS:-60}
export FUZZ_TARGETS=${FUZZ_TARGETS:-labels token}

bash "$HERE/build.sh"

ran=0
failed=0
for t in $FUZZ_TARGETS; do
	bin=$OUT/fuzz_$t
	if [ ! -x "$bin" ]; then
		echo "fuzz: $t not built (its source is not there yet), skipped"
		continue
	fi
	mkdir -p "$OUT/corpus-$t"
	dict=()
	[ -f "$HERE/$t.dict" ] && dict=(-dict="$HERE/$t.dict")
	echo "fuzz: $t for ${SECONDS_EACH}s"
	if "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-detect_leaks=1 -print_final_stats=1 -artifact_prefix="$OUT/" "${dict[@]}" \
		"$OUT/corpus-$t" "$HERE/corpus/$t" >"$OUT/$t.log" 2>&1; then
		echo "fuzz: $t ok: $(grep -E '^stat::number_of_executed_units' "$OUT/$t.log" | awk '{print $2}') inputs, corpus $(ls "$OUT/corpus-$t" | wc -l)"
		ran=$((ran + 1))
	else
		echo "fuzz: $t FAILED"
		grep -E 'contract violated|ERROR: |SUMMARY|runtime error|Test unit written' "$OUT/$t.log" | head -n 20
		failed=$((failed + 1))
	fi
done
echo "fuzz: $ran passed, $failed failed"
[ "$failed" = 0 ] && [ "$ran" -gt 0 ]
