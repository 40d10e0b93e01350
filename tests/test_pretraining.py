"""Pretraining and fine-tuning (issue 25, item 5): ``init`` with a fitted
estimator, and ``frozen_layers``.

Oracles: with a learning rate of 0 a fit leaves every weight where ``init``
put it, so the first layers equal the autoencoder's encoder (or the source
network's layers) bit for bit; frozen layers equal their starting values
after real training, for every solver, with L2 on, while the other layers
move.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score

from sknn import (
    AutoEncoderTransformer,
    ConvClassifier,
    ConvRegressor,
    MLPClassifierX,
    MLPRegressorX,
)


def _zero(epoch):
    """``lr_schedule``: a learning rate of 0 (module level: estimators pickle)."""
    return 0.0


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


@pytest.fixture(scope="module")
def ae(digits):
    X, _ = digits
    return quiet(AutoEncoderTransformer(n_components=8, hidden_layer_sizes=(16,),
                                        max_iter=5, random_state=0).fit, X)


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b)) and len(a) == len(b)


# -- init with a fitted autoencoder ----------------------------------------------
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("tied", [False, True])
def test_zero_learning_rate_keeps_the_encoder(digits, solver, tied):
    X, y = digits
    ae = quiet(AutoEncoderTransformer(8, (16,), tied_weights=tied, max_iter=5,
                                      random_state=0).fit, X)
    clf = quiet(MLPClassifierX((16, 8, 6), init=ae, solver=solver, lr_schedule=_zero,
                               alpha=0.0, max_iter=3, random_state=1).fit, X, y)
    assert _same(clf.coefs_[:2], ae.coefs_[:2])
    assert _same(clf.intercepts_[:2], ae.intercepts_[:2])
    # The other layers start as without init (the same draws).
    plain = quiet(MLPClassifierX((16, 8, 6), solver=solver, lr_schedule=_zero,
                                 alpha=0.0, max_iter=3, random_state=1).fit, X, y)
    assert _same(clf.coefs_[2:], plain.coefs_[2:])
    assert not np.array_equal(clf.coefs_[0], plain.coefs_[0])
    # The MLP's features start as the autoencoder's code (same activations).
    clf8 = quiet(MLPClassifierX((16, 8), activation=["relu", "identity"], init=ae,
                                solver=solver, lr_schedule=_zero, max_iter=2,
                                random_state=0).fit, X, y)
    np.testing.assert_allclose(clf8.transform(X), ae.transform(X), rtol=1e-12)


def test_float32_and_regressor(digits, ae):
    X, y = digits
    reg = quiet(MLPRegressorX(hidden_layer_sizes=(16, 8), init=ae, lr_schedule=_zero,
                              max_iter=2, random_state=0).fit, X.astype(np.float32),
                y.astype(float))
    assert reg.coefs_[0].dtype == np.float32
    assert _same(reg.coefs_[:2], [c.astype(np.float32) for c in ae.coefs_[:2]])


def test_pretrained_features_then_training_moves_them(digits, ae):
    X, y = digits
    clf = quiet(MLPClassifierX((16, 8), init=ae, learning_rate_init=0.01, max_iter=5,
                               random_state=0).fit, X, y)
    assert not np.array_equal(clf.coefs_[0], ae.coefs_[0])
    # warm_start continues from the classifier's own weights, not init's.
    before = [c.copy() for c in clf.coefs_]
    clf.set_params(warm_start=True, lr_schedule=_zero)
    quiet(clf.fit, X, y)
    assert _same(clf.coefs_, before)


# -- frozen layers ----------------------------------------------------------------
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("k", [1, 2])
def test_frozen_layers_do_not_move_and_the_others_do(digits, ae, solver, k):
    X, y = digits
    seen = []  # the first layer's weights each epoch, as callbacks see them
    clf = MLPClassifierX((16, 8, 6), init=ae, frozen_layers=k, solver=solver,
                         alpha=0.5, learning_rate_init=0.01, max_iter=5,
                         callbacks=[lambda est, rec: seen.append(est.coefs_[0])],
                         random_state=0)
    quiet(clf.fit, X, y)
    assert len(seen) == clf.n_iter_ and _same(seen, [ae.coefs_[0]] * len(seen))
    assert _same(clf.coefs_[:k], ae.coefs_[:k])
    assert _same(clf.intercepts_[:k], ae.intercepts_[:k])
    # the starting weights: the same draws, not trained
    start = quiet(clone(clf).set_params(solver="sgd", lr_schedule=_zero,
                                        max_iter=1).fit, X, y)
    assert _same(start.coefs_[:2], ae.coefs_[:2])
    for j in range(k, 4):
        assert not np.array_equal(clf.coefs_[j], start.coefs_[j])
        assert not np.array_equal(clf.intercepts_[j], start.intercepts_[j])
    if solver == "adam":  # the optimizer state of frozen entries never moved
        n_w = sum(c.size for c in clf.coefs_[:k])
        assert not clf._optimizer.m[:n_w].any() and not clf._optimizer.v[:n_w].any()
        assert clf._optimizer.m[n_w:].any()
    elif solver == "sgd":
        n_w = sum(c.size for c in clf.coefs_[:k])
        assert not clf._optimizer.velocity[:n_w].any()


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_frozen_random_layers_and_conv_layers(solver):
    """Freezing works without init too (random features), and for conv blocks."""
    rng = np.random.RandomState(0)
    X = rng.rand(60, 1, 6, 6)
    y = (X[:, 0, :3].sum(axis=(1, 2)) > X[:, 0, 3:].sum(axis=(1, 2))).astype(int)
    start = quiet(ConvClassifier(filters=(3, 2), hidden_layer_sizes=(5,),
                                 lr_schedule=_zero, solver="sgd", max_iter=1,
                                 random_state=0).fit, X, y)
    clf = quiet(ConvClassifier(filters=(3, 2), hidden_layer_sizes=(5,), frozen_layers=2,
                               solver=solver, alpha=1.0, learning_rate_init=0.05,
                               max_iter=5, random_state=0).fit, X, y)
    assert _same(clf.coefs_[:2], start.coefs_[:2])
    assert _same(clf.intercepts_[:2], start.intercepts_[:2])
    assert not np.array_equal(clf.coefs_[2], start.coefs_[2])
    assert not np.array_equal(clf.coefs_[3], start.coefs_[3])


def test_frozen_layers_with_partial_fit_and_reported_loss(digits, ae):
    X, y = digits
    clf = MLPClassifierX((16, 8), init=ae, frozen_layers=1, alpha=0.1,
                         random_state=0)
    clf.partial_fit(X, y, classes=np.arange(10))
    clf.partial_fit(X, y)
    assert _same(clf.coefs_[:1], ae.coefs_[:1])
    assert not np.array_equal(clf.coefs_[1], ae.coefs_[1])
    # The frozen weights' (constant) L2 term counts in the reported loss,
    # as in the validation loss: loss_ is the objective of all the weights.
    curves = [quiet(MLPClassifierX((16, 8), init=ae, frozen_layers=k, alpha=0.1,
                                   lr_schedule=_zero, max_iter=3,
                                   random_state=0).fit, X, y).loss_curve_
              for k in (0, 1)]
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-12)


# -- fine-tuning from a network of the same kind ----------------------------------
def test_fine_tuning_copies_every_matching_layer(digits):
    X, y = digits
    src = quiet(MLPClassifierX((12,), max_iter=10, random_state=0).fit, X[:150],
                y[:150])
    clf = quiet(MLPClassifierX((12,), init=src, lr_schedule=_zero, max_iter=2,
                               random_state=5).fit, X[150:], y[150:])
    assert _same(clf.coefs_, src.coefs_) and _same(clf.intercepts_, src.intercepts_)
    np.testing.assert_array_equal(clf.predict_proba(X), src.predict_proba(X))
    # Another class (or other classes): the hidden layers only.
    reg = quiet(MLPRegressorX(hidden_layer_sizes=(12,), init=src, lr_schedule=_zero,
                              max_iter=2, random_state=5).fit, X, y.astype(float))
    assert _same(reg.coefs_[:1], src.coefs_[:1])
    assert reg.coefs_[1].shape == (12, 1)
    odd = quiet(MLPClassifierX((12,), init=src, lr_schedule=_zero, max_iter=2,
                               random_state=5).fit, X, (y + 1) % 10 + 10)
    assert _same(odd.coefs_[:1], src.coefs_[:1])
    assert not np.array_equal(odd.coefs_[1], src.coefs_[1])
    # A deeper network: the source's hidden layers start it.
    deep = quiet(MLPClassifierX((12, 7), init=src, lr_schedule=_zero, max_iter=2,
                                random_state=5).fit, X, y)
    assert _same(deep.coefs_[:1], src.coefs_[:1])


def test_conv_fine_tuning_and_transfer_to_a_regressor():
    rng = np.random.RandomState(0)
    X = rng.rand(60, 1, 6, 6)
    y = (X[:, 0, :3].sum(axis=(1, 2)) > X[:, 0, 3:].sum(axis=(1, 2))).astype(int)
    src = quiet(ConvClassifier(filters=(3,), hidden_layer_sizes=(5,), max_iter=5,
                               random_state=0).fit, X, y)
    clf = quiet(ConvClassifier(filters=(3,), hidden_layer_sizes=(5,), init=src,
                               lr_schedule=_zero, max_iter=2, random_state=1).fit, X, y)
    assert _same(clf.coefs_, src.coefs_)
    reg = quiet(ConvRegressor(filters=(3,), hidden_layer_sizes=(5, 4), init=src,
                              frozen_layers=2, max_iter=3, random_state=1).fit,
                X, X.mean(axis=(1, 2, 3)))
    assert _same(reg.coefs_[:2], src.coefs_[:2])
    # channels_last images train the same channels-first kernels
    last = quiet(ConvClassifier(data_format="channels_last", filters=(3,),
                                hidden_layer_sizes=(5,), init=src, lr_schedule=_zero,
                                max_iter=2, random_state=1).fit,
                 X.transpose(0, 2, 3, 1), y)
    np.testing.assert_array_equal(last.predict_proba(X.transpose(0, 2, 3, 1)),
                                  src.predict_proba(X))


# -- mismatches ---------------------------------------------------------------------
@pytest.mark.parametrize("params, pattern", [
    (dict(hidden_layer_sizes=(8,)), r"init: the encoder .*\(64, 16\), \(16, 8\)"),
    (dict(hidden_layer_sizes=(16, 9)), r"hidden_layer_sizes must start with \(16, 8\)"),
    (dict(hidden_layer_sizes=(16,)), r"init: .*\(16, 8\)"),
    (dict(hidden_layer_sizes=(16, 8), frozen_layers=3), "frozen_layers=3"),
])
def test_mismatched_autoencoder_raises(digits, ae, params, pattern):
    X, y = digits
    clf = MLPClassifierX(init=ae, max_iter=2, **params)
    with pytest.raises(ValueError, match=pattern):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")


def test_mismatched_features_and_kinds_raise(digits, ae):
    X, y = digits
    with pytest.raises(ValueError, match="X must have 64 features"):
        MLPClassifierX((16, 8), init=ae).fit(X[:, :60], y)
    conv = quiet(ConvClassifier(input_shape=(1, 8, 8), filters=(2,), max_iter=2,
                                random_state=0).fit, X, y)
    with pytest.raises(ValueError, match="cannot start the layers of MLPClassifierX"):
        MLPClassifierX((16, 8), init=conv).fit(X, y)
    with pytest.raises(ValueError, match="cannot start the layers of ConvClassifier"):
        ConvClassifier(input_shape=(1, 8, 8), init=ae).fit(X, y)
    with pytest.raises(ValueError, match="init: the hidden layers of init=ConvClassifier"):
        ConvClassifier(input_shape=(1, 8, 8), filters=(3,), init=conv).fit(X, y)
    with pytest.raises(ValueError, match="is not fitted"):
        MLPClassifierX((16, 8), init=AutoEncoderTransformer(8, (16,))).fit(X, y)


# -- clone, grid search, persistence ----------------------------------------------
def test_clone_keeps_a_fitted_init_and_grid_search_works(digits, ae):
    X, y = digits
    clf = MLPClassifierX((16, 8), init=ae, max_iter=3, random_state=0)
    twin = clone(clf)
    assert twin.init is not ae and hasattr(twin.init, "coefs_")
    assert _same(twin.init.coefs_, ae.coefs_)
    assert clf.get_params(deep=True)["init__n_components"] == 8
    # an unfitted init stays an unfitted clone
    assert not hasattr(clone(MLPClassifierX(init=AutoEncoderTransformer())).init,
                       "coefs_")
    search = GridSearchCV(clf, {"frozen_layers": [0, 1, 2]}, cv=2)
    quiet(search.fit, X, y)
    best = search.best_estimator_
    k = best.frozen_layers
    assert _same(best.coefs_[:k], ae.coefs_[:k])
    scores = quiet(cross_val_score, clf.set_params(learning_rate_init=0.01,
                                                   max_iter=30), X, y, cv=2)
    assert np.all(scores > 0.5)


def test_pickle_and_skops_keep_init(digits, ae):
    X, y = digits
    clf = quiet(MLPClassifierX((16, 8), init=ae, frozen_layers=1, max_iter=3,
                               random_state=0).fit, X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(back.init.transform(X), ae.transform(X))
    pytest.importorskip("skops")
    from sknn.skops import dumps, loads

    back = loads(dumps(clf))
    np.testing.assert_array_equal(back.transform(X), clf.transform(X))
    assert _same(back.init.coefs_, ae.coefs_)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_frozen_step_in_chunks_is_bit_identical(digits, ae, solver, monkeypatch):
    """The optimizer step over the trainable ranges, cut into chunks (forced
    here on a small network), gives the same bits as in one piece."""
    from sknn import _runtime

    X, y = digits
    params = dict(hidden_layer_sizes=(16, 8), init=ae, frozen_layers=1, solver=solver,
                  alpha=0.1, max_iter=3, random_state=0)
    whole = quiet(MLPClassifierX(**params).fit, X, y)
    table = dict(_runtime.THRESHOLDS)
    for key, value in (("parallel_min_elements", 1), ("optimizer_split_min_elements", 1),
                       ("min_chunk_rows", 1)):
        table[key] = (value, table[key][1])
    monkeypatch.setattr(_runtime, "THRESHOLDS", table)
    for n_jobs in (1, 2):
        chunked = quiet(MLPClassifierX(n_jobs=n_jobs, **params).fit, X, y)
        assert _same(chunked.coefs_, whole.coefs_)
        assert _same(chunked.intercepts_, whole.intercepts_)
    assert _same(whole.coefs_[:1], ae.coefs_[:1])
