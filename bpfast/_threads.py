"""Thread budget for the kernels' OpenMP regions.

BLAS (SciPy's, which the kernels call) threads the large products itself.
Its worker threads spin for a while after each call; an OpenMP region run
in that window fights them for the cores (an epoch measured 2x slower on 2
cores). So the elementwise kernels use OpenMP only when SciPy's BLAS is
limited to one thread, and then as many threads as OpenMP allows
(OMP_NUM_THREADS, threadpoolctl's limits).
"""

import threading

from . import _kernels

_lock = threading.Lock()
_blas = []  # the threadpoolctl controller of SciPy's BLAS, found once


def _scipy_blas_controllers():
    with _lock:
        if not _blas:
            from threadpoolctl import ThreadpoolController

            found = []
            for lib in ThreadpoolController().lib_controllers:
                if lib.user_api != "blas":
                    continue
                path = lib.filepath or ""
                # SciPy's cython_blas is its LP64 library (not the '64_' one).
                if "scipy" in path and "64_" not in path.rsplit("/", 1)[-1]:
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
    """OpenMP threads for the elementwise kernels (see the module docstring)."""
    omp = max(1, int(_kernels.max_threads()))
    if omp == 1 or blas_threads() > 1:
        return 1
    return omp
