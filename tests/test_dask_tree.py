"""bpfast.dask's fixed reduction tree (bpfast/dask/_tree.py), without a cluster:
however the chunks are split among shards, the root has the same bits."""

import numpy as np
import pytest

pytest.importorskip("dask")
from bpfast.dask import _tree  # noqa: E402


def leaves(n, size=7, seed=0):
    rng = np.random.default_rng(seed)
    # values of very different magnitudes, so that the order of the sums
    # shows in the last bits
    scale = 10.0 ** rng.integers(-8, 8, n)
    return [(float(s * rng.standard_normal()), s * rng.standard_normal(size),
             rng.integers(0, 100, 2)) for s in scale]


def leaf_of(values):
    return lambda c: tuple(v.copy() if isinstance(v, np.ndarray) else v
                           for v in values[c])


def split_root(n, parts, values):
    """The root computed as shards and client do: each shard the nodes it
    holds, the client the rest."""
    known = {}
    for held in parts:
        for node in _tree.held_nodes(n, set(held)):
            known[node] = _tree.reduce(*node, leaf_of(values))
    return _tree.reduce(0, n, lambda c: pytest.fail(f"chunk {c} left out"), known)


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 33])
def test_any_split_gives_the_same_bits(n):
    values = leaves(n)
    whole = _tree.reduce(0, n, leaf_of(values))
    rng = np.random.default_rng(n)
    for n_shards in (1, 2, 3, 5):
        for _ in range(10):
            owner = rng.integers(0, n_shards, n)
            parts = [np.nonzero(owner == s)[0].tolist() for s in range(n_shards)]
            assert same(split_root(n, parts, values), whole)


def test_the_tree_is_not_a_left_fold():
    """The order is the tree's: ((0 + 1) + (2 + 3)), not (((0 + 1) + 2) + 3)."""
    values = [(1e16, np.zeros(1), np.zeros(2, dtype=np.intp)),
              (1.0, np.zeros(1), np.zeros(2, dtype=np.intp)),
              (-1e16, np.zeros(1), np.zeros(2, dtype=np.intp)),
              (1.0, np.zeros(1), np.zeros(2, dtype=np.intp))]
    assert _tree.reduce(0, 4, leaf_of(values))[0] == (1e16 + 1.0) + (-1e16 + 1.0)


def test_held_nodes_are_the_largest_whole_subtrees():
    assert _tree.held_nodes(8, set(range(8))) == [(0, 8)]
    assert _tree.held_nodes(8, {0, 1, 2, 3, 5}) == [(0, 4), (5, 6)]
    assert _tree.held_nodes(7, {3, 4, 5, 6}) == [(3, 7)]
    assert _tree.held_nodes(7, {2, 3, 4}) == [(2, 3), (3, 5)]
    assert _tree.held_nodes(5, set()) == []


def test_integer_items_take_the_largest():
    values = [(0.0, np.zeros(1), np.array([3, 9])), (0.0, np.zeros(1), np.array([5, 2]))]
    np.testing.assert_array_equal(_tree.reduce(0, 2, leaf_of(values))[2], [5, 9])
