/* bp_cpu.h: what this CPU and its operating system support, for choosing the
   build of the kernels to load (bpfast/_dispatch.py, through bpfast/_cpu.pyx).

   This code runs before any build of the kernels is chosen, so bpfast._cpu,
   which calls it, is compiled for the x86-64 baseline only (setup.py) and it
   uses nothing beyond it: CPUID, and XGETBV only once CPUID says the OS
   enabled it (OSXSAVE). (The kernels' modules include it too, as every
   header bpfast/_native.pxd declares, but never call it.)

   bp_cpu_features() returns one bit per BP_CPU_* feature below. The x86-64
   psABI levels are sets of them (bpfast/_dispatch.py):
     v2: SSE3 SSSE3 SSE41 SSE42 POPCNT CX16 LAHF
     v3: v2 + AVX AVX2 FMA3 BMI BMI2 F16C LZCNT MOVBE, and OS_YMM (the OS
         saves the YMM state: XCR0 bits 1-2)
     v4: v3 + AVX512F AVX512BW AVX512CD AVX512DQ AVX512VL, and OS_ZMM (the OS
         saves the opmask and ZMM state too: XCR0 bits 5-7)
   A CPU may have an instruction set the OS does not save the registers of
   (a hypervisor, a kernel booted with noxsave): AVX code there would fault,
   hence the OS_* bits.

   aarch64 has one level, the baseline: ARMv8-A, whose Advanced SIMD (NEON,
   feature ASIMD) every CPU has and every build may use. Its features are
   reported, not chosen from: ASIMD, the half-precision and dot-product
   extensions, SVE and SVE2, read from the kernel's HWCAP bits (Linux:
   getauxval) or sysctl (macOS). BP_CPU_AARCH64 is 1 there.
   Elsewhere there is no feature (BP_CPU_NFEATURES is 0) and BP_CPU_X86 and
   BP_CPU_AARCH64 are 0. */
#ifndef BPFAST_BP_CPU_H
#define BPFAST_BP_CPU_H

#include "bp_compat.h"

/* What setup.py built (it defines these for bpfast._cpu only): bit i of
   BP_BUILD_LEVELS for the i-th of baseline, v3, v4, native; and
   BP_BUILD_BY_REQUEST, whether BPFAST_LEVELS, BPFAST_NATIVE or BPFAST_DEBUG
   chose them. Numbers, since a string macro's quotes do not survive every
   compiler's command line. */
#ifndef BP_BUILD_LEVELS
#define BP_BUILD_LEVELS 0
#endif
#ifndef BP_BUILD_BY_REQUEST
#define BP_BUILD_BY_REQUEST 0
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(_M_AMD64) \
    || defined(__i386__) || defined(_M_IX86)
#define BP_CPU_X86 1
#define BP_CPU_AARCH64 0

enum {
    BP_CPU_SSE3, BP_CPU_SSSE3, BP_CPU_SSE41, BP_CPU_SSE42, BP_CPU_POPCNT,
    BP_CPU_CX16, BP_CPU_LAHF,
    BP_CPU_OSXSAVE, BP_CPU_OS_YMM, BP_CPU_AVX, BP_CPU_AVX2, BP_CPU_FMA3,
    BP_CPU_BMI, BP_CPU_BMI2, BP_CPU_F16C, BP_CPU_LZCNT, BP_CPU_MOVBE,
    BP_CPU_OS_ZMM, BP_CPU_AVX512F, BP_CPU_AVX512BW, BP_CPU_AVX512CD,
    BP_CPU_AVX512DQ, BP_CPU_AVX512VL,
    BP_CPU_NFEATURES
};

/* numpy's names (its __cpu_features__ keys) where it has one */
BP_INLINE const char* bp_cpu_feature_name(int i) {
    switch (i) {
    case BP_CPU_SSE3: return "SSE3";
    case BP_CPU_SSSE3: return "SSSE3";
    case BP_CPU_SSE41: return "SSE41";
    case BP_CPU_SSE42: return "SSE42";
    case BP_CPU_POPCNT: return "POPCNT";
    case BP_CPU_CX16: return "CX16";
    case BP_CPU_LAHF: return "LAHF";
    case BP_CPU_OSXSAVE: return "OSXSAVE";
    case BP_CPU_OS_YMM: return "OS_YMM";
    case BP_CPU_AVX: return "AVX";
    case BP_CPU_AVX2: return "AVX2";
    case BP_CPU_FMA3: return "FMA3";
    case BP_CPU_BMI: return "BMI";
    case BP_CPU_BMI2: return "BMI2";
    case BP_CPU_F16C: return "F16C";
    case BP_CPU_LZCNT: return "LZCNT";
    case BP_CPU_MOVBE: return "MOVBE";
    case BP_CPU_OS_ZMM: return "OS_ZMM";
    case BP_CPU_AVX512F: return "AVX512F";
    case BP_CPU_AVX512BW: return "AVX512BW";
    case BP_CPU_AVX512CD: return "AVX512CD";
    case BP_CPU_AVX512DQ: return "AVX512DQ";
    case BP_CPU_AVX512VL: return "AVX512VL";
    default: return "";
    }
}


#if defined(_MSC_VER) && !defined(__clang__)
/* <intrin.h>: bp_compat.h */
BP_INLINE void bp_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    int x[4];
    __cpuidex(x, (int)leaf, (int)sub);
    r[0] = (unsigned)x[0]; r[1] = (unsigned)x[1];
    r[2] = (unsigned)x[2]; r[3] = (unsigned)x[3];
}
BP_INLINE unsigned long long bp_xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
BP_INLINE void bp_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
/* the instruction itself: the _xgetbv() intrinsic would need -mxsave */
BP_INLINE unsigned long long bp_xgetbv0(void) {
    unsigned a, d;
    __asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
    return ((unsigned long long)d << 32) | a;
}
#endif

#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#define BP_BIT(reg, n) (((reg) >> (n)) & 1u)

BP_INLINE unsigned long long bp_cpu_features(void) {
    unsigned r0[4], r1[4] = {0, 0, 0, 0}, r7[4] = {0, 0, 0, 0};
    unsigned rx[4] = {0, 0, 0, 0}, rx1[4] = {0, 0, 0, 0};
    unsigned long long f = 0, xcr0 = 0;
    int os_ymm = 0, os_zmm = 0;
#define BP_SET(name, cond) do { if (cond) f |= 1ull << BP_CPU_##name; } while (0)
    bp_cpuid(0, 0, r0);
    if (r0[0] < 1) return 0;
    bp_cpuid(1, 0, r1);
    if (r0[0] >= 7) bp_cpuid(7, 0, r7);
    bp_cpuid(0x80000000u, 0, rx);
    if (rx[0] >= 0x80000001u) bp_cpuid(0x80000001u, 0, rx1);

    BP_SET(SSE3, BP_BIT(r1[2], 0));
    BP_SET(SSSE3, BP_BIT(r1[2], 9));
    BP_SET(SSE41, BP_BIT(r1[2], 19));
    BP_SET(SSE42, BP_BIT(r1[2], 20));
    BP_SET(POPCNT, BP_BIT(r1[2], 23));
    BP_SET(CX16, BP_BIT(r1[2], 13));
    BP_SET(LAHF, BP_BIT(rx1[2], 0));

    /* the OS's support of the vector state: OSXSAVE, then XCR0 */
    if (BP_BIT(r1[2], 27)) {
        f |= 1ull << BP_CPU_OSXSAVE;
        xcr0 = bp_xgetbv0();
        os_ymm = (xcr0 & 0x6) == 0x6;       /* SSE and AVX state */
        os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    }
#if defined(__APPLE__)
    /* macOS turns the AVX-512 state on at its first use: XCR0 lacks it till then */
    if (os_ymm && !os_zmm) {
        int v = 0;
        size_t n = sizeof v;
        if (sysctlbyname("hw.optional.avx512f", &v, &n, NULL, 0) == 0 && v) os_zmm = 1;
    }
#endif
    BP_SET(OS_YMM, os_ymm);
    BP_SET(AVX, BP_BIT(r1[2], 28));
    BP_SET(AVX2, BP_BIT(r7[1], 5));
    BP_SET(FMA3, BP_BIT(r1[2], 12));
    BP_SET(BMI, BP_BIT(r7[1], 3));
    BP_SET(BMI2, BP_BIT(r7[1], 8));
    BP_SET(F16C, BP_BIT(r1[2], 29));
    BP_SET(LZCNT, BP_BIT(rx1[2], 5));      /* ABM */
    BP_SET(MOVBE, BP_BIT(r1[2], 22));

    BP_SET(OS_ZMM, os_zmm);
    BP_SET(AVX512F, BP_BIT(r7[1], 16));
    BP_SET(AVX512DQ, BP_BIT(r7[1], 17));
    BP_SET(AVX512CD, BP_BIT(r7[1], 28));
    BP_SET(AVX512BW, BP_BIT(r7[1], 30));
    BP_SET(AVX512VL, BP_BIT(r7[1], 31));
#undef BP_SET
    return f;
}

/* "GenuineIntel", "AuthenticAMD", ...: out holds at least 13 bytes */
BP_INLINE void bp_cpu_vendor(char* out) {
    unsigned r[4];
    bp_cpuid(0, 0, r);
    memcpy(out, &r[1], 4);
    memcpy(out + 4, &r[3], 4);
    memcpy(out + 8, &r[2], 4);
    out[12] = 0;
}

/* the processor's brand string ("" where CPUID has none): out holds at least
   49 bytes */
BP_INLINE void bp_cpu_brand(char* out) {
    unsigned r[4];
    unsigned leaf;
    out[0] = 0;
    bp_cpuid(0x80000000u, 0, r);
    if (r[0] < 0x80000004u) return;
    for (leaf = 0; leaf < 3; leaf++) {
        bp_cpuid(0x80000002u + leaf, 0, r);
        memcpy(out + 16 * leaf, r, 16);
    }
    out[48] = 0;
}

#elif defined(__aarch64__)
#define BP_CPU_X86 0
#define BP_CPU_AARCH64 1

enum {
    BP_CPU_ASIMD, BP_CPU_FPHP, BP_CPU_ASIMDHP, BP_CPU_ASIMDDP, BP_CPU_ASIMDFHM,
    BP_CPU_SVE, BP_CPU_SVE2,
    BP_CPU_NFEATURES
};

/* numpy's names (its __cpu_features__ keys) where it has one */
BP_INLINE const char* bp_cpu_feature_name(int i) {
    switch (i) {
    case BP_CPU_ASIMD: return "ASIMD";
    case BP_CPU_FPHP: return "FPHP";
    case BP_CPU_ASIMDHP: return "ASIMDHP";
    case BP_CPU_ASIMDDP: return "ASIMDDP";
    case BP_CPU_ASIMDFHM: return "ASIMDFHM";
    case BP_CPU_SVE: return "SVE";
    case BP_CPU_SVE2: return "SVE2";
    default: return "";
    }
}

#if defined(__linux__)
#include <sys/auxv.h>
/* the kernel's HWCAP bits (Linux's arch/arm64/include/uapi/asm/hwcap.h):
   by number, so that no kernel header is needed */
#define BP_HWCAP_ASIMD (1ul << 1)
#define BP_HWCAP_FPHP (1ul << 9)
#define BP_HWCAP_ASIMDHP (1ul << 10)
#define BP_HWCAP_ASIMDDP (1ul << 20)
#define BP_HWCAP_SVE (1ul << 22)
#define BP_HWCAP_ASIMDFHM (1ul << 23)
#define BP_HWCAP2_SVE2 (1ul << 1)
#elif defined(__APPLE__)
#include <sys/sysctl.h>
BP_INLINE int bp_sysctl_flag(const char* name) {
    int v = 0;
    size_t n = sizeof v;
    return sysctlbyname(name, &v, &n, NULL, 0) == 0 && v;
}
#endif

BP_INLINE unsigned long long bp_cpu_features(void) {
    unsigned long long f = 0;
#define BP_SET(name, cond) do { if (cond) f |= 1ull << BP_CPU_##name; } while (0)
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP), hw2 = 0;
#if defined(AT_HWCAP2)
    hw2 = getauxval(AT_HWCAP2);
#endif
    BP_SET(ASIMD, hw & BP_HWCAP_ASIMD);
    BP_SET(FPHP, hw & BP_HWCAP_FPHP);
    BP_SET(ASIMDHP, hw & BP_HWCAP_ASIMDHP);
    BP_SET(ASIMDDP, hw & BP_HWCAP_ASIMDDP);
    BP_SET(ASIMDFHM, hw & BP_HWCAP_ASIMDFHM);
    BP_SET(SVE, hw & BP_HWCAP_SVE);
    BP_SET(SVE2, hw2 & BP_HWCAP2_SVE2);
#elif defined(__APPLE__)
    BP_SET(ASIMD, 1);   /* every arm64 Mac */
    BP_SET(FPHP, bp_sysctl_flag("hw.optional.arm.FEAT_FP16"));
    BP_SET(ASIMDHP, bp_sysctl_flag("hw.optional.arm.FEAT_FP16"));
    BP_SET(ASIMDDP, bp_sysctl_flag("hw.optional.arm.FEAT_DotProd"));
    BP_SET(ASIMDFHM, bp_sysctl_flag("hw.optional.arm.FEAT_FHM"));
#else
    BP_SET(ASIMD, 1);   /* ARMv8-A: Advanced SIMD is part of the architecture */
#endif
#undef BP_SET
    return f;
}

/* no vendor string: ARM CPUs have no CPUID-like one */
BP_INLINE void bp_cpu_vendor(char* out) { out[0] = 0; }

/* the processor's name where the OS gives one (macOS: "Apple M1"); "" on
   Linux, which has none for ARM CPUs. out holds at least 49 bytes */
BP_INLINE void bp_cpu_brand(char* out) {
    out[0] = 0;
#if defined(__APPLE__)
    {
        size_t n = 48;
        if (sysctlbyname("machdep.cpu.brand_string", out, &n, NULL, 0) != 0) n = 0;
        out[n < 48 ? n : 48] = 0;
    }
#endif
}

#else  /* neither x86 nor aarch64 */
#define BP_CPU_X86 0
#define BP_CPU_AARCH64 0
enum { BP_CPU_NFEATURES = 0 };
BP_INLINE const char* bp_cpu_feature_name(int i) { (void)i; return ""; }
BP_INLINE unsigned long long bp_cpu_features(void) { return 0; }
BP_INLINE void bp_cpu_vendor(char* out) { out[0] = 0; }
BP_INLINE void bp_cpu_brand(char* out) { out[0] = 0; }
#endif

#endif  /* BPFAST_BP_CPU_H */
