"""MLPClassifierX / MLPRegressorX against scikit-learn's MLP as the oracle."""

import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import recall_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from sknn import MLPClassifierX, MLPRegressorX

SOLVERS = ["adam", "sgd", "lbfgs"]


@pytest.mark.parametrize("ours, theirs", [(MLPClassifierX, MLPClassifier),
                                          (MLPRegressorX, MLPRegressor)])
def test_signature_starts_with_sklearn(ours, theirs):
    p_ours = list(inspect.signature(ours).parameters.values())
    p_theirs = list(inspect.signature(theirs).parameters.values())
    assert len(p_ours) > len(p_theirs)
    for a, b in zip(p_ours, p_theirs):
        assert (a.name, a.kind, a.default) == (b.name, b.kind, b.default)
    for extra in p_ours[len(p_theirs):]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY


def _split(X, y):
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("loader", [load_digits, load_iris, load_breast_cancer])
def test_classifier_accuracy_matches_sklearn(loader, solver):
    X_tr, X_te, y_tr, y_te = _split(*loader(return_X_y=True))
    params = dict(hidden_layer_sizes=(32,), solver=solver, max_iter=60,
                  learning_rate_init=0.01 if solver != "lbfgs" else 0.001,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifierX(**params).fit(X_tr, y_tr).score(X_te, y_te)
        theirs = MLPClassifier(**params).fit(X_tr, y_tr).score(X_te, y_te)
    assert abs(ours - theirs) <= 0.01


@pytest.mark.parametrize("solver", SOLVERS)
def test_regressor_r2_matches_sklearn(solver):
    X, y = make_regression(n_samples=400, n_features=8, noise=5.0, random_state=0)
    y = y / y.std()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0)
    params = dict(hidden_layer_sizes=(32,), solver=solver, max_iter=100,
                  learning_rate_init=0.01 if solver != "lbfgs" else 0.001,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressorX(**params).fit(X_tr, y_tr).score(X_te, y_te)
        theirs = MLPRegressor(**params).fit(X_tr, y_tr).score(X_te, y_te)
    assert abs(ours - theirs) <= 0.02


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression", "poisson"])
def test_weights_track_sklearn_step_for_step(solver, kind):
    """Same init, shuffling and updates: the weights agree to rounding."""
    rng = np.random.RandomState(0)
    X = rng.randn(90, 5)
    if kind == "multiclass":
        y = rng.randint(0, 3, 90)
        pair = MLPClassifierX, MLPClassifier
        kw = {}
    elif kind == "binary":
        y = rng.randint(0, 2, 90)
        pair = MLPClassifierX, MLPClassifier
        kw = {}
    else:
        y = np.abs(X[:, 0] + 0.1 * rng.randn(90))
        pair = MLPRegressorX, MLPRegressor
        kw = {"loss": "squared_error" if kind == "regression" else "poisson"}
    params = dict(hidden_layer_sizes=(7, 4), activation="tanh", solver=solver,
                  max_iter=15, batch_size=32, alpha=0.01, random_state=1, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = pair[0](**params).fit(X, y)
        theirs = pair[1](**params).fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


def test_single_sgd_step_matches_hand_computation():
    """One full-batch SGD step (no momentum) from given weights, by hand."""
    rng = np.random.RandomState(3)
    X = rng.randn(6, 3)
    y = np.array([0, 1, 2, 0, 1, 2])
    W1, b1 = rng.randn(3, 4), rng.randn(4)
    W2, b2 = rng.randn(4, 3), rng.randn(3)
    alpha, lr = 0.1, 0.05
    clf = MLPClassifierX((4,), solver="sgd", momentum=0.0, alpha=alpha,
                         learning_rate_init=lr, batch_size=6, shuffle=False,
                         max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        clf.coefs_ = [W1.copy(), W2.copy()]
        clf.intercepts_ = [b1.copy(), b2.copy()]
        clf.set_params(warm_start=True).fit(X, y)

    H = np.maximum(X @ W1 + b1, 0)
    Z = H @ W2 + b2
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    Y = np.eye(3)[y]
    n = len(y)
    D2 = P - Y
    gW2 = (H.T @ D2 + alpha * W2) / n
    gb2 = D2.sum(0) / n
    D1 = (D2 @ W2.T) * (H > 0)
    gW1 = (X.T @ D1 + alpha * W1) / n
    gb1 = D1.sum(0) / n
    np.testing.assert_allclose(clf.coefs_[0], W1 - lr * gW1, rtol=1e-12)
    np.testing.assert_allclose(clf.coefs_[1], W2 - lr * gW2, rtol=1e-12)
    np.testing.assert_allclose(clf.intercepts_[0], b1 - lr * gb1, rtol=1e-12)
    np.testing.assert_allclose(clf.intercepts_[1], b2 - lr * gb2, rtol=1e-12)
    expected_loss = (-np.log(P[np.arange(n), y]).mean()
                     + 0.5 * alpha * ((W1**2).sum() + (W2**2).sum()) / n)
    assert clf.loss_ == pytest.approx(expected_loss, rel=1e-12)


def test_float32_trains_and_predicts_in_float32(digits):
    X, y = digits
    X32 = X.astype(np.float32)
    clf = MLPClassifierX((16,), max_iter=5, random_state=0).fit(X32, y)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X32).dtype == np.float32
    clf64 = MLPClassifierX((16,), max_iter=5, random_state=0).fit(X, y)
    assert clf64.coefs_[0].dtype == np.float64
    # Same algorithm in lower precision: close to the float64 fit.
    np.testing.assert_allclose(clf.predict_proba(X32), clf64.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_matches_dense(fmt):
    X, y = make_classification(n_samples=120, n_features=30, n_informative=5,
                               random_state=0)
    X[np.abs(X) < 1.0] = 0.0
    Xs = sp.csr_matrix(X).asformat(fmt)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    dense = MLPClassifierX(**params).fit(X, y)
    sparse = MLPClassifierX(**params).fit(Xs, y)
    for a, b in zip(dense.coefs_, sparse.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dense.predict_proba(X), sparse.predict_proba(Xs),
                               rtol=1e-10)
    lb = MLPClassifierX(solver="lbfgs", **params)
    np.testing.assert_allclose(lb.fit(Xs, y).coefs_[0],
                               MLPClassifierX(solver="lbfgs", **params).fit(X, y).coefs_[0],
                               rtol=1e-8, atol=1e-10)


def test_targets_multilabel_strings_multioutput():
    X, Y = make_multilabel_classification(n_samples=100, n_classes=4, random_state=0)
    clf = MLPClassifierX((16,), max_iter=20, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic"
    assert clf.predict(X).shape == Y.shape and clf.predict_proba(X).shape == Y.shape
    ref = MLPClassifier((16,), max_iter=20, random_state=0).fit(X, Y)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), rtol=1e-6)

    Xs, ys = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[ys]
    clf = MLPClassifierX((8,), max_iter=30, random_state=0).fit(Xs, names)
    assert set(clf.predict(Xs)) <= set(names)
    assert list(clf.classes_) == sorted(set(names.tolist()))

    Xr, Yr = make_regression(n_samples=80, n_features=4, n_targets=3, random_state=0)
    reg = MLPRegressorX(hidden_layer_sizes=(8,), max_iter=10, random_state=0).fit(Xr, Yr)
    assert reg.predict(Xr).shape == (80, 3) and reg.n_outputs_ == 3


def test_fitted_attributes_like_sklearn(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(10, 5), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifierX(**params).fit(X, y)
        theirs = MLPClassifier(**params).fit(X, y)
    for name in ["n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_",
                 "n_features_in_", "best_validation_score_", "validation_scores_"]:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_)
    assert ours.validation_loss_curve_ is None


def test_convergence_warning_and_partial_fit_errors(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifierX((8,), max_iter=2, random_state=0).fit(X, y)
    clf = MLPClassifierX((8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:100], y[:100], classes=np.arange(10))
    assert clf.n_iter_ == 1
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        clf.partial_fit(X[:10], y[:10] + 20)
    assert not hasattr(MLPClassifierX(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifierX(early_stopping=True).partial_fit(X, y, classes=np.arange(10))


def test_non_finite_weights_raise_and_keep_previous_model():
    # The loss overflows before any epoch improves: nothing usable is left.
    X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    big = 1e200  # squared errors overflow
    reg = MLPRegressorX(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=10.0,
                        max_iter=5, random_state=0)
    with pytest.raises(ValueError, match="non-finite"):
        reg.fit(X * big, y * big)
    assert not hasattr(reg, "coefs_")  # a failed first fit does not look fitted

    good = MLPRegressorX(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        good.fit(X, y / y.std())
    before = good.predict(X)
    good.set_params(warm_start=True, solver="sgd", learning_rate_init=10.0)
    with pytest.raises(ValueError, match="non-finite"):
        good.fit(X * big, y * big)
    np.testing.assert_array_equal(good.predict(X), before)


def test_finite_blow_up_warns_and_keeps_the_starting_weights():
    # The loss grows without bound but stays finite: training stops with a
    # warning naming the parameter, and the weights it started from are kept.
    X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    params = dict(hidden_layer_sizes=(8,), solver="sgd", max_iter=5, random_state=0)
    reg = MLPRegressorX(learning_rate_init=10.0, **params)
    with pytest.warns(ConvergenceWarning, match="diverged.*starting|started from.*"
                                                "learning_rate_init=10.0"):
        reg.fit(X * 1e6, y * 1e6)
    frozen = MLPRegressorX(lr_schedule=lambda epoch: 0.0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        frozen.fit(X * 1e6, y * 1e6)  # the initial weights
    for a, b in zip(reg.coefs_ + reg.intercepts_, frozen.coefs_ + frozen.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert reg.n_iter_ < 5 and reg.loss_curve_[-1] > 1e4 * reg.loss_curve_[0]


def test_early_stopping_restores_best_and_is_stratified(digits):
    X, y = digits
    clf = MLPClassifierX((32,), early_stopping=True, n_iter_no_change=3, max_iter=200,
                         learning_rate_init=0.05, random_state=0).fit(X, y)
    scores = clf.validation_scores_
    assert clf.best_validation_score_ == max(scores)
    assert clf.n_iter_ < 200
    assert len(clf.validation_loss_curve_) == clf.n_iter_
    assert clf.best_loss_ is None


def test_user_validation_set(digits):
    X, y = digits
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, random_state=0)
    clf = MLPClassifierX((16,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_tr, y_tr, X_val=X_val, y_val=y_val)
    assert len(clf.validation_scores_) == 5 and len(clf.validation_loss_curve_) == 5
    # The recorded last score is the model's accuracy on that validation set.
    assert clf.validation_scores_[-1] == pytest.approx(clf.score(X_val, y_val))
    with pytest.raises(ValueError, match="together"):
        clf.fit(X_tr, y_tr, X_val=X_val)


def test_dropout_changes_training_not_prediction(digits):
    X, y = digits
    base = dict(hidden_layer_sizes=(32,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPClassifierX(**base).fit(X, y)
        drop = MLPClassifierX(dropout=0.5, **base).fit(X, y)
        drop2 = MLPClassifierX(dropout=0.5, **base).fit(X, y)
    assert not np.allclose(plain.coefs_[0], drop.coefs_[0])
    np.testing.assert_array_equal(drop.coefs_[0], drop2.coefs_[0])  # reproducible
    np.testing.assert_array_equal(drop.predict_proba(X), drop.predict_proba(X))
    # Inverted dropout is off at prediction: the output is the plain forward pass.
    H = np.maximum(X @ drop.coefs_[0] + drop.intercepts_[0], 0)
    Z = H @ drop.coefs_[1] + drop.intercepts_[1]
    P = np.exp(Z - Z.max(1, keepdims=True))
    np.testing.assert_allclose(drop.predict_proba(X), P / P.sum(1, keepdims=True),
                               rtol=1e-10)
    with pytest.raises(ValueError, match="dropout"):
        MLPClassifierX((4, 4), dropout=[0.1]).fit(X, y)


def test_class_weight_balanced_raises_minority_recall():
    X, y = make_classification(n_samples=1000, n_features=10, weights=[0.95, 0.05],
                               class_sep=0.5, random_state=0)
    params = dict(hidden_layer_sizes=(16,), max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPClassifierX(**params).fit(X, y)
        balanced = MLPClassifierX(class_weight="balanced", **params).fit(X, y)
        dict_w = MLPClassifierX(class_weight={0: 1.0, 1: 19.0}, **params).fit(X, y)
    r_plain = recall_score(y, plain.predict(X))
    assert recall_score(y, balanced.predict(X)) > r_plain + 0.2
    assert recall_score(y, dict_w.predict(X)) > r_plain + 0.2
    # class_weight multiplies into sample_weight, as in linear models.
    sw = np.where(y == 1, 19.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        via_sw = MLPClassifierX(**params).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(via_sw.coefs_[0], dict_w.coefs_[0], rtol=1e-10)
    with pytest.raises(ValueError, match="balanced"):
        MLPClassifierX(class_weight="balanced").partial_fit(X, y, classes=[0, 1])


def test_per_layer_activations():
    X, y = make_classification(n_samples=200, random_state=0)
    clf = MLPClassifierX((6, 5), activation=["tanh", "elu"], max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    H1 = np.tanh(X @ clf.coefs_[0] + clf.intercepts_[0])
    Z1 = H1 @ clf.coefs_[1] + clf.intercepts_[1]
    H2 = np.where(Z1 > 0, Z1, np.expm1(Z1))
    Z = H2 @ clf.coefs_[2] + clf.intercepts_[2]
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], 1 / (1 + np.exp(-Z.ravel())),
                               rtol=1e-10)
    with pytest.raises(ValueError, match="activation"):
        MLPClassifierX((6, 5), activation=["tanh"]).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        MLPClassifierX((6,), activation=["swish"]).fit(X, y)


def test_sample_weight_equals_repetition():
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    sw = np.arange(60) % 3
    Xr, yr = np.repeat(X, sw, axis=0), np.repeat(y, sw)
    a = MLPClassifierX((5,), solver="lbfgs", max_iter=30, random_state=0)
    b = MLPClassifierX((5,), solver="lbfgs", max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y, sample_weight=sw)
        b.fit(Xr, yr)
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], rtol=1e-6, atol=1e-8)


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = MLPClassifierX((8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert list(clf.feature_names_in_) == list(X.columns)
    assert clf.predict(pd.DataFrame(X)).shape == (150,)


def test_metadata_routing_sample_weight():
    import sklearn
    from sklearn.model_selection import cross_validate

    X, y = make_classification(n_samples=120, random_state=0)
    sw = np.ones(120)
    with sklearn.config_context(enable_metadata_routing=True):
        est = MLPClassifierX((4,), max_iter=3, random_state=0).set_fit_request(
            sample_weight=True).set_score_request(sample_weight=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = cross_validate(est, X, y, cv=2, params={"sample_weight": sw})
    assert res["test_score"].shape == (2,)


@pytest.mark.parametrize("labels", ["int", "str", "multilabel"])
@pytest.mark.parametrize("weighted", [False, True])
def test_validation_accuracy_is_accuracy_score_to_the_bit(labels, weighted):
    # An early-stopping epoch scores the validation rows without
    # accuracy_score's input checks (one column of labels); the score is the
    # same float as accuracy_score's, and other targets go through it.
    from sklearn.metrics import accuracy_score

    rng = np.random.RandomState(3)
    X = rng.rand(120, 5)
    y = rng.randint(0, 4, 120)
    if labels == "str":  # (objects; the decoded labels are NumPy strings)
        y = np.array(["ant", "bee", "cat", "dog"], dtype=object)[y]
    elif labels == "multilabel":
        y = rng.randint(0, 2, (120, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifierX((6,), max_iter=3, random_state=0).fit(X, y)
    sw = rng.rand(120) if weighted else None
    for seed in range(5):
        outputs = np.random.RandomState(seed).rand(120, len(clf.classes_)
                                                   if labels != "multilabel" else 3)
        if labels == "multilabel":
            outputs = outputs.round()
        else:
            outputs = (outputs == outputs.max(axis=1, keepdims=True)).astype(float)
        expected = accuracy_score(y, clf._decode(outputs), sample_weight=sw)
        assert clf._score_outputs(outputs, y, sw) == expected


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_validation_r2_is_r2_score_to_the_bit(dtype, n_outputs):
    # An early-stopping regressor scores its validation rows with r2_score's
    # own expressions, without its checks: the same float, including the
    # constant-target cases r2_score sets to 1 and 0.
    from sklearn.metrics import r2_score

    rng = np.random.RandomState(4)
    X = rng.rand(80, 4).astype(dtype)
    y = rng.rand(80, n_outputs).astype(dtype)
    reg = MLPRegressorX(hidden_layer_sizes=(5,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y.ravel() if n_outputs == 1 else y)
    targets = [y, np.ones_like(y)]
    for seed in range(4):
        outputs = np.random.RandomState(seed).rand(80, n_outputs).astype(dtype)
        for target in targets + [outputs.copy()]:
            t = target.ravel() if n_outputs == 1 else target
            expected = r2_score(t, outputs.ravel() if n_outputs == 1 else outputs)
            assert reg._score_outputs(outputs, t, None) == expected
