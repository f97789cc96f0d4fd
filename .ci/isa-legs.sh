#!/usr/bin/env bash
# CI's CPU legs: the one build of bpfast on CPUs of each level it carries.
#
#   native            import + a tiny fit; loads the best level of this CPU,
#                     as /proc/cpuinfo's flags say (v3 on an AVX2 machine,
#                     v4 on an AVX-512 one)
#   qemu Nehalem      the same under qemu-user's Nehalem (SSE4.2, no AVX):
#                     must load the baseline, and run
#   qemu Haswell      AVX2 + FMA + BMI2, no AVX-512: must load v3
#   guard             bpfast._kernels_v3 loaded by path under Nehalem dies of
#                     SIGILL (exit 132): the v3 build really holds AVX, and the
#                     dispatcher's probe is what keeps it from such a CPU
#   forced levels     tests/test_parity.py and tests/test_gradients.py with
#                     BPFAST_CPU set to every other level this CPU runs (the
#                     suite itself ran the automatic one)
#
# Run with the environment bpfast is installed in active (as .ci/run leaves
# it): bash .ci/isa-legs.sh. x86-64 Linux only (elsewhere it says so and
# exits 0). qemu-x86_64 comes from Debian's qemu-user, installed here if
# missing (CI runs as root). Under qemu, importing scikit-learn alone takes
# ~35 s: each qemu leg takes ~45 s, the whole script 2-3 min.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$(command -v "${PYTHON:-python}")"

if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    echo "isa legs: x86-64 Linux only; skipped on $(uname -s)-$(uname -m)"; exit 0
fi
if ! command -v qemu-x86_64 >/dev/null; then
    echo "isa legs: installing qemu-user"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user >/dev/null
fi
ulimit -c 0
t_all=$SECONDS

# what this CPU should load, from the kernel's view of it (not bpfast's probe)
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
if has avx512f avx512bw avx512cd avx512dq avx512vl avx2 fma bmi2; then native=v4
elif has avx avx2 fma bmi1 bmi2 f16c abm movbe; then native=v3
else native=baseline; fi

# a tiny fit on an easy problem; prints the level loaded, then checks the
# predictions: finite probabilities that sum to 1, accuracy >= 0.9
FIT='
import warnings
import numpy as np
import bpfast
from bpfast import _kernels
rng = np.random.RandomState(0)
X = rng.rand(200, 6)
y = (X[:, 0] + X[:, 1] > 1).astype(int)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    m = bpfast.MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, learning_rate_init=0.02,
                             random_state=0).fit(X, y)
P = m.predict_proba(X)
assert np.isfinite(P).all() and np.allclose(P.sum(axis=1), 1), P
acc = (m.predict(X) == y).mean()
assert acc >= 0.9, acc
print("level", _kernels.__name__.rsplit("_", 1)[-1], "accuracy", acc, "loss", repr(m.loss_))
'
HASWELL="Haswell,-pcid,-x2apic,-tsc-deadline,-invpcid,-hle,-rtm"  # without qemu's TCG warnings
# Where the machine sets OPENBLAS_CORETYPE (for its own CPU: older OpenBLAS
# builds misdetect some), an emulated CPU gets its own core type instead:
# OpenBLAS's Haswell kernels on qemu's Nehalem die of SIGILL in numpy's
# import, before bpfast is reached (and the guard below would pass for
# that wrong reason)
nehalem() { env ${OPENBLAS_CORETYPE:+OPENBLAS_CORETYPE=Nehalem} qemu-x86_64 -cpu Nehalem "$@"; }
haswell() { env ${OPENBLAS_CORETYPE:+OPENBLAS_CORETYPE=Haswell} qemu-x86_64 -cpu "$HASWELL" "$@"; }
failed=()
leg() {  # leg NAME EXPECTED_LEVEL [qemu-x86_64 -cpu MODEL]
    local name=$1 want=$2; shift 2
    local t0=$SECONDS out rc=0
    out=$("$@" "$PY" -c "$FIT" 2>&1) || rc=$?
    local got; got=$(sed -n 's/^level \([a-z0-9]*\) .*/\1/p' <<<"$out")
    echo "isa leg $name: exit $rc, loaded ${got:-?} (want $want), $((SECONDS - t0)) s: $(tail -1 <<<"$out")"
    if [ $rc -ne 0 ] || [ "$got" != "$want" ]; then
        printf '%s\n' "$out" | tail -20 >&2; failed+=("$name")
    fi
}
leg native "$native"
leg "qemu Nehalem" baseline nehalem
leg "qemu Haswell" v3 haswell

# the guard: the v3 build, loaded by path without the dispatcher (nor the
# bpfast package, whose scikit-learn import takes ~35 s under qemu), under Nehalem
t0=$SECONDS
v3=$("$PY" -c '
import glob, importlib.machinery, importlib.util, os
pkg = os.path.dirname(importlib.util.find_spec("bpfast").origin)   # imports nothing
print(*[p for s in importlib.machinery.EXTENSION_SUFFIXES
        for p in glob.glob(os.path.join(pkg, "_kernels_v3" + s))][:1])')
LOAD='import importlib.util, sys
spec = importlib.util.spec_from_file_location("bpfast._kernels_v3", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))'
rc=0
[ -n "$v3" ] || rc=missing
# numpy must import there, or the SIGILL below would be numpy's, not the v3 module's
[ "$rc" != 0 ] || nehalem "$PY" -c "import numpy" >/dev/null 2>&1 || rc=numpy
[ "$rc" != 0 ] || (nehalem "$PY" -c "$LOAD" "$v3" >/dev/null 2>&1; exit $?) 2>/dev/null || rc=$?
echo "isa guard: ${v3:-bpfast._kernels_v3 (not found)} under qemu Nehalem: exit $rc (132, SIGILL, expected), $((SECONDS - t0)) s"
[ $rc -eq 132 ] || failed+=("guard")

# the parity and gradient tests at every other level this CPU runs
others=$("$PY" -c '
from bpfast import _dispatch
print(" ".join(lv for lv in _dispatch.cpu_levels() if lv in _dispatch.built_levels()
               and lv != _dispatch.loaded["level"]))')
for level in $others; do
    t0=$SECONDS
    rc=0
    BPFAST_CPU=$level "$PY" -m pytest -q -p no:cacheprovider tests/test_parity.py \
        tests/test_gradients.py || rc=$?
    echo "isa forced level $level: parity and gradient tests exit $rc, $((SECONDS - t0)) s"
    [ $rc -eq 0 ] || failed+=("BPFAST_CPU=$level")
done

echo "isa legs: $((SECONDS - t_all)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "isa legs failed: ${failed[*]}" >&2
    exit 1
fi
