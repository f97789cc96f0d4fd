#!/usr/bin/env bash
# CI's portable-wait leg: bpfast built with BPFAST_PORTABLE_WAIT=1, so that
# the kernels' barrier sleeps on the portable path of bpfast/src/bp_compat.h
# (a parking lot of pthread mutexes and condition variables: what macOS
# before 14.4 and the other POSIX systems run) instead of Linux's futex, in a
# temporary copy of the repository. Then:
#
#   1. the module must say so (bpfast._kernels.WAIT);
#   2. the thread tests and the epoch team's tests run on it;
#   3. benchmarks/contention.py's busy cases (one and two spinning processes
#      beside it; --quick, three cases) against one thread and scikit-learn:
#      the table is printed for the log (a benchmark, not a test: the
#      targets are judged in the full run, docs/threads.md).
#
# Usage, with the virtual environment active and the test dependencies
# installed (as .ci/run leaves it):
#     bash .ci/portable-wait-tests.sh [pytest arguments]
# Builds the level this CPU loads (and the baseline) only.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"
start=$SECONDS
level="$("$PY" -c 'from bpfast import _dispatch; print(_dispatch.loaded["level"])')"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bpfast-portable-wait.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
copy_tree "$tmp"
build_in_copy "$tmp" "$tmp/build.log" BPFAST_PORTABLE_WAIT=1 BPFAST_LEVELS="$level"
echo "portable-wait leg: built in $((SECONDS - start)) s"

use_copy "$tmp"
"$PY" - "$tmp" <<'PYEOF'
import os, sys
import bpfast._kernels as k
where = os.path.realpath(k.__file__)
assert where.startswith(os.path.realpath(sys.argv[1])), f"wrong bpfast imported: {where}"
assert k.WAIT.startswith("portable"), f"{where} waits by {k.WAIT}"
print(f"portable-wait leg: {where} waits by {k.WAIT}")
PYEOF
if [ $# -eq 0 ]; then
    set -- tests/test_threads.py tests/kernels/test_epoch_team.py
fi
"$PY" -m pytest -q -p no:cacheprovider "$@"
t0=$SECONDS
"$PY" benchmarks/contention.py --quick --conditions 1-busy 2-busy \
    --cases iris-200 'mlp-20-32-2*' predict-64-100-10-1row --out-dir "$tmp/results"
echo "portable-wait leg: contention's busy cases in $((SECONDS - t0)) s"
echo "portable-wait leg: $((SECONDS - start)) s"
