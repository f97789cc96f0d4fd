"""The fused optimizer updates over the flat parameter vector (_adam_update):
the formula with its penalties, bits independent of how the vector is cut,
a correctly rounded square root."""
import numpy as np
import pytest

from bpfast import _kernels


def _adam_reference(W, G, M, V, lr, b1, b2, eps, l2, l1):
    dt = W.dtype.type
    with np.errstate(all="ignore"):
        g = G + dt(l2) * W + np.where(W > 0, dt(l1), np.where(W < 0, -dt(l1), dt(0)))
        m = dt(b1) * M + dt(1 - b1) * g
        v = dt(b2) * V + dt(1 - b2) * (g * g)
        u = (dt(-lr) * m) / (np.sqrt(v) + dt(eps))
    return W + u, g, m, v, u


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("l2, l1", [(0.0, 0.0), (1e-4, 0.0), (1e-4, 1e-5)])
def test_adam_update_matches_its_formula(dtype, l2, l1):
    # scikit-learn's Adam step (plus the penalty's gradient) over a vector
    # whose second moments span most of the exponent range, with a length
    # that leaves a tail after the 8-wide vector loop
    rng = np.random.default_rng(5)
    n = 20_003
    W = rng.uniform(-0.05, 0.05, n).astype(dtype)
    G = (rng.uniform(-1, 1, n) * 10.0 ** -rng.integers(0, 30, n)).astype(dtype)
    M = (rng.uniform(-1, 1, n) * 1e-3).astype(dtype)
    top = 300 if dtype == np.float64 else 36
    V = (rng.uniform(0, 1, n) * 10.0 ** -rng.integers(0, top, n)).astype(dtype)
    V[:40] = 0
    args = (1e-3, 0.9, 0.999, 1e-8, l2, l1)
    w, g, m, v, u = _adam_reference(W, G, M, V, *args)
    W2, M2, V2 = W.copy(), M.copy(), V.copy()
    _kernels._adam_update(W2, G, M2, V2, *args)
    eps = np.finfo(dtype).eps
    # fused multiply-adds round once where numpy rounds twice; with penalties
    # g = G + l2 W may cancel, so the moments are held to the update's scale
    tol = 4 if l2 == 0 else 64
    assert np.all(np.abs(M2 - m) <= tol * eps * (np.abs(M) + np.abs(g)))
    assert np.all(np.abs(V2 - v) <= tol * eps * (V + g * g) + np.finfo(dtype).tiny)
    assert np.all(np.abs(W2 - w) <= tol * eps * (np.abs(W) + np.abs(u)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("l1", [0.0, 1e-5])
def test_adam_update_bits_do_not_depend_on_how_the_vector_is_cut(dtype, l1):
    """The update's 16-wide steps (half the square roots on the FMA units,
    half on the divider), its 8-wide step and its scalar tail give the same
    bits: a vector updated whole equals the same vector updated in pieces of
    every length from 1 to 40 (as the epoch team updates each gradient
    tile's range), so the bits do not depend on where ranges start."""
    rng = np.random.default_rng(11)
    n = 4_100
    W = rng.uniform(-0.05, 0.05, n).astype(dtype)
    G = (rng.uniform(-1, 1, n) * 10.0 ** -rng.integers(0, 12, n)).astype(dtype)
    M = (rng.uniform(-1, 1, n) * 1e-3).astype(dtype)
    V = (rng.uniform(0, 1, n) * 10.0 ** -rng.integers(0, 30, n)).astype(dtype)
    args = (1e-3, 0.9, 0.999, 1e-8, 1e-4, l1)
    whole = [W.copy(), M.copy(), V.copy()]
    _kernels._adam_update(whole[0], G, whole[1], whole[2], *args)
    cut = [W.copy(), M.copy(), V.copy()]
    lo, length = 0, 1
    while lo < n:
        hi = min(n, lo + length)
        _kernels._adam_update(cut[0][lo:hi], G[lo:hi], cut[1][lo:hi], cut[2][lo:hi], *args)
        lo, length = hi, length % 40 + 1
    for a, b in zip(whole, cut):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_update_square_root_is_correctly_rounded(dtype):
    # With W = 0, G = 1, beta_1 = 0, beta_2 = 1, lr = -1, eps = 0 the step
    # is exactly 1 / sqrt(V): the kernel's
    # square root (a Newton iteration where AVX-512 has one) must give
    # numpy's bits, and 0, subnormal, inf and NaN second moments must give
    # what sqrt gives.
    rng = np.random.default_rng(6)
    n = 50_001
    top = 300 if dtype == np.float64 else 37
    V = (rng.uniform(0, 2, n) * 10.0 ** rng.integers(-top, top, n)).astype(dtype)
    V[:6] = [0, np.finfo(dtype).smallest_subnormal, np.inf, np.nan, -1, 1]
    W, M, G = np.zeros(n, dtype), np.zeros(n, dtype), np.ones(n, dtype)
    with np.errstate(all="ignore"):
        expected = dtype(1) / np.sqrt(V)
    _kernels._adam_update(W, G, M, V, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    np.testing.assert_array_equal(W, expected)
