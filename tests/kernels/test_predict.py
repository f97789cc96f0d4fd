"""The predict kernel: its check of the input for NaN and infinity, and its row
units (each row tile of a block through every layer on one thread)."""
import numpy as np
import pytest
import scipy.sparse as sp

from bpfast import _kernels
from bpfast._network import Network, as_kernel_csr, kernel_data


def _predict_checked(net, X, threads, capacity):
    """(outputs, finite) of _kernels.predict with check_input, dense or CSR X."""
    work = np.empty(net.layout(capacity).work_len, dtype=net.dtype)
    out = np.empty((X.shape[0], net.units[-1]), dtype=net.dtype)
    finite = _kernels.predict(net.layout(capacity), kernel_data(X), net.params, work, out,
                              threads, True)
    return out, finite


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("units", [[6, 1], [6, 40, 3], [1, 40, 3], [6, 1, 3], [6, 40, 20, 3]])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_predict_finds_every_nan_and_inf_in_the_input(dtype, units, sparse, threads):
    """predict(check_input=True) is False for any NaN or infinity anywhere in X,
    even where W_0's row for that feature is zero (inf * 0 is NaN) and a ReLU
    would map the NaN to 0; True for finite X, including rows far from 0."""
    net = Network(units, "relu", "softmax" if units[-1] > 1 else "logistic", dtype)
    rng = np.random.RandomState(len(units) + units[0])
    net.params[:] = rng.randn(net.n_params)
    n, d = 300, units[0]
    net.coef_views()[0][d - 1] = 0          # the last feature reaches nothing
    X = rng.randn(n, d).astype(dtype)
    X[0] = np.finfo(dtype).max / 1e6 / units[1]

    def as_input(A):
        return as_kernel_csr(sp.csr_matrix(A), dtype) if sparse else A

    out, finite = _predict_checked(net, as_input(X), threads, 128)
    assert finite and np.isfinite(out).all()
    for row in (0, 127, 128, n - 1):
        for col in {0, d - 1}:
            for bad in (np.nan, np.inf, -np.inf):
                Y = X.copy()
                Y[row, col] = bad
                _, finite = _predict_checked(net, as_input(Y), threads, 128)
                assert not finite, (row, col, bad)


def _predict_units(net, X, threads, block, workspaces=None):
    """_kernels.predict in blocks of `block` rows on `threads` threads, with
    `workspaces` workspaces (default: one a thread) of the largest unit's
    capacity."""
    n_units, unit_rows = _kernels.predict_units(X.shape[0], block)
    layout = net.layout(max(1, unit_rows))
    work = np.full((workspaces or threads) * layout.work_len, np.nan, dtype=net.dtype)
    out = np.full((X.shape[0], net.units[-1]), np.nan, dtype=net.dtype)
    _kernels.predict(layout, kernel_data(X), net.params, work, out, threads, False, block)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("units", [[50, 70, 3], [33, 300, 40, 2], [700, 1]])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("budget", [2, 4])
def test_predict_row_units_make_the_blocks_tiled_products(dtype, units, sparse, budget):
    """Prediction runs each row tile of each block through every layer on one
    thread (row units, taken dynamically): the outputs are the same bits as
    the block's whole tiled products (_pgemm, the same grid) with the bias
    and ReLU between them, on any number of threads, with fewer workspaces
    than threads, and for row counts that leave a short last block."""
    net = Network(units, "relu", "identity", dtype)
    rng = np.random.RandomState(units[0] + budget)
    net.params[:] = rng.randn(net.n_params) / 8
    block = 256
    saved = _kernels.tile_budget()
    try:
        _kernels.set_tile_budget(budget)
        for n in (1, 63, 64, 65, 256, 300, 3 * 256 + 97):
            X = rng.randn(n, units[0]).astype(dtype)
            if sparse:
                X[rng.rand(*X.shape) < 0.7] = 0
            Xin = as_kernel_csr(sp.csr_matrix(X), dtype) if sparse else X
            want = np.empty((n, units[-1]), dtype)
            for start in range(0, n, block):
                A = X[start:start + block]
                for l, (W, b) in enumerate(zip(net.coef_views(), net.intercept_views())):
                    if l == 0 and sparse:
                        Z = (sp.csr_matrix(A) @ W).astype(dtype)
                    else:
                        Z = np.empty((A.shape[0], W.shape[1]), dtype)
                        _kernels._pgemm(False, False, np.ascontiguousarray(A), W, 0.0, Z, 1)
                    Z = Z + b
                    A = Z if l == len(units) - 2 else np.maximum(Z, 0)
                want[start:start + block] = A
            n_units, _ = _kernels.predict_units(n, block)
            for threads, spaces in ((1, 1), (2, 2), (3, 3), (3, 2), (2, 1)):
                got = _predict_units(net, Xin, threads, block, spaces)
                if sparse:
                    # CSR rows are summed feature by feature, not by BLAS
                    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32
                                               else 1e-10, atol=1e-5)
                    ref = _predict_units(net, Xin, 1, block)
                    assert np.array_equal(got, ref), (n, threads, spaces)
                else:
                    assert np.array_equal(got, want), (n, threads, spaces, n_units)
    finally:
        _kernels.set_tile_budget(saved)


def test_predict_units_and_their_checks():
    """predict_units: the units and the largest unit's rows; predict refuses a
    workspace whose capacity is below that unit, and a negative block."""
    saved = _kernels.tile_budget()
    try:
        _kernels.set_tile_budget(2)
        assert _kernels.predict_units(0, 2048) == (0, 0)
        assert _kernels.predict_units(63, 2048) == (1, 63)
        assert _kernels.predict_units(64, 2048) == (2, 32)
        assert _kernels.predict_units(100_000, 2048) == (2 * 48 + 2, 1024)
        _kernels.set_tile_budget(16)
        assert _kernels.predict_units(2048, 2048) == (16, 128)
        with pytest.raises(ValueError):
            _kernels.predict_units(10, 0)
        net = Network([5, 4, 2], "relu", "identity", np.float64)
        X = np.zeros((300, 5))
        work = np.empty(net.layout(16).work_len)
        with pytest.raises(ValueError, match="largest row unit"):
            _kernels.predict(net.layout(16), kernel_data(X), net.params, work,
                             np.empty((300, 2)), 1, False, 256)
        with pytest.raises(ValueError, match="block_rows"):
            _kernels.predict(net.layout(16), kernel_data(X), net.params, work,
                             np.empty((300, 2)), 1, False, -1)
    finally:
        _kernels.set_tile_budget(saved)
