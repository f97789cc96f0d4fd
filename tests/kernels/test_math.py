"""The kernels' scalar and vector math: their own exp and log against numpy's,
and all_finite, the threaded finiteness check."""
import numpy as np
import pytest

from bpfast import _kernels


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
