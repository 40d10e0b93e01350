"""Issue 7: every kind of bad input gets a clear ValueError/TypeError up front.

Each case asserts the exception type and a meaningful part of the message, for
every estimator (``ConvClassifier`` and ``AutoEncoderTransformer`` are covered
automatically once they are importable from ``sknn``).  The ``no_kernels``
fixture makes any sknn kernel call fail the test, so "rejected before any
kernel runs" is checked, not assumed.
"""

import sys
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import scipy.sparse as sp
from _extras import sknn_estimator
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sknn import AutoEncoderTransformer

N, N_FEATURES = 30, 16  # 16 features = one 1x4x4 image for ConvClassifier
COMMON = dict(max_iter=2, random_state=0)
SPECS = {
    "MLPClassifierX": ("classifier", dict(hidden_layer_sizes=(5,))),
    "MLPRegressorX": ("regressor", dict(hidden_layer_sizes=(5,))),
    "ConvClassifier": ("classifier", dict(input_shape=(1, 4, 4), filters=(2,),
                                          kernel_size=3, hidden_layer_sizes=(5,))),
    "ConvRegressor": ("regressor", dict(input_shape=(1, 4, 4), filters=(2,),
                                        kernel_size=3, hidden_layer_sizes=(5,))),
    "AutoEncoderTransformer": ("transformer", dict(n_components=2,
                                                   hidden_layer_sizes=(5,))),
}
NAMES = list(SPECS)
CONV = ("ConvClassifier", "ConvRegressor")


def make(name, **params):
    """``(estimator, kind)``; skips when ``sknn.<name>`` does not exist yet."""
    cls = sknn_estimator(name)
    kind, base = SPECS[name]
    valid = cls().get_params()
    missing = [k for k in params if k not in valid]
    if missing:
        pytest.skip(f"{name} has no parameter(s) {missing}")
    merged = {k: v for k, v in {**COMMON, **base}.items() if k in valid}
    return cls(**{**merged, **params}), kind


def data(kind, n=N, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, N_FEATURES)
    if kind == "classifier":
        return X, np.arange(n) % 3
    if kind == "regressor":
        return X, rng.rand(n)
    return X, None


def fit(est, kind, X, y=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if kind == "transformer":
            return est.fit(X, **kw)
        return est.fit(X, y, **kw)


@pytest.fixture
def no_kernels(monkeypatch):
    """Fail the test if any sknn call gets as far as running kernels."""

    @contextmanager
    def forbidden(n_jobs):
        raise AssertionError("a kernel was about to run: the bad input was not "
                             "rejected before training/prediction started")
        yield  # pragma: no cover

    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("sknn") and hasattr(
                mod, "kernel_threads"):
            monkeypatch.setattr(mod, "kernel_threads", forbidden)


@pytest.fixture(scope="module", params=NAMES)
def fitted(request):
    """``(name, estimator, kind)``: one fitted estimator per class, fitted before
    ``no_kernels`` is set up (module-scoped fixtures come first)."""
    est, kind = make(request.param)
    X, y = data(kind)
    return request.param, fit(est, kind, X, y), kind


# -- X at fit time -------------------------------------------------------------
def _with(value):
    def build(X):
        X = X.copy()
        X[3, 2] = value
        return X
    return build


def _ragged(X):
    rows = X.tolist()
    rows[4] = rows[4][:-1]
    return rows


def _objects(X):
    out = X.astype(object)
    out[0, 0] = {"not": "a number"}
    return out


def _sparse_nan(X):
    X = X.copy()
    X[X < 0.5] = 0.0
    X[1, np.flatnonzero(X[1])[0]] = np.nan
    return sp.csr_matrix(X)


BAD_X = [
    # id, builder, exception types, message pattern, dense-only
    ("nan", _with(np.nan), ValueError, "NaN", False),
    ("inf", _with(np.inf), ValueError, "infinity", False),
    ("-inf", _with(-np.inf), ValueError, "infinity", False),
    ("none-entry", lambda X: np.where(X > 0.9, None, X), ValueError, "NaN", False),
    ("empty", lambda X: X[:0], ValueError, "0 sample", False),
    ("no-features", lambda X: X[:, :0], ValueError, "0 feature|input_shape", False),
    ("strings", lambda X: np.array([["a", "b"] * (X.shape[1] // 2)] * X.shape[0]),
     ValueError, "could not convert string", False),
    ("objects", _objects, (TypeError, ValueError), "float|number|convert", False),
    ("ragged", _ragged, ValueError, "inhomogeneous|sequence", False),
    ("complex", lambda X: X + 1j, ValueError, "Complex data not supported", False),
    ("3-d", lambda X: X.reshape(X.shape[0], 4, 4), ValueError, "dim 3", True),
    ("1-d", lambda X: X[:, 0], ValueError, "Expected 2D array", True),
    ("scalar", lambda X: 3.0, ValueError, "Expected 2D array|scalar", False),
    ("sparse-nan", _sparse_nan, (TypeError, ValueError), "NaN|[Ss]parse", False),
]


@pytest.mark.parametrize("case", BAD_X, ids=[c[0] for c in BAD_X])
@pytest.mark.parametrize("name", NAMES)
def test_bad_X_at_fit(name, case, no_kernels):
    _, build, exc, pattern, dense_only = case
    est, kind = make(name)
    if dense_only and name in CONV:
        pytest.skip(f"{name} reads 3-D/4-D input as images")
    X, y = data(kind)
    Xb = build(X)
    if isinstance(Xb, list):
        n = len(Xb)
    else:
        n = Xb.shape[0] if getattr(Xb, "ndim", 0) else None
    yb = y if (y is None or n in (None, N)) else y[:n]
    with pytest.raises(exc, match=pattern):
        fit(est, kind, Xb, yb)
    assert not hasattr(est, "coefs_") and not hasattr(est, "n_features_in_")


# -- X at predict / transform time ---------------------------------------------
def _methods(est):
    names = ["predict", "predict_proba", "predict_log_proba", "transform",
             "score_samples"]
    return [getattr(est, m) for m in names if hasattr(est, m)]


BAD_PREDICT_X = [
    ("n_features", lambda X: X[:, :-1], ValueError, "features"),
    ("n_features+1", lambda X: np.hstack([X, X[:, :1]]), ValueError, "features"),
    ("nan", _with(np.nan), ValueError, "NaN"),
    ("inf", _with(np.inf), ValueError, "infinity"),
    ("empty", lambda X: X[:0], ValueError, "0 sample"),
    ("strings", lambda X: np.array([["a", "b"] * (X.shape[1] // 2)] * 3),
     ValueError, "could not convert string"),
    ("ragged", _ragged, ValueError, "inhomogeneous|sequence"),
    ("complex", lambda X: X + 1j, ValueError, "Complex data not supported"),
    ("1-d", lambda X: X[0], ValueError, "Expected 2D array"),
]


@pytest.mark.parametrize("case", BAD_PREDICT_X, ids=[c[0] for c in BAD_PREDICT_X])
def test_bad_X_at_predict(fitted, case, no_kernels):
    _, build, exc, pattern = case
    name, est, kind = fitted
    X, _ = data(kind)
    for method in _methods(est):
        with pytest.raises(exc, match=pattern):
            method(build(X))


def test_3d_input_at_predict_for_dense_estimators(fitted, no_kernels):
    name, est, kind = fitted
    if name in CONV:
        pytest.skip(f"{name} reads 3-D/4-D input as images")
    X, _ = data(kind)
    for method in _methods(est):
        with pytest.raises(ValueError, match="dim 3"):
            method(X.reshape(N, 4, 4))


def test_inverse_transform_wrong_width(fitted, no_kernels):
    name, est, kind = fitted
    if not hasattr(est, "inverse_transform"):
        pytest.skip("no inverse_transform")
    for width in (est.n_components + 1, 0):
        with pytest.raises(ValueError, match="features|n_components|shape"):
            est.inverse_transform(np.ones((3, width)))
    with pytest.raises(ValueError, match="NaN"):
        est.inverse_transform(np.full((3, est.n_components), np.nan))


@pytest.mark.parametrize("name", NAMES)
def test_unfitted(name):
    est, kind = make(name)
    X, _ = data(kind)
    for method in _methods(est):
        with pytest.raises(NotFittedError):
            method(X)


# -- y -------------------------------------------------------------------------
BAD_Y = [
    # id, kinds, builder, pattern
    ("length", ("classifier", "regressor"), lambda y: y[:-1],
     "inconsistent numbers of samples"),
    ("nan", ("classifier", "regressor"), lambda y: np.r_[np.nan, y[1:]].astype(float),
     "NaN"),
    ("inf", ("regressor",), lambda y: np.r_[np.inf, y[1:]], "infinity"),
    ("3-d", ("classifier", "regressor"), lambda y: y.reshape(-1, 1, 1), "dim 3"),
    ("continuous", ("classifier",), lambda y: y + 0.5 * np.arange(len(y)) / len(y),
     "Unknown label type"),
    ("strings", ("regressor",), lambda y: np.array(["a", "b", "c"] * (len(y) // 3)),
     "could not convert string"),
]


BAD_Y_CASES = [(n, c) for n in NAMES for c in BAD_Y if SPECS[n][0] in c[1]]


@pytest.mark.parametrize("name,case", BAD_Y_CASES,
                         ids=[f"{n}-{c[0]}" for n, c in BAD_Y_CASES])
def test_bad_y(name, case, no_kernels):
    _, kinds, build, pattern = case
    est, kind = make(name)
    X, y = data(kind)
    with pytest.raises(ValueError, match=pattern):
        fit(est, kind, X, build(y))
    assert not hasattr(est, "coefs_")


def test_poisson_needs_non_negative_y(no_kernels):
    est, kind = make("MLPRegressorX", loss="poisson")
    X, y = data(kind)
    with pytest.raises(ValueError, match="poisson"):
        fit(est, kind, X, y - 1)


# -- sample_weight -------------------------------------------------------------
BAD_SW = [
    ("negative", lambda sw: -sw, "[Nn]egative|non-negative"),
    ("nan", lambda sw: np.r_[np.nan, sw[1:]], "NaN"),
    ("inf", lambda sw: np.r_[np.inf, sw[1:]], "infinity"),
    ("length", lambda sw: sw[:-1], "sample_weight|shape"),
    ("2-d", lambda sw: sw.reshape(-1, 1), "1D|sample_weight"),
    ("all-zero", lambda sw: 0 * sw, "non-zero|positive"),
    ("sum-overflows", lambda sw: sw * 1e308, "finite sum"),
]


@pytest.mark.parametrize("case", BAD_SW, ids=[c[0] for c in BAD_SW])
@pytest.mark.parametrize("name", NAMES)
def test_bad_sample_weight(name, case, no_kernels):
    _, build, pattern = case
    est, kind = make(name)
    X, y = data(kind)
    with pytest.raises(ValueError, match=pattern):
        fit(est, kind, X, y, sample_weight=build(np.ones(N)))
    assert not hasattr(est, "coefs_")


CLASSIFIERS = [n for n in NAMES if SPECS[n][0] == "classifier"]


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("class_weight,pattern", [
    ({0: -1.0, 1: 1.0, 2: 1.0}, "class_weight"),
    ({0: np.nan, 1: 1.0, 2: 1.0}, "class_weight"),
    ({0: 0.0, 1: 0.0, 2: 0.0}, "class_weight"),
])
def test_bad_class_weight(name, class_weight, pattern, no_kernels):
    est, kind = make(name, class_weight=class_weight)
    X, y = data(kind)
    with pytest.raises(ValueError, match=pattern):
        fit(est, kind, X, y)


# -- partial_fit ---------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_partial_fit_bad_input(name):
    est, kind = make(name)
    X, y = data(kind)
    if kind == "classifier":
        with pytest.raises(ValueError, match="classes must be passed"):
            est.partial_fit(X, y)
        est.partial_fit(X, y, classes=[0, 1, 2])
        with pytest.raises(ValueError, match="classes not in"):
            est.partial_fit(X, np.full(N, 7))
        with pytest.raises(ValueError, match="classes"):
            est.partial_fit(X, y, classes=[0, 1, 2, 3])
    else:
        fn = est.partial_fit
        fn(X) if kind == "transformer" else fn(X, y)
    before = [c.copy() for c in est.coefs_]
    args = () if kind == "transformer" else (y,)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :-1], *args)
    with pytest.raises(ValueError, match="NaN"):
        est.partial_fit(_with(np.nan)(X), *args)
    for a, b in zip(before, est.coefs_):  # failed calls changed nothing
        np.testing.assert_array_equal(a, b)
    # one sample is a valid online update
    est.partial_fit(X[:1], *(a[:1] for a in args))


@pytest.mark.parametrize("name", NAMES)
def test_partial_fit_inconsistent_settings(name):
    est, kind = make(name, early_stopping=True)
    X, y = data(kind)
    extra = {"classes": [0, 1, 2]} if kind == "classifier" else {}
    args = () if kind == "transformer" else (y,)
    with pytest.raises(ValueError, match="early_stopping"):
        est.partial_fit(X, *args, **extra)
    lbfgs, _ = make(name, solver="lbfgs")
    assert not hasattr(lbfgs, "partial_fit")  # scikit-learn's behaviour
    with pytest.raises(AttributeError, match="partial_fit"):
        _ = lbfgs.partial_fit
    if kind == "classifier":
        est, _ = make(name, class_weight="balanced")
        with pytest.raises(ValueError, match="balanced"):
            est.partial_fit(X, y, classes=[0, 1, 2])


# -- hyperparameters ------------------------------------------------------------
ENGINE_BAD = [
    ("solver", "newton"), ("solver", 3),
    ("alpha", -1.0), ("alpha", np.nan), ("alpha", "big"),
    ("batch_size", 0), ("batch_size", 1.5), ("batch_size", "max"),
    ("learning_rate", "fast"), ("learning_rate_init", 0.0),
    ("learning_rate_init", -1e-3), ("learning_rate_init", np.inf),
    ("learning_rate_init", np.nan),
    ("power_t", -0.5), ("max_iter", 0), ("max_iter", 2.5), ("shuffle", "yes"),
    ("random_state", "seed"), ("random_state", -1), ("random_state", 1.5),
    ("tol", -1.0), ("tol", np.nan), ("verbose", "loud"), ("warm_start", "no"),
    ("momentum", 1.5), ("momentum", -0.1), ("nesterovs_momentum", "yes"),
    ("early_stopping", 2), ("validation_fraction", 1.0),
    ("validation_fraction", -0.1), ("beta_1", 1.0), ("beta_2", -0.1),
    ("epsilon", 0.0), ("n_iter_no_change", 0), ("max_fun", 0),
    ("n_jobs", 0), ("n_jobs", 1.5), ("n_jobs", "all"),
    ("hidden_layer_sizes", (0,)), ("hidden_layer_sizes", (5, -1)),
    ("hidden_layer_sizes", (2.5,)), ("hidden_layer_sizes", "abc"),
    ("hidden_layer_sizes", None), ("hidden_layer_sizes", [[1, 2]]),
    ("hidden_layer_sizes", (True,)),
    ("activation", "swish"), ("activation", ["swish"]), ("activation", 3),
    ("dropout", 1.0), ("dropout", -0.1), ("dropout", np.nan), ("dropout", "a"),
    ("dropout", [1.5]),
    # training control
    ("lr_schedule", "linear"), ("lr_schedule", 3), ("lr_schedule", ["cosine"]),
    ("scoring", "accuracyy"), ("scoring", 3), ("scoring", ["accuracy"]),
    ("callbacks", print), ("callbacks", "print"), ("callbacks", [3]),
    ("callbacks", [print, None]), ("init", "xavier"), ("init", 3),
]
# Pretraining / fine-tuning parameters of the supervised networks (SPECS
# networks have 2 (dense) or 3 (conv) weight layers; a wrong-sized fitted
# init is in test_init_with_wrong_sizes).
TRANSFER_BAD = [
    ("frozen_layers", -1), ("frozen_layers", "a"), ("frozen_layers", 1.5),
    ("frozen_layers", None), ("frozen_layers", 5), ("frozen_layers", 3),
    ("init", AutoEncoderTransformer(n_components=2, hidden_layer_sizes=(5,))),
    ("init", clone), ("init", [AutoEncoderTransformer()]),
]
# Per-hidden-layer lists of the wrong length (one hidden layer in SPECS).
LAYERWISE_BAD = [("activation", ["relu", "tanh"]), ("dropout", [0.1, 0.2])]
# Conv estimators' layout and block parameters (one block, one hidden layer
# in SPECS: per-block lists have 1 entry, dropout lists 1 or 2).
CONV_BLOCKS_BAD = [
    ("data_format", "nhwc"), ("data_format", None), ("data_format", ["channels_last"]),
    ("input_shape", (3, 4, 4)), ("pool", ["min"]), ("pool", ["max", "max"]),
    ("pool", 2), ("pool", [2]), ("pool_size", [0]), ("pool_size", [2, 2]),
    ("pool_size", 2.5), ("pool_size", ["2"]), ("pool_size", None),
    ("global_pool", "sum"), ("global_pool", 1), ("global_pool", ["avg"]),
    ("dropout", [0.1, 0.2, 0.3]), ("dropout", [1.5, 0.1]), ("dropout", [0.1, "a"]),
    ("init", "zeros"),
]
MODEL_BAD = {
    "MLPRegressorX": [
        ("loss", "hinge"), ("loss", None), ("init", None),
        ("huber_delta", 0.0), ("huber_delta", -1.0), ("huber_delta", np.nan),
        ("huber_delta", "1"), ("quantile", 0.0), ("quantile", 1.0), ("quantile", -0.5),
        ("quantile", np.nan), ("quantile", "median"),
    ] + LAYERWISE_BAD + TRANSFER_BAD,
    "MLPClassifierX": [("class_weight", "even"), ("class_weight", [1, 2]), ("init", None)]
    + LAYERWISE_BAD + TRANSFER_BAD,
    "ConvClassifier": [
        ("class_weight", "even"), ("input_shape", (1, 3, 3)),
        ("input_shape", (1, 4, 4, 4, 4)), ("input_shape", (0, 4, 4)),
        ("input_shape", "square"), ("filters", (0,)), ("filters", 2.5),
        ("kernel_size", 0), ("kernel_size", [3, 3]), ("stride", 0),
        ("padding", "full"), ("pool", "min"), ("pool_size", 0),
    ] + CONV_BLOCKS_BAD + TRANSFER_BAD,
    "ConvRegressor": [("loss", "hinge"), ("loss", None), ("huber_delta", 0.0),
                      ("huber_delta", "1"), ("quantile", 1.0), ("quantile", 0.0)]
    + CONV_BLOCKS_BAD + TRANSFER_BAD,
    "AutoEncoderTransformer": [
        ("n_components", 0), ("n_components", 1.5), ("code_activation", "swish"),
        ("out_activation", "relu"), ("loss", "huber"), ("tied_weights", "yes"),
        ("init", None),
        ("noise", -0.1), ("noise_type", "salt"), ("code_l1", -1.0),
    ] + LAYERWISE_BAD,
}
HYPER_CASES = [(n, p, v) for n in NAMES for p, v in ENGINE_BAD + MODEL_BAD.get(n, [])]


def _value_id(value):
    """A test id for a bad value that is the same in every process (a
    function's repr holds its address, and pytest-xdist's workers must
    collect the same ids)."""
    return value.__qualname__ if callable(value) and hasattr(value, "__qualname__") \
        else repr(value)


@pytest.mark.parametrize("name,param,value", HYPER_CASES,
                         ids=[f"{n}-{p}={_value_id(v)}" for n, p, v in HYPER_CASES])
def test_invalid_hyperparameter(name, param, value, no_kernels):
    est, kind = make(name, **{param: value})
    X, y = data(kind)
    with pytest.raises((ValueError, TypeError), match=param):
        fit(est, kind, X, y)
    assert not hasattr(est, "coefs_")


@pytest.fixture(scope="module")
def wrong_sources():
    """Fitted estimators whose layers fit no SPECS network (fitted before
    ``no_kernels`` is set up): a 16 -> 4 -> 3 autoencoder (SPECS has 5 hidden
    units), an MLP with 7 hidden units and a conv net with 3 filters."""
    X, y = data("classifier")
    return {
        "autoencoder": fit(AutoEncoderTransformer(3, (4,), max_iter=2, random_state=0),
                           "transformer", X),
        "mlp": fit(make("MLPClassifierX", hidden_layer_sizes=(7,))[0], "classifier",
                   X, y),
        "conv": fit(make("ConvClassifier", filters=(3,))[0], "classifier", X, y),
    }


SUPERVISED = [n for n in NAMES if SPECS[n][0] != "transformer"]


@pytest.mark.parametrize("source", ["autoencoder", "mlp", "conv"])
@pytest.mark.parametrize("name", SUPERVISED)
def test_init_with_wrong_sizes(name, source, wrong_sources, no_kernels):
    """A fitted init whose layers do not fit raises a ValueError naming init
    (and the shapes, for a source of the right kind) before any kernel runs."""
    est, kind = make(name, init=wrong_sources[source])
    X, y = data(kind)
    same_kind = (source == "conv") == (name in CONV) and not (
        source == "autoencoder" and name in CONV)
    pattern = r"init: .* has weight shapes \[\(" if same_kind else "init=.*cannot start"
    with pytest.raises(ValueError, match=pattern):
        fit(est, kind, X, y)
    assert not hasattr(est, "coefs_")


DENSE = ("MLPClassifierX", "MLPRegressorX", "AutoEncoderTransformer")
INCONSISTENT = [
    # estimators ("*": all), params, pattern
    ("*", dict(early_stopping=True, validation_fraction=0.0), "validation_fraction"),
    ("*", dict(solver="sgd", learning_rate="adaptive", lr_schedule="cosine"),
     "lr_schedule"),
    (DENSE, dict(hidden_layer_sizes=(5, 5), activation=["relu"] * 3), "activation"),
    (DENSE, dict(hidden_layer_sizes=(5, 5), dropout=[0.1]), "dropout"),
    ("AutoEncoderTransformer", dict(loss="binary_crossentropy",
                                    out_activation="identity"), "loss|out_activation"),
    ("AutoEncoderTransformer", dict(noise_type="mask", noise=1.0), "noise"),
    ("ConvClassifier", dict(filters=(2, 2), kernel_size=[3, 3, 3]), "kernel_size"),
    ("ConvClassifier", dict(input_shape=(1, 4, 4), kernel_size=5, padding="valid"),
     "kernel_size|does not fit"),
    ("ConvClassifier", dict(input_shape=(2, 4, 4)), "input_shape"),
    (CONV, dict(filters=(2, 2), pool=["max"]), "pool"),
    (CONV, dict(filters=(2, 2), pool_size=[2, 2, 2]), "pool_size"),
    (CONV, dict(filters=(2, 2), hidden_layer_sizes=(5, 5), dropout=[0.1] * 3),
     "dropout"),
    (CONV, dict(data_format="channels_last", input_shape=(4, 4, 2)), "input_shape"),
]


INCONSISTENT_CASES = [(n, c) for n in NAMES for c in INCONSISTENT
                      if c[0] == "*" or n in c[0]]


@pytest.mark.parametrize("name,case", INCONSISTENT_CASES,
                         ids=[f"{n}-" + "-".join(sorted(c[1]))
                              for n, c in INCONSISTENT_CASES])
def test_inconsistent_hyperparameters(name, case, no_kernels):
    _, params, pattern = case
    est, kind = make(name, **params)
    X, y = data(kind)
    with pytest.raises(ValueError, match=pattern):
        fit(est, kind, X, y)


def test_input_shape_and_images_smaller_than_kernel(no_kernels):
    name = "ConvClassifier"
    est, kind = make(name, input_shape=(1, 5, 5))
    X, y = data(kind)  # 16 features, not 25
    with pytest.raises(ValueError, match="input_shape"):
        fit(est, kind, X, y)
    est, _ = make(name, input_shape=(1, 2, 2), kernel_size=3, padding="valid")
    with pytest.raises(ValueError, match="kernel_size|does not fit"):
        fit(est, kind, X[:, :4], y)


@pytest.mark.parametrize("name", NAMES)
def test_fit_time_combinations(name):
    est, kind = make(name)
    X, y = data(kind)
    if kind != "transformer":
        with pytest.raises(ValueError, match="X_val and y_val"):
            fit(est, kind, X, y, X_val=X)
    fit(est, kind, X, y)
    before = [c.copy() for c in est.coefs_]
    est.set_params(warm_start=True, hidden_layer_sizes=(6,))
    with pytest.raises(ValueError, match="architecture"):
        fit(est, kind, X, y)
    est.set_params(hidden_layer_sizes=SPECS[name][1]["hidden_layer_sizes"])
    with pytest.raises(ValueError, match="features"):
        fit(est, kind, X[:, :-1], y)
    for a, b in zip(before, est.coefs_):
        np.testing.assert_array_equal(a, b)
    assert est.n_features_in_ == N_FEATURES


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plain_input_fast_path_matches_validate_data(dtype, monkeypatch):
    """Small plain float arrays skip ``validate_data`` in predict; the result
    is the same bits, and inputs that must warn or raise still do."""
    import pandas as pd

    from sknn import MLPClassifierX
    from sknn._base import BaseNeuralNetwork

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5)).astype(dtype)
    y = (X[:, 0] > 0).astype(int)
    est = MLPClassifierX(hidden_layer_sizes=(7,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    assert est._plain_input(X[:3])
    fast = est.predict_proba(X[:3])
    monkeypatch.setattr(BaseNeuralNetwork, "_plain_input", lambda self, X: False)
    np.testing.assert_array_equal(fast, est.predict_proba(X[:3]))
    monkeypatch.undo()

    bad = X[:3].copy()
    bad[1, 2] = np.nan
    assert not est._plain_input(bad)
    with pytest.raises(ValueError, match="NaN"):
        est.predict(bad)
    with pytest.raises(ValueError, match="5 features"):
        est.predict(X[:3, :4])
    assert not est._plain_input(X[:0])
    with pytest.raises(ValueError, match="0 sample"):
        est.predict(X[:0])
    named = clone(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        named.fit(pd.DataFrame(X, columns=list("abcde")), y)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        named.predict(X[:3])


def test_autoencoder_plain_input_fast_path_matches_validated(monkeypatch):
    """transform / inverse_transform / score_samples take the same shortcut
    for small plain arrays: same bits as through validation, and bad codes or
    inputs still raise."""
    from sknn import AutoEncoderTransformer
    from sknn._base import BaseNeuralNetwork

    rng = np.random.default_rng(1)
    X = rng.random((30, 6))
    ae = AutoEncoderTransformer(2, (4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ae.fit(X)
    Z = ae.transform(X[:4])
    fast = (Z, ae.inverse_transform(Z), ae.score_samples(X[:4]),
            ae.inverse_transform(np.asfortranarray(Z)))
    monkeypatch.setattr(BaseNeuralNetwork, "_plain_input", lambda self, X, n=None: False)
    slow_Z = ae.transform(X[:4])
    slow = (slow_Z, ae.inverse_transform(slow_Z), ae.score_samples(X[:4]),
            ae.inverse_transform(np.asfortranarray(slow_Z)))
    monkeypatch.undo()
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)
    bad = Z.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        ae.inverse_transform(bad)
    with pytest.raises(ValueError, match="code size"):
        ae.inverse_transform(Z[:, :1])
    with pytest.raises(ValueError, match="NaN"):
        ae.transform(np.full((1, 6), np.nan))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad, pattern", [(np.nan, "NaN"), (np.inf, "infinity"),
                                          (-np.inf, "infinity")])
def test_large_non_finite_X_at_predict(dtype, bad, pattern):
    """Inputs above the small-array shortcut are checked for finiteness by a
    parallel kernel, not by ``validate_data``, on every path that takes
    ``X`` after fit: a bad value in any row chunk still raises
    scikit-learn's error, and a finite input gives the same as through
    ``validate_data``."""
    import warnings

    from sknn import AutoEncoderTransformer, MLPClassifierX
    from sknn._base import _PLAIN_MAX_SIZE

    rng = np.random.default_rng(0)
    X = rng.standard_normal((_PLAIN_MAX_SIZE // 20 + 500, 20)).astype(dtype)
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifierX((5,), max_iter=2, random_state=0).fit(X[:200], y[:200])
        ae = AutoEncoderTransformer(2, (4,), max_iter=2, random_state=0).fit(X[:200])
    for method in (est.predict_proba, ae.transform):
        expected = method(X[:1000])
        np.testing.assert_array_equal(method(X)[:1000], expected)
        for row in (0, X.shape[0] // 2, -1):
            Xb = X.copy()
            Xb[row, 7] = bad
            with pytest.raises(ValueError, match=pattern):
                method(Xb)


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predict_finds_non_finite_rows_in_its_products(dtype, n_jobs, monkeypatch):
    """A large input's finiteness is checked by the first dense layer, which
    counts the non-finite values of each chunk's product before the bias
    and activation (which could hide them: ReLU maps NaN and -inf to 0).
    A bad value at a chunk's edges, in one column of a unit whose weights
    are all zero, raises scikit-learn's error; finite values so large that
    the product overflows give the outputs the network computes, as without
    the check."""
    import warnings

    from sknn import MLPClassifierX
    from sknn._runtime import ExecutionPlan, threshold

    # two threads: the product task counts (compiled here if not cached)
    monkeypatch.setattr(ExecutionPlan, "runs_task",
                        lambda self, task, work, compile_min: self.n_threads > 1)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 30)).astype(dtype)
    y = rng.integers(0, 3, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifierX((8,), max_iter=2, random_state=0, n_jobs=n_jobs).fit(X, y)
    # Feature 4's weights are all positive: -inf there makes every hidden
    # pre-activation -inf, which ReLU turns into 0.  Feature 5's are all
    # zero: inf * 0 is NaN, not 0.
    est.coefs_[0][4] = np.abs(est.coefs_[0][4]) + 0.1
    est.coefs_[0][5] = 0.0
    chunk = threshold("predict_chunk_rows")
    Xp = rng.standard_normal((2 * chunk + 7, 30)).astype(dtype)
    expected = est.predict_proba(Xp)
    for row in (0, chunk - 1, chunk, chunk + chunk // 2, 2 * chunk + 6):
        for col, bad, pattern in ((4, -np.inf, "infinity"), (4, np.nan, "NaN"),
                                  (4, np.inf, "infinity"), (5, np.inf, "infinity")):
            Xb = Xp.copy()
            Xb[row, col] = bad
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # the error, and no warning first
                with pytest.raises(ValueError, match=pattern):
                    est.predict_proba(Xb)
    huge = Xp.copy()
    huge[chunk + 3] = np.finfo(dtype).max
    with np.errstate(all="ignore"):
        out = est.predict_proba(huge)
    keep = np.arange(len(Xp)) != chunk + 3
    np.testing.assert_array_equal(out[keep], expected[keep])
