"""Which build of the kernels this process runs.

Every build of bpfast (wheel or source) compiles bpfast/_kernels.pyx once per
instruction-set level (setup.py):

    bpfast._kernels_baseline   x86-64: SSE2, which every x86-64 CPU has
    bpfast._kernels_v3         x86-64-v3: AVX, AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE
    bpfast._kernels_v4         x86-64-v4: v3 + AVX-512 F, BW, CD, DQ, VL

and bpfast/_random.pyx (the random streams: a shuffle per epoch) likewise, as
bpfast._random_<level>. Elsewhere than x86-64 the baseline only (aarch64:
ARMv8-A, whose Advanced SIMD, NEON, every CPU has; no SVE level);
BPFAST_NATIVE=1 builds one of each, bpfast._kernels_native and
_random_native, for the building machine. bpfast._kernels
(bpfast/_kernels.py) is whichever of them load() picks, and bpfast._random
(bpfast/_random.py) the same level's: the best level that the CPU and the OS
support (bpfast._cpu: CPUID, and XCR0 for the OS's saving of the YMM / ZMM
registers), or the one BPFAST_CPU=baseline|v3|v4 asks for. Where the CPU
lacks the level asked for, or it was not built, the best level below it is
loaded, with a RuntimeWarning.

No level module is imported before the probe says the CPU runs it: a module
built for a level the CPU lacks can die of SIGILL while it loads (Cython's
module set-up is vectorised too), which no `except` catches.

Numbers: within one level, results do not depend on the thread count (the
kernels' reductions and GEMM grids are fixed). Across levels they may differ
in the last bits: the v3 and v4 builds contract a * b + c into one FMA
instruction, rounded once, where the baseline rounds twice. BPFAST_CPU=baseline
gives the same bits on every x86-64 machine.
"""

import importlib
import importlib.machinery
import os
import warnings

LEVELS = ("baseline", "v3", "v4")   # low to high
ENV = "BPFAST_CPU"

# The features of each x86-64 psABI level (bp_cpu.h names them): v2's are
# part of v3's, since a v3 build may use them; OS_YMM / OS_ZMM are the OS's
# saving of the registers, without which AVX / AVX-512 code faults.
V2 = ("SSE3", "SSSE3", "SSE41", "SSE42", "POPCNT", "CX16", "LAHF")
V3 = V2 + ("AVX", "AVX2", "FMA3", "BMI", "BMI2", "F16C", "LZCNT", "MOVBE", "OS_YMM")
V4 = V3 + ("AVX512F", "AVX512BW", "AVX512CD", "AVX512DQ", "AVX512VL", "OS_ZMM")
REQUIRES = {"baseline": (), "v3": V3, "v4": V4}
# aarch64's one level: ARMv8-A's Advanced SIMD (NEON), which every ARMv8-A CPU
# has (bp_cpu.h reads it from the kernel's HWCAP bits)
AARCH64_REQUIRES = {"baseline": ("ASIMD",)}
# the instruction set of each level, by architecture (show_config)
DESCRIPTIONS = {
    "x86_64": {"baseline": "x86-64, SSE2", "v3": "x86-64-v3, AVX2 + FMA",
               "v4": "x86-64-v4, AVX-512"},
    "aarch64": {"baseline": "ARMv8-A, NEON"},
}

# what load() chose: {"level", "module" (the kernels'), "reason", "requested",
# "message", "modules" (the level modules loaded)}
loaded = {}

# the modules built per level (setup.py), each with a stub of its name
# (bpfast/_kernels.py, bpfast/_random.py) that load()s it
DISPATCHED = ("_kernels", "_random")


def cpu_features():
    """{feature: bool} from the CPU probe (x86-64: CPUID and XCR0; aarch64:
    HWCAP); {} elsewhere."""
    from . import _cpu

    return _cpu.features()


def is_x86():
    from . import _cpu

    return _cpu.IS_X86


def missing(level, features, requires=REQUIRES):
    """The features `level` needs that `features` lacks, in the order of
    `requires` (REQUIRES, x86-64's levels, or AARCH64_REQUIRES)."""
    return [name for name in requires[level] if not features.get(name, False)]


def architecture():
    """The architecture the kernels were built for, as DESCRIPTIONS names it:
    "x86_64", "aarch64", or "" for another."""
    from . import _cpu

    return "x86_64" if _cpu.IS_X86 else "aarch64" if _cpu.IS_AARCH64 else ""


def level_checks(features=None):
    """{level: the features it needs that this CPU (or one with `features`)
    lacks} for the levels show_config reports: x86-64's v3 and v4 (the
    baseline runs everywhere), aarch64's baseline; {} elsewhere."""
    features = cpu_features() if features is None else features
    arch = architecture()
    if arch == "x86_64":
        return {lv: missing(lv, features) for lv in LEVELS[1:]}
    if arch == "aarch64":
        return {"baseline": missing("baseline", features, AARCH64_REQUIRES)}
    return {}


def cpu_levels(features=None, x86=None):
    """The levels this CPU (or one with `features`) runs, low to high. Off
    x86: ("baseline",)."""
    x86 = is_x86() if x86 is None else x86
    if not x86:
        return ("baseline",)
    features = cpu_features() if features is None else features
    return tuple(lv for lv in LEVELS if not missing(lv, features))


def built_levels(name="_kernels"):
    """The builds of the module `name` present beside this module, found
    without importing them: a subset of LEVELS, low to high, or
    ("native",)."""
    # in this package's own directory only: an import system hook of another
    # copy of bpfast (an editable install's finder, for one) must not lend
    # it a level that was not built here
    package = __name__.rpartition(".")[0]
    here = [os.path.dirname(os.path.abspath(__file__))]
    found = tuple(lv for lv in LEVELS + ("native",)
                  if importlib.machinery.PathFinder.find_spec(
                      f"{package}.{name}_{lv}", here) is not None)
    if "native" in found:
        return ("native",)
    return found


def choose(requested, runs, built):
    """(level, reason, message) for BPFAST_CPU=`requested` ("" or None: not
    set) on a CPU that runs the levels `runs`, with the builds `built`.

    reason: "auto" (the best level the CPU runs), "forced" (BPFAST_CPU's),
    "fallback" (BPFAST_CPU asked for a level the CPU lacks, or that was not
    built, or for no level at all: the best below it instead) or "native"
    (a BPFAST_NATIVE=1 build, the only module there is). message: what the
    RuntimeWarning says, None when there is none."""
    requested = (requested or "").strip().lower()
    if built == ("native",):
        message = None
        if requested and requested != "native":
            message = (f"{ENV}={requested} is ignored: this bpfast is a native build "
                       "(BPFAST_NATIVE=1), for the building machine's CPU only")
        return "native", "native", message
    if not built:
        raise ImportError(
            "bpfast's kernels are not built (no bpfast/_kernels_<level> extension module "
            "beside bpfast/_kernels.py): install bpfast (pip install -e . in a source tree)")
    usable = [lv for lv in LEVELS if lv in built and lv in runs]
    if not usable:
        raise ImportError(
            "bpfast has no build of its kernels for this CPU: built "
            f"{', '.join(built) or 'none'}; the CPU runs {', '.join(runs)}. "
            "Reinstall bpfast (a build makes the baseline level for every CPU).")
    best = usable[-1]
    if not requested:
        return best, "auto", None
    if requested not in LEVELS:
        return best, "fallback", (f"{ENV}={requested!r} is not one of "
                                  f"{', '.join(LEVELS)}; using {best}")
    if requested in usable:
        return requested, "forced", None
    below = [lv for lv in usable if LEVELS.index(lv) <= LEVELS.index(requested)]
    level = below[-1] if below else usable[0]
    why = "this CPU lacks it" if requested not in runs else "it was not built"
    return level, "fallback", f"{ENV}={requested}: {why}; using {level}"


def load(name="_kernels"):
    """Import and return the build of the module `name` (bpfast._kernels or
    bpfast._random) for this CPU: the level is chosen once (see choose), by
    the first of them imported, and recorded in `loaded`; the other is
    loaded at the same level."""
    package = __name__.rpartition(".")[0]
    if not loaded:
        requested = os.environ.get(ENV, "")
        built = built_levels(name)
        runs = cpu_levels() if built != ("native",) else ("native",)
        level, reason, message = choose(requested, runs, built)
        if message:
            warnings.warn(f"bpfast: {message}", RuntimeWarning, stacklevel=3)
        loaded.update(level=level, module=f"{package}._kernels_{level}", reason=reason,
                      requested=requested.strip() or None, message=message, modules=[])
    level = loaded["level"]
    if level not in built_levels(name):
        raise ImportError(f"bpfast.{name} has no build for the level {level} that "
                          f"bpfast chose (built: {', '.join(built_levels(name)) or 'none'}): "
                          "reinstall bpfast")
    module = importlib.import_module(f"{package}.{name}_{level}")
    loaded["modules"].append(module.__name__)
    return module
