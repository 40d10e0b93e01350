"""ONNX export: onnxruntime reproduces every sknn estimator (extra ``onnx``).

``predict`` must match exactly and probabilities / outputs / codes to 1e-5 in
float32.  Conv and autoencoder graphs are also checked against a NumPy
reference on hand-built fitted state, so their converter code paths are
tested before (and independently of) the estimators themselves.
"""

import warnings

import numpy as np
import pytest
from _extras import require_extra, sknn_estimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

require_extra("onnx")

import onnxruntime as ort  # noqa: E402
import skl2onnx  # noqa: E402

from sknn import MLPClassifierX, MLPRegressorX  # noqa: E402
from sknn.onnx import to_onnx  # noqa: E402

TOL = {"rtol": 1e-5, "atol": 1e-5}


def run(onx, X):
    sess = ort.InferenceSession(onx.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X})


def op_types(onx):
    return {node.op_type for node in onx.graph.node}


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16.0).astype(np.float32), y[:400]


def fit_quiet(est, X, y=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X) if y is None else est.fit(X, y)


def make(cls, **params):
    """``cls(**params)`` keeping only the parameters ``cls`` has."""
    names = cls().get_params()
    return cls(**{k: v for k, v in params.items() if k in names})


TARGETS = {
    "multiclass": lambda y: y,
    "binary": lambda y: y % 2,
    "strings": lambda y: np.array(["cat", "dog", "emu"])[y % 3],
    "multilabel": lambda y: np.c_[y % 2, y % 3 == 0, y > 4].astype(int),
}


@pytest.mark.parametrize("target, activation", [
    ("multiclass", "relu"),
    ("multiclass", ("logistic", "tanh")),
    ("multiclass", ("leaky_relu", "elu")),
    ("binary", ("logistic", "tanh")),
    ("strings", "relu"),
    ("multilabel", ("leaky_relu", "elu")),
    ("multiclass", ("gelu", "silu")),
    ("binary", ("softplus", "gelu")),
])
def test_classifier_roundtrip(data, target, activation):
    X, y = data
    y = TARGETS[target](y)
    sizes = (16,) if isinstance(activation, str) else (16, 12)
    clf = fit_quiet(MLPClassifierX(sizes, activation=activation, dropout=0.1,
                                   max_iter=20, random_state=0), X, y)
    onx = to_onnx(clf, X[:1])
    assert "Dropout" not in op_types(onx)
    label, proba = run(onx, X)
    np.testing.assert_array_equal(label, clf.predict(X))
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, clf.predict_proba(X), **TOL)


def test_classifier_float64_graph(data):
    X, y = data
    X = X.astype(np.float64)
    clf = fit_quiet(MLPClassifierX((16,), max_iter=20, random_state=0), X, y)
    label, proba = run(to_onnx(clf, X[:1], dtype=np.float64), X)
    assert proba.dtype == np.float64
    np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_roundtrip(data, loss, n_outputs):
    X, y = data
    Y = y.astype(float) if n_outputs == 1 else np.c_[y, y % 3].astype(float)
    reg = fit_quiet(MLPRegressorX(loss, (16,), activation="tanh", max_iter=20,
                                  random_state=0), X, Y)
    (out,) = run(to_onnx(reg, X[:1]), X)
    assert out.shape == (X.shape[0], n_outputs)
    np.testing.assert_allclose(out.reshape(reg.predict(X).shape), reg.predict(X),
                               **TOL)


def test_pipeline_classifier_with_skl2onnx(data):
    """Converters are registered with skl2onnx: its own to_onnx works."""
    X, y = data
    X = X * 16
    pipe = fit_quiet(make_pipeline(
        StandardScaler(), MLPClassifierX((16,), max_iter=20, random_state=0)), X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1], options={MLPClassifierX: {"zipmap": False}})
    assert {"Scaler", "Gemm", "Softmax", "ArgMax"} <= op_types(onx)
    label, proba = run(onx, X)
    np.testing.assert_array_equal(label, pipe.predict(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), **TOL)
    # skl2onnx's default for classifiers: probabilities as a list of dicts.
    label, proba = run(skl2onnx.to_onnx(pipe, X[:1]), X)
    np.testing.assert_array_equal(label, pipe.predict(X))
    assert proba[0].keys() == set(range(10))
    np.testing.assert_allclose([proba[0][k] for k in range(10)],
                               pipe.predict_proba(X[:1])[0], **TOL)


def test_pipeline_regressor(data):
    X, y = data
    X = X * 16
    pipe = fit_quiet(make_pipeline(
        StandardScaler(), MLPRegressorX(hidden_layer_sizes=(16,), max_iter=20,
                                        random_state=0)), X, y.astype(float))
    (out,) = run(to_onnx(pipe, X[:1]), X)
    np.testing.assert_allclose(out.ravel(), pipe.predict(X), **TOL)


def test_classifier_options(data):
    X, y = data
    clf = fit_quiet(MLPClassifierX((8,), max_iter=5, random_state=0), X, y + 10)
    outs = run(to_onnx(clf, X[:1], options={MLPClassifierX: {"nocl": True}}), X)
    np.testing.assert_array_equal(outs[0], clf.predict(X) - 10)
    outs = run(to_onnx(clf, X[:1], zipmap="columns"), X)
    assert len(outs) == 1 + 10
    np.testing.assert_array_equal(outs[0], clf.predict(X))


# -- conv and autoencoder graphs against a NumPy reference ------------------


def _conv_ref(x, w, b, stride, pad, out_hw):
    """Cross-correlation with top/left padding ``pad``; zeros beyond the image."""
    n, c, h, wid = x.shape
    f, _, kh, kw = w.shape
    oh, ow = out_hw
    ph = max((oh - 1) * stride + kh - h - pad[0], 0)
    pw = max((ow - 1) * stride + kw - wid - pad[1], 0)
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], ph), (pad[1], pw)))
    out = np.empty((n, f, oh, ow), dtype=np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out + b[None, :, None, None]


def _pool_ref(x, size, op):
    n, c, h, w = x.shape
    oh, ow = h // size, w // size
    x = x[:, :, :oh * size, :ow * size].reshape(n, c, oh, size, ow, size)
    return op(x, axis=(3, 5))


_ACT = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "tanh": np.tanh,
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "logistic": lambda z: 1 / (1 + np.exp(-z)),
}


def _reference_forward(specs, coefs, intercepts, out_hw, X):
    coefs, intercepts = iter(coefs), iter(intercepts)
    a = X.astype(np.float64)
    if "in_shape" in specs[0][1]:
        a = a.reshape((-1,) + specs[0][1]["in_shape"])
    for i, (name, kw) in enumerate(specs):
        if name == "conv2d":
            a = _ACT[kw["activation"]](_conv_ref(a, next(coefs), next(intercepts),
                                                 kw["stride"], kw["pad"], out_hw[i]))
        elif name == "maxpool2d":
            a = _pool_ref(a, kw["size"], np.max)
        elif name == "meanpool2d":
            a = _pool_ref(a, kw["size"], np.mean)
        elif name == "dense":
            a = a.reshape(a.shape[0], -1) @ next(coefs) + next(intercepts)
            a = _ACT[kw["activation"]](a)
    return a


@pytest.mark.parametrize("params", [
    # asymmetric "same" padding (stride 2), max pooling, dropout, several activations
    dict(filters=(3, 4), kernel_size=3, stride=[2, 1], pool="max",
         hidden_layer_sizes=(6,), activation=["relu", "elu", "leaky_relu"],
         dropout=0.2),
    # "valid" convolutions, mean pooling, no dense hidden layer
    dict(filters=(4, 5), kernel_size=[3, 1], padding="valid", pool="mean",
         hidden_layer_sizes=(), activation="tanh"),
])
def test_conv_graph_matches_estimator(data, params):
    ConvClassifier = sknn_estimator("ConvClassifier")
    X, y = data
    clf = fit_quiet(ConvClassifier(input_shape=(1, 8, 8), max_iter=3, random_state=0,
                                   **params), X, y)
    onx = to_onnx(clf, X[:1])
    assert {"Conv", "Gemm", "Softmax"} <= op_types(onx)
    assert "Dropout" not in op_types(onx)
    label, proba = run(onx, X)
    np.testing.assert_allclose(proba, clf.predict_proba(X), **TOL)
    np.testing.assert_array_equal(label, clf.predict(X))
    # float64 input: onnxruntime has no float64 Conv, the graph casts around it.
    X64 = X.astype(np.float64)
    _, proba64 = run(to_onnx(clf, X64[:1], dtype=np.float64), X64)
    assert proba64.dtype == np.float64
    np.testing.assert_allclose(proba64, clf.predict_proba(X64), **TOL)


class _CodeTransformer:
    """Stand-in fitted autoencoder: just the state the converter reads."""

    def transform(self, X):  # the reference: the encoder's layers only
        specs = self._layer_specs_
        dense = [i for i, (name, _) in enumerate(specs)
                 if name in ("dense", "tied_dense")]
        stop = getattr(self, "_code_layer_", dense[len(dense) // 2 - 1]) + 1
        return _reference_forward(specs[:stop], self.coefs_, self.intercepts_, {}, X)


def _transformer_state(kind, rng):
    if kind == "code_layer":  # _code_layer_ given: dense, dropout, dense (code), ...
        specs = [
            ("dense", {"n_in": 64, "n_out": 24, "activation": "relu"}),
            ("dropout", {"shape": (24,), "rate": 0.1}),
            ("dense", {"n_in": 24, "n_out": 6, "activation": "tanh"}),
            ("dense", {"n_in": 6, "n_out": 24, "activation": "relu"}),
            ("dense", {"n_in": 24, "n_out": 64, "activation": "identity"}),
        ]
        coefs = [rng.normal(size=(a["n_in"], a["n_out"])) * 0.3 for _, a in specs
                 if "n_in" in a]
        intercepts = [rng.normal(size=c.shape[1]) * 0.1 for c in coefs]
        return specs, coefs, intercepts, {"_code_layer_": 2}
    # Tied decoder, input noise and a code penalty; the code layer is the last
    # layer of the first half of the dense stack.
    specs = [
        ("noise", {"shape": (64,), "level": 0.1, "kind": "gaussian"}),
        ("dense", {"n_in": 64, "n_out": 16, "activation": "elu"}),
        ("dense", {"n_in": 16, "n_out": 4, "activation": "logistic"}),
        ("activity_l1", {"shape": (4,), "l1": 1e-3}),
        ("tied_dense", {"n_in": 4, "n_out": 16, "activation": "elu", "tied_to": 2}),
        ("tied_dense", {"n_in": 16, "n_out": 64, "activation": "identity",
                        "tied_to": 1}),
    ]
    coefs = [rng.normal(size=(64, 16)) * 0.3, rng.normal(size=(16, 4)) * 0.3]
    intercepts = [rng.normal(size=n) * 0.1 for n in (16, 4, 16, 64)]
    return specs, coefs, intercepts, {}


@pytest.mark.parametrize("kind", ["code_layer", "tied"])
def test_transformer_graph_matches_reference(data, kind):
    """The autoencoder path: a transform that stops at the code layer."""
    from skl2onnx import update_registered_converter
    from sklearn.base import BaseEstimator, TransformerMixin

    import sknn.onnx as sknn_onnx

    class Fake(_CodeTransformer, TransformerMixin, BaseEstimator):
        pass

    X, _ = data
    ae = Fake()
    specs, coefs, intercepts, extra = _transformer_state(kind,
                                                         np.random.default_rng(0))
    ae._layer_specs_, ae.coefs_, ae.intercepts_ = specs, coefs, intercepts
    ae.out_activation_ = "identity"
    for k, v in extra.items():
        setattr(ae, k, v)
    update_registered_converter(Fake, "SknnTestCodeTransformer",
                                sknn_onnx._transformer_shapes,
                                sknn_onnx._convert_transformer)
    (code,) = run(to_onnx(ae, X[:1]), X)
    expected = ae.transform(X)
    assert code.shape == expected.shape == (X.shape[0], 6 if extra else 4)
    np.testing.assert_allclose(code, expected, **TOL)


def test_inference_layers_skip_training_only_and_bind_tied_weights():
    """The converter's view of a network: what ``inference_layers`` yields."""
    from sknn._base import build_network

    specs, coefs, intercepts, _ = _transformer_state("tied", np.random.default_rng(0))
    layers = build_network(specs, None).inference_layers(coefs, intercepts)
    assert [i for i, _ in layers] == [1, 2, 4, 5]  # no noise, no activity_l1
    layer = dict(layers)
    assert np.shares_memory(layer[1].w, coefs[0])  # bound, not copied
    np.testing.assert_array_equal(layer[1].w, coefs[0])
    assert layer[2].b is intercepts[1]
    np.testing.assert_array_equal(layer[4].w, coefs[1].T)
    np.testing.assert_array_equal(layer[5].w, coefs[0].T)
    assert layer[4].b is intercepts[2]


# -- estimators that land later -------------------------------------------


def test_conv_classifier_roundtrip(data):
    ConvClassifier = sknn_estimator("ConvClassifier")
    X, y = data
    clf = fit_quiet(ConvClassifier(input_shape=(1, 8, 8), max_iter=3, random_state=0),
                    X, y)
    onx = to_onnx(clf, X[:1])
    assert {"Conv", "Gemm"} <= op_types(onx)
    label, proba = run(onx, X)
    np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), **TOL)
    pipe = fit_quiet(make_pipeline(StandardScaler(), clf), X, y)
    label, proba = run(to_onnx(pipe, X[:1]), X)
    np.testing.assert_array_equal(label, pipe.predict(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), **TOL)


def test_autoencoder_transform_roundtrip(data):
    AutoEncoderTransformer = sknn_estimator("AutoEncoderTransformer")
    X, _ = data
    ae = fit_quiet(make(AutoEncoderTransformer, max_iter=5, random_state=0), X)
    (code,) = run(to_onnx(ae, X[:1]), X)
    np.testing.assert_allclose(code, ae.transform(X), **TOL)
    pipe = fit_quiet(make_pipeline(StandardScaler(), ae), X)
    (code,) = run(to_onnx(pipe, X[:1]), X)
    np.testing.assert_allclose(code, pipe.transform(X), **TOL)


@pytest.mark.parametrize("name", ["ConvClassifier", "ConvRegressor"])
def test_channels_last_conv_graph_matches_estimator(name):
    # Rows are C-order over (H, W, C): the graph must transpose to channels
    # first before its first convolution, as the estimator does.
    est_cls = sknn_estimator(name)
    rng = np.random.RandomState(0)
    X = rng.rand(60, 6 * 5 * 3).astype(np.float32)
    y = rng.randint(0, 3, 60) if name == "ConvClassifier" else X[:, :2].sum(axis=1)
    est = fit_quiet(est_cls(input_shape=(6, 5, 3), data_format="channels_last",
                            filters=(4,), max_iter=3, random_state=0), X, y)
    outputs = run(to_onnx(est, X[:1]), X)
    if name == "ConvClassifier":
        np.testing.assert_array_equal(outputs[0], est.predict(X))
        np.testing.assert_allclose(outputs[1], est.predict_proba(X), **TOL)
    else:
        np.testing.assert_allclose(outputs[0].ravel(), est.predict(X), **TOL)


def test_pretrained_frozen_and_transforming_estimators_export_as_before(data):
    """init=fitted estimator and frozen_layers change only training; the
    estimators that gained ``transform`` still export their predictions."""
    from sknn import AutoEncoderTransformer, ConvClassifier

    X, y = data
    ae = fit_quiet(AutoEncoderTransformer(8, (16,), max_iter=3, random_state=0), X)
    clf = fit_quiet(MLPClassifierX((16, 8), init=ae, frozen_layers=1, max_iter=5,
                                   random_state=0), X, y)
    label, proba = run(to_onnx(clf, X[:1]), X)
    np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), **TOL)
    reg = fit_quiet(MLPRegressorX(hidden_layer_sizes=(16, 8), init=ae, max_iter=5,
                                  random_state=0), X, y.astype(float))
    (out,) = run(to_onnx(reg, X[:1]), X)
    np.testing.assert_allclose(out.ravel(), reg.predict(X), **TOL)
    src = fit_quiet(ConvClassifier(input_shape=(1, 8, 8), filters=(4,), max_iter=2,
                                   random_state=0), X, y)
    conv = fit_quiet(ConvClassifier(input_shape=(1, 8, 8), filters=(4,), init=src,
                                    frozen_layers=1, max_iter=2, random_state=0), X, y)
    label, proba = run(to_onnx(conv, X[:1]), X)
    np.testing.assert_array_equal(label, conv.predict(X))
    np.testing.assert_allclose(proba, conv.predict_proba(X), **TOL)


def test_hidden_features_step_is_refused_clearly(data):
    """A network used as a feature extractor (transform feeding another
    step) is not exported: a clear error instead of skl2onnx's."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_union

    X, y = data
    mlp = MLPClassifierX((8,), max_iter=3, random_state=0)
    for model in (make_pipeline(mlp, LogisticRegression(max_iter=200)),
                  make_pipeline(make_union(StandardScaler(), mlp),
                                LogisticRegression(max_iter=200)),
                  make_pipeline(ColumnTransformer([("net", mlp, slice(0, 64))]),
                                LogisticRegression(max_iter=200))):
        fit_quiet(model, X, y)
        with pytest.raises(NotImplementedError, match="MLPClassifierX is used as a "
                                                      "transformer"):
            to_onnx(model, X[:1])


@pytest.mark.parametrize("name, params", [
    ("ConvClassifier", dict(filters=(4, 6), pool=["max", None], global_pool="avg",
                            dropout=[0.2, 0.1, 0.1], hidden_layer_sizes=(8,))),
    ("ConvClassifier", dict(filters=(4,), pool=None, global_pool="max",
                            activation=["gelu", "silu"], hidden_layer_sizes=(8,))),
    ("ConvRegressor", dict(filters=(4, 4), pool=["mean", "max"], pool_size=[2, 1],
                           dropout=[0.3, 0.0, 0.0], hidden_layer_sizes=(8,))),
])
def test_new_conv_blocks_export(data, name, params):
    # Per-block pooling, global pooling and feature-map dropout (identity at
    # inference): the graph reproduces the estimator.
    est_cls = sknn_estimator(name)
    X, y = data
    X = X.astype(np.float32)
    target = y if name == "ConvClassifier" else X[:, 20:22].astype(np.float64)
    est = fit_quiet(est_cls(input_shape=(1, 8, 8), max_iter=3, random_state=0, **params),
                    X, target)
    outputs = run(to_onnx(est, X[:1]), X)
    if name == "ConvClassifier":
        np.testing.assert_array_equal(outputs[0], est.predict(X))
        np.testing.assert_allclose(outputs[1], est.predict_proba(X), **TOL)
    else:
        np.testing.assert_allclose(outputs[0], est.predict(X), **TOL)
