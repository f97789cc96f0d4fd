#!/usr/bin/env bash
# CI's Windows leg: what can be checked of bpfast's Windows code without
# Windows. bpfast/src/bp_compat.h holds its Windows branches (the
# QueryPerformanceCounter clock, SwitchToThread, WaitOnAddress /
# WakeByAddressAll, SRW-lock condition variables, the Interlocked atomics).
#
#   1. every header in bpfast/src/, alone, with MinGW-w64's GCC
#      (x86_64-w64-mingw32-gcc -fsyntax-only -Wall -Wextra -Werror): as it
#      is, with -fopenmp, at x86-64-v4, with the portable wait
#      (BP_PORTABLE_WAIT), with the Interlocked atomics
#      (BP_INTERLOCKED_ATOMICS) and the plain-array vectors
#      (BP_PORTABLE_VECTORS), MSVC's forms, compiled by GCC, alone and
#      together;
#   2. tests/native/barrier_check.c, the kernels' barrier on the OS's
#      primitives, built for Windows in three forms (WaitOnAddress with GCC's
#      atomics, with the Interlocked ones, and the portable wait) and run
#      under Wine, a reimplementation of Windows' interfaces on Linux: it
#      runs the code, not on Windows;
#   3. the same program built for Linux with the futex and with the portable
#      wait, and run.
#
# MSVC itself is not run here (its compiler exists only on Windows), nor is
# the Python extension built for Windows (no Windows Python to link).
# Installs gcc-mingw-w64-x86-64 and wine64 with apt-get where missing (root).
set -euo pipefail
cd "$(dirname "$0")/.."
t_all=$SECONDS
MINGW="${MINGW:-x86_64-w64-mingw32-gcc}"
WINE=/usr/lib/wine/wine64
need=()
command -v "$MINGW" >/dev/null || need+=(gcc-mingw-w64-x86-64)
[ -x "$WINE" ] || need+=(wine64)
if [ ${#need[@]} -gt 0 ]; then
    echo "windows leg: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
"$MINGW" --version | head -n 1
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bpfast-windows.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
failed=()

# 1. the headers, one at a time, in each form
n=0
for header in bpfast/src/*.h; do
    for flags in "" "-fopenmp" "-march=x86-64-v4" "-DBP_PORTABLE_WAIT" "-DBP_INTERLOCKED_ATOMICS" \
            "-DBP_PORTABLE_VECTORS" "-DBP_INTERLOCKED_ATOMICS -DBP_PORTABLE_VECTORS -march=x86-64-v3"; do
        # shellcheck disable=SC2086  # flags is a list of flags
        if ! "$MINGW" -x c -std=c11 -fsyntax-only -Wall -Wextra -Werror $flags \
                -I bpfast/src "$header" 2>"$tmp/err"; then
            cat "$tmp/err" >&2; failed+=("$header ${flags:-(as is)}")
        fi
        n=$((n + 1))
    done
done
echo "windows leg: $n header compilations (${#failed[@]} failed), $((SECONDS - t_all)) s"

# 2. the barrier, built for Windows and run under Wine
export WINEDEBUG=-all WINEPREFIX="$tmp/wine"
for form in "" "-DBP_INTERLOCKED_ATOMICS" "-DBP_PORTABLE_WAIT"; do
    exe="$tmp/barrier_check${form#-D}.exe"
    # shellcheck disable=SC2086
    if ! "$MINGW" -O2 -std=c11 -Wall -Wextra -Werror $form -I bpfast/src \
            tests/native/barrier_check.c -o "$exe" -lsynchronization; then
        failed+=("barrier_check.exe ${form:-(as is)}: build"); continue
    fi
    t0=$SECONDS
    if timeout 300 "$WINE" "$exe" >"$tmp/out" 2>&1; then
        grep -v -e "^$" -e "^wine: " "$tmp/out" | sed "s/^/  /"
    else
        cat "$tmp/out" >&2; failed+=("barrier_check.exe ${form:-(as is)} under Wine")
    fi
    echo "windows leg: barrier_check.exe ${form:-(as is)} under Wine: $((SECONDS - t0)) s"
done

# 3. the same on Linux: the futex and the portable wait
for form in "" "-DBP_PORTABLE_WAIT"; do
    exe="$tmp/barrier_check_linux${form#-D}"
    # shellcheck disable=SC2086
    if cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread $form -I bpfast/src \
            tests/native/barrier_check.c -o "$exe" && timeout 300 "$exe" >"$tmp/out" 2>&1; then
        sed 's/^/  /' "$tmp/out"
    else
        cat "$tmp/out" >&2 || true; failed+=("barrier_check (Linux) ${form:-(as is)}")
    fi
done

echo "windows leg: $((SECONDS - t_all)) s"
if [ ${#failed[@]} -gt 0 ]; then
    printf 'windows leg failed: %s\n' "${failed[@]}" >&2
    exit 1
fi
