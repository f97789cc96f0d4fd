"""Threads for the kernels.

The kernels thread everything themselves, with OpenMP: the GEMMs as grids of
tiles (one single-threaded BLAS call per tile, see _kernels.pgemm), the
elementwise passes and the optimizer updates by rows or fixed chunks.

How many threads (kernel_threads): OpenMP's budget (OMP_NUM_THREADS,
threadpoolctl's limits), and, unless OMP_NUM_THREADS is set, no more than
the CPUs the process may use (its affinity mask and cgroup CPU quota, see
_cpus), as scikit-learn's own OpenMP code does through joblib's cpu_count.

Calls running at once (fits or predictions in several Python threads:
GridSearchCV with the threading backend, a Dask worker's threads) share that
budget instead of each starting a full team (claim_threads): each call runs
on its own thread and takes what the others left of the budget for its
team, at least that one thread, so the threads beyond the calling ones
never exceed budget - 1. A fit claims its threads epoch by epoch (an L-BFGS
fit evaluation by evaluation): a team gives way to a call that arrives at
its next epoch, and grows back to the budget when the other calls end. Nothing depends on
how many threads a call gets but its speed: no result does.

Nor does a call start more threads than there are CPUs that other processes
leave idle at that moment (_cpus.idle_cpus, from /proc/loadavg's count of
running tasks; without /proc, from os.getloadavg()'s 1-minute load less this
process's own CPU time, and where neither exists, as on Windows, no such
cap). A parallel region ends at a barrier that waits for every
thread of the team, and a thread woken on a core that another process keeps
busy can wait a whole scheduling period for it: on 2 cores with one busy
process beside, a 2-thread pass over 235,000 weights (a fit's last check)
took 24 ms, against 0.1 ms on one thread. The kernels note their OpenMP
threads' ids, so that those still spinning after the last region (libgomp's
wait before it sleeps) count as this process's, not as load: counted as
load, they halved a quiet machine's threads from the second epoch or call
on. Load that comes after the claim is the epoch team's to handle
(_kernels.tune_step).

While a kernel runs, SciPy's BLAS (which the tiles call) is pinned to one
thread: its own worker threads would otherwise stack on top of the kernels'
(an epoch measured 2x slower on 2 cores), and a multithreaded BLAS call
rounds some elements differently depending on its thread count, where a
fixed grid of single-threaded calls gives the same bits under any thread
count. The pin is reference-counted, so fits and predictions running at once
in several Python threads share it, and the last one out restores BLAS's
thread count. Where threadpoolctl finds no BLAS (on Linux it lists the
libraries from /proc/self/maps, so none without /proc), nothing is pinned.
"""

import os
import threading
from contextlib import contextmanager

from . import _cpus, _kernels

_lock = threading.RLock()
_claimed = [0]   # kernel threads claimed by calls running now (claim_threads)
_blas = []  # the threadpoolctl controllers of SciPy's BLAS, found once
_pin = {"depth": 0, "saved": None}


def _scipy_blas_controllers():
    with _lock:
        if not _blas:
            from threadpoolctl import ThreadpoolController

            try:
                controllers = ThreadpoolController().lib_controllers
            except OSError:
                # threadpoolctl lists a Linux process's libraries from
                # /proc/self/maps: without /proc it sees none, and BLAS's
                # thread count can be neither told nor pinned
                controllers = []
            found = []
            for lib in controllers:
                if lib.user_api != "blas":
                    continue
                path = lib.filepath or ""
                # SciPy's cython_blas is its LP64 library (not the '64_' one).
                if "scipy" in path and "64_" not in os.path.basename(path):
                    found.insert(0, lib)
                else:
                    found.append(lib)
            _blas.append(found[:1] if found and "scipy" in (found[0].filepath or "")
                         else found)
    return _blas[0]


def blas_threads():
    """Threads SciPy's BLAS will use right now (1 if it cannot be told)."""
    libs = _scipy_blas_controllers()
    if not libs:
        return 1
    return max(int(lib.num_threads) for lib in libs)


def kernel_threads():
    """The kernels' thread budget right now: OpenMP's (OMP_NUM_THREADS,
    threadpoolctl's limits, which always win), and without OMP_NUM_THREADS
    no more than the CPUs the process may use (_cpus.default_threads)."""
    return _cpus.default_threads(max(1, int(_kernels.max_threads())))


def threads_claimed():
    """Kernel threads claimed by the calls running now (diagnostics, tests)."""
    return _claimed[0]


@contextmanager
def claim_threads(wanted):
    """Threads for one kernel call out of the process's budget, shared with
    the calls running at the same time: min(wanted, what the others left,
    the CPUs that other processes leave idle right now), at least 1 (the
    calling thread itself). Yields that count; gives it back on the way
    out."""
    wanted = max(1, int(wanted))
    with _lock:
        granted = max(1, min(wanted, kernel_threads() - _claimed[0]))
        if granted > 1:
            # no more threads than CPUs other processes leave idle: this
            # call's own thread, the threads claimed by others and the
            # kernels' OpenMP threads still spinning after their last
            # region are this process's, and the rest of what runs is not
            own = 1 + _claimed[0] + _cpus.running_threads(_kernels.worker_tids())
            idle = _cpus.idle_cpus(own=own)
            if idle is not None:
                granted = max(1, min(granted, idle - _claimed[0]))
        _claimed[0] += granted
    try:
        yield granted
    finally:
        with _lock:
            _claimed[0] -= granted


def _pin_functions():
    """(pin, restore) for SciPy's BLAS thread count, found once.

    OpenBLAS's openblas_set_num_threads_local (0.3.26+) takes effect whichever
    thread calls it; its openblas_set_num_threads, through which threadpoolctl
    works, was seen to be ignored when called from a thread other than the one
    that called it first. So the former is used where the library has it."""
    with _lock:
        if "pin" not in _pin:
            _pin["pin"] = None
            libs = _scipy_blas_controllers()
            if libs and libs[0].internal_api == "openblas":
                import ctypes

                try:
                    dll = ctypes.CDLL(libs[0].filepath)
                except OSError:
                    dll = None
                for name in ("openblas_set_num_threads_local",
                             "scipy_openblas_set_num_threads_local"):
                    fn = getattr(dll, name, None) if dll is not None else None
                    if fn is not None:
                        fn.restype = ctypes.c_int
                        fn.argtypes = [ctypes.c_int]
                        _pin["pin"] = (lambda fn=fn: fn(1), fn)
                        break
            if _pin["pin"] is None and libs:
                _pin["pin"] = set_num_threads_pin(libs)
    return _pin["pin"]


def set_num_threads_pin(libs):
    """(pin, restore) through threadpoolctl's set_num_threads: the fallback
    for a BLAS without openblas_set_num_threads_local."""
    def pin():
        saved = [lib.num_threads for lib in libs]
        for lib in libs:
            lib.set_num_threads(1)
        return saved

    def restore(saved):
        for lib, n in zip(libs, saved):
            lib.set_num_threads(n)
    return pin, restore


@contextmanager
def single_threaded_blas():
    """Pin SciPy's BLAS to one thread for the duration (reference-counted)."""
    functions = _pin_functions()
    if functions is None:   # no BLAS threadpoolctl can see: nothing to pin
        yield
        return
    pin, restore = functions
    with _lock:
        if _pin["depth"] == 0:
            _pin["saved"] = pin()
        _pin["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _pin["depth"] -= 1
            if _pin["depth"] == 0:
                restore(_pin["saved"])
                _pin["saved"] = None
