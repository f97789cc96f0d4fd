/* bp_compat.h: what bpfast's C needs from the compiler and the OS, in one
   place, so that the other headers are written once for every compiler.

   Branches: GCC and clang (__GNUC__, __clang__), MSVC (_MSC_VER); Linux
   (__linux__: futex, gettid, mmap), Windows (_WIN32: QueryPerformanceCounter,
   SwitchToThread, WaitOnAddress), macOS (__APPLE__: os_sync_wait_on_address);
   the other POSIX systems take the POSIX calls (clock_gettime, sched_yield,
   pthread condition variables). The GCC and clang branches are built and
   tested on Linux (CI: x86-64 natively, aarch64 cross-compiled and run under
   qemu); the portable wait is built and tested on Linux with
   BP_PORTABLE_WAIT; the Windows branches (not the MSVC-only ones) are
   compiled by MinGW-w64 in CI (.ci/windows-headers.sh) and never run; the
   MSVC and macOS ones are written from Microsoft's and Apple's documented
   interfaces and never built here.

   The headers need nothing from Python but Py_ssize_t: a module includes
   Python.h first (Cython's C does), and a header compiled alone (the
   Windows check) takes ptrdiff_t, the same type wherever Python builds.

   It gives:
     BP_STATIC, BP_INLINE, BP_ALWAYS_INLINE, BP_NOINLINE
                                                 storage and inlining
     BP_THREAD_LOCAL                             thread-local storage
     bp_atomic_{load,store,add_fetch}_{i32,i64}, bp_atomic_cas_i64
                                                 atomics with GCC's memory
                                                 orders (BP_RELAXED ...)
     bp_v8d, bp_v8f, BP_V8_* and BP_HAVE_VECTOR_EXT
                                                 eight-lane vectors: GCC's
                                                 vector_size types, or plain
                                                 arrays with the same
                                                 arithmetic lane by lane
     bp_clz32                                    count leading zeros
     bp_cpu_pause, BP_PREFETCH_READ              spin-wait hint, prefetch
     bp_seconds                                  a monotonic clock, seconds
     bp_yield                                    give up the core
     bp_futex_wait, bp_futex_wake_all, BP_WAIT_KIND
                                                 sleep until a word changes:
                                                 Linux's futex, Windows'
                                                 WaitOnAddress, macOS's
                                                 os_sync, or condition
                                                 variables (BP_PORTABLE_WAIT)
     BP_COMPILER, BP_DEBUG_BUILD                 what built the module
*/
#ifndef BPFAST_BP_COMPAT_H
#define BPFAST_BP_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#if !defined(Py_PYTHON_H)
typedef ptrdiff_t Py_ssize_t;
#endif

#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  ifndef NOMINMAX
#    define NOMINMAX
#  endif
   /* WaitOnAddress needs Windows 8 (0x0602) in the headers: Python 3.10's
      own floor, which its pyconfig.h sets already */
#  if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0602
#    undef _WIN32_WINNT
#    define _WIN32_WINNT 0x0602
#  endif
#  include <windows.h>
#  if defined(_MSC_VER)
#    pragma comment(lib, "Synchronization.lib")
#  endif
#else
#  include <pthread.h>
#  include <sched.h>
#  include <time.h>
#endif
#if defined(__linux__)
#  include <limits.h>
#  include <linux/futex.h>
#  include <sys/syscall.h>
#  include <unistd.h>
#endif
#if defined(__APPLE__) && defined(__has_include) && !defined(BP_PORTABLE_WAIT)
#  if __has_include(<os/os_sync_wait_on_address.h>)
#    include <os/os_sync_wait_on_address.h>
#  endif
#endif
#if defined(_MSC_VER) || (defined(_WIN32) && defined(BP_INTERLOCKED_ATOMICS))
#  include <intrin.h>
#endif
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#  include <immintrin.h>
#endif

/* ---- what built this --------------------------------------------------- */
#define BP_STR_(x) #x
#define BP_STR(x) BP_STR_(x)
#if defined(__clang__)
#  define BP_COMPILER "clang " BP_STR(__clang_major__) "." BP_STR(__clang_minor__) \
                      "." BP_STR(__clang_patchlevel__)
#elif defined(__GNUC__)
#  define BP_COMPILER "gcc " BP_STR(__GNUC__) "." BP_STR(__GNUC_MINOR__) \
                      "." BP_STR(__GNUC_PATCHLEVEL__)
#elif defined(_MSC_VER)
#  define BP_COMPILER "msvc " BP_STR(_MSC_FULL_VER)
#else
#  define BP_COMPILER "unknown"
#endif

#ifdef BPFAST_DEBUG
#  define BP_DEBUG_BUILD 1
#else
#  define BP_DEBUG_BUILD 0
#endif

/* ---- function attributes ----------------------------------------------- */
/* BP_STATIC: a file-local function or variable that a module including the
   header may leave unused, without a warning (-Wunused-function) */
#if defined(_MSC_VER) && !defined(__clang__)
#  define BP_STATIC static
#  define BP_INLINE static __inline
#  define BP_ALWAYS_INLINE static __forceinline
#  define BP_NOINLINE static __declspec(noinline)
#  define BP_THREAD_LOCAL __declspec(thread)
#else
#  define BP_STATIC static __attribute__((unused))
#  define BP_INLINE static inline
#  define BP_ALWAYS_INLINE static inline __attribute__((always_inline))
   /* noipa (GCC 8 on): not inlined, and not specialised for its callers'
      constants either */
#  if defined(__clang__)
#    define BP_NOINLINE static __attribute__((noinline, unused))
#  elif defined(__GNUC__) && __GNUC__ >= 8
#    define BP_NOINLINE static __attribute__((noipa, unused))
#  else
#    define BP_NOINLINE static __attribute__((noinline, unused))
#  endif
#  define BP_THREAD_LOCAL __thread
#endif

/* ---- atomics ------------------------------------------------------------
   On int (i32) and long long (i64) objects, with GCC's memory orders. The
   GCC/clang forms are the __atomic builtins themselves. MSVC's ignore the
   order and give at least what was asked: its Interlocked functions are
   full barriers; its loads are a volatile read followed by a barrier
   (acquire, and, with the stores made by Interlocked exchanges, sequentially
   consistent). BP_INTERLOCKED_ATOMICS takes the Interlocked forms with any
   Windows compiler: how MinGW-w64's GCC compiles them in CI. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(BP_INTERLOCKED_ATOMICS)
#  define BP_RELAXED __ATOMIC_RELAXED
#  define BP_ACQUIRE __ATOMIC_ACQUIRE
#  define BP_RELEASE __ATOMIC_RELEASE
#  define BP_ACQ_REL __ATOMIC_ACQ_REL
#  define BP_SEQ_CST __ATOMIC_SEQ_CST
#  define bp_atomic_load_i32(p, order) __atomic_load_n((p), (order))
#  define bp_atomic_load_i64(p, order) __atomic_load_n((p), (order))
#  define bp_atomic_store_i32(p, v, order) __atomic_store_n((p), (v), (order))
#  define bp_atomic_store_i64(p, v, order) __atomic_store_n((p), (v), (order))
#  define bp_atomic_add_fetch_i32(p, v, order) __atomic_add_fetch((p), (v), (order))
#  define bp_atomic_add_fetch_i64(p, v, order) __atomic_add_fetch((p), (v), (order))
   /* if *p == *expected, *p = desired and 1; else *expected = *p and 0 */
#  define bp_atomic_cas_i64(p, expected, desired, success, failure) \
       __atomic_compare_exchange_n((p), (expected), (desired), 0, (success), (failure))
#elif defined(_MSC_VER) || (defined(_WIN32) && defined(BP_INTERLOCKED_ATOMICS))
#  define BP_RELAXED 0
#  define BP_ACQUIRE 2
#  define BP_RELEASE 3
#  define BP_ACQ_REL 4
#  define BP_SEQ_CST 5
#  if defined(_M_ARM64) || defined(_M_ARM)
#    define BP_MSVC_FENCE() __dmb(0xB) /* _ARM64_BARRIER_ISH */
#  else
#    define BP_MSVC_FENCE() _ReadWriteBarrier()
#  endif
BP_ALWAYS_INLINE int bp_msvc_load_i32(const int* p) {
    int v = *(const volatile int*)p;
    BP_MSVC_FENCE();
    return v;
}
BP_ALWAYS_INLINE long long bp_msvc_load_i64(const long long* p) {
    /* a compare-exchange that never changes *p: atomic on 32-bit x86 too */
    return _InterlockedCompareExchange64((volatile __int64*)p, 0, 0);
}
BP_ALWAYS_INLINE void bp_msvc_store_i32(int* p, int v) {
    _InterlockedExchange((volatile long*)p, (long)v);
}
BP_ALWAYS_INLINE void bp_msvc_store_i64(long long* p, long long v) {
    __int64 seen = *(volatile __int64*)p, was;
    while ((was = _InterlockedCompareExchange64((volatile __int64*)p, v, seen)) != seen)
        seen = was;
}
BP_ALWAYS_INLINE int bp_msvc_add_fetch_i32(int* p, int v) {
    return (int)_InterlockedExchangeAdd((volatile long*)p, (long)v) + v;
}
BP_ALWAYS_INLINE int bp_msvc_cas_i64(long long* p, long long* expected, long long desired) {
    __int64 seen = _InterlockedCompareExchange64((volatile __int64*)p, desired, *expected);
    if (seen == *expected) return 1;
    *expected = seen;
    return 0;
}
BP_ALWAYS_INLINE long long bp_msvc_add_fetch_i64(long long* p, long long v) {
    long long old = bp_msvc_load_i64(p);
    while (!bp_msvc_cas_i64(p, &old, old + v)) {}
    return old + v;
}
#  define bp_atomic_load_i32(p, order) bp_msvc_load_i32(p)
#  define bp_atomic_load_i64(p, order) bp_msvc_load_i64(p)
#  define bp_atomic_store_i32(p, v, order) bp_msvc_store_i32((p), (v))
#  define bp_atomic_store_i64(p, v, order) bp_msvc_store_i64((p), (v))
#  define bp_atomic_add_fetch_i32(p, v, order) bp_msvc_add_fetch_i32((p), (v))
#  define bp_atomic_add_fetch_i64(p, v, order) bp_msvc_add_fetch_i64((p), (v))
#  define bp_atomic_cas_i64(p, expected, desired, success, failure) \
       bp_msvc_cas_i64((p), (expected), (desired))
#else
#  error "bpfast: no atomics known for this compiler (GCC, clang or MSVC wanted)"
#endif

/* ---- eight-lane vectors -------------------------------------------------
   bp_v8d (8 doubles) and bp_v8f (8 floats). With GCC's vector extension
   (GCC, clang) they are vector_size types, and the compiler keeps each
   operation whole, lane for lane, in whatever instructions the target has.
   Elsewhere (MSVC; or any compiler, with BP_PORTABLE_VECTORS defined, which
   is how the fallback is tested) they are structs of eight lanes and the
   same operations are loops over the lanes: lane k is added to and
   multiplied with lane k only, in the same order, so the sums are the same
   whichever form is built (a lane's product and sum may be fused into one
   FMA where the compiler contracts, alike in both forms).
     BP_V8_LANE(v, k)           lane k (an lvalue)
     BP_V8_LOAD(v, p)           v = the 8 elements at p (any alignment)
     BP_V8_LOAD_F2D(v, p)       v (bp_v8d) = the 8 floats at p, as doubles
     BP_V8_MUL_ADD(acc, x, y)   acc += x * y
     BP_V8_ADD_TO(acc, x)       acc += x
     BP_V8D_ADD_ABS(acc, x)     acc += |x|           (bp_v8d)
     BP_V8_LANE_SUM(v)          ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))
     BP_V8_ZERO                 an initialiser of all lanes 0 */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(BP_PORTABLE_VECTORS)
#  define BP_HAVE_VECTOR_EXT 1
typedef double bp_v8d __attribute__((vector_size(64)));
typedef float bp_v8f __attribute__((vector_size(32)));
typedef long long bp_v8l __attribute__((vector_size(64)));
#  define BP_V8_ZERO {0}
#  define BP_V8_LANE(v, k) ((v)[k])
#  define BP_V8_LOAD(v, p) memcpy(&(v), (p), sizeof(v))
#  if defined(__has_builtin)
#    if __has_builtin(__builtin_convertvector)
#      define BP_HAVE_CONVERTVECTOR 1
#    endif
#  endif
#  if defined(BP_HAVE_CONVERTVECTOR)
#    define BP_V8_LOAD_F2D(v, p) do { bp_v8f bp_f_; memcpy(&bp_f_, (p), sizeof bp_f_); \
                                      (v) = __builtin_convertvector(bp_f_, bp_v8d); } while (0)
#  else
#    define BP_V8_LOAD_F2D(v, p) do { const float* bp_p_ = (p); int bp_k_;              \
                                      for (bp_k_ = 0; bp_k_ < 8; bp_k_++)              \
                                          (v)[bp_k_] = (double)bp_p_[bp_k_]; } while (0)
#  endif
#  define BP_V8_MUL_ADD(acc, x, y) ((acc) += (x) * (y))
#  define BP_V8_ADD_TO(acc, x) ((acc) += (x))
   /* |x|: every bit but the sign's (the scalar is taken for all lanes) */
#  define BP_V8D_ADD_ABS(acc, x) ((acc) += (bp_v8d)((bp_v8l)(x) & 0x7fffffffffffffffLL))
#else
#  define BP_HAVE_VECTOR_EXT 0
typedef struct { double v[8]; } bp_v8d;
typedef struct { float v[8]; } bp_v8f;
#  define BP_V8_ZERO {{0}}
#  define BP_V8_LANE(x, k) ((x).v[k])
#  define BP_V8_LOAD(x, p) memcpy(&(x), (p), sizeof(x))
#  define BP_V8_LOAD_F2D(x, p) do { const float* bp_p_ = (p); int bp_k_;              \
                                    for (bp_k_ = 0; bp_k_ < 8; bp_k_++)              \
                                        (x).v[bp_k_] = (double)bp_p_[bp_k_]; } while (0)
#  define BP_V8_MUL_ADD(acc, x, y) do { int bp_k_;                                     \
        for (bp_k_ = 0; bp_k_ < 8; bp_k_++)                                           \
            (acc).v[bp_k_] += (x).v[bp_k_] * (y).v[bp_k_]; } while (0)
#  define BP_V8_ADD_TO(acc, x) do { int bp_k_;                                         \
        for (bp_k_ = 0; bp_k_ < 8; bp_k_++) (acc).v[bp_k_] += (x).v[bp_k_]; } while (0)
#  define BP_V8D_ADD_ABS(acc, x) do { int bp_k_;                                       \
        for (bp_k_ = 0; bp_k_ < 8; bp_k_++) (acc).v[bp_k_] += fabs((x).v[bp_k_]); } while (0)
#endif
#define BP_V8_LANE_SUM(x)                                                             \
    (((BP_V8_LANE(x, 0) + BP_V8_LANE(x, 1)) + (BP_V8_LANE(x, 2) + BP_V8_LANE(x, 3)))  \
     + ((BP_V8_LANE(x, 4) + BP_V8_LANE(x, 5)) + (BP_V8_LANE(x, 6) + BP_V8_LANE(x, 7))))

/* ---- bits ---------------------------------------------------------------- */
/* the number of leading zero bits of x, which must not be 0 */
BP_ALWAYS_INLINE int bp_clz32(uint32_t x) {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_clz(x);
#elif defined(_MSC_VER)
    unsigned long top;
    _BitScanReverse(&top, (unsigned long)x);
    return 31 - (int)top;
#else
    int n = 0;
    while (!(x & 0x80000000U)) { x <<= 1; n++; }
    return n;
#endif
}

/* ---- the core ------------------------------------------------------------ */
/* a spin-wait hint: lets the core's other hardware thread run, saves power */
BP_ALWAYS_INLINE void bp_cpu_pause(void) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__ __volatile__("yield");
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    _mm_pause();
#elif defined(_MSC_VER) && (defined(_M_ARM64) || defined(_M_ARM))
    __yield();
#endif
}

/* a read prefetch of the cache line at p into every cache level */
#if defined(__GNUC__) || defined(__clang__)
#  define BP_PREFETCH_READ(p) __builtin_prefetch((p), 0, 3)
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#  define BP_PREFETCH_READ(p) _mm_prefetch((const char*)(p), _MM_HINT_T0)
#elif defined(_MSC_VER) && defined(_M_ARM64)
#  define BP_PREFETCH_READ(p) __prefetch((const void*)(p))
#else
#  define BP_PREFETCH_READ(p) ((void)(p))
#endif

/* ---- time and scheduling ------------------------------------------------- */
/* monotonic seconds (on Linux a vDSO call: ~20 ns, where taking the GIL to
   look for signals costs several times that) */
BP_INLINE double bp_seconds(void) {
#if defined(_WIN32)
    static double tick = 0.0;   /* seconds a count; the same for every thread */
    LARGE_INTEGER now;
    if (tick == 0.0) {
        LARGE_INTEGER f;
        QueryPerformanceFrequency(&f);
        tick = 1.0 / (double)f.QuadPart;
    }
    QueryPerformanceCounter(&now);
    return (double)now.QuadPart * tick;
#else
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
#endif
}

/* offer the core to another runnable thread */
BP_INLINE void bp_yield(void) {
#if defined(_WIN32)
    SwitchToThread();
#else
    sched_yield();
#endif
}

/* ---- sleeping until a word changes ---------------------------------------
   bp_futex_wait(addr, value): sleep while *addr == value, until a
   bp_futex_wake_all(addr), or spuriously (callers look again and loop).
   bp_futex_wake_all(addr): wake every thread asleep on addr; called after
   *addr was changed. A wake that follows the change is never lost: each
   path below compares *addr under the lock that the wake takes (the
   kernel's, or the parking lot's mutex). One path, chosen at compile time:

     BP_WAIT_FUTEX      Linux: the futex system call (private to the process)
     BP_WAIT_WINDOWS    Windows 8 and later (every Windows that Python 3.10
                        supports): WaitOnAddress / WakeByAddressAll, from
                        Synchronization.lib
     BP_WAIT_OS_SYNC    macOS 14.4 and later: os_sync_wait_on_address /
                        os_sync_wake_by_address_all (public since the 14.4
                        SDK; where the SDK has them but the running macOS is
                        older, the condition-variable path at run time)
     BP_WAIT_PORTABLE   everywhere else (older macOS SDKs, the BSDs), and on
                        any OS with BP_PORTABLE_WAIT defined (how CI tests it
                        on Linux): a parking lot of mutexes and condition
                        variables, pthreads' (SRW locks and condition
                        variables on Windows), picked by the word's address

   BP_WAIT_KIND names the path ("futex", ...). No path yields in a loop:
   sched_yield on a busy machine gives the core to nothing, and a team of
   threads that yield while their peer is preempted collapses (an iris fit
   250x slower on two threads than on one, before the futex wait). */
#if defined(__APPLE__) && defined(__has_include) && !defined(BP_PORTABLE_WAIT)
#  if __has_include(<os/os_sync_wait_on_address.h>)
#    define BP_HAVE_OS_SYNC_HEADER 1
#  endif
#endif
#if defined(BP_PORTABLE_WAIT)
#  define BP_WAIT_PORTABLE 1
#  define BP_WAIT_KIND "portable (condition variables)"
#elif defined(__linux__)
#  define BP_WAIT_FUTEX 1
#  define BP_WAIT_KIND "futex"
#elif defined(_WIN32)
#  define BP_WAIT_WINDOWS 1
#  define BP_WAIT_KIND "WaitOnAddress"
#elif defined(BP_HAVE_OS_SYNC_HEADER)
#  define BP_WAIT_OS_SYNC 1
#  define BP_WAIT_PORTABLE 1    /* the fallback before macOS 14.4 */
#  define BP_WAIT_KIND "os_sync_wait_on_address"
#else
#  define BP_WAIT_PORTABLE 1
#  define BP_WAIT_KIND "portable (condition variables)"
#endif

#if defined(BP_WAIT_PORTABLE)
/* The parking lot: a fixed set of mutex + condition variable pairs, set up
   statically (no call to make before the first wait, nothing to free), a
   word's pair picked by its address. Words that share a pair share its
   wakes: each waiter looks at its own word again and sleeps on. */
#  define BP_PARKING_SLOTS 16
#  if defined(_WIN32)
typedef struct { SRWLOCK lock; CONDITION_VARIABLE cond; } bp_parking;
#    define BP_PARKING_INIT {SRWLOCK_INIT, CONDITION_VARIABLE_INIT}
#    define bp_parking_lock(p) AcquireSRWLockExclusive(&(p)->lock)
#    define bp_parking_unlock(p) ReleaseSRWLockExclusive(&(p)->lock)
#    define bp_parking_sleep(p) SleepConditionVariableSRW(&(p)->cond, &(p)->lock, INFINITE, 0)
#    define bp_parking_wake(p) WakeAllConditionVariable(&(p)->cond)
#  else
typedef struct { pthread_mutex_t lock; pthread_cond_t cond; } bp_parking;
#    define BP_PARKING_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER}
#    define bp_parking_lock(p) pthread_mutex_lock(&(p)->lock)
#    define bp_parking_unlock(p) pthread_mutex_unlock(&(p)->lock)
#    define bp_parking_sleep(p) pthread_cond_wait(&(p)->cond, &(p)->lock)
#    define bp_parking_wake(p) pthread_cond_broadcast(&(p)->cond)
#  endif
#  define BP_PARKING_INIT4 BP_PARKING_INIT, BP_PARKING_INIT, BP_PARKING_INIT, BP_PARKING_INIT
BP_STATIC bp_parking bp_parking_lot[BP_PARKING_SLOTS] = {
    BP_PARKING_INIT4, BP_PARKING_INIT4, BP_PARKING_INIT4, BP_PARKING_INIT4};
BP_INLINE bp_parking* bp_parking_of(const int* addr) {
    /* words of one barrier lie within a cache line: hash the line */
    return &bp_parking_lot[((uintptr_t)addr >> 6) % BP_PARKING_SLOTS];
}
BP_INLINE void bp_parking_wait(int* addr, int value) {
    bp_parking* p = bp_parking_of(addr);
    bp_parking_lock(p);
    while (bp_atomic_load_i32(addr, BP_SEQ_CST) == value)
        bp_parking_sleep(p);
    bp_parking_unlock(p);
}
BP_INLINE void bp_parking_wake_all(int* addr) {
    bp_parking* p = bp_parking_of(addr);
    /* the waiter compares under the lock: taking it here means it either
       saw the new value or is asleep on the condition and gets this wake */
    bp_parking_lock(p);
    bp_parking_wake(p);
    bp_parking_unlock(p);
}
#endif

#if defined(BP_WAIT_FUTEX)
BP_INLINE void bp_futex_wait(int* addr, int value) {
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}
BP_INLINE void bp_futex_wake_all(int* addr) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
#elif defined(BP_WAIT_WINDOWS)
BP_INLINE void bp_futex_wait(int* addr, int value) {
    WaitOnAddress((volatile VOID*)addr, (PVOID)&value, sizeof value, INFINITE);
}
BP_INLINE void bp_futex_wake_all(int* addr) {
    WakeByAddressAll((PVOID)addr);
}
#elif defined(BP_WAIT_OS_SYNC)
BP_INLINE void bp_futex_wait(int* addr, int value) {
    if (__builtin_available(macOS 14.4, iOS 17.4, *)) {
        os_sync_wait_on_address((void*)addr, (uint64_t)(uint32_t)value, sizeof *addr,
                                OS_SYNC_WAIT_ON_ADDRESS_NONE);
    } else {
        bp_parking_wait(addr, value);
    }
}
BP_INLINE void bp_futex_wake_all(int* addr) {
    if (__builtin_available(macOS 14.4, iOS 17.4, *)) {
        os_sync_wake_by_address_all((void*)addr, sizeof *addr, OS_SYNC_WAKE_BY_ADDRESS_NONE);
    } else {
        bp_parking_wake_all(addr);
    }
}
#else
BP_INLINE void bp_futex_wait(int* addr, int value) { bp_parking_wait(addr, value); }
BP_INLINE void bp_futex_wake_all(int* addr) { bp_parking_wake_all(addr); }
#endif

#endif /* BPFAST_BP_COMPAT_H */
