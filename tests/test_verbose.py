"""Progress output: ``verbose=1`` epoch lines and the ``verbose=2`` batch bar."""

import re
import sys

import numpy as np
import pytest

from sknn import MLPClassifierX, MLPRegressorX

LINE = re.compile(
    r"^Iteration (\d+), loss = ([0-9.]+)"
    r"(?:, validation score = ([-0-9.]+))?"
    r"(?:, validation loss = ([0-9.]+))?"
    r", lr = ([0-9.e+-]+), elapsed = ([0-9.]+)s$")


@pytest.fixture
def data(digits):
    X, y = digits
    return X[:300], y[:300]


def _epoch_lines(out):
    return [m for m in map(LINE.match, out.splitlines()) if m]


def test_verbose_0_prints_nothing(data, capsys):
    MLPClassifierX((8,), max_iter=3, random_state=0).fit(*data)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_verbose_1_one_line_per_epoch(data, capsys):
    clf = MLPClassifierX((8,), max_iter=4, verbose=1, random_state=0).fit(*data)
    out, _ = capsys.readouterr()
    lines = _epoch_lines(out)
    assert len(lines) == clf.n_iter_ == 4
    assert [int(m[1]) for m in lines] == [1, 2, 3, 4]
    np.testing.assert_allclose([float(m[2]) for m in lines], clf.loss_curve_,
                               rtol=1e-7)
    assert all(m[3] is None and m[4] is None for m in lines)
    elapsed = [float(m[6]) for m in lines]
    assert elapsed == sorted(elapsed)
    assert all(float(m[5]) > 0 for m in lines)


def test_verbose_1_reports_validation(data, capsys):
    clf = MLPClassifierX((8,), max_iter=3, verbose=1, early_stopping=True,
                         n_iter_no_change=10, random_state=0).fit(*data)
    out, _ = capsys.readouterr()
    lines = _epoch_lines(out)
    assert len(lines) == 3
    np.testing.assert_allclose([float(m[3]) for m in lines], clf.validation_scores_,
                               atol=1e-6)
    np.testing.assert_allclose([float(m[4]) for m in lines],
                               clf.validation_loss_curve_, rtol=1e-7)


def test_verbose_1_user_validation_set_regressor(data, capsys):
    X, y = data
    reg = MLPRegressorX(hidden_layer_sizes=(8,), max_iter=2, verbose=1,
                        random_state=0)
    reg.fit(X[:200], y[:200], X_val=X[200:], y_val=y[200:])
    out, _ = capsys.readouterr()
    lines = _epoch_lines(out)
    assert len(lines) == 2
    assert all(m[3] is not None and m[4] is not None for m in lines)


def test_verbose_1_prints_stopping_message(data, capsys):
    MLPClassifierX((8,), max_iter=50, tol=10.0, n_iter_no_change=2, verbose=1,
                   random_state=0).fit(*data)
    out, _ = capsys.readouterr()
    assert "did not improve more than tol" in out and "Stopping." in out


class _FakeBar:
    """Records what the engine asks of a tqdm bar."""

    instances = []

    def __init__(self, total=None, desc=None, **kwargs):
        self.total, self.desc, self.kwargs = total, desc, kwargs
        self.n = 0
        self.closed = False
        self.postfix = None
        _FakeBar.instances.append(self)

    def update(self, k=1):
        self.n += k

    def set_postfix_str(self, s, refresh=True):
        self.postfix = s

    def close(self):
        self.closed = True


def test_verbose_2_progress_bar_over_batches(data, capsys, monkeypatch):
    tqdm_auto = pytest.importorskip("tqdm.auto")
    monkeypatch.setattr(tqdm_auto, "tqdm", _FakeBar)
    _FakeBar.instances = []
    X, y = data
    clf = MLPClassifierX((8,), max_iter=3, batch_size=64, verbose=2,
                         random_state=0).fit(X, y)
    n_batches = -(-X.shape[0] // 64)
    bars = _FakeBar.instances
    assert len(bars) == clf.n_iter_ == 3  # one bar per epoch
    assert [b.desc for b in bars] == ["epoch 1", "epoch 2", "epoch 3"]
    assert all(b.total == n_batches and b.n == n_batches for b in bars)
    assert all(b.closed for b in bars)
    assert all(b.postfix.startswith("loss = ") for b in bars)
    out, _ = capsys.readouterr()
    assert len(_epoch_lines(out)) == 3  # the epoch lines are still printed


def test_verbose_2_real_tqdm_writes_to_stderr(data, capsys):
    pytest.importorskip("tqdm")
    MLPClassifierX((8,), max_iter=2, batch_size=100, verbose=2,
                   random_state=0).fit(*data)
    out, err = capsys.readouterr()
    assert len(_epoch_lines(out)) == 2
    assert "epoch 1" in err and "batch" in err


def test_verbose_2_without_tqdm_falls_back_to_epoch_lines(data, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    MLPClassifierX((8,), max_iter=2, verbose=2, random_state=0).fit(*data)
    out, err = capsys.readouterr()
    assert len(_epoch_lines(out)) == 2
    assert "epoch 1" not in err


def test_verbose_does_not_change_the_fit(data, capsys):
    a = MLPClassifierX((8,), max_iter=3, random_state=0).fit(*data)
    b = MLPClassifierX((8,), max_iter=3, verbose=2, random_state=0).fit(*data)
    capsys.readouterr()
    for ca, cb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(ca, cb)


def test_verbose_2_partial_fit_one_bar_per_call(data, capsys, monkeypatch):
    tqdm_auto = pytest.importorskip("tqdm.auto")
    monkeypatch.setattr(tqdm_auto, "tqdm", _FakeBar)
    _FakeBar.instances = []
    X, y = data
    clf = MLPClassifierX((8,), verbose=2, random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    clf.partial_fit(X, y)
    # Like scikit-learn, each partial_fit call counts its own iteration
    # (n_iter_ == 1); the bar's label agrees with the printed line.
    assert [b.desc for b in _FakeBar.instances] == ["epoch 1", "epoch 1"]
    assert all(b.closed for b in _FakeBar.instances)
    out, _ = capsys.readouterr()
    assert [int(m[1]) for m in _epoch_lines(out)] == [1, 1]
