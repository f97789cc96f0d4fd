"""bpfast._random is the build of bpfast/_random.pyx (the random streams) for
this CPU, at the level bpfast/_dispatch.py chose for bpfast._kernels: the
same stub as bpfast/_kernels.py, which see. `_random.__name__` says which it
is (bpfast._random_v3, ...).
"""
import sys

from . import _dispatch

sys.modules[__name__] = _dispatch.load("_random")
