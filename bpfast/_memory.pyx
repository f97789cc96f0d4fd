# bpfast's training buffers: memory mapped for them in huge pages, and the
# mappings of freed buffers kept for the next fit. Used once per fit (see
# bpfast/_network.py zeroed_arrays), so it is a module of its own, outside
# the kernels' compiled unit (bpfast/_kernels.pyx). The mapping itself is
# the C in bpfast/src/bp_memory.h.

from libc.string cimport memset
from bpfast._native cimport bp_map_block, bp_unmap_block

cdef extern from "Python.h":
    int PyTraceMalloc_Track(unsigned int domain, size_t ptr, size_t size)
    int PyTraceMalloc_Untrack(unsigned int domain, size_t ptr)
    int PyBuffer_FillInfo(Py_buffer* view, object exporter, void* buf, Py_ssize_t len,
                          int readonly, int flags) except -1


HUGE_PAGE = 2 * 1024 * 1024    # bytes of a transparent huge page (x86-64, arm64)
cdef enum:
    NUMPY_TRACE_DOMAIN = 389047    # numpy's tracemalloc domain: counted as its arrays
    CACHE_SLOTS = 4                # most mappings kept for reuse (a fit makes three)
cdef size_t CACHE_BYTES = 64 * 1024 * 1024    # most bytes kept for reuse

# Mappings of blocks that were freed, kept for the next blocks of the same
# size: the next fit of the same network (a grid search's, a cross
# validation's, every partial_fit call) takes its blocks from here, zeroed
# by memset, instead of faulting in fresh pages that the kernel must zero
# (784-256-128-10 float32, one fit's three blocks: ~1 ms fresh). Oldest
# first; at most CACHE_SLOTS of them and CACHE_BYTES in all. Not counted by
# tracemalloc while kept; release_block_cache unmaps them.
cdef char* cache_ptr[CACHE_SLOTS]
cdef size_t cache_size[CACHE_SLOTS]
cdef int cache_count = 0
cdef size_t cache_total = 0


cdef char* cache_remove(int i) noexcept:
    """Take kept mapping i out of the cache (the later ones move up); returns it."""
    global cache_count, cache_total
    cdef char* ptr = cache_ptr[i]
    cache_total -= cache_size[i]
    cache_count -= 1
    while i < cache_count:
        cache_ptr[i] = cache_ptr[i + 1]
        cache_size[i] = cache_size[i + 1]
        i += 1
    return ptr


cdef void cache_drop_oldest() noexcept:
    cdef size_t size = cache_size[0]
    bp_unmap_block(cache_remove(0), size)


cdef int cache_take(size_t length) noexcept:
    """Index of a kept mapping of exactly `length` bytes, the newest such, or -1."""
    cdef int i
    for i in range(cache_count - 1, -1, -1):
        if cache_size[i] == length:
            return i
    return -1


def release_block_cache():
    """Unmap the freed HugePageBlock mappings kept for reuse; returns the
    bytes released."""
    cdef size_t released = cache_total
    while cache_count > 0:
        cache_drop_oldest()
    return released


def block_cache():
    """(mappings, bytes) kept for reuse now."""
    return cache_count, cache_total


cdef class HugePageBlock:
    """Zeroed memory for the training buffers, from its own mapping (Linux):
    it starts on a huge-page boundary and its whole 2 MiB pages are advised
    as transparent huge pages, a last partial page rounded up to a whole one
    when it is at least half used (at most 1 MiB more than asked), otherwise
    left in 4 KiB pages, and populated at once (one madvise, where the
    kernel has MADV_POPULATE_WRITE). Touching fresh memory in 4 KiB pages
    costs ~1.7 us a page on the development machine, in 2 MiB pages ~0.05 us
    a 4 KiB (8 MB: 3.4 against 0.2 ms). A freed block's mapping is kept for
    the next block of its size (see the cache above), which memset zeroes;
    others come fresh from the kernel. Counted by tracemalloc as numpy's own
    memory, at the size mapped, while the block lives.
    Exposes the buffer protocol (bytes); np.frombuffer makes an array that
    keeps the block alive. `size` is 0 where no block could be mapped (not
    Linux)."""
    cdef char* ptr
    cdef readonly Py_ssize_t size      # bytes mapped (the buffer's length)
    cdef readonly Py_ssize_t huge      # bytes of it advised as huge pages
    cdef readonly bint reused          # the mapping of a freed block, zeroed

    def __cinit__(self, Py_ssize_t nbytes):
        cdef size_t hp = HUGE_PAGE, whole, tail, length
        cdef int i
        self.ptr = NULL
        self.size = 0
        self.huge = 0
        self.reused = False
        if nbytes < 0:
            raise ValueError("negative size")
        whole = <size_t>nbytes // hp
        tail = <size_t>nbytes % hp
        if 2 * tail >= hp:
            whole += 1
            tail = 0
        length = whole * hp + (tail + 4095) // 4096 * 4096
        if whole == 0:
            return
        i = cache_take(length)
        if i >= 0:
            self.ptr = cache_remove(i)
            with nogil:
                memset(self.ptr, 0, length)
            self.reused = True
        else:
            self.ptr = <char*>bp_map_block(length, hp, whole * hp)
            if self.ptr == NULL:
                return
        self.size = <Py_ssize_t>length
        self.huge = <Py_ssize_t>(whole * hp)
        PyTraceMalloc_Track(NUMPY_TRACE_DOMAIN, <size_t>self.ptr, length)

    def __dealloc__(self):
        global cache_count, cache_total
        cdef size_t length = <size_t>self.size
        if self.ptr == NULL:
            return
        PyTraceMalloc_Untrack(NUMPY_TRACE_DOMAIN, <size_t>self.ptr)
        if length <= CACHE_BYTES:
            while cache_count > 0 and (cache_count == CACHE_SLOTS or
                                       cache_total + length > CACHE_BYTES):
                cache_drop_oldest()
            cache_ptr[cache_count] = self.ptr
            cache_size[cache_count] = length
            cache_count += 1
            cache_total += length
        else:
            bp_unmap_block(self.ptr, length)
        self.ptr = NULL

    def __getbuffer__(self, Py_buffer* view, int flags):
        PyBuffer_FillInfo(view, self, self.ptr, self.size, 0, flags)

    def __releasebuffer__(self, Py_buffer* view):
        pass
