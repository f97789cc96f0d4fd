"""The compiled wrappers directly: GEMM twin, layout checks, flat views."""
import sys
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import scipy.sparse as sp

from bpfast import _kernels
from bpfast._network import Network, as_kernel_csr, kernel_input, zeroed_arrays


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lengths", [[0], [1, 0, 7], [3, 1_000_000, 2, 0, 600_000]])
def test_zeroed_arrays_are_separate_aligned_and_zero(dtype, lengths):
    """The optimizer's state and a fit's buffers: one block (from 2 MiB up,
    advised as huge pages), each array zero, on a 64-byte line, and apart
    from the others."""
    arrays = zeroed_arrays(dtype, lengths)
    assert [a.shape for a in arrays] == [(n,) for n in lengths]
    for a in arrays:
        assert a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
        assert a.size == 0 or a.ctypes.data % 64 == 0
        assert not a.any()
    for i, a in enumerate(arrays):
        a[...] = i + 1
    for i, a in enumerate(arrays):
        assert (a == i + 1).all()


def test_huge_page_block_sizes_zero_and_release():
    """The training buffers' own mapping (Linux): whole 2 MiB pages, a last
    page rounded up when at least half used and otherwise left in 4 KiB
    pages, zero, writable, counted by tracemalloc while alive and no longer
    once the last array on it is gone; none under 1 MiB."""
    import gc
    import tracemalloc

    huge = _kernels.HUGE_PAGE
    assert _kernels.HugePageBlock(huge // 2 - 1).size == 0
    if not sys.platform.startswith("linux"):
        assert _kernels.HugePageBlock(3 * huge).size == 0
        return
    for nbytes, size, advised in [(huge // 2, huge, huge), (huge, huge, huge),
                                  (huge + 5000, huge + 8192, huge),
                                  (3 * huge - 1, 3 * huge, 3 * huge)]:
        block = _kernels.HugePageBlock(nbytes)
        assert (block.size, block.huge) == (size, advised)
        arr = np.frombuffer(block, dtype=np.uint8)
        assert arr.size == size and arr.flags.writeable and arr.ctypes.data % huge == 0
        assert not arr.any()
        arr[::4096] = 7
        assert arr[::4096].sum() == 7 * (size // 4096)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        arr = np.frombuffer(_kernels.HugePageBlock(3 * huge), dtype=np.float64)
        assert tracemalloc.get_traced_memory()[0] - before >= 3 * huge
        view = arr[10:20]
        del arr
        gc.collect()
        assert tracemalloc.get_traced_memory()[0] - before >= 3 * huge   # the view keeps it
        del view
        gc.collect()
        assert tracemalloc.get_traced_memory()[0] - before < 4096
    finally:
        tracemalloc.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mappings on Linux only")
def test_huge_page_block_reuses_freed_mappings():
    """A freed block's mapping is kept for the next block of the same size,
    which gets it zeroed; tracemalloc counts it only while a block holds it;
    at most four mappings and 64 MiB are kept, oldest dropped first, and
    release_block_cache unmaps them."""
    import gc
    import tracemalloc

    huge = _kernels.HUGE_PAGE
    _kernels.release_block_cache()
    assert _kernels.block_cache() == (0, 0)
    block = _kernels.HugePageBlock(3 * huge)
    arr = np.frombuffer(block, dtype=np.uint8)
    assert not block.reused
    arr[...] = 0xFF
    address = arr.ctypes.data
    del block, arr
    gc.collect()
    assert _kernels.block_cache() == (1, 3 * huge)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        block = _kernels.HugePageBlock(3 * huge - 100)     # the same mapping's size
        arr = np.frombuffer(block, dtype=np.uint8)
        assert block.reused and arr.ctypes.data == address and block.size == 3 * huge
        assert not arr.any()
        assert tracemalloc.get_traced_memory()[0] - before >= 3 * huge
        assert _kernels.block_cache() == (0, 0)
        other = _kernels.HugePageBlock(2 * huge)            # none of its size kept
        assert not other.reused and other.size == 2 * huge
        del block, arr, other
        gc.collect()
        assert tracemalloc.get_traced_memory()[0] - before < 4096
    finally:
        tracemalloc.stop()
    assert _kernels.block_cache() == (2, 5 * huge)
    # at most four kept, the oldest dropped first
    blocks = [_kernels.HugePageBlock(k * huge) for k in range(4, 10)]
    while blocks:
        blocks.pop(0)             # freed in order: 4, 5, ..., 9 huge pages
    gc.collect()
    assert _kernels.block_cache() == (4, (6 + 7 + 8 + 9) * huge)
    assert not _kernels.HugePageBlock(4 * huge).reused   # kept when freed, 6 dropped
    assert _kernels.HugePageBlock(9 * huge).reused
    # at most 64 MiB kept: a bigger block is unmapped when freed, and one
    # that would pass the bound drops older ones first
    assert _kernels.release_block_cache() == (7 + 8 + 9 + 4) * huge
    _kernels.HugePageBlock(33 * huge)
    gc.collect()
    assert _kernels.block_cache() == (0, 0)
    for k in (20, 16):
        _kernels.HugePageBlock(k * huge)
    gc.collect()
    assert _kernels.block_cache() == (1, 16 * huge)
    assert _kernels.release_block_cache() == 16 * huge
    assert _kernels.block_cache() == (0, 0)


def test_gemm_shape_mismatch_raises():
    A = np.zeros((3, 4))
    with pytest.raises(ValueError):
        _kernels._gemm(False, False, 1.0, A, np.zeros((5, 2)), 0.0, np.zeros((3, 2)))


def test_flat_views_and_layout():
    net = Network([4, 3, 2], "relu", "softmax", np.float64)
    coefs, intercepts = net.coef_views(), net.intercept_views()
    assert [c.shape for c in coefs] == [(4, 3), (3, 2)]
    assert net.n_params == 4 * 3 + 3 * 2 + 3 + 2
    net.params[:] = np.arange(net.n_params)
    assert coefs[1][0, 0] == 12 and intercepts[0][0] == 18
    assert net.is_view(coefs, intercepts)
    assert not net.is_view([c.copy() for c in coefs], intercepts)


def test_kernels_reject_wrong_shapes():
    net = Network([4, 3, 2], "relu", "softmax", np.float64)
    meta, work = net.workspace(8)
    X, Y = np.zeros((10, 4)), np.zeros((10, 2))
    grads = np.empty(net.n_params)
    with pytest.raises(ValueError):  # wrong feature count
        net.loss_gradient(np.zeros((10, 5)), Y, None, 0.0, 1, net.params, grads)
    with pytest.raises(ValueError):  # wrong parameter length
        net.loss_gradient(X, Y, None, 0.0, 1, net.params[:-1], grads)
    with pytest.raises(ValueError):  # workspace smaller than the layout
        net.loss_gradient(X, Y, None, 0.0, 1, net.params, grads, (meta, work[:-3]))
    with pytest.raises(ValueError):  # Y of the wrong width
        net.loss_gradient(X, np.zeros((10, 3)), None, 0.0, 1, net.params, grads)
    bad = meta.copy()
    bad[8 + 3 + 2] = 10**6  # a bias offset outside the parameter vector
    with pytest.raises(ValueError):
        net.loss_gradient(X, Y, None, 0.0, 1, net.params, grads, (bad, work))


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, _kernels.CHUNK_SIZE, _kernels.CHUNK_SIZE + 3, 300_001])
@pytest.mark.parametrize("threads", [1, 2])
def test_all_finite_finds_every_nan_and_inf(dtype, n, threads):
    rng = np.random.RandomState(n)
    x = rng.randn(n).astype(dtype)
    assert _kernels.all_finite(x, threads)
    big = np.finfo(dtype).max
    x[-1] = big
    assert _kernels.all_finite(x, threads)
    for pos in {0, n // 2, n - 1}:
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y[pos] = bad
            assert not _kernels.all_finite(y, threads), (pos, bad)
    assert _kernels.all_finite(x[:0], threads)


@pytest.mark.parametrize("dtype,lo,hi", [(np.float64, -746.0, 710.0),
                                         (np.float32, -104.0, 89.0)])
def test_kernel_exp_is_within_one_ulp_of_numpy(dtype, lo, hi):
    """The kernels' own exp (plain arithmetic, so softmax / logistic loops
    vectorise) against numpy's, over the whole range, subnormal results and
    the special values included."""
    rng = np.random.RandomState(0)
    specials = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-300, -1e-300, 709.78, 709.79,
                -745.13, -745.14, 88.7, 88.8, -103.9, -104.0]
    x = np.concatenate([rng.uniform(lo, hi, 300_000), rng.uniform(-1, 1, 100_000),
                        np.linspace(lo, hi, 20_001), specials]).astype(dtype)
    got = x.copy()
    _kernels._exp(got)
    with np.errstate(over="ignore"):
        want = np.exp(x.astype(np.float64)).astype(dtype)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    regular = np.isfinite(want) & (want != 0)
    assert np.array_equal(got[~regular & ~np.isnan(want)], want[~regular & ~np.isnan(want)])
    ulps = np.abs(got[regular] - want[regular]) / np.spacing(np.abs(want[regular]))
    assert ulps.max() <= 1.0


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31 - 1])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 64, 1000, 70_001])
@pytest.mark.parametrize("bit_generator", ["MT19937", "PCG64"])
def test_shuffle_reproduces_randomstate_shuffle(seed, n, bit_generator):
    # the same permutation as RandomState.shuffle, and the stream left at
    # the same place (the next epoch's draws and any later draw agree);
    # RandomState's own MT19937 is drawn from inline, a PCG64 through numpy
    def make():   # the MT19937 one as scikit-learn's check_random_state makes it
        if bit_generator == "MT19937":
            return np.random.RandomState(seed)
        return np.random.RandomState(np.random.PCG64(seed))
    if bit_generator == "MT19937":
        assert _kernels.mt_layout_matches()   # else the inline path is never taken
    ours, theirs = make(), make()
    for _ in range(2):
        idx = np.arange(n, dtype=np.intp)[::-1].copy()
        expected = idx.copy()
        theirs.shuffle(expected)
        _kernels.shuffle(ours._bit_generator, idx)
        np.testing.assert_array_equal(idx, expected)
    assert ours.randint(2**31) == theirs.randint(2**31)
    assert ours.random_sample() == theirs.random_sample()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("low,high", [(-0.0765, 0.0765), (-1.0, 3.0), (2.5, 1e6 / 3),
                                      (0.0, 0.0)])
@pytest.mark.parametrize("odd", [False, True])
def test_uniform_fill_reproduces_randomstate_uniform(dtype, low, high, odd):
    """The initial weights drawn in the kernels: RandomState.uniform's
    values bit for bit (in float32, those values rounded), over sizes that
    end before, at and across the generator's refills, and the stream left
    where RandomState leaves it. With `odd`, single 32-bit draws come first
    and leave the generator at an odd word, so one value in each refill
    takes its two words from either side of it."""
    assert _kernels.uniform_rounding() in (0, 1)   # else nothing is drawn inline
    ours, theirs = np.random.RandomState(7), np.random.RandomState(7)
    while odd and ours.get_state()[2] % 2 == 0:
        assert ours.randint(2**31) == theirs.randint(2**31)
    for n in (0, 1, 311, 312, 313, 5000, 200_704):
        want = theirs.uniform(low, high, n).astype(dtype)
        got = np.full(n, np.nan, dtype=dtype)
        assert _kernels.uniform_fill(ours._bit_generator, low, high, got)
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8))
    assert ours.randint(2**31) == theirs.randint(2**31)
    assert ours.random_sample() == theirs.random_sample()


def test_draw_uniform_falls_back_to_randomstate():
    """Where the kernels cannot promise RandomState's draws (another bit
    generator, a RandomState subclass, an infinite range) they draw nothing
    and RandomState.uniform fills the array."""
    from bpfast._solvers import draw_uniform

    class Counting(np.random.RandomState):
        calls = 0

        def uniform(self, *args, **kwargs):
            Counting.calls += 1
            return super().uniform(*args, **kwargs)

    out = np.empty((3, 4))
    assert not _kernels.uniform_fill(np.random.PCG64(0), 0.0, 1.0, out.reshape(-1))
    assert not _kernels.uniform_fill(np.random.RandomState(0)._bit_generator, 0.0,
                                     np.inf, out.reshape(-1))
    for make in (lambda: np.random.RandomState(np.random.PCG64(3)), lambda: Counting(3),
                 lambda: np.random.RandomState(3)):
        got, want = make(), make()
        draw_uniform(got, -0.5, 0.5, out)
        np.testing.assert_array_equal(out, want.uniform(-0.5, 0.5, (3, 4)))
        assert got.randint(2**31) == want.randint(2**31)
    assert Counting.calls == 2   # the subclass's own uniform drew its values


def test_shuffle_order_matches_sklearn_shuffle_and_falls_back():
    from sklearn.utils import shuffle as sk_shuffle

    from bpfast._solvers import shuffle_order

    class NoBitGenerator:
        """A RandomState stand-in without numpy's BitGenerator behind it."""
        def __init__(self, seed):
            self.rs = np.random.RandomState(seed)

        def shuffle(self, x):
            self.rs.shuffle(x)

    idx = np.random.RandomState(3).permutation(5000).astype(np.intp)
    expected = sk_shuffle(idx, random_state=np.random.RandomState(7))
    for rs in (np.random.RandomState(7), NoBitGenerator(7)):
        got = idx.copy()
        shuffle_order(rs, got)
        np.testing.assert_array_equal(got, expected)


def test_shuffle_rejects_what_is_not_a_bit_generator():
    class Fake:
        capsule = object()
        lock = None

    with pytest.raises(ValueError):
        _kernels.shuffle(Fake(), np.arange(3, dtype=np.intp))


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_log_is_within_two_ulp_of_the_true_log(dtype):
    """The kernels' own log (the cross-entropy's, on probabilities clipped to
    [eps, 1 - eps]) over its domain, positive normal numbers: decades from
    the smallest normal to the largest, [eps, 1] densely, and the special
    points of its range reduction; NaN stays NaN. Held to numpy's float64
    log rounded to the dtype: within 2 ulp in float64, correctly rounded
    (half an ulp from the float64 value) in float32."""
    info = np.finfo(dtype)
    rng = np.random.RandomState(1)
    decades = np.log10(info.tiny), np.log10(info.max)
    x = np.concatenate([
        10.0 ** rng.uniform(*decades, 300_000),
        rng.uniform(info.eps, 1.0, 100_000),
        1.0 - rng.uniform(0, 1e-3, 20_000),
        [info.tiny, info.max, info.eps, 1 - info.eps, 0.5, 1.0, 2.0,
         np.sqrt(2.0), np.nextafter(np.sqrt(2.0), 2.0), np.nextafter(np.sqrt(2.0), 1.0)],
    ]).astype(dtype)
    x = x[(x >= info.tiny) & np.isfinite(x)]
    got = x.copy()
    _kernels._log(got)
    exact = np.log(x.astype(np.float64))
    err = np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(dtype))
    assert err.max() <= (2.0 if dtype == np.float64 else 0.5 + 1e-6)
    nan = np.array([np.nan], dtype)
    _kernels._log(nan)
    assert np.isnan(nan[0])


def _predict_checked(net, X, threads, capacity):
    """(outputs, finite) of _kernels.predict with check_input, dense or CSR X."""
    meta, work = net.workspace(capacity)
    out = np.empty((X.shape[0], net.units[-1]), dtype=net.dtype)
    finite = _kernels.predict(*kernel_input(X), meta, net.slope, net.params, work, out,
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
    meta, work_len = net.meta(max(1, unit_rows))
    work = np.full((workspaces or threads) * work_len, np.nan, dtype=net.dtype)
    out = np.full((X.shape[0], net.units[-1]), np.nan, dtype=net.dtype)
    _kernels.predict(*kernel_input(X), meta, net.slope, net.params, work, out, threads,
                     False, block)
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
        meta, work = net.workspace(16)
        with pytest.raises(ValueError, match="largest row unit"):
            _kernels.predict(*kernel_input(X), meta, 0.0, net.params, work,
                             np.empty((300, 2)), 1, False, 256)
        with pytest.raises(ValueError, match="block_rows"):
            _kernels.predict(*kernel_input(X), meta, 0.0, net.params, work,
                             np.empty((300, 2)), 1, False, -1)
    finally:
        _kernels.set_tile_budget(saved)


@contextmanager
def _budget_of_two():
    """A tile budget of 2 (the grid of a 2-core machine) inside; on the way
    out, the budget and the rows_local switch as they were."""
    saved_budget, saved_local = _kernels.tile_budget(), _kernels._set_rows_local(True)
    try:
        _kernels.set_tile_budget(2)
        yield
    finally:
        _kernels.set_tile_budget(saved_budget)
        _kernels._set_rows_local(saved_local)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden,activation,n_classes,batch", [
    ((32,), "relu", 2, 32),              # one output unit, one row block
    ((100,), "relu", 10, 200),
    ((64, 64), "tanh", 5, 64),
    ((70,), "elu", 3, 77),               # row blocks of 38 and 39 rows
    ((40, 9), "logistic", 4, 130),
])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_row_block_pass_gives_the_bits_of_the_product_by_product_path(
        dtype, hidden, activation, n_classes, batch, solver):
    """Fits through row_block_pass (one parallel region for the row-wise
    passes) equal fits that make every product in its own region (to
    rounding: see _same_bits_per_path_close_across), each path the same bits
    on 1 and 2 threads, under a tile budget of 2 (so minibatches of 64 rows or
    more are cut into two row blocks)."""
    from threadpoolctl import threadpool_limits

    from bpfast import MLPClassifier

    rng = np.random.RandomState(batch)
    X = rng.randn(600, 13).astype(dtype)
    y = rng.randint(0, n_classes, 600)
    fits = []
    with _budget_of_two():
        for local in (True, False):
            _kernels._set_rows_local(local)
            for threads in (1, 2):
                with threadpool_limits(threads):
                    clf = MLPClassifier(hidden, activation=activation, solver=solver,
                                        batch_size=batch, max_iter=4, random_state=0)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        clf.fit(X, y)
                fits.append((np.concatenate([c.ravel() for c in clf.coefs_]),
                             np.array(clf.loss_curve_ if solver == "adam" else [clf.loss_])))
    _same_bits_per_path_close_across(fits, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("params", [
    dict(solver="adam"),
    dict(solver="adam", alpha=0.01, l1_ratio=0.5),
    dict(solver="adam", shuffle=False),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    dict(solver="sgd", momentum=0.5, nesterovs_momentum=False, alpha=0.0),
    dict(solver="rmsprop", rmsprop_momentum=0.9),
    dict(solver="rmsprop", rmsprop_momentum=0.0, l1_ratio=1.0),
])
@pytest.mark.parametrize("weighted", [False, True])
def test_epoch_team_gives_the_bits_of_the_product_by_product_path(dtype, params, weighted):
    """An epoch in one team of threads (epoch_team: two barriers a minibatch,
    each weight gradient's row tiles updated by the thread that made them)
    equals the epoch that opens a parallel region a product and updates the
    flat vector in chunks (to rounding: see _same_bits_per_path_close_across),
    each the same bits on 1 and 2 threads, for every
    optimizer, with the L1 part of the penalty, sample weights, rows read in
    place (shuffle=False) and a last, short minibatch. Budget 2: 128-row
    minibatches are cut in two row blocks, and the 70- and 96-row weight
    gradients in two row tiles."""
    from threadpoolctl import threadpool_limits

    from bpfast import MLPClassifier

    rng = np.random.RandomState(7)
    X = rng.randn(530, 70).astype(dtype)          # 4 minibatches of 128, one of 18
    y = rng.randint(0, 3, 530)
    sw = rng.uniform(0.5, 2.0, 530) if weighted else None
    fits = []
    with _budget_of_two():
        for local in (True, False):
            _kernels._set_rows_local(local)
            for threads in (1, 2):
                clf = MLPClassifier((96, 40), batch_size=128, max_iter=3, random_state=0,
                                    learning_rate_init=0.01, **params)
                with threadpool_limits(threads), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    clf.fit(X, y, sample_weight=sw)
                meta = clf._network.workspace(128, 70)[0]
                assert _kernels._epoch_team(meta, 128) == local
                fits.append((np.concatenate([c.ravel() for c in clf.coefs_ + clf.intercepts_]),
                             np.array(clf.loss_curve_)))
    assert np.all(np.isfinite(fits[0][0])) and len(fits[0][1]) == 3
    _same_bits_per_path_close_across(fits, dtype)


def _same_bits_per_path_close_across(fits, dtype):
    """fits: (coefs, losses) of the team on 1 and 2 threads, then of the
    product-by-product path on 1 and 2 threads. Each path's bits do not depend
    on the thread count; the two paths agree to rounding only: their grids
    differ (row blocks and row tiles against tiles of each product), and
    OpenBLAS's kernels for some CPUs (AVX2: Haswell, Zen) round a product cut
    in other tiles differently (AVX-512 ones were seen not to)."""
    for a, b in ((0, 1), (2, 3)):
        assert np.array_equal(fits[b][0], fits[a][0])
        assert np.array_equal(fits[b][1], fits[a][1])
    tol = dict(rtol=2e-3, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(fits[2][0], fits[0][0], **tol)
    np.testing.assert_allclose(fits[2][1], fits[0][1], **tol)


def _team_epochs(dtype, n_rows, shadow_len, threads, alpha=1e-3, l1_ratio=0.0,
                 epochs=2, solver="adam", dropout=0.0, sparse=False):
    """params, the epoch losses and adam's step after `epochs` train_epoch calls
    of a 70-96-40-3 net on 128-row minibatches, with a shadow of shadow_len
    (filled with NaN: never read) on `threads` threads."""
    rng = np.random.RandomState(3)
    X = rng.randn(n_rows, 70).astype(dtype)
    X[X < 0.3] = 0
    Xin = as_kernel_csr(sp.csr_matrix(X), dtype) if sparse else X
    Y = np.eye(3, dtype=dtype)[rng.randint(0, 3, n_rows)]
    net = Network([70, 96, 40, 3], "relu", "softmax", dtype)
    net.params[...] = rng.uniform(-0.2, 0.2, net.n_params)
    meta, work_len = net.meta(128, 70)
    params = net.params.copy()
    grads, s1, s2 = (np.zeros(net.n_params, dtype) for _ in range(3))
    work = np.zeros(work_len, dtype)
    shadow = np.full(shadow_len, np.nan, dtype)
    step, partial = np.zeros(2, np.intp), np.full(len(net.norm_scratch()), np.nan)
    losses = []
    for epoch in range(epochs):
        order = rng.permutation(n_rows).astype(np.intp)
        losses.append(_kernels.train_epoch(
            *kernel_input(Xin), Y, np.zeros(0, dtype), order, not sparse, meta, net.slope,
            params, shadow, grads, work, s1, s2, step, partial, 128, solver, 0.01, alpha,
            l1_ratio, 0.9, True, 0.9, 0.999, 1e-8, dropout, 11, threads))
    return params, losses, step.copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_rows", [530, 640, 256])
@pytest.mark.parametrize("penalty", [(1e-3, 0.0), (0.02, 0.5), (0.0, 0.0)])
def test_epoch_team_with_a_shadow_gives_the_bits_of_the_update_in_place(dtype, n_rows,
                                                                         penalty):
    """The team updating into a second parameter vector, minibatch by
    minibatch (so that no core writes parameters the other one has just
    read): params, losses and adam's step are those of the update in place,
    on 1 and 2 threads, over two epochs of an odd number of minibatches (5,
    the last one short: 530 rows; 5 full ones: 640) and an even one (2: 256),
    with and without the penalty, and the shadow's contents are never read."""
    alpha, l1_ratio = penalty
    with _budget_of_two():
        reference = _team_epochs(dtype, n_rows, 0, 1, alpha, l1_ratio)
        net = Network([70, 96, 40, 3], "relu", "softmax", dtype)
        assert _kernels._epoch_team(net.meta(128, 70)[0], 128)
        for threads in (1, 2):
            for shadow_len in (0, net.n_params):
                params, losses, step = _team_epochs(dtype, n_rows, shadow_len, threads,
                                                    alpha, l1_ratio)
                assert np.all(np.isfinite(params))
                assert np.array_equal(params, reference[0])
                assert losses == reference[1]
                assert np.array_equal(step, reference[2])


def _halves_epochs(dtype, threads, local=True, gather=True, weighted=False,
                   activation="tanh", solver="adam", epochs=2, units=(384, 160, 24, 4),
                   n_rows=530):
    """params, the epoch losses and adam's step after `epochs` train_epoch
    calls on 128-row minibatches (with the defaults: a 384-160-24-4 net, 530
    rows: four minibatches, then one of 18; under a tile budget of 2
    epoch_team makes the first product of the four, 15.7 MFLOP, in two halves
    of its inputs), with a shadow (NaN: never read) on more than one
    thread."""
    rng = np.random.RandomState(5)
    X = rng.randn(n_rows, units[0]).astype(dtype)
    Y = np.eye(units[-1], dtype=dtype)[rng.randint(0, units[-1], n_rows)]
    sw = rng.uniform(0.5, 2.0, n_rows).astype(dtype) if weighted else np.zeros(0, dtype)
    net = Network(list(units), activation, "softmax", dtype)
    net.params[...] = rng.uniform(-0.1, 0.1, net.n_params)
    meta, work_len = net.meta(128, units[0])
    params = net.params.copy()
    grads, s1, s2 = (np.zeros(net.n_params, dtype) for _ in range(3))
    work = np.full(work_len, np.nan, dtype)
    shadow = np.full(net.n_params if threads > 1 else 0, np.nan, dtype)
    step, partial = np.zeros(2, np.intp), np.full(len(net.norm_scratch()), np.nan)
    losses = []
    saved = _kernels._set_rows_local(local)
    try:
        for epoch in range(epochs):
            order = (rng.permutation(n_rows) if gather else np.arange(n_rows)).astype(np.intp)
            losses.append(_kernels.train_epoch(
                *kernel_input(X), Y, sw, order, gather, meta, net.slope, params, shadow,
                grads, work, s1, s2, step, partial, 128, solver, 0.01, 1e-3, 0.0, 0.9,
                True, 0.9, 0.999, 1e-8, 0.0, 11, threads))
    finally:
        _kernels._set_rows_local(saved)
    return params, losses, step.copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gather,weighted,activation", [
    (True, False, "tanh"), (False, True, "relu"), (True, True, "logistic")])
def test_input_halves_give_the_same_bits_on_1_and_2_threads(dtype, gather, weighted,
                                                            activation):
    """Where epoch_team makes layer 0's product in two halves of its inputs
    (input_halves), it does so on one thread too, so the bits do not depend
    on the thread count; they differ from the product by product path only
    by rounding (the two halves are summed, then the bias added: compared
    under sgd, whose steps do not magnify rounding as adam's do). With the
    rows gathered or read in place, with sample weights, and a last, short
    minibatch (18 rows, one row block: made whole)."""
    with _budget_of_two():
        net = Network([384, 160, 24, 4], activation, "softmax", dtype)
        meta = net.meta(128, 384)[0]
        assert _kernels._input_halves(meta, 128) and _kernels._epoch_team(meta, 128)
        assert not _kernels._input_halves(meta, 18)
        one = _halves_epochs(dtype, 1, gather=gather, weighted=weighted,
                             activation=activation)
        two = _halves_epochs(dtype, 2, gather=gather, weighted=weighted,
                             activation=activation)
        assert np.all(np.isfinite(one[0]))
        assert np.array_equal(one[0], two[0])
        assert one[1] == two[1]
        assert np.array_equal(one[2], two[2]) and one[2][1] == 10
        halves, whole = (_halves_epochs(dtype, 2, local=local, gather=gather,
                                        weighted=weighted, activation=activation,
                                        solver="sgd") for local in (True, False))
        tol = dict(rtol=1e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-11,
                                                                          atol=1e-14)
        # (equal bits are possible: OpenBLAS may itself cut the inner
        # dimension of the whole product where the halves meet)
        np.testing.assert_allclose(halves[0], whole[0], **tol)
        np.testing.assert_allclose(halves[1], whole[1], **tol)


def test_input_halves_of_a_last_short_minibatch_only():
    """Under a tile budget of 4 a 120-350-20-3 net's 128-row minibatches are
    cut in four row blocks (no halves), its last one of 100 rows in two
    (halves): W_0 moves to params for that one, and one thread takes the
    team too, for the same bits on 1 and 2 threads."""
    saved = _kernels.tile_budget()
    try:
        _kernels.set_tile_budget(4)
        net = Network([120, 350, 20, 3], "relu", "softmax", np.float64)
        meta = net.meta(128, 120)[0]
        assert not _kernels._input_halves(meta, 128) and _kernels._input_halves(meta, 100)
        for dtype in (np.float64, np.float32):
            kw = dict(units=(120, 350, 20, 3), n_rows=3 * 128 + 100, activation="relu")
            one, two = (_halves_epochs(dtype, threads, **kw) for threads in (1, 2))
            assert np.all(np.isfinite(one[0]))
            assert np.array_equal(one[0], two[0]) and one[1] == two[1]
            halves, whole = (_halves_epochs(dtype, 2, local=local, solver="sgd", **kw)
                             for local in (True, False))
            tol = dict(rtol=1e-4, atol=1e-6) if dtype == np.float32 else dict(
                rtol=1e-11, atol=1e-14)
            assert not np.array_equal(halves[0], whole[0])
            np.testing.assert_allclose(halves[0], whole[0], **tol)
    finally:
        _kernels.set_tile_budget(saved)


def test_input_halves_only_for_a_large_first_product_cut_in_two():
    """Halves of the inputs where the minibatch is cut in two row blocks, the
    first weight gradient in two row tiles, and the first product has at
    least 8 MFLOP; never without a hidden layer or under a budget of 1."""
    with _budget_of_two():
        mnist = Network([784, 256, 128, 10], "relu", "softmax", np.float32).meta(200, 784)[0]
        assert _kernels._input_halves(mnist, 200) and _kernels._input_halves(mnist, 64)
        assert not _kernels._input_halves(mnist, 63)           # one row block
        small = Network([64, 100, 10], "relu", "softmax", np.float64).meta(200, 64)[0]
        assert not _kernels._input_halves(small, 200)          # 2.6 MFLOP
        linear = Network([784, 10], "relu", "softmax", np.float64).meta(200, 784)[0]
        assert not _kernels._input_halves(linear, 200)
        _kernels.set_tile_budget(1)
        assert not _kernels._input_halves(mnist, 200)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("path", [dict(dropout=0.2), dict(sparse=True)])
@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_chunked_update_with_a_shadow_gives_the_bits_of_the_update_in_place(dtype, path,
                                                                            solver):
    """Outside the epoch team (dropout, sparse input), an update shared among
    threads in chunks also goes to the shadow: the same bits as in place, on
    1 and 2 threads, for an odd and an even number of minibatches."""
    with _budget_of_two():
        net = Network([70, 96, 40, 3], "relu", "softmax", dtype)
        meta = net.meta(128, 70)[0]
        assert _kernels._shared_update(meta, 128, 2, path.get("sparse", False),
                                       path.get("dropout", 0) > 0)
        for n_rows in (640, 256):
            reference = _team_epochs(dtype, n_rows, 0, 1, solver=solver, **path)
            for threads in (1, 2):
                got = _team_epochs(dtype, n_rows, net.n_params, threads, solver=solver,
                                   **path)
                assert np.all(np.isfinite(got[0]))
                assert np.array_equal(got[0], reference[0])
                assert got[1] == reference[1]


def test_shared_update_says_where_a_fit_takes_a_shadow():
    """A shadow where an update is shared among threads: the epoch team, or
    chunks on several threads; none on one thread or for a net whose update
    stays on one thread."""
    with _budget_of_two():
        wide = Network([70, 96, 40, 3], "relu", "softmax", np.float64).meta(128, 70)[0]
        small = Network([20, 32, 1], "relu", "logistic", np.float64).meta(32, 20)[0]
        for sparse, dropout in [(False, False), (True, False), (False, True)]:
            assert _kernels._shared_update(wide, 128, 2, sparse, dropout)
            assert not _kernels._shared_update(wide, 128, 1, sparse, dropout)
            assert not _kernels._shared_update(small, 32, 2, sparse, dropout)


def test_train_epoch_rejects_a_bad_shadow():
    """A shadow must be empty or as long as params and apart from every
    other buffer."""
    rng = np.random.RandomState(0)
    X = rng.randn(256, 70)
    Y = np.eye(3)[rng.randint(0, 3, 256)]
    net = Network([70, 96, 40, 3], "relu", "softmax", np.float64)
    meta, work_len = net.meta(128, 70)
    n = net.n_params
    block = np.zeros(5 * n + work_len)
    params, grads, s1, s2 = (block[i * n:(i + 1) * n] for i in range(4))
    work = block[4 * n:]
    order = np.arange(256, dtype=np.intp)

    def call(shadow):
        _kernels.train_epoch(
            *kernel_input(X), Y, np.zeros(0), order, True, meta, net.slope, params,
            shadow, grads, work, s1, s2, np.zeros(2, np.intp),
            net.norm_scratch(), 128, "adam", 1e-3, 1e-4,
            0.0, 0.9, True, 0.9, 0.999, 1e-8, 0.0, 0, 2)

    call(np.zeros(0))
    call(np.zeros(n))
    with pytest.raises(ValueError, match="shadow must be empty or as long"):
        call(np.zeros(n - 1))
    for overlapping in (params, block[n // 2:n // 2 + n], s2, work[:n], block[-n:]):
        with pytest.raises(ValueError, match="shadow must not share memory"):
            call(overlapping)


def test_no_epoch_team_for_a_net_it_would_not_cut():
    """A net whose products the team's grid leaves whole (20-32-1, 32-row
    minibatches) runs on one thread, without a team: cutting it was measured
    slower on 2 cores (its rows and gradients would cross between the cores'
    caches every minibatch)."""
    from bpfast._network import Network

    with _budget_of_two():
        small = Network([20, 32, 1], "relu", "logistic", np.float64)
        assert not _kernels._epoch_team(small.workspace(32, 20)[0], 32)
        wide = Network([70, 96, 3], "relu", "softmax", np.float64)
        assert _kernels._epoch_team(wide.workspace(128, 70)[0], 128)


def test_epoch_team_stops_at_a_zero_weight_minibatch():
    """Both epoch paths raise scikit-learn's error at a minibatch whose
    sample weights sum to zero."""
    from bpfast import MLPClassifier

    rng = np.random.RandomState(0)
    X = rng.randn(256, 70)
    y = rng.randint(0, 2, 256)
    sw = np.ones(256)
    sw[128:] = 0
    with _budget_of_two():
        for local in (True, False):
            _kernels._set_rows_local(local)
            clf = MLPClassifier((96,), batch_size=128, shuffle=False, max_iter=2)
            with pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
                clf.fit(X, y, sample_weight=sw)
