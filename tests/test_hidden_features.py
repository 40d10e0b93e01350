"""Hidden features (issue 25, item 4): ``transform`` of the supervised networks.

``transform`` returns the activations of the last hidden layer (the input of
the output layer).  The oracle is a NumPy rebuild from ``coefs_`` /
``intercepts_`` (for the convolutional networks with ``scipy.signal``
correlations); the output layer applied to the features gives the
predictions back, and the scikit-learn transformer API (feature names,
``set_output``, pipelines) works on every network.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.signal import correlate
from scipy.special import erf, expit
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import (
    check_global_output_transform_pandas,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
)

from sknn import ConvClassifier, ConvRegressor, MLPClassifierX, MLPRegressorX, _runtime

ACT = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "logistic": expit,
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
}


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _dense_features(X, coefs, intercepts, acts):
    a = np.asarray(X, dtype=np.float64)
    for w, b, act in zip(coefs, intercepts, acts):
        a = ACT[act](a @ w + b)
    return a


def _problem(n=60, n_features=7, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, n_features))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 1)
    return X, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_mlp_classifier_features_are_the_last_hidden_layer(dtype, solver):
    X, y = _problem()
    X = X.astype(dtype)
    acts = ["tanh", "relu", "gelu"]
    clf = _fit(MLPClassifierX((6, 5, 4), activation=acts, dropout=[0.2, 0.0, 0.3],
                              solver=solver, max_iter=20, random_state=0), X, y)
    Z = clf.transform(X)
    assert Z.shape == (len(X), 4) and Z.dtype == dtype
    ref = _dense_features(X, clf.coefs_[:-1], clf.intercepts_[:-1], acts)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10,
                                                                        atol=1e-12)
    np.testing.assert_allclose(Z, ref, **tol)
    # The output layer on the features gives the predictions (unchanged).
    z = Z.astype(np.float64) @ clf.coefs_[-1] + clf.intercepts_[-1]
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X), p / p.sum(1, keepdims=True),
                               **tol)
    names = clf.get_feature_names_out()
    assert list(names) == [f"mlpclassifierx{i}" for i in range(4)]


def test_mlp_regressor_features_multi_output_and_poisson():
    X, _ = _problem()
    Y = np.c_[np.abs(X[:, 0]), X[:, 1] ** 2]
    reg = _fit(MLPRegressorX(loss="poisson", hidden_layer_sizes=(8,),
                             activation="logistic", max_iter=30, random_state=0),
               X, Y)
    Z = reg.transform(X)
    np.testing.assert_allclose(
        Z, _dense_features(X, reg.coefs_[:1], reg.intercepts_[:1], ["logistic"]),
        rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(reg.predict(X),
                               np.exp(Z @ reg.coefs_[1] + reg.intercepts_[1]),
                               rtol=1e-10)
    assert list(reg.get_feature_names_out())[-1] == "mlpregressorx7"


def test_sparse_input_and_chunked_inference(monkeypatch):
    X, y = _problem(n=300)
    X[np.abs(X) < 0.8] = 0.0
    clf = _fit(MLPClassifierX((5,), max_iter=10, random_state=0), sp.csr_matrix(X), y)
    full = clf.transform(X)
    # sparse products sum in another order: equal to rounding
    np.testing.assert_allclose(clf.transform(sp.csr_matrix(X)), full, rtol=1e-12,
                               atol=1e-13)
    table = dict(_runtime.THRESHOLDS)
    table["predict_chunk_rows"] = (7, table["predict_chunk_rows"][1])
    monkeypatch.setattr(_runtime, "THRESHOLDS", table)
    np.testing.assert_array_equal(clf.transform(X), full)


def test_no_hidden_layer_returns_the_input():
    """Documented: the output layer then reads X itself (as a dense array)."""
    X, y = _problem()
    clf = _fit(MLPClassifierX(hidden_layer_sizes=(), max_iter=5, random_state=0), X, y)
    Z = clf.transform(X)
    np.testing.assert_array_equal(Z, X)
    assert Z is not X
    np.testing.assert_array_equal(clf.transform(sp.csr_matrix(X)), X)
    assert clf.get_feature_names_out().shape == (X.shape[1],)


# -- convolutional networks ------------------------------------------------------
def _conv_same(a, w, b):
    """'same' convolution, stride 1, TensorFlow padding, via scipy.signal."""
    n, c, h, wd = a.shape
    f, _, k, _ = w.shape
    top = (k - 1) // 2
    pad = np.zeros((n, c, h + k - 1, wd + k - 1))
    pad[:, :, top:top + h, top:top + wd] = a
    out = np.empty((n, f, h, wd))
    for i in range(n):
        for j in range(f):
            out[i, j] = correlate(pad[i], w[j], mode="valid")[0] + b[j]
    return out


def _pool(a, size, mode):
    n, c, h, w = a.shape
    sh, sw = min(size, h), min(size, w)
    v = a[:, :, :h // sh * sh, :w // sw * sw].reshape(n, c, h // sh, sh, w // sw, sw)
    return v.max(axis=(3, 5)) if mode == "max" else v.mean(axis=(3, 5))


def _images(n=50, shape=(2, 6, 6), seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, *shape)
    y = (X[:, 0, :3].mean(axis=(1, 2)) > X[:, -1, 3:].mean(axis=(1, 2))).astype(int)
    return X, y


@pytest.mark.parametrize("cls", [ConvClassifier, ConvRegressor])
@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_conv_features_rebuilt_with_scipy(cls, data_format):
    X, y = _images()
    Xin = X if data_format == "channels_first" else X.transpose(0, 2, 3, 1)
    est = _fit(cls(data_format=data_format, filters=(3, 4), kernel_size=[3, 2],
                   pool=["max", "mean"], hidden_layer_sizes=(5,),
                   activation=["relu", "tanh", "elu"], dropout=[0.2, 0.1, 0.3],
                   max_iter=5, random_state=0), Xin, y if cls is ConvClassifier
               else y + X[:, 0, 0, 0])
    a = ACT["relu"](_conv_same(X, est.coefs_[0], est.intercepts_[0]))
    a = _pool(a, 2, "max")
    a = ACT["tanh"](_conv_same(a, est.coefs_[1], est.intercepts_[1]))
    a = _pool(a, 2, "mean").reshape(len(X), -1)
    ref = ACT["elu"](a @ est.coefs_[2] + est.intercepts_[2])
    Z = est.transform(Xin)
    np.testing.assert_allclose(Z, ref, rtol=1e-9, atol=1e-12)
    assert Z.shape == (len(X), 5)
    # As flat rows, too.
    np.testing.assert_array_equal(est.transform(Xin.reshape(len(X), -1)), Z)
    assert est.get_feature_names_out()[0] == cls.__name__.lower() + "0"


def test_conv_without_dense_hidden_layers_returns_flattened_maps():
    X, y = _images()
    clf = _fit(ConvClassifier(filters=(3,), global_pool=None, hidden_layer_sizes=(),
                              max_iter=5, random_state=0), X, y)
    a = _pool(ACT["relu"](_conv_same(X, clf.coefs_[0], clf.intercepts_[0])), 2, "max")
    Z = clf.transform(X.astype(np.float32))
    assert Z.dtype == np.float32 and Z.shape == (len(X), 3 * 3 * 3)
    np.testing.assert_allclose(Z, a.reshape(len(X), -1), rtol=1e-5, atol=1e-6)
    gp = _fit(ConvClassifier(filters=(3,), global_pool="avg", hidden_layer_sizes=(),
                             max_iter=5, random_state=0), X, y)
    a = _pool(ACT["relu"](_conv_same(X, gp.coefs_[0], gp.intercepts_[0])), 2, "max")
    np.testing.assert_allclose(gp.transform(X), a.mean(axis=(2, 3)), rtol=1e-9,
                               atol=1e-12)


# -- the transformer API --------------------------------------------------------
ESTIMATORS = [
    MLPClassifierX((6,), max_iter=20, random_state=0),
    MLPRegressorX(hidden_layer_sizes=(6,), max_iter=20, random_state=0),
    ConvClassifier(filters=(2,), hidden_layer_sizes=(4,), max_iter=5, random_state=0),
    ConvRegressor(filters=(2,), hidden_layer_sizes=(), max_iter=5, random_state=0),
]
SET_OUTPUT_CHECKS = [
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_global_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
]


@pytest.mark.parametrize("check", SET_OUTPUT_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_scikit_learn_set_output_checks(est, check):
    pytest.importorskip("pandas")
    with warnings.catch_warnings():
        # the checks mix fits with and without feature names on purpose
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(type(est).__name__, clone(est))


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_pandas_output_and_fit_transform(est):
    pd = pytest.importorskip("pandas")
    X, y = _images(n=40, shape=(1, 4, 4))
    X = X.reshape(40, 16)
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(16)], index=np.arange(40) + 5)
    target = y if is_classifier(est) else y + X[:, 0]
    a = _fit(clone(est), df, target)
    b = clone(est).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Zb = b.fit_transform(df, target)
    assert isinstance(Zb, pd.DataFrame)
    assert list(Zb.columns) == list(a.get_feature_names_out())
    assert list(Zb.index) == list(df.index)
    np.testing.assert_array_equal(Zb.to_numpy(), a.transform(df))
    np.testing.assert_array_equal(b.predict(df), a.predict(df))


def test_fitted_network_as_a_pipeline_step():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    pipe = make_pipeline(
        ConvClassifier(input_shape=(1, 8, 8), filters=(6,), hidden_layer_sizes=(32,),
                       learning_rate_init=0.01, max_iter=8, random_state=0),
        LogisticRegression(max_iter=500))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X[:1000], y[:1000])
    conv = pipe[0]
    assert pipe.score(X[1000:], y[1000:]) > 0.85
    # The logistic regression saw exactly the conv net's hidden features.
    lr = LogisticRegression(max_iter=500).fit(conv.transform(X[:1000]), y[:1000])
    np.testing.assert_allclose(pipe[-1].coef_, lr.coef_)
    assert list(pipe[:-1].get_feature_names_out())[:2] == ["convclassifier0",
                                                            "convclassifier1"]


def test_unfitted_transform_raises_and_is_tagged_a_transformer():
    from sklearn.exceptions import NotFittedError
    from sklearn.utils import get_tags

    for est in ESTIMATORS:
        with pytest.raises(NotFittedError):
            clone(est).transform(np.ones((2, 16)))
        tags = get_tags(est)
        assert tags.transformer_tags is not None
        assert tags.transformer_tags.preserves_dtype == ["float64", "float32"]
        assert tags.estimator_type in ("classifier", "regressor")
