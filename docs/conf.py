"""Sphinx configuration of the fastmc documentation (build: ``bash docs/build``)."""
import os

# one BLAS thread: the examples' small products thrash with more on a shared machine
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import fastmc  # noqa: E402

project = "fastmc"
author = "the fastmc authors"
copyright = "2026, the fastmc authors"
release = version = fastmc.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "build", "examples/README.txt", "examples/results"]
templates_path = []
default_role = "py:obj"

# -- API reference from the docstrings -------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"          # the numpydoc "Parameters" sections say the types
autodoc_default_options = {"members": True}  # class pages document their methods
numpydoc_show_class_members = False  # each class page lists its members through autosummary
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {}  # no network at build time: links to numpy/arviz are plain text

# -- doctest ---------------------------------------------------------------------------------
doctest_global_setup = """
import numpy as np
import fastmc
"""

# -- gallery ---------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",      # every plot_*.py runs at build time (seconds each)
    "ignore_pattern": r"results/",     # the VAE results and the script that makes its images
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "min_reported_time": 0,
}

# -- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastmc {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []
html_show_sourcelink = False
