# bpfast's random streams: the draws that scikit-learn's MLP takes from a
# RandomState (the sample order of each epoch, the initial weights), made at
# C speed and to the same bits. Called once per epoch or fit, so it is a
# module of its own, outside the kernels' compiled unit (bpfast/_kernels.pyx).
#
#   shuffle        RandomState.shuffle's Fisher-Yates on an index array
#   uniform_fill   RandomState.uniform(low, high, n), as RandomState draws it
#
# An MT19937 (RandomState's generator) is drawn from inline, by the C in
# bpfast/src/bp_random.h, once mt_layout_matches() has checked that numpy
# keeps its state as that C expects; other generators go through numpy's
# bitgen_t function pointers.

from cython cimport floating
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from bpfast._native cimport bp_mt_state, bp_mt_next32, bp_mt_shuffle, bp_mt_uniform

import numpy as np

cdef extern from "numpy/random/bitgen.h":
    # numpy's C interface to a BitGenerator's stream
    ctypedef struct bitgen_t:
        void* state
        uint64_t (*next_uint64)(void* st) noexcept nogil
        uint32_t (*next_uint32)(void* st) noexcept nogil

cdef inline uint64_t bits_of(uint64_t top) noexcept nogil:
    """The smallest 2^k - 1 that is at least top."""
    cdef uint64_t mask = top
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    mask |= mask >> 32
    return mask


cdef inline uint64_t draw_at_most(bitgen_t* rng, uint64_t top) noexcept nogil:
    """A uniform integer in [0, top], drawn the way numpy's legacy
    RandomState draws one: mask the raw draws to the bits of top and redraw
    until the masked value is at most top (32-bit draws while top fits)."""
    cdef uint64_t mask = bits_of(top), value
    if top <= <uint64_t>0xFFFFFFFFU:
        value = rng.next_uint32(rng.state) & mask
        while value > top:
            value = rng.next_uint32(rng.state) & mask
    else:
        value = rng.next_uint64(rng.state) & mask
        while value > top:
            value = rng.next_uint64(rng.state) & mask
    return value


cdef bitgen_t* bitgen_of(bit_generator) except NULL:
    capsule = bit_generator.capsule
    if not PyCapsule_IsValid(capsule, "BitGenerator"):
        raise ValueError("not a numpy BitGenerator capsule")
    return <bitgen_t*>PyCapsule_GetPointer(capsule, "BitGenerator")


cdef int MT_LAYOUT = 0     # 1: numpy's MT19937 state is laid out as bp_mt_state; -1: not


def mt_layout_matches():
    """Whether numpy's MT19937 keeps its state as bp_mt_state (checked once:
    the 624 words and position against its `state`, then 2,000 draws, across
    a refill, against numpy's own)."""
    global MT_LAYOUT
    cdef bitgen_t* rng
    cdef bp_mt_state copy
    cdef const bp_mt_state* st
    cdef int i
    if MT_LAYOUT == 0:
        MT_LAYOUT = -1
        bg = np.random.MT19937(20261129)
        bg.random_raw(100)
        state = bg.state["state"]
        rng = bitgen_of(bg)
        st = <const bp_mt_state*>rng.state
        if st.pos == int(state["pos"]) and \
                all(st.key[i] == int(state["key"][i]) for i in range(624)):
            memcpy(&copy, st, sizeof(bp_mt_state))
            for i in range(2000):
                if bp_mt_next32(&copy) != rng.next_uint32(rng.state):
                    break
            else:
                MT_LAYOUT = 1
    return MT_LAYOUT == 1


def shuffle(bit_generator, Py_ssize_t[::1] x):
    """Shuffle x in place with the same draws, and to the same order, as
    RandomState.shuffle on a 1-d array (the legacy Fisher-Yates from the
    back: for i = n-1 .. 1, swap x[i] with x[j], j uniform in [0, i]), so
    sklearn.utils.shuffle's sample order is reproduced at C speed.
    bit_generator is the RandomState's (random_state._bit_generator). An
    MT19937 (RandomState's) is drawn from inline, the others through their
    function pointers."""
    cdef Py_ssize_t i, j, t, n = x.shape[0]
    cdef bitgen_t* rng = bitgen_of(bit_generator)
    cdef bint inline_mt = (type(bit_generator) is np.random.MT19937 and n - 1 <= 0xFFFFFFFF
                           and mt_layout_matches())
    cdef bp_mt_state* mt = <bp_mt_state*>rng.state
    # (two loops: one with the choice inside is 10% slower on 8,000 rows)
    with bit_generator.lock:
        with nogil:
            if inline_mt:
                if n > 1:
                    bp_mt_shuffle(mt, &x[0], n)
            else:
                for i in range(n - 1, 0, -1):
                    j = <Py_ssize_t>draw_at_most(rng, <uint64_t>i)
                    t = x[i]
                    x[i] = x[j]
                    x[j] = t


cdef int UNIFORM_ROUNDING = -2   # -2 unchecked, -1 unknown, 0 rounded twice, 1 fused


def uniform_rounding():
    """How this numpy's RandomState.uniform rounds lower + range * u: 0 as
    two roundings, 1 as one fused multiply-add, -1 neither (checked once,
    on 20,000 draws for each of three ranges, against RandomState.uniform)."""
    global UNIFORM_ROUNDING
    cdef double[::1] mine
    cdef int fused
    if UNIFORM_ROUNDING == -2:
        UNIFORM_ROUNDING = -1
        if mt_layout_matches():
            for fused in (0, 1):
                same = True
                for low, high in ((-0.0871, 0.0871), (-1.0, 3.0), (2.5, 1e6 / 3)):
                    theirs = np.random.RandomState(20261129).uniform(low, high, 20000)
                    bg = np.random.RandomState(20261129)._bit_generator
                    out = np.empty(20000)
                    mine = out
                    bp_mt_uniform(<bp_mt_state*>bitgen_of(bg).state, low, high - low,
                                  fused, &mine[0], NULL, 20000)
                    same = same and np.array_equal(out.view(np.uint64),
                                                   theirs.view(np.uint64))
                if same:
                    UNIFORM_ROUNDING = fused
                    break
    return UNIFORM_ROUNDING


def uniform_fill(bit_generator, double low, double high, floating[::1] out):
    """Fill out with the values of RandomState.uniform(low, high, n) (in
    float32, those values rounded to float), drawn from bit_generator, a
    RandomState's MT19937 (random_state._bit_generator), as RandomState
    draws them, so the generator is left where RandomState would leave it.
    Returns False, drawing nothing, where that is not certain: another bit
    generator, a state layout or a rounding not recognised (see
    mt_layout_matches, uniform_rounding), or a range that is not finite."""
    cdef double span = high - low
    cdef int fused = uniform_rounding()
    cdef Py_ssize_t n = out.shape[0]
    cdef bp_mt_state* mt
    if type(bit_generator) is not np.random.MT19937 or fused < 0 or \
            not (span == span and span - span == 0):
        return False
    mt = <bp_mt_state*>bitgen_of(bit_generator).state
    with bit_generator.lock:
        with nogil:
            if n > 0:
                if floating is double:
                    bp_mt_uniform(mt, low, span, fused, &out[0], NULL, n)
                else:
                    bp_mt_uniform(mt, low, span, fused, NULL, &out[0], n)
    return True
