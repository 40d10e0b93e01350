"""Conv estimators' layouts and blocks: data_format, per-block pooling, global
pooling and feature-map dropout, against NumPy rebuilds, bit-equality across
layouts and finite differences."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sknn import ConvClassifier, ConvRegressor
from sknn._base import build_network
from sknn._conv_layers import Pool2D, SpatialDropout
from sknn._kernels.activations import ACTIVATION_CODES
from sknn._kernels.losses import SQUARED
from sknn._network import TRAINING_ONLY
from sknn.datasets import make_color_stripes

ESTIMATORS = [ConvClassifier, ConvRegressor]


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kw)


def _outputs(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


def _problem(cls, n=40, shape=(3, 6, 5), seed=0):
    """Channels-first images and targets for ``cls``."""
    rng = np.random.RandomState(seed)
    X = rng.rand(n, *shape)
    if cls is ConvClassifier:
        return X, np.arange(n) % 3
    return X, np.c_[X[:, 0].mean(axis=(1, 2)), X[:, 1, :2].sum(axis=(1, 2))]


# -- data_format ---------------------------------------------------------------
BLOCKS = dict(filters=(4, 3), kernel_size=[3, 2], pool=["max", None],
              pool_size=[2, None], dropout=[0.2, 0.3, 0.1],
              hidden_layer_sizes=(6,), activation="tanh")


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_channels_last_is_bit_identical_to_channels_first(cls, solver):
    X, y = _problem(cls)
    params = dict(BLOCKS, solver=solver, max_iter=4, random_state=0)
    first = _fit(cls(**params), X, y)
    X_last = X.transpose(0, 2, 3, 1)
    last = _fit(cls(data_format="channels_last", **params), X_last, y)
    assert first.input_shape_ == (3, 6, 5) and last.input_shape_ == (6, 5, 3)
    assert last._layer_specs_ == first._layer_specs_
    for a, b in zip(first.coefs_ + first.intercepts_, last.coefs_ + last.intercepts_):
        np.testing.assert_array_equal(a, b)
    expected = _outputs(first, X)
    np.testing.assert_array_equal(_outputs(last, X_last), expected)
    # Flat rows are C-order over (H, W, C); input_shape is read in that order.
    flat = X_last.reshape(len(X), -1)
    np.testing.assert_array_equal(_outputs(last, flat), expected)
    shaped = _fit(cls(data_format="channels_last", input_shape=(6, 5, 3), **params),
                  flat, y)
    np.testing.assert_array_equal(_outputs(shaped, flat), expected)


def test_channels_last_float32_and_validation_data():
    X, y = _problem(ConvRegressor)
    X32 = X.astype(np.float32)
    params = dict(filters=(3,), hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                  early_stopping=True)
    first = _fit(ConvRegressor(**params), X32[:30], y[:30], X_val=X32[30:],
                 y_val=y[30:])
    last = _fit(ConvRegressor(data_format="channels_last", **params),
                X32[:30].transpose(0, 2, 3, 1), y[:30],
                X_val=X32[30:].transpose(0, 2, 3, 1), y_val=y[30:])
    assert last.coefs_[0].dtype == np.float32
    assert last.validation_scores_ == first.validation_scores_
    np.testing.assert_array_equal(last.predict(X32.transpose(0, 2, 3, 1)),
                                  first.predict(X32))


def test_one_channel_3d_input_and_2d_input_shape_in_both_layouts():
    rng = np.random.RandomState(0)
    X, y = rng.rand(20, 5, 5), np.arange(20) % 2
    for fmt, shape in (("channels_first", (1, 5, 5)), ("channels_last", (5, 5, 1))):
        est = _fit(ConvClassifier(data_format=fmt, filters=(2,), max_iter=2,
                                  random_state=0), X, y)
        assert est.input_shape_ == shape
        est2 = _fit(ConvClassifier(data_format=fmt, input_shape=(5, 5), filters=(2,),
                                   max_iter=2, random_state=0), X.reshape(20, -1), y)
        assert est2.input_shape_ == shape
        np.testing.assert_array_equal(est.predict_proba(X), est2.predict_proba(X))


@pytest.mark.parametrize("shape", [(32, 32, 3), (12, 10, 1), (16, 16, 4)])
def test_channels_last_looking_images_warn_naming_data_format(shape):
    X = np.random.RandomState(0).rand(6, *shape)
    y = np.arange(6) % 2
    est = ConvClassifier(filters=(2,), hidden_layer_sizes=(), max_iter=1)
    with pytest.warns(UserWarning, match="data_format='channels_last'"):
        _fit(est, X, y)
    assert est.input_shape_ == shape  # still read channels-first, as asked
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _fit(ConvClassifier(data_format="channels_last", filters=(2,),
                            hidden_layer_sizes=(), max_iter=1), X, y)


@pytest.mark.parametrize("shape", [(3, 32, 32), (16, 4, 4), (1, 28, 28), (4, 8, 8)])
def test_channels_first_images_do_not_warn(shape):
    X = np.random.RandomState(0).rand(4, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _fit(ConvClassifier(filters=(2,), hidden_layer_sizes=(), max_iter=1), X,
             np.arange(4) % 2)


def test_images_of_another_shape_at_predict_raise():
    X, y = _problem(ConvRegressor)
    est = _fit(ConvRegressor(data_format="channels_last", filters=(2,),
                             hidden_layer_sizes=(), max_iter=1), X.transpose(0, 2, 3, 1), y)
    with pytest.raises(ValueError, match=r"images of shape \(3, 6, 5\).*\(6, 5, 3\)"):
        est.predict(X)  # same number of features, channels-first images
    with pytest.raises(ValueError, match="input_shape"):
        _fit(ConvRegressor(input_shape=(3, 5, 6), max_iter=1), X, y)


# -- per-block architecture -----------------------------------------------------
def test_block_lists_build_the_documented_layers():
    est = ConvRegressor(input_shape=(2, 9, 8), filters=(3, 4, 5), pool=["max", None, "mean"],
                        pool_size=[2, 3, None], global_pool="avg",
                        dropout=[0.1, 0.0, 0.2, 0.3], hidden_layer_sizes=(7,))
    est._check_hyperparameters()
    specs = est._layer_specs(144, 2)
    assert [name for name, _ in specs] == [
        "conv2d", "pool2d", "spatial_dropout", "conv2d", "conv2d", "spatial_dropout",
        "pool2d", "dense", "dropout", "dense"]
    assert specs[1][1]["size"] == 2 and specs[2][1]["shape"] == (3, 4, 4)
    assert specs[6][1] == {"in_shape": (5, 4, 4), "size": (4, 4), "mode": "mean"}
    assert specs[7][1]["n_in"] == 5  # one value per filter after global pooling
    # pool=None for the whole network, and the dense-only dropout list
    est.set_params(pool=None, global_pool="max", dropout=[0.5])
    est._check_hyperparameters()
    specs = est._layer_specs(144, 2)
    assert [name for name, _ in specs] == ["conv2d", "conv2d", "conv2d", "pool2d",
                                           "dense", "dropout", "dense"]
    assert specs[3][1] == {"in_shape": (5, 9, 8), "size": (9, 8), "mode": "max"}


@pytest.mark.parametrize("params, pattern", [
    (dict(pool=["max"]), r"pool has 1 entries .* 2 convolution layers"),
    (dict(pool=["max", "min"]), r"Invalid value in pool: 'min'"),
    (dict(pool_size=[2, 2, 2]), r"pool_size has 3 entries"),
    (dict(pool_size=[2, 0]), r"Invalid value in pool_size"),
    (dict(dropout=[0.1, 0.2]), r"dropout has 2 entries .* \(1\) or .* \(3, blocks"),
    (dict(dropout=[0.1, 0.2, 1.0]), r"Invalid value in dropout"),
    (dict(global_pool="sum"), r"global_pool"),
    (dict(data_format="nhwc"), r"data_format"),
])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_inconsistent_block_lists_raise(cls, params, pattern):
    X, y = _problem(cls)
    est = cls(filters=(2, 2), hidden_layer_sizes=(4,), max_iter=1, **params)
    with pytest.raises(ValueError, match=pattern):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")


def _pool_ref(a, size, mode):
    n, c, h, w = a.shape
    sh, sw = min(size[0], h), min(size[1], w)
    v = a[:, :, :h // sh * sh, :w // sw * sw].reshape(n, c, h // sh, sh, w // sw, sw)
    return v.max(axis=(3, 5)) if mode == "max" else v.mean(axis=(3, 5))


def _conv_ref(a, w, b):
    """'same' 3x3 / 2x2 convolution, stride 1 (TensorFlow padding)."""
    n, c, h, wd = a.shape
    f, _, k, _ = w.shape
    top = (k - 1) // 2
    pad = np.zeros((n, c, h + k - 1, wd + k - 1))
    pad[:, :, top:top + h, top:top + wd] = a
    out = np.empty((n, f, h, wd))
    for i in range(h):
        for j in range(wd):
            out[:, :, i, j] = np.einsum("ncpq,fcpq->nf", pad[:, :, i:i + k, j:j + k], w)
    return out + b[:, None, None]


@pytest.mark.parametrize("global_pool", ["avg", "max"])
@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_numpy_rebuild_with_block_pools_and_global_pooling(global_pool, data_format):
    X, y = _problem(ConvRegressor)  # (3, 6, 5) images
    Xin = X if data_format == "channels_first" else X.transpose(0, 2, 3, 1)
    est = _fit(ConvRegressor(data_format=data_format, filters=(4, 3), kernel_size=[3, 2],
                             pool=[None, "mean"], pool_size=[2, 2],
                             global_pool=global_pool, dropout=[0.3, 0.3, 0.2],
                             hidden_layer_sizes=(5,), activation=["tanh", "relu", "elu"],
                             max_iter=3, random_state=0), Xin, y)
    a = np.tanh(_conv_ref(X, est.coefs_[0], est.intercepts_[0]))
    a = np.maximum(_conv_ref(a, est.coefs_[1], est.intercepts_[1]), 0)
    a = _pool_ref(a, (2, 2), "mean")
    a = _pool_ref(a, a.shape[2:], "max" if global_pool == "max" else "mean")
    a = a.reshape(len(X), -1)
    assert a.shape[1] == 3 == est.coefs_[2].shape[0]
    z = a @ est.coefs_[2] + est.intercepts_[2]
    z = np.where(z > 0, z, np.expm1(z))
    z = z @ est.coefs_[3] + est.intercepts_[3]
    np.testing.assert_allclose(est.predict(Xin), z, rtol=1e-10, atol=1e-12)


# -- feature-map dropout --------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spatial_dropout_drops_whole_maps_with_engine_draws(dtype):
    layer = SpatialDropout((3, 4, 5), 0.4)
    assert isinstance(layer, TRAINING_ONLY)
    layer.allocate(8, dtype)
    x = np.random.RandomState(0).rand(6, 3, 4, 5).astype(dtype)
    out = layer.forward(x.reshape(6, -1), True, np.random.default_rng(3))
    u = np.random.default_rng(3).random((6, 3, 1, 1), dtype=dtype)
    mask = (u >= 0.4) / dtype(0.6)
    np.testing.assert_allclose(out, x * mask, rtol=1e-6)
    maps = out.reshape(6, 3, -1)
    assert set(np.flatnonzero((maps == 0).all(axis=2))) == set(
        np.flatnonzero(u.ravel() < 0.4))
    dout = np.random.RandomState(1).rand(6, 60).astype(dtype)  # as a dense layer gives
    np.testing.assert_allclose(layer.backward(dout, True),
                               dout.reshape(6, 3, 4, 5) * mask, rtol=1e-6)
    assert layer.forward(x, False, None) is x  # identity at inference
    assert layer.backward(dout, True) is dout


def _objective(net, params, x, y, sw, seed=7):
    """Weighted half squared error summed over outputs (NumPy) and its
    gradient from the network's backward pass; the same dropout draws on
    every call."""
    grad = np.zeros_like(params)
    net.bind_flat(params, grad)
    net.allocate(x.shape[0], params.dtype)
    z = net.forward(x, True, np.random.default_rng(seed))
    r = z - y
    loss = 0.5 * float(np.sum(sw[:, None] * r.astype(np.float64) ** 2))
    net.backward(np.ascontiguousarray(r * sw[:, None]))
    return loss, grad


@pytest.mark.parametrize("act", ["tanh", "gelu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("global_mode", ["mean", "max"])
def test_gradient_through_global_pooling_and_map_dropout(global_mode, dtype, act):
    if act not in ACTIVATION_CODES:
        pytest.skip(f"this sknn has no {act!r} activation")
    rng = np.random.RandomState(0)
    specs = [
        ("conv2d", dict(in_shape=(2, 6, 5), filters=4, kernel_size=3,
                        activation=act)),
        ("pool2d", dict(in_shape=(4, 6, 5), size=2, mode="max")),
        ("spatial_dropout", dict(shape=(4, 3, 2), rate=0.4)),
        ("conv2d", dict(in_shape=(4, 3, 2), filters=3, kernel_size=2,
                        activation="tanh")),
        ("spatial_dropout", dict(shape=(3, 3, 2), rate=0.3)),
        ("pool2d", dict(in_shape=(3, 3, 2), size=(3, 2), mode=global_mode)),
        ("dense", dict(n_in=3, n_out=4, activation="tanh")),
        ("dense", dict(n_in=4, n_out=2, activation="identity")),
    ]
    net = build_network(specs, SQUARED)
    n = 7
    x = rng.randn(n, 2, 6, 5).astype(dtype)
    y = rng.randn(n, 2).astype(dtype)
    sw = (rng.rand(n) + 0.5).astype(dtype)
    params = np.empty(net.n_params, dtype=dtype)
    net.init_params(params, np.random.RandomState(1), dtype)
    params += (0.2 * rng.randn(net.n_params)).astype(dtype)
    # The draws really drop some maps of both dropout layers.
    net.allocate(n, dtype)
    net.forward(x, True, np.random.default_rng(7))
    for k in (2, 4):
        assert 0 < (net.layers[k].mask[:n] == 0).sum() < net.layers[k].mask[:n].size
    _, grad = _objective(net, params, x, y, sw)
    # float32: a step small enough not to move the maxima of the pooling
    # windows, large enough to stay above rounding (the loss sums in float64).
    eps = 1e-6 if dtype == np.float64 else 1e-3
    numeric = np.empty(net.n_params)
    for i in range(net.n_params):
        p = params.copy()
        p[i] += eps
        up = _objective(net, p, x, y, sw)[0]
        p[i] -= 2 * eps
        numeric[i] = (up - _objective(net, p, x, y, sw)[0]) / (2 * eps)
    scale = np.abs(numeric).max()
    if dtype == np.float64:
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7 * scale)
    else:
        np.testing.assert_allclose(grad, numeric, rtol=2e-2, atol=2e-3 * scale)


def test_global_pool_layer_matches_numpy():
    rng = np.random.RandomState(0)
    x = rng.randn(5, 3, 4, 6)
    for mode in ("max", "mean"):
        layer = Pool2D((3, 4, 6), size=(4, 6), mode=mode)
        assert layer.out_shape == (3, 1, 1)
        layer.allocate(5, np.float64)
        out = layer.forward(x, True, None)
        ref = x.max(axis=(2, 3)) if mode == "max" else x.mean(axis=(2, 3))
        np.testing.assert_allclose(out.reshape(5, 3), ref, rtol=1e-12)
        dout = rng.randn(5, 3, 1, 1)
        dx = layer.backward(dout, True)
        if mode == "mean":
            np.testing.assert_allclose(dx, np.broadcast_to(dout / 24, x.shape))
        else:
            hit = x == x.max(axis=(2, 3), keepdims=True)
            np.testing.assert_allclose(dx, np.where(hit, dout, 0.0))


def test_map_dropout_trains_deterministically_and_regularises_nothing_at_predict():
    X, y = make_color_stripes(60, size=8, random_state=0)
    params = dict(data_format="channels_last", filters=(4,), dropout=[0.5, 0.0],
                  hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    a = _fit(ConvClassifier(**params), X, y)
    b = _fit(ConvClassifier(**params), X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = _fit(ConvClassifier(**{**params, "dropout": [0.0, 0.0]}), X, y)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])  # the masks changed training
    assert a._needs_rng() and not c._needs_rng()


def test_a_validation_scorer_reads_images_in_the_data_format():
    if "scoring" not in ConvRegressor().get_params():
        pytest.skip("this sknn has no scoring parameter")
    X, y = _problem(ConvRegressor)
    params = dict(filters=(3,), hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                  early_stopping=True, scoring="r2")
    first = _fit(ConvRegressor(**params), X, y)
    last = _fit(ConvRegressor(data_format="channels_last", **params),
                X.transpose(0, 2, 3, 1), y)
    assert last.validation_scores_ == first.validation_scores_
