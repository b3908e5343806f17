#!/usr/bin/env bash
# Fuzz the pure C detectors (src/detectors.c) outside the server, with
# AddressSanitizer and UndefinedBehaviorSanitizer: random and mutated values
# in buffers of exactly their length, plus invariants between detectors.
# DISCOVER_FUZZ_ITERATIONS (default 100000).
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
INC=$(${SYS_BIN:-/usr/lib/postgresql/15/bin}/pg_config --includedir-server)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
gcc -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra \
	-Wno-unused-parameter -I"$INC" -I"$ROOT/src" \
	"$ROOT/test/detectors/fuzz_detectors.c" "$ROOT/src/detectors.c" -o "$OUT/fuzz"
"$OUT/fuzz" "${DISCOVER_FUZZ_ITERATIONS:-100000}" 42
