"""The documentation's sources stay complete (without building Sphinx, which
is too slow for the suite: .ci/docs.sh builds it)."""
import ast
import pathlib
import re

import pytest

import bpfast

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"


def _api_names(module):
    """The names that docs/api.rst lists under `.. currentmodule:: module`."""
    text = (DOCS / "api.rst").read_text()
    names, current = set(), None
    for line in text.splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            current = match.group(1)
        elif current == module and re.match(r"^   [A-Za-z_]\w*$", line):
            names.add(line.strip())
    return names


def test_api_reference_lists_every_public_name():
    documented = _api_names("bpfast")
    public = set(bpfast.__all__) - {"__version__"}
    assert public <= documented, sorted(public - documented)


def test_api_reference_lists_every_public_name_of_bpfast_dask():
    import bpfast.dask     # the test extra installs Dask

    documented = _api_names("bpfast.dask")
    assert set(bpfast.dask.__all__) - {"__version__"} <= documented


GALLERY = sorted(EXAMPLES.glob("plot_*.py"))


def test_the_gallery_has_examples():
    assert len(GALLERY) >= 8


@pytest.mark.parametrize("path", GALLERY, ids=[p.name for p in GALLERY])
def test_each_gallery_example_has_a_docstring_title(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    assert docstring, f"{path.name} has no docstring"
    lines = docstring.strip("\n").splitlines()
    # sphinx-gallery's title: the first line, underlined with = as long
    assert len(lines) >= 3 and lines[0].strip(), path.name
    assert set(lines[1]) == {"="} and len(lines[1]) >= len(lines[0]), path.name
    assert lines[2].strip() == "" and any(line.strip() for line in lines[3:]), \
        f"{path.name}: a title, a blank line, then an explanation"


def test_gallery_has_a_header():
    assert (EXAMPLES / "README.txt").is_file() or (EXAMPLES / "GALLERY_HEADER.rst").is_file()


def test_the_front_page_takes_in_every_markdown_page():
    """index.rst's toctree ends with the glob "*", which takes in every
    docs/*.md not listed before it."""
    index = (DOCS / "index.rst").read_text()
    toctree = index.split(".. toctree::", 1)[1]
    assert ":glob:" in toctree
    entries = [line.strip() for line in toctree.splitlines()
               if line.startswith("   ") and line.strip()
               and not line.strip().startswith(":")]
    assert entries[-1] == "*"
    assert {"api", "auto_examples/index"} <= set(entries)
