#!/usr/bin/env bash
# CI's version legs: bpfast against the oldest and the newest releases it
# supports, each in a fresh virtual environment of its own.
#
#   oldest: the oldest Python bpfast supports (pyproject's requires-python)
#           with the floor of every dependency in pyproject.toml, exactly
#           (numpy, scipy, scikit-learn, threadpoolctl);
#   newest: Python 3.13 with the newest release of everything.
#
# Each leg installs a copy of the source tree as the README does (pip install
# -e: built in an isolated environment, with PyPI's numpy 2 headers, as
# wheels are; the kernels' baseline level only, see BPFAST_LEVELS below), then runs the tests that hold bpfast to the installed
# scikit-learn and keep the thread guarantees (SUBSET below).
#
#   bash .ci/version-legs.sh [oldest|newest ...] [-- extra pytest arguments]
#
# Interpreters are found as pythonX.Y on PATH or under pyenv's versions/. A leg
# whose interpreter is missing fails (BPFAST_SKIP_VERSION_LEGS=1 skips all).
set -euo pipefail

# The focused subset, the tests that compare with the installed
# scikit-learn or keep the thread guarantees: parity of loss curves, draws
# and fitted attributes; the rest of its MLP surface and its estimator
# checks; prediction (results, errors, warnings); pipelines, search and
# pandas; inputs of every dtype and layout against scikit-learn's outcome
# (hypothesis); the warnings as scikit-learn's; XOR's local minima; the
# thread guarantees (bit-identical across thread counts and Python threads,
# SciPy's BLAS pinned). ~30 s of tests a leg on 2 cores.
SUBSET=(tests/test_parity.py tests/test_surface.py tests/test_predict_small.py
        tests/test_integration.py tests/test_reliability_properties.py
        tests/test_warnings.py tests/test_xor.py tests/test_threads.py)

# The oldest leg also holds bpfast.dask to the oldest dask and distributed
# the test extra admits (their floors, exactly): the dask suite but the
# dask-ml wrappers' tests (dask-ml's own floors are not ours). ~70 s.
DASK_SUBSET=(tests/test_dask_lbfgs.py tests/test_dask_input.py
             tests/test_dask_predict.py tests/test_dask_stochastic.py
             tests/test_dask_tree.py tests/test_dask_faults.py)

if [ "${BPFAST_SKIP_VERSION_LEGS:-0}" = 1 ]; then
    echo "version legs skipped (BPFAST_SKIP_VERSION_LEGS=1)"; exit 0
fi

repo="$(cd "$(dirname "$0")/.." && pwd)"
legs=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; extra=("$@"); break ;;
        *) legs+=("$1"); shift ;;
    esac
done
[ ${#legs[@]} -gt 0 ] || legs=(oldest newest)

find_python() {  # find_python 3.10 -> the path of a CPython 3.10
    local want="$1" cand
    for cand in "python$want" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want".*/bin/"python$want"; do
        if "$cand" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" \
                >/dev/null 2>&1; then
            command -v "$cand"; return 0
        fi
    done
    echo "no Python $want found (PATH, pyenv)" >&2
    return 1
}

# pyproject's floors: "name>=X" -> "name==X" for the dependencies, and for
# dask and distributed in the test extra ("dask[array]>=X" -> "dask==X")
floors() {
    python3 - "$repo/pyproject.toml" <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read()
deps = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
test = re.search(r"^test = \[(.*?)^\]", text, re.S | re.M).group(1)
floors = re.findall(r'^\s*"([A-Za-z0-9_.-]+)>=([0-9.]+)"', deps, re.M)
floors += re.findall(r'"(dask|distributed)(?:\[[a-z,]+\])?>=([0-9.]+)"', test)
for name, version in floors:
    print(f"{name}=={version}")
PYEOF
}
oldest_python() {
    sed -n 's/^requires-python = ">=\([0-9]*\.[0-9]*\)".*/\1/p' "$repo/pyproject.toml"
}

work="$(mktemp -d "${TMPDIR:-/tmp}/bpfast-legs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
unset PYTHONPATH PYTHONHOME
# The kernels' baseline level only (setup.py builds three by default): these
# legs test bpfast against scikit-learn's releases, which no CPU level
# changes, and each level is ~1 min of compiling here; .ci/isa-legs.sh
# covers the levels.
export BPFAST_LEVELS="${BPFAST_LEVELS:-baseline}"

run_leg() {
    local leg="$1" py_version pins=() packages=() subset=("${SUBSET[@]}") t0
    t0=$(date +%s)
    case "$leg" in
        oldest) py_version="$(oldest_python)"; mapfile -t pins < <(floors)
                packages=("dask[array]" distributed pyarrow); subset+=("${DASK_SUBSET[@]}") ;;
        newest) py_version=3.13 ;;
        *) echo "unknown leg $leg" >&2; return 2 ;;
    esac
    local py; py="$(find_python "$py_version")" || return 1
    local dir="$work/$leg"
    mkdir -p "$dir/src"
    # a copy of the sources, tracked and untracked-but-not-ignored files
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
        | tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$dir/src"
    rm -rf "$dir/src/build" "$dir/src"/bpfast/*.so "$dir/src"/bpfast/*.c
    printf '%s\n' "${pins[@]}" > "$dir/pins.txt"
    echo "== leg $leg: Python $py_version ($py), pins: ${pins[*]:-none (newest)}"

    "$py" -m venv "$dir/venv"
    local vpy="$dir/venv/bin/python"
    "$vpy" -m pip install -q --upgrade pip
    # pins as constraints on the command line: they bind this environment and
    # not the isolated build environment (numpy 2 headers, as for wheels)
    (cd "$dir/src" && "$vpy" -m pip install -q -c "$dir/pins.txt" -e . pytest pandas hypothesis \
        ${packages[@]+"${packages[@]}"})
    (cd "$dir/src" && "$vpy" - <<'PYEOF'
import os, sys
import numpy, scipy, sklearn, threadpoolctl
import bpfast
from bpfast import _threads
assert os.path.realpath(bpfast.__file__).startswith(os.path.realpath(os.getcwd())), bpfast.__file__
pin = _threads._pin_functions()
local = pin is not None and getattr(pin[1], "__name__", "").endswith("set_num_threads_local")
libs = _threads._scipy_blas_controllers()
print(f"   Python {sys.version.split()[0]}, numpy {numpy.__version__}, scipy "
      f"{scipy.__version__}, scikit-learn {sklearn.__version__}, threadpoolctl "
      f"{threadpoolctl.__version__}; SciPy's BLAS "
      f"{[(l.internal_api, l.version) for l in libs]}, pinned by "
      f"{'openblas_set_num_threads_local' if local else 'threadpoolctl'}")
try:
    import dask, distributed
    print(f"   dask {dask.__version__}, distributed {distributed.__version__}")
except ImportError:
    pass
PYEOF
    )
    local rc=0
    (cd "$dir/src" && "$vpy" -m pytest -q -p no:cacheprovider "${subset[@]}" \
        ${extra[@]+"${extra[@]}"}) || rc=$?
    echo "== leg $leg: exit $rc, $(( $(date +%s) - t0 )) s"
    return $rc
}

failed=()
for leg in "${legs[@]}"; do
    run_leg "$leg" || failed+=("$leg")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "version legs failed: ${failed[*]}" >&2
    exit 1
fi
