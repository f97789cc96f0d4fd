# Explanations by backpropagation: the gradient of one network output with
# respect to the input, for many (possibly interpolated) input rows, summed
# with weights (bpfast/explain.py). Included into the kernels' compiled unit
# (bpfast/_kernels.pyx), whose forward pass (forward_unit) and BP2 product
# (gemm_rect with the f' epilogue) it reuses; docs/explain.md has the maths.
#
# For one row x and one output column c:
#   forward:  a_0 = x, a_l = f(a_{l-1} W_{l-1} + b_{l-1}), y = g(z_L)
#   BP1':     delta_L = d y_c / d z_L, by the output function g:
#               softmax   y_c (e_c - y)       logistic  e_c y_c (1 - y_c)
#               identity  e_c                  exp       e_c y_c
#             (negated for a column asked for as -(c + 1): the probability
#             1 - y_0 of a binary classifier's first class)
#   BP2:      delta_l = (delta_{l+1} W_l^T) * f'(a_l), down to layer 1
#   input:    d y_c / d x = delta_1 W_0^T      (no f' at the input)
#
# An "attribution" call sums such gradients over S points a row:
#   point (i, s) = b + alpha[i, s] * (x_i - b),  b = baseline[bidx[i, s]]
#   out[i, t] = sum_s weight[s] * [(x_i - b) *] grad_{cols[i, t]}(point (i, s))
# which gives input gradients (S = 1, alpha 1, b = 0, no difference),
# integrated gradients (quadrature nodes and weights, one baseline a row)
# and expected gradients (random alphas and background rows, weights 1/S).
#
# Rows go in units of whole input rows (all their S points, so that a row's
# sum is made by one thread in the order s = 0 .. S - 1); a unit's points go
# through the network in chunks of at most `capacity` points, in order.
# The units depend on (n_rows, S, capacity) only, and threads take them one
# at a time: the result is the same bits on any thread count.
#
# A chunk's workspace holds, per point, [point (d) | x - b (d)] at act_off[0]
# (the layout's gather buffer of 2 d columns); the input gradients overwrite
# the points (the forward pass no longer needs them), the output (activated)
# lies in the output-layer scratch, the deltas in their own buffers.

cdef inline void explain_geometry(Py_ssize_t n_rows, Py_ssize_t S, Py_ssize_t cap,
                                  Py_ssize_t* rows_per_unit,
                                  Py_ssize_t* n_units) noexcept nogil:
    rows_per_unit[0] = max(<Py_ssize_t>1, cap // S)
    n_units[0] = (n_rows + rows_per_unit[0] - 1) // rows_per_unit[0]


def explain_units(Py_ssize_t n_rows, Py_ssize_t points, Py_ssize_t capacity):
    """(units, input rows a unit) that an attribution call over n_rows rows
    of `points` points each cuts its work into with a workspace of
    `capacity` points: more threads than units have nothing to do."""
    cdef Py_ssize_t per, n
    if n_rows < 0 or points < 1 or capacity < 1:
        raise ValueError("need n_rows >= 0, points >= 1 and capacity >= 1")
    explain_geometry(n_rows, points, capacity, &per, &n)
    return n, per


cdef inline void output_gradient_row(floating* d, const floating* y, Py_ssize_t K,
                                     Py_ssize_t col, int out) noexcept nogil:
    """d (K) = d y_c / d z for the activated outputs y of one row; col is c,
    or -(c + 1) for -y_c's gradient."""
    cdef Py_ssize_t j, c = col if col >= 0 else -col - 1
    cdef floating s = 1 if col >= 0 else -1, yc = y[c]
    if out == OUT_SOFTMAX:
        for j in range(K):
            d[j] = -(s * yc) * y[j]
        d[c] = (s * yc) * (1 - y[c])
        return
    for j in range(K):
        d[j] = 0
    if out == OUT_LOGISTIC:
        d[c] = s * (yc * (1 - yc))
    elif out == OUT_EXP:
        d[c] = s * yc
    else:
        d[c] = s


cdef inline void point_row(const floating* X, const CSR* Xs, Py_ssize_t d, Py_ssize_t i,
                           const floating* b, floating alpha, bint difference,
                           floating* p, floating* diff) noexcept nogil:
    """p = b + alpha * (x_i - b), and (with difference) diff = x_i - b."""
    cdef Py_ssize_t j, q
    cdef const floating* x
    cdef const floating* data
    if Xs != NULL:     # the sparse row, scattered into diff first
        data = <const floating*>Xs.data
        memset(diff, 0, d * sizeof(floating))
        for q in range(Xs.indptr[i], Xs.indptr[i + 1]):
            diff[Xs.indices[q]] = data[q]
        x = diff
    else:
        x = X + i * d
    for j in range(d):
        p[j] = b[j] + alpha * (x[j] - b[j])
    if difference:
        for j in range(d):
            diff[j] = x[j] - b[j]


cdef void explain_chunk(const Net* net, const floating* params, floating* work,
                        const floating* X, const CSR* Xs, Py_ssize_t d,
                        const floating* B, const Py_ssize_t* bidx, Py_ssize_t bidx_rows,
                        const double* alpha, Py_ssize_t alpha_rows,
                        const double* weight, const Py_ssize_t* cols,
                        Py_ssize_t cols_rows, Py_ssize_t nt, Py_ssize_t S,
                        bint difference, Py_ssize_t v0, Py_ssize_t m,
                        floating* out) noexcept nogil:
    """Points v0 .. v0 + m - 1 (point v: row v // S, step v % S): forward,
    then for each target t BP1', BP2 and the input product, each point's
    gradient added into out[row, t] with its weight."""
    cdef Py_ssize_t L = net.L, K = net.units[net.L], ld = 2 * d
    cdef Py_ssize_t v, r, i, s, t, l, j, n_in, n_out
    cdef floating* P = work + net.act_off[0]
    cdef floating* Y = work + net.rowloss_off + 2 * net.capacity
    cdef floating* D
    cdef floating* o
    cdef const floating* g
    cdef const floating* df
    cdef floating w
    for r in range(m):
        v = v0 + r
        i = v // S
        s = v % S
        point_row(X, Xs, d, i, B + bidx[(i if bidx_rows > 1 else 0) * S + s] * d,
                  <floating>alpha[(i if alpha_rows > 1 else 0) * S + s], difference,
                  P + r * ld, P + r * ld + d)
    forward_unit(net, params, work, P, ld, NULL, 0, m, m, Y, False)
    for t in range(nt):
        D = work + net.delta_off[L - 1]
        for r in range(m):
            i = (v0 + r) // S
            output_gradient_row(D + r * K, Y + r * K, K,
                                cols[(i if cols_rows > 1 else 0) * nt + t], net.output)
        for l in range(L - 1, 0, -1):     # BP2, f' fused in
            n_in = net.units[l]
            n_out = net.units[l + 1]
            gemm_rect(False, True, n_in, n_out, work + net.delta_off[l], n_out,
                      params + net.w_off[l], n_out, <floating>0,
                      work + net.delta_off[l - 1], n_in, 0, m, 0, n_in, EPI_DERIV,
                      <const floating*>NULL, work + net.act_off[l], net.activation,
                      <floating>net.slope)
        # the input layer: d y / d x = delta_1 W_0^T, over the points
        gemm_rect(False, True, d, net.units[1], work + net.delta_off[0], net.units[1],
                  params + net.w_off[0], net.units[1], <floating>0, P, ld, 0, m, 0, d,
                  EPI_NONE, <const floating*>NULL, <const floating*>NULL, 0,
                  <floating>0)
        for r in range(m):
            v = v0 + r
            i = v // S
            w = <floating>weight[v % S]
            o = out + (i * nt + t) * d
            g = P + r * ld
            if difference:
                df = g + d
                for j in range(d):
                    o[j] += w * (df[j] * g[j])
            else:
                for j in range(d):
                    o[j] += w * g[j]


cdef void explain_unit(const Net* net, const floating* params, floating* work,
                       const floating* X, const CSR* Xs, Py_ssize_t n_rows, Py_ssize_t d,
                       const floating* B, const Py_ssize_t* bidx, Py_ssize_t bidx_rows,
                       const double* alpha, Py_ssize_t alpha_rows, const double* weight,
                       const Py_ssize_t* cols, Py_ssize_t cols_rows, Py_ssize_t nt,
                       Py_ssize_t S, bint difference, Py_ssize_t per, Py_ssize_t u,
                       floating* out) noexcept nogil:
    """Unit u: input rows u * per .. (u + 1) * per - 1 (fewer in the last),
    their points in chunks of the workspace's capacity, in order."""
    cdef Py_ssize_t r0 = u * per, r1 = min(n_rows, (u + 1) * per)
    cdef Py_ssize_t v, v1 = r1 * S, m
    memset(out + r0 * nt * d, 0, (r1 - r0) * nt * d * sizeof(floating))
    v = r0 * S
    while v < v1:
        m = min(net.capacity, v1 - v)
        explain_chunk(net, params, work, X, Xs, d, B, bidx, bidx_rows, alpha, alpha_rows,
                      weight, cols, cols_rows, nt, S, difference, v, m, out)
        v += m


def attributions(Layout net not None, Data rows not None, params, work, baseline,
                 const Py_ssize_t[:, ::1] bidx, const double[:, ::1] alpha,
                 const double[::1] weight, const Py_ssize_t[:, ::1] cols, out,
                 int n_threads, bint difference):
    """out[i, t] = sum over s of weight[s] * g_{i,s,t} (times x_i - b with
    `difference`), where g_{i,s,t} is the gradient with respect to the
    input of output column cols[i, t] (-(c + 1): minus column c) at the
    point b + alpha[i, s] * (x_i - b), b = baseline[bidx[i, s]].

    rows: the n_rows input rows (dense or CSR), of params' dtype, as are
    baseline (n_b x n_features, C order), work and out (n_rows x nt x
    n_features, C order); bidx, alpha and cols have one row, or one a
    row (bidx and alpha: S columns; cols: nt). net's layout must carry a
    gather buffer of 2 n_features columns (Network.meta(capacity, 2 *
    n_features)); work holds one or more of its workspaces back to back,
    one a thread. Everything is checked here, before any work; the result
    does not depend on the thread count."""
    if params is None or work is None or out is None or baseline is None:
        raise TypeError("params, work, baseline and out must be arrays")
    if rows.doubles:
        attributions_typed[double](net, rows, params, work, baseline, bidx, alpha, weight,
                                   cols, out, n_threads, difference)
    else:
        attributions_typed[float](net, rows, params, work, baseline, bidx, alpha, weight,
                                  cols, out, n_threads, difference)


cdef int attributions_typed(Layout layout, Data rows, const floating[::1] params,
                            floating[::1] work, const floating[:, ::1] baseline,
                            const Py_ssize_t[:, ::1] bidx, const double[:, ::1] alpha,
                            const double[::1] weight, const Py_ssize_t[:, ::1] cols,
                            floating[:, :, ::1] out, int n_threads,
                            bint difference) except -1:
    cdef const Net* net = &layout.net
    cdef const CSR* xsp = &rows.csr if rows.sparse else NULL
    cdef const floating* X0 = <const floating*>rows.X
    cdef Py_ssize_t n_rows = rows.n_rows, d = rows.n_features, K = net.units[net.L]
    cdef Py_ssize_t S = weight.shape[0], nt = cols.shape[1], n_b = baseline.shape[0]
    cdef Py_ssize_t per, n_units, u, i, j, stride, limit, l, cap = net.capacity
    cdef int tid
    check_params(net, params.shape[0])
    check_work(net, work.shape[0])
    check_data(net, rows, False)
    if S < 1 or nt < 1:
        raise ValueError("need at least one point and one target")
    if baseline.shape[1] != d or n_b < 1:
        raise ValueError("baseline must have rows of %d features" % d)
    if bidx.shape[1] != S or alpha.shape[1] != S:
        raise ValueError("bidx and alpha must have one column a point (%d)" % S)
    for name, r in (("bidx", bidx.shape[0]), ("alpha", alpha.shape[0]),
                    ("cols", cols.shape[0])):
        if r != 1 and r != n_rows:
            raise ValueError("%s must have one row or one a row of input" % name)
    if out.shape[0] != n_rows or out.shape[1] != nt or out.shape[2] != d:
        raise ValueError("out must have shape (%d, %d, %d)" % (n_rows, nt, d))
    for i in range(bidx.shape[0]):
        for j in range(S):
            if not 0 <= bidx[i, j] < n_b:
                raise ValueError("baseline row index %d outside 0 .. %d"
                                 % (bidx[i, j], n_b - 1))
    for i in range(cols.shape[0]):
        for j in range(nt):
            if not -K <= cols[i, j] < K:
                raise ValueError("output column %d outside the %d outputs"
                                 % (cols[i, j], K))
    # the gather buffer: 2 d columns for every row of the workspace, clear
    # of the other buffers
    limit = net.rowloss_off
    for l in range(net.L):
        limit = min(limit, net.delta_off[l])
        if l > 0:
            limit = min(limit, net.act_off[l])
    if not block_fits(net.act_off[0], cap, 2 * d, limit):
        raise ValueError("the layout has no gather buffer of 2 x %d columns" % d)
    if n_rows == 0:
        return 0
    explain_geometry(n_rows, S, cap, &per, &n_units)
    stride = net.work_len
    n_threads = <int>min(<Py_ssize_t>clamp_threads(n_threads),
                         min(n_units, work.shape[0] // stride))
    with nogil:
        if n_threads > 1:
            for u in prange(n_units, schedule='dynamic', num_threads=n_threads):
                tid = threadid()
                bp_note_worker(tid)
                explain_unit(net, &params[0], &work[0] + tid * stride, X0, xsp, n_rows, d,
                             &baseline[0, 0], &bidx[0, 0], bidx.shape[0], &alpha[0, 0],
                             alpha.shape[0], &weight[0], &cols[0, 0], cols.shape[0], nt, S,
                             difference, per, u, &out[0, 0, 0])
        else:
            for u in range(n_units):
                explain_unit(net, &params[0], &work[0], X0, xsp, n_rows, d,
                             &baseline[0, 0], &bidx[0, 0], bidx.shape[0], &alpha[0, 0],
                             alpha.shape[0], &weight[0], &cols[0, 0], cols.shape[0], nt, S,
                             difference, per, u, &out[0, 0, 0])
    return 0
