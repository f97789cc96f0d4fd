"""Sphinx configuration of bpfast's documentation.

Build (warnings are errors):

    pip install -e ".[docs]" && python -m sphinx -W -b html docs docs/_build/html

Nothing here needs the network: no intersphinx inventories are fetched, and
the gallery examples (examples/plot_*.py) run on this machine.
"""
import os
import re
import sys
from pathlib import Path

# the gallery's figures are drawn off screen
os.environ.setdefault("MPLBACKEND", "Agg")

HERE = Path(__file__).resolve().parent
# docs/_sorting.py: the order of the gallery's examples
sys.path.insert(0, str(HERE))

import bpfast  # noqa: E402

project = "bpfast"
author = "bpfast developers"
copyright = "bpfast developers"
version = release = bpfast.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    # sphinx-gallery's own files, included from the gallery pages
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.json",
    "sg_execution_times.rst",
]

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autodoc_default_options = {"member-order": "groupwise"}
autodoc_typehints = "none"
# "fit()" rather than "MLPClassifier.fit()" in a page's table of contents
toc_object_entries_show_parents = "hide"
# the methods are listed by the class template (_templates/autosummary/class.rst)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- MyST (the Markdown pages: docs/*.md) ------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
# anchors for the pages' ## and ### headings, so that "page.md#a-heading" links resolve
myst_heading_anchors = 3

# -- sphinx-gallery ----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # only the plot_*.py examples run; examples/dask_*.py are command-line
    # scripts (argparse, a real cluster), kept out of the gallery
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__\.py|(^|[/\\])dask_[a-z_]+\.py)$",
    "within_subsection_order": "_sorting.ExampleOrder",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "reference_url": {"bpfast": None},
    "doc_module": ("bpfast",),
    "backreferences_dir": None,
    "show_memory": False,
    "show_signature": False,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"bpfast {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    # Examples and API reference in the header; the user guide's pages in
    # its dropdown
    "header_links_before_dropdown": 2,
    "header_dropdown_text": "User guide",
    "show_prev_next": False,
    # the methods under their class in a page's table of contents
    "show_toc_level": 2,
    "navigation_with_keys": False,
    # the examples' pages give their width to the code
    "secondary_sidebar_items": {"*": ["page-toc"], "generated/*": ["page-toc"],
                                "auto_examples/*": []},
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# no section navigation on the top-level pages (the front page, the API
# reference, the user guide's pages: none has sub-pages to list) nor on the
# gallery's front page; the examples' and the API's pages list their siblings
html_sidebars = {"*": [], "auto_examples/index": []}


# -- docstrings --------------------------------------------------------------
_SKLEARN_REF = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^>`]*>)?`")


def _unlink_sklearn_refs(app, what, name, obj, options, lines):
    """The docstrings bpfast's estimators inherit from scikit-learn (score)
    link into scikit-learn's user guide, which has no target here: keep the
    links' text."""
    if name.startswith("bpfast") and getattr(obj, "__module__", "").startswith("sklearn."):
        lines[:] = [_SKLEARN_REF.sub(r"\1", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _unlink_sklearn_refs)
