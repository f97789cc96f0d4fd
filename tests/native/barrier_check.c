/* barrier_check.c: bpfast's thread barrier (bp_threads.h) and the OS
   primitives under it (bp_compat.h: atomics, clock, the sleeping wait),
   exercised without Python, so that they can be built for and run on
   another OS: .ci/windows-headers.sh builds it with MinGW-w64 and runs it
   under Wine; it builds on Linux too (cc -O2 -D_GNU_SOURCE -pthread -I bpfast/src).

   Each of T threads (more than the machine's cores, so that waiters sleep
   as well as spin) passes the barrier R times; before each pass every
   thread adds its id + 1 to the round's slot, and after it each checks that
   the round's sum is complete: a thread let through early sees it short. Then the same with the team's
   threads pausing at random, so that the others reach the sleep. Exit 0 and
   one line of figures, or a message and exit 1. */
#include "bp_threads.h"
#include <stdio.h>
#include <stdlib.h>

#define T 6
#define R 3000

static bp_barrier barrier;
static long long sums[R];
static int failures;

typedef struct { int id; int naps; double waited; } worker;

static void nap(void) {
#if defined(_WIN32)
    Sleep(1);
#else
    struct timespec t = {0, 1000000};
    nanosleep(&t, NULL);
#endif
}

static void run(worker* w) {
    int sense = 0, r;
    unsigned int seed = 12345u + (unsigned)w->id;
    for (r = 0; r < R; r++) {
        bp_atomic_add_fetch_i64(&sums[r], (long long)(w->id + 1), BP_RELAXED);
        if (w->naps && (seed = seed * 1103515245u + 12345u) % 997u == 0) nap();
        bp_barrier_wait(&barrier, T, &sense, &w->waited);
        if (bp_atomic_load_i64(&sums[r], BP_RELAXED) != (long long)T * (T + 1) / 2)
            bp_atomic_add_fetch_i32(&failures, 1, BP_RELAXED);
    }
}

#if defined(_WIN32)
static DWORD WINAPI start(LPVOID arg) { run((worker*)arg); return 0; }
#else
static void* start(void* arg) { run((worker*)arg); return NULL; }
#endif

static int phase(int naps, const char* name) {
    worker w[T];
    int i;
    double t0, waited = 0.0;
#if defined(_WIN32)
    HANDLE h[T];
#else
    pthread_t h[T];
#endif
    memset(sums, 0, sizeof sums);
    memset(&barrier, 0, sizeof barrier);
    failures = 0;
    t0 = bp_seconds();
    for (i = 0; i < T; i++) {
        w[i].id = i; w[i].naps = naps; w[i].waited = 0.0;
#if defined(_WIN32)
        h[i] = CreateThread(NULL, 0, start, &w[i], 0, NULL);
        if (!h[i]) { fprintf(stderr, "CreateThread failed\n"); return 1; }
#else
        if (pthread_create(&h[i], NULL, start, &w[i])) { fprintf(stderr, "pthread_create failed\n"); return 1; }
#endif
    }
    for (i = 0; i < T; i++) {
#if defined(_WIN32)
        WaitForSingleObject(h[i], INFINITE);
        CloseHandle(h[i]);
#else
        pthread_join(h[i], NULL);
#endif
        waited += w[i].waited;
    }
    printf("%s: %d threads x %d barriers in %.3f s (%.2f us a barrier, "
           "%.3f s waited in all), %d incomplete rounds\n", name, T, R, bp_seconds() - t0,
           1e6 * (bp_seconds() - t0) / R, waited, failures);
    return failures != 0;
}

int main(void) {
    double t0 = bp_seconds(), t1;
    int bad;
    printf("barrier_check: %s, wait by %s, OpenMP %s\n", BP_COMPILER, BP_WAIT_KIND,
           BP_OPENMP ? "yes" : "no");
    bad = phase(0, "tight");
    bad |= phase(1, "with naps");
    t1 = bp_seconds();
    if (!(t1 > t0)) { fprintf(stderr, "the clock did not advance\n"); bad = 1; }
    printf(bad ? "barrier_check: FAILED\n" : "barrier_check: ok\n");
    return bad;
}
