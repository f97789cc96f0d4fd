/* bp_math.h: exp and log in plain arithmetic (so that the loops calling
   them vectorise) and the elementwise cross-entropy loops of BP1. */
#ifndef BPFAST_BP_MATH_H
#define BPFAST_BP_MATH_H

#include "bp_compat.h"

/* exp(x) in plain arithmetic, so that loops calling it vectorise (libm's
   exp is an opaque call per element). x = n ln2 + r with |r| <= ln2 / 2
   (Cody-Waite with a two-part ln2), exp(r) by its Taylor series to r^13
   (truncation < 1e-17 relative), 2^n applied in two exact halves so that
   subnormal results come out right. Error about 1 ulp; NaN gives NaN, +inf
   and anything above 709.8 give +inf, below -745.2 give 0. */
BP_INLINE double bp_exp(double x) {
    const double shifter = 6755399441055744.0;          /* 1.5 * 2^52 */
    double xc = x < -745.2 ? -745.2 : (x > 709.8 ? 709.8 : x);
    double t = xc * 1.4426950408889634 + shifter;
    double n = t - shifter;                              /* round(x / ln2) */
    double r = (xc - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t tb, sb, ni, n1, n2, e1, e2;
    double s1, s2, shf = shifter;
    memcpy(&tb, &t, 8);
    memcpy(&sb, &shf, 8);
    ni = tb - sb;                                        /* n, exactly */
    n1 = ni >> 1;
    n2 = ni - n1;
    e1 = (n1 + 1023) << 52;
    e2 = (n2 + 1023) << 52;
    memcpy(&s1, &e1, 8);
    memcpy(&s2, &e2, 8);
    double res = (p * s1) * s2;
    res = x > 709.8 ? HUGE_VAL : res;
    return x < -745.2 ? 0.0 : res;
}
BP_INLINE float bp_expf(float x) { return (float)bp_exp((double)x); }

/* log(x) for x positive and normal, or NaN (which gives NaN), in plain
   arithmetic so that loops calling it vectorise. x = 2^e f with f in
   [sqrt(1/2), sqrt(2)); log f = 2 atanh(s), s = (f - 1) / (f + 1),
   |s| < 0.1716, by its odd series to s^23 (truncation < 1e-18 relative);
   e ln2 in two parts. Error about 1 ulp. Zero, negatives, subnormals and
   infinities are outside its domain: the kernels call it on probabilities
   clipped to [eps, 1 - eps]. */
BP_INLINE double bp_log(double x) {
    int64_t bits, fb;
    double f, e, s, s2, p;
    memcpy(&bits, &x, 8);
    int64_t ei = ((bits >> 52) & 0x7ff) - 1023;
    fb = (bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL;
    memcpy(&f, &fb, 8);
    int64_t up = f > 1.4142135623730951;
    f = up ? 0.5 * f : f;
    e = (double)(ei + up);
    s = (f - 1.0) / (f + 1.0);
    s2 = s * s;
    p = 1.0 / 23;
    p = p * s2 + 1.0 / 21;
    p = p * s2 + 1.0 / 19;
    p = p * s2 + 1.0 / 17;
    p = p * s2 + 1.0 / 15;
    p = p * s2 + 1.0 / 13;
    p = p * s2 + 1.0 / 11;
    p = p * s2 + 1.0 / 9;
    p = p * s2 + 1.0 / 7;
    p = p * s2 + 1.0 / 5;
    p = p * s2 + 1.0 / 3;
    p = p * s2;
    double r = e * 6.93147180369123816490e-01
               + (2.0 * s + (2.0 * s * p + e * 1.90821492927058770002e-10));
    return r + (x - x);
}
BP_INLINE float bp_logf(float x) { return (float)bp_log((double)x); }

/* Cross-entropy terms of n outputs, elementwise (BP1): on entry z holds the
   probabilities p and t the targets y; on exit z holds p - y and t the loss
   term, with p clipped to [eps, 1 - eps] as scikit-learn's log_loss:
   -y log p (softmax) or -(y log p + (1 - y) log(1 - p)) (logistic). Compiled
   on their own (BP_NOINLINE): once gcc inlines them, or specialises them
   for the constant eps, it leaves the loops scalar ("control flow in
   loop"); as they stand they vectorise. */
#define BP_XENT(SUFFIX, T, LOG)                                              \
BP_NOINLINE void bp_xent_softmax##SUFFIX(T* z, T* t, Py_ssize_t n, T eps) {  \
    for (Py_ssize_t i = 0; i < n; i++) {                                     \
        T p = z[i], y = t[i];                                                \
        T pc = p < eps ? eps : (p > 1 - eps ? 1 - eps : p);                  \
        z[i] = p - y;                                                        \
        t[i] = -(y * LOG(pc));                                               \
    }                                                                        \
}                                                                            \
BP_NOINLINE void bp_xent_logistic##SUFFIX(T* z, T* t, Py_ssize_t n, T eps) { \
    for (Py_ssize_t i = 0; i < n; i++) {                                     \
        T p = z[i], y = t[i];                                                \
        T pc = p < eps ? eps : (p > 1 - eps ? 1 - eps : p);                  \
        z[i] = p - y;                                                        \
        t[i] = -(y * LOG(pc) + (1 - y) * LOG(1 - pc));                       \
    }                                                                        \
}
BP_XENT(_d, double, bp_log)
BP_XENT(_f, float, bp_logf)
#undef BP_XENT

#endif /* BPFAST_BP_MATH_H */
