# The CPU probe bpfast/_dispatch.py asks before it loads a build of the
# kernels (bpfast/src/bp_cpu.h: CPUID, and XGETBV for the OS's support of
# the vector state; on aarch64 the kernel's HWCAP bits). One build only, for
# the baseline (setup.py): this module must import on every CPU the wheel is
# for, since a build of the kernels for a level the CPU lacks may die of
# SIGILL as it loads.

from bpfast._native cimport (
    BP_BUILD_BY_REQUEST, BP_BUILD_LEVELS, BP_CPU_AARCH64, BP_CPU_NFEATURES, BP_CPU_X86,
    bp_cpu_brand, bp_cpu_feature_name, bp_cpu_features, bp_cpu_vendor)

IS_X86 = bool(BP_CPU_X86)
IS_AARCH64 = bool(BP_CPU_AARCH64)
# the builds of the kernels setup.py made with this module, low to high
# (bit i of BP_BUILD_LEVELS: the i-th of these)
BUILT = tuple(lv for i, lv in enumerate(("baseline", "v3", "v4", "native"))
              if (BP_BUILD_LEVELS >> i) & 1)
# whether BPFAST_LEVELS, BPFAST_NATIVE or BPFAST_DEBUG chose them (else: the
# default, every level of the architecture)
BUILT_BY_REQUEST = bool(BP_BUILD_BY_REQUEST)
FEATURES = tuple(bp_cpu_feature_name(i).decode("ascii") for i in range(BP_CPU_NFEATURES))


def features():
    """{name: bool} for every feature in FEATURES, as CPUID and XCR0 say now
    (OS_YMM / OS_ZMM: the OS saves the YMM / AVX-512 registers); on aarch64,
    as the kernel's HWCAP bits say (ASIMD, FPHP, ASIMDHP, ASIMDDP, ASIMDFHM,
    SVE, SVE2). Empty elsewhere."""
    if BP_CPU_NFEATURES == 0:
        return {}
    cdef unsigned long long bits = bp_cpu_features()
    return {name: bool((bits >> i) & 1) for i, name in enumerate(FEATURES)}


def vendor():
    """CPUID's vendor string ("GenuineIntel", "AuthenticAMD"); "" off x86
    (ARM CPUs have none)."""
    cdef char out[16]
    bp_cpu_vendor(out)
    return out.decode("ascii", "replace")


def brand():
    """CPUID's processor brand string, stripped; on arm64 macOS the system's
    ("Apple M1"); "" where there is none (aarch64 Linux, other CPUs)."""
    cdef char out[64]
    bp_cpu_brand(out)
    return out.decode("ascii", "replace").strip()
