# Declarations of bpfast's C (the headers in bpfast/src/, one per concern),
# for the Cython modules that cimport them: `from bpfast._native cimport *`.
# Declarations only: no module of this name is built or imported.

from libc.stdint cimport uint32_t


cdef extern from "bp_compat.h":
    # the compiler that built the module ("gcc 12.2.0", "clang 14.0.6",
    # "msvc ..."), and whether it was a BPFAST_DEBUG build
    const char* BP_COMPILER
    int BP_DEBUG_BUILD
    # how a waiting thread sleeps: "futex", "WaitOnAddress",
    # "os_sync_wait_on_address" or "portable (condition variables)"
    const char* BP_WAIT_KIND
    # 1: GCC's vector extension; 0: the plain-array vectors (MSVC, or
    # BP_PORTABLE_VECTORS), the same sums lane by lane
    int BP_HAVE_VECTOR_EXT
    double bp_seconds() noexcept nogil


cdef extern from "bp_threads.h":
    int BP_OPENMP    # 1: compiled with OpenMP; 0: a serial build
    int bp_omp_max_threads() noexcept nogil
    int bp_omp_team_size() noexcept nogil
    ctypedef struct bp_barrier:
        int count
        int sense
        int sleepers
    void bp_barrier_wait(bp_barrier* b, int n, int* local_sense,
                         double* waited) noexcept nogil
    void bp_wait_while(int* word, int* sleepers, int value) noexcept nogil
    void bp_wake_all(int* word, int* sleepers, int value) noexcept nogil
    void bp_atomic_add_double(double* total, double v) noexcept nogil
    int BP_MAX_WORKERS
    void bp_note_worker(int t) noexcept nogil
    int bp_worker_tid_of(int t) noexcept nogil


cdef extern from "bp_dropout.h":
    unsigned long long bp_mix64(unsigned long long z) noexcept nogil
    bint bp_dropped(unsigned long long key, long long idx, double rate) noexcept nogil


cdef extern from "bp_math.h":
    double bp_exp(double x) noexcept nogil
    float bp_expf(float x) noexcept nogil
    double bp_log(double x) noexcept nogil
    float bp_logf(float x) noexcept nogil
    void bp_xent_softmax_d(double* z, double* t, Py_ssize_t n, double eps) noexcept nogil
    void bp_xent_softmax_f(float* z, float* t, Py_ssize_t n, float eps) noexcept nogil
    void bp_xent_logistic_d(double* z, double* t, Py_ssize_t n, double eps) noexcept nogil
    void bp_xent_logistic_f(float* z, float* t, Py_ssize_t n, float eps) noexcept nogil


cdef extern from "bp_vector.h":
    void bp_norms_d(const double* w, Py_ssize_t n, int want_sq, int want_abs,
                    double* out) noexcept nogil
    void bp_norms_f(const float* w, Py_ssize_t n, int want_sq, int want_abs,
                    double* out) noexcept nogil
    double bp_dot_d(const double* a, const double* b, Py_ssize_t n) noexcept nogil
    float bp_dot_f(const float* a, const float* b, Py_ssize_t n) noexcept nogil
    void bp_dot4_d(const double* a, Py_ssize_t lda, const double* b, Py_ssize_t n,
                   double* out) noexcept nogil
    void bp_dot4_f(const float* a, Py_ssize_t lda, const float* b, Py_ssize_t n,
                   float* out) noexcept nogil
    void bp_adam_d(double* W, const double* G, double* M, double* V, Py_ssize_t n,
                   double lr, double b1, double c1, double b2, double c2, double eps,
                   double l2, double l1) noexcept nogil


cdef extern from "bp_random.h":
    ctypedef struct bp_mt_state:
        uint32_t key[624]
        int pos
    uint32_t bp_mt_next32(bp_mt_state* s) noexcept nogil
    void bp_mt_shuffle(bp_mt_state* s, Py_ssize_t* x, Py_ssize_t n) noexcept nogil
    void bp_mt_uniform(bp_mt_state* s, double lower, double range, int fused,
                       double* out64, float* out32, Py_ssize_t n) noexcept nogil


cdef extern from "bp_memory.h":
    void* bp_map_block(size_t n, size_t align, size_t huge) noexcept nogil
    void bp_unmap_block(void* p, size_t n) noexcept nogil
    void bp_prefetch(const void* p, size_t bytes) noexcept nogil


cdef extern from "bp_cpu.h":
    # the CPU probe (bpfast/_cpu.pyx only: it runs before a level is chosen)
    int BP_CPU_X86
    int BP_CPU_AARCH64
    int BP_CPU_NFEATURES
    const char* bp_cpu_feature_name(int i) noexcept nogil
    unsigned long long bp_cpu_features() noexcept nogil
    void bp_cpu_vendor(char* out) noexcept nogil
    void bp_cpu_brand(char* out) noexcept nogil
    # what setup.py built with it (bit i: baseline, v3, v4, native)
    int BP_BUILD_LEVELS
    int BP_BUILD_BY_REQUEST
