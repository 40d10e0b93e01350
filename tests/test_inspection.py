"""``sknn.inspection`` displays, drawn with matplotlib's Agg backend."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sknn
from sknn import MLPClassifierX, MLPRegressorX
from sknn.inspection import FilterDisplay, TrainingCurveDisplay

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg", force=True)
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def small(digits):
    X, y = digits
    return X[:300], y[:300]


def test_import_does_not_import_matplotlib():
    code = ("import sys, sknn.inspection; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- TrainingCurveDisplay -------------------------------------------------------
def test_training_curves_with_validation(small):
    clf = MLPClassifierX((8,), max_iter=6, early_stopping=True, n_iter_no_change=50,
                         random_state=0).fit(*small)
    disp = TrainingCurveDisplay.from_estimator(clf)
    assert set(disp.lines_) == {"loss", "validation_loss", "validation_score",
                                "learning_rate"}
    np.testing.assert_allclose(disp.lines_["loss"].get_ydata(), clf.loss_curve_)
    np.testing.assert_allclose(disp.lines_["learning_rate"].get_ydata(),
                               [r["learning_rate"] for r in clf.history_])
    np.testing.assert_array_equal(disp.lines_["loss"].get_xdata(), np.arange(1, 7))
    np.testing.assert_allclose(disp.lines_["validation_loss"].get_ydata(),
                               clf.validation_loss_curve_)
    np.testing.assert_allclose(disp.lines_["validation_score"].get_ydata(),
                               clf.validation_scores_)
    assert len(disp.figure_.axes) == 3  # losses, their learning-rate twin, scores
    assert disp.ax_ is not disp.score_ax_
    assert len(disp.ax_.get_lines()) == 2 and len(disp.score_ax_.get_lines()) == 1
    assert disp.lr_ax_.get_ylabel() == "learning rate"
    assert disp.ax_.get_xlabel() == "epoch" and disp.ax_.get_ylabel() == "loss"
    assert disp.score_ax_.get_ylabel() == "validation score"
    assert disp.ax_.get_title() == "MLPClassifierX"
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == [
        "training loss", "validation loss"]


def test_training_curves_without_validation(small):
    reg = MLPRegressorX(hidden_layer_sizes=(8,), max_iter=4,
                        random_state=0).fit(small[0], small[1].astype(float))
    disp = TrainingCurveDisplay.from_estimator(reg, name="my net")
    assert list(disp.lines_) == ["loss", "learning_rate"]
    assert disp.score_ax_ is None
    assert len(disp.figure_.axes) == 2
    assert disp.ax_.get_title() == "my net"


def test_training_curves_user_axes_and_twin(small):
    X, y = small
    clf = MLPClassifierX((8,), max_iter=3, random_state=0)
    clf.fit(X[:200], y[:200], X_val=X[200:], y_val=y[200:])
    fig, ax = plt.subplots()
    disp = TrainingCurveDisplay.from_estimator(clf, ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig
    assert disp.score_ax_ is not None and disp.score_ax_ is not ax  # a twin axes
    assert len(fig.axes) == 2
    fig2, (a, b) = plt.subplots(1, 2)
    disp = TrainingCurveDisplay.from_estimator(clf, ax=a, score_ax=b)
    assert disp.ax_ is a and disp.score_ax_ is b and len(fig2.axes) == 2


def test_training_curves_unwraps_pipeline_and_search(small):
    pipe = make_pipeline(StandardScaler(), MLPClassifierX((8,), max_iter=3,
                                                          random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifierx__alpha": [1e-4]}, cv=2).fit(*small)
    for est in (search, search.best_estimator_):
        disp = TrainingCurveDisplay.from_estimator(est)
        np.testing.assert_allclose(disp.lines_["loss"].get_ydata(),
                                   search.best_estimator_[-1].loss_curve_)


def test_training_curves_also_for_sklearn_mlp(small):
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier((8,), max_iter=3, early_stopping=True,
                        random_state=0).fit(*small)
    disp = TrainingCurveDisplay.from_estimator(clf)
    assert set(disp.lines_) == {"loss", "validation_score"}


def test_training_curves_errors(small):
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(MLPClassifierX())
    lbfgs = MLPClassifierX((4,), solver="lbfgs", max_iter=5,
                           random_state=0).fit(*small)
    with pytest.raises(ValueError, match="lbfgs"):
        TrainingCurveDisplay.from_estimator(lbfgs)


def test_training_curves_name_the_scoring_metric(small):
    clf = MLPClassifierX((8,), max_iter=4, early_stopping=True, scoring="neg_log_loss",
                         n_iter_no_change=50, random_state=0).fit(*small)
    disp = TrainingCurveDisplay.from_estimator(clf)
    assert disp.score_ax_.get_ylabel() == "validation neg_log_loss"
    np.testing.assert_allclose(disp.lines_["validation_score"].get_ydata(),
                               clf.validation_scores_)


def test_training_curves_from_arrays():
    disp = TrainingCurveDisplay(loss_curve=[3, 2, 1],
                                validation_scores=[0.1, 0.5, 0.7]).plot()
    assert set(disp.lines_) == {"loss", "validation_score"}
    assert len(disp.figure_.axes) == 2


# -- FilterDisplay --------------------------------------------------------------
class _FakeConv:
    """A fitted convolutional network as FilterDisplay sees one."""

    input_shape = (1, 8, 8)

    def __init__(self, n_filters=6, padding=None, activation=None):
        rng = np.random.RandomState(0)
        self.coefs_ = [rng.randn(n_filters, 1, 3, 3), rng.randn(4, n_filters, 3, 3),
                       rng.randn(16, 10)]
        self.intercepts_ = [rng.randn(n_filters), rng.randn(4), rng.randn(10)]
        if padding is not None:
            self.padding = padding
        if activation is not None:
            self.activation = activation

    def fit(self, X, y):
        return self


def _scipy_maps(est, image):
    from scipy.signal import correlate2d

    mode = getattr(est, "padding", "same")
    maps = [correlate2d(image, w[0], mode=mode) + b
            for w, b in zip(est.coefs_[0], est.intercepts_[0])]
    return np.maximum(np.array(maps), 0)


def test_filter_display_filters_only():
    est = _FakeConv(n_filters=10)
    disp = FilterDisplay.from_estimator(est, ncols=4)
    assert len(disp.filter_axes_) == 10 and len(disp.filter_images_) == 10
    assert disp.map_axes_ is None and disp.image_ax_ is None
    for k, im in enumerate(disp.filter_images_):
        np.testing.assert_array_equal(im.get_array(), est.coefs_[0][k, 0])
    lim = np.abs(est.coefs_[0]).max()
    assert disp.filter_images_[0].get_clim() == (-lim, lim)  # centred on zero
    # 10 filters in rows of 4: 12 axes, the 2 spare ones hidden
    assert len(disp.figure_.axes) == 12


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_filter_display_feature_maps_match_scipy(digits, padding):
    X, _ = digits
    est = _FakeConv(padding=padding)
    disp = FilterDisplay.from_estimator(est, X, sample_index=3)
    assert len(disp.map_axes_) == 6
    np.testing.assert_allclose(disp.image_ax_.get_images()[0].get_array(),
                               X[3].reshape(8, 8))
    expected = _scipy_maps(est, X[3].reshape(8, 8))
    np.testing.assert_allclose(disp.feature_maps, expected, atol=1e-12)
    for ax, m in zip(disp.map_axes_, expected):
        np.testing.assert_allclose(ax.get_images()[0].get_array(), m, atol=1e-12)


def test_filter_display_deeper_layer_and_errors(digits):
    est = _FakeConv()
    disp = FilterDisplay.from_estimator(est, layer=1, in_channel=2)
    np.testing.assert_array_equal(disp.filters, est.coefs_[1][:, 2])
    with pytest.raises(ValueError, match="first layer"):
        FilterDisplay.from_estimator(est, digits[0], layer=1)
    with pytest.raises(ValueError, match="convolution layer"):
        FilterDisplay.from_estimator(est, layer=2)
    with pytest.raises(NotFittedError):
        FilterDisplay.from_estimator(MLPClassifierX())


@pytest.mark.skipif(not hasattr(sknn, "ConvClassifier"),
                    reason="sknn has no ConvClassifier yet")
def test_filter_display_conv_classifier(digits):
    X, y = digits
    conv = sknn.ConvClassifier(input_shape=(1, 8, 8), filters=(4,), kernel_size=3,
                               pool="max", hidden_layer_sizes=(8,), max_iter=2,
                               random_state=0).fit(X[:200], y[:200])
    assert conv.coefs_[0].shape == (4, 1, 3, 3)
    disp = FilterDisplay.from_estimator(conv, X[:5])
    assert len(disp.filter_axes_) == 4 and len(disp.map_axes_) == 4
    assert disp.feature_maps.shape[0] == 4


@pytest.mark.skipif(not hasattr(sknn, "ConvClassifier"),
                    reason="sknn has no ConvClassifier yet")
def test_filter_display_maps_match_the_network(digits):
    """Feature maps use the fitted first layer's geometry and activation: a
    stride-2 'same' convolution with an extra bottom/right pad and tanh."""
    from sknn._base import build_network

    X, y = digits
    conv = sknn.ConvClassifier(input_shape=(1, 8, 8), filters=(3, 2), kernel_size=4,
                               stride=[2, 1], activation=["tanh", "relu", "relu"],
                               pool=None, hidden_layer_sizes=(8,), max_iter=2,
                               random_state=0).fit(X[:200], y[:200])
    disp = FilterDisplay.from_estimator(conv, X, sample_index=5)
    layer = build_network(conv._layer_specs_[:1], None).layers[0]
    assert layer.pad == (1, 1) and layer.out_shape == (3, 4, 4)
    layer.bind(conv.coefs_[0].astype(np.float64),
               conv.intercepts_[0].astype(np.float64), None, None)
    layer.allocate(1, np.float64)
    expected = layer.forward(X[5:6].astype(np.float64), False, None)[0]
    np.testing.assert_allclose(disp.feature_maps, expected, atol=1e-12)


def test_filter_display_reads_channels_last_rows():
    """With data_format='channels_last' the rows are C-order over (H, W, C);
    the display shows the same maps as the channels-first model of the same
    images (trained bit-identically)."""
    rng = np.random.RandomState(0)
    images = rng.rand(80, 2, 6, 6)  # channels first
    y = rng.randint(0, 2, 80)
    params = dict(filters=(3,), max_iter=2, random_state=0)
    first = sknn.ConvClassifier(input_shape=(2, 6, 6), **params).fit(
        images.reshape(80, -1), y)
    rows_last = images.transpose(0, 2, 3, 1).reshape(80, -1)
    last = sknn.ConvClassifier(input_shape=(6, 6, 2), data_format="channels_last",
                               **params).fit(rows_last, y)
    a = FilterDisplay.from_estimator(first, images.reshape(80, -1), sample_index=3)
    b = FilterDisplay.from_estimator(last, rows_last, sample_index=3)
    np.testing.assert_array_equal(a.feature_maps, b.feature_maps)
    np.testing.assert_array_equal(a.image, b.image)
