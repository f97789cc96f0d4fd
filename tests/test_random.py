"""Draws in the kernels: shuffle and uniform_fill reproduce RandomState's
permutations and uniform draws bit for bit (MT19937 read inline), and the
Python layer falls back to RandomState where they cannot."""
import numpy as np
import pytest

from bpfast import _random


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
        assert _random.mt_layout_matches()   # else the inline path is never taken
    ours, theirs = make(), make()
    for _ in range(2):
        idx = np.arange(n, dtype=np.intp)[::-1].copy()
        expected = idx.copy()
        theirs.shuffle(expected)
        _random.shuffle(ours._bit_generator, idx)
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
    assert _random.uniform_rounding() in (0, 1)   # else nothing is drawn inline
    ours, theirs = np.random.RandomState(7), np.random.RandomState(7)
    while odd and ours.get_state()[2] % 2 == 0:
        assert ours.randint(2**31) == theirs.randint(2**31)
    for n in (0, 1, 311, 312, 313, 5000, 200_704):
        want = theirs.uniform(low, high, n).astype(dtype)
        got = np.full(n, np.nan, dtype=dtype)
        assert _random.uniform_fill(ours._bit_generator, low, high, got)
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
    assert not _random.uniform_fill(np.random.PCG64(0), 0.0, 1.0, out.reshape(-1))
    assert not _random.uniform_fill(np.random.RandomState(0)._bit_generator, 0.0,
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
        _random.shuffle(Fake(), np.arange(3, dtype=np.intp))
