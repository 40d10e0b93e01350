"""Sphinx configuration of the sknn documentation.

Build (from the repository root, after ``pip install -e ".[docs]"``)::

    python -m sphinx -E -W --keep-going -b html docs docs/_build/html

``-W`` turns every warning into an error.  The gallery executes every script
in ``examples/``; ``SKNN_EXAMPLES_FAST=1`` in the environment runs the examples
in their seconds-long smoke mode (smaller data, fewer epochs) and
``SKNN_DOCS_NO_GALLERY=1`` skips executing them altogether.

Examples and API pages for estimators this checkout does not have yet (for
instance ``ConvClassifier`` while it is being written) are left out of the
build instead of failing it; the build prints which.
"""

import ast
import os
import re
import sys
from pathlib import Path

import sknn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

project = "sknn"
author = "the sknn developers"
copyright = "the sknn developers (BSD-3-Clause)"
release = sknn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/GALLERY_HEADER.rst"]
root_doc = "index"
default_role = "literal"

# -- what this checkout provides ---------------------------------------------
# Estimators written in parallel with the docs may be missing from ``sknn``;
# their API pages and the examples that import them are skipped, not failed.
OPTIONAL = {
    "ConvClassifier": "api_2_conv.rst",
    "AutoEncoderTransformer": "api_3_autoencoder.rst",
}
missing = sorted(name for name in OPTIONAL if not hasattr(sknn, name))
exclude_patterns += [OPTIONAL[name] for name in missing]


def _sknn_imports(path):
    """Names an example imports from ``sknn`` (``from sknn import A, B``)."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    return {alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "sknn"
            for alias in node.names}


skipped_examples = sorted(
    p.name for p in (ROOT / "examples").glob("plot_*.py")
    if any(not hasattr(sknn, name) for name in _sknn_imports(p)))
ignore = [r"__init__\.py"] + [re.escape(name) for name in skipped_examples]
if missing:
    print(f"sknn docs: {', '.join(missing)} not in this checkout; skipping "
          f"{', '.join(OPTIONAL[m] for m in missing)} and examples "
          f"{', '.join(skipped_examples) or '(none)'}")
for name in missing:
    tags.add(f"no_{name}")  # noqa: F821  (``tags`` is provided by Sphinx)
for name in OPTIONAL:
    if name not in missing:
        tags.add(f"has_{name}")  # noqa: F821

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False

# -- sphinx-gallery -------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": "|".join(ignore),
    "plot_gallery": "False" if os.environ.get("SKNN_DOCS_NO_GALLERY") else "True",
    # Re-run every example on every build (not only edited ones), so the
    # gallery always shows what the current sknn does.
    "run_stale_examples": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
}

# -- HTML ------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sknn {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_sidebars = {"index": [], "getting_started": [], "migrating": [],
                 "performance": []}
html_show_sourcelink = False


# -- build-time hooks ------------------------------------------------------------
_ONLY_BLOCK = re.compile(r"^\.\. only:: has_(\w+)\n(?:\n|[ \t]+.*\n)*", re.MULTILINE)
_SHAPE = re.compile(r"\bof shape \(([^()`]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"\b(\w+_)(?=[,)\s]|$)")


def _drop_missing_blocks(app, docname, source):
    """Remove ``.. only:: has_<Estimator>`` blocks for missing estimators.

    The blocks hold cross-references to gallery pages that do not exist
    while the estimator is missing; Sphinx's own ``only`` filtering runs too
    late to silence those references, so they are removed at read time.
    """
    source[0] = _ONLY_BLOCK.sub(
        lambda m: "" if m.group(1) in missing else m.group(0), source[0])


def _quote_shape_attrs(app, what, name, obj, options, lines):
    """Quote fitted attributes in shapes: ``(n_samples, `n_features_in_`)``.

    scikit-learn writes them quoted; a bare ``name_`` is a reStructuredText
    hyperlink reference and fails the build.
    """
    def quote(match):
        return "of shape (" + _TRAILING_UNDERSCORE.sub(r"`\1`", match.group(1)) + ")"

    lines[:] = [_SHAPE.sub(quote, line) for line in lines]


def _unlink_sklearn_refs(app, env, node, contnode):
    """Render cross-references in docstrings inherited from scikit-learn as text.

    Methods such as ``score`` or ``set_fit_request`` come with scikit-learn's
    docstrings, whose references point into scikit-learn's own documentation
    (glossary terms, user-guide labels) that this site does not have.
    """
    if "docstring of sklearn." in (node.source or ""):
        return contnode
    return None


def setup(app):
    app.connect("source-read", _drop_missing_blocks)
    app.connect("missing-reference", _unlink_sklearn_refs)
    app.connect("autodoc-process-docstring", _quote_shape_attrs, priority=400)
