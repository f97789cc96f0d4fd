"""Build of bpfast's compiled core (bpfast/_kernels.pyx).

Sources:       bpfast/_kernels.pyx (Cython) and the C it calls, in headers
               under bpfast/src/ (bp_compat.h: what differs between GCC,
               clang and MSVC, and between Linux, macOS and Windows; then
               one header per concern), declared for Cython once in
               bpfast/_native.pxd. The headers are `depends` of the
               extension: editing one rebuilds it.
Compilers:     GCC (the default on Linux) and clang (CC=clang: setuptools
               links with $CC as well, so -fopenmp brings clang's libomp;
               Debian/Ubuntu: apt-get install clang libomp-dev) are built and
               tested (.ci/clang-tests.sh); MSVC has its branches in
               bp_compat.h but is neither built nor tested here.
Release build: -O3 with OpenMP, bounds checks off. A build from source on
               Linux also targets the building machine's vector units
               (-march=native: AVX2 / AVX-512 for the fused elementwise and
               optimizer loops; the GEMMs are BLAS's either way).
Portable:      BPFAST_PORTABLE=1 leaves -march out (wheels for other
               machines are built so).
Debug build:   BPFAST_DEBUG=1 pip install ...  -> -O0 -g, Cython bounds and
               initialisation checks on (the kernels' layout and index checks
               run in every build).

Every install (wheel or `pip install -e .`) also puts bpfast's startup hook,
bpfast-sklearn-patch.pth and _bpfast_startup.py, at the top of site-packages:
it applies bpfast.patch_sklearn() in Python processes started with
BPFAST_PATCH_SKLEARN set (see bpfast/_patch.py, bpfast/_startup.py) and does
nothing in any other.
"""
import glob
import os
import platform
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

DEBUG = os.environ.get("BPFAST_DEBUG", "0").strip() not in ("", "0")
PORTABLE = os.environ.get("BPFAST_PORTABLE", "0").strip() not in ("", "0")

if sys.platform == "win32":
    openmp_compile, openmp_link = ["/openmp"], []
    # /fp:precise, not /fp:fast: the kernels' sums are in a fixed order and
    # bp_exp's rounding trick ((x + 1.5 * 2^52) - 1.5 * 2^52) must not be
    # simplified away (GCC and clang build without -ffast-math likewise)
    optimise = ["/Od", "/Zi"] if DEBUG else ["/O2", "/fp:precise"]
elif sys.platform == "darwin":
    openmp_compile, openmp_link = ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    optimise = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno"]
else:
    openmp_compile, openmp_link = ["-fopenmp"], ["-fopenmp"]
    optimise = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno"]
    if not (DEBUG or PORTABLE) and platform.machine() in ("x86_64", "AMD64", "aarch64"):
        optimise.append("-march=native")

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")]
if DEBUG:
    macros.append(("BPFAST_DEBUG", "1"))

# bpfast's C: the headers and their declarations for Cython
C_HEADERS = sorted(glob.glob(os.path.join("bpfast", "src", "*.h")))
C_DECLARATIONS = [os.path.join("bpfast", "_native.pxd")]

extensions = [
    Extension(
        f"bpfast.{name}",
        [f"bpfast/{name}.pyx"],
        include_dirs=[np.get_include(), os.path.join("bpfast", "src")],
        depends=C_HEADERS + C_DECLARATIONS,
        define_macros=macros,
        extra_compile_args=openmp_compile + optimise,
        extra_link_args=openmp_link,
    )
    # the kernels' compiled unit (the hot path: one module, so that its
    # per-row functions inline), then what Python calls once per epoch or
    # fit: the random streams and the training buffers' memory
    for name in ("_kernels", "_random", "_memory")
]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "embedsignature": True,
}

# the startup hook: (source in bpfast/, name at the top of site-packages)
STARTUP_FILES = [(os.path.join("bpfast", "_sklearn_patch.pth"), "bpfast-sklearn-patch.pth"),
                 (os.path.join("bpfast", "_startup.py"), "_bpfast_startup.py")]


class build_py_with_pth(build_py):
    """build_py that also places the startup hook at the top of the install:
    in build_lib, which a wheel installs into site-packages; or, in an
    editable install, in the editable wheel's own directory (setuptools
    points the install command there), since the editable wheel carries no
    files of build_lib."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            target = self.get_finalized_command("install").install_lib
        else:
            target = self.build_lib
        self.mkpath(target)
        for source, name in STARTUP_FILES:
            self.copy_file(source, os.path.join(target, name), preserve_mode=False)


setup(ext_modules=cythonize(extensions, compiler_directives=directives),
      cmdclass={"build_py": build_py_with_pth})
