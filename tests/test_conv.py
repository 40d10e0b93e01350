"""ConvClassifier: accuracy, translation invariance, shapes, layout, gradients."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from sknn import ConvClassifier, MLPClassifierX
from sknn._base import build_network
from sknn._engine import TrainData, make_objective
from sknn._kernels.losses import SOFTMAX_CE
from sknn.datasets import make_diagonal_patterns


def _quiet_fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kw)


def test_documented_digits_configuration_reaches_98_percent():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                              random_state=0)
    clf = ConvClassifier(input_shape=(1, 8, 8), filters=(16, 32), kernel_size=3,
                         pool="max", hidden_layer_sizes=(64,), random_state=0)
    model = _quiet_fit(make_pipeline(MinMaxScaler(), clf), X_tr, y_tr)
    assert model.score(X_te, y_te) >= 0.98


def test_convolution_finds_patterns_at_unseen_positions():
    """Train on strokes in the left half, test on strokes in the right half."""
    X_tr, y_tr = make_diagonal_patterns(600, image_size=8, random_state=0,
                                        placement="left")
    X_te, y_te = make_diagonal_patterns(300, image_size=8, random_state=1,
                                        placement="right")
    conv = ConvClassifier(input_shape=(8, 8), filters=(8,), kernel_size=3, pool="max",
                          pool_size=8, hidden_layer_sizes=(), max_iter=150,
                          learning_rate_init=0.01, random_state=0)
    _quiet_fit(conv, X_tr, y_tr)
    n_conv_params = sum(w.size for w in conv.coefs_ + conv.intercepts_)
    # An MLP with at least as many parameters.
    mlp = MLPClassifierX(hidden_layer_sizes=(4,), max_iter=150, learning_rate_init=0.01,
                         random_state=0)
    _quiet_fit(mlp, X_tr, y_tr)
    assert sum(w.size for w in mlp.coefs_ + mlp.intercepts_) >= n_conv_params
    assert mlp.score(X_tr, y_tr) > 0.95  # the MLP learned the training positions
    conv_acc, mlp_acc = conv.score(X_te, y_te), mlp.score(X_te, y_te)
    assert conv_acc > 0.9
    assert conv_acc > mlp_acc + 0.15


def _conv2d_ref(x, w, b, stride, pad, out_hw):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = out_hw
    xp = np.zeros((n, c, h + kh + stride * oh, wd + kw + stride * ow))
    xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    out = np.empty((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("ncpq,fcpq->nf", patch, w) + b
    return out


def _pool_ref(x, size, mode):
    n, c, h, w = x.shape
    sh, sw = min(size, h), min(size, w)
    oh, ow = h // sh, w // sw
    v = x[:, :, :oh * sh, :ow * sw].reshape(n, c, oh, sh, ow, sw)
    return v.max(axis=(3, 5)) if mode == "max" else v.mean(axis=(3, 5))


@pytest.mark.parametrize("padding, stride, pool", [("same", 1, "max"),
                                                   ("valid", 1, "mean"),
                                                   ("same", 2, None)])
def test_documented_layout_rebuilds_the_network_in_numpy(padding, stride, pool):
    """coefs_ layout + C-order flattening, as documented, reproduce predict_proba."""
    rng = np.random.RandomState(0)
    X = rng.rand(40, 2 * 7 * 7)
    y = rng.randint(0, 3, 40)
    clf = ConvClassifier(input_shape=(2, 7, 7), filters=(4, 3), kernel_size=[3, 2],
                         stride=stride, padding=padding, pool=pool,
                         hidden_layer_sizes=(5,), activation=["relu", "tanh", "elu"],
                         max_iter=3, random_state=0)
    _quiet_fit(clf, X, y)
    a = X.reshape(40, 2, 7, 7)
    acts = [lambda z: np.maximum(z, 0), np.tanh]
    for k, (w, b) in enumerate(zip(clf.coefs_[:2], clf.intercepts_[:2])):
        h, wd = a.shape[2:]
        kh = w.shape[2]
        if padding == "same":
            oh, ow = -(-h // stride), -(-wd // stride)
            pad = tuple(max((o - 1) * stride + kh - s, 0) // 2 for o, s in
                        ((oh, h), (ow, wd)))
        else:
            oh, ow = (h - kh) // stride + 1, (wd - kh) // stride + 1
            pad = (0, 0)
        a = acts[k](_conv2d_ref(a, w, b, stride, pad, (oh, ow)))
        if pool is not None:
            a = _pool_ref(a, 2, pool)
    a = a.reshape(40, -1)
    z = a @ clf.coefs_[2] + clf.intercepts_[2]
    z = np.where(z > 0, z, np.expm1(z))
    z = z @ clf.coefs_[3] + clf.intercepts_[3]
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X), p / p.sum(1, keepdims=True),
                               rtol=1e-9, atol=1e-12)
    assert clf.coefs_[0].shape == (4, 2, 3, 3) and clf.coefs_[1].shape == (3, 4, 2, 2)


@pytest.mark.parametrize("pool", ["max", "mean"])
@pytest.mark.parametrize("padding, stride", [("same", 1), ("valid", 2)])
def test_network_gradient_matches_finite_differences(pool, padding, stride):
    rng = np.random.RandomState(0)
    clf = ConvClassifier(input_shape=(2, 8, 8), filters=(3, 2), kernel_size=2,
                         stride=stride, padding=padding, pool=pool,
                         hidden_layer_sizes=(4,), activation="tanh")
    clf._check_hyperparameters()
    specs = clf._layer_specs(128, 3)
    net = build_network(specs, SOFTMAX_CE)
    X = rng.randn(5, 2, 8, 8)
    Y = np.eye(3)[rng.randint(0, 3, 5)]
    data = TrainData(np.ascontiguousarray(X), Y, rng.rand(5) + 0.5)
    theta = np.empty(net.n_params)
    net.init_params(theta, rng, np.float64)
    fun = make_objective(net, data, alpha=0.1, dtype=np.float64)
    _, grad = fun(theta)
    num = np.array([(fun(theta + e)[0] - fun(theta - e)[0]) / 2e-6
                    for e in np.eye(theta.size) * 1e-6])
    np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-7)


def test_image_inputs_and_shape_errors():
    rng = np.random.RandomState(0)
    X = rng.rand(30, 2, 5, 5)
    y = rng.randint(0, 2, 30)
    clf = _quiet_fit(ConvClassifier(filters=(2,), max_iter=2, random_state=0), X, y)
    assert clf.input_shape_ == (2, 5, 5) and clf.n_features_in_ == 50
    flat = clf.predict_proba(X.reshape(30, -1))
    np.testing.assert_array_equal(clf.predict_proba(X), flat)
    clf3 = _quiet_fit(ConvClassifier(filters=(2,), max_iter=2, random_state=0),
                      X[:, 0], y)
    assert clf3.input_shape_ == (1, 5, 5)
    assert _quiet_fit(ConvClassifier(filters=(2,), max_iter=1),
                      rng.rand(10, 7), y[:10]).input_shape_ == (1, 1, 7)
    with pytest.raises(ValueError, match=r"50 values per sample .*n_features=64"):
        ConvClassifier(input_shape=(2, 5, 5)).fit(rng.rand(10, 64), y[:10])
    with pytest.raises(ValueError, match="Convolution layer 1"):
        ConvClassifier(input_shape=(1, 5, 5), filters=(2, 2), kernel_size=4,
                       padding="valid", pool=None).fit(rng.rand(10, 25), y[:10])
    with pytest.raises(ValueError, match="kernel_size has 1 entries"):
        ConvClassifier(filters=(2, 2), kernel_size=[3]).fit(rng.rand(10, 25), y[:10])


def test_float32_and_n_jobs_determinism(digits):
    X, y = digits
    X32 = X[:400].astype(np.float32)
    fits = [_quiet_fit(ConvClassifier(input_shape=(1, 8, 8), filters=(8,), max_iter=2,
                                      dropout=0.3, n_jobs=n, random_state=0),
                       X32, y[:400]) for n in (1, 2, 1)]
    assert fits[0].coefs_[0].dtype == np.float32
    assert fits[0].predict_proba(X32).dtype == np.float32
    for other in fits[1:]:
        for a, b in zip(fits[0].coefs_, other.coefs_):
            np.testing.assert_array_equal(a, b)


def test_keeping_im2col_between_passes_changes_no_bit(digits, monkeypatch):
    # Training keeps each batch's im2col matrices for the backward pass when
    # they fit conv_cols_bytes; with no room they are rebuilt.  Both fits
    # must give the same weights (two conv layers: the second needs dx).
    import sknn._conv_layers as conv_layers

    X, y = digits
    X, y = X[:300], y[:300]

    def fit():
        est = ConvClassifier(input_shape=(1, 8, 8), filters=(4, 6), pool_size=1,
                             max_iter=2, random_state=0)
        return _quiet_fit(est, X, y)

    kept = fit()
    monkeypatch.setattr(conv_layers.Conv2D, "keep_cols", staticmethod(lambda nbytes: False))
    rebuilt = fit()
    for a, b in zip(kept.coefs_ + kept.intercepts_, rebuilt.coefs_ + rebuilt.intercepts_):
        np.testing.assert_array_equal(a, b)
