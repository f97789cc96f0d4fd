/* bp_threads.h: the kernels' threads. OpenMP's team size, the kernel thread
   ids of the workers (for bpfast/_cpus.py), a sense-reversing barrier with
   spin-then-sleep waits, and an atomic add of doubles. */
#ifndef BPFAST_BP_THREADS_H
#define BPFAST_BP_THREADS_H

#include "bp_compat.h"

/* BP_OPENMP: 1 where the module was compiled with OpenMP; 0 in a serial
   build (a compiler without OpenMP: setup.py builds one, with a warning),
   where every parallel region runs on the calling thread alone */
#ifdef _OPENMP
#define BP_OPENMP 1
#include <omp.h>
BP_INLINE int bp_omp_max_threads(void) { return omp_get_max_threads(); }
BP_INLINE int bp_omp_team_size(void) { return omp_get_num_threads(); }
#else
#define BP_OPENMP 0
BP_INLINE int bp_omp_max_threads(void) { return 1; }
BP_INLINE int bp_omp_team_size(void) { return 1; }
#endif

/* The kernel thread ids of the OpenMP threads that last ran our work, by
   team thread number (0: none noted): after a region, libgomp's threads
   spin for a while before they sleep, and the running-task count that the
   thread claims read (bpfast/_cpus.py) would take them for another
   process's. Each thread asks the kernel once. Linux only: elsewhere none
   is noted. */
#define BP_MAX_WORKERS 256
BP_STATIC int bp_worker_tid[BP_MAX_WORKERS];
BP_INLINE void bp_note_worker(int t) {
#if defined(__linux__)
    static BP_THREAD_LOCAL int mine = 0;
    if (t <= 0 || t >= BP_MAX_WORKERS)
        return;
    if (mine == 0)
        mine = (int)syscall(SYS_gettid);
    if (bp_atomic_load_i32(&bp_worker_tid[t], BP_RELAXED) != mine)
        bp_atomic_store_i32(&bp_worker_tid[t], mine, BP_RELAXED);
#else
    (void)t;
#endif
}
BP_INLINE int bp_worker_tid_of(int t) {
    return bp_atomic_load_i32(&bp_worker_tid[t], BP_RELAXED);
}

/* A sense-reversing barrier for the threads of one team: two cores pass it
   in ~30 ns here, where libgomp's own barrier takes ~250 ns and a region's
   start and end ~550 ns, so an epoch of a small net can keep one team for
   all its minibatches. A waiting thread spins briefly (BP_SPINS pauses,
   ~60 us here), then sleeps on a futex until the last thread in wakes it,
   as libgomp's own waits do after their spin count: on a busy machine the
   thread it waits for may be off its core for a whole time slice, and a
   waiter that kept spinning (or looping on sched_yield, which gives a busy
   core's other tasks nothing) would hold a core that thread could have had.
   (The sleep is Linux's futex, Windows' WaitOnAddress, macOS's os_sync, or
   a condition variable: bp_compat.h; never a yield in a loop.) The
   time a thread spends in the barrier is added to *waited (seconds), for
   the team's tuner. One barrier per team, on the caller's stack. */
typedef struct { int count; int sense; int sleepers; } bp_barrier;
#define BP_SPINS 2048

/* Wait until *word != value: spin, then sleep (bp_futex_wait). */
BP_INLINE void bp_wait_while(int* word, int* sleepers, int value) {
    int spins = 0;
    while (bp_atomic_load_i32(word, BP_ACQUIRE) == value) {
        if (spins < BP_SPINS) { spins++; bp_cpu_pause(); continue; }
        /* announce the sleep before the word's last look (the kernel
           compares it again under its own lock), so that whoever changes
           the word after that look sees a sleeper to wake */
        bp_atomic_add_fetch_i32(sleepers, 1, BP_SEQ_CST);
        if (bp_atomic_load_i32(word, BP_SEQ_CST) == value)
            bp_futex_wait(word, value);
        bp_atomic_add_fetch_i32(sleepers, -1, BP_SEQ_CST);
    }
}

/* Set *word = value and wake whoever sleeps on it. */
BP_INLINE void bp_wake_all(int* word, int* sleepers, int value) {
    bp_atomic_store_i32(word, value, BP_SEQ_CST);
    if (bp_atomic_load_i32(sleepers, BP_SEQ_CST) > 0)
        bp_futex_wake_all(word);
}

/* *total += v, atomically (a compare-and-swap loop over its bits) */
BP_INLINE void bp_atomic_add_double(double* total, double v) {
    double old, upd;
    long long old_bits, new_bits;
    old_bits = bp_atomic_load_i64((long long*)total, BP_RELAXED);
    do {
        memcpy(&old, &old_bits, sizeof old);
        upd = old + v;
        memcpy(&new_bits, &upd, sizeof upd);
    } while (!bp_atomic_cas_i64((long long*)total, &old_bits, new_bits,
                                BP_ACQ_REL, BP_RELAXED));
}

BP_INLINE void bp_barrier_wait(bp_barrier* b, int n, int* local_sense, double* waited) {
    int s;
    double t0;
    if (n <= 1) return;   /* alone: the shared sense stays as it was */
    s = !*local_sense;
    *local_sense = s;
    t0 = bp_seconds();
    if (bp_atomic_add_fetch_i32(&b->count, 1, BP_ACQ_REL) == n) {
        bp_atomic_store_i32(&b->count, 0, BP_RELAXED);
        bp_wake_all(&b->sense, &b->sleepers, s);
    } else {
        bp_wait_while(&b->sense, &b->sleepers, !s);
    }
    *waited += bp_seconds() - t0;
}

#endif /* BPFAST_BP_THREADS_H */
