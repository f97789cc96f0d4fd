#!/usr/bin/env bash
# The test suite against a build of bpfast by clang (CC=clang, OpenMP from
# clang's libomp) instead of the default GCC, built into a temporary copy of
# the repository so the build in the work tree is neither touched nor
# imported. The C in bpfast/src/ branches on the compiler (bp_compat.h):
# this leg keeps the clang branches built and tested.
#
# Usage, with the virtual environment active and the test dependencies
# installed (as .ci/run leaves it):
#     bash .ci/clang-tests.sh [extra pytest arguments]
# clang and libomp are installed with apt-get where missing (root, Debian or
# Ubuntu: the packages clang and libomp-dev); Cython and setuptools are
# installed into the environment if missing, as in .ci/debug-tests.sh.
set -euo pipefail

# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"
CLANG="${CLANG:-clang}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bpfast-clang.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

# 0. clang that can compile and link OpenMP code
clang_openmp_works() {
    command -v "$CLANG" >/dev/null 2>&1 || return 1
    printf '#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n' \
        >"$tmp/omp.c"
    "$CLANG" -fopenmp "$tmp/omp.c" -o "$tmp/omp" >/dev/null 2>&1 && "$tmp/omp"
}
if ! clang_openmp_works; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing clang and libomp-dev (apt-get)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libomp-dev >/dev/null
    fi
    clang_openmp_works || { echo "clang with OpenMP (libomp) is needed: apt-get install clang libomp-dev" >&2; exit 1; }
fi
"$CLANG" --version | head -n 1

# 1. a copy of the sources
copy_tree "$tmp"

# 2. the release build by clang, in place in the copy (setuptools links with
#    $CC too, so -fopenmp links clang's libomp)
build_in_copy "$tmp" "$tmp/build.log" CC="$CLANG"
if grep -q "warning:" "$tmp/build.log"; then
    grep "warning:" "$tmp/build.log" | sort | uniq -c
fi

# 3. the tests, from the copy, with the copy first on the path
use_copy "$tmp"
"$PY" - "$tmp" <<'PYEOF'
import os, sys
import bpfast._kernels as k
where = os.path.realpath(k.__file__)
assert where.startswith(os.path.realpath(sys.argv[1])), f"wrong bpfast imported: {where}"
assert k.COMPILER.startswith("clang"), f"not built by clang: {k.COMPILER} ({where})"
assert not k.DEBUG_BUILD, f"a debug build: {where}"
runtimes = set()
if os.path.exists("/proc/self/maps"):   # the OpenMP runtimes loaded (scikit-learn's too)
    with open("/proc/self/maps") as maps:
        for line in maps:
            name = os.path.basename(line.split()[-1])
            if name.startswith(("libomp", "libgomp", "libiomp")):
                runtimes.add(name)
runtimes = sorted(runtimes)
print(f"clang build: {where} ({k.COMPILER}; OpenMP runtimes loaded: {', '.join(runtimes) or '?'})")
PYEOF
echo "clang leg: build and checks took $((SECONDS - start)) s"
# half the generated cases, as the debug leg (override by exporting them)
export BPFAST_HYPOTHESIS_SCALE="${BPFAST_HYPOTHESIS_SCALE:-0.5}"
export BPFAST_FUZZ_SCALE="${BPFAST_FUZZ_SCALE:-0.5}"
"$PY" -m pytest -q -p no:cacheprovider tests "$@"
