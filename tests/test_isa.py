"""The builds of the kernels hold the instructions of their level and no others
(setup.py, bpfast/_dispatch.py), read from their disassembly (objdump).

The proof that the baseline build runs on every x86-64 CPU: no VEX or EVEX
instruction at all (every AVX, AVX2, FMA, AVX-512 instruction is one, and
objdump names them all v...), no ymm / zmm / opmask register, and none of
the other instructions beyond SSE2 that a compiler picks on its own (SSE3,
SSSE3, SSE4, POPCNT, LZCNT, BMI1/2, MOVBE, ...); the baseline build of the
random streams neither, nor the modules built once: the CPU probe, which
runs before any level is chosen, and the buffers' memory. The v3 build does
use ymm and FMA (else it would be no faster), the v4 build zmm.

x86-64 Linux only, where objdump is installed (binutils); a level that was
not built (BPFAST_LEVELS, a debug build: the baseline alone) is skipped.
"""
import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
                       reason="the disassembly checks read x86-64 ELF objects"),
    pytest.mark.skipif(shutil.which("objdump") is None,
                       reason="objdump (binutils) is not installed"),
]

INSN = re.compile(r"^\s*[0-9a-f]+:\t(.*)$")
PREFIXES = {"lock", "rep", "repz", "repe", "repnz", "repne", "notrack", "bnd", "data16",
            "addr32", "cs", "ds", "es", "fs", "gs", "ss", "rex", "rex.W", "xacquire", "xrelease"}
WIDE = re.compile(r"%[yz]mm[0-9]+|%k[0-7]\b")
# Beyond x86-64's SSE2, without a v prefix. (tzcnt is left out: it is
# `rep bsf`, which GCC emits for the baseline because CPUs without BMI1 run
# it as bsf, with the same result for the non-zero inputs it is used on.)
BEYOND_SSE2 = {
    # SSE3
    "addsubpd", "addsubps", "haddpd", "haddps", "hsubpd", "hsubps", "lddqu", "movddup",
    "movshdup", "movsldup", "fisttp", "fisttpl", "fisttpll", "fisttps",
    # SSSE3
    "pshufb", "phaddw", "phaddd", "phaddsw", "phsubw", "phsubd", "phsubsw", "pabsb",
    "pabsw", "pabsd", "palignr", "pmaddubsw", "pmulhrsw", "psignb", "psignw", "psignd",
    # SSE4.1
    "blendpd", "blendps", "blendvpd", "blendvps", "pblendvb", "pblendw", "dppd", "dpps",
    "extractps", "insertps", "movntdqa", "mpsadbw", "packusdw", "pcmpeqq", "pextrb",
    "pextrd", "pextrq", "pinsrb", "pinsrd", "pinsrq", "pmaxsb", "pmaxsd", "pmaxud",
    "pmaxuw", "pminsb", "pminsd", "pminud", "pminuw", "pmovsxbw", "pmovsxbd", "pmovsxbq",
    "pmovsxwd", "pmovsxwq", "pmovsxdq", "pmovzxbw", "pmovzxbd", "pmovzxbq", "pmovzxwd",
    "pmovzxwq", "pmovzxdq", "pmuldq", "pmulld", "ptest", "roundpd", "roundps", "roundsd",
    "roundss", "phminposuw",
    # SSE4.2, POPCNT, LZCNT, BMI1, BMI2, MOVBE, CMPXCHG16B, LAHF/SAHF, XSAVE
    "crc32", "crc32b", "crc32w", "crc32l", "crc32q", "pcmpestri", "pcmpestrm", "pcmpistri",
    "pcmpistrm", "pcmpgtq", "popcnt", "lzcnt", "andn", "bextr", "blsi", "blsmsk", "blsr",
    "bzhi", "mulx", "pdep", "pext", "rorx", "sarx", "shlx", "shrx", "movbe", "cmpxchg16b",
    "lahf", "sahf", "xgetbv",
}


def _origin(module):
    spec = importlib.util.find_spec(module)   # found, not imported: no SIGILL here
    return None if spec is None else spec.origin


def _built(level, module="_kernels"):
    path = _origin(f"bpfast.{module}_{level}")
    if path is None:
        pytest.skip(f"bpfast.{module}_{level} was not built (BPFAST_LEVELS, a debug build "
                    "or a native build)")
    return path


@functools.lru_cache(maxsize=None)
def disassemble(path):
    """[(mnemonic, operands)] of every instruction in the object's code."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], check=True,
                         capture_output=True, text=True).stdout
    insns = []
    for line in out.splitlines():
        m = INSN.match(line)
        if m:
            words = m.group(1).split(None)
            while len(words) > 1 and words[0] in PREFIXES:
                words.pop(0)
            if words:
                insns.append((words[0], " ".join(words[1:])))
    return insns


def _mnemonic(m):
    # objdump's AT&T suffixes: popcntl, lzcntq, movbel, crc32b, ...
    return m if m in BEYOND_SSE2 else m.rstrip("bwlq")


def _summary(insns):
    return (f"{len(insns)} instructions, "
            f"{sum(m.startswith('v') for m, _ in insns)} VEX/EVEX, "
            f"{sum(bool(WIDE.search(a)) for _, a in insns)} with ymm/zmm/k registers, "
            f"{sum(_mnemonic(m) in BEYOND_SSE2 for m, _ in insns)} other beyond SSE2")


@pytest.mark.parametrize("module", ["_kernels", "_random"])
def test_baseline_build_has_nothing_beyond_sse2(module):
    insns = disassemble(_built("baseline", module))
    assert len(insns) > 10_000, "no code found: is this a Cython module?"
    vex = [i for i in insns if i[0].startswith("v")]
    wide = [i for i in insns if WIDE.search(i[1])]
    later = [i for i in insns if _mnemonic(i[0]) in BEYOND_SSE2]
    assert not vex and not wide and not later, (_summary(insns), vex[:5], wide[:5], later[:5])
    print(f"{module}_baseline: {_summary(insns)}")


@pytest.mark.parametrize("module", ["_cpu", "_memory"])
def test_modules_built_once_have_nothing_beyond_sse2(module):
    """The probe and the buffers' memory are built once, for the baseline."""
    insns = disassemble(_origin(f"bpfast.{module}"))
    vex = [i for i in insns if i[0].startswith("v") or WIDE.search(i[1])]
    later = [i for i in insns if _mnemonic(i[0]) in BEYOND_SSE2 - {"xgetbv"}]
    assert not vex and not later, (vex[:5], later[:5])
    xgetbv = [m for m, _ in insns if m == "xgetbv"]
    # the probe's xgetbv runs only where CPUID says the OS enabled it (bp_cpu.h)
    assert bool(xgetbv) == (module == "_cpu")


def test_v3_random_uses_avx2_but_not_avx512():
    insns = disassemble(_built("v3", "_random"))
    assert any("%ymm" in a for _, a in insns)
    assert not any(re.search(r"%zmm[0-9]+|%k[0-7]\b", a) for _, a in insns)


def test_v3_build_uses_avx2_and_fma_but_not_avx512():
    insns = disassemble(_built("v3"))
    assert any("%ymm" in a for _, a in insns)
    assert any(m.startswith(("vfmadd", "vfnmadd", "vfmsub", "vfnmsub")) for m, _ in insns)
    assert not any(re.search(r"%zmm[0-9]+|%k[0-7]\b", a) for _, a in insns)
    print(f"v3: {_summary(insns)}")


def test_v4_build_uses_avx512():
    insns = disassemble(_built("v4"))
    assert any("%zmm" in a for _, a in insns)
    print(f"v4: {_summary(insns)}")
