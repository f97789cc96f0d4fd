"""The GEMM wrappers: _gemm (one BLAS call, row-major), _pgemm (the tiled
GEMM, a fixed grid of single-threaded BLAS calls) and its tile budget."""
import numpy as np
import pytest

from bpfast import _kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_row_major(dtype, trans_a, trans_b):
    rng = np.random.RandomState(0)
    m, n, k = 5, 7, 3
    A = rng.randn(*((k, m) if trans_a else (m, k))).astype(dtype)
    B = rng.randn(*((n, k) if trans_b else (k, n))).astype(dtype)
    C = rng.randn(m, n).astype(dtype)
    expected = 2.0 * (A.T if trans_a else A) @ (B.T if trans_b else B) + 0.5 * C
    _kernels._gemm(trans_a, trans_b, 2.0, A, B, 0.5, C)
    np.testing.assert_allclose(C, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_gemm_shape_mismatch_raises():
    A = np.zeros((3, 4))
    with pytest.raises(ValueError):
        _kernels._gemm(False, False, 1.0, A, np.zeros((5, 2)), 0.0, np.zeros((3, 2)))


TILED_SHAPES = [(1, 1, 1), (5, 7, 3), (200, 256, 784), (784, 256, 200), (33, 65, 129),
                (2048, 10, 128), (64, 2048, 100),
                # one output unit: matrix-vector and outer products (thin_gemm)
                (32, 1, 32), (32, 32, 1), (200, 256, 1), (784, 1, 200),
                (37, 1, 29), (3, 1, 9), (45, 19, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("m,n,k", TILED_SHAPES)
def test_tiled_gemm_matches_numpy_and_ignores_the_thread_count(dtype, trans_a, trans_b,
                                                               m, n, k):
    """The tiled GEMM computes op(A) @ op(B) + beta C, and gives the same bits on
    1, 2 and 3 threads under any tile budget (each tile is one BLAS call)."""
    rng = np.random.RandomState(m + n + k)
    A = rng.randn(*((k, m) if trans_a else (m, k))).astype(dtype)
    B = rng.randn(*((n, k) if trans_b else (k, n))).astype(dtype)
    C0 = rng.randn(m, n).astype(dtype)
    expected = ((A.T if trans_a else A).astype(np.float64)
                @ (B.T if trans_b else B).astype(np.float64) + 0.5 * C0)
    saved = _kernels.tile_budget()
    try:
        for budget in (1, 2, 16):
            _kernels.set_tile_budget(budget)
            outs = []
            for threads in (1, 2, 3):
                C = C0.copy()
                _kernels._pgemm(trans_a, trans_b, A, B, 0.5, C, threads)
                outs.append(C)
            np.testing.assert_allclose(outs[0], expected,
                                       rtol=1e-4 if dtype == np.float32 else 1e-10,
                                       atol=1e-3 if dtype == np.float32 else 1e-10)
            assert all(np.array_equal(o, outs[0]) for o in outs[1:]), budget
    finally:
        _kernels.set_tile_budget(saved)


def test_tile_budget_is_validated():
    with pytest.raises(ValueError):
        _kernels.set_tile_budget(0)
    assert _kernels.tile_budget() >= 1
