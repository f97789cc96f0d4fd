/* bp_dropout.h: the counter-based generator behind dropout masks. */
#ifndef BPFAST_BP_DROPOUT_H
#define BPFAST_BP_DROPOUT_H

#include "bp_compat.h"

/* Counter-based generator for dropout masks: splitmix64's finaliser over
   (key + element index). A mask bit is a pure function of the seed, the
   minibatch counter, the layer and the element, so masks are the same
   whatever the number of threads and can be recomputed, not stored. */
BP_INLINE unsigned long long bp_mix64(unsigned long long z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
BP_INLINE int bp_dropped(unsigned long long key, long long idx, double rate) {
    return (double)(bp_mix64(key + (unsigned long long)idx) >> 11)
           * (1.0 / 9007199254740992.0) < rate;
}

#endif /* BPFAST_BP_DROPOUT_H */
