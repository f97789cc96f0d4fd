"""The builds of the kernels hold the instructions of their level and no others
(setup.py, bpfast/_dispatch.py), read from their disassembly (objdump).

x86-64: the proof that the baseline build runs on every x86-64 CPU: no VEX
or EVEX instruction at all (every AVX, AVX2, FMA, AVX-512 instruction is
one, and objdump names them all v...), no ymm / zmm / opmask register, and
none of the other instructions beyond SSE2 that a compiler picks on its own
(SSE3, SSSE3, SSE4, POPCNT, LZCNT, BMI1/2, MOVBE, ...); the baseline build
of the random streams neither, nor the modules built once: the CPU probe,
which runs before any level is chosen, and the buffers' memory. The v3 build
does use ymm and FMA (else it would be no faster), the v4 build zmm. On
x86-64 Linux only, where objdump is installed (binutils); a level that was
not built (BPFAST_LEVELS, a debug build: the baseline alone) is skipped.

aarch64: the one level, the baseline (ARMv8-A, no -march), keeps its hot
loops on NEON: the fixed-order dot products and norms (bp_vector.h's
eight-lane vectors, two or four NEON registers each) are fused
multiply-adds on vectors, fmla v.2d (double) and v.4s (float), and no SVE
instruction (which not every ARMv8 CPU has) appears. Read natively on
aarch64 Linux (objdump), or on another machine from a cross-built module:
BPFAST_AARCH64_MODULE=path/to/_kernels_baseline.<suffix>.so, disassembled
by aarch64-linux-gnu-objdump (binutils-aarch64-linux-gnu), as
.ci/aarch64-leg.sh does with the wheel it builds.
"""
import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

ON_X86_LINUX = sys.platform.startswith("linux") and os.uname().machine == "x86_64"
ON_AARCH64_LINUX = sys.platform.startswith("linux") and os.uname().machine in ("aarch64",
                                                                               "arm64")
AARCH64_MODULE = "BPFAST_AARCH64_MODULE"


def x86_only(test):
    """The x86-64 checks: the installed build, x86-64 Linux, objdump."""
    test = pytest.mark.skipif(not ON_X86_LINUX,
                              reason="the disassembly checks read x86-64 ELF objects")(test)
    return pytest.mark.skipif(shutil.which("objdump") is None,
                              reason="objdump (binutils) is not installed")(test)


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


FUNCTION = re.compile(r"^[0-9a-f]+ <(.+)>:$")


@functools.lru_cache(maxsize=None)
def disassemble_functions(path, objdump="objdump"):
    """{symbol: [(mnemonic, operands)]} of the object's code, by the symbols
    objdump labels it with (a stripped object: its few dynamic ones)."""
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", path], check=True,
                         capture_output=True, text=True).stdout
    functions = {}
    insns = functions.setdefault("", [])
    for line in out.splitlines():
        f = FUNCTION.match(line)
        if f:
            insns = functions.setdefault(f.group(1), [])
            continue
        m = INSN.match(line)
        if m:
            words = m.group(1).split(None)
            while len(words) > 1 and words[0] in PREFIXES:
                words.pop(0)
            if words:
                insns.append((words[0], " ".join(words[1:])))
    return functions


def disassemble(path, objdump="objdump"):
    """[(mnemonic, operands)] of every instruction in the object's code."""
    return [i for insns in disassemble_functions(path, objdump).values() for i in insns]


def _mnemonic(m):
    # objdump's AT&T suffixes: popcntl, lzcntq, movbel, crc32b, ...
    return m if m in BEYOND_SSE2 else m.rstrip("bwlq")


def _summary(insns):
    return (f"{len(insns)} instructions, "
            f"{sum(m.startswith('v') for m, _ in insns)} VEX/EVEX, "
            f"{sum(bool(WIDE.search(a)) for _, a in insns)} with ymm/zmm/k registers, "
            f"{sum(_mnemonic(m) in BEYOND_SSE2 for m, _ in insns)} other beyond SSE2")


@x86_only
@pytest.mark.parametrize("module", ["_kernels", "_random"])
def test_baseline_build_has_nothing_beyond_sse2(module):
    insns = disassemble(_built("baseline", module))
    assert len(insns) > 10_000, "no code found: is this a Cython module?"
    vex = [i for i in insns if i[0].startswith("v")]
    wide = [i for i in insns if WIDE.search(i[1])]
    later = [i for i in insns if _mnemonic(i[0]) in BEYOND_SSE2]
    assert not vex and not wide and not later, (_summary(insns), vex[:5], wide[:5], later[:5])
    print(f"{module}_baseline: {_summary(insns)}")


@x86_only
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


@x86_only
def test_v3_random_uses_avx2_but_not_avx512():
    insns = disassemble(_built("v3", "_random"))
    assert any("%ymm" in a for _, a in insns)
    assert not any(re.search(r"%zmm[0-9]+|%k[0-7]\b", a) for _, a in insns)


@x86_only
def test_v3_build_uses_avx2_and_fma_but_not_avx512():
    insns = disassemble(_built("v3"))
    assert any("%ymm" in a for _, a in insns)
    assert any(m.startswith(("vfmadd", "vfnmadd", "vfmsub", "vfnmsub")) for m, _ in insns)
    assert not any(re.search(r"%zmm[0-9]+|%k[0-7]\b", a) for _, a in insns)
    print(f"v3: {_summary(insns)}")


@x86_only
def test_v4_build_uses_avx512():
    insns = disassemble(_built("v4"))
    assert any("%zmm" in a for _, a in insns)
    print(f"v4: {_summary(insns)}")


# ------------------------------------------------------------------ aarch64
AARCH64_FMLA = re.compile(r"^v\d+\.(2d|4s|2s)\b")
# SVE's registers: scalable vectors z0-z31, predicates p0-p15 (every SVE
# instruction names one); NEON's are v0-v31
SVE_OPERAND = re.compile(r"\bz\d+\.[bhsdq]\b|\bz\d+\[|\bp\d+(/[zm]|\.[bhsd]\b)")
# Cython's names for the two builds of a fused function: 0 float, 1 double
FUSED = re.compile(r"^__pyx_fuse_([01])__pyx_f_6bpfast_8_kernels_(\w+?)(\._omp_fn\.\d+)?$")


def _elf_machine(path):
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF":
        return None
    return int.from_bytes(head[18:20], "little")


@functools.lru_cache(maxsize=None)
def _aarch64_kernels():
    """(path, objdump) of the aarch64 build of the kernels to read: the one
    BPFAST_AARCH64_MODULE names, else the installed one on aarch64 Linux."""
    path = os.environ.get(AARCH64_MODULE, "").strip()
    if path:
        assert os.path.isfile(path), f"{AARCH64_MODULE}={path}: no such file"
        assert _elf_machine(path) == 183, f"{AARCH64_MODULE}={path}: not an aarch64 ELF object"
        objdump = "objdump" if ON_AARCH64_LINUX else "aarch64-linux-gnu-objdump"
    elif ON_AARCH64_LINUX:
        path, objdump = _built("baseline"), "objdump"
    else:
        pytest.skip(f"no aarch64 build to read: on aarch64 Linux the installed one; elsewhere "
                    f"set {AARCH64_MODULE}=path/to/_kernels_baseline.<suffix>.so (a "
                    f"cross-built module, e.g. from TARGET=aarch64 scripts/build_wheel.sh)")
    if shutil.which(objdump) is None:
        pytest.skip(f"{objdump} is not installed (binutils"
                    f"{'' if objdump == 'objdump' else '-aarch64-linux-gnu'})")
    return path, objdump


def _fmla_kinds(insns):
    """{'2d': n, '4s': n, '2s': n}: the vector FMAs (fmla) among `insns`, by
    arrangement (by-element forms, v0.2d, v1.2d, v2.d[1], count too)."""
    kinds = {"2d": 0, "4s": 0, "2s": 0}
    for m, a in insns:
        if m == "fmla":
            kind = AARCH64_FMLA.match(a)
            if kind:
                kinds[kind.group(1)] += 1
    return kinds


def test_aarch64_kernels_use_neon_fma_and_no_sve():
    """The hot loops are NEON code with fused multiply-adds on vectors: the
    dot products of the matrix-vector products (thin_gemm: bp_dot, bp_dot4),
    the weight norms (bp_norms_*) and the optimizers' updates (step_chunk);
    double in v.2d, float in v.4s. The baseline has no SVE instruction."""
    path, objdump = _aarch64_kernels()
    functions = disassemble_functions(path, objdump)
    insns = [i for body in functions.values() for i in body]
    assert len(insns) > 10_000, "no code found: is this a Cython module?"
    total = _fmla_kinds(insns)
    sve = [i for i in insns if SVE_OPERAND.search(i[1])]
    print(f"{os.path.basename(path)}: {len(insns)} instructions, "
          f"{sum(total.values())} fmla ({total['2d']} .2d, {total['4s']} .4s, "
          f"{total['2s']} .2s), {len(sve)} SVE")
    assert not sve, sve[:5]
    assert total["2d"] >= 50 and total["4s"] >= 20, total

    # by function, where the object has its symbols (the wheel's modules are
    # stripped: their code is the same, without the names)
    by_function = {}
    for name, body in functions.items():
        m = FUSED.match(name)
        if m:
            key = (m.group(2), "double" if m.group(1) == "1" else "float")
        elif name.startswith("bp_norms_"):
            key = (name, "double")
        else:
            continue
        kinds = _fmla_kinds(body)
        acc = by_function.setdefault(key, {"2d": 0, "4s": 0, "2s": 0})
        for kind, n in kinds.items():
            acc[kind] += n
    if not by_function:
        print("  (no symbols: no count by function)")
        return
    for (name, dtype), kinds in sorted(by_function.items(),
                                       key=lambda kv: -sum(kv[1].values())):
        if sum(kinds.values()):
            print(f"  {name} ({dtype}): {kinds['2d']} .2d, {kinds['4s']} .4s, "
                  f"{kinds['2s']} .2s")
    # thin_gemm holds the dot products of one and of four rows; the norms are
    # summed in double lanes for both dtypes (BP_V8_LOAD_F2D)
    assert by_function.get(("thin_gemm", "double"), {}).get("2d", 0) >= 8, by_function
    assert by_function.get(("thin_gemm", "float"), {}).get("4s", 0) >= 4, by_function
    norms = [k for (name, _), k in by_function.items() if "norms" in name]
    assert any(k["2d"] >= 4 for k in norms), by_function
    step = [k for (name, _), k in by_function.items() if name.startswith("step_chunk")]
    assert any(k["2d"] or k["4s"] for k in step), by_function
