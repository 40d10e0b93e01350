"""``ConvClassifier``: small convolutional networks as a scikit-learn classifier."""

import math
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions

from . import _conv_layers  # noqa: F401  (registers the conv/pool layers)
from ._base import (
    ACTIVATIONS,
    BaseNeuralNetwork,
    check_activation,
    check_rate,
    hidden_sizes,
    per_layer,
)
from ._classifier import NeuralClassifierMixin
from ._docstrings import fill
from ._kernels.conv import conv_output_size


def _infer_shape(n_features):
    """A square one-channel image when ``n_features`` is a square, else a strip."""
    side = math.isqrt(n_features)
    if side * side == n_features:
        return (1, side, side)
    return (1, 1, n_features)


def _positive_int(v):
    if isinstance(v, bool) or not isinstance(v, (Integral, np.integer)) or v < 1:
        return f"{v!r} must be a positive int."
    return None


def _padding(v):
    if v not in ("same", "valid"):
        return f"{v!r} must be 'same' or 'valid'."
    return None


class ConvClassifier(NeuralClassifierMixin, ClassifierMixin, BaseNeuralNetwork):
    """Convolutional neural-network classifier on Numba kernels.

    Each convolution is followed by its activation and, when ``pool`` is set,
    by one pooling layer; then come the dense hidden layers and a softmax (or
    logistic) output.  It takes ordinary 2-D ``X`` (one row per image,
    reshaped with ``input_shape``), so it works in pipelines, grid searches
    and cross-validation like any classifier.

    Parameters
    ----------
    input_shape : tuple of int or None, default=None
        ``(channels, height, width)`` (channels first) or ``(height, width)``
        for one channel. ``X`` rows are reshaped to it in C order. ``None``
        takes the shape of 3-D ``(n, H, W)`` / 4-D ``(n, C, H, W)`` input, or
        else a square one-channel image when ``n_features`` is a perfect
        square and a ``1 x n_features`` strip otherwise (see
        ``input_shape_``).

    filters : int or tuple of int, default=(16,)
        Number of filters of each convolution layer (one entry per layer).

    kernel_size : int or tuple of int, default=3
        Square kernel size, one value or one per convolution layer.

    stride : int or tuple of int, default=1
        Convolution stride, one value or one per convolution layer.

    padding : {'same', 'valid'} or tuple, default='same'
        ``'same'`` keeps ``ceil(size / stride)`` (TensorFlow convention: an
        odd extra pad goes bottom/right); ``'valid'`` uses no padding.

    pool : {'max', 'mean'} or None, default='max'
        Pooling after each convolution, or no pooling.

    pool_size : int, default=2
        Pooling window and stride. Along an axis shorter than ``pool_size``
        the window is clipped to the map (e.g. ``1 x n`` strips).

    hidden_layer_sizes : array-like of int, default=(64,)
        Dense hidden layers between the last convolution block and the
        output (may be empty).

    activation : str or list of str, default='relu'
        Activation of every convolution and dense hidden layer (one name, or
        one per layer: convolutions first, then dense layers). Same set as
        :class:`MLPClassifierX`.

    {engine_params}

    dropout : float or list of float, default=0.0
        Inverted dropout after each dense hidden layer, training only.

    class_weight : dict, 'balanced' or None, default=None
        Class weights multiplied into ``sample_weight``.

    n_jobs : int or None, default=None
        Kernel threads for this estimator's calls (``None``: all cores).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.

    input_shape_ : tuple of int
        The ``(channels, height, width)`` the rows of ``X`` are reshaped to.

    {fitted_attrs}

    Notes
    -----
    ``coefs_`` and ``intercepts_`` list each layer's parameters in network
    order: convolution kernels of shape ``(out_channels, in_channels,
    kernel_h, kernel_w)`` (PyTorch's layout), then dense weights
    ``(n_fan_in, n_fan_out)`` (scikit-learn's layout). The first dense layer
    sees the last block's feature maps flattened in C order of
    ``(channels, height, width)``, so the same network can be rebuilt in
    PyTorch with ``Conv2d``, ``MaxPool2d``/``AvgPool2d``, ``Flatten`` and
    ``Linear`` (transpose the dense weights).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sknn import ConvClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ConvClassifier(input_shape=(1, 8, 8), filters=(8,),
    ...                      hidden_layer_sizes=(32,), max_iter=5, random_state=0)
    >>> clf.fit(X[:1000] / 16, y[:1000]).score(X[1000:] / 16, y[1000:]) > 0.8
    True
    """

    _parameter_constraints: dict = {
        **BaseNeuralNetwork._parameter_constraints,
        "input_shape": [None, tuple, list],
        "filters": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "stride": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "padding": [StrOptions({"same", "valid"}), "array-like"],
        "pool": [StrOptions({"max", "mean"}), None],
        "pool_size": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(ACTIVATIONS), "array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    _x_validation = dict(accept_sparse=False)

    def __init__(
        self,
        *,
        input_shape=None,
        filters=(16,),
        kernel_size=3,
        stride=1,
        padding="same",
        pool="max",
        pool_size=2,
        hidden_layer_sizes=(64,),
        activation="relu",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        class_weight=None,
        n_jobs=None,
    ):
        self.input_shape = input_shape
        self.filters = filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.pool = pool
        self.pool_size = pool_size
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.class_weight = class_weight
        self.n_jobs = n_jobs

    # -- input shape ----------------------------------------------------------
    def _prepare_X(self, X):
        """Flatten 3-D ``(n, H, W)`` / 4-D ``(n, C, H, W)`` image arrays."""
        self._nd_shape = None
        if sp.issparse(X) or hasattr(X, "iloc") or not hasattr(X, "__len__"):
            return X
        arr = np.asarray(X) if not isinstance(X, np.ndarray) else X
        if arr.ndim == 3:
            self._nd_shape = (1,) + arr.shape[1:]
        elif arr.ndim == 4:
            self._nd_shape = arr.shape[1:]
        else:
            return X
        return arr.reshape(arr.shape[0], -1)

    def _resolve_input_shape(self, n_features):
        shape = self.input_shape
        nd = getattr(self, "_nd_shape", None)
        if shape is None:
            shape = nd if nd is not None else _infer_shape(n_features)
        else:
            shape = tuple(shape)
            if len(shape) == 2:
                shape = (1,) + shape
            if len(shape) != 3 or any(
                isinstance(v, bool) or not isinstance(v, (Integral, np.integer)) or v < 1
                for v in shape
            ):
                raise ValueError(
                    "input_shape must be (channels, height, width) or (height, width) "
                    f"of positive ints, got {self.input_shape!r}."
                )
            if nd is not None and tuple(nd) != shape:
                raise ValueError(
                    f"X has images of shape {tuple(nd)} but input_shape is {shape}."
                )
        shape = tuple(int(v) for v in shape)
        if int(np.prod(shape)) != n_features:
            raise ValueError(
                f"input_shape {shape} holds {int(np.prod(shape))} values per sample "
                f"but X has n_features={n_features}."
            )
        return shape

    def _input_data(self, X):
        return X.reshape((X.shape[0],) + self.input_shape_)

    # -- architecture ---------------------------------------------------------
    def _check_hyperparameters(self):
        filters = [self.filters] if isinstance(self.filters, Integral) else list(
            self.filters)
        for f in filters:
            err = _positive_int(f)
            if err:
                raise ValueError(f"Invalid value in filters: {err}")
        self._filters = [int(f) for f in filters]
        n_conv = len(self._filters)
        conv = "convolution layers (one per entry of filters)"
        self._kernels = per_layer(self.kernel_size, n_conv, "kernel_size",
                                  _positive_int, conv)
        self._strides = per_layer(self.stride, n_conv, "stride", _positive_int, conv)
        self._paddings = per_layer(self.padding, n_conv, "padding", _padding, conv)
        self._hidden = hidden_sizes(self.hidden_layer_sizes)
        self._activations = per_layer(
            self.activation, n_conv + len(self._hidden), "activation",
            check_activation, "convolution and dense hidden layers")
        self._dropouts = per_layer(self.dropout, len(self._hidden), "dropout",
                                   check_rate)

    def _layer_specs(self, n_features, n_outputs):
        shape = self._resolve_input_shape(n_features)
        self.input_shape_ = shape
        specs = []
        acts = iter(self._activations)
        for i, (f, k, s, pad) in enumerate(zip(self._filters, self._kernels,
                                                self._strides, self._paddings)):
            c, h, w = shape
            try:
                oh = conv_output_size(h, k, s, pad)
                ow = conv_output_size(w, k, s, pad)
            except ValueError as exc:
                raise ValueError(
                    f"Convolution layer {i} (kernel_size={k}, padding={pad!r}) does "
                    f"not fit its {h}x{w} input feature map: {exc}. Use smaller "
                    "kernels, padding='same', fewer layers or a larger input_shape."
                ) from None
            specs.append(("conv2d", {"in_shape": shape, "filters": f, "kernel_size": k,
                                     "stride": s, "padding": pad,
                                     "activation": next(acts)}))
            shape = (f, oh, ow)
            if self.pool is not None:
                specs.append(("pool2d", {"in_shape": shape, "size": self.pool_size,
                                         "mode": self.pool}))
                ph, pw = min(self.pool_size, oh), min(self.pool_size, ow)
                shape = (f, oh // ph, ow // pw)
        n_in = int(np.prod(shape))
        last_act = "relu"
        for size, rate in zip(self._hidden, self._dropouts):
            last_act = next(acts)
            specs.append(("dense", {"n_in": n_in, "n_out": size,
                                    "activation": last_act}))
            if rate > 0:
                specs.append(("dropout", {"shape": (size,), "rate": float(rate)}))
            n_in = size
        specs.append(("dense", {"n_in": n_in, "n_out": n_outputs,
                                "activation": "identity",
                                "init_activation": last_act}))
        return specs

    def _needs_rng(self):
        return any(r > 0 for r in self._dropouts)

    def _publish_common(self, specs, n_outputs, first_pass):
        super()._publish_common(specs, n_outputs, first_pass)
        self.n_layers_ = sum(1 for name, _ in specs if name in ("dense", "conv2d")) + 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.classifier_tags.multi_label = False
        return tags


ConvClassifier.__doc__ = fill(ConvClassifier.__doc__)
