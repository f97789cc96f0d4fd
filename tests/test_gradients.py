"""Backprop gradients of the flat parameter vector against central finite
differences, for every activation, output/loss, with and without the L2 term
and sample weights."""
import zlib

import numpy as np
import pytest

from bpfast._network import Network, kernel_data

HIDDEN_ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
OUTPUTS = {  # output activation -> (n_outputs, target maker)
    "softmax": (4, lambda rng, n: np.eye(4)[rng.randint(0, 4, n)]),
    "logistic": (3, lambda rng, n: (rng.rand(n, 3) > 0.5).astype(float)),
    "logistic-binary": (1, lambda rng, n: (rng.rand(n, 1) > 0.5).astype(float)),
    "identity": (1, lambda rng, n: rng.randn(n, 1)),
    "exp": (2, lambda rng, n: rng.poisson(1.5, (n, 2)).astype(float)),
}


def full_loss(net, X, Y, sw, alpha, params, grads=None, capacity=None):
    """The full-batch loss (and gradient into grads) of rows X, Y under params,
    in a workspace of `capacity` rows (default: the network's choice)."""
    context = net.loss_context(X.shape[0], alpha, capacity=capacity)
    return net.loss_gradient(context, kernel_data(X, Y, sw), params, grads)


def numeric_gradient(net, X, Y, sw, alpha, params, h=1e-5, points=3):
    """Central differences: the 3-point stencil (error ~h^2), or the 5-point
    one (error ~h^4), which allows a larger step. A larger step matters where
    the loss itself carries rounding noise of ~1e-13 (log(1 - p) for a
    saturated logistic output, as scikit-learn computes it): that noise is
    divided by the step."""
    grads = np.empty_like(params)
    out = np.empty_like(params)
    steps, weights = ((1, -1), (1, -1)) if points == 3 else ((2, 1, -1, -2), (-1, 8, -8, 1))
    scale = 2 * h if points == 3 else 12 * h
    for i in range(params.size):
        old = params[i]
        total = 0.0
        for step, weight in zip(steps, weights):
            params[i] = old + step * h
            total += weight * full_loss(net, X, Y, sw, alpha, params, grads)
        params[i] = old
        out[i] = total / scale
    return out


def stable_seed(*names):
    """A seed from the names that is the same in every process (hash() of a
    str is salted per process, so a seed from it would change run to run)."""
    return zlib.crc32("-".join(names).encode()) % 1000


def max_relative_error(a, b):
    """Largest elementwise |a - b| / max(|a|, |b|); components far below the
    gradient's scale (under 1e-3 of its largest entry) are measured against
    that floor, where finite-difference rounding would dominate."""
    floor = 1e-3 * max(np.abs(a).max(), np.abs(b).max(), 1e-12)
    return np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor))


def make_net(activation, output, seed, slope=0.0):
    n_out, target = OUTPUTS[output]
    out_act = output.split("-")[0]
    net = Network([5, 7, 6, n_out], activation, out_act, np.float64, slope=slope)
    rng = np.random.RandomState(seed)
    net.params[:] = rng.uniform(-0.8, 0.8, net.n_params)
    X = rng.randn(13, 5)
    Y = np.ascontiguousarray(target(rng, 13))
    return net, X, Y, rng


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_backprop_matches_finite_differences(activation, output, alpha, weighted):
    net, X, Y, rng = make_net(activation, output, seed=stable_seed(activation, output))
    sw = rng.uniform(0.1, 3.0, X.shape[0]) if weighted else None
    grads = np.empty(net.n_params)
    params = net.params.copy()
    full_loss(net, X, Y, sw, alpha, params, grads)
    if activation == "relu":  # a small step, so that no kink falls inside it
        numeric = numeric_gradient(net, X, Y, sw, alpha, params, h=1e-5, points=3)
    else:
        numeric = numeric_gradient(net, X, Y, sw, alpha, params, h=1e-3, points=5)
    assert max_relative_error(grads, numeric) < 1e-6


def test_blocked_accumulation_equals_one_block():
    """The full-batch pass streams rows in blocks; the result must not depend
    on the block size."""
    net, X, Y, rng = make_net("tanh", "softmax", seed=1)
    X = rng.randn(50, 5)
    Y = np.eye(4)[rng.randint(0, 4, 50)]
    g_small, g_big = np.empty(net.n_params), np.empty(net.n_params)
    l_small = full_loss(net, X, Y, None, 0.1, net.params, g_small, capacity=7)
    l_big = full_loss(net, X, Y, None, 0.1, net.params, g_big, capacity=50)
    assert l_small == pytest.approx(l_big, rel=1e-12)
    np.testing.assert_allclose(g_small, g_big, rtol=1e-12, atol=1e-15)


def test_multi_output_squared_error_convention():
    """scikit-learn reports the squared loss averaged over outputs while its
    gradient is that of the sum over outputs; bpfast keeps both conventions:
    the gradient equals n_outputs times the derivative of the reported loss."""
    net = Network([3, 4, 3], "tanh", "identity", np.float64)
    rng = np.random.RandomState(0)
    net.params[:] = rng.uniform(-0.5, 0.5, net.n_params)
    X, Y = rng.randn(9, 3), rng.randn(9, 3)
    grads = np.empty(net.n_params)
    params = net.params.copy()
    full_loss(net, X, Y, None, 0.0, params, grads)
    numeric = numeric_gradient(net, X, Y, None, 0.0, params)
    assert max_relative_error(grads, 3 * numeric) < 1e-6
