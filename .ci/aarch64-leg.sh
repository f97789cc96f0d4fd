#!/usr/bin/env bash
# CI's aarch64 leg: bpfast's aarch64 wheel, cross-compiled on this x86-64
# machine, repaired, installed into an arm64 Debian root and tested there
# under qemu-user (never on ARM hardware).
#
#   root        an arm64 Debian root (mmdebstrap --variant=extract: the
#               packages named and their dependencies, unconfigured) with
#               Python, its headers and libc6-dev (the cross compiler's
#               sysroot), libgomp1, libstdc++6 (scikit-learn's wheel needs
#               them) and dash (/bin/sh); cached with a virtual environment
#               holding bpfast's dependencies, pytest and pandas (from
#               pyproject.toml), each rebuilt when its package list changes
#               (a hash of the list names it)
#   wheel       TARGET=aarch64 scripts/build_wheel.sh: the aarch64 build
#               (its one level, the baseline: ARMv8-A with NEON, no -march),
#               auditwheel-repaired into a manylinux aarch64 wheel with
#               libgomp in bpfast.libs/
#   isa         tests/test_isa.py's aarch64 check on this machine
#               (aarch64-linux-gnu-objdump): NEON fmla in the hot loops, no
#               SVE; the wheel's module is checked to hold the same code
#   install     the wheel into the root's environment, offline
#   smoke       in the root (chroot, qemu-aarch64): bpfast imports from
#               site-packages, its OpenMP runtime is the bundled libgomp,
#               show_config() names the aarch64 level
#   digits      .ci/aarch64-digits.py: bpfast against scikit-learn's
#               MLPClassifier on the digits, same parameters; the same fit on
#               this machine (x86-64: at the automatic level and at every
#               other level it runs), when bpfast imports here, is compared
#               with the aarch64 one
#   tests       the test files in SUBSET (pyproject.toml's cibuildwheel
#               override for manylinux aarch64 runs the same), from a
#               directory without bpfast's sources
#
# Run as root (mount, chroot, apt-get) with the environment bpfast's tests
# run in active (as .ci/run leaves it; its pytest reads the module's code,
# its bpfast does the x86-64 side of the digits): bash .ci/aarch64-leg.sh.
# x86-64 Debian or Ubuntu only (elsewhere it says so and exits 0). Installs
# what it lacks with apt-get: qemu-user-static, binfmt-support, mmdebstrap,
# gcc-aarch64-linux-gnu, binutils-aarch64-linux-gnu; registers qemu-aarch64
# with binfmt_misc (mounting it if needed). The cache is
# /var/cache/bpfast-ci/aarch64 (BPFAST_CI_CACHE moves its parent). Each
# step's time, the leg's total and the test counts are logged. On the
# 2-core development machine: 10 minutes with an empty cache (the root 6 s,
# its environment 2 minutes of pip under qemu), 6.5 to 8.5 minutes cached,
# of which 5.5 to 7 under qemu (the tests 5 to 6, 433 of them).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PY="$(command -v "${PYTHON:-python}")"

# what the root's environment runs: tests/test_surface.py runs scikit-learn's
# estimator checks, tests/test_threads.py fits in threads and subprocesses
SUBSET=(tests/test_parity.py tests/test_surface.py tests/test_gradients.py
        tests/test_threads.py tests/test_dispatch.py)
# the Debian side (the suite's Python is 3.11: the cross build needs a host
# python3.11 as well)
SUITE=bookworm
MIRROR="${BPFAST_CI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEB_PACKAGES="python3-venv,libpython3.11-dev,libc6-dev,ca-certificates,libstdc++6,libgomp1,dash"
HOST_PACKAGES=(qemu-user-static binfmt-support mmdebstrap gcc-aarch64-linux-gnu
               binutils-aarch64-linux-gnu)
CACHE="${BPFAST_CI_CACHE:-/var/cache/bpfast-ci}/aarch64"

if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    echo "aarch64 leg: x86-64 Linux only; skipped on $(uname -s)-$(uname -m)"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "aarch64 leg: needs root (mount, chroot, apt-get)" >&2; exit 1
fi

t_all=$SECONDS
declare -a TIMES=()
# (not called in a condition: bash ignores set -e in a function that is)
step() {  # step NAME COMMAND...: runs it, logs its time
    local name=$1 t0=$SECONDS; shift
    printf '\n==> aarch64 leg: %s\n' "$name"
    "$@"
    TIMES+=("$name: $((SECONDS - t0)) s")
    echo "==> aarch64 leg: $name: $((SECONDS - t0)) s"
}
WHEEL=""
ASBUILT=""
SUMMARIZED=0
summary() {
    SUMMARIZED=1
    echo
    echo "aarch64 leg: ${WHEEL:+$(basename "$WHEEL") ($(stat -c %s "$WHEEL") bytes)}"
    printf '  %s\n' "${TIMES[@]}"
    echo "  tests: ${TEST_COUNTS:-not run} (${SUBSET[*]})"
    echo "aarch64 leg: $((SECONDS - t_all)) s"
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bpfast-aarch64.XXXXXX")"
ROOTFS=""
MOUNTS=()
# every mount under the cache, deepest first (a run killed before its trap
# leaves its binds behind: they must go before anything there is removed)
unmount_all() {
    local m
    for m in $(awk -v c="$CACHE/" 'index($5, c) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    MOUNTS=()
}
cleanup() {
    local rc=$?
    if [ $rc -ne 0 ] && [ $SUMMARIZED = 0 ]; then summary; echo "aarch64 leg failed (exit $rc)" >&2; fi
    unmount_all
    if [ -n "$ROOTFS" ]; then rm -rf --one-file-system "$ROOTFS/tmp/bpfast-leg"; fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
mount_root() {
    [ ${#MOUNTS[@]} -eq 0 ] || return 0
    mkdir -p "$ROOTFS/proc" "$ROOTFS/dev" "$ROOTFS/sys" "$ROOTFS/tmp"
    mount -t proc proc "$ROOTFS/proc"
    mount --rbind /dev "$ROOTFS/dev" && mount --make-rslave "$ROOTFS/dev"
    mount --rbind /sys "$ROOTFS/sys" && mount --make-rslave "$ROOTFS/sys"
    MOUNTS=(proc dev sys)
}
in_root() {  # in_root COMMAND...: in the root, with a clean environment
    mount_root
    env -i HOME=/root LANG=C.UTF-8 TMPDIR=/tmp PATH=/usr/local/bin:/usr/bin:/bin \
        "$(command -v chroot)" "$ROOTFS" "$@"
}
hash_of() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# ---------------------------------------------------------------- 0. host tools
host_tools() {
    local missing=() p
    for p in "${HOST_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
        update-binfmts --enable qemu-aarch64
    fi
    grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 \
        || { echo "qemu-aarch64 is not registered with binfmt_misc" >&2; exit 1; }
    sed -n 's/^interpreter //p; s/^flags: //p' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
        | paste -sd' ' | sed 's/^/binfmt qemu-aarch64: /'
    qemu-aarch64-static --version | head -n 1
    aarch64-linux-gnu-gcc --version | head -n 1
}

# ---------------------------------------------------------------- 1. the root
ROOT_KEY="$(hash_of "$SUITE" "$DEB_PACKAGES" "root recipe 1")"
ROOTFS="$CACHE/root-$ROOT_KEY"
# what the tests need beside bpfast's own dependencies, from pyproject.toml's
# test extra (the rest of it, Dask, ONNX, ..., is for files not in SUBSET);
# pyproject.toml's cibuildwheel override for aarch64 names the same
FROM_TEST_EXTRA=(pytest pandas)
VENV_REQS="$("$PY" - "$REPO/pyproject.toml" "${FROM_TEST_EXTRA[@]}" <<'PY'
import re, sys, tomllib
with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)["project"]
test = [r for r in project["optional-dependencies"]["test"]
        if re.match(r"[A-Za-z0-9_.-]+", r).group(0) in sys.argv[2:] and ";" not in r]
assert len(test) == len(sys.argv[2:]), test
print("\n".join(project["dependencies"] + test))
PY
)"
VENV="/opt/venv-$(hash_of "$ROOT_KEY" "$VENV_REQS" "venv recipe 1")"

make_root() {
    unmount_all
    if [ -e "$ROOTFS/.bpfast-complete" ]; then
        echo "cached: $ROOTFS ($(du -sh --one-file-system "$ROOTFS" | cut -f1))"
        return 0
    fi
    local old
    for old in "$CACHE"/root-*; do
        [ -e "$old" ] && rm -rf --one-file-system "$old"
    done
    mkdir -p "$CACHE"
    mmdebstrap --quiet --variant=extract --arch=arm64 --include="$DEB_PACKAGES" \
        "$SUITE" "$ROOTFS" "$MIRROR" </dev/null
    mkdir -p "$ROOTFS/proc" "$ROOTFS/dev" "$ROOTFS/sys" "$ROOTFS/tmp" "$ROOTFS/etc/ssl/certs"
    chmod 1777 "$ROOTFS/tmp"
    echo "$ROOT_KEY $SUITE $DEB_PACKAGES" >"$ROOTFS/.bpfast-complete"
    echo "made $ROOTFS ($(du -sh --one-file-system "$ROOTFS" | cut -f1))"
}

make_venv() {
    if [ -e "$ROOTFS$VENV/.bpfast-complete" ]; then
        echo "cached: $VENV in the root: $(tr '\n' ' ' <"$ROOTFS$VENV/.bpfast-complete")"
        return 0
    fi
    local old
    for old in "$ROOTFS"/opt/venv-*; do
        [ -e "$old" ] && rm -rf --one-file-system "$old"
    done
    # pip's way out: this machine's name servers, CA bundle and pip settings
    cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
    cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
    if [ -f /etc/pip.conf ]; then cp /etc/pip.conf "$ROOTFS/etc/pip.conf"; fi
    if [ -d /etc/xdg/pip ]; then mkdir -p "$ROOTFS/etc/xdg"; cp -R /etc/xdg/pip "$ROOTFS/etc/xdg/"; fi
    in_root /usr/bin/python3 -m venv "$VENV"
    printf '%s\n' "$VENV_REQS" >"$ROOTFS$VENV/requirements.txt"
    in_root "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -r "$VENV/requirements.txt"
    in_root "$VENV/bin/python" -m pip list --format=freeze --disable-pip-version-check \
        | grep -iE '^(numpy|scipy|scikit-learn|threadpoolctl|pytest|pandas)==' \
        >"$ROOTFS$VENV/.bpfast-complete"
    echo "made $VENV in the root: $(tr '\n' ' ' <"$ROOTFS$VENV/.bpfast-complete")"
}

# ---------------------------------------------------------------- 2. the wheel
build_wheel() {
    local pyver
    pyver="$(ls -d "$ROOTFS"/usr/include/python3.* | grep -E '/python3\.[0-9]+$' | sort -V | tail -1)"
    pyver="${pyver##*/python}"
    local hostpy
    hostpy="$(command -v "python$pyver")" \
        || { echo "the cross build needs a python$pyver on this machine" >&2; exit 1; }
    TARGET=aarch64 SYSROOT="$ROOTFS" PYTHON="$hostpy" OUT="$WORK/dist" \
        bash scripts/build_wheel.sh >"$WORK/build_wheel.log" 2>&1 \
        || { tail -n 60 "$WORK/build_wheel.log"; echo "the cross build failed" >&2; exit 1; }
    grep -E '^(cross build|platform tag|bundled|  bpfast|wheel:)' "$WORK/build_wheel.log"
    WHEEL="$(ls "$WORK"/dist/wheelhouse/bpfast-*.whl)"
    ASBUILT="$(ls "$WORK"/dist/bpfast-*-linux_aarch64.whl)"
    echo "wheel: $(basename "$WHEEL"), $(stat -c %s "$WHEEL") bytes"
}

# ---------------------------------------------------------------- 3. the code
isa() {
    "$PY" -m zipfile -e "$WHEEL" "$WORK/repaired"
    "$PY" -m zipfile -e "$ASBUILT" "$WORK/asbuilt"
    local shipped built
    shipped="$(ls "$WORK"/repaired/bpfast/_kernels_baseline.*.so)"
    built="$(ls "$WORK"/asbuilt/bpfast/_kernels_baseline.*.so)"
    # the repair strips symbols and sets the RPATH: the code stays the same,
    # so the unstripped module, whose symbols name the functions, is read
    aarch64-linux-gnu-objcopy -O binary --only-section=.text "$shipped" "$WORK/shipped.text"
    aarch64-linux-gnu-objcopy -O binary --only-section=.text "$built" "$WORK/built.text"
    cmp -s "$WORK/shipped.text" "$WORK/built.text" \
        || { echo "the repaired module's code differs from the built one's" >&2; exit 1; }
    echo "the repaired module's .text is the built one's ($(stat -c %s "$WORK/built.text") bytes)"
    BPFAST_AARCH64_MODULE="$built" "$PY" -m pytest -q -s -p no:cacheprovider \
        tests/test_isa.py -k aarch64 2>&1 | tee "$WORK/isa.log"
    grep -qE "(^| )1 passed" "$WORK/isa.log"
}

# ---------------------------------------------------------------- 4. install
install_wheel() {
    mkdir -p "$ROOTFS/tmp/bpfast-leg/run"
    cp "$WHEEL" "$ROOTFS/tmp/bpfast-leg/"
    in_root "$VENV/bin/python" -m pip uninstall -q -y --disable-pip-version-check bpfast \
        2>/dev/null || true
    in_root "$VENV/bin/python" -m pip install -q --no-index --disable-pip-version-check \
        "/tmp/bpfast-leg/$(basename "$WHEEL")"
}

# ---------------------------------------------------------------- 5. smoke
smoke() {
    cat >"$ROOTFS/tmp/bpfast-leg/run/smoke.py" <<'PY'
import os, platform, sysconfig, warnings
warnings.simplefilter("ignore")
import numpy as np
import bpfast, bpfast._kernels
from bpfast import _cpu, _dispatch
site = os.path.realpath(sysconfig.get_paths()["platlib"])
for mod in (bpfast, bpfast._kernels):
    path = os.path.realpath(mod.__file__)
    assert path.startswith(site + os.sep), f"{mod.__name__} imported from {path}, not {site}"
print("machine:", platform.machine(), "| import bpfast ->", os.path.dirname(bpfast.__file__))
assert platform.machine() == "aarch64" and _cpu.IS_AARCH64 and not _cpu.IS_X86
assert _dispatch.built_levels() == ("baseline",) == _cpu.BUILT, _dispatch.built_levels()
assert bpfast._kernels.__name__ == "bpfast._kernels_baseline"
rng = np.random.RandomState(0)
X = rng.rand(200, 6)
y = (X[:, 0] + X[:, 1] > 1).astype(int)
m = bpfast.MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, learning_rate_init=0.02,
                         random_state=0).fit(X, y)
P = m.predict_proba(X)
assert np.isfinite(P).all() and np.allclose(P.sum(axis=1), 1), P
print("tiny fit: accuracy", m.score(X, y), "loss", repr(m.loss_))
assert m.score(X, y) >= 0.9
# the kernels' OpenMP is the libgomp the wheel bundles (scikit-learn's own
# copy, in scikit_learn.libs/, may be loaded beside it)
with open("/proc/self/maps") as maps:
    gomp = sorted({line.split()[-1] for line in maps if "libgomp" in line})
print("libgomp loaded:", ", ".join(gomp))
own = bpfast.show_config(mode="dicts")["openmp"]["bpfast"]
print("bpfast's OpenMP:", own and own.get("filepath"))
assert own and "/bpfast.libs/libgomp" in own["filepath"], own
assert os.path.realpath(own["filepath"]).startswith(site + os.sep), own
assert not any(p.startswith(("/usr/lib", "/lib")) for p in gomp), gomp
cfg = bpfast.show_config(mode="dicts")
assert cfg["cpu"]["architecture"] == "aarch64" and cfg["cpu"]["features"]["ASIMD"], cfg["cpu"]
assert cfg["cpu"]["missing"] == {"baseline": []}, cfg["cpu"]
bpfast.show_config()
PY
    in_root sh -c "cd /tmp/bpfast-leg/run && $VENV/bin/python smoke.py"
    echo "python -m bpfast --version, CPU lines:"
    in_root sh -c "cd /tmp/bpfast-leg/run && $VENV/bin/python -m bpfast --version" \
        | sed -n '/^CPU:/,/^OpenMP:/p' | sed '$d'
}

# ---------------------------------------------------------------- 6. digits
digits() {
    cp .ci/aarch64-digits.py "$ROOTFS/tmp/bpfast-leg/run/"
    in_root sh -c "cd /tmp/bpfast-leg/run && $VENV/bin/python aarch64-digits.py digits-aarch64.npz"
    if "$PY" -c "import bpfast, sklearn" 2>/dev/null; then
        local level others
        # the automatic level, then every other one this CPU runs
        others="$("$PY" -c '
from bpfast import _dispatch
print(" ".join(lv for lv in _dispatch.cpu_levels() if lv in _dispatch.built_levels()
               and lv != _dispatch.loaded["level"]))')"
        for level in "" $others; do
            echo "this machine${level:+, BPFAST_CPU=$level}:"
            (cd "$WORK" && env ${level:+BPFAST_CPU=$level} "$PY" "$REPO/.ci/aarch64-digits.py" \
                "digits-x86${level:+-$level}.npz" \
                --against "$ROOTFS/tmp/bpfast-leg/run/digits-aarch64.npz")
        done
    else
        echo "bpfast does not import here ($PY): no x86-64 fit to compare with"
    fi
}

# ---------------------------------------------------------------- 7. tests
TEST_COUNTS=""
TESTS_RC=0
tests() {  # records the exit status in TESTS_RC: the summary comes first
    cp -R tests "$ROOTFS/tmp/bpfast-leg/run/tests"
    test ! -e "$ROOTFS/tmp/bpfast-leg/run/bpfast"
    mount_root
    in_root sh -c "cd /tmp/bpfast-leg/run && $VENV/bin/python -m pytest -q -rs -p no:cacheprovider \
        ${SUBSET[*]}" 2>&1 | tee "$WORK/tests.log" || TESTS_RC=$?
    TEST_COUNTS="$(grep -E '(passed|failed|error).* in [0-9.]+s' "$WORK/tests.log" | tail -n 1 \
        | tr -d '=' | sed 's/^ *//; s/ *$//')"
}

main() {
    mkdir -p "$CACHE"
    exec 9>"$CACHE.lock"
    flock 9   # one run at a time on this machine's cache
    step "host tools" host_tools
    step "arm64 root" make_root
    step "root's environment" make_venv
    step "cross-built wheel" build_wheel
    step "NEON check (tests/test_isa.py)" isa
    step "install" install_wheel
    step "smoke and show_config" smoke
    step "digits against scikit-learn" digits
    step "tests under qemu" tests
    summary
    if [ "$TESTS_RC" -ne 0 ]; then echo "aarch64 leg: the tests failed" >&2; fi
    return "$TESTS_RC"
}

# one line, read whole before it runs: an edit of this file during a run
# does not reach the run
main "$@"; exit $?
