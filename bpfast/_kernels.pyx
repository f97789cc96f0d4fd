# The compiled core of bpfast.
#
# Design
# ------
# A network with L weight layers is described by one integer array `meta`
# (built once by bpfast._network.Network) and three flat floating arrays:
#
#   params  [W_0 | W_1 | ... | W_{L-1} | b_0 | ... | b_{L-1}]   (C-order W_l of
#           shape units[l] x units[l+1]; the same order as scikit-learn's
#           packed vector, so L-BFGS can work on it directly)
#   grads   the same layout as params
#   work    per-call workspace for `capacity` rows: the gathered input batch,
#           hidden activations A_l, deltas D_l and one loss per row.
#
# Every kernel below runs without the GIL, sees only raw pointers, and
# allocates nothing: the Python layer allocates the buffers once per fit (or
# once per predict call) and builds the contexts the entry points take
# (Layout, Data, FitContext, LossContext, see "Contexts" below), which check
# shapes, dtypes and lengths once; then it makes ONE call per epoch (sgd /
# adam / rmsprop), per L-BFGS evaluation, or per prediction.
#
# The kernels are named after the four backprop equations:
#   BP1  output_delta_rows: output activation + loss + delta = (p - y) w / sum(w)
#   BP2  propagate_delta:   D_{l-1} = (D_l @ W_l^T) * f'(A_l), f' from the stored A_l
#   BP3  bias gradient:     column sums of D_l
#   BP4  weight gradient:   A_{l-1}^T @ D_l, one GEMM (CSR^T @ D for sparse input)
#
# Reductions (loss, column sums, |W|^2) are summed in an order that does not
# depend on the number of threads, and every GEMM is a fixed grid of
# single-threaded BLAS calls (pgemm), so results are bitwise reproducible
# under any thread count. Threads are OpenMP's; SciPy's BLAS is pinned to one
# thread by the Python layer while a kernel runs.

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport log, logf, sqrt, sqrtf, tanh, tanhf, expm1, expm1f
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm
# bpfast's C: the headers in bpfast/src/ (bp_compat.h for the compilers and
# operating systems, bp_threads.h, bp_dropout.h, bp_math.h, bp_vector.h,
# bp_random.h, bp_memory.h), declared once in bpfast/_native.pxd
from bpfast._native cimport *

import os

import numpy as np

cdef extern from "Python.h":
    # Declared without an exception clause: we look at the return value
    # ourselves and re-raise the pending exception once the GIL is back.
    int bp_check_signals "PyErr_CheckSignals" ()


# --------------------------------------------------------------------------
# Codes shared with the Python layer
# --------------------------------------------------------------------------
cdef enum:
    ACT_IDENTITY = 0
    ACT_LOGISTIC = 1
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_LEAKY_RELU = 4
    ACT_ELU = 5

cdef enum:
    OUT_IDENTITY = 0     # identity output, half squared error
    OUT_LOGISTIC = 1     # logistic outputs, binary log loss per output
    OUT_SOFTMAX = 2      # softmax output, categorical log loss
    OUT_EXP = 3          # exp output, half Poisson deviance

cdef enum:
    OPT_SGD = 0
    OPT_ADAM = 1
    OPT_RMSPROP = 2

ACTIVATIONS = {"identity": ACT_IDENTITY, "logistic": ACT_LOGISTIC, "tanh": ACT_TANH,
               "relu": ACT_RELU, "leaky_relu": ACT_LEAKY_RELU, "elu": ACT_ELU}
OUTPUTS = {"identity": OUT_IDENTITY, "logistic": OUT_LOGISTIC, "softmax": OUT_SOFTMAX,
           "exp": OUT_EXP}
OPTIMIZERS = {"sgd": OPT_SGD, "adam": OPT_ADAM, "rmsprop": OPT_RMSPROP}
DEBUG_BUILD = bool(BP_DEBUG_BUILD)
COMPILER = (<bytes>BP_COMPILER).decode("ascii")  # "gcc 12.2.0", "clang 14.0.6", ...
OPENMP = bool(BP_OPENMP)   # False: a serial build (no OpenMP; setup.py warned)
WAIT = (<bytes>BP_WAIT_KIND).decode("ascii")   # the barrier's sleep (bp_compat.h)
VECTOR_EXT = bool(BP_HAVE_VECTOR_EXT)   # False: plain-array vectors (bp_compat.h)
CHUNK_SIZE = CHUNK  # optimizer chunk: norm scratch needs 2 doubles per chunk

# Elementwise passes smaller than this many elements run on one thread: below
# it an OpenMP region's fork/join (and, on a busy machine, libgomp's spinning
# wait for a descheduled thread) costs more than it saves. SciPy's BLAS is
# pinned to one thread while the kernels run (bpfast/_threads.py).
cdef enum:
    PAR_MIN = 65536
PARALLEL_MIN = PAR_MIN
# Fixed chunk of the flat parameter vector for optimizer updates; per-chunk
# partial sums make |W|^2 independent of the thread count. Small enough that
# a net of a few thousand coefficients is shared among the threads: a double
# adam update is bound by the divider (sqrt and division, ~2.3 ns an element
# on one core here), so 4096 coefficients are ~10 us of one thread's time.
cdef enum:
    CHUNK = 2048

# Layout of `meta` (see bpfast._network.Network.meta):
#   [0] L   [1] activation  [2] output  [3] capacity (rows)
#   [4] n_coef  [5] n_params  [6] offset in work (in floating units, 8-byte
#   aligned) of the output-layer scratch: capacity per-row losses (doubles,
#   2 * capacity floating units) then capacity x units[L] targets / loss
#   terms  [7] workspace length
#   [8 ...]     units[0..L], w_off[0..L-1], b_off[0..L-1],
#               act_off[0..L-1] (act_off[0] is the gathered input batch),
#               delta_off[0..L-1]
cdef struct Net:
    Py_ssize_t L
    int activation
    int output
    Py_ssize_t capacity
    Py_ssize_t n_coef
    Py_ssize_t n_params
    Py_ssize_t rowloss_off
    Py_ssize_t work_len
    const Py_ssize_t* units
    const Py_ssize_t* w_off
    const Py_ssize_t* b_off
    const Py_ssize_t* act_off
    const Py_ssize_t* delta_off
    double slope            # leaky_relu slope / elu alpha


cdef struct CSR:
    # Sparse input rows; data is a floating* cast to void*.
    const void* data
    const Py_ssize_t* indices
    const Py_ssize_t* indptr


cdef inline bint block_fits(Py_ssize_t off, Py_ssize_t rows, Py_ssize_t cols,
                           Py_ssize_t limit) noexcept:
    """off + rows * cols <= limit, all non-negative, without overflowing."""
    if off < 0 or rows < 0 or cols < 0 or off > limit:
        return False
    return rows == 0 or cols <= (limit - off) // rows


cdef inline bint overlaps(const void* a, Py_ssize_t a_bytes, const void* b,
                          Py_ssize_t b_bytes) noexcept nogil:
    """Whether the a_bytes bytes from a and the b_bytes bytes from b share
    memory."""
    return <const char*>a < <const char*>b + b_bytes and \
        <const char*>b < <const char*>a + a_bytes


cdef inline int clamp_threads(int n_threads) noexcept nogil:
    # never more than OpenMP's budget (an absurd count would fail to start)
    cdef int budget = bp_omp_max_threads()
    return 1 if n_threads < 1 else (budget if n_threads > budget else n_threads)


cdef int unpack_meta(const Py_ssize_t[::1] meta, double slope, Net* net) except -1:
    """Read the network description and check that every buffer it names
    lies inside the parameter vector and the workspace it declares (a wrong
    layout raises here instead of corrupting memory in a kernel); the
    arrays handed over are checked against those lengths by check_params
    and check_work. net's arrays point into meta."""
    cdef Py_ssize_t L, l, H = 8, cap, itemsize_ratio
    if meta.shape[0] < H:
        raise ValueError("meta array too short")
    L = meta[0]
    if L < 1 or meta.shape[0] != H + (L + 1) + 4 * L:
        raise ValueError("meta array does not describe a network")
    net.L = L
    net.activation = <int>meta[1]
    net.output = <int>meta[2]
    net.capacity = cap = meta[3]
    net.n_coef = meta[4]
    net.n_params = meta[5]
    net.rowloss_off = meta[6]
    net.work_len = meta[7]
    net.units = &meta[H]
    net.w_off = &meta[H + L + 1]
    net.b_off = &meta[H + 2 * L + 1]
    net.act_off = &meta[H + 3 * L + 1]
    net.delta_off = &meta[H + 4 * L + 1]
    net.slope = slope
    if cap < 1:
        raise ValueError("workspace too small for this network")
    if not (ACT_IDENTITY <= net.activation <= ACT_ELU) or \
            not (OUT_IDENTITY <= net.output <= OUT_EXP):
        raise ValueError("unknown activation or output code")
    if net.n_coef < 0 or net.n_params < net.n_coef or net.work_len < 0:
        raise ValueError("negative sizes in the network description")
    for l in range(L):
        if net.units[l] < 1 or net.units[l + 1] < 1:
            raise ValueError("empty layer")
        if not block_fits(net.w_off[l], net.units[l], net.units[l + 1], net.n_coef):
            raise ValueError("coefficient block outside the parameter vector")
        if net.b_off[l] < net.n_coef or \
                not block_fits(net.b_off[l], 1, net.units[l + 1], net.n_params):
            raise ValueError("intercept block outside the parameter vector")
        if not block_fits(net.delta_off[l], cap, net.units[l + 1], net.work_len):
            raise ValueError("delta buffer outside the workspace")
        if l > 0 and not block_fits(net.act_off[l], cap, net.units[l], net.work_len):
            raise ValueError("activation buffer outside the workspace")
    if net.act_off[0] < 0 or net.act_off[0] > net.work_len:
        raise ValueError("input buffer outside the workspace")
    if net.rowloss_off % 2 != 0 or \
            not block_fits(net.rowloss_off, cap, 2 + net.units[L], net.work_len):
        raise ValueError("output-layer scratch outside the workspace")
    return 0


cdef int check_params(const Net* net, Py_ssize_t params_len) except -1:
    if params_len != net.n_params:
        raise ValueError("parameter vector has length %d, the network has %d"
                         % (params_len, net.n_params))
    return 0


cdef int check_work(const Net* net, Py_ssize_t work_len) except -1:
    if work_len < net.work_len:
        raise ValueError("workspace too small for this network")
    return 0


def worker_tids():
    """The kernel thread ids (Linux) of the OpenMP threads, other than the
    calling ones, that last ran kernel work, as the kernels noted them."""
    cdef int t, tid
    found = []
    for t in range(1, BP_MAX_WORKERS):
        tid = bp_worker_tid_of(t)
        if tid == 0:   # team thread numbers are noted from 1 up
            break
        found.append(tid)
    return found


def max_threads():
    """The OpenMP thread budget (follows OMP_NUM_THREADS and threadpoolctl)."""
    return bp_omp_max_threads()


# --------------------------------------------------------------------------
# Scalar math over the fused type
# --------------------------------------------------------------------------
cdef inline floating f_exp(floating x) noexcept nogil:
    if floating is float:
        return bp_expf(x)
    else:
        return bp_exp(x)

cdef inline floating f_expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)

cdef inline floating f_log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)

cdef inline floating f_log_fast(floating x) noexcept nogil:
    # positive normal x or NaN only (see bp_log)
    if floating is float:
        return bp_logf(x)
    else:
        return bp_log(x)

cdef inline floating f_tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)

cdef inline floating f_sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)

cdef inline floating f_eps(floating x) noexcept nogil:
    # np.finfo(dtype).eps, scikit-learn's clipping bound for probabilities
    if floating is float:
        return 1.1920928955078125e-07
    else:
        return 2.220446049250313e-16


cdef inline bint chunk_finite(const floating* x, Py_ssize_t lo,
                              Py_ssize_t hi) noexcept nogil:
    # x - x is 0 for a finite x and NaN for NaN or +-inf; no early exit, so
    # the loop vectorises
    cdef Py_ssize_t i
    cdef int ok = 1
    for i in range(lo, hi):
        ok &= (x[i] - x[i] == 0)
    return ok


# --------------------------------------------------------------------------
# BLAS
# --------------------------------------------------------------------------
cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* A, int lda,
                      const floating* B, int ldb, floating beta,
                      floating* C, int ldc) noexcept nogil:
    """Row-major C := alpha * op(A) @ op(B) + beta * C, with C of shape (m, n).

    BLAS is column-major, so it computes C^T = op(B)^T @ op(A)^T: the operands
    swap places and keep their own transpose flags.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if m <= 0 or n <= 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)


cdef int check_product(bint trans_a, bint trans_b, Py_ssize_t a0, Py_ssize_t a1,
                       Py_ssize_t b0, Py_ssize_t b1, Py_ssize_t m,
                       Py_ssize_t n) except -1:
    """Shapes of A (a0 x a1), B (b0 x b1) and C (m x n) for C = op(A) @ op(B)."""
    cdef Py_ssize_t k = a0 if trans_a else a1
    if m == 0 or n == 0 or k == 0:
        raise ValueError("empty operand")
    if (b1 if trans_b else b0) != k or (a1 if trans_a else a0) != m or \
            (b0 if trans_b else b1) != n:
        raise ValueError("shape mismatch")
    return 0


# Tiled GEMM: the products of training and prediction are cut into a grid of
# output tiles that depends on the shapes and on the tile budget only, never
# on the thread count. Each tile is one single-threaded BLAS call over the
# whole inner dimension, so every output element is computed by the same
# call, with the same rounding, whether the tiles run on 1 thread or 16.
# (A multithreaded BLAS call is not like that: OpenBLAS rounds some elements
# differently depending on how it splits the work among its threads.) The
# tile's epilogue (bias + activation, or the activation derivative) runs on
# the same thread while the tile is still in cache.
cdef int TILE_BUDGET = 1       # most tiles per product (the machine's cores)
cdef enum:
    # no tile smaller than this (2 m n k: ~3 us of one core's time). Against
    # 524288, in-process A/B on 2 cores, 2 threads: 64-100-10 b200 13% and
    # 100-64-64-5 b64 5% faster an epoch (their 100- and 64-wide products
    # now split), 784-256-128-10 unchanged; 1 thread within 2%.
    TILE_MIN_FLOPS = 131072
    TILE_MIN_DIM = 32          # nor narrower than this many rows / columns

cdef enum:
    EPI_NONE = 0
    EPI_BIAS_ACT = 1           # C[i, :] = f(C[i, :] + b)
    EPI_DERIV = 2              # C[i, :] *= f'(A[i, :])
    # Prediction's first layer also counts the rows whose product is not
    # finite, before the bias and activation (ReLU would turn a NaN into 0):
    # a NaN or infinity in a row of X makes every element of that row of
    # X @ W non-finite (inf * 0 is NaN), so this check on the product, hot
    # in cache, stands in for a pass over the whole input.
    EPI_CHECK = 4              # count rows of C that are not all finite


def set_tile_budget(int budget):
    """Set the largest number of tiles one product is cut into (at import:
    the machine's CPU count). Results are bitwise identical for any thread
    count at a fixed budget; changing the budget may change the rounding."""
    global TILE_BUDGET
    if budget < 1:
        raise ValueError("tile budget must be at least 1")
    TILE_BUDGET = min(budget, 256)


def tile_budget():
    return TILE_BUDGET


set_tile_budget(os.cpu_count() or 1)


cdef inline int row_tiles(Py_ssize_t m) noexcept nogil:
    """How many blocks the m rows of a minibatch are cut into: the budget's
    largest power of two that leaves TILE_MIN_DIM rows a block, whatever
    the work. Every row-wise pass (the gather, the forward products, BP1,
    BP2) cuts its rows so, and the static schedules give block t to the same
    thread in each: a row stays in one core's cache from the gather to its
    delta, instead of crossing to the other core between two passes."""
    cdef int a = 1
    while 2 * a <= TILE_BUDGET and m // (2 * a) >= TILE_MIN_DIM:
        a *= 2
    return a


cdef inline void choose_tiles(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                              bint rows_first, int* tm, int* tn) noexcept nogil:
    """Tile grid for an m x n output with inner dimension k: with rows_first
    (batch rows), first the row_tiles blocks; then halve the longer tile
    side (with rows_first, the rows while they allow) while the budget, the
    smallest tile's work and the smallest tile side allow."""
    cdef int a = row_tiles(m) if rows_first else 1
    cdef int b = 1
    cdef double work = 2.0 * <double>m * <double>n * <double>k
    while 2 * a * b <= TILE_BUDGET and work / (2 * a * b) >= TILE_MIN_FLOPS:
        if m // (2 * a) >= TILE_MIN_DIM and \
                (rows_first or m * b >= n * a or n // (2 * b) < TILE_MIN_DIM):
            a *= 2
        elif n // (2 * b) >= TILE_MIN_DIM:
            b *= 2
        else:
            break
    tm[0] = a
    tn[0] = b


cdef inline floating dot(const floating* a, const floating* b,
                         Py_ssize_t n) noexcept nogil:
    if floating is float:
        return bp_dot_f(a, b, n)
    else:
        return bp_dot_d(a, b, n)


cdef inline void dot4(const floating* a, Py_ssize_t lda, const floating* b,
                      Py_ssize_t n, floating* out) noexcept nogil:
    if floating is float:
        bp_dot4_f(a, lda, b, n, out)
    else:
        bp_dot4_d(a, lda, b, n, out)


cdef void thin_gemm(bint trans_a, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                    const floating* A, Py_ssize_t lda, const floating* B,
                    floating beta, floating* C, Py_ssize_t ldc) noexcept nogil:
    """Row-major C := op(A) @ op(B) + beta * C for n == 1 (a matrix-vector
    product: a single output unit) or k == 1 (an outer product: the delta of
    a single output unit). op(B) is then one row or column, contiguous in
    memory whether transposed or not (B's leading dimension is its width, as
    for every operand in the kernels), and so is C's column when n == 1.
    Plain loops over contiguous memory, which vectorise, beat a BLAS call's
    fixed cost here."""
    cdef Py_ssize_t i, j, p, i0, w
    cdef floating a, s
    cdef floating* c
    cdef floating acc[16]
    if k == 1:
        for i in range(m):
            a = A[i] if trans_a else A[i * lda]
            c = C + i * ldc
            if beta == 0:
                for j in range(n):
                    c[j] = a * B[j]
            else:
                for j in range(n):
                    c[j] = a * B[j] + beta * c[j]
    elif trans_a:
        # op(A)[i, p] = A[p, i]: rows of A stream through sixteen elements of
        # C's column at a time, held in registers (acc) down all k rows (a
        # fixed width of 16 where it fits, so the compiler keeps acc in
        # registers; the same arithmetic in the last, narrower block)
        for i0 in range(0, m, 16):
            w = min(16, m - i0)
            for i in range(w):
                acc[i] = 0 if beta == 0 else beta * C[i0 + i]
            if w == 16:
                for p in range(k):
                    s = B[p]
                    for i in range(16):
                        acc[i] = acc[i] + A[p * lda + i0 + i] * s
            else:
                for p in range(k):
                    s = B[p]
                    for i in range(w):
                        acc[i] = acc[i] + A[p * lda + i0 + i] * s
            for i in range(w):
                C[i0 + i] = acc[i]
    else:
        for i0 in range(0, m - 3, 4):
            dot4(A + i0 * lda, lda, B, k, acc)
            for i in range(4):
                C[i0 + i] = acc[i] if beta == 0 else acc[i] + beta * C[i0 + i]
        for i in range(m - m % 4, m):
            s = dot(A + i * lda, B, k)
            C[i] = s if beta == 0 else s + beta * C[i]


cdef inline int gemm_tile(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n,
                          Py_ssize_t k, const floating* A, Py_ssize_t lda,
                          const floating* B, Py_ssize_t ldb, floating beta,
                          floating* C, Py_ssize_t ldc, int tm, int tn, int t,
                          int epi, const floating* vec, const floating* act_a,
                          int act, floating slope) noexcept nogil:
    """Tile t of the grid; returns the number of its rows that are not all
    finite when epi has EPI_CHECK, else 0."""
    cdef Py_ssize_t i, j, r0 = 0, r1 = m, c0 = 0, c1 = n
    if tm * tn > 1:
        # (six integer divisions: a small net's minibatch makes its
        # single-tile products by the dozen, so they are skipped there)
        i = t // tn
        j = t % tn
        r0 = i * m // tm
        r1 = (i + 1) * m // tm
        c0 = j * n // tn
        c1 = (j + 1) * n // tn
    return gemm_rect(trans_a, trans_b, n, k, A, lda, B, ldb, beta, C, ldc, r0, r1, c0, c1,
                     epi, vec, act_a, act, slope)


cdef inline int gemm_rect(bint trans_a, bint trans_b, Py_ssize_t n, Py_ssize_t k,
                          const floating* A, Py_ssize_t lda, const floating* B,
                          Py_ssize_t ldb, floating beta, floating* C, Py_ssize_t ldc,
                          Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0, Py_ssize_t c1,
                          int epi, const floating* vec, const floating* act_a,
                          int act, floating slope) noexcept nogil:
    """Rows r0 .. r1 - 1 and columns c0 .. c1 - 1 of the n-column product
    (one tile, see gemm_tile), with its epilogue, as one BLAS call: the same
    call, so the same rounding, for the same rectangle wherever A and C
    start (prediction's row units pass their own rows' pointers)."""
    cdef Py_ssize_t r
    cdef int bad = 0
    if k == 1 and epi == EPI_DERIV and beta == 0:
        # BP2 from a single output unit: each row of the outer product is
        # made and multiplied by f' in one pass
        for r in range(r0, r1):
            activation_derivative_row(C + r * ldc + c0, B + (c0 * ldb if trans_b else c0),
                                      A[r] if trans_a else A[r * lda],
                                      act_a + r * ldc + c0, c1 - c0, act, slope)
        return 0
    if n == 1 or k == 1:
        thin_gemm(trans_a, r1 - r0, c1 - c0, k, A + (r0 if trans_a else r0 * lda), lda,
                  B + (c0 * ldb if trans_b else c0), beta, C + r0 * ldc + c0, ldc)
    else:
        gemm(trans_a, trans_b, <int>(r1 - r0), <int>(c1 - c0), <int>k, <floating>1,
             A + (r0 if trans_a else r0 * lda), <int>lda,
             B + (c0 * ldb if trans_b else c0), <int>ldb, beta, C + r0 * ldc + c0,
             <int>ldc)
    if epi & EPI_CHECK:
        for r in range(r0, r1):
            bad += not chunk_finite(C + r * ldc, c0, c1)
    epi = epi & ~EPI_CHECK
    if epi == EPI_BIAS_ACT:
        for r in range(r0, r1):
            bias_activation_row(C + r * ldc + c0, vec + c0, c1 - c0, act, slope)
    elif epi == EPI_DERIV:
        for r in range(r0, r1):
            activation_derivative_row(C + r * ldc + c0, C + r * ldc + c0, <floating>1,
                                      act_a + r * ldc + c0, c1 - c0, act, slope)
    return bad


cdef int pgemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
               const floating* A, Py_ssize_t lda, const floating* B, Py_ssize_t ldb,
               floating beta, floating* C, Py_ssize_t ldc, int epi,
               const floating* vec, const floating* act_a, int act, floating slope,
               int n_threads) noexcept nogil:
    """Row-major C := op(A) @ op(B) + beta * C, then the epilogue, tile by
    tile (see choose_tiles); the tiles run on up to n_threads OpenMP threads.
    BLAS must be single-threaded here (the Python layer pins it). Returns the
    number of rows of the product that are not all finite if epi has
    EPI_CHECK (a row cut into several tiles counts once per tile), else 0."""
    cdef int tm, tn, t, nt
    cdef int bad = 0
    if m <= 0 or n <= 0:
        return 0
    # Rows of op(A) that are batch rows (forward, delta propagation) are
    # split first: a thread then keeps the same rows from the minibatch
    # gather through every layer, in its own cache (measured ~6% an epoch on
    # 784-256-128-10, 2 cores).
    choose_tiles(m, n, k, not trans_a, &tm, &tn)
    # every parallel region asks for the whole team, even with fewer tiles
    # than threads: libgomp pays dearly (measured 2x an epoch on 16 cores)
    # for a team size that changes from one region to the next
    nt = n_threads if tm * tn > 1 else 1
    if nt > 1:
        for t in prange(tm * tn, schedule='static', num_threads=nt):
            bp_note_worker(threadid())
            bad += gemm_tile(trans_a, trans_b, m, n, k, A, lda, B, ldb, beta, C, ldc,
                             tm, tn, t, epi, vec, act_a, act, slope)
    else:
        for t in range(tm * tn):
            bad += gemm_tile(trans_a, trans_b, m, n, k, A, lda, B, ldb, beta, C, ldc,
                             tm, tn, t, epi, vec, act_a, act, slope)
    return bad


# --------------------------------------------------------------------------
# Forward: bias + activation fused into one pass over the GEMM output
# --------------------------------------------------------------------------
cdef inline void bias_activation_row(floating* z, const floating* b, Py_ssize_t n,
                                     int act, floating slope) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating v, one = 1
    if act == ACT_RELU:
        for j in range(n):
            v = z[j] + b[j]
            z[j] = v if v > 0 else 0
    elif act == ACT_IDENTITY:
        for j in range(n):
            z[j] = z[j] + b[j]
    elif act == ACT_LOGISTIC:
        for j in range(n):
            z[j] = one / (one + f_exp(-(z[j] + b[j])))
    elif act == ACT_TANH:
        for j in range(n):
            z[j] = f_tanh(z[j] + b[j])
    elif act == ACT_LEAKY_RELU:
        for j in range(n):
            v = z[j] + b[j]
            z[j] = v if v > 0 else slope * v
    elif act == ACT_ELU:
        for j in range(n):
            v = z[j] + b[j]
            z[j] = v if v > 0 else slope * f_expm1(v)


cdef void bias_activation(floating* Z, const floating* b, Py_ssize_t m, Py_ssize_t n,
                          int act, floating slope, int n_threads) noexcept nogil:
    """Z[i, :] = f(Z[i, :] + b) for the m x n block Z (C order)."""
    cdef Py_ssize_t i
    if n_threads > 1 and m * n >= PAR_MIN:
        for i in prange(m, schedule='static', num_threads=n_threads):
            bias_activation_row(Z + i * n, b, n, act, slope)
    else:
        for i in range(m):
            bias_activation_row(Z + i * n, b, n, act, slope)


cdef inline void output_pre_rows(floating* Z, const floating* b, Py_ssize_t m,
                                 Py_ssize_t k, int out) noexcept nogil:
    """First pass of the output layer over m rows: add the bias, and for
    softmax subtract each row's maximum."""
    cdef Py_ssize_t i, j
    cdef floating mx
    cdef floating* z
    if k == 1:
        # one output unit (softmax has two or more): one loop over the rows
        for i in range(m):
            Z[i] = Z[i] + b[0]
        return
    for i in range(m):
        z = Z + i * k
        for j in range(k):
            z[j] = z[j] + b[j]
        if out == OUT_SOFTMAX:
            mx = z[0]
            for j in range(1, k):
                if z[j] > mx:
                    mx = z[j]
            for j in range(k):
                z[j] = z[j] - mx


cdef inline void output_exp_block(floating* z, Py_ssize_t n, int out) noexcept nogil:
    """Second pass, over the whole block at once (so it vectorises): exp for
    softmax and exp outputs, the logistic function for logistic outputs."""
    cdef Py_ssize_t t
    cdef floating one = 1
    if out == OUT_LOGISTIC:
        for t in range(n):
            z[t] = one / (one + f_exp(-z[t]))
    elif out == OUT_SOFTMAX or out == OUT_EXP:
        for t in range(n):
            z[t] = f_exp(z[t])


cdef inline void output_activation_rows(floating* Z, const floating* b, Py_ssize_t m,
                                        Py_ssize_t k, int out) noexcept nogil:
    """Output activation of m rows (prediction)."""
    cdef Py_ssize_t i, j
    cdef floating s
    cdef floating* z
    output_pre_rows(Z, b, m, k, out)
    output_exp_block(Z, m * k, out)
    if out == OUT_SOFTMAX:
        for i in range(m):
            z = Z + i * k
            s = 0
            for j in range(k):
                s = s + z[j]
            for j in range(k):
                z[j] = z[j] / s


# --------------------------------------------------------------------------
# BP1: output activation, loss and output delta
# --------------------------------------------------------------------------
cdef inline floating xlogy(floating x, floating y) noexcept nogil:
    return 0 if x == 0 else x * f_log(y)


cdef enum:
    OUT_ROWS = 64      # rows per block of the output layer's passes


cdef inline void output_delta_rows(floating* Z, const floating* b, const floating* Y,
                                   const floating* sw, const Py_ssize_t* rows,
                                   Py_ssize_t row0, Py_ssize_t i0, Py_ssize_t i1,
                                   Py_ssize_t k, int out, double inv_sw_sum,
                                   double* rowloss, floating* T) noexcept nogil:
    """BP1 over batch rows i0 .. i1 - 1, in passes over the whole block that
    vectorise: the output activation (output_activation_rows), the targets
    gathered into T (rows i0 .. i1 - 1 of the m x k scratch T), then per
    element the loss term (into T, over the targets) and the unscaled delta
    p - y (into Z); last, per row, the weighted loss and the delta's scale
    w_i / sum(w)."""
    cdef Py_ssize_t i, j, t, r, n = (i1 - i0) * k
    cdef floating p, y, scale
    cdef floating eps = f_eps(<floating>0)
    cdef floating* Zb = Z + i0 * k
    cdef floating* Tb = T + i0 * k
    cdef floating* z
    cdef double w, loss
    output_activation_rows(Zb, b, i1 - i0, k, out)
    # (a loop, not memcpy: rows of one or a few outputs are a few bytes)
    if k == 1:
        for i in range(i0, i1):
            T[i] = Y[rows[i] if rows != NULL else row0 + i]
    else:
        for i in range(i0, i1):
            r = rows[i] if rows != NULL else row0 + i
            for j in range(k):
                T[i * k + j] = Y[r * k + j]
    # loss terms (bp_xent_*: p clipped to [eps, 1 - eps] as in log_loss)
    if out == OUT_SOFTMAX:
        if floating is float:
            bp_xent_softmax_f(Zb, Tb, n, eps)
        else:
            bp_xent_softmax_d(Zb, Tb, n, eps)
    elif out == OUT_LOGISTIC:
        if floating is float:
            bp_xent_logistic_f(Zb, Tb, n, eps)
        else:
            bp_xent_logistic_d(Zb, Tb, n, eps)
    elif out == OUT_EXP:
        # Poisson deviance terms; y / p is not clipped, so libm's log
        for t in range(n):
            p = Zb[t]
            y = Tb[t]
            Zb[t] = p - y
            Tb[t] = xlogy(y, y / p) - y + p
    else:
        for t in range(n):
            p = Zb[t]
            y = Tb[t]
            Zb[t] = p - y
            Tb[t] = (y - p) * (y - p)
    if k == 1 and sw == NULL:
        # one output unit, unweighted: the loop below without its inner
        # loops (the same arithmetic: 0 + the one term), so it vectorises
        for i in range(i0, i1):
            loss = 0.0 + <double>T[i]
            if out == OUT_IDENTITY:
                loss = 0.5 * loss / k
            rowloss[i] = 1.0 * loss
    else:
        for i in range(i0, i1):
            r = rows[i] if rows != NULL else row0 + i
            w = sw[r] if sw != NULL else 1.0
            loss = 0
            for j in range(k):
                loss += T[i * k + j]
            if out == OUT_IDENTITY:
                loss = 0.5 * loss / k
            rowloss[i] = w * loss
            if sw != NULL:
                scale = <floating>(w * inv_sw_sum)
                z = Z + i * k
                for j in range(k):
                    z[j] = z[j] * scale
    if sw == NULL:
        # one scale for every row: one pass over the block
        scale = <floating>inv_sw_sum
        for t in range(n):
            Zb[t] = Zb[t] * scale


cdef inline void output_delta_range(floating* Z, const floating* b, const floating* Y,
                                    const floating* sw, const Py_ssize_t* rows,
                                    Py_ssize_t row0, Py_ssize_t r0, Py_ssize_t r1,
                                    Py_ssize_t k, int out, double inv_sw_sum,
                                    double* rowloss, floating* T) noexcept nogil:
    """BP1 over batch rows r0 .. r1 - 1, in blocks of OUT_ROWS."""
    while r0 < r1:
        output_delta_rows(Z, b, Y, sw, rows, row0, r0, min(r0 + OUT_ROWS, r1), k, out,
                          inv_sw_sum, rowloss, T)
        r0 = r0 + OUT_ROWS


cdef double output_delta(floating* Z, const floating* b, const floating* Y,
                         const floating* sw, const Py_ssize_t* rows, Py_ssize_t row0,
                         Py_ssize_t m, Py_ssize_t k, int out, double inv_sw_sum,
                         double* rowloss, floating* T, int n_threads) noexcept nogil:
    """BP1 over m rows. Row i of the batch is data row rows[i] (or row0 + i);
    T is m x k scratch. Returns sum_i w_i * loss_i, summed in row order."""
    cdef Py_ssize_t c
    cdef int rt = row_tiles(m)
    if n_threads > 1 and rt > 1:
        # the row blocks of the forward products, each on its own thread
        for c in prange(rt, schedule='static', num_threads=n_threads):
            output_delta_range(Z, b, Y, sw, rows, row0, c * m // rt, (c + 1) * m // rt, k,
                               out, inv_sw_sum, rowloss, T)
    else:
        output_delta_range(Z, b, Y, sw, rows, row0, 0, m, k, out, inv_sw_sum, rowloss, T)
    return row_loss_total(rowloss, m)


# --------------------------------------------------------------------------
# Inverted dropout on hidden activations (training only)
# --------------------------------------------------------------------------
cdef struct Dropout:
    double rate                 # probability of dropping a unit
    unsigned long long key      # mixes the seed and the minibatch counter


cdef void dropout_forward(floating* A, Py_ssize_t m, Py_ssize_t n, const Dropout* drop,
                          Py_ssize_t layer) noexcept nogil:
    """A := A * mask / (1 - rate), mask drawn per (minibatch, layer, element)."""
    cdef Py_ssize_t i
    cdef unsigned long long key = bp_mix64(drop.key + <unsigned long long>layer)
    cdef floating scale = <floating>(1.0 / (1.0 - drop.rate))
    for i in range(m * n):
        A[i] = 0 if bp_dropped(key, i, drop.rate) else A[i] * scale


cdef void dropout_backward(floating* D_prev, floating* A, Py_ssize_t m, Py_ssize_t n,
                           const Dropout* drop, Py_ssize_t layer, int act, floating slope,
                           int n_threads) noexcept nogil:
    """BP2 through dropout: D_prev holds D @ W^T on entry. The stored
    activation is rescaled back to f's output, the derivative applied, and the
    same mask (recomputed) with the 1 / (1 - rate) scale multiplied in."""
    cdef Py_ssize_t i
    cdef unsigned long long key = bp_mix64(drop.key + <unsigned long long>layer)
    cdef floating keep = <floating>(1.0 - drop.rate)
    cdef floating scale = <floating>(1.0 / (1.0 - drop.rate))
    for i in range(m * n):
        A[i] = A[i] * keep
    for i in range(m):
        activation_derivative_row(D_prev + i * n, D_prev + i * n, <floating>1, A + i * n,
                                  n, act, slope)
    for i in range(m * n):
        D_prev[i] = 0 if bp_dropped(key, i, drop.rate) else D_prev[i] * scale


# --------------------------------------------------------------------------
# BP2: delta propagation, activation derivative from the stored activation
# --------------------------------------------------------------------------
cdef inline void activation_derivative_row(floating* d, const floating* x, floating scale,
                                           const floating* a, Py_ssize_t n, int act,
                                           floating slope) noexcept nogil:
    """d[j] = (scale * x[j]) * f'(a[j]) for the stored activation a: in place
    (x = d, scale = 1, which multiplies exactly) after a GEMM, or fused into
    the outer product of a single output unit's delta (x a row of W)."""
    cdef Py_ssize_t j
    cdef floating one = 1, v
    if act == ACT_RELU:
        for j in range(n):
            v = scale * x[j]
            d[j] = v if a[j] > 0 else 0
    elif act == ACT_LOGISTIC:
        for j in range(n):
            d[j] = (scale * x[j]) * a[j] * (one - a[j])
    elif act == ACT_TANH:
        for j in range(n):
            d[j] = (scale * x[j]) * (one - a[j] * a[j])
    elif act == ACT_LEAKY_RELU:
        for j in range(n):
            v = scale * x[j]
            d[j] = v if a[j] > 0 else slope * v
    elif act == ACT_ELU:
        # a = alpha * (exp(z) - 1) for z <= 0, so f'(z) = a + alpha
        for j in range(n):
            v = scale * x[j]
            d[j] = v if a[j] > 0 else v * (a[j] + slope)
    else:
        for j in range(n):
            d[j] = scale * x[j]


cdef void propagate_delta(const floating* D, const floating* W, floating* A,
                          floating* D_prev, Py_ssize_t m, Py_ssize_t n_in,
                          Py_ssize_t n_out, int act, floating slope,
                          const Dropout* drop, Py_ssize_t layer,
                          int n_threads) noexcept nogil:
    """BP2: D_prev = (D @ W^T) * f'(A); D is m x n_out, W n_in x n_out, A m x n_in
    (A is the stored activation of hidden layer `layer`; with dropout it holds
    the masked activation and dropout_backward takes over the fused pass)."""
    if drop != NULL:
        pgemm(False, True, m, n_in, n_out, D, n_out, W, n_out, <floating>0, D_prev,
              n_in, EPI_NONE, <const floating*>NULL, <const floating*>NULL, 0,
              <floating>0, n_threads)
        dropout_backward(D_prev, A, m, n_in, drop, layer, act, slope, n_threads)
    else:
        # the derivative is fused into the GEMM's tiles
        pgemm(False, True, m, n_in, n_out, D, n_out, W, n_out, <floating>0, D_prev,
              n_in, EPI_DERIV, <const floating*>NULL, A, act, slope, n_threads)


# --------------------------------------------------------------------------
# BP3: bias gradient as column sums (row order fixed: reproducible)
# --------------------------------------------------------------------------
cdef void column_sums(const floating* D, Py_ssize_t m, Py_ssize_t n, floating* out,
                      bint accumulate) noexcept nogil:
    """out (+)= column sums of the m x n block D. Thirty-two columns at a
    time are summed in registers down all rows (row order fixed, so the
    result is the same for any thread count and equals the plain row-major
    sum); the last columns one by one, each down all rows."""
    cdef Py_ssize_t i, j, j0
    cdef floating acc[32]
    cdef floating t
    for j0 in range(0, n - 31, 32):
        for j in range(32):
            acc[j] = out[j0 + j] if accumulate else 0
        for i in range(m):
            for j in range(32):
                acc[j] = acc[j] + D[i * n + j0 + j]
        for j in range(32):
            out[j0 + j] = acc[j]
    for j in range(n - n % 32, n):
        t = out[j] if accumulate else 0
        for i in range(m):
            t = t + D[i * n + j]
        out[j] = t


# --------------------------------------------------------------------------
# Sparse first layer: CSR rows @ W and CSR^T @ D, without densifying X
# --------------------------------------------------------------------------
cdef void csr_matmul(const CSR* X, const Py_ssize_t* rows, Py_ssize_t row0,
                     Py_ssize_t m, const floating* W, Py_ssize_t n, floating* Z,
                     int n_threads) noexcept nogil:
    """Z (m x n) = X[rows] @ W for CSR X."""
    cdef Py_ssize_t i
    if n_threads > 1 and m * n >= PAR_MIN:
        for i in prange(m, schedule='static', num_threads=n_threads):
            csr_row_matmul(X, rows[i] if rows != NULL else row0 + i, W, n, Z + i * n)
    else:
        for i in range(m):
            csr_row_matmul(X, rows[i] if rows != NULL else row0 + i, W, n, Z + i * n)


cdef inline void csr_row_matmul(const CSR* X, Py_ssize_t r, const floating* W,
                                Py_ssize_t n, floating* z) noexcept nogil:
    cdef Py_ssize_t p, j
    cdef floating v
    cdef const floating* w
    cdef const floating* data = <const floating*>X.data
    memset(z, 0, n * sizeof(floating))
    for p in range(X.indptr[r], X.indptr[r + 1]):
        v = data[p]
        w = W + X.indices[p] * n
        for j in range(n):
            z[j] += v * w[j]


cdef void csr_t_matmul(const CSR* X, const Py_ssize_t* rows, Py_ssize_t row0,
                       Py_ssize_t m, const floating* D, Py_ssize_t n, floating* G,
                       Py_ssize_t n_features, bint accumulate) noexcept nogil:
    """G (n_features x n) (+)= X[rows]^T @ D, rows visited in order."""
    cdef Py_ssize_t i, r, p, j
    cdef floating v
    cdef floating* g
    cdef const floating* d
    cdef const floating* data = <const floating*>X.data
    if not accumulate:
        memset(G, 0, n_features * n * sizeof(floating))
    for i in range(m):
        r = rows[i] if rows != NULL else row0 + i
        d = D + i * n
        for p in range(X.indptr[r], X.indptr[r + 1]):
            v = data[p]
            g = G + X.indices[p] * n
            for j in range(n):
                g[j] += v * d[j]


# --------------------------------------------------------------------------
# Whole-network passes over one block of rows
# --------------------------------------------------------------------------
cdef void forward_block(const Net* net, const floating* params, floating* work,
                        const floating* A0, Py_ssize_t lda0, const CSR* Xs,
                        const Py_ssize_t* rows, Py_ssize_t row0, Py_ssize_t m,
                        floating* Zout, const Dropout* drop, int n_threads) noexcept nogil:
    """Forward pass of a minibatch through every layer; the hidden
    activations land in work, the output layer's pre-activation (bias not
    yet added) in Zout (m x K)."""
    cdef Py_ssize_t l, n_in, n_out
    cdef int epi
    cdef const floating* W
    cdef floating* Z
    for l in range(net.L):
        n_in = net.units[l]
        n_out = net.units[l + 1]
        W = params + net.w_off[l]
        Z = Zout if l == net.L - 1 else work + net.act_off[l + 1]
        # hidden layers: bias + activation fused into the GEMM's tiles
        epi = EPI_BIAS_ACT if l < net.L - 1 else EPI_NONE
        if l == 0 and Xs != NULL:
            csr_matmul(Xs, rows, row0, m, W, n_out, Z, n_threads)
            if epi == EPI_BIAS_ACT:
                bias_activation(Z, params + net.b_off[l], m, n_out, net.activation,
                                <floating>net.slope, n_threads)
        else:
            pgemm(False, False, m, n_out, n_in,
                  A0 if l == 0 else work + net.act_off[l], lda0 if l == 0 else n_in,
                  W, n_out, <floating>0, Z, n_out, epi, params + net.b_off[l],
                  <const floating*>NULL, net.activation, <floating>net.slope, n_threads)
        if l < net.L - 1:
            if drop != NULL:
                dropout_forward(Z, m, n_out, drop, l + 1)


cdef bint ROWS_LOCAL = True   # off only to test the two paths against each other


cdef bint rows_local(const Net* net, Py_ssize_t m) noexcept nogil:
    """Whether every row-wise product of an m-row block (forward and BP2)
    is cut into the row_tiles(m) row blocks and nothing else: then block t
    goes from its gather to its deltas on one thread with no other block's
    data (row_block_pass), with no barrier on the way."""
    cdef Py_ssize_t l
    cdef int rt = row_tiles(m), tm, tn
    if not ROWS_LOCAL:
        return False
    for l in range(net.L):
        choose_tiles(m, net.units[l + 1], net.units[l], True, &tm, &tn)
        if tm != rt or tn != 1:
            return False
        if l > 0:
            choose_tiles(m, net.units[l], net.units[l + 1], True, &tm, &tn)
            if tm != rt or tn != 1:
                return False
    return True


cdef void row_block_pass(const Net* net, const floating* params, floating* work,
                         const floating* Xg, floating* A0, Py_ssize_t lda0,
                         const Py_ssize_t* rows, Py_ssize_t row0, Py_ssize_t m,
                         const floating* Y, const floating* sw, double inv_sw_sum,
                         int rt, int t, Py_ssize_t first) noexcept nogil:
    """Row block t of rt (see rows_local): the gather of its rows (when Xg is
    not NULL: X rows[i] into A0), the forward pass from layer `first` on (0,
    or 1 where epoch_team has made layer 0's output), BP1 and BP2 down to the
    first hidden layer, each product the tile pgemm would make of it."""
    cdef Py_ssize_t l, n_in, n_out
    cdef Py_ssize_t r0 = t * m // rt, r1 = (t + 1) * m // rt, L = net.L
    cdef floating slope = <floating>net.slope
    cdef floating* Z
    cdef const floating* A
    if Xg != NULL:
        gather_range(Xg, lda0, rows, r0, r1, A0)
    for l in range(first, L):
        n_in = net.units[l]
        n_out = net.units[l + 1]
        A = A0 if l == 0 else work + net.act_off[l]
        Z = work + (net.delta_off[L - 1] if l == L - 1 else net.act_off[l + 1])
        gemm_tile(False, False, m, n_out, n_in, A, lda0 if l == 0 else n_in,
                  params + net.w_off[l], n_out, <floating>0, Z, n_out, rt, 1, t,
                  EPI_BIAS_ACT if l < L - 1 else EPI_NONE, params + net.b_off[l],
                  <const floating*>NULL, net.activation, slope)
    output_delta_range(work + net.delta_off[L - 1], params + net.b_off[L - 1], Y, sw,
                       rows, row0, r0, r1, net.units[L], net.output, inv_sw_sum,
                       <double*>(work + net.rowloss_off),
                       work + net.rowloss_off + 2 * net.capacity)
    for l in range(L - 1, 0, -1):
        n_in = net.units[l]
        n_out = net.units[l + 1]
        gemm_tile(False, True, m, n_in, n_out, work + net.delta_off[l], n_out,
                  params + net.w_off[l], n_out, <floating>0, work + net.delta_off[l - 1],
                  n_in, rt, 1, t, EPI_DERIV, <const floating*>NULL, work + net.act_off[l],
                  net.activation, slope)


cdef double forward_backward_block(const Net* net, const floating* params,
                                   floating* grads, floating* work,
                                   const floating* A0, Py_ssize_t lda0, const CSR* Xs,
                                   const Py_ssize_t* rows, Py_ssize_t row0,
                                   Py_ssize_t m, const floating* Y, const floating* sw,
                                   double inv_sw_sum, bint accumulate,
                                   const Dropout* drop, bint want_grad,
                                   const floating* Xg, int n_threads) noexcept nogil:
    """Forward, BP1, then BP4/BP3/BP2 from the last layer down. Gradients are
    of sum_i w_i loss_i / sw_sum (no penalty term); with `accumulate` they are
    added to grads instead of overwriting them. Returns sum_i w_i loss_i.
    With Xg, the rows rows[i] of Xg (lda0 wide) are first gathered into A0.

    Where rows_local holds (dense input, no dropout), the row-wise passes run
    as row_block_pass, one parallel region for all of them instead of one a
    product (a region's start and end cost ~0.85 us on 2 cores, against
    ~75 us a minibatch for 100-64-64-5 b64); the results are the same bits."""
    cdef Py_ssize_t l, n_in, n_out, lda, L = net.L
    cdef floating* D
    cdef const floating* A_prev
    cdef double loss
    cdef floating slope = <floating>net.slope
    cdef floating beta = 1 if accumulate else 0
    cdef int rt, t
    cdef bint local = Xs == NULL and drop == NULL and want_grad and rows_local(net, m)
    if local:
        rt = row_tiles(m)
        if n_threads > 1 and rt > 1:
            for t in prange(rt, schedule='static', num_threads=n_threads):
                row_block_pass(net, params, work, Xg, <floating*>A0, lda0, rows, row0, m,
                               Y, sw, inv_sw_sum, rt, t, 0)
        else:
            for t in range(rt):
                row_block_pass(net, params, work, Xg, <floating*>A0, lda0, rows, row0, m,
                               Y, sw, inv_sw_sum, rt, t, 0)
        loss = row_loss_total(<double*>(work + net.rowloss_off), m)
    else:
        if Xg != NULL:
            gather_rows(Xg, lda0, rows, m, <floating*>A0, n_threads)
        D = work + net.delta_off[L - 1]
        forward_block(net, params, work, A0, lda0, Xs, rows, row0, m, D, drop, n_threads)
        loss = output_delta(D, params + net.b_off[L - 1], Y, sw, rows, row0, m,
                            net.units[L], net.output, inv_sw_sum,
                            <double*>(work + net.rowloss_off),
                            work + net.rowloss_off + 2 * net.capacity, n_threads)
        if not want_grad:
            return loss
    for l in range(L - 1, -1, -1):
        n_in = net.units[l]
        n_out = net.units[l + 1]
        D = work + net.delta_off[l]
        # BP4: weight gradient
        if l == 0 and Xs != NULL:
            csr_t_matmul(Xs, rows, row0, m, D, n_out, grads + net.w_off[0], n_in,
                         accumulate)
        else:
            if l == 0:
                A_prev = A0
                lda = lda0
            else:
                A_prev = work + net.act_off[l]
                lda = n_in
            pgemm(True, False, n_in, n_out, m, A_prev, lda, D, n_out, beta,
                  grads + net.w_off[l], n_out, EPI_NONE, <const floating*>NULL,
                  <const floating*>NULL, 0, <floating>0, n_threads)
        # BP3: bias gradient
        column_sums(D, m, n_out, grads + net.b_off[l], accumulate)
        # BP2: delta of the layer below (made by row_block_pass on the local path)
        if l > 0 and not local:
            propagate_delta(D, params + net.w_off[l], work + net.act_off[l],
                            work + net.delta_off[l - 1], m, n_in, n_out,
                            net.activation, slope, drop, l, n_threads)
    return loss


cdef double SIGNAL_SECONDS = 0.0002   # most time between two looks for a pending signal


cdef bint signal_pending(double* next_look) noexcept nogil:
    """Whether a signal (Ctrl-C) is pending, looked at only once
    SIGNAL_SECONDS have passed since the last look (next_look): every
    minibatch of a large net, every few of a tiny one, whose minibatch is a
    few microseconds."""
    cdef bint pending = False
    if bp_seconds() >= next_look[0]:
        with gil:
            pending = bp_check_signals() < 0
        next_look[0] = bp_seconds() + SIGNAL_SECONDS
    return pending


cdef inline double batch_weight(const floating* sw, const Py_ssize_t* rows,
                                Py_ssize_t m) noexcept nogil:
    """sum(w) over a minibatch's rows, in row order (m without weights)."""
    cdef Py_ssize_t i
    cdef double total = 0
    if sw == NULL:
        return m
    for i in range(m):
        total += sw[rows[i]]
    return total


cdef inline double adam_step_size(double learning_rate, double beta_1, double beta_2,
                                  Py_ssize_t t) noexcept nogil:
    """Adam's step size at step t, with scikit-learn's bias corrections."""
    return learning_rate * sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)


cdef inline double row_loss_total(const double* rowloss, Py_ssize_t m) noexcept nogil:
    """sum_i w_i loss_i over a block's m rows, in row order."""
    cdef Py_ssize_t i
    cdef double total = 0
    for i in range(m):
        total += rowloss[i]
    return total


cdef enum:
    GATHER_AHEAD = 8   # rows prefetched ahead: shuffled rows are cache misses


cdef inline void gather_block(const floating* X, Py_ssize_t d, const Py_ssize_t* rows,
                              Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t k0, Py_ssize_t k1,
                              floating* out) noexcept nogil:
    """Columns k0:k1 of X's rows rows[i0:i1] into rows i0:i1 and the same
    columns of out (d wide)."""
    cdef Py_ssize_t i
    cdef size_t width = (k1 - k0) * sizeof(floating)
    for i in range(i0, min(i0 + GATHER_AHEAD, i1)):
        bp_prefetch(X + rows[i] * d + k0, width)
    for i in range(i0, i1):
        if i + GATHER_AHEAD < i1:
            bp_prefetch(X + rows[i + GATHER_AHEAD] * d + k0, width)
        memcpy(out + i * d + k0, X + rows[i] * d + k0, width)


cdef inline void gather_range(const floating* X, Py_ssize_t d, const Py_ssize_t* rows,
                              Py_ssize_t i0, Py_ssize_t i1, floating* out) noexcept nogil:
    """Whole rows rows[i0:i1] of X into rows i0:i1 of out."""
    gather_block(X, d, rows, i0, i1, 0, d, out)


cdef void gather_rows(const floating* X, Py_ssize_t d, const Py_ssize_t* rows,
                      Py_ssize_t m, floating* out, int n_threads) noexcept nogil:
    cdef Py_ssize_t c
    cdef int rt = row_tiles(m)
    # each row block is gathered by the thread that computes its products
    if n_threads > 1 and rt > 1:
        for c in prange(rt, schedule='static', num_threads=n_threads):
            gather_range(X, d, rows, c * m // rt, (c + 1) * m // rt, out)
    else:
        gather_range(X, d, rows, 0, m, out)


# --------------------------------------------------------------------------
# Fused optimizer updates over the flat parameter vector
# --------------------------------------------------------------------------
# Each update reads the raw gradient G, adds the penalty's gradient on the
# coefficient part (the first n_coef entries: l2 * W + l1 * sign(W)), updates
# its state and W in one pass, and leaves |W|^2 and |W|_1 of the updated
# coefficients in per-chunk partial sums for the next minibatch's loss.

cdef inline floating penalised(floating g, floating w, floating l2,
                               floating l1) noexcept nogil:
    # l1 == 0 leaves g + l2 * w bit for bit (scikit-learn's L2 gradient)
    return g + l2 * w + (l1 if w > 0 else (-l1 if w < 0 else 0))


cdef inline void sgd_chunk(floating* W, const floating* G, floating* V,
                           Py_ssize_t lo, Py_ssize_t hi, floating lr, floating mu,
                           bint nesterov, floating l2, floating l1) noexcept nogil:
    cdef Py_ssize_t p
    cdef floating g, v
    if nesterov:
        for p in range(lo, hi):
            g = penalised(G[p], W[p], l2, l1)
            v = mu * V[p] - lr * g
            V[p] = v
            W[p] = W[p] + (mu * v - lr * g)
    else:
        for p in range(lo, hi):
            g = penalised(G[p], W[p], l2, l1)
            v = mu * V[p] - lr * g
            V[p] = v
            W[p] = W[p] + v


cdef inline void adam_chunk(floating* W, const floating* G, floating* M, floating* V,
                            Py_ssize_t lo, Py_ssize_t hi, floating lr, floating b1,
                            floating c1, floating b2, floating c2, floating eps,
                            floating l2, floating l1) noexcept nogil:
    # c1 = 1 - beta_1 and c2 = 1 - beta_2, rounded once from double (as numpy
    # does with scikit-learn's Python floats)
    cdef Py_ssize_t p
    cdef floating g, m, v
    if floating is double:
        bp_adam_d(W + lo, G + lo, M + lo, V + lo, hi - lo, lr, b1, c1, b2, c2, eps, l2, l1)
    else:
        for p in range(lo, hi):
            g = penalised(G[p], W[p], l2, l1)
            m = b1 * M[p] + c1 * g
            v = b2 * V[p] + c2 * (g * g)
            M[p] = m
            V[p] = v
            W[p] = W[p] + (-lr * m / (f_sqrt(v) + eps))


cdef inline void rmsprop_chunk(floating* W, const floating* G, floating* S, floating* B,
                               Py_ssize_t lo, Py_ssize_t hi, floating lr, floating rho,
                               floating c_rho, floating mu, floating eps, floating l2,
                               floating l1) noexcept nogil:
    # S: running mean of g^2; B: momentum buffer (used when mu > 0);
    # c_rho = 1 - rho
    cdef Py_ssize_t p
    cdef floating g, s, step
    if mu > 0:
        for p in range(lo, hi):
            g = penalised(G[p], W[p], l2, l1)
            s = rho * S[p] + c_rho * (g * g)
            S[p] = s
            step = mu * B[p] + g / (f_sqrt(s) + eps)
            B[p] = step
            W[p] = W[p] - lr * step
    else:
        for p in range(lo, hi):
            g = penalised(G[p], W[p], l2, l1)
            s = rho * S[p] + c_rho * (g * g)
            S[p] = s
            W[p] = W[p] - lr * g / (f_sqrt(s) + eps)


cdef struct OptConfig:
    int solver
    double momentum    # sgd momentum, rmsprop momentum
    bint nesterov
    double beta_1
    double beta_2      # adam beta_2, rmsprop rho
    double epsilon


cdef struct Penalty:
    double l2          # alpha * (1 - l1_ratio)
    double l1          # alpha * l1_ratio


cdef inline void chunk_norms(const floating* W, Py_ssize_t n_coef, Py_ssize_t c,
                             const Penalty* pen, double* out) noexcept nogil:
    """out[0] = sum W^2 (if the L2 part is on), out[1] = sum |W| (if the L1
    part is on) over chunk c of the n_coef coefficients, in 32 lanes
    combined in a fixed order: the result depends on the chunk bounds only,
    never on the thread count."""
    cdef Py_ssize_t lo = c * CHUNK, hi = min(lo + CHUNK, n_coef)
    if floating is float:
        bp_norms_f(W + lo, hi - lo, pen.l2 != 0, pen.l1 != 0, out)
    else:
        bp_norms_d(W + lo, hi - lo, pen.l2 != 0, pen.l1 != 0, out)


cdef void chunk_norms_from(const floating* W, const floating* V, Py_ssize_t v0,
                           Py_ssize_t v1, Py_ssize_t n_coef, Py_ssize_t c,
                           const Penalty* pen, double* out) noexcept nogil:
    """chunk_norms of the coefficients that are V's in [v0, v1) and W's
    elsewhere (W_0 kept in params, see epoch_team): a chunk that crosses v0
    or v1 is assembled first, so the sums are those of the chunk as one."""
    cdef Py_ssize_t lo = c * CHUNK, hi = min(lo + CHUNK, n_coef), a, b
    cdef floating buf[CHUNK]
    if hi <= v0 or lo >= v1:
        chunk_norms(W, n_coef, c, pen, out)
    elif lo >= v0 and hi <= v1:
        chunk_norms(V, n_coef, c, pen, out)
    else:
        a = max(lo, v0)
        b = min(hi, v1)
        memcpy(buf, W + lo, (hi - lo) * sizeof(floating))
        memcpy(buf + (a - lo), V + a, (b - a) * sizeof(floating))
        if floating is float:
            bp_norms_f(buf, hi - lo, pen.l2 != 0, pen.l1 != 0, out)
        else:
            bp_norms_d(buf, hi - lo, pen.l2 != 0, pen.l1 != 0, out)


cdef inline void step_chunk(const OptConfig* opt, floating* W, const floating* G,
                            floating* S1, floating* S2, Py_ssize_t lo, Py_ssize_t hi,
                            floating lr, floating l2, floating l1) noexcept nogil:
    if opt.solver == OPT_ADAM:
        adam_chunk(W, G, S1, S2, lo, hi, lr, <floating>opt.beta_1,
                   <floating>(1 - opt.beta_1), <floating>opt.beta_2,
                   <floating>(1 - opt.beta_2), <floating>opt.epsilon, l2, l1)
    elif opt.solver == OPT_RMSPROP:
        rmsprop_chunk(W, G, S1, S2, lo, hi, lr, <floating>opt.beta_2,
                      <floating>(1 - opt.beta_2), <floating>opt.momentum,
                      <floating>opt.epsilon, l2, l1)
    else:
        sgd_chunk(W, G, S1, lo, hi, lr, <floating>opt.momentum, opt.nesterov, l2, l1)


cdef enum:
    STEP_BLOCK = 512     # elements a step_into copies ahead of their update


cdef inline void step_into(const OptConfig* opt, const floating* W, floating* W_out,
                           const floating* G, floating* S1, floating* S2, Py_ssize_t lo,
                           Py_ssize_t hi, floating lr, floating l2,
                           floating l1) noexcept nogil:
    """step_chunk of W[lo:hi] with the result in W_out[lo:hi] (W itself
    untouched, unless W_out is W): blocks of STEP_BLOCK elements are copied
    to W_out and updated there while they are in L1. The same arithmetic,
    so the same bits, as step_chunk in place."""
    cdef Py_ssize_t b = lo, e
    if W_out == W:
        step_chunk(opt, W_out, G, S1, S2, lo, hi, lr, l2, l1)
        return
    while b < hi:
        e = min(b + STEP_BLOCK, hi)
        memcpy(W_out + b, W + b, (e - b) * sizeof(floating))
        step_chunk(opt, W_out, G, S1, S2, b, e, lr, l2, l1)
        b = e


cdef double penalty_value(const Penalty* pen, const double* norms) noexcept nogil:
    # alpha * ((1 - l1_ratio) / 2 * |W|^2 + l1_ratio * |W|_1), before / sw_sum
    return 0.5 * pen.l2 * norms[0] + pen.l1 * norms[1]


cdef inline void sum_chunk_norms(const double* partial, Py_ssize_t n_chunks,
                                 double* norms) noexcept nogil:
    """norms[0], norms[1]: the per-chunk partial norms (partial[2 c],
    partial[2 c + 1]) summed in chunk order."""
    cdef Py_ssize_t c
    norms[0] = 0
    norms[1] = 0
    for c in range(n_chunks):
        norms[0] += partial[2 * c]
        norms[1] += partial[2 * c + 1]


cdef void optimizer_step(const OptConfig* opt, const floating* W, floating* W_out,
                         const floating* G, floating* S1, floating* S2, Py_ssize_t n_coef,
                         Py_ssize_t n_params, double lr, const Penalty* pen,
                         double sw_sum, double* partial, double* norms,
                         int n_threads) noexcept nogil:
    """One update of the whole flat vector W into W_out (W itself where they
    are the same: see step_into), in fixed CHUNKs of coefficients
    (penalised, with per-chunk norms of the result), then the intercepts.
    norms[0], norms[1] receive |W|^2 and |W|_1 of the updated coefficients."""
    cdef Py_ssize_t c, lo, hi
    cdef Py_ssize_t n_chunks = (n_coef + CHUNK - 1) // CHUNK
    cdef floating flr = <floating>lr
    cdef floating fl2 = <floating>(pen.l2 / sw_sum)
    cdef floating fl1 = <floating>(pen.l1 / sw_sum)
    if n_threads > 1 and n_coef >= 2 * CHUNK:
        for c in prange(n_chunks, schedule='static', num_threads=n_threads):
            step_into(opt, W, W_out, G, S1, S2, c * CHUNK, min((c + 1) * CHUNK, n_coef),
                      flr, fl2, fl1)
            chunk_norms(W_out, n_coef, c, pen, partial + 2 * c)
    else:
        for c in range(n_chunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n_coef)
            step_into(opt, W, W_out, G, S1, S2, lo, hi, flr, fl2, fl1)
            chunk_norms(W_out, n_coef, c, pen, partial + 2 * c)
    sum_chunk_norms(partial, n_chunks, norms)
    step_into(opt, W, W_out, G, S1, S2, n_coef, n_params, flr, <floating>0, <floating>0)


cdef void coef_norms(const floating* W, Py_ssize_t n_coef, const Penalty* pen,
                     double* partial, double* norms) noexcept nogil:
    """|W|^2 and |W|_1 of the coefficients, chunked as in optimizer_step."""
    cdef Py_ssize_t c, n_chunks = (n_coef + CHUNK - 1) // CHUNK
    norms[0] = 0
    norms[1] = 0
    for c in range(n_chunks):
        chunk_norms(W, n_coef, c, pen, partial)
        norms[0] += partial[0]
        norms[1] += partial[1]


# --------------------------------------------------------------------------
# One team of threads for a whole epoch
# --------------------------------------------------------------------------
# Given more than one thread, where every forward and BP2 product of the net
# is cut by rows only (rows_local) and the grid below cuts something
# (team_splits), train_epoch keeps one team for all the epoch's minibatches,
# and two barriers a minibatch (bp_barrier_wait) replace the parallel region
# each pass would open (2 cores, in-process A/B: 100-64-64-5 b64 10% and
# 64-100-10 b200 8-14% faster an epoch, 784-256-128-10 unchanged). Before
# the first barrier: the row blocks, each from its gather through its deltas
# (row_block_pass), and the norms of the coefficients for the batch's
# penalty; where layer 0's product is made in two halves of its inputs
# (input_halves), a barrier of its own comes after the halves, and the row
# blocks start from their sum at layer 1. Before the second: the weight gradients in tiles of their rows,
# each tile's optimizer update on the thread that made it (its gradient
# still in that core's cache), the bias gradients and updates, and on
# thread 0 the loss. The grid depends on the shapes and the tile budget
# only, never on the number of threads, so the bits do not either.
#
# Every core reads all of the weights before the first barrier, and each
# then writes its own tiles of them: in place, that write finds its lines
# shared with the other core and must take them back first (measured: a
# 100k-float Adam update after another core read W, 110 against 40 us;
# 784-256-128-10 float32, 83 against 30 us a minibatch a thread when the
# forward read a copy instead). With a shadow vector the update goes to
# the other vector, which the other core last read one minibatch ago
# (mostly gone from its cache by then), and the two swap roles each
# minibatch.
cdef struct EpochShared:
    bp_barrier barrier
    double lr              # this minibatch's step size (thread 0, before barrier 1)
    double total           # sum over minibatches of batch loss * rows (thread 0)
    int stop               # a signal is pending (thread 0, before barrier 2)
    int interrupted        # the epoch stopped for a signal (thread 0, at its end)
    int zero_weights       # a minibatch's sample weights sum to zero
    # The team's size from one minibatch to the next (see tune_step): thread
    # 0 sets `size` before barrier 2 (only while it is not alone); threads
    # beyond it park on `park` (a count of thread 0's calls back) until
    # thread 0 calls them back, with the epoch's state as it stands and the
    # size they come back to (`size_back`), or ends the epoch (`done`).
    int size
    int size_back
    int park
    int park_sleepers
    int done
    double waited          # seconds the threads spent in barriers (atomic adds)
    Py_ssize_t start       # the epoch's state for threads called back
    int cur_is_params
    int w0_home


# The team's size, minibatch by minibatch (TeamTuner). On a quiet machine
# the team is faster; on a busy one a thread of the team may be off its
# core for a whole time slice while the others wait for it at a barrier,
# and one thread alone can be several times faster (measured, 2 cores, two
# busy processes beside: 784-256-128-10 f32 890 ms a fit with the team
# against 264 ms alone). Since no result depends on the team's size, thread
# 0 measures and chooses between minibatches: the seconds a row of a phase
# of the team, the share of it the threads spent waiting in barriers, and,
# when that share is high, a probe of a phase alone; whichever is faster a
# row goes on, for a phase that doubles in length each time a probe confirms
# it (so a wrong choice costs less and less), and thread 0 alone probes the
# team again after each such phase. The state lives in a float64 array the
# estimator keeps across epochs (TUNE_LEN values, zero at the start).
cdef enum:
    TUNE_MODE = 0          # 0: the whole team, 1: thread 0 alone
    TUNE_LEFT = 1          # minibatches left in this phase
    TUNE_TIME = 2          # this phase's seconds so far
    TUNE_ROWS = 3          # and rows
    TUNE_WAIT = 4          # and seconds in barriers, all threads together
    TUNE_RATE_TEAM = 5     # seconds a row of the last phase of each (0: none yet)
    TUNE_RATE_SOLO = 6     # (TUNE_RATE_TEAM + mode)
    TUNE_PHASE = 7         # minibatches of the next phase that probes nothing
    TUNE_PROBING = 8       # this phase probes the other mode
    TUNE_FORCE = 9         # tests: switch mode every this many minibatches
    TUNE_SWITCHES = 10     # switches so far (tests, diagnostics)
    TUNE_LEN = 16
    TUNE_PROBE = 4         # minibatches of a probe
    TUNE_FIRST = 8         # minibatches of a phase after a probe changed the mode
    TUNE_LONGEST = 4096
TUNE_SIZE = TUNE_LEN
# where each of the tuner's values sits in its array (tests, diagnostics)
TUNE_FIELDS = {"mode": TUNE_MODE, "left": TUNE_LEFT, "rate_team": TUNE_RATE_TEAM,
               "rate_solo": TUNE_RATE_SOLO, "phase": TUNE_PHASE, "probing": TUNE_PROBING,
               "force": TUNE_FORCE, "switches": TUNE_SWITCHES}
# a phase lasts at least this long (a time slice of a busy machine is ~3 ms;
# shorter phases would time the scheduler, not the mode)
cdef double TUNE_MIN_SECONDS = 0.004
# waits above this share of the team's time make thread 0 probe going alone
cdef double TUNE_WAIT_SHARE = 0.2
# the team wins a comparison only at this fraction of the seconds a row
# alone or less: its measured phases leave out what it costs around them
# (on 2 cores with one busy process beside, thread 0 alone ran ~20% slower
# in the phases after a probe of the team than a one-thread fit did, its
# core taken by the busy process the scheduler moved there), and a team
# that is barely faster holds cores that others are waiting for
cdef double TUNE_TEAM_EDGE = 0.85


cdef inline void tune_switch(double* tune, int mode, double left, bint probing) noexcept nogil:
    if <int>tune[TUNE_MODE] != mode:
        tune[TUNE_SWITCHES] += 1
    tune[TUNE_MODE] = mode
    tune[TUNE_LEFT] = left
    tune[TUNE_PROBING] = probing


cdef int tune_step(double* tune, double seconds, Py_ssize_t rows, double waited,
                   int team) noexcept nogil:
    """Thread 0, after each minibatch: account for it (its seconds, rows,
    and the threads' seconds in barriers), and return the team's size for
    the next minibatch (team or 1)."""
    cdef int mode = <int>tune[TUNE_MODE]
    cdef double rate, phase = tune[TUNE_PHASE]
    if phase < TUNE_FIRST:
        phase = TUNE_FIRST
    tune[TUNE_TIME] += seconds
    tune[TUNE_ROWS] += <double>rows
    tune[TUNE_WAIT] += waited
    tune[TUNE_LEFT] -= 1
    if tune[TUNE_FORCE] > 0:
        if tune[TUNE_LEFT] <= 0:
            tune_switch(tune, 1 - mode, tune[TUNE_FORCE], False)
    elif tune[TUNE_LEFT] <= 0 and tune[TUNE_TIME] >= TUNE_MIN_SECONDS:
        rate = tune[TUNE_TIME] / tune[TUNE_ROWS]
        tune[TUNE_RATE_TEAM + mode] = rate
        if tune[TUNE_PROBING] != 0 and (tune[TUNE_RATE_TEAM] < TUNE_TEAM_EDGE *
                                        tune[TUNE_RATE_SOLO]) != (mode == 0):
            # the probe lost: the other mode again, for twice as long
            tune[TUNE_PHASE] = min(2 * phase, <double>TUNE_LONGEST)
            tune_switch(tune, 1 - mode, tune[TUNE_PHASE], False)
        elif tune[TUNE_PROBING] != 0:
            # the probe won: its mode goes on, from a first phase
            tune[TUNE_PHASE] = TUNE_FIRST
            tune_switch(tune, mode, TUNE_FIRST, False)
        elif mode == 1:
            # after a phase alone, the team is probed again
            tune_switch(tune, 0, TUNE_PROBE, True)
        elif tune[TUNE_WAIT] > TUNE_WAIT_SHARE * team * tune[TUNE_TIME]:
            tune_switch(tune, 1, TUNE_PROBE, True)
        else:
            tune[TUNE_PHASE] = min(2 * phase, <double>TUNE_LONGEST)
            tune_switch(tune, 0, tune[TUNE_PHASE], False)
        tune[TUNE_TIME] = 0
        tune[TUNE_ROWS] = 0
        tune[TUNE_WAIT] = 0
    return 1 if <int>tune[TUNE_MODE] == 1 else team


cdef inline int grad_row_tiles(Py_ssize_t n_in, Py_ssize_t n_out,
                               Py_ssize_t m) noexcept nogil:
    """Tiles of the rows of an n_in x n_out weight gradient over m batch
    rows, each tile's parameters one contiguous range of the flat vector:
    the budget's largest power of two that leaves each tile TILE_MIN_DIM
    rows and TILE_MIN_FLOPS of work."""
    cdef int a = 1
    cdef double work = 2.0 * <double>n_in * <double>n_out * <double>m
    while 2 * a <= TILE_BUDGET and n_in // (2 * a) >= TILE_MIN_DIM and \
            work / (2 * a) >= TILE_MIN_FLOPS:
        a *= 2
    return a


cdef bint team_splits(const Net* net, Py_ssize_t m) noexcept nogil:
    """Whether epoch_team's grid cuts anything of an m-row minibatch in more
    than one piece (else train_epoch's loop runs it on one thread)."""
    cdef Py_ssize_t l
    if row_tiles(m) > 1 or net.n_coef > CHUNK:
        return True
    for l in range(net.L):
        if grad_row_tiles(net.units[l], net.units[l + 1], m) > 1:
            return True
    return False


cdef enum:
    # no input halves for a smaller first product (2 m n k); 784-256-128-10
    # b200 has 80 MFLOP, 64-100-10 b200 2.6
    INPUT_HALVES_MIN_FLOPS = 8388608


cdef bint input_halves(const Net* net, Py_ssize_t m) noexcept nogil:
    """Whether epoch_team makes layer 0's product of an m-row minibatch in
    two halves of its inputs (rows 0:k and k:n_0 of W_0, k = n_0 // 2, the
    two row tiles of its weight gradient) rather than in two row blocks:
    where the minibatch is cut in two row blocks, the weight gradient in two
    row tiles, and the product is large. Each half is one product of all m
    rows, A[:, half] @ W_0[half, :], and the output is their sum plus the
    bias, (P_0 + P_1) + b, in that order, on any number of threads. Thread t
    gathers, multiplies by and updates only its half of the inputs and of
    W_0, the largest operand: on 2 cores none of them crosses to the other
    core's cache any more, where with row blocks every core read all of W_0
    after each one had updated its half, and read the other's gathered rows
    for the gradient (in-process A/B, 784-256-128-10 b200: float32 ~3%,
    float64 ~1.5% faster an epoch). What crosses instead is half of the
    other half's product (100 x 256 of it), read once by the sum."""
    cdef Py_ssize_t n0, n1
    if net.L < 2 or row_tiles(m) != 2:
        return False
    n0 = net.units[0]
    n1 = net.units[1]
    return grad_row_tiles(n0, n1, m) == 2 and \
        2.0 * <double>m * <double>n0 * <double>n1 >= INPUT_HALVES_MIN_FLOPS


cdef bint runs_in_team(const Net* net, Py_ssize_t batch_size, bint sparse,
                     bint dropout) noexcept nogil:
    """Whether train_epoch, given more than one thread, runs an epoch of
    batch_size-row minibatches in epoch_team."""
    return not sparse and not dropout and rows_local(net, batch_size) and \
        team_splits(net, batch_size)


cdef enum:
    # Below this many flops a minibatch (6 m times the coefficients) the
    # team is one thread: iris' 4-100-3 b112 (0.47 MFLOP) gains nothing from
    # a second thread on a quiet machine (9.3 against 9.0 ms a 200-epoch fit)
    # and loses on a busy one; 100-64-64-5 b64 (4.2 MFLOP) gains ~10%.
    TEAM_MIN_FLOPS = 2097152


cdef inline int team_threads(const Net* net, Py_ssize_t batch_size,
                             int n_threads) noexcept nogil:
    """Threads of the epoch team for batch_size-row minibatches."""
    if 6.0 * <double>batch_size * <double>net.n_coef < TEAM_MIN_FLOPS:
        return 1
    return n_threads


cdef int update_threads(const Net* net, Py_ssize_t batch_size,
                        int n_threads) noexcept nogil:
    """Threads of optimizer_step's chunked update outside the team. It is
    shared among the threads only when the minibatch's first product is
    (otherwise one thread computes all the gradients and the other threads'
    share of the parameters would cross between the cores' caches every
    minibatch: 2 cores, measured when 100-64-64-5 b64 had only one-tile
    products, 14% slower an epoch when shared), and when the coefficients
    fill two chunks."""
    cdef int tm, tn
    choose_tiles(batch_size, net.units[1], net.units[0], True, &tm, &tn)
    return n_threads if tm * tn > 1 and net.n_coef >= 2 * CHUNK else 1


cdef int net_of_meta(const Py_ssize_t[::1] meta, Net* net) except -1:
    """The Net of a meta array alone (no buffers to check it against): for
    the helpers below that tell tests which path an epoch takes."""
    unpack_meta(meta, 0.0, net)
    return 0


def epoch_threads(const Py_ssize_t[::1] meta, Py_ssize_t batch_size, int n_threads,
                  bint sparse, bint dropout):
    """The most threads train_epoch can use for batch_size-row minibatches
    out of n_threads: one where it runs a team of one (work too small to
    share, see team_threads), else n_threads. A caller claims no more."""
    cdef Net net
    net_of_meta(meta, &net)
    n_threads = clamp_threads(n_threads)
    if batch_size >= 1 and runs_in_team(&net, batch_size, sparse, dropout):
        return team_threads(&net, batch_size, n_threads)
    return n_threads


cdef void sum_halves(floating* Z, const floating* P, const floating* b, Py_ssize_t r0,
                     Py_ssize_t r1, Py_ssize_t n, int act, floating slope) noexcept nogil:
    """Rows r0:r1 of layer 0's output from its two input halves (see
    input_halves): Z = f((Z + P) + b)."""
    cdef Py_ssize_t i, j
    cdef floating* z
    cdef const floating* p
    for i in range(r0, r1):
        z = Z + i * n
        p = P + i * n
        for j in range(n):
            z[j] = z[j] + p[j]
        bias_activation_row(z, b, n, act, slope)


cdef inline bint park_thread(EpochShared* sh, int* parks, floating* params,
                             floating* shadow, Py_ssize_t* start, floating** cur,
                             floating** nxt, bint* w0_home, int* size) noexcept nogil:
    """A thread beyond the team's size waits (spins, then sleeps) until
    thread 0 ends the epoch (True) or calls it back (False), with the
    epoch's state as thread 0 left it: the next minibatch's start, which
    vector the parameters stand in, where W_0 stands, the team's size."""
    bp_wait_while(&sh.park, &sh.park_sleepers, parks[0])
    parks[0] += 1
    if sh.done != 0:
        return True
    start[0] = sh.start
    cur[0] = params if sh.cur_is_params or shadow == NULL else shadow
    nxt[0] = params if cur[0] != params or shadow == NULL else shadow
    w0_home[0] = sh.w0_home
    size[0] = sh.size_back
    return False


cdef void epoch_team(const Net* net, floating* params, floating* shadow, floating* grads,
                     floating* work, floating* S1, floating* S2, const floating* X,
                     Py_ssize_t d, bint gather, const Py_ssize_t* order, Py_ssize_t n,
                     Py_ssize_t batch_size, const floating* Y, const floating* sw,
                     const OptConfig* opt, const Penalty* pen, double learning_rate,
                     Py_ssize_t* step_count, double* partial, EpochShared* sh,
                     double* tune, int tid, int team) noexcept nogil:
    """Thread tid's part of one epoch (see above); nth threads call it, each
    with its own tid, and pass the same barriers in the same order. Every
    thread computes sw_sum itself (the same sum in the same order), so all
    of them stop at a zero-weight minibatch without a word between them.
    With a shadow (else NULL), the parameters alternate between params and
    shadow (see step_into) and end the epoch in params, except W_0 in the
    minibatches whose layer-0 product is made in halves (input_halves): no
    core reads another's half of it, so it stays in params and is updated
    there in place (in-process A/B against the shadow: float64 ~2.7%,
    float32 ~0.7% faster an epoch, 784-256-128-10 b200), and is copied to
    the vector in use where a minibatch without halves follows.

    The team's size may change between minibatches (tune_step, on thread 0,
    with the state in tune): threads beyond the size chosen park until
    thread 0 calls them back, and take the epoch's state from it then. Each
    minibatch's work is cut the same way whatever the size, so the bits
    are the same."""
    cdef Py_ssize_t start = 0, m, i, l, n_in, n_out, lda, c, lo, hi
    cdef Py_ssize_t L = net.L, n_chunks = (net.n_coef + CHUNK - 1) // CHUNK
    cdef int sense = 0, rt, qt, t
    cdef double sw_sum, next_look = 0
    cdef double norms[2]
    cdef floating* A0
    cdef floating* D
    cdef const floating* A_prev
    cdef const floating* Xg = X if gather else NULL
    cdef double* rowloss = <double*>(work + net.rowloss_off)
    cdef floating flr, fl2, fl1
    cdef floating* cur = params            # the parameters as they stand
    cdef floating* nxt = shadow if shadow != NULL else params   # the update's
    cdef floating* swap
    cdef Py_ssize_t n0 = net.units[0], n1 = net.units[1], k0, k1, first, nm
    cdef Py_ssize_t z0 = net.w_off[0], z1 = net.w_off[0] + n0 * n1   # W_0
    cdef bint w0_home = False     # W_0 as it stands is params', not cur's
    cdef bint next_whole
    cdef int h, parks = 0
    cdef int nth = sh.size if sh.size < team else team   # threads in this minibatch
    cdef int size = nth
    cdef bint stop = False
    cdef double waited = 0, last = 0, now, team_waited = 0
    if tid == 0:
        next_look = bp_seconds() + SIGNAL_SECONDS
        last = next_look - SIGNAL_SECONDS
    if tid >= nth:
        # the epoch starts without this thread: park until called back
        if park_thread(sh, &parks, params, shadow, &start, &cur, &nxt, &w0_home, &nth):
            return
    while start < n:
        m = min(batch_size, n - start)
        sw_sum = batch_weight(sw, order + start, m)
        if sw_sum == 0:
            if tid == 0:
                sh.zero_weights = 1
            break
        # (1) row blocks: gather, forward, BP1, BP2; the penalty's norms of
        # the coefficients as they stand, chunked as optimizer_step chunks them
        A0 = work + net.act_off[0] if gather else <floating*>(X + order[start] * d)
        rt = row_tiles(m)
        first = 0
        if input_halves(net, m):
            # layer 0's product in two halves of its inputs (see input_halves):
            # half h gathered and multiplied by thread h % nth, into layer 0's
            # output (h = 0) or layer 0's delta, free until BP2 writes it
            h = tid
            while h < 2:
                k0 = h * n0 // 2
                k1 = (h + 1) * n0 // 2
                if not w0_home and cur != params:
                    # W_0 goes to params (after a minibatch without halves)
                    memcpy(params + z0 + k0 * n1, cur + z0 + k0 * n1,
                           (k1 - k0) * n1 * sizeof(floating))
                if gather:
                    gather_block(X, d, order + start, 0, m, k0, k1, A0)
                gemm(False, False, <int>m, <int>n1, <int>(k1 - k0), <floating>1, A0 + k0,
                     <int>d, params + z0 + k0 * n1, <int>n1, <floating>0,
                     work + (net.act_off[1] if h == 0 else net.delta_off[0]), <int>n1)
                h = h + nth
            w0_home = True
            bp_barrier_wait(&sh.barrier, nth, &sense, &waited)
            t = tid
            while t < rt:
                sum_halves(work + net.act_off[1], work + net.delta_off[0],
                           cur + net.b_off[0], t * m // rt, (t + 1) * m // rt, n1,
                           net.activation, <floating>net.slope)
                t = t + nth
            first = 1
        t = tid
        while t < rt:
            row_block_pass(net, cur, work, <const floating*>NULL if first else Xg, A0, d,
                           order + start, 0, m, Y, sw, 1.0 / sw_sum, rt, t, first)
            t = t + nth
        c = tid
        while c < n_chunks:
            if w0_home and cur != params:
                chunk_norms_from(cur, params, z0, z1, net.n_coef, c, pen, partial + 2 * c)
            else:
                chunk_norms(cur, net.n_coef, c, pen, partial + 2 * c)
            c = c + nth
        if tid == 0:
            sh.lr = learning_rate
            if opt.solver == OPT_ADAM:
                step_count[0] += 1
                sh.lr = adam_step_size(learning_rate, opt.beta_1, opt.beta_2,
                                       step_count[0])
            step_count[1] += 1
        bp_barrier_wait(&sh.barrier, nth, &sense, &waited)
        # (2) BP4 by row tiles of each gradient, each tile then updated where
        # it was made; BP3 and the bias update of layer l on one thread. Odd
        # threads take the layers first to last, even ones last to first, so
        # one thread's update (bound by memory) tends to run while another
        # multiplies, instead of all of them streaming at once
        flr = <floating>sh.lr
        fl2 = <floating>(pen.l2 / sw_sum)
        fl1 = <floating>(pen.l1 / sw_sum)
        nm = min(batch_size, n - start - m)
        next_whole = nm > 0 and not input_halves(net, nm)
        for i in range(L):
            l = i if tid % 2 else L - 1 - i
            n_in = net.units[l]
            n_out = net.units[l + 1]
            D = work + net.delta_off[l]
            A_prev = A0 if l == 0 else work + net.act_off[l]
            lda = d if l == 0 else n_in
            qt = grad_row_tiles(n_in, n_out, m)
            t = tid
            while t < qt:
                gemm_tile(True, False, n_in, n_out, m, A_prev, lda, D, n_out, <floating>0,
                          grads + net.w_off[l], n_out, qt, 1, t, EPI_NONE,
                          <const floating*>NULL, <const floating*>NULL, 0, <floating>0)
                lo = net.w_off[l] + t * n_in // qt * n_out
                hi = net.w_off[l] + (t + 1) * n_in // qt * n_out
                if l == 0 and w0_home:
                    # W_0's tile t is half t of the inputs: in place in params,
                    # and to the next vector where the next minibatch has no
                    # halves (the barrier below publishes it)
                    step_chunk(opt, params, grads, S1, S2, lo, hi, flr, fl2, fl1)
                    if next_whole and nxt != params:
                        memcpy(nxt + lo, params + lo, (hi - lo) * sizeof(floating))
                else:
                    step_into(opt, cur, nxt, grads, S1, S2, lo, hi, flr, fl2, fl1)
                t = t + nth
            if (L - 1 - l) % nth == tid:
                column_sums(D, m, n_out, grads + net.b_off[l], False)
                step_into(opt, cur, nxt, grads, S1, S2, net.b_off[l],
                          net.b_off[l] + n_out, flr, <floating>0, <floating>0)
        if waited != 0:
            bp_atomic_add_double(&sh.waited, waited)
            waited = 0
        if tid == 0:
            sum_chunk_norms(partial, n_chunks, norms)
            sh.total += (row_loss_total(rowloss, m) / sw_sum
                         + penalty_value(pen, norms) / sw_sum) * m
            stop = signal_pending(&next_look)
            now = bp_seconds()
            # (the other threads' waits of this minibatch may not all be in
            # yet: those come in the next one's account)
            size = tune_step(tune, now - last, m, sh.waited - team_waited, team)
            team_waited = sh.waited
            last = now
            if nth > 1:
                # published for the team (barrier 2). Alone, thread 0 writes
                # neither: a thread on its way to park may not have read
                # this minibatch's values yet
                sh.stop = stop
                sh.size = size
        bp_barrier_wait(&sh.barrier, nth, &sense, &waited)
        swap = cur
        cur = nxt
        nxt = swap
        if w0_home and next_whole:
            w0_home = False
        if tid > 0:
            stop = sh.stop
            size = sh.size
        if stop:
            break
        start += m
        if start < n and size > nth:
            # (thread 0, alone) the parked threads are called back, with
            # the epoch's state as it stands
            sh.start = start
            sh.cur_is_params = cur == params
            sh.w0_home = w0_home
            sh.size_back = size
            parks += 1
            bp_wake_all(&sh.park, &sh.park_sleepers, parks)
        elif start < n and tid >= size:
            if park_thread(sh, &parks, params, shadow, &start, &cur, &nxt, &w0_home,
                           &size):
                return
        if start < n:
            nth = size
    if tid == 0:
        sh.interrupted = stop
        if nth < team:
            # the epoch ends with threads parked: they leave, and the copy
            # below is thread 0's alone
            sh.done = 1
            bp_wake_all(&sh.park, &sh.park_sleepers, parks + 1)
            nth = 1
    if cur != params:
        # the last update landed in the shadow: each thread copies its share
        # back (the parallel region's end is the barrier after it), but for
        # W_0 where params holds it as it stands
        lo = tid * net.n_params // nth
        hi = (tid + 1) * net.n_params // nth
        if w0_home:
            if lo < z0:
                memcpy(params + lo, cur + lo, (min(hi, z0) - lo) * sizeof(floating))
            lo = max(lo, z1)
        if hi > lo:
            memcpy(params + lo, cur + lo, (hi - lo) * sizeof(floating))


cdef int raise_pending() except -1:
    # An exception (KeyboardInterrupt, or what a signal handler raised) is
    # already set by PyErr_CheckSignals; returning -1 propagates it.
    return -1


cdef int check_csr(Py_ssize_t n_rows, Py_ssize_t n_features, Py_ssize_t nnz_data,
                   const Py_ssize_t[::1] indices, const Py_ssize_t[::1] indptr) except -1:
    cdef Py_ssize_t i
    if n_rows < 0 or indptr.shape[0] != n_rows + 1 or indices.shape[0] != nnz_data:
        raise ValueError("malformed CSR input")
    if indptr[0] != 0 or indptr[n_rows] != nnz_data:
        raise ValueError("malformed CSR indptr")
    # O(nnz), once per Data: a bad index would be an out-of-bounds write.
    for i in range(n_rows):
        if indptr[i + 1] < indptr[i]:
            raise ValueError("malformed CSR indptr: not monotonic")
    for i in range(nnz_data):
        if indices[i] < 0 or indices[i] >= n_features:
            raise ValueError("malformed CSR input: column index out of range")
    return 0


# --------------------------------------------------------------------------
# Contexts: what the entry points work on, checked once
# --------------------------------------------------------------------------
# The entry points take a few objects built before them instead of the
# arrays one by one:
#
#   Layout       a network's description (meta) unpacked into a Net and
#                checked once; kept by the model (Network.layout)
#   Data         rows (dense or CSR), targets and sample weights; one a fit
#                (every epoch, every L-BFGS evaluation), one a prediction
#   FitContext   train_epoch's buffers, optimizer state and hyperparameters,
#                one a fit
#   LossContext  loss_gradient's workspace, penalty and dropout mask
#
# Their constructors make every check of dtypes, contiguity, shapes and
# lengths (the buffers' own as Cython makes them: ValueError for a wrong
# dtype, layout or a read-only output, TypeError for None); an entry point
# then only checks that its arguments fit together (O(1), but for
# train_epoch's sample order) and hands raw pointers to the kernels.
# A cdef class cannot hold a fused (float / double) memoryview, so a
# context holds its float arrays' data as void* with a flag for their
# dtype (`doubles`), and, in `held`, the memoryviews that keep those
# buffers alive (and their pointers valid) for as long as it lives.

cdef bint holds_doubles(object a) except -1:
    """Whether the array a is taken for float64 (else float32): whatever is
    not float32 goes to the float64 buffer check, which refuses it."""
    dtype = getattr(a, "dtype", None)
    return dtype is None or dtype.char != "f"


cdef void* float_vector(object a, bint doubles, bint writable, str name,
                        Py_ssize_t* n, list held) except? NULL:
    """The data of a, a C-contiguous 1-d float64 (doubles) or float32 array,
    writable where asked; its length goes to n[0] and the memoryview that
    keeps it alive to held. NULL where a is empty."""
    cdef double[::1] dw
    cdef float[::1] fw
    cdef const double[::1] dr
    cdef const float[::1] fr
    cdef const void* p = NULL
    if a is None:
        raise TypeError("%s must be an array, not None" % name)
    if doubles and writable:
        dw = a
        held.append(dw)
        n[0] = dw.shape[0]
        if n[0] > 0:
            p = &dw[0]
    elif doubles:
        dr = a
        held.append(dr)
        n[0] = dr.shape[0]
        if n[0] > 0:
            p = &dr[0]
    elif writable:
        fw = a
        held.append(fw)
        n[0] = fw.shape[0]
        if n[0] > 0:
            p = &fw[0]
    else:
        fr = a
        held.append(fr)
        n[0] = fr.shape[0]
        if n[0] > 0:
            p = &fr[0]
    return <void*>p


cdef const void* float_matrix(object a, bint doubles, str name, Py_ssize_t* rows,
                              Py_ssize_t* cols, list held) except? NULL:
    """The data of a, a C-ordered 2-d float64 (doubles) or float32 array,
    read only; its shape goes to rows[0], cols[0] and the memoryview that
    keeps it alive to held. NULL where a is empty."""
    cdef const double[:, ::1] d
    cdef const float[:, ::1] f
    cdef const void* p = NULL
    if a is None:
        raise TypeError("%s must be an array, not None" % name)
    if doubles:
        d = a
        held.append(d)
        rows[0] = d.shape[0]
        cols[0] = d.shape[1]
        if rows[0] > 0 and cols[0] > 0:
            p = &d[0, 0]
    else:
        f = a
        held.append(f)
        rows[0] = f.shape[0]
        cols[0] = f.shape[1]
        if rows[0] > 0 and cols[0] > 0:
            p = &f[0, 0]
    return p


cdef double weight_sum(const floating* sw, Py_ssize_t n) noexcept nogil:
    """sw[0] + ... + sw[n - 1], in that order, in double."""
    cdef double total = 0
    cdef Py_ssize_t i
    for i in range(n):
        total += sw[i]
    return total


cdef class Layout:
    """A network as the kernels see it, with workspaces of `capacity` rows.

    Layout(meta, slope=0.0): meta is the network's description (an intp
    array, see bpfast._network.Network.meta and the layout comment above
    the Net struct: layer sizes, the activation and output codes, where
    each block lies in the parameter vector and in a workspace); slope is
    leaky_relu's slope or elu's alpha. meta is copied, unpacked into a Net
    and checked once, here: each block it names must lie inside the
    parameter vector (n_params) and the workspace (work_len) it declares.
    The arrays themselves are checked against those lengths where they are
    handed over (FitContext, LossContext, predict).

    A Layout holds no buffers and no dtype: one serves float32 and float64
    alike. A model keeps one a capacity (Network.layout) for all its
    predictions."""
    cdef Net net                       # the description; its arrays point into _meta
    cdef const Py_ssize_t[::1] _meta   # the copy of meta that net points into
    cdef readonly object meta          # that copy, as a read-only array

    def __cinit__(self, const Py_ssize_t[::1] meta, double slope=0.0):
        # a copy: a later write into the caller's array cannot undo the checks
        copy = np.array(meta, dtype=np.intp, copy=True)
        copy.flags.writeable = False
        self.meta = copy
        self._meta = copy
        unpack_meta(self._meta, slope, &self.net)

    def __reduce__(self):
        return Layout, (self.meta, self.net.slope)

    @property
    def capacity(self):
        """Rows a workspace of this layout holds."""
        return self.net.capacity

    @property
    def work_len(self):
        """Length (in floats of the buffers' dtype) of one workspace."""
        return self.net.work_len

    @property
    def n_params(self):
        """Length of the parameter vector."""
        return self.net.n_params

    @property
    def n_coef(self):
        """Coefficients (the weights, without the intercepts) in it."""
        return self.net.n_coef

    @property
    def slope(self):
        """leaky_relu's slope, elu's alpha."""
        return self.net.slope


cdef class Data:
    """Rows for the kernels, checked once: the input, and, for training and
    the loss, targets and sample weights, all float32 or all float64.

    Data(X, X_data, X_indices, X_indptr, sparse, n_features, Y=None,
         sample_weight=None); the input's parts in the order
    bpfast._network.kernel_input gives them:
      X           dense rows, C-ordered n_rows x n_features (read unless
                  `sparse`; may be None then)
      X_data, X_indices, X_indptr
                  CSR rows (read if `sparse`; may be None otherwise):
                  intp indices in [0, n_features), indptr from 0 to nnz
                  and never decreasing (checked here, in O(nnz))
      Y           targets, n_rows x n_outputs (None: predictions only)
      sample_weight
                  n_rows weights; None or empty: all 1
    The rows are checked against a network's widths (n_features, n_outputs)
    where an entry point takes them. One Data serves every epoch of a fit
    and every L-BFGS evaluation; a prediction makes one (cheap: for dense
    rows, one buffer to take)."""
    cdef readonly bint sparse
    cdef readonly Py_ssize_t n_rows
    cdef readonly Py_ssize_t n_features
    cdef readonly Py_ssize_t n_outputs    # Y's columns (0 without Y)
    cdef readonly bint has_targets        # Y was given
    cdef readonly double sw_sum           # the sample weights' sum (n_rows without)
    cdef bint doubles                     # float64 buffers (else float32)
    cdef const void* X                    # dense rows (NULL: sparse, or no rows)
    cdef CSR csr                          # sparse rows
    cdef const void* Y                    # targets (NULL: none, or no rows)
    cdef const void* sw                   # sample weights (NULL: all 1)
    cdef const Py_ssize_t[::1] indices    # (sparse) what csr.indices points into
    cdef const Py_ssize_t[::1] indptr     # (sparse) what csr.indptr points into
    cdef list held                        # the memoryviews of the float buffers

    def __cinit__(self, X, X_data, X_indices, X_indptr, bint sparse, Py_ssize_t n_features,
                  Y=None, sample_weight=None):
        cdef Py_ssize_t nnz = 0, rows = 0, cols = 0, n_sw = 0
        self.held = []
        self.sparse = sparse
        self.n_features = n_features
        self.doubles = holds_doubles(X_data if sparse else X)
        if sparse:
            self.csr.data = float_vector(X_data, self.doubles, False, "X_data", &nnz,
                                         self.held)
            if X_indices is None or X_indptr is None:
                raise TypeError("CSR input needs X_indices and X_indptr")
            self.indices = X_indices
            self.indptr = X_indptr
            self.n_rows = self.indptr.shape[0] - 1
            check_csr(self.n_rows, n_features, nnz, self.indices, self.indptr)
            self.csr.indices = &self.indices[0] if self.indices.shape[0] > 0 else NULL
            self.csr.indptr = &self.indptr[0]
        else:
            self.X = float_matrix(X, self.doubles, "X", &rows, &cols, self.held)
            if cols != n_features:
                raise ValueError("X has the wrong number of columns")
            self.n_rows = rows
        if Y is not None:
            self.Y = float_matrix(Y, self.doubles, "Y", &rows, &cols, self.held)
            if rows != self.n_rows:
                raise ValueError("Y has shape (%d, %d), expected (%d, %d)"
                                 % (rows, cols, self.n_rows, cols))
            self.n_outputs = cols
            self.has_targets = True
        self.sw_sum = self.n_rows
        if sample_weight is not None:
            self.sw = float_vector(sample_weight, self.doubles, False, "sample_weight",
                                   &n_sw, self.held)
            if n_sw != 0 and n_sw != self.n_rows:
                raise ValueError("sample_weight has the wrong length")
            if n_sw > 0:
                self.sw_sum = (weight_sum(<const double*>self.sw, n_sw) if self.doubles
                               else weight_sum(<const float*>self.sw, n_sw))

    @property
    def dtype(self):
        return np.dtype(np.float64 if self.doubles else np.float32)


cdef int check_data(const Net* net, Data data, bint targets) except -1:
    """That data fit the network: its input width and, where `targets`, the
    targets' width."""
    if data.n_features != net.units[0]:
        raise ValueError("X has %d features, the network expects %d"
                         % (data.n_features, net.units[0]))
    if targets and not data.has_targets:
        raise ValueError("the data have no targets Y")
    if targets and data.n_outputs != net.units[net.L]:
        raise ValueError("Y has shape (%d, %d), expected (%d, %d)"
                         % (data.n_rows, data.n_outputs, data.n_rows, net.units[net.L]))
    return 0


cdef int check_dtype(Data data, bint doubles) except -1:
    if data.doubles != doubles:
        raise ValueError("the data are %s, the network's buffers %s"
                         % (data.dtype, np.dtype(np.float64 if doubles else np.float32)))
    return 0


cdef class FitContext:
    """One fit's state for train_epoch, checked once: the network, its
    buffers, the solver and its hyperparameters.

    FitContext(layout, params, grads, work, state1, state2, step_count, *,
               solver, batch_size, learning_rate, shadow=None, tune=None,
               alpha=0.0, l1_ratio=0.0, momentum=0.9, nesterov=True,
               beta_1=0.9, beta_2=0.999, rho=0.9, epsilon=1e-8, dropout=0.0,
               seed=0)

    layout      the network, its workspace of batch_size rows or more (and,
                for rows gathered from dense X, room for a batch of them)
    params      the flat parameter vector (n_params), updated in place;
                float32 or float64, as every other float buffer here
    grads       the gradient's scratch (n_params)
    work        the workspace (layout.work_len or more)
    state1, state2
                the optimizer's state, n_params each: sgd's velocity
                (state2 unused: may be empty), adam's first and second
                moments, rmsprop's mean square and momentum buffer
    step_count  intp, 2 or more: [adam's step t, minibatches seen (keys the
                dropout masks)], both advanced a minibatch
    solver      'sgd', 'adam' or 'rmsprop'
    batch_size  rows a minibatch (the last one of an epoch may be shorter)
    learning_rate
                the step size; may be set between epochs (ctx.learning_rate)
    shadow      None (or empty), or a second parameter vector (n_params, its
                contents ignored) for updates shared among threads (the
                epoch team, see epoch_team, or a chunked update on several
                threads): each update then writes the other vector, and
                params holds the result when train_epoch returns. The same
                bits with or without it. It must share no memory with the
                other buffers.
    tune        None, or TUNE_SIZE float64 values (zero before a fit's first
                epoch) where the epoch team keeps what it measured of its own
                speed, alone and together, from one epoch to the next (see
                tune_step); None: each epoch starts afresh. The same bits
                whatever it holds.
    alpha, l1_ratio
                the penalty alpha * ((1 - l1_ratio) / 2 * |W|^2 + l1_ratio *
                |W|_1) / sum(w) of each minibatch
    momentum, nesterov
                sgd's momentum (Nesterov's or not); rmsprop's momentum
    beta_1, beta_2, rho, epsilon
                adam's decay rates (beta_1, beta_2), rmsprop's (rho), and the
                constant of both denominators
    dropout, seed
                inverted dropout's rate on hidden units (0: none) and the
                seed of its masks (with step_count[1], see Dropout)

    The per-chunk partial sums of the penalty's norms are the context's own.
    train_epoch reads and writes the arrays in place: the caller sees the
    parameters, the optimizer state and the counters as they stand after
    each epoch. The context keeps them alive for as long as it lives."""
    cdef readonly Layout layout
    cdef bint doubles              # float64 buffers (else float32)
    cdef void* params              # n_params, updated in place
    cdef void* shadow              # n_params, or NULL: none
    cdef void* grads               # n_params
    cdef void* work                # work_len floats
    cdef void* state1              # n_params
    cdef void* state2              # n_params, or NULL (sgd, given empty)
    cdef Py_ssize_t* step_count    # [adam's t, minibatches seen]
    cdef double* partial           # 2 per CHUNK of coefficients, the context's own
    cdef double* tune              # TUNE_LEN values, or NULL: afresh each epoch
    cdef OptConfig opt             # the solver and its constants
    cdef Penalty pen               # alpha's L2 and L1 parts
    cdef readonly double dropout   # the dropout rate (0: none)
    cdef readonly unsigned long long seed   # the dropout masks' seed
    cdef readonly Py_ssize_t batch_size
    cdef public double learning_rate
    cdef list held                 # what keeps the buffers above alive

    def __cinit__(self, Layout layout not None, params, grads, work, state1, state2,
                  step_count, *, str solver, Py_ssize_t batch_size, double learning_rate,
                  shadow=None, tune=None, double alpha=0.0, double l1_ratio=0.0,
                  double momentum=0.9, bint nesterov=True, double beta_1=0.9,
                  double beta_2=0.999, double rho=0.9, double epsilon=1e-8,
                  double dropout=0.0, unsigned long long seed=0):
        cdef const Net* net = &layout.net
        cdef Py_ssize_t n, n_work, n_state1, n_state2, n_shadow = 0
        cdef Py_ssize_t item, n_chunks = (layout.net.n_coef + CHUNK - 1) // CHUNK
        cdef Py_ssize_t[::1] steps
        cdef double[::1] tune_view
        cdef double[::1] partial
        self.layout = layout
        self.held = []
        self.doubles = holds_doubles(params)
        item = sizeof(double) if self.doubles else sizeof(float)
        self.params = float_vector(params, self.doubles, True, "params", &n, self.held)
        check_params(net, n)
        self.work = float_vector(work, self.doubles, True, "work", &n_work, self.held)
        check_work(net, n_work)
        if tune is not None:
            tune_view = tune
            if tune_view.shape[0] < TUNE_LEN:
                raise ValueError("tune must hold %d values" % TUNE_LEN)
            self.held.append(tune_view)
            self.tune = &tune_view[0]
        if solver not in OPTIMIZERS:
            raise ValueError("unknown solver %r" % solver)
        self.opt.solver = OPTIMIZERS[solver]
        self.grads = float_vector(grads, self.doubles, True, "grads", &n, self.held)
        self.state1 = float_vector(state1, self.doubles, True, "state1", &n_state1,
                                   self.held)
        self.state2 = float_vector(state2, self.doubles, True, "state2", &n_state2,
                                   self.held)
        if n != net.n_params or n_state1 != net.n_params or \
                (self.opt.solver != OPT_SGD and n_state2 != net.n_params):
            raise ValueError("gradient or optimizer state has the wrong length")
        if shadow is not None:
            self.shadow = float_vector(shadow, self.doubles, True, "shadow", &n_shadow,
                                       self.held)
        if n_shadow != 0:
            if n_shadow != net.n_params:
                raise ValueError("shadow must be empty or as long as params")
            n = net.n_params * item
            if overlaps(self.shadow, n, self.params, n) or \
                    overlaps(self.shadow, n, self.grads, n) or \
                    overlaps(self.shadow, n, self.work, n_work * item) or \
                    overlaps(self.shadow, n, self.state1, n_state1 * item) or \
                    (self.state2 != NULL and
                     overlaps(self.shadow, n, self.state2, n_state2 * item)):
                raise ValueError("shadow must not share memory with the other buffers")
        if batch_size < 1 or batch_size > net.capacity:
            raise ValueError("batch_size exceeds the workspace capacity")
        if step_count is None:
            raise TypeError("step_count must be an array, not None")
        steps = step_count
        if steps.shape[0] < 2:
            raise ValueError("scratch arrays too small")
        self.held.append(steps)
        self.step_count = &steps[0]
        if not (0 <= dropout < 1) or not (0 <= l1_ratio <= 1):
            raise ValueError("dropout must be in [0, 1) and l1_ratio in [0, 1]")
        # (NaN: never read before it is written, or the loss would show it)
        partial = np.full(2 * max(1, n_chunks), np.nan)
        self.held.append(partial)
        self.partial = &partial[0]
        self.opt.momentum = momentum
        self.opt.nesterov = nesterov
        self.opt.beta_1 = beta_1
        self.opt.beta_2 = rho if self.opt.solver == OPT_RMSPROP else beta_2
        self.opt.epsilon = epsilon
        self.pen.l2 = alpha * (1 - l1_ratio)
        self.pen.l1 = alpha * l1_ratio
        self.dropout = dropout
        self.seed = seed
        self.batch_size = batch_size
        self.learning_rate = learning_rate

    @property
    def dtype(self):
        return np.dtype(np.float64 if self.doubles else np.float32)


cdef class LossContext:
    """What loss_gradient needs besides the data and the parameters,
    checked once: the network, a workspace, the penalty and the dropout
    mask.

    LossContext(layout, work, *, alpha=0.0, l1_ratio=0.0, dropout=0.0,
                seed=0, step=0)

    layout      the network; the rows go through it in blocks of its
                capacity
    work        its workspace (layout.work_len or more), float32 or float64:
                the parameters and the data of each call are of its dtype
    alpha, l1_ratio
                the penalty alpha * ((1 - l1_ratio) / 2 * |W|^2 + l1_ratio *
                |W|_1) / sum(w)
    dropout, seed, step
                with dropout > 0, the masks of minibatch `step` under `seed`
                (one fixed mask, for gradient checks; all rows must then fit
                one block)"""
    cdef readonly Layout layout
    cdef bint doubles              # float64 workspace (else float32)
    cdef void* work                # work_len floats
    cdef Penalty pen               # alpha's L2 and L1 parts
    cdef Dropout drop              # the rate (0: none) and the mask's key
    cdef list held                 # what keeps work alive

    def __cinit__(self, Layout layout not None, work, *, double alpha=0.0,
                  double l1_ratio=0.0, double dropout=0.0, unsigned long long seed=0,
                  Py_ssize_t step=0):
        cdef Py_ssize_t n
        self.layout = layout
        self.held = []
        self.doubles = holds_doubles(work)
        self.work = float_vector(work, self.doubles, True, "work", &n, self.held)
        check_work(&layout.net, n)
        if not (0 <= dropout < 1) or not (0 <= l1_ratio <= 1):
            raise ValueError("dropout must be in [0, 1) and l1_ratio in [0, 1]")
        self.pen.l2 = alpha * (1 - l1_ratio)
        self.pen.l1 = alpha * l1_ratio
        self.drop.rate = dropout
        self.drop.key = bp_mix64(seed ^ bp_mix64(<unsigned long long>step))

    @property
    def dtype(self):
        return np.dtype(np.float64 if self.doubles else np.float32)


# --------------------------------------------------------------------------
# Entry points (called once per epoch / evaluation / prediction)
# --------------------------------------------------------------------------
def train_epoch(FitContext ctx not None, Data data not None, const Py_ssize_t[::1] order,
                bint gather, int n_threads):
    """One epoch of minibatch training, every minibatch in one nogil loop.

    For each minibatch of ctx.batch_size rows of `data` taken from `order`:
    gather the rows (dense rows with `gather`; otherwise rows are read in
    place, and then only in their stored order), forward (with inverted
    dropout on hidden units when ctx's dropout > 0), BP1-BP4, then one fused
    optimizer update of the flat parameter vector with the penalty (see
    FitContext). Returns the sum over minibatches of (batch loss incl.
    penalty) * (rows in the batch), the quantity scikit-learn accumulates
    per epoch. Up to n_threads threads.

    ctx's step counters advance a minibatch. SIGINT is looked at after a
    minibatch once 0.2 ms have passed since the last look: the epoch stops
    there and the exception is raised with the weights of the last finished
    update in place."""
    cdef const Net* net = &ctx.layout.net
    cdef Py_ssize_t n = order.shape[0], i
    check_dtype(data, ctx.doubles)
    check_data(net, data, True)
    if not data.sparse and gather and \
            net.act_off[0] + ctx.batch_size * data.n_features > net.work_len:
        raise ValueError("workspace has no room for the gathered batch")
    for i in range(n):
        if order[i] < 0 or order[i] >= data.n_rows:
            raise ValueError("sample order out of range")
        if not data.sparse and not gather and order[i] != i:
            raise ValueError("dense rows are read in place only in their stored order; "
                             "pass gather=True for any other order")
    if n == 0:
        return 0.0
    if ctx.doubles:
        return run_epoch(ctx, data, &order[0], n, gather, n_threads, <double*>ctx.params)
    return run_epoch(ctx, data, &order[0], n, gather, n_threads, <float*>ctx.params)


cdef double run_epoch(FitContext ctx, Data data, const Py_ssize_t* order, Py_ssize_t n,
                      bint gather, int n_threads, floating* params) except? -1:
    """train_epoch's epoch over n > 0 rows, its arguments checked; params
    is ctx's parameter vector, its type the buffers' dtype."""
    cdef Net net = ctx.layout.net
    cdef OptConfig opt = ctx.opt
    cdef Penalty pen = ctx.pen
    cdef Dropout drop
    cdef const Dropout* dropp = &drop if ctx.dropout > 0 else NULL
    cdef Py_ssize_t start, m
    cdef Py_ssize_t n_features = data.n_features, batch_size = ctx.batch_size
    cdef bint sparse = data.sparse
    cdef const floating* X = <const floating*>data.X
    cdef const floating* Y = <const floating*>data.Y
    cdef const floating* A0 = NULL
    cdef const CSR* xsp = &data.csr if sparse else NULL
    cdef const floating* swp = <const floating*>data.sw
    cdef floating* grads = <floating*>ctx.grads
    cdef floating* work = <floating*>ctx.work
    cdef floating* S1 = <floating*>ctx.state1
    cdef floating* S2 = <floating*>ctx.state2
    cdef floating* shadow_p = <floating*>ctx.shadow
    cdef Py_ssize_t* step_count = ctx.step_count
    cdef double* partial = ctx.partial
    cdef double learning_rate = ctx.learning_rate
    cdef unsigned long long seed = ctx.seed
    cdef double sw_sum, batch_loss, total = 0, lr
    cdef double norms[2]
    cdef floating* xbuf
    cdef bint interrupted = False
    cdef bint zero_weights = False
    cdef int opt_threads, tid, nth
    cdef double next_look
    cdef EpochShared sh
    cdef floating* cur
    cdef floating* nxt
    cdef floating* swap
    cdef double own_tune[TUNE_LEN]
    cdef double* tunep = ctx.tune

    if tunep == NULL:
        memset(own_tune, 0, sizeof(own_tune))
        tunep = own_tune
    n_threads = clamp_threads(n_threads)
    opt_threads = update_threads(&net, batch_size, n_threads)
    drop.rate = ctx.dropout

    if runs_in_team(&net, batch_size, sparse, dropp != NULL):
        # one team for the whole epoch (see epoch_team), on any number of
        # threads: its grid (row blocks, weight gradients in row tiles, layer
        # 0 in halves of its inputs) is not the loop's below, and OpenBLAS's
        # kernels for some CPUs (AVX2: Haswell, Zen) round a product cut in
        # other tiles differently, so a count of threads that chose between
        # the two would choose the bits. Too little work a minibatch to share
        # (team_threads): a team of one.
        n_threads = team_threads(&net, batch_size, n_threads)
        memset(&sh, 0, sizeof(sh))
        if tunep[TUNE_LEFT] == 0 and tunep[TUNE_PHASE] == 0:
            # a fit's first epoch: a first phase of the whole team
            tunep[TUNE_LEFT] = tunep[TUNE_FORCE] if tunep[TUNE_FORCE] > 0 else TUNE_PROBE
        sh.size = 1 if tunep[TUNE_MODE] == 1 else n_threads
        sh.cur_is_params = 1
        tid = 0
        nth = 1
        with nogil, parallel(num_threads=n_threads):
            tid = threadid()
            nth = bp_omp_team_size()
            bp_note_worker(tid)
            epoch_team(&net, params, shadow_p, grads, work, S1, S2,
                       X, n_features, gather, order, n, batch_size, Y,
                       swp, &opt, &pen, learning_rate, step_count, partial, &sh,
                       tunep, tid, nth)
        if sh.interrupted:
            raise_pending()
        if sh.zero_weights:
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        return sh.total

    # With a shadow and the update shared among threads, each update goes to
    # the other vector, as in epoch_team (cur: the parameters as they stand)
    cur = params
    nxt = shadow_p if shadow_p != NULL and opt_threads > 1 else cur
    xbuf = work + net.act_off[0]
    with nogil:
        coef_norms(cur, net.n_coef, &pen, partial, norms)
        next_look = bp_seconds() + SIGNAL_SECONDS
        start = 0
        while start < n:
            m = min(batch_size, n - start)
            if not sparse:
                if gather:
                    A0 = xbuf       # gathered by forward_backward_block
                else:
                    A0 = X + order[start] * n_features
            sw_sum = batch_weight(swp, order + start, m)
            if sw_sum == 0:
                zero_weights = True
                break
            drop.key = bp_mix64(seed ^ bp_mix64(<unsigned long long>step_count[1]))
            batch_loss = forward_backward_block(
                &net, cur, grads, work, A0, n_features, xsp,
                order + start, 0, m, Y, swp, 1.0 / sw_sum, False, dropp, True,
                X if gather and not sparse else NULL, n_threads)
            batch_loss = batch_loss / sw_sum + penalty_value(&pen, norms) / sw_sum
            total += batch_loss * m
            lr = learning_rate
            if opt.solver == OPT_ADAM:
                step_count[0] += 1
                lr = adam_step_size(learning_rate, opt.beta_1, opt.beta_2, step_count[0])
            step_count[1] += 1
            optimizer_step(&opt, cur, nxt, grads, S1, S2,
                           net.n_coef, net.n_params, lr, &pen, sw_sum, partial,
                           norms, opt_threads)
            swap = cur
            cur = nxt
            nxt = swap
            start += m
            if signal_pending(&next_look):
                interrupted = True
                break
        if cur != params:
            memcpy(params, cur, net.n_params * sizeof(floating))
    if interrupted:
        raise_pending()
    if zero_weights:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    return total


def loss_gradient(LossContext ctx not None, Data data not None, params, grads,
                  int n_threads):
    """Full-batch loss and gradient as scikit-learn's MLP defines them
    (ctx's penalty included) of the rows of `data` under `params`, streamed
    over row blocks of the workspace's capacity with the gradient
    accumulated into `grads`, so memory does not grow with n_samples. With
    an empty `grads` only the loss is computed. params (n_params) and grads
    are of ctx's dtype. Up to n_threads threads."""
    if params is None or grads is None:
        raise TypeError("params and grads must be arrays (grads empty: the loss only)")
    check_dtype(data, ctx.doubles)
    check_data(&ctx.layout.net, data, True)
    if ctx.doubles:
        return full_batch_loss[double](ctx, data, params, grads, n_threads)
    return full_batch_loss[float](ctx, data, params, grads, n_threads)


cdef double full_batch_loss(LossContext ctx, Data data, const floating[::1] params,
                            floating[::1] grads, int n_threads) except? -1:
    """loss_gradient's pass in the dtype of the buffers."""
    cdef Net net = ctx.layout.net
    cdef Penalty pen = ctx.pen
    cdef Dropout drop = ctx.drop
    cdef const Dropout* dropp = &drop if drop.rate > 0 else NULL
    cdef const CSR* xsp = &data.csr if data.sparse else NULL
    cdef bint sparse = data.sparse
    cdef const floating* X = <const floating*>data.X
    cdef const floating* Y = <const floating*>data.Y
    cdef const floating* swp = <const floating*>data.sw
    cdef const floating* A0 = NULL
    cdef floating* work = <floating*>ctx.work
    cdef Py_ssize_t n_rows = data.n_rows, n_features = data.n_features
    cdef Py_ssize_t start, m, p
    cdef bint want_grad = grads.shape[0] > 0
    cdef double sw_sum = data.sw_sum, loss = 0
    cdef double norms[2]
    cdef double scratch[2]
    cdef floating l2, l1
    check_params(&net, params.shape[0])
    if want_grad and grads.shape[0] != net.n_params:
        raise ValueError("gradient vector has the wrong length")
    if n_rows < 1:
        raise ValueError("no rows")
    if dropp != NULL and n_rows > net.capacity:
        raise ValueError("dropout masks need the whole batch in one block")
    if swp != NULL and sw_sum == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    n_threads = clamp_threads(n_threads)
    with nogil:
        coef_norms(&params[0], net.n_coef, &pen, scratch, norms)
        start = 0
        while start < n_rows:
            m = min(net.capacity, n_rows - start)
            if not sparse:
                A0 = X + start * n_features
            loss += forward_backward_block(
                &net, &params[0], &grads[0] if want_grad else NULL, work, A0,
                n_features, xsp, NULL, start, m, Y, swp, 1.0 / sw_sum, start > 0,
                dropp, want_grad, NULL, n_threads)
            start += m
        if want_grad:
            l2 = <floating>(pen.l2 / sw_sum)
            l1 = <floating>(pen.l1 / sw_sum)
            for p in range(net.n_coef):
                grads[p] = penalised(grads[p], params[p], l2, l1)
    return loss / sw_sum + penalty_value(&pen, norms) / sw_sum


def all_finite(const floating[::1] x, int n_threads):
    """True when every element of x is finite (the input checks of fit and
    predict)."""
    cdef Py_ssize_t n = x.shape[0], c, n_chunks = (n + CHUNK - 1) // CHUNK
    cdef int bad = 0
    if n == 0:
        return True
    n_threads = clamp_threads(n_threads)
    with nogil:
        if n_threads > 1 and n >= PAR_MIN:
            for c in prange(n_chunks, schedule='static', num_threads=n_threads):
                bp_note_worker(threadid())
                bad += not chunk_finite(&x[0], c * CHUNK, min((c + 1) * CHUNK, n))
        else:
            for c in range(n_chunks):
                bad += not chunk_finite(&x[0], c * CHUNK, min((c + 1) * CHUNK, n))
    return bad == 0


# Prediction runs in row units: each row tile of each block of rows (the
# tiles that the block's products are cut into first, see row_tiles) goes
# through every layer and the output activation on one thread, in its own
# workspace, with the same BLAS calls (so the same bits) as the whole
# block's tiled products would make, and the threads take the units
# dynamically, one at a time. A thread that shares its core with another
# process then does fewer units instead of holding the others at a barrier
# after every layer (measured, 64-100-10, 100,000 rows, 2 cores and two
# busy processes beside: 1.78 s with a static schedule per layer, against
# 0.09 s on one thread).
cdef inline void predict_geometry(Py_ssize_t n_rows, Py_ssize_t block,
                                  Py_ssize_t* n_units, Py_ssize_t* unit_rows) noexcept nogil:
    """How many row units n_rows make in blocks of `block` rows, and the
    most rows one of them has."""
    cdef Py_ssize_t full = n_rows // block, last = n_rows % block
    cdef int tm
    n_units[0] = 0
    unit_rows[0] = 0
    if full > 0:
        tm = row_tiles(block)
        n_units[0] = full * tm
        unit_rows[0] = (block + tm - 1) // tm
    if last > 0:
        tm = row_tiles(last)
        n_units[0] += tm
        unit_rows[0] = max(unit_rows[0], (last + tm - 1) // tm)


def predict_units(Py_ssize_t n_rows, Py_ssize_t block_rows):
    """(units, rows of the largest) that predict cuts n_rows into with
    blocks of block_rows rows: the workspace of each thread of predict
    holds that many rows (Network.meta(rows)), and more threads than units
    would have nothing to do."""
    cdef Py_ssize_t n_units, unit_rows
    if n_rows < 0 or block_rows < 1:
        raise ValueError("need n_rows >= 0 and block_rows >= 1")
    predict_geometry(n_rows, block_rows, &n_units, &unit_rows)
    return n_units, unit_rows


cdef int forward_unit(const Net* net, const floating* params, floating* work,
                      const floating* A0, Py_ssize_t lda0, const CSR* Xs, Py_ssize_t row0,
                      Py_ssize_t m, Py_ssize_t block_m, floating* out,
                      bint check_first) noexcept nogil:
    """Network output (output activation applied) of the m rows from row0,
    one row unit of a block of block_m rows, on the calling thread: each
    product as the column tiles the block's product would have
    (choose_tiles), its rows' part of each; hidden activations in work
    (capacity >= m rows), the output in out (m x K). With check_first,
    returns how many rows of the first layer's product are not all finite
    (see EPI_CHECK)."""
    cdef Py_ssize_t l, n_in, n_out, i, j, lda, g, K = net.units[net.L]
    cdef int epi, tm, tn
    cdef int bad = 0
    cdef const floating* A
    cdef floating* Z
    for l in range(net.L):
        n_in = net.units[l]
        n_out = net.units[l + 1]
        Z = out if l == net.L - 1 else work + net.act_off[l + 1]
        epi = EPI_BIAS_ACT if l < net.L - 1 else EPI_NONE
        if l == 0 and Xs != NULL:
            csr_matmul(Xs, NULL, row0, m, params + net.w_off[l], n_out, Z, 1)
            if check_first:
                for i in range(m):
                    bad += not chunk_finite(Z + i * n_out, 0, n_out)
            if epi == EPI_BIAS_ACT:
                bias_activation(Z, params + net.b_off[l], m, n_out, net.activation,
                                <floating>net.slope, 1)
            continue
        if l == 0 and check_first:
            epi = epi | EPI_CHECK
        A = A0 if l == 0 else work + net.act_off[l]
        lda = lda0 if l == 0 else n_in
        choose_tiles(block_m, n_out, n_in, True, &tm, &tn)
        for j in range(tn):
            bad += gemm_rect(False, False, n_out, n_in, A, lda, params + net.w_off[l],
                             n_out, <floating>0, Z, n_out, 0, m, j * n_out // tn,
                             (j + 1) * n_out // tn, epi, params + net.b_off[l],
                             <const floating*>NULL, net.activation, <floating>net.slope)
    for g in range((m + OUT_ROWS - 1) // OUT_ROWS):
        output_activation_rows(out + g * OUT_ROWS * K, params + net.b_off[net.L - 1],
                               min(<Py_ssize_t>OUT_ROWS, m - g * OUT_ROWS), K, net.output)
    return bad


cdef inline int predict_unit(const Net* net, const floating* params, floating* work,
                             const floating* X, Py_ssize_t n_features, const CSR* Xs,
                             Py_ssize_t n_rows, Py_ssize_t block, floating* out,
                             Py_ssize_t u, bint check_input) noexcept nogil:
    """Row unit u of predict (units numbered block by block, then by row
    tile)."""
    cdef Py_ssize_t full = n_rows // block, start, m, r0, r1
    cdef int tm = row_tiles(block), i
    if u < full * tm:
        start = (u // tm) * block
        m = block
        i = <int>(u % tm)
    else:
        start = full * block
        m = n_rows - start
        tm = row_tiles(m)
        i = <int>(u - full * row_tiles(block))
    r0 = start + i * m // tm
    r1 = start + (i + 1) * m // tm
    return forward_unit(net, params, work, X + r0 * n_features if Xs == NULL else NULL,
                        n_features, Xs, r0, r1 - r0, m, out + r0 * net.units[net.L],
                        check_input)


def predict(Layout net not None, Data rows not None, params, work, out, int n_threads,
            bint check_input=False, Py_ssize_t block_rows=0):
    """Network output (output activation applied) for every row of `rows`
    under `params` (n_params, of the rows' dtype, as work and out are); out
    is n_rows x K. The rows go in blocks of block_rows (0: the workspace's
    capacity), cut into row units (see predict_units) that up to n_threads
    threads take one at a time, each thread in its own workspace: work
    holds one or more workspaces of net's layout back to back, whose
    capacity covers the largest unit, and no more threads run than it
    holds workspaces. The result does not depend on the thread count.
    Each call brings its own workspace, so one model can predict from many
    threads at once.

    With check_input, returns False when some row of the first layer's
    product X @ W_0 is not finite, which a NaN or infinity anywhere in X
    always causes (and, rarely, finite rows so large that the product
    overflows: the caller then checks X itself); True otherwise, and
    always True without check_input."""
    if params is None or work is None or out is None:
        raise TypeError("params, work and out must be arrays")
    if rows.doubles:
        return predict_rows[double](net, rows, params, work, out, n_threads, check_input,
                                    block_rows)
    return predict_rows[float](net, rows, params, work, out, n_threads, check_input,
                               block_rows)


cdef bint predict_rows(Layout layout, Data rows, const floating[::1] params,
                       floating[::1] work, floating[:, ::1] out, int n_threads,
                       bint check_input, Py_ssize_t block_rows) except -1:
    """predict in the dtype of the rows."""
    cdef const Net* net = &layout.net
    cdef const CSR* xsp = &rows.csr if rows.sparse else NULL
    cdef const floating* X0 = <const floating*>rows.X
    cdef Py_ssize_t n_rows = rows.n_rows, n_features = rows.n_features
    cdef Py_ssize_t u, n_units, unit_rows, stride
    cdef Py_ssize_t bad = 0
    cdef int tid
    check_params(net, params.shape[0])
    check_work(net, work.shape[0])
    check_data(net, rows, False)
    if out.shape[0] != n_rows or out.shape[1] != net.units[net.L]:
        raise ValueError("output array has the wrong shape")
    if block_rows < 0:
        raise ValueError("block_rows must be >= 0")
    if n_rows == 0:
        return True
    if block_rows == 0:
        block_rows = net.capacity
    predict_geometry(n_rows, block_rows, &n_units, &unit_rows)
    if unit_rows > net.capacity:
        raise ValueError("workspace capacity %d is below the largest row unit (%d rows)"
                         % (net.capacity, unit_rows))
    stride = net.work_len
    n_threads = <int>min(<Py_ssize_t>clamp_threads(n_threads),
                         min(n_units, work.shape[0] // stride))
    with nogil:
        if n_threads > 1:
            for u in prange(n_units, schedule='dynamic', num_threads=n_threads):
                tid = threadid()
                bp_note_worker(tid)
                bad += predict_unit(net, &params[0], &work[0] + tid * stride, X0,
                                    n_features, xsp, n_rows, block_rows, &out[0, 0], u,
                                    check_input)
        else:
            for u in range(n_units):
                bad += predict_unit(net, &params[0], &work[0], X0, n_features, xsp,
                                    n_rows, block_rows, &out[0, 0], u, check_input)
    return bad == 0


# --------------------------------------------------------------------------
# Explanations: gradients with respect to the input (bpfast/_kernels_explain.pxi)
# --------------------------------------------------------------------------
include "_kernels_explain.pxi"


# --------------------------------------------------------------------------
# Test hooks (bpfast/_kernels_testing.pxi: compiled with the code they test)
# --------------------------------------------------------------------------
include "_kernels_testing.pxi"
