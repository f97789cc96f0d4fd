"""Build of bpfast's compiled core (bpfast/_kernels.pyx).

Release build: -O3 with OpenMP, bounds checks off. A build from source on
               Linux also targets the building machine's vector units
               (-march=native: AVX2 / AVX-512 for the fused elementwise and
               optimizer loops; the GEMMs are BLAS's either way).
Portable:      BPFAST_PORTABLE=1 leaves -march out (wheels for other
               machines are built so).
Debug build:   BPFAST_DEBUG=1 pip install ...  -> -O0 -g, Cython bounds and
               initialisation checks on (the kernels' layout and index checks
               run in every build).
"""
import os
import platform
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("BPFAST_DEBUG", "0").strip() not in ("", "0")
PORTABLE = os.environ.get("BPFAST_PORTABLE", "0").strip() not in ("", "0")

if sys.platform == "win32":
    openmp_compile, openmp_link = ["/openmp"], []
    optimise = ["/Od", "/Zi"] if DEBUG else ["/O2", "/fp:fast"]
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

extensions = [
    Extension(
        "bpfast._kernels",
        ["bpfast/_kernels.pyx"],
        include_dirs=[np.get_include()],
        define_macros=macros,
        extra_compile_args=openmp_compile + optimise,
        extra_link_args=openmp_link,
    )
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

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
