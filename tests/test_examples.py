"""Run every gallery example in its fast mode, so the examples cannot rot.

Each ``examples/plot_*.py`` honours ``SKNN_EXAMPLES_FAST=1`` (less data, fewer
epochs).  Examples that import an estimator this checkout does not have yet
are skipped, as the documentation build skips them.
"""

import ast
import runpy
from pathlib import Path

import pytest

import sknn

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))


def _sknn_imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "sknn"
            for alias in node.names}


def test_examples_found():
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    missing = sorted(n for n in _sknn_imports(path) if not hasattr(sknn, n))
    if missing:
        pytest.skip(f"sknn has no {', '.join(missing)} yet")
    monkeypatch.setenv("SKNN_EXAMPLES_FAST", "1")
    monkeypatch.chdir(tmp_path)
    try:
        runpy.run_path(str(path), run_name="__main__")
        assert plt.get_fignums(), "the example drew no figure"
    finally:
        plt.close("all")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_a_gallery_script(path):
    text = path.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(text), clean=False)
    assert doc, "a sphinx-gallery example starts with a docstring"
    over, title, under = doc.strip("\n").splitlines()[:3]
    assert set(over) == {"="} and set(under) == {"="} and len(under) >= len(title)
    assert "SKNN_EXAMPLES_FAST" in text
