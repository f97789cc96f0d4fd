"""bpfast._kernels is the build of bpfast/_kernels.pyx for this CPU.

setup.py compiles the kernels once per instruction-set level, as the modules
bpfast._kernels_baseline, _kernels_v3 and _kernels_v4 (x86-64; elsewhere the
baseline only). This module imports the one bpfast._dispatch picks and puts
it in its own place in sys.modules, so `from bpfast import _kernels`,
attributes set on it (tests' monkeypatching), pickles of its functions
(which name bpfast._kernels) and Cython cimports of bpfast._kernels all
reach that one module. `_kernels.__name__` says which it is.
"""
import sys

from . import _dispatch

sys.modules[__name__] = _dispatch.load()
