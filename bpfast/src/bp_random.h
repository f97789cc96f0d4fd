/* bp_random.h: MT19937 over numpy's own state, for the shuffle and the
   uniform draws of the weight initialisation: inline, instead of one call
   through the BitGenerator's function pointer per draw. */
#ifndef BPFAST_BP_RANDOM_H
#define BPFAST_BP_RANDOM_H

#include "bp_compat.h"

/* MT19937 (Matsumoto & Nishimura 1998) over a state laid out as numpy's
   MT19937 keeps it: 624 words and the position of the next one. The
   shuffle draws through these inline functions instead of one call through
   the BitGenerator's function pointer per draw, once mt_layout_matches has
   checked the layout against numpy's own draws. */
typedef struct { uint32_t key[624]; int pos; } bp_mt_state;
BP_STATIC void bp_mt_refill(bp_mt_state* s) {
    const uint32_t upper = 0x80000000U, lower = 0x7fffffffU, a = 0x9908b0dfU;
    uint32_t y;
    int i;
    /* word i from words i, i + 1 and i + 397, indices taken mod 624 */
    for (i = 0; i < 227; i++) {
        y = (s->key[i] & upper) | (s->key[i + 1] & lower);
        s->key[i] = s->key[i + 397] ^ (y >> 1) ^ ((y & 1U) ? a : 0U);
    }
    for (; i < 623; i++) {
        y = (s->key[i] & upper) | (s->key[i + 1] & lower);
        s->key[i] = s->key[i - 227] ^ (y >> 1) ^ ((y & 1U) ? a : 0U);
    }
    y = (s->key[623] & upper) | (s->key[0] & lower);
    s->key[623] = s->key[396] ^ (y >> 1) ^ ((y & 1U) ? a : 0U);
    s->pos = 0;
}
BP_INLINE uint32_t bp_mt_temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    return y ^ (y >> 18);
}
/* Fisher-Yates from the back over x[0 .. n-1], each j drawn in [0, i] by
   masked rejection (numpy's legacy bounded draw for a 32-bit range), with
   the position in the state kept in a register between refills: in memory,
   every draw would wait on the previous draw's store of it. */
BP_STATIC void bp_mt_shuffle(bp_mt_state* s, Py_ssize_t* x, Py_ssize_t n) {
    int pos = s->pos;
    for (Py_ssize_t i = n - 1; i > 0; i--) {
        uint32_t top = (uint32_t)i, mask = 0xFFFFFFFFU >> bp_clz32(top), y;
        do {
            if (pos >= 624) { bp_mt_refill(s); pos = 0; }
            y = bp_mt_temper(s->key[pos++]) & mask;
        } while (y > top);
        Py_ssize_t t = x[i];
        x[i] = x[y];
        x[y] = t;
    }
    s->pos = pos;
}
BP_INLINE uint32_t bp_mt_next32(bp_mt_state* s) {
    if (s->pos >= 624) bp_mt_refill(s);
    return bp_mt_temper(s->key[s->pos++]);
}

/* lower + range * u over u[0:k], into out64 (which may be u itself) or
   rounded to float into out32. With `fused` each value is one fused
   multiply-add (what a numpy whose compiler contracted it computes),
   otherwise it is rounded twice: all the products are stored first, and an
   empty asm that may have changed them stands between them and the sums,
   so this compiler cannot contract the two into one instruction and still
   vectorises both loops (elsewhere a volatile temporary, in one scalar
   loop, keeps them apart). */
BP_STATIC void bp_uniform_scale(double* u, Py_ssize_t k, double lower, double range,
                             int fused, double* out64, float* out32) {
    Py_ssize_t j;
    double* v = out64 ? out64 : u;
    if (fused) {
        for (j = 0; j < k; j++) v[j] = fma(range, u[j], lower);
    } else {
#if defined(__GNUC__) || defined(__clang__)
        for (j = 0; j < k; j++) v[j] = range * u[j];
        __asm__ __volatile__("" : : "r"(v) : "memory");
        for (j = 0; j < k; j++) v[j] = lower + v[j];
#else
        for (j = 0; j < k; j++) {
            volatile double t = range * u[j];
            v[j] = lower + t;
        }
#endif
    }
    if (!out64) for (j = 0; j < k; j++) out32[j] = (float)v[j];
}

/* n values of RandomState.uniform: lower + range * u, u the 53-bit double
   numpy's MT19937 makes of two draws, (a * 2^26 + b) / 2^53; into out64,
   or rounded to float into out32. A block of the state at a time: its words
   tempered in one loop, paired into u in another, then scaled
   (bp_uniform_scale), each loop vectorised (4x the speed of one value at a
   time here: 0.18 against 0.78 ms for 235k values). A value whose two words
   straddle a refill (the position is odd where a single 32-bit draw came
   before) is made on its own. */
BP_STATIC void bp_mt_uniform(bp_mt_state* s, double lower, double range, int fused,
                          double* out64, float* out32, Py_ssize_t n) {
    uint32_t w[624];
    double u[312];
    int pos = s->pos;
    Py_ssize_t i = 0, j, k;
    while (i < n) {
        if (pos >= 624) { bp_mt_refill(s); pos = 0; }
        if (pos == 623) {
            uint32_t a = bp_mt_temper(s->key[623]) >> 5, b;
            bp_mt_refill(s);
            b = bp_mt_temper(s->key[0]) >> 6;
            pos = 1;
            u[0] = ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
            k = 1;
        } else {
            k = (624 - pos) / 2;
            if (k > n - i) k = n - i;
            for (j = 0; j < 2 * k; j++) w[j] = bp_mt_temper(s->key[pos + j]);
            for (j = 0; j < k; j++)
                u[j] = ((double)(w[2 * j] >> 5) * 67108864.0 + (double)(w[2 * j + 1] >> 6))
                       / 9007199254740992.0;
            pos += 2 * k;
        }
        bp_uniform_scale(u, k, lower, range, fused, out64 ? out64 + i : NULL,
                         out32 ? out32 + i : NULL);
        i += k;
    }
    s->pos = pos;
}

#endif /* BPFAST_BP_RANDOM_H */
