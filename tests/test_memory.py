"""The training buffers' memory: zeroed_arrays, HugePageBlock (2 MiB pages on
Linux) and the cache of freed mappings (block_cache, release_block_cache)."""
import sys

import numpy as np
import pytest

from bpfast import _memory
from bpfast._network import zeroed_arrays


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

    huge = _memory.HUGE_PAGE
    assert _memory.HugePageBlock(huge // 2 - 1).size == 0
    if not sys.platform.startswith("linux"):
        assert _memory.HugePageBlock(3 * huge).size == 0
        return
    for nbytes, size, advised in [(huge // 2, huge, huge), (huge, huge, huge),
                                  (huge + 5000, huge + 8192, huge),
                                  (3 * huge - 1, 3 * huge, 3 * huge)]:
        block = _memory.HugePageBlock(nbytes)
        assert (block.size, block.huge) == (size, advised)
        arr = np.frombuffer(block, dtype=np.uint8)
        assert arr.size == size and arr.flags.writeable and arr.ctypes.data % huge == 0
        assert not arr.any()
        arr[::4096] = 7
        assert arr[::4096].sum() == 7 * (size // 4096)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        arr = np.frombuffer(_memory.HugePageBlock(3 * huge), dtype=np.float64)
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

    huge = _memory.HUGE_PAGE
    _memory.release_block_cache()
    assert _memory.block_cache() == (0, 0)
    block = _memory.HugePageBlock(3 * huge)
    arr = np.frombuffer(block, dtype=np.uint8)
    assert not block.reused
    arr[...] = 0xFF
    address = arr.ctypes.data
    del block, arr
    gc.collect()
    assert _memory.block_cache() == (1, 3 * huge)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        block = _memory.HugePageBlock(3 * huge - 100)     # the same mapping's size
        arr = np.frombuffer(block, dtype=np.uint8)
        assert block.reused and arr.ctypes.data == address and block.size == 3 * huge
        assert not arr.any()
        assert tracemalloc.get_traced_memory()[0] - before >= 3 * huge
        assert _memory.block_cache() == (0, 0)
        other = _memory.HugePageBlock(2 * huge)            # none of its size kept
        assert not other.reused and other.size == 2 * huge
        del block, arr, other
        gc.collect()
        assert tracemalloc.get_traced_memory()[0] - before < 4096
    finally:
        tracemalloc.stop()
    assert _memory.block_cache() == (2, 5 * huge)
    # at most four kept, the oldest dropped first
    blocks = [_memory.HugePageBlock(k * huge) for k in range(4, 10)]
    while blocks:
        blocks.pop(0)             # freed in order: 4, 5, ..., 9 huge pages
    gc.collect()
    assert _memory.block_cache() == (4, (6 + 7 + 8 + 9) * huge)
    assert not _memory.HugePageBlock(4 * huge).reused   # kept when freed, 6 dropped
    assert _memory.HugePageBlock(9 * huge).reused
    # at most 64 MiB kept: a bigger block is unmapped when freed, and one
    # that would pass the bound drops older ones first
    assert _memory.release_block_cache() == (7 + 8 + 9 + 4) * huge
    _memory.HugePageBlock(33 * huge)
    gc.collect()
    assert _memory.block_cache() == (0, 0)
    for k in (20, 16):
        _memory.HugePageBlock(k * huge)
    gc.collect()
    assert _memory.block_cache() == (1, 16 * huge)
    assert _memory.release_block_cache() == 16 * huge
    assert _memory.block_cache() == (0, 0)


def _owner(a):
    """The object that holds an array's memory (an array that owns its data,
    or the buffer it was made from)."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a.obj if isinstance(a, memoryview) else a


@pytest.fixture
def unmapped(monkeypatch):
    """Blocks as where bp_map_block returns NULL (no mmap: macOS, Windows):
    a HugePageBlock without memory, of size 0. Returns the sizes asked for."""
    real = _memory.HugePageBlock
    asked = []

    def block(nbytes):
        asked.append(nbytes)
        return real(0)    # no mapping: NULL, size 0, as a failed bp_map_block leaves it

    monkeypatch.setattr(_memory, "HugePageBlock", block)
    return asked


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zeroed_arrays_without_a_mapping_are_numpy_memory(monkeypatch, unmapped, dtype):
    """No mapping to be had: zeroed_arrays takes numpy memory instead, still
    zero, on 64-byte lines and apart."""
    from bpfast import _network

    monkeypatch.setattr(_network, "_numpy_allows_huge_pages", lambda: True)
    lengths = [3, 1_000_000, 0, 600_000]
    arrays = zeroed_arrays(dtype, lengths)
    assert len(unmapped) == 1 and unmapped[0] >= _memory.HUGE_PAGE // 2
    assert [a.shape for a in arrays] == [(n,) for n in lengths]
    for i, a in enumerate(arrays):
        assert isinstance(_owner(a), np.ndarray) and _owner(a).flags.owndata
        assert a.size == 0 or a.ctypes.data % 64 == 0
        assert not a.any()
        a[...] = i + 1
    for i, a in enumerate(arrays):
        assert (a == i + 1).all()


def _fit_and_blocks(monkeypatch):
    """A fit whose buffers are over 1 MiB, and the sizes of the blocks made
    for it (0: none mapped)."""
    import warnings

    import bpfast
    from bpfast import _network

    monkeypatch.setattr(_network, "_numpy_allows_huge_pages", lambda: True)
    made = []
    make = _memory.HugePageBlock

    def block(nbytes):
        b = make(nbytes)
        made.append(b.size)
        return b

    monkeypatch.setattr(_memory, "HugePageBlock", block)
    rng = np.random.RandomState(0)
    X = rng.randn(300, 256)
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    est = bpfast.MLPClassifier(hidden_layer_sizes=(600,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning: 3 iterations
        est.fit(X, y)
    monkeypatch.setattr(_memory, "HugePageBlock", make)
    return est, est.predict_proba(X), made


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mappings on Linux only")
def test_fit_without_a_mapping_gives_the_same_bits(monkeypatch):
    """A fit whose blocks cannot be mapped (bp_map_block's NULL elsewhere
    than on Linux) runs in numpy memory and gives the same bits as one in
    mappings."""
    mapped, proba, made = _fit_and_blocks(monkeypatch)
    assert made and all(size > 0 for size in made)     # every block was a mapping
    assert isinstance(_owner(mapped.coefs_[0]), _memory.HugePageBlock)
    with monkeypatch.context() as m:
        real = _memory.HugePageBlock
        m.setattr(_memory, "HugePageBlock", lambda nbytes: real(0))
        plain, plain_proba, made = _fit_and_blocks(m)
    assert made and all(size == 0 for size in made)    # ... and here none was
    assert not isinstance(_owner(plain.coefs_[0]), _memory.HugePageBlock)
    for a, b in zip(plain.coefs_ + plain.intercepts_, mapped.coefs_ + mapped.intercepts_):
        assert np.array_equal(a, b)
    assert np.array_equal(plain_proba, proba)
