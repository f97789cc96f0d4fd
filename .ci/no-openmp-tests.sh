#!/usr/bin/env bash
# CI's no-OpenMP leg: bpfast built by a compiler that refuses OpenMP
# (.ci/no-openmp-cc, which answers -fopenmp as Apple's clang does), in a
# temporary copy of the repository.
#
#   1. with BPFAST_FAIL_NO_OPENMP=1 the build must stop, saying why;
#   2. without it, the build must succeed serial, with setup.py's warning;
#      it also takes bp_compat.h's plain-array vectors (BP_PORTABLE_VECTORS,
#      the form MSVC builds), so that the tests below run them too;
#   3. the module must say so: bpfast._kernels.OPENMP false, one thread,
#      show_config()'s "OpenMP: no";
#   4. the parity subset against the installed scikit-learn, the gradient
#      checks and the thread tests (those that need two OpenMP threads skip,
#      saying why) run on it.
#
# Usage, with the virtual environment active and the test dependencies
# installed (as .ci/run leaves it):
#     bash .ci/no-openmp-tests.sh [pytest arguments; default: the subset]
# Builds the level this CPU loads (and the baseline) only. Needs clang
# (installed with apt-get where missing, as root).
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"
CC_NO_OMP="$(cd "$(dirname "$0")" && pwd)/no-openmp-cc"
start=$SECONDS
if ! command -v clang >/dev/null; then
    echo "installing clang (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null
fi
level="$("$PY" -c 'from bpfast import _dispatch; print(_dispatch.loaded["level"])')"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bpfast-no-openmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
copy_tree "$tmp"

# 1. asked to fail without OpenMP, it fails, before compiling any module
if build_in_copy "$tmp" "$tmp/fail.log" CC="$CC_NO_OMP" BPFAST_FAIL_NO_OPENMP=1 \
        BPFAST_LEVELS="$level" >/dev/null 2>&1; then
    echo "no-openmp leg: BPFAST_FAIL_NO_OPENMP=1 did not stop the build" >&2; exit 1
fi
grep -q "BPFAST_FAIL_NO_OPENMP is set: stopping" "$tmp/fail.log" \
    || { cat "$tmp/fail.log"; echo "no-openmp leg: the build failed otherwise" >&2; exit 1; }
echo "no-openmp leg: BPFAST_FAIL_NO_OPENMP=1 stopped the build, as asked"

# 2. the serial build, with its warning
build_in_copy "$tmp" "$tmp/build.log" CC="$CC_NO_OMP" BPFAST_LEVELS="$level" \
    CFLAGS="${CFLAGS:-} -DBP_PORTABLE_VECTORS"
grep -q "bpfast is built SERIAL" "$tmp/build.log" \
    || { cat "$tmp/build.log"; echo "no-openmp leg: no warning in the build" >&2; exit 1; }
echo "no-openmp leg: setup.py's warning:"
sed -n '/^\*\*\*$/,/^\*\*\*$/p' "$tmp/build.log" | head -n 14 | sed 's/^/  /'
echo "no-openmp leg: built in $((SECONDS - start)) s"

# 3. what the module says of itself
use_copy "$tmp"
"$PY" - "$tmp" <<'PYEOF'
import io, os, sys
from contextlib import redirect_stdout
import bpfast, bpfast._kernels as k
where = os.path.realpath(k.__file__)
assert where.startswith(os.path.realpath(sys.argv[1])), f"wrong bpfast imported: {where}"
assert not k.OPENMP, f"built with OpenMP: {where}"
assert not k.VECTOR_EXT, f"built with GCC's vector extension: {where}"
assert k.max_threads() == 1, k.max_threads()
assert bpfast.show_config("dicts")["openmp"]["enabled"] is False
out = io.StringIO()
with redirect_stdout(out):
    bpfast.show_config()
line = next(l for l in out.getvalue().splitlines() if l.startswith("OpenMP"))
assert line.startswith("OpenMP: no"), line
print(f"no-openmp leg: {where} ({k.COMPILER}); show_config: {line}")
PYEOF

# 4. the tests
if [ $# -eq 0 ]; then
    set -- tests/test_parity.py tests/test_gradients.py tests/test_threads.py
fi
"$PY" -m pytest -q -p no:cacheprovider -rs "$@"
echo "no-openmp leg: $((SECONDS - start)) s"
