/* bp_vector.h: reductions in a fixed order (weight norms, dot products of
   one or four rows) and the double Adam update (AVX-512 where built for
   it). The eight-lane vector types and their operations are bp_compat.h's:
   GCC's vector extension, or plain lane loops with the same arithmetic. */
#ifndef BPFAST_BP_VECTOR_H
#define BPFAST_BP_VECTOR_H

#include "bp_compat.h"

/* |w|^2 and |w|_1 of w[0:n] in four accumulators of eight double lanes (lane
   k of accumulator a sums the elements 32 i + 8 a + k), combined in one
   fixed order: four independent chains, so the sum is not bound by the
   latency of one. Written with vector types so the compiler cannot fall
   back to a serial sum, and so the rounding is the same for every
   instruction set. LOAD is BP_V8_LOAD (double) or BP_V8_LOAD_F2D (float). */
#define BP_NORMS(NAME, T, LOAD)                                              \
BP_INLINE void NAME(const T* w, Py_ssize_t n, int want_sq, int want_abs,     \
                    double* out) {                                           \
    bp_v8d sq[4] = {BP_V8_ZERO, BP_V8_ZERO, BP_V8_ZERO, BP_V8_ZERO}, x;     \
    bp_v8d ab[4] = {BP_V8_ZERO, BP_V8_ZERO, BP_V8_ZERO, BP_V8_ZERO};        \
    Py_ssize_t p = 0, k;                                                     \
    int a;                                                                   \
    if (want_sq)                                                             \
        for (p = 0; p + 32 <= n; p += 32)                                    \
            for (a = 0; a < 4; a++) {                                        \
                LOAD(x, w + p + 8 * a);                                      \
                BP_V8_MUL_ADD(sq[a], x, x);                                  \
            }                                                                \
    if (want_abs)                                                            \
        for (p = 0; p + 32 <= n; p += 32)                                    \
            for (a = 0; a < 4; a++) {                                        \
                LOAD(x, w + p + 8 * a);                                      \
                BP_V8D_ADD_ABS(ab[a], x);                                    \
            }                                                                \
    p = n - n % 32;                                                          \
    for (k = 0; p + k < n; k++) {                                            \
        double e = (double)w[p + k];                                         \
        if (want_sq) BP_V8_LANE(sq[k / 8], k % 8) += e * e;                  \
        if (want_abs) BP_V8_LANE(ab[k / 8], k % 8) += fabs(e);               \
    }                                                                        \
    /* (s0 + s1) + (s2 + s3), lane by lane, then the lanes */                \
    BP_V8_ADD_TO(sq[0], sq[1]);                                              \
    BP_V8_ADD_TO(sq[2], sq[3]);                                              \
    BP_V8_ADD_TO(sq[0], sq[2]);                                              \
    BP_V8_ADD_TO(ab[0], ab[1]);                                              \
    BP_V8_ADD_TO(ab[2], ab[3]);                                              \
    BP_V8_ADD_TO(ab[0], ab[2]);                                              \
    out[0] = BP_V8_LANE_SUM(sq[0]);                                          \
    out[1] = BP_V8_LANE_SUM(ab[0]);                                          \
}
BP_NORMS(bp_norms_d, double, BP_V8_LOAD)
BP_NORMS(bp_norms_f, float, BP_V8_LOAD_F2D)
#undef BP_NORMS

/* a . b over n contiguous elements in eight lanes, combined in a fixed
   order (the dot products of a product with one output unit) */
#define BP_DOT(NAME, T, V)                                                   \
BP_INLINE T NAME(const T* a, const T* b, Py_ssize_t n) {                     \
    V s = BP_V8_ZERO, x, y;                                                  \
    Py_ssize_t p = 0, k;                                                     \
    for (; p + 8 <= n; p += 8) {                                             \
        BP_V8_LOAD(x, a + p);                                                \
        BP_V8_LOAD(y, b + p);                                                \
        BP_V8_MUL_ADD(s, x, y);                                              \
    }                                                                        \
    for (k = 0; p + k < n; k++) BP_V8_LANE(s, k) += a[p + k] * b[p + k];     \
    return BP_V8_LANE_SUM(s);                                                \
}
BP_DOT(bp_dot_d, double, bp_v8d)
BP_DOT(bp_dot_f, float, bp_v8f)
#undef BP_DOT

/* four rows of a (leading dimension lda) dotted with b at once, each in its
   own eight lanes with the same arithmetic as BP_DOT (so the same bits): b
   is loaded once for the four, and the four chains overlap */
#define BP_DOT4(NAME, T, V)                                                  \
BP_INLINE void NAME(const T* a, Py_ssize_t lda, const T* b, Py_ssize_t n,    \
                    T* out) {                                                \
    V s[4] = {BP_V8_ZERO, BP_V8_ZERO, BP_V8_ZERO, BP_V8_ZERO}, x, y;         \
    Py_ssize_t p = 0, k;                                                     \
    int r;                                                                   \
    for (; p + 8 <= n; p += 8) {                                             \
        BP_V8_LOAD(y, b + p);                                                \
        for (r = 0; r < 4; r++) {                                            \
            BP_V8_LOAD(x, a + r * lda + p);                                  \
            BP_V8_MUL_ADD(s[r], x, y);                                       \
        }                                                                    \
    }                                                                        \
    for (r = 0; r < 4; r++) {                                                \
        for (k = 0; p + k < n; k++)                                          \
            BP_V8_LANE(s[r], k) += a[r * lda + p + k] * b[p + k];            \
        out[r] = BP_V8_LANE_SUM(s[r]);                                       \
    }                                                                        \
}
BP_DOT4(bp_dot4_d, double, bp_v8d)
BP_DOT4(bp_dot4_f, float, bp_v8f)
#undef BP_DOT4

/* One double Adam update of n coefficients (see adam_chunk for the
   arithmetic, in the same order). Its cost is the sqrt and the division,
   which share one divider: ~2 ns an element. With AVX-512 the sqrt is taken
   off the divider: a 14-bit reciprocal square root estimate, two Newton
   steps and a final correction of sqrt(v) ~ v*y by the residual v - s*s,
   which gives the correctly rounded root (the same bits as sqrt in every
   one of 2M tested cases over v in [1e-60, 1]); lanes outside
   [2^-1000, 2^1000] (0, subnormal, inf, NaN) use sqrt itself. */
BP_INLINE double bp_adam_one(double* W, const double* G, double* M, double* V,
                             Py_ssize_t p, double lr, double b1, double c1,
                             double b2, double c2, double eps, double l2,
                             double l1) {
    double w = W[p], g = G[p] + l2 * w, m, v;
    g = g + (w > 0 ? l1 : (w < 0 ? -l1 : 0.0));
    m = b1 * M[p] + c1 * g;
    v = b2 * V[p] + c2 * (g * g);
    M[p] = m;
    V[p] = v;
    return w + (-lr * m) / (sqrt(v) + eps);
}
#if defined(__AVX512F__)
#include <immintrin.h>
/* Adam's state update for 8 elements at p (penalty on g, then m and v,
   stored); leaves w, m and v for the step. */
BP_ALWAYS_INLINE void bp_adam_mv8(
        double* W, const double* G, double* M, double* V, Py_ssize_t p,
        __m512d vb1, __m512d vc1, __m512d vb2, __m512d vc2, __m512d vl2,
        __m512d vl1, int with_l1, __m512d* w, __m512d* m, __m512d* v) {
    const __m512d zero = _mm512_setzero_pd();
    *w = _mm512_loadu_pd(W + p);
    __m512d g = _mm512_fmadd_pd(vl2, *w, _mm512_loadu_pd(G + p));
    if (with_l1) {
        __mmask8 pos = _mm512_cmp_pd_mask(*w, zero, _CMP_GT_OQ);
        __mmask8 neg = _mm512_cmp_pd_mask(*w, zero, _CMP_LT_OQ);
        __m512d sgn = _mm512_mask_mov_pd(_mm512_maskz_mov_pd(pos, vl1), neg,
                                         _mm512_sub_pd(zero, vl1));
        g = _mm512_add_pd(g, sgn);
    }
    *m = _mm512_fmadd_pd(vb1, _mm512_loadu_pd(M + p), _mm512_mul_pd(vc1, g));
    *v = _mm512_fmadd_pd(vb2, _mm512_loadu_pd(V + p),
                         _mm512_mul_pd(vc2, _mm512_mul_pd(g, g)));
    _mm512_storeu_pd(M + p, *m);
    _mm512_storeu_pd(V + p, *v);
}
/* The correctly rounded square root on the FMA units: a reciprocal square
   root estimate, two Newton steps and a residual correction (tested against
   the hardware's bits); outside [2^-1000, 2^1000] the hardware square root.
   (The bounds in decimal, each exactly its power of two: hexadecimal
   floating constants are not in every compiler's C.) */
BP_ALWAYS_INLINE __m512d bp_sqrt_fma8(__m512d v) {
    const __m512d half = _mm512_set1_pd(0.5), three_halves = _mm512_set1_pd(1.5);
    const __m512d lo = _mm512_set1_pd(9.3326361850321888e-302);   /* 2^-1000 */
    const __m512d hi = _mm512_set1_pd(1.0715086071862673e+301);   /* 2^1000 */
    __mmask8 normal = _mm512_cmp_pd_mask(v, lo, _CMP_GE_OQ)
                      & _mm512_cmp_pd_mask(v, hi, _CMP_LE_OQ);
    if (normal != 0xFF) return _mm512_sqrt_pd(v);
    __m512d y = _mm512_rsqrt14_pd(v), h = _mm512_mul_pd(half, v);
    y = _mm512_mul_pd(y, _mm512_fnmadd_pd(h, _mm512_mul_pd(y, y), three_halves));
    y = _mm512_mul_pd(y, _mm512_fnmadd_pd(h, _mm512_mul_pd(y, y), three_halves));
    __m512d s0 = _mm512_mul_pd(v, y);
    __m512d r = _mm512_fnmadd_pd(s0, s0, v);
    return _mm512_fmadd_pd(r, _mm512_mul_pd(half, y), s0);
}
/* Sixteen elements a step: the square root of the first eight on the FMA
   units, of the other eight on the divider, which the division shares. Both
   roots are correctly rounded, so the bits are those of one kind alone; the
   split balances the two units (AMD Zen, 704 doubles in cache: 0.62 ns an
   element against 0.85 with either root alone). */
BP_STATIC void bp_adam_d(double* W, const double* G, double* M, double* V,
                      Py_ssize_t n, double lr, double b1, double c1, double b2,
                      double c2, double eps, double l2, double l1) {
    const __m512d vb1 = _mm512_set1_pd(b1), vc1 = _mm512_set1_pd(c1);
    const __m512d vb2 = _mm512_set1_pd(b2), vc2 = _mm512_set1_pd(c2);
    const __m512d vl2 = _mm512_set1_pd(l2), vl1 = _mm512_set1_pd(l1);
    const __m512d vnlr = _mm512_set1_pd(-lr), veps = _mm512_set1_pd(eps);
    const int with_l1 = l1 != 0;
    __m512d w0, m0, v0, w1, m1, v1;
    Py_ssize_t p = 0;
    for (; p + 16 <= n; p += 16) {
        bp_adam_mv8(W, G, M, V, p, vb1, vc1, vb2, vc2, vl2, vl1, with_l1, &w0, &m0, &v0);
        bp_adam_mv8(W, G, M, V, p + 8, vb1, vc1, vb2, vc2, vl2, vl1, with_l1,
                    &w1, &m1, &v1);
        __m512d s0 = bp_sqrt_fma8(v0), s1 = _mm512_sqrt_pd(v1);
        _mm512_storeu_pd(W + p, _mm512_add_pd(w0, _mm512_div_pd(
            _mm512_mul_pd(vnlr, m0), _mm512_add_pd(s0, veps))));
        _mm512_storeu_pd(W + p + 8, _mm512_add_pd(w1, _mm512_div_pd(
            _mm512_mul_pd(vnlr, m1), _mm512_add_pd(s1, veps))));
    }
    if (p + 8 <= n) {
        bp_adam_mv8(W, G, M, V, p, vb1, vc1, vb2, vc2, vl2, vl1, with_l1, &w0, &m0, &v0);
        _mm512_storeu_pd(W + p, _mm512_add_pd(w0, _mm512_div_pd(
            _mm512_mul_pd(vnlr, m0), _mm512_add_pd(bp_sqrt_fma8(v0), veps))));
        p += 8;
    }
    for (; p < n; p++) W[p] = bp_adam_one(W, G, M, V, p, lr, b1, c1, b2, c2, eps, l2, l1);
}
#else
BP_STATIC void bp_adam_d(double* W, const double* G, double* M, double* V,
                      Py_ssize_t n, double lr, double b1, double c1, double b2,
                      double c2, double eps, double l2, double l1) {
    for (Py_ssize_t p = 0; p < n; p++)
        W[p] = bp_adam_one(W, G, M, V, p, lr, b1, c1, b2, c2, eps, l2, l1);
}
#endif

#endif /* BPFAST_BP_VECTOR_H */
