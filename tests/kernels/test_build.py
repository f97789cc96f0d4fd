"""How the compiled core was built: the compiler it names, and its C kept in
the headers under bpfast/src/ (declared once, in bpfast/_native.pxd)."""
import re
from pathlib import Path

import pytest

import bpfast
from bpfast import _kernels

# the package: the source tree's bpfast/ (an installed wheel has no C sources)
PKG = Path(bpfast.__file__).resolve().parent


def test_compiler_is_named():
    # "gcc 12.2.0", "clang 14.0.6", "msvc 194..." (bp_compat.h's BP_COMPILER)
    assert re.fullmatch(r"(gcc|clang|msvc) [0-9.]+|unknown", _kernels.COMPILER)
    assert isinstance(_kernels.DEBUG_BUILD, bool)


def test_c_lives_in_headers_not_in_cython_strings():
    if not (PKG / "_native.pxd").is_file():
        pytest.skip("an installed bpfast, without its C sources")
    for source in [*PKG.glob("*.pyx"), *PKG.glob("*.pxi")]:
        assert "cdef extern from *" not in source.read_text(), source.name
    headers = sorted(p.name for p in (PKG / "src").glob("*.h"))
    assert "bp_compat.h" in headers
    declared = re.findall(r'cdef extern from "(bp_\w+\.h)"',
                          (PKG / "_native.pxd").read_text())
    assert sorted(set(declared)) == headers
    for name in headers:
        text = (PKG / "src" / name).read_text()
        guard = "BPFAST_" + name[:-2].upper() + "_H"
        assert f"#ifndef {guard}\n#define {guard}\n" in text, name
        if name != "bp_compat.h":
            assert '#include "bp_compat.h"' in text, name
