"""L-BFGS over a fit's chunks: the in-memory optimizer, the loss summed on the workers.

The client runs SciPy's L-BFGS-B exactly as bpfast's in-memory fit does
(_solvers.fit_lbfgs: the same initial vector, options and BLAS pinned to
one thread), but each evaluation of the loss and its gradient is one call
to every shard (see _shards): each chunk's loss and gradient come from the
kernels' loss_gradient, scaled by the chunk's share of the weight sum
(sw_c / sw), and are summed in float64 in the fixed tree of _tree. The
penalty is computed once, by the kernels, with the first chunk of nonzero
weight: its share times alpha * |W|^2 / (2 sw_c) is alpha * |W|^2 / (2 sw).

With one chunk the share is exactly 1 and the evaluation is the in-memory
fit's own kernel call on the same rows: the same bits, so the same model.
With several, the sum differs from the in-memory one (which accumulates
the rows' gradients block after block, scaled by 1 / sw) in the last bits
only; L-BFGS then follows the same path for many iterations.
"""

import numpy as np
import scipy.optimize

from .._warnings import lbfgs_not_converged


def fit_lbfgs(pool, net, max_iter, max_fun, tol):
    """Minimise the loss over the pool's chunks (a _shards.ShardPool) from
    net.params; returns (n_iter, final loss) with net.params holding the
    solution, as _solvers.fit_lbfgs does in memory."""

    def fun(x):
        loss, grad = pool.reduce("loss_gradient", x)
        return loss, grad

    res = scipy.optimize.minimize(
        fun, net.params.astype(np.float64), method="L-BFGS-B", jac=True,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol})
    n_iter = min(res.nit, max_iter)
    if res.status != 0:
        lbfgs_not_converged(n_iter, max_iter, res.status, res.message)
    net.params[...] = res.x
    return n_iter, float(res.fun)

