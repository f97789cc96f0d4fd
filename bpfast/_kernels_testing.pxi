# Hooks for the tests (tests/kernels/): Python entry points into the
# kernels' inline and internal functions, so that each can be checked alone
# against a reference (the GEMM wrappers and their tiles, the adam update,
# exp and log, the tuner's decisions, the team's sizing) or switched (the
# row-local paths). Included at the end of _kernels.pyx, not a module of its
# own: the hooks must run the very code the kernels run, compiled in the
# same unit with the same flags, and reach its module-level settings.
# Nothing in bpfast itself calls them.

def _gemm(bint trans_a, bint trans_b, double alpha, const floating[:, ::1] A,
          const floating[:, ::1] B, double beta, floating[:, ::1] C):
    """Python-callable twin of the row-major GEMM wrapper (for tests)."""
    cdef int m = C.shape[0], n = C.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    check_product(trans_a, trans_b, A.shape[0], A.shape[1], B.shape[0], B.shape[1], m, n)
    with nogil:
        gemm(trans_a, trans_b, m, n, k, <floating>alpha, &A[0, 0], A.shape[1],
             &B[0, 0], B.shape[1], <floating>beta, &C[0, 0], n)


def _pgemm(bint trans_a, bint trans_b, const floating[:, ::1] A,
           const floating[:, ::1] B, double beta, floating[:, ::1] C, int n_threads):
    """Python-callable tiled GEMM (tests and benchmarks)."""
    cdef Py_ssize_t m = C.shape[0], n = C.shape[1]
    cdef Py_ssize_t k = A.shape[0] if trans_a else A.shape[1]
    check_product(trans_a, trans_b, A.shape[0], A.shape[1], B.shape[0], B.shape[1], m, n)
    n_threads = clamp_threads(n_threads)
    with nogil:
        pgemm(trans_a, trans_b, m, n, k, &A[0, 0], A.shape[1], &B[0, 0], B.shape[1],
              <floating>beta, &C[0, 0], n, EPI_NONE, <const floating*>NULL,
              <const floating*>NULL, 0, <floating>0, n_threads)


def _set_rows_local(bint on):
    """Allow (default) or forbid row_block_pass and the epoch team
    (epoch_team), which both need rows_local; returns the previous setting.
    For tests: the paths must give the same bits."""
    global ROWS_LOCAL
    previous = ROWS_LOCAL
    ROWS_LOCAL = on
    return previous


def _adam_update(floating[::1] W, const floating[::1] G, floating[::1] M,
                 floating[::1] V, double lr, double beta_1, double beta_2,
                 double epsilon, double l2, double l1):
    """Python-callable twin of one Adam update of a whole vector (tests)."""
    cdef Py_ssize_t n = W.shape[0]
    if G.shape[0] != n or M.shape[0] != n or V.shape[0] != n:
        raise ValueError("W, G, M and V must have the same length")
    if n == 0:
        return
    with nogil:
        adam_chunk(&W[0], &G[0], &M[0], &V[0], 0, n, <floating>lr, <floating>beta_1,
                   <floating>(1 - beta_1), <floating>beta_2, <floating>(1 - beta_2),
                   <floating>epsilon, <floating>l2, <floating>l1)


def _tune_step(double[::1] tune, double seconds, Py_ssize_t rows, double waited,
               int team):
    """For tests: tune_step over tune (TUNE_SIZE values)."""
    if tune.shape[0] < TUNE_LEN:
        raise ValueError("tune must hold %d values" % TUNE_LEN)
    return tune_step(&tune[0], seconds, rows, waited, team)


def _epoch_team(const Py_ssize_t[::1] meta, Py_ssize_t batch_size):
    """For tests: whether train_epoch, given more than one thread, runs an
    epoch of batch_size-row minibatches (dense, no dropout) in epoch_team."""
    cdef Net net
    net_of_meta(meta, &net)
    return batch_size >= 1 and runs_in_team(&net, batch_size, False, False)


def _input_halves(const Py_ssize_t[::1] meta, Py_ssize_t m):
    """For tests: whether epoch_team makes layer 0's product of an m-row
    minibatch in two halves of its inputs (see input_halves)."""
    cdef Net net
    net_of_meta(meta, &net)
    return m >= 1 and input_halves(&net, m)


def _shared_update(const Py_ssize_t[::1] meta, Py_ssize_t batch_size, int n_threads,
                   bint sparse, bint dropout):
    """Whether train_epoch (batch_size-row minibatches, n_threads threads,
    sparse input or not, dropout or not) shares each update among threads,
    in the epoch team or in chunks: where it does, it takes a shadow."""
    cdef Net net
    net_of_meta(meta, &net)
    n_threads = clamp_threads(n_threads)
    if n_threads <= 1 or batch_size < 1:
        return False
    if runs_in_team(&net, batch_size, sparse, dropout):
        return team_threads(&net, batch_size, n_threads) > 1
    return update_threads(&net, batch_size, n_threads) > 1


cdef void log_block(floating* x, Py_ssize_t n) noexcept nogil:
    # over a pointer, as the kernels' loops are, so that it vectorises as
    # theirs do (a loop over a memoryview's items does not)
    cdef Py_ssize_t i
    for i in range(n):
        x[i] = f_log_fast(x[i])


cdef void exp_block(floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        x[i] = f_exp(x[i])


def _log(floating[::1] x):
    """The kernels' log, in place over x (tests, benchmarks/isa.py)."""
    if x.shape[0] > 0:
        with nogil:
            log_block(&x[0], x.shape[0])


def _exp(floating[::1] x):
    """The kernels' exp applied in place (tests, benchmarks/isa.py)."""
    if x.shape[0] > 0:
        with nogil:
            exp_block(&x[0], x.shape[0])
