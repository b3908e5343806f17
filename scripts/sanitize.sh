#!/usr/bin/env bash
# `make sanitize`: the whole test suite (regression, isolation, pgTAP, shell
# suites) against gdpr_crm built with AddressSanitizer + UndefinedBehavior-
# Sanitizer.  Fails when any suite fails or when a sanitizer reported
# anything.
#
# How: the project is copied to a scratch tree (so the instrumented objects
# never mix with an ordinary build), built there with COPT (PGXS adds it to
# CFLAGS and LDFLAGS) into a private copy of the server.  The server itself
# is not instrumented: the private copy's `postgres` becomes a small wrapper
# that LD_PRELOADs the ASan runtime and execs the real binary, so only the
# postmaster and its children carry the runtime (initdb, psql, pg_regress do
# not).  detect_leaks=0: PostgreSQL frees by memory context, not free(), and
# exits backends without freeing, so leak reports would be noise.
#
# Environment:
#   SAN_PORT     port of the sanitized cluster (default GDPR_PORT or 55499)
#   SAN_WORKDIR  scratch directory (default .tmp-sanitize/ in the project)
#   SAN_KEEP     1 = keep the scratch tree and the logs after success
#   SAN_FLAGS    compiler flags (default: address,undefined, no recovery)
#   SAN_SELFTEST 1 = add a deliberate heap overflow; the run must then FAIL
#                (proves that a report is caught)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGVER=${PGVER:-15}
SYS_BIN=/usr/lib/postgresql/$PGVER/bin
PORT=${SAN_PORT:-${GDPR_PORT:-55499}}
SWORK=${SAN_WORKDIR:-$ROOT/.tmp-sanitize}
DATASETS=${GDPR_DATASETS:-$ROOT/../shared/datasets}
DATASETS=$(cd "$DATASETS" && pwd)
SAN_FLAGS=${SAN_FLAGS:--fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -g}

log() { printf '\033[1m==> sanitize: %s\033[0m\n' "$*" >&2; }

bash "$ROOT/scripts/harness.sh" deps

# the ASan runtime that gcc links against
ASAN_LIB=$(gcc -print-file-name=libasan.so)
ASAN_LIB=$(readlink -f "$ASAN_LIB")
if [ ! -e "$ASAN_LIB" ]; then
	log "libasan not found; installing"
	apt-get update -qq && apt-get install -y -qq --no-install-recommends libasan8 libubsan1 >/dev/null
	ASAN_LIB=$(readlink -f "$(gcc -print-file-name=libasan.so)")
fi
log "ASan runtime: $ASAN_LIB"

# ---- a scratch copy of the project (tracked and untracked files, no build
# products, no clusters)
rm -rf "$SWORK"
mkdir -p "$SWORK/tree" "$SWORK/reports"
(cd "$ROOT" && tar --exclude=./.tmp --exclude='./.tmp-*' --exclude='*.o' --exclude='*.so' \
	--exclude='*.bc' --exclude=./test/fuzz/build -cf - .) | (cd "$SWORK/tree" && tar -xf -)
if [ "${SAN_SELFTEST:-0}" = 1 ]; then
	# prove the detector: a deliberate heap overflow that must be reported
	cat >"$SWORK/tree/src/zz_san_selftest.c" <<'EOF'
#include "postgres.h"
#include "fmgr.h"
#include <stdlib.h>
PG_FUNCTION_INFO_V1(gdpr_san_selftest);
Datum
gdpr_san_selftest(PG_FUNCTION_ARGS)
{
	volatile char *p = malloc(8);
	int			i = PG_GETARG_INT32(0);

	p[i] = 1;					/* i = 8: one past the end */
	free((void *) p);
	PG_RETURN_VOID();
}
EOF
	cat >"$SWORK/tree/sql/zz_san_selftest.sql" <<'EOF'
CREATE FUNCTION public.san_selftest(int) RETURNS void LANGUAGE c AS '$libdir/gdpr_crm', 'gdpr_san_selftest';
SELECT public.san_selftest(8);
EOF
	: >"$SWORK/tree/expected/zz_san_selftest.out"
fi
make -s -C "$SWORK/tree" clean PG_CONFIG=$SYS_BIN/pg_config >/dev/null 2>&1 || true

# ---- the private server copy, with `postgres` wrapped
INST=$SWORK/work/inst
BIN=$INST$SYS_BIN
mkdir -p "$INST/usr/lib/postgresql" "$INST/usr/share/postgresql"
cp -a /usr/lib/postgresql/$PGVER "$INST/usr/lib/postgresql/"
cp -a /usr/share/postgresql/$PGVER "$INST/usr/share/postgresql/"
# Preloading alone deadlocks: the constructors of libraries the server links
# (libp11-kit, libgpg-error, ...) call malloc while holding a glibc locale
# lock, ASan initialises lazily inside that malloc and calls dlerror(), which
# takes the same lock.  Copies of those libraries that list libasan as a
# dependency make the loader run ASan's constructor before theirs.
ASAN_SONAME=$(basename "$(gcc -print-file-name=libasan.so | xargs readlink)" 2>/dev/null || true)
[ -n "$ASAN_SONAME" ] || ASAN_SONAME=libasan.so.8
mkdir -p "$INST/asan-libs"
command -v patchelf >/dev/null || { apt-get update -qq; apt-get install -y -qq --no-install-recommends patchelf >/dev/null; }
ldd "$BIN/postgres" | awk '/=> \//{print $3}' | while read -r l; do
	b=$(basename "$l")
	case $b in libc.so* | libm.so* | libgcc_s.so* | ld-linux* | libasan*) continue ;; esac
	cp -L "$l" "$INST/asan-libs/$b"
	patchelf --add-needed "$ASAN_SONAME" "$INST/asan-libs/$b"
done
mv "$BIN/postgres" "$BIN/postgres.real"
cat >"$BIN/postgres" <<EOF
#!/bin/sh
# gdpr_crm sanitize.sh: the real server with the ASan runtime preloaded
LD_LIBRARY_PATH=$INST/asan-libs \\
LD_PRELOAD=$ASAN_LIB \\
ASAN_OPTIONS='detect_leaks=0:abort_on_error=1:log_path=$SWORK/reports/asan:detect_odr_violation=0:handle_segv=1' \\
UBSAN_OPTIONS='print_stacktrace=1:halt_on_error=1:log_path=$SWORK/reports/ubsan' \\
exec "$BIN/postgres.real" "\$@"
EOF
chmod 755 "$BIN/postgres"
chmod -R a+rX "$INST"
chmod 1777 "$SWORK/reports"
chmod a+rx "$SWORK"

# ---- build (COPT reaches CFLAGS and LDFLAGS in PGXS) and run every suite
log "building with: $SAN_FLAGS"
set +e
(
	cd "$SWORK/tree"
	export COPT="$SAN_FLAGS"
	export GDPR_PRIVATE=1 GDPR_PORT=$PORT GDPR_WORKDIR=$SWORK/work GDPR_DATASETS=$DATASETS
	bash scripts/harness.sh test
) 2>&1 | tee "$SWORK/test.log"
rc=${PIPESTATUS[0]}
set -e

# ---- the verdict: suites green, and no sanitizer report anywhere
reports=0
if compgen -G "$SWORK/reports/*" >/dev/null; then
	log "sanitizer reports:"
	for f in "$SWORK"/reports/*; do
		echo "---- $f"
		head -n 60 "$f"
	done
	reports=1
fi
for lf in "$SWORK"/work/server.log "$SWORK"/work/*.log; do
	[ -f "$lf" ] || continue
	if grep -nE 'ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer|terminated by signal 6' "$lf"; then
		log "sanitizer findings in $lf"
		reports=1
	fi
done
# the library really is instrumented (otherwise this run proves nothing)
so=$(find "$INST" -name gdpr_crm.so | head -n 1)
if [ "$(nm -D "$so" | grep -c __asan_report || true)" = 0 ]; then
	log "gdpr_crm.so is not instrumented ($so)"
	reports=1
fi

if [ "$rc" != 0 ] || [ "$reports" != 0 ]; then
	log "FAILED (suites rc=$rc, sanitizer reports=$reports); logs in $SWORK"
	exit 1
fi
log "clean: every suite passed with ASan+UBSan, no report"
[ "${SAN_KEEP:-0}" = 1 ] || rm -rf "$SWORK/tree" "$SWORK/work/inst"
