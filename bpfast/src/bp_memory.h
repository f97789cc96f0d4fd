/* bp_memory.h: memory for the kernels' blocks: aligned anonymous mappings
   advised as huge pages (Linux; elsewhere NULL, and the caller allocates
   otherwise), and a prefetch of a range ahead of its use. */
#ifndef BPFAST_BP_MEMORY_H
#define BPFAST_BP_MEMORY_H

#include "bp_compat.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

/* A private anonymous mapping of n bytes (a multiple of the page size) that
   starts on a boundary of `align` bytes (a power of two), its first `huge`
   bytes advised as huge pages, populated; fresh from the kernel, so zero.
   NULL where there is no mmap, or it fails. */
BP_STATIC void* bp_map_block(size_t n, size_t align, size_t huge) {
#if defined(__linux__)
    size_t span = n + align, lead;
    char* p = (char*)mmap(NULL, span, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == (char*)MAP_FAILED) return NULL;
    lead = (align - ((size_t)p & (align - 1))) & (align - 1);
    if (lead) munmap(p, lead);
    if (span - lead - n) munmap(p + lead + n, span - lead - n);
#if defined(MADV_HUGEPAGE)
    /* transparent huge pages, where the kernel's policy allows them */
    if (huge) madvise(p + lead, huge, MADV_HUGEPAGE);
#endif
#if defined(MADV_POPULATE_WRITE)
    /* fault it all in now, in one call (Linux 5.14 on; an older kernel
       refuses and the pages fault in as they are touched): where huge pages
       are off, the optimizer's first read of its zero state would otherwise
       fault onto the zero page before its write faults again */
    madvise(p + lead, n, MADV_POPULATE_WRITE);
#endif
    return p + lead;
#else
    (void)n; (void)align; (void)huge;
    return NULL;
#endif
}
BP_STATIC void bp_unmap_block(void* p, size_t n) {
#if defined(__linux__)
    munmap(p, n);
#else
    (void)p; (void)n;
#endif
}

/* ask for every cache line of [p, p + bytes) ahead of its use */
BP_INLINE void bp_prefetch(const void* p, size_t bytes) {
    const char* c = (const char*)p;
    for (size_t off = 0; off < bytes; off += 64) BP_PREFETCH_READ(c + off);
}

#endif /* BPFAST_BP_MEMORY_H */
