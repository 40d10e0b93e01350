"""Issue 7, interruption and divergence: a KeyboardInterrupt during fit, a
diverging fit, and failed fits leaving the estimator unchanged.

Every estimator is covered (``ConvClassifier`` and ``AutoEncoderTransformer``
automatically once importable from ``sknn``).
"""

import numpy as np
import pytest
from _extras import (
    NAMES,
    SPECS,
    assert_same_weights,
    data,
    fit,
    flat_params,
    make,
    outputs,
    partial_fit,
)

from sknn import _optim
from sknn._engine import DivergenceError


# -- divergence -----------------------------------------------------------------
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("name", NAMES)
def test_divergence_detected_in_the_batch_it_happens(name, solver, monkeypatch):
    import sknn._engine as engine

    est, kind = make(name, solver=solver, learning_rate_init=1e200, batch_size=10,
                     max_iter=50)
    X, y = data(kind)
    losses = []
    original = engine.link_loss_grad

    def recording(*args):
        loss = original(*args)
        losses.append(loss)
        return loss

    monkeypatch.setattr(engine, "link_loss_grad", recording)
    with pytest.raises(ValueError, match="non-finite.*learning_rate_init=1e\\+200") as e:
        fit(est, kind, X, y)
    assert isinstance(e.value, DivergenceError)
    bad = [i for i, v in enumerate(losses) if not np.isfinite(v)]
    # Raised at the first non-finite batch loss (or, when the weights overflow
    # on an epoch's last batch, by the end-of-epoch check): never later.
    assert not bad or bad[0] == len(losses) - 1, (bad, len(losses))
    assert len(losses) <= 2 * 4  # within the first two epochs of 4 batches
    assert not hasattr(est, "coefs_") and not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("name", NAMES)
def test_divergence_keeps_the_previous_model(name):
    est, kind = make(name, warm_start=True)
    X, y = data(kind)
    fit(est, kind, X, y)
    saved = [a.copy() for a in est.coefs_ + est.intercepts_]
    ref = outputs(est, kind, X)

    def assert_unchanged():
        for a, b in zip(saved, est.coefs_ + est.intercepts_):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(outputs(est, kind, X), ref)
    n_iter, curve = est.n_iter_, list(est.loss_curve_)

    # warm start with a learning rate that overflows
    est.set_params(learning_rate_init=1e200)
    with pytest.raises(ValueError, match="non-finite"):
        fit(est, kind, X, y)
    assert_unchanged()
    assert est.n_iter_ == n_iter and est.loss_curve_ == curve

    # partial_fit on data that overflows the forward pass (finite input)
    with pytest.raises(ValueError, match="non-finite"):
        partial_fit(est, kind, X * 1e308, y)
    assert_unchanged()

    # L-BFGS: a non-finite objective is an error, not a model with loss_=nan
    est.set_params(solver="lbfgs", warm_start=False)
    with pytest.raises(ValueError, match="lbfgs.*non-finite"):
        fit(est, kind, X * 1e308, y)
    assert_unchanged()


# -- interruption -----------------------------------------------------------------
def _interrupt_after_step(monkeypatch, solver, at):
    """Raise KeyboardInterrupt right after optimizer step number ``at``."""
    cls = _optim.Adam if solver == "adam" else _optim.SGD
    original = cls.step
    state = {"steps": 0, "params": None}

    def step(self, params, *args):
        out = original(self, params, *args)
        state["steps"] += 1
        if state["steps"] == at:
            state["params"] = params.copy()
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(cls, "step", step)
    return state


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("name", NAMES)
def test_interrupt_stops_after_the_current_batch(name, solver, monkeypatch):
    est, kind = make(name, solver=solver, batch_size=10, max_iter=20)
    X, y = data(kind)  # 4 batches per epoch
    state = _interrupt_after_step(monkeypatch, solver, at=6)  # epoch 2, batch 2
    with pytest.warns(UserWarning, match="interrupted"):
        assert fit(est, kind, X, y) is est
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 1
    # the published weights are exactly those after the interrupted batch
    np.testing.assert_array_equal(flat_params(est), state["params"])
    out = outputs(est, kind, X)
    assert np.isfinite(out).all()
    if kind != "transformer":
        est.predict(X)
    # training can continue
    partial_fit(est, kind, X, y)
    est.set_params(warm_start=True)
    fit(est, kind, X, y)
    assert np.isfinite(outputs(est, kind, X)).all()


@pytest.mark.parametrize("name", NAMES)
def test_interrupt_with_early_stopping_keeps_the_best_weights(name, monkeypatch):
    params = dict(early_stopping=True, validation_fraction=0.25, batch_size=10,
                  n_iter_no_change=100, learning_rate_init=0.05)
    X, y = data(SPECS[name][0], n=40)  # 30 training rows: 3 batches per epoch
    ref, kind = make(name, max_iter=3, **params)
    fit(ref, kind, X, y)
    est, _ = make(name, max_iter=20, **params)
    _interrupt_after_step(monkeypatch, "adam", at=3 * 3 + 2)  # inside epoch 4
    with pytest.warns(UserWarning, match="interrupted"):
        fit(est, kind, X, y)
    assert est.n_iter_ == 3 and len(est.validation_scores_) == 3
    assert_same_weights(est, ref)  # best of the 3 finished epochs, as ref
    assert np.isfinite(outputs(est, kind, X)).all()


@pytest.mark.parametrize("name", NAMES)
def test_interrupt_lbfgs_keeps_the_best_point(name, monkeypatch):
    import sknn._engine as engine

    est, kind = make(name, solver="lbfgs", max_iter=200)
    X, y = data(kind)
    original = engine.make_objective
    seen = []

    def make_objective(*args, **kwargs):
        fun = original(*args, **kwargs)

        def interrupted(theta):
            if len(seen) == 8:
                raise KeyboardInterrupt
            loss, grad = fun(theta)
            seen.append((loss, theta.copy()))
            return loss, grad

        return interrupted

    monkeypatch.setattr(engine, "make_objective", make_objective)
    with pytest.warns(UserWarning, match="interrupted"):
        fit(est, kind, X, y)
    best_loss, best_theta = min(seen, key=lambda s: s[0])
    assert est.loss_ == best_loss
    np.testing.assert_array_equal(flat_params(est), best_theta)
    assert np.isfinite(outputs(est, kind, X)).all()


def test_interrupt_before_the_first_fit_leaves_estimator_unfitted(monkeypatch):
    """A KeyboardInterrupt outside the epoch loop propagates; nothing is set."""
    import sknn._base as base

    est, kind = make("MLPClassifierX")
    X, y = data(kind)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(base, "build_network", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(est, kind, X, y)
    assert not hasattr(est, "n_features_in_") and not hasattr(est, "classes_")
