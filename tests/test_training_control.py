"""Training control: learning-rate schedules, validation scoring, callbacks
and ``history_``, initialisations and given weights, robust regression
losses, the GELU/SiLU/softplus activations, and honest training (divergence,
convergence messages, probabilities inside (0, 1)).  Each test checks against
an oracle: a formula, finite differences, scikit-learn, or another fit.
"""

import math
import re
import warnings

import numpy as np
import pytest
from scipy.special import erf, expit
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score, f1_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sknn import AutoEncoderTransformer, ConvClassifier, MLPClassifierX, MLPRegressorX
from sknn._base import build_network
from sknn._engine import TrainData, make_objective
from sknn._kernels.activations import ACTIVATION_CODES
from sknn._kernels.losses import ABSOLUTE, HUBER, QUANTILE, link_loss_grad

NEW_ACTIVATIONS = ["gelu", "silu", "softplus"]
ROBUST = {"absolute_error": (ABSOLUTE, 0.0), "huber": (HUBER, 0.7),
          "quantile": (QUANTILE, 0.8)}


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(n_samples=300, n_features=8, n_informative=5,
                               n_classes=3, random_state=0)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(n_samples=300, n_features=6, noise=5.0, random_state=0)
    return StandardScaler().fit_transform(X), y / y.std()


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


def flat(est):
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


def snapshot_weights(store):
    """A callback keeping a copy of the weights after every epoch."""
    def cb(est, record):
        store.append(flat(est))
    return cb


# -- lr_schedule ------------------------------------------------------------------
def test_callable_schedule_zero_after_epoch_2_freezes_adam(clf_data):
    X, _, y, _ = clf_data
    seen, weights = [], []

    def schedule(epoch):
        seen.append(epoch)
        return 0.01 if epoch < 2 else 0.0

    params = dict(hidden_layer_sizes=(10,), tol=0.0, n_iter_no_change=100,
                  random_state=0)
    clf = quiet(MLPClassifierX(max_iter=6, lr_schedule=schedule,
                               callbacks=[snapshot_weights(weights)], **params).fit, X, y)
    assert seen == list(range(6))  # called with the epochs already run
    for w in weights[2:]:
        np.testing.assert_array_equal(w, weights[1])  # unchanged after epoch 2
    np.testing.assert_array_equal(flat(clf), weights[1])
    # Oracle: the same first two epochs at a constant rate.
    two = quiet(MLPClassifierX(max_iter=2, learning_rate_init=0.01, **params).fit, X, y)
    np.testing.assert_array_equal(flat(two), weights[1])
    assert [r["learning_rate"] for r in clf.history_] == [0.01, 0.01, 0, 0, 0, 0]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_cosine_records_the_formula_and_equals_the_callable(clf_data, solver):
    X, _, y, _ = clf_data
    lr0, max_iter = 0.02, 7
    params = dict(hidden_layer_sizes=(10,), solver=solver, learning_rate_init=lr0,
                  max_iter=max_iter, tol=0.0, n_iter_no_change=100, random_state=0)
    clf = quiet(MLPClassifierX(lr_schedule="cosine", **params).fit, X, y)
    expected = [lr0 * (1 + math.cos(math.pi * e / max_iter)) / 2 for e in range(max_iter)]
    np.testing.assert_allclose([r["learning_rate"] for r in clf.history_], expected,
                               rtol=1e-15)
    assert expected[-1] > 0  # annealed towards 0, reached after max_iter epochs

    def same(epoch):
        return lr0 * 0.5 * (1.0 + math.cos(math.pi * min(epoch, max_iter) / max_iter))

    ref = quiet(MLPClassifierX(lr_schedule=same, **params).fit, X, y)
    np.testing.assert_array_equal(flat(clf), flat(ref))


def test_plateau_is_sgd_adaptive_and_divides_adam_rate(clf_data):
    X, _, y, _ = clf_data
    params = dict(hidden_layer_sizes=(6,), max_iter=12, tol=10.0, n_iter_no_change=2,
                  learning_rate_init=0.01, random_state=0)
    plateau = quiet(MLPClassifierX(solver="sgd", lr_schedule="plateau", **params).fit,
                    X, y)
    adaptive = quiet(MLPClassifierX(solver="sgd", learning_rate="adaptive", **params).fit,
                     X, y)
    np.testing.assert_array_equal(flat(plateau), flat(adaptive))
    adam = quiet(MLPClassifierX(lr_schedule="plateau", **params).fit, X, y)
    rates = [r["learning_rate"] for r in adam.history_]
    # tol=10: only the first epoch improves (on an infinite loss), then every
    # n_iter_no_change + 1 = 3 epochs end a plateau, as scikit-learn counts.
    want = [0.01 / 5 ** max(0, (e - 1) // 3) for e in range(12)]
    assert rates == pytest.approx(want, rel=1e-12)


def test_schedule_rate_is_adams_rate_before_bias_correction(clf_data):
    X, _, y, _ = clf_data
    params = dict(hidden_layer_sizes=(6,), max_iter=3, random_state=0)
    a = quiet(MLPClassifierX(learning_rate_init=0.003, **params).fit, X, y)
    b = quiet(MLPClassifierX(lr_schedule=lambda e: 0.003, **params).fit, X, y)
    np.testing.assert_array_equal(flat(a), flat(b))


@pytest.mark.parametrize("bad", [-1e-3, np.nan, np.inf, "0.1", None, True])
def test_bad_schedule_value_raises_and_leaves_estimator_unfitted(clf_data, bad):
    X, _, y, _ = clf_data
    clf = MLPClassifierX((4,), max_iter=3, lr_schedule=lambda e: 0.01 if e < 1 else bad)
    with pytest.raises(ValueError, match="lr_schedule returned .* for epoch 1"):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_") and not hasattr(clf, "n_features_in_")


def test_schedule_epochs_continue_over_partial_fit_and_restart_with_fit(clf_data):
    X, _, y, _ = clf_data
    seen = []
    clf = MLPClassifierX((4,), lr_schedule=lambda e: seen.append(e) or 0.01)
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    quiet(clf.set_params(max_iter=2).fit, X, y)
    assert seen == [0, 1, 2, 0, 1]


def test_schedule_with_sgd_needs_constant_learning_rate(clf_data):
    X, _, y, _ = clf_data
    clf = MLPClassifierX(solver="sgd", learning_rate="invscaling", lr_schedule="cosine")
    with pytest.raises(ValueError, match="lr_schedule.*learning_rate"):
        clf.fit(X, y)


# -- scoring ----------------------------------------------------------------------
def test_neg_log_loss_on_user_validation_set_matches_sklearn(clf_data):
    X, X_val, y, y_val = clf_data
    clf = quiet(MLPClassifierX((10,), max_iter=5, scoring="neg_log_loss",
                               random_state=0).fit, X, y, X_val=X_val, y_val=y_val)
    want = -log_loss(y_val, clf.predict_proba(X_val))
    assert clf.validation_scores_[-1] == pytest.approx(want, rel=1e-12)
    assert clf.history_[-1]["validation_score"] == clf.validation_scores_[-1]
    assert clf.best_validation_score_ == max(clf.validation_scores_)


@pytest.mark.parametrize("scoring, metric", [
    ("balanced_accuracy", balanced_accuracy_score),
    ("f1_macro", lambda y, p: f1_score(y, p, average="macro")),
])
def test_scorer_names(clf_data, scoring, metric):
    X, X_val, y, y_val = clf_data
    clf = quiet(MLPClassifierX((10,), max_iter=4, scoring=scoring, random_state=0).fit,
                X, y, X_val=X_val, y_val=y_val)
    assert clf.validation_scores_[-1] == pytest.approx(metric(y_val, clf.predict(X_val)))


def test_scoring_loss_is_minus_validation_loss(reg_data):
    X, y = reg_data
    reg = quiet(MLPRegressorX(hidden_layer_sizes=(8,), max_iter=4, scoring="loss",
                              random_state=0).fit, X[:200], y[:200],
                X_val=X[200:], y_val=y[200:])
    np.testing.assert_array_equal(reg.validation_scores_,
                                  [-v for v in reg.validation_loss_curve_])


def test_callable_scorer_gets_a_stand_in_with_current_weights(clf_data):
    X, X_val, y, y_val = clf_data
    calls = []

    def scorer(est, X_, y_):
        calls.append((est, flat(est), X_, y_))
        return float(-np.mean(est.predict_proba(X_).max(axis=1)))

    clf = MLPClassifierX((6,), max_iter=3, scoring=scorer, random_state=0)
    quiet(clf.fit, X, y, X_val=X_val, y_val=y_val)
    assert len(calls) == 3 and all(c[0] is not clf for c in calls)
    assert isinstance(calls[0][0], MLPClassifierX)
    np.testing.assert_array_equal(calls[-1][1], flat(clf))
    np.testing.assert_array_equal(calls[-1][2], X_val)
    np.testing.assert_array_equal(calls[-1][3], y_val)
    assert not np.array_equal(calls[0][1], calls[1][1])  # a new view per epoch


def test_early_stopping_on_a_scorer_restores_the_best_weights(clf_data):
    X, X_val, y, y_val = clf_data
    clf = MLPClassifierX((16,), max_iter=200, early_stopping=True, n_iter_no_change=3,
                         learning_rate_init=0.05, scoring="neg_log_loss",
                         random_state=0).fit(X, y, X_val=X_val, y_val=y_val)
    assert clf.n_iter_ < 200
    best = int(np.argmax(clf.validation_scores_))
    assert clf.best_validation_score_ == clf.validation_scores_[best]
    assert -log_loss(y_val, clf.predict_proba(X_val)) == pytest.approx(
        clf.best_validation_score_, rel=1e-12)


def test_scorer_error_propagates_and_keeps_the_estimator(clf_data):
    X, X_val, y, y_val = clf_data

    def broken(est, X_, y_):
        raise RuntimeError("scorer failed")

    clf = MLPClassifierX((4,), max_iter=2, random_state=0, warm_start=True)
    quiet(clf.fit, X, y)
    before = flat(clf)
    clf.set_params(scoring=broken)
    with pytest.raises(RuntimeError, match="scorer failed"):
        clf.fit(X, y, X_val=X_val, y_val=y_val)
    np.testing.assert_array_equal(flat(clf), before)
    assert clf.scoring is broken and len(clf.history_) == 2


def test_autoencoder_scoring():
    X = np.random.RandomState(0).rand(80, 6)
    ae = quiet(AutoEncoderTransformer(2, (4,), max_iter=3, scoring="loss",
                                      random_state=0).fit, X[:60], X_val=X[60:])
    np.testing.assert_array_equal(ae.validation_scores_,
                                  [-v for v in ae.validation_loss_curve_])
    got = []
    ae = AutoEncoderTransformer(2, (4,), max_iter=2, random_state=0,
                                scoring=lambda est, X_, y_: got.append(y_) or est.score(X_))
    quiet(ae.fit, X[:60], X_val=X[60:])
    assert got == [None, None]
    assert ae.validation_scores_[-1] == pytest.approx(ae.score(X[60:]))


def test_verbose_names_the_metric_and_the_rate(clf_data, capsys):
    X, X_val, y, y_val = clf_data
    quiet(MLPClassifierX((4,), max_iter=2, verbose=1, scoring="neg_log_loss",
                         lr_schedule="cosine", learning_rate_init=0.01,
                         random_state=0).fit, X, y, X_val=X_val, y_val=y_val)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Iter")]
    assert len(lines) == 2
    assert re.search(r"validation neg_log_loss = -[0-9.]+, .*lr = 0\.01,", lines[0])
    assert "lr = 0.005," in lines[1]


# -- callbacks and history_ ---------------------------------------------------------
def test_callback_stop_at_epoch_3(clf_data):
    X, _, y, _ = clf_data
    records = []

    def stop_at_3(est, record):
        records.append(record)
        return record["epoch"] == 3

    clf = MLPClassifierX((6,), max_iter=50, callbacks=[stop_at_3], random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop
        clf.fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.history_) == 3
    assert [r["loss"] for r in clf.history_] == clf.loss_curve_
    assert [r["epoch"] for r in clf.history_] == [1, 2, 3]
    assert records == clf.history_
    assert set(records[0]) == {"epoch", "loss", "validation_score", "validation_loss",
                               "learning_rate", "time"}
    assert records[0]["validation_score"] is None and records[0]["validation_loss"] is None
    times = [r["time"] for r in records]
    assert times == sorted(times) and times[0] >= 0


def test_callbacks_see_the_weights_of_each_epoch(clf_data):
    X, _, y, _ = clf_data
    weights = []
    params = dict(hidden_layer_sizes=(5,), random_state=0, tol=0.0)
    quiet(MLPClassifierX(max_iter=3, callbacks=[snapshot_weights(weights)], **params).fit,
          X, y)
    for k in (1, 2):
        ref = quiet(MLPClassifierX(max_iter=k, **params).fit, X, y)
        np.testing.assert_array_equal(weights[k - 1], flat(ref))


def test_callback_stop_under_early_stopping_restores_the_best(clf_data):
    X, X_val, y, y_val = clf_data
    clf = MLPClassifierX((16,), max_iter=100, early_stopping=True,
                         n_iter_no_change=100, learning_rate_init=0.2,
                         callbacks=[lambda est, r: r["epoch"] == 8],
                         random_state=0).fit(X, y, X_val=X_val, y_val=y_val)
    assert clf.n_iter_ == 8
    assert clf.score(X_val, y_val) == pytest.approx(clf.best_validation_score_)


def test_every_callback_runs_and_their_exceptions_propagate(clf_data):
    X, _, y, _ = clf_data
    ran = []
    clf = MLPClassifierX((4,), max_iter=5, random_state=0,
                         callbacks=[lambda e, r: ran.append("a") or True,
                                    lambda e, r: ran.append("b")])
    clf.fit(X, y)
    assert ran == ["a", "b"] and clf.n_iter_ == 1

    def boom(est, record):
        if record["epoch"] == 2:
            raise KeyError("boom")

    fresh = MLPClassifierX((4,), max_iter=5, callbacks=[boom], random_state=0)
    with pytest.raises(KeyError, match="boom"):
        fresh.fit(X, y)
    assert not hasattr(fresh, "coefs_") and not hasattr(fresh, "classes_")
    before = flat(clf)
    clf.set_params(callbacks=[boom], warm_start=True)
    with pytest.raises(KeyError, match="boom"):
        clf.fit(X, y)
    np.testing.assert_array_equal(flat(clf), before)
    assert len(clf.history_) == 1


def test_history_continues_with_partial_fit_and_warm_start(clf_data):
    pd = pytest.importorskip("pandas")
    X, _, y, _ = clf_data
    clf = quiet(MLPClassifierX((4,), max_iter=3, random_state=0).fit, X, y)
    clf.partial_fit(X, y)
    quiet(clf.set_params(warm_start=True, max_iter=2).fit, X, y)
    log = pd.DataFrame(clf.history_)
    assert list(log["epoch"]) == [1, 2, 3, 4, 5, 6]
    np.testing.assert_array_equal(log["loss"], clf.loss_curve_)
    quiet(clf.set_params(warm_start=False).fit, X, y)
    assert len(clf.history_) == 2  # a new fit starts a new log


def test_lbfgs_history_and_callback_stop(clf_data):
    X, _, y, _ = clf_data
    clf = MLPClassifierX((6,), solver="lbfgs", max_iter=100, random_state=0,
                         callbacks=[lambda est, r: r["epoch"] == 4])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ == 4 and [r["epoch"] for r in clf.history_] == [1, 2, 3, 4]
    assert clf.history_[-1]["loss"] == pytest.approx(clf.loss_, rel=1e-12)
    losses = [r["loss"] for r in clf.history_]
    assert losses == sorted(losses, reverse=True)


# -- init and given weights -----------------------------------------------------------
@pytest.mark.parametrize("init, var, bound", [
    ("he_normal", lambda i, o: 2 / i, None),
    ("he_uniform", lambda i, o: 2 / i, lambda i, o: math.sqrt(6 / i)),
    ("glorot_normal", lambda i, o: 2 / (i + o), None),
    ("glorot_uniform", lambda i, o: 2 / (i + o), lambda i, o: math.sqrt(6 / (i + o))),
])
def test_initial_weights_follow_their_formula(init, var, bound):
    n_in, n_out = 300, 200
    rng = np.random.RandomState(0)
    X, y = rng.randn(20, n_in), np.arange(20) % 2
    # A zero learning rate keeps the initial weights.
    clf = quiet(MLPClassifierX((n_out,), init=init, max_iter=1, random_state=0,
                               lr_schedule=lambda e: 0.0).fit, X, y)
    W = clf.coefs_[0]
    assert W.var() == pytest.approx(var(n_in, n_out), rel=0.03)
    assert abs(W.mean()) < 0.05 * math.sqrt(var(n_in, n_out))
    if bound is not None:
        assert np.abs(W).max() <= bound(n_in, n_out)
    if init != "glorot_uniform":
        assert not np.any(clf.intercepts_[0]) and not np.any(clf.intercepts_[1])


def test_init_reaches_conv_layers():
    X = np.random.RandomState(0).rand(30, 36)
    y = np.arange(30) % 2
    conv = quiet(ConvClassifier(filters=(64,), hidden_layer_sizes=(), init="he_normal",
                                max_iter=1, lr_schedule=lambda e: 0.0,
                                random_state=0).fit, X, y)
    assert conv.coefs_[0].var() == pytest.approx(2 / 9, rel=0.1)  # fan_in 1 * 3 * 3


def test_given_weights_continue_with_partial_fit_and_warm_start():
    """scikit-learn's idiom: assign coefs_/intercepts_, then keep training."""
    rng = np.random.RandomState(3)
    X, y = rng.randn(6, 3), np.array([0, 1, 2, 0, 1, 2])
    W1, b1, W2, b2 = rng.randn(3, 4), rng.randn(4), rng.randn(4, 3), rng.randn(3)
    lr, alpha = 0.05, 0.1
    kw = dict(solver="sgd", momentum=0.0, alpha=alpha, learning_rate_init=lr,
              batch_size=6, shuffle=False, max_iter=1)

    def given():
        est = MLPClassifierX((4,), **kw)
        est.coefs_, est.intercepts_ = [W1.copy(), W2.copy()], [b1.copy(), b2.copy()]
        return est

    a = given()
    a.partial_fit(X, y, classes=[0, 1, 2])
    b = quiet(given().set_params(warm_start=True).fit, X, y)
    assert b.n_features_in_ == 3
    # Oracle: one full-batch gradient step by hand.
    H = np.maximum(X @ W1 + b1, 0)
    Z = H @ W2 + b2
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    D2 = P - np.eye(3)[y]
    D1 = (D2 @ W2.T) * (H > 0)
    want = [W1 - lr * (X.T @ D1 + alpha * W1) / 6, W2 - lr * (H.T @ D2 + alpha * W2) / 6]
    for est in (a, b):
        for got, w in zip(est.coefs_, want):
            np.testing.assert_allclose(got, w, rtol=1e-12)
        np.testing.assert_allclose(est.intercepts_[0], b1 - lr * D1.sum(0) / 6,
                                   rtol=1e-12)


@pytest.mark.parametrize("coefs, intercepts", [
    ([np.zeros((3, 5)), np.zeros((5, 3))], [np.zeros(5), np.zeros(3)]),
    ([np.zeros((3, 4))], [np.zeros(4), np.zeros(3)]),
    ([np.zeros((3, 4)), np.zeros((4, 3))], [np.zeros(4), np.zeros(2)]),
])
def test_given_weights_of_the_wrong_shapes_raise(coefs, intercepts):
    X, y = np.random.RandomState(0).randn(6, 3), np.array([0, 1, 2, 0, 1, 2])
    est = MLPClassifierX((4,), solver="sgd")
    est.coefs_, est.intercepts_ = coefs, intercepts
    with pytest.raises(ValueError, match=r"coefs_ / intercepts_ have shapes .* needs "
                                         r"\[\(3, 4\), \(4, 3\)\] / \[\(4,\), \(3,\)\]"):
        est.partial_fit(X, y, classes=[0, 1, 2])
    est.coefs_ = [np.full((3, 4), np.nan), np.zeros((4, 3))]
    est.intercepts_ = [np.zeros(4), np.zeros(3)]
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.partial_fit(X, y, classes=[0, 1, 2])


# -- regression losses ----------------------------------------------------------------
def _robust_ref(code, param, z, y):
    """Per-element loss and d/dz in float64 (mean over outputs applied by caller)."""
    r = z - y
    if code == ABSOLUTE:
        return np.abs(r), np.sign(r)
    if code == HUBER:
        small = np.abs(r) <= param
        return (np.where(small, 0.5 * r * r, param * (np.abs(r) - 0.5 * param)),
                np.where(small, r, param * np.sign(r)))
    return (np.where(r < 0, -param * r, (1 - param) * r),
            np.where(r < 0, -param, 1 - param))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(ROBUST))
def test_robust_loss_kernel_matches_numpy_and_finite_differences(name, dtype):
    code, param = ROBUST[name]
    rng = np.random.default_rng(1)
    n, k = 7, 3
    z = (2 * rng.standard_normal((n, k))).astype(dtype)
    y = rng.standard_normal((n, k)).astype(dtype)
    sw = rng.uniform(0.5, 2.0, n).astype(dtype)
    delta = np.empty_like(z)
    total = link_loss_grad(delta, z.copy(), y, sw, code, param)
    loss, grad = _robust_ref(code, param, z.astype(np.float64), y.astype(np.float64))
    t = 1e-12 if dtype == np.float64 else 2e-6
    assert total == pytest.approx(float((sw * loss.mean(axis=1)).sum()), rel=10 * t)
    np.testing.assert_allclose(delta, grad / k * sw[:, None], rtol=10 * t, atol=10 * t)
    if dtype == np.float32:
        return
    num = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += 1e-6
        zm[idx] -= 1e-6
        num[idx] = (link_loss_grad(np.empty_like(z), zp, y, sw, code, param)
                    - link_loss_grad(np.empty_like(z), zm, y, sw, code, param)) / 2e-6
    np.testing.assert_allclose(delta, num, rtol=1e-6, atol=1e-8)


def _fd_check(specs, code, param, X, Y, theta_scale=0.3, seed=0):
    net = build_network(specs, code, param)
    rng = np.random.RandomState(seed)
    theta = np.empty(net.n_params)
    net.init_params(theta, rng, np.float64)
    theta += theta_scale * rng.randn(net.n_params)
    sw = rng.rand(X.shape[0]) + 0.5
    data = TrainData(np.ascontiguousarray(X), np.ascontiguousarray(Y), sw)
    fun = make_objective(net, data, alpha=0.2, dtype=np.float64, chunk=5)
    _, grad = fun(theta)
    h = 1e-6
    num = np.array([(fun(theta + e)[0] - fun(theta - e)[0]) / (2 * h)
                    for e in np.eye(theta.size) * h])
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("act", NEW_ACTIVATIONS + ["relu"])
@pytest.mark.parametrize("name", list(ROBUST))
def test_network_gradient_with_robust_losses(name, act):
    code, param = ROBUST[name]
    rng = np.random.RandomState(2)
    specs = [("dense", {"n_in": 4, "n_out": 5, "activation": act}),
             ("dense", {"n_in": 5, "n_out": 2, "activation": "identity"})]
    _fd_check(specs, code, param, rng.randn(11, 4), rng.randn(11, 2))


@pytest.mark.parametrize("act", NEW_ACTIVATIONS)
def test_conv_and_tied_layers_gradient_with_new_activations(act):
    import sknn._ae_layers  # noqa: F401  (registers tied_dense)
    import sknn._conv_layers  # noqa: F401  (registers conv2d)
    from sknn._kernels.losses import SOFTMAX_CE

    rng = np.random.RandomState(3)
    conv = [("conv2d", {"in_shape": (1, 4, 4), "filters": 2, "kernel_size": 3,
                        "stride": 1, "padding": "same", "activation": act}),
            ("dense", {"n_in": 32, "n_out": 3, "activation": "identity"})]
    _fd_check(conv, SOFTMAX_CE, 0.0, rng.rand(5, 1, 4, 4),
              np.eye(3)[rng.randint(0, 3, 5)])
    tied = [("dense", {"n_in": 5, "n_out": 3, "activation": act}),
            ("dense", {"n_in": 3, "n_out": 2, "activation": act}),
            ("tied_dense", {"n_in": 2, "n_out": 3, "activation": act, "tied_to": 1}),
            ("tied_dense", {"n_in": 3, "n_out": 5, "activation": "identity",
                            "tied_to": 0})]
    X = rng.randn(7, 5)
    # (the squared loss averages over outputs but its delta sums them, as
    # scikit-learn's: the exact Huber loss checks the multi-output gradient)
    _fd_check(tied, HUBER, 1.0, X, X)


@pytest.mark.parametrize("act", NEW_ACTIVATIONS)
def test_new_activations_predict_the_numpy_forward_pass(act):
    f = {"gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
         "silu": lambda z: z * expit(z), "softplus": lambda z: np.logaddexp(0, z)}[act]
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    reg = quiet(MLPRegressorX(hidden_layer_sizes=(6, 5), activation=act, max_iter=5,
                              random_state=0).fit, X, y)
    H = f(f(X @ reg.coefs_[0] + reg.intercepts_[0]) @ reg.coefs_[1] + reg.intercepts_[1])
    np.testing.assert_allclose(reg.predict(X), (H @ reg.coefs_[2]).ravel()
                               + reg.intercepts_[2], rtol=1e-10, atol=1e-12)
    assert set(NEW_ACTIVATIONS) <= set(ACTIVATION_CODES)


@pytest.fixture(scope="module")
def outliers():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (1000, 3))
    y = np.sin(X[:, 0]) + X[:, 1] + 0.1 * rng.randn(1000)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.4, random_state=0)
    bad = rng.rand(len(y_tr)) < 0.1  # 10% gross outliers in training only
    y_tr = y_tr.copy()
    y_tr[bad] += rng.choice([-1, 1], bad.sum()) * rng.uniform(20, 40, bad.sum())
    return X_tr, X_te, y_tr, y_te


def test_robust_losses_resist_outliers_and_quantile_is_calibrated(outliers):
    X_tr, X_te, y_tr, y_te = outliers
    params = dict(hidden_layer_sizes=(32,), max_iter=150, learning_rate_init=0.01,
                  random_state=0)
    medae = {}
    for loss in ("squared_error", "huber", "absolute_error"):
        reg = quiet(MLPRegressorX(loss=loss, **params).fit, X_tr, y_tr)
        medae[loss] = np.median(np.abs(reg.predict(X_te) - y_te))
    assert medae["huber"] < medae["squared_error"]
    assert medae["absolute_error"] < medae["squared_error"]
    q = quiet(MLPRegressorX(loss="quantile", quantile=0.9, **params).fit, X_tr, y_tr)
    below = np.mean(y_te <= q.predict(X_te))
    assert 0.85 <= below <= 0.95


# -- honest training --------------------------------------------------------------
def test_huge_learning_rate_is_never_silent():
    """The issue's case: the loss grows from ~0.7 to ~1e16 in the first epoch."""
    X, y = make_classification(n_samples=300, random_state=0)
    X = StandardScaler().fit_transform(X)
    params = dict(solver="sgd", random_state=0)
    clf = MLPClassifierX(learning_rate_init=1e6, **params)
    with pytest.warns(ConvergenceWarning, match=r"diverged at epoch 1 \(the training "
                                                r"loss grew .*learning_rate_init=1000000.0"):
        clf.fit(X, y)
    assert clf.n_iter_ == 1
    # Nothing was learned, and the model says so: the weights are the initial
    # ones (a zero learning rate keeps them).
    frozen = quiet(MLPClassifierX(lr_schedule=lambda e: 0.0, max_iter=1, **params).fit,
                   X, y)
    np.testing.assert_array_equal(flat(clf), flat(frozen))
    # A loss that overflows leaves nothing usable: an error naming the parameter.
    with pytest.raises(ValueError, match="non-finite.*learning_rate_init=1e\\+200"):
        MLPClassifierX(learning_rate_init=1e200, **params).fit(X, y)


@pytest.mark.parametrize("blowup", [1e3, 1e200])  # finite growth, then non-finite
def test_divergence_after_progress_warns_and_keeps_the_last_good_weights(clf_data,
                                                                          blowup):
    X, _, y, _ = clf_data
    params = dict(hidden_layer_sizes=(8,), solver="sgd", tol=0.0, n_iter_no_change=100,
                  random_state=0)

    def schedule(epoch):
        return 0.05 if epoch < 4 else blowup

    clf = MLPClassifierX(max_iter=30, lr_schedule=schedule, **params)
    with pytest.warns(ConvergenceWarning, match=r"diverged at epoch \d+ .*restored.*"
                                                r"lr_schedule gives \(1e\+(03|200) in"):
        clf.fit(X, y)
    curve = clf.loss_curve_
    assert clf.n_iter_ < 30
    assert not np.isfinite(curve[-1]) or curve[-1] > 1e4 * curve[0]
    good = int(np.nanargmin(curve))  # the best epoch started from those after `good`
    ref = quiet(MLPClassifierX(max_iter=good, lr_schedule=schedule, **params).fit, X, y)
    np.testing.assert_array_equal(flat(clf), flat(ref))
    assert np.isfinite(clf.predict_proba(X)).all()


def test_diverging_early_stopping_records_nan_and_keeps_the_best(clf_data):
    X, X_val, y, y_val = clf_data
    clf = MLPClassifierX((8,), solver="sgd", early_stopping=True, n_iter_no_change=100,
                         max_iter=30, random_state=0,
                         lr_schedule=lambda e: 0.05 if e < 4 else 1e200)
    with pytest.warns(ConvergenceWarning, match="best validation score"):
        clf.fit(X, y, X_val=X_val, y_val=y_val)
    assert math.isnan(clf.validation_scores_[-1])
    assert isinstance(clf.validation_scores_[-1], float)
    assert clf.score(X_val, y_val) == pytest.approx(clf.best_validation_score_)


def test_max_iter_warning_says_what_to_change(clf_data):
    X, _, y, _ = clf_data
    with pytest.warns(ConvergenceWarning, match="Maximum iterations.*Increase max_iter"
                                                ".*tol"):
        MLPClassifierX((4,), max_iter=2, random_state=0).fit(X, y)


def test_probabilities_stay_strictly_inside_0_1():
    X, y = load_iris(return_X_y=True)
    Y = np.stack([y == 0, y == 1, y != 1], axis=1).astype(int)  # multilabel
    X = 100 * StandardScaler().fit_transform(X)  # saturates the outputs
    for target in (y, y == 0, Y):
        clf = quiet(MLPClassifierX(solver="lbfgs", random_state=0).fit, X, target)
        P = clf.predict_proba(X)
        assert (P > 0).all() and (P < 1).all()
        assert np.isfinite(clf.predict_log_proba(X)).all()


# -- scikit-learn's one-sample and one-class behaviour ---------------------------------
def test_one_sample_fit_then_partial_fit():
    reg = quiet(MLPRegressorX(hidden_layer_sizes=(8,), random_state=0,
                              learning_rate_init=0.01).fit, [[2.0]], [4.0])
    assert reg.predict([[2.0]]).shape == (1,)
    for _ in range(50):
        reg.partial_fit([[2.0]], [1.0])
    assert abs(reg.predict([[2.0]])[0] - 1.0) < abs(reg.predict([[2.0]])[0] - 4.0)


def test_one_class_classifier_predicts_that_class():
    X = np.random.RandomState(0).randn(12, 3)
    clf = quiet(MLPClassifierX((4,), max_iter=20, early_stopping=True,
                               validation_fraction=0.25, random_state=0).fit,
                X, ["only"] * 12)
    assert list(clf.classes_) == ["only"] and set(clf.predict(X)) == {"only"}


def test_too_small_class_error_names_the_labels():
    clf = MLPClassifierX(early_stopping=True)
    with pytest.raises(ValueError, match=r"\['True'\].*in y.*\['rare'\]"):
        clf.fit([[1, 2], [2, 3], [3, 4], [4, 5]], ["common"] * 3 + ["rare"])
