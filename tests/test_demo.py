"""``python -m sknn.demo``: the table, the figure, and missing optional parts."""

import subprocess
import sys

import pytest

import sknn
from sknn import demo


def test_demo_fast_prints_table_and_writes_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "demo.png"
    rows = demo.main(["--fast", "--figure", str(path)])
    out, _ = capsys.readouterr()
    assert "model" in out and "accuracy" in out and "recon MSE" in out
    names = [r.model for r in rows]
    assert any("MLPClassifierX pipeline + GridSearchCV" in n for n in names)
    assert any(n.startswith("sklearn MLPClassifier") for n in names)
    assert any("ConvClassifier" in n for n in names)
    assert any("AutoEncoderTransformer" in n for n in names)
    assert any(n.startswith("sklearn PCA(2)") for n in names)
    for r in rows:
        assert r.model in out
        if r.accuracy is not None:
            assert 0.0 <= r.accuracy <= 1.0 and r.seconds > 0
    search = rows[0]
    assert search.accuracy > 0.8  # even the fast mode learns the digits
    for name in ("ConvClassifier", "AutoEncoderTransformer"):
        row = next(r for r in rows if name in r.model)
        if hasattr(sknn, name):
            assert row.accuracy is not None
        else:
            assert row.accuracy is None and "skipped" in row.note
    pca = next(r for r in rows if r.model.startswith("sklearn PCA"))
    assert pca.recon is not None and pca.recon > 0
    assert path.exists() and path.stat().st_size > 10_000
    assert f"figure written to {path}" in out


def test_demo_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    path = tmp_path / "demo.png"
    assert demo.write_figure({}, None, str(path)) is None
    assert not path.exists()


def test_table_format(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = demo.format_table([demo.Row("a", 0.5, None, 1.0), demo.Row("b", note="x")])
    lines = table.splitlines()
    assert lines[0].startswith("model") and len(lines) == 3
    assert "0.5000" in lines[1] and "1.00" in lines[1]
    assert lines[2].split()[1:] == ["-", "-", "-", "x"]


def test_demo_help_runs_as_module():
    res = subprocess.run([sys.executable, "-m", "sknn.demo", "--help"],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "--figure" in res.stdout and "--fast" in res.stdout
