"""ConvRegressor: the documented squares configuration, the regression head
against NumPy, losses, outputs and the make_squares generator."""

import time
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score

from sknn import ConvClassifier, ConvRegressor
from sknn._conv import _ConvNetwork
from sknn.datasets import make_color_stripes, make_squares


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kw)


def test_documented_squares_configuration_reaches_r2_090():
    """The configuration of ConvRegressor's docstring example."""
    start = time.perf_counter()
    X, y = make_squares(1200, random_state=0)
    reg = ConvRegressor(input_shape=(16, 16), filters=(8,), hidden_layer_sizes=(32,),
                        learning_rate_init=0.003, max_iter=40, random_state=0)
    _fit(reg, X[:1000], y[:1000])
    assert reg.score(X[1000:], y[1000:]) >= 0.9
    assert reg.predict(X[1000:]).shape == (200, 2)
    assert time.perf_counter() - start < 20


def test_shares_the_conv_body_with_the_classifier():
    assert issubclass(ConvRegressor, _ConvNetwork) and issubclass(ConvClassifier,
                                                                  _ConvNetwork)
    reg, clf = ConvRegressor().get_params(), ConvClassifier().get_params()
    head = {"loss", "huber_delta", "quantile"}
    assert set(reg) - set(clf) == head
    assert set(clf) - set(reg) == {"class_weight"}
    assert ConvRegressor._parameter_constraints.keys() - head == (
        ConvClassifier._parameter_constraints.keys() - {"class_weight"})


def _rebuild(est, X):
    """Output pre-activations of a one-block network, rebuilt in NumPy."""
    n = X.shape[0]
    w, b = est.coefs_[0], est.intercepts_[0]
    pad = np.zeros((n, X.shape[1], X.shape[2] + 2, X.shape[3] + 2))
    pad[:, :, 1:-1, 1:-1] = X
    a = np.empty((n, w.shape[0]) + X.shape[2:])
    for i in range(X.shape[2]):
        for j in range(X.shape[3]):
            a[:, :, i, j] = np.einsum("ncpq,fcpq->nf", pad[:, :, i:i + 3, j:j + 3], w)
    a = np.maximum(a + b[:, None, None], 0)
    h, wd = a.shape[2] // 2 * 2, a.shape[3] // 2 * 2
    a = a[:, :, :h, :wd].reshape(n, a.shape[1], h // 2, 2, wd // 2, 2).max(axis=(3, 5))
    z = np.maximum(a.reshape(n, -1) @ est.coefs_[1] + est.intercepts_[1], 0)
    return z @ est.coefs_[2] + est.intercepts_[2]


LOSSES = ["squared_error", "poisson", "absolute_error", "huber", "quantile"]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_predictions_match_a_numpy_rebuild(loss, n_outputs):
    rng = np.random.RandomState(0)
    X = rng.rand(50, 2, 5, 6)
    y = rng.poisson(2.0, (50, n_outputs)).astype(float)
    y = y.ravel() if n_outputs == 1 else y
    reg = _fit(ConvRegressor(loss=loss, filters=(3,), hidden_layer_sizes=(4,),
                             max_iter=5, random_state=0), X, y)
    z = _rebuild(reg, X)
    expected = np.exp(z) if loss == "poisson" else z
    pred = reg.predict(X)
    assert pred.shape == y.shape
    np.testing.assert_allclose(pred, expected.reshape(y.shape), rtol=1e-10)
    assert reg.n_outputs_ == n_outputs
    assert reg.out_activation_ == ("exp" if loss == "poisson" else "identity")
    assert reg.score(X, y) == pytest.approx(r2_score(y, pred))
    if loss == "poisson":
        assert (pred > 0).all()


def test_losses_are_the_regressor_mlps_and_get_their_parameter():
    from sknn import MLPRegressorX

    mlp_losses = MLPRegressorX._parameter_constraints["loss"][0].options
    assert ConvRegressor._parameter_constraints["loss"][0].options == mlp_losses
    assert set(LOSSES) == mlp_losses
    X, y = make_squares(80, size=8, random_state=0)
    params = dict(filters=(2,), hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    squared = _fit(ConvRegressor(**params), X, y[:, 0])
    # Huber with a threshold no residual reaches is the squared error.
    wide = _fit(ConvRegressor(loss="huber", huber_delta=1e6, **params), X, y[:, 0])
    for a, b in zip(squared.coefs_, wide.coefs_):
        np.testing.assert_array_equal(a, b)
    narrow = _fit(ConvRegressor(loss="huber", huber_delta=0.1, **params), X, y[:, 0])
    assert not np.allclose(narrow.coefs_[0], squared.coefs_[0])
    low, high = (_fit(ConvRegressor(loss="quantile", quantile=q, **params), X, y[:, 0])
                 for q in (0.1, 0.9))
    assert not np.allclose(low.coefs_[0], high.coefs_[0])


def test_poisson_needs_non_negative_targets():
    X = np.random.RandomState(0).rand(10, 16)
    with pytest.raises(ValueError, match="poisson"):
        ConvRegressor(loss="poisson").fit(X, -np.ones(10))


def test_loss_changes_the_fit_and_validation_scores_are_r2():
    X, y = make_squares(300, size=8, random_state=0)
    params = dict(filters=(4,), hidden_layer_sizes=(16,), random_state=0)
    reg = _fit(ConvRegressor(early_stopping=True, max_iter=4, **params), X, y)
    assert len(reg.validation_scores_) == reg.n_iter_
    # One epoch: the validation score is the R² of the published weights.
    val = _fit(ConvRegressor(max_iter=1, **params), X[:250], y[:250],
               X_val=X[250:].reshape(50, 1, 8, 8), y_val=y[250:])
    assert val.validation_scores_[0] == pytest.approx(val.score(X[250:], y[250:]))
    pois = _fit(ConvRegressor(loss="poisson", max_iter=4, **params), X, y)
    assert not np.allclose(pois.coefs_[0], reg.coefs_[0])


def test_partial_fit_and_single_column_y():
    X, y = make_squares(60, size=8, random_state=0)
    reg = ConvRegressor(filters=(2,), hidden_layer_sizes=(4,), random_state=0)
    reg.partial_fit(X, y[:, 0])
    reg.partial_fit(X[:5], y[:5, 0])
    assert reg.predict(X).shape == (60,)
    with pytest.warns(Warning, match="column-vector y"):
        _fit(clone(reg), X, y[:, :1])


@pytest.mark.parametrize("size, square", [(16, 3), (8, 2), (5, 5)])
def test_make_squares_targets_are_the_bright_squares_centres(size, square):
    X, y = make_squares(40, size=size, square_size=square, random_state=1)
    assert X.shape == (40, size * size) and y.shape == (40, 2)
    images = X.reshape(40, size, size)
    for img, (r, c) in zip(images, y):
        rows, cols = np.nonzero(img == 1.0)
        assert rows.size == square * square
        assert (rows.mean(), cols.mean()) == (r, c)
    half = (square - 1) / 2
    assert y.min() >= half and y.max() <= size - 1 - half
    assert (X < 1).sum() == 40 * (size * size - square * square)
    X2, y2 = make_squares(40, size=size, square_size=square, random_state=1)
    np.testing.assert_array_equal(X, X2)
    with pytest.raises(ValueError, match="square_size"):
        make_squares(5, size=4, square_size=5)
    with pytest.raises(ValueError, match="noise"):
        make_squares(5, noise=1.0)


def test_make_color_stripes_classes_combine_colour_and_orientation():
    X, y = make_color_stripes(60, size=10, random_state=0)
    assert X.shape == (60, 10, 10, 3) and np.bincount(y).tolist() == [10] * 6
    for img, label in zip(X, y):
        colour = np.zeros(3)
        colour[label // 2] = 1
        lit = (img == colour).all(axis=2)
        lines = lit.all(axis=1) if label % 2 == 0 else lit.all(axis=0)
        assert lines.sum() == 5  # every other row (horizontal) or column
    with pytest.raises(ValueError, match="size"):
        make_color_stripes(3, size=1)
