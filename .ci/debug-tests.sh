#!/usr/bin/env bash
# The test suite against a DEBUG build of bpfast (BPFAST_DEBUG=1: -O0 -g,
# Cython bounds / initialisation / None checks on; the kernels' own layout
# and index checks run in every build), built into a temporary copy of the repository so
# the release build in the work tree is neither touched nor imported. A debug
# build makes the kernels' baseline level only (setup.py: BPFAST_LEVELS for
# more), which every CPU runs; the release legs cover the others.
#
# Usage, with the virtual environment active and the test dependencies
# installed (as .ci/run leaves it):
#     bash .ci/debug-tests.sh [extra pytest arguments]
# Cython and setuptools are installed into the environment if missing (the
# release install builds in an isolated environment, so they may not be).
set -euo pipefail

# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bpfast-debug.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# 1. a copy of the sources
copy_tree "$tmp"

# 2. the debug build, in place in the copy
build_in_copy "$tmp" "$tmp/build.log" BPFAST_DEBUG=1

# 3. the tests, from the copy, with the copy first on the path
use_copy "$tmp"
"$PY" - "$tmp" <<'PYEOF'
import os, sys
import bpfast._kernels as k
where = os.path.realpath(k.__file__)
assert k.DEBUG_BUILD, f"not a debug build: {where}"
assert where.startswith(os.path.realpath(sys.argv[1])), f"wrong bpfast imported: {where}"
print(f"debug build: {where}")
PYEOF
# the -O0 build is slower: half the generated cases (override by exporting them)
export BPFAST_HYPOTHESIS_SCALE="${BPFAST_HYPOTHESIS_SCALE:-0.5}"
export BPFAST_FUZZ_SCALE="${BPFAST_FUZZ_SCALE:-0.5}"
"$PY" -m pytest -q -p no:cacheprovider tests "$@"
