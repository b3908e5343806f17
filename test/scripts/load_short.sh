#!/usr/bin/env bash
# The shortened form of `make load` (test/load/run.sh) inside `make test`:
# the same pgbench mix and checks, for LOAD_SHORT_SECONDS (default 20).
set -euo pipefail
LOAD_SECONDS=${LOAD_SHORT_SECONDS:-20} bash "$ROOT/test/load/run.sh"
