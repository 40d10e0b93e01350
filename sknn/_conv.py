"""Small convolutional networks as scikit-learn estimators.

``ConvClassifier`` and ``ConvRegressor`` share one convolutional body
(:class:`_ConvNetwork`: the parameters, their checks, the image layout and
the layer specs) and differ only in their head, which comes from
:class:`~sknn._classifier.NeuralClassifierMixin` or
:class:`~sknn._regressor.NeuralRegressorMixin`.
"""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions

from . import _conv_layers  # noqa: F401  (registers the conv/pool layers)
from ._base import (
    ACTIVATIONS,
    TRANSFER_CONSTRAINTS,
    BaseNeuralNetwork,
    check_activation,
    check_rate,
    hidden_sizes,
    per_layer,
)
from ._classifier import NeuralClassifierMixin
from ._docstrings import CONTROL_PARAMS, FROZEN_PARAM, TRANSFORM_NOTE, fill
from ._features import HiddenFeaturesMixin
from ._kernels.conv import conv_output_size
from ._regressor import REGRESSION_LOSSES, NeuralRegressorMixin

DATA_FORMATS = ("channels_first", "channels_last")
_GLOBAL_POOL_MODES = {"avg": "mean", "mean": "mean", "max": "max"}


def _infer_shape(n_features):
    """A square one-channel image when ``n_features`` is a square, else a
    strip; channels first."""
    side = math.isqrt(n_features)
    if side * side == n_features:
        return (1, side, side)
    return (1, 1, n_features)


def _channels_first(shape, data_format):
    """``(C, H, W)`` of an image shape given in ``data_format`` order."""
    if data_format == "channels_last":
        return (shape[2], shape[0], shape[1])
    return tuple(shape)


def _in_order(chw, data_format):
    """A ``(C, H, W)`` shape in ``data_format`` order."""
    if data_format == "channels_last":
        return (chw[1], chw[2], chw[0])
    return tuple(chw)


def _looks_channels_last(shape):
    """Whether a ``(C, H, W)`` reading of ``shape`` looks like a mistaken
    ``(H, W, C)`` image: 1, 3 or 4 along the last axis, a much larger first
    axis and a larger middle one (``(32, 32, 3)``, ``(28, 28, 1)``, but not
    ``(16, 4, 4)`` feature maps)."""
    a, b, c = shape
    return c in (1, 3, 4) and a >= max(8, 4 * c) and b > c


def _positive_int(v):
    if isinstance(v, bool) or not isinstance(v, (Integral, np.integer)) or v < 1:
        return f"{v!r} must be a positive int."
    return None


def _padding(v):
    if v not in ("same", "valid"):
        return f"{v!r} must be 'same' or 'valid'."
    return None


def _pool_mode(v):
    if v is not None and v not in ("max", "mean"):
        return f"{v!r} must be 'max', 'mean' or None."
    return None


def _pool_window(v):
    if v is None:
        return None
    err = _positive_int(v)
    return err and f"{v!r} must be a positive int or None."


CONV_PARAMS = """\
input_shape : tuple of int or None, default=None
        The image shape in the order of ``data_format``: ``(channels,
        height, width)`` or ``(height, width, channels)``, or ``(height,
        width)`` for one channel. ``X`` rows are reshaped to it in C order.
        ``None`` takes the shape of 3-D ``(n, H, W)`` / 4-D input, or else a
        square one-channel image when ``n_features`` is a perfect square and
        a ``1 x n_features`` strip otherwise (see ``input_shape_``).

    data_format : {'channels_first', 'channels_last'}, default='channels_first'
        The layout of the images in ``X`` and of ``input_shape``:
        ``(C, H, W)`` (PyTorch) or ``(H, W, C)`` (Keras, PIL, matplotlib).
        4-D ``X`` is ``(n, C, H, W)`` or ``(n, H, W, C)``, and flat rows hold
        the pixels in C order of that layout. Either way the network runs on
        channels-first images (``X`` is transposed once, as it is validated),
        so both layouts of the same images give the same predictions, bit
        for bit. Images that look channels-last read as channels-first (a
        4-D ``X`` of shape ``(n, 32, 32, 3)``, or such an ``input_shape``:
        32 channels of 32x3 pixels) get a warning.

    filters : int or tuple of int, default=(16,)
        Number of filters of each convolution layer (one entry per layer).
        A convolution block is one convolution, its activation, its optional
        pooling and its optional feature-map dropout.

    kernel_size : int or tuple of int, default=3
        Square kernel size, one value or one per convolution layer.

    stride : int or tuple of int, default=1
        Convolution stride, one value or one per convolution layer.

    padding : {'same', 'valid'} or tuple, default='same'
        ``'same'`` keeps ``ceil(size / stride)`` (TensorFlow convention: an
        odd extra pad goes bottom/right); ``'valid'`` uses no padding.

    pool : {'max', 'mean'}, None or list, default='max'
        Pooling after each convolution, or none; or a list with one entry
        per convolution block, ``None`` for a block without pooling.

    pool_size : int or list, default=2
        Pooling window and stride: one value, or one per convolution block
        (``None`` for a block without pooling). Along an axis shorter than
        the window it is clipped to the map (e.g. ``1 x n`` strips).

    global_pool : {'avg', 'max'} or None, default=None
        Reduce each feature map of the last block to one value (its mean or
        maximum) before the dense layers, so the head sees one value per
        filter whatever the image size. ``'mean'`` is the same as ``'avg'``.

    hidden_layer_sizes : array-like of int, default=(64,)
        Dense hidden layers between the last convolution block and the
        output (may be empty).

    activation : str or list of str, default='relu'
        Activation of every convolution and dense hidden layer (one name, or
        one per layer: convolutions first, then dense layers). Same set as
        :class:`MLPClassifierX`."""

CONV_TAIL_PARAMS = """\
dropout : float or list of float, default=0.0
        Inverted dropout, training only. One value: after each dense hidden
        layer. A list with one rate per dense hidden layer, or one per
        convolution block and dense hidden layer (blocks first): a block's
        rate drops whole feature maps (one draw per sample and channel),
        after the block's pooling."""

CONV_ATTRS = """\
input_shape_ : tuple of int
        The image shape the rows of ``X`` are reshaped to, in the order of
        ``data_format``."""

CONV_NOTES = """\
``coefs_`` and ``intercepts_`` list each layer's parameters in network
    order: convolution kernels of shape ``(out_channels, in_channels,
    kernel_h, kernel_w)`` (PyTorch's layout), then dense weights
    ``(n_fan_in, n_fan_out)`` (scikit-learn's layout). The first dense layer
    sees the last block's feature maps flattened in C order of
    ``(channels, height, width)`` (whatever ``data_format``; ``(channels,)``
    after global pooling), so the same network can be rebuilt in PyTorch
    with ``Conv2d``, ``MaxPool2d``/``AvgPool2d``, ``Dropout2d``, ``Flatten``
    and ``Linear`` (transpose the dense weights)."""


CONV_INIT = """\
init : {'glorot_uniform', 'glorot_normal', 'he_uniform', 'he_normal'}, \
None or fitted estimator, default=None
        Initial weights. ``None``: each convolution draws He-uniform weights
        (bound ``sqrt(6 / fan_in)``) after a rectifier (``'relu'``,
        ``'leaky_relu'``, ``'elu'``) and Glorot-uniform ones otherwise, with
        biases ``U(+-1 / sqrt(fan_in))``, as PyTorch's ``Conv2d``; dense
        layers draw as scikit-learn's MLP. A named scheme applies to every
        layer, as in :class:`MLPClassifierX`.

        A fitted :class:`ConvClassifier` or :class:`ConvRegressor`
        (fine-tuning, transfer) starts the first layers with a copy of its
        weights (the others draw as with ``None``): its convolutions and
        dense hidden layers start this network's first weight layers, which
        must have their shapes (the same convolution blocks on images of the
        same shape, and ``hidden_layer_sizes`` starting with its own); its
        output layer is copied too when it is an estimator of this class
        with the same outputs (and classes). The activations are this
        estimator's own. Shapes that do not match raise a ``ValueError``
        naming them. ``init`` applies to fits that start from scratch, not
        to ``warm_start`` or ``partial_fit`` continuing a fit. ``clone``
        keeps a fitted ``init`` fitted (a copy)."""


def _training_params():
    """The training-control fragment with the conv estimators' own ``init``
    (default None: each layer's own initialisation) and ``frozen_layers``."""
    return CONTROL_PARAMS + "\n\n    " + CONV_INIT + "\n\n    " + FROZEN_PARAM


def _fill(doc, prefix):
    doc = doc.replace("{training_params}", _training_params()).replace(
        "{transform_note}", TRANSFORM_NOTE.replace("{prefix}", prefix))
    return fill(doc.replace("{conv_params}", CONV_PARAMS)
                .replace("{conv_tail_params}", CONV_TAIL_PARAMS)
                .replace("{conv_attrs}", CONV_ATTRS)
                .replace("{conv_notes}", CONV_NOTES))


class _ConvNetwork(HiddenFeaturesMixin, BaseNeuralNetwork):
    """The convolutional body shared by the conv estimators (not public):
    parameters and their checks, the image layout, and the layer specs up to
    the output layer."""

    _parameter_constraints: dict = {
        **BaseNeuralNetwork._parameter_constraints,
        "input_shape": [None, tuple, list],
        "data_format": [StrOptions(set(DATA_FORMATS))],
        "filters": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "stride": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "padding": [StrOptions({"same", "valid"}), "array-like"],
        "pool": [StrOptions({"max", "mean"}), None, "array-like"],
        "pool_size": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "global_pool": [StrOptions(set(_GLOBAL_POOL_MODES)), None],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(ACTIVATIONS), "array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        **TRANSFER_CONSTRAINTS,
        # None: each layer's own default (He-uniform convolutions after a
        # rectifier, as PyTorch's Conv2d; scikit-learn's dense initialisation).
        "init": [*TRANSFER_CONSTRAINTS["init"], None],
    }

    _x_validation = dict(accept_sparse=False)
    _default_init = None
    _transfer_family = "conv"

    # -- image layout -----------------------------------------------------------
    def _prepare_X(self, X):
        """Flatten 3-D ``(n, H, W)`` / 4-D image arrays, recording their
        trailing shape for the checks against ``input_shape``."""
        self._nd_shape = None
        if sp.issparse(X) or hasattr(X, "iloc") or not hasattr(X, "__len__"):
            return X
        arr = np.asarray(X) if not isinstance(X, np.ndarray) else X
        if arr.ndim not in (3, 4):
            return X
        self._nd_shape = arr.shape[1:]
        return arr.reshape(arr.shape[0], -1)

    def _images_shape(self, data_format):
        """The image shape of the last 3-D/4-D ``X`` in ``data_format`` order
        (a 3-D ``X`` holds one-channel images), or None for 2-D ``X``."""
        nd = getattr(self, "_nd_shape", None)
        if nd is None or len(nd) == 3:
            return nd
        return _in_order((1,) + tuple(nd), data_format)

    def _resolve_input_shape(self, n_features):
        """The image shape in ``data_format`` order (checked against ``X``)."""
        fmt = self.data_format
        shape = self.input_shape
        nd = self._images_shape(fmt)
        if shape is None:
            shape = nd if nd is not None else _in_order(_infer_shape(n_features), fmt)
        else:
            shape = tuple(shape)
            if len(shape) == 2:
                shape = _in_order((1,) + shape, fmt)
            if len(shape) != 3 or any(
                isinstance(v, bool) or not isinstance(v, (Integral, np.integer)) or v < 1
                for v in shape
            ):
                order = ("(height, width, channels)" if fmt == "channels_last"
                         else "(channels, height, width)")
                raise ValueError(
                    f"input_shape must be {order} (data_format={fmt!r}) or (height, "
                    f"width) of positive ints, got {self.input_shape!r}."
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
        if fmt == "channels_first" and _looks_channels_last(shape):
            c, h, w = shape
            warnings.warn(
                f"Images of shape {shape} are read with data_format='channels_first' "
                f"as {c} channels of {h}x{w} pixels. If their last axis holds the "
                "channels (the layout of Keras, PIL and matplotlib), pass "
                "data_format='channels_last'.",
                UserWarning,
            )
        return shape

    def _input_data(self, X):
        """``(n, C, H, W)`` channels-first images from validated flat rows
        (a transposed copy for ``channels_last``)."""
        fmt = getattr(self, "_data_format_", "channels_first")
        nd = self._images_shape(fmt)
        if nd is not None and tuple(nd) != self.input_shape_:
            raise ValueError(
                f"X has images of shape {tuple(nd)} but this {type(self).__name__} "
                f"was fitted on images of shape {self.input_shape_} "
                f"(data_format={fmt!r})."
            )
        images = X.reshape((X.shape[0],) + self.input_shape_)
        if fmt == "channels_last":
            return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        return images

    def _scorer_input(self, val):
        """Validation images as rows in ``data_format`` order (the kernel
        input is channels-first), as a scorer's ``predict`` reads them."""
        images = val.X
        if getattr(self, "_data_format_", "channels_first") == "channels_last":
            images = images.transpose(0, 2, 3, 1)
        return np.ascontiguousarray(images).reshape(images.shape[0], -1)

    # -- architecture -----------------------------------------------------------
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
        pool = [None] * n_conv if self.pool is None else self.pool
        self._pools = per_layer(pool, n_conv, "pool", _pool_mode, conv)
        self._pool_sizes = per_layer(self.pool_size, n_conv, "pool_size",
                                     _pool_window, conv)
        self._hidden = hidden_sizes(self.hidden_layer_sizes)
        n_dense = len(self._hidden)
        self._activations = per_layer(
            self.activation, n_conv + n_dense, "activation",
            check_activation, "convolution and dense hidden layers")
        rates = self.dropout
        if not (isinstance(rates, str) or np.isscalar(rates)) and (
                len(rates) == n_conv + n_dense):
            rates = per_layer(rates, n_conv + n_dense, "dropout", check_rate)
            self._block_dropouts, self._dropouts = rates[:n_conv], rates[n_conv:]
            return
        if not (isinstance(rates, str) or np.isscalar(rates)) and len(rates) != n_dense:
            raise ValueError(
                f"dropout has {len(rates)} entries but the network has {n_dense} "
                f"dense hidden layers and {n_conv} convolution blocks; give one "
                f"value (dense layers), one per dense hidden layer ({n_dense}) or "
                f"one per convolution block and dense hidden layer "
                f"({n_conv + n_dense}, blocks first)."
            )
        self._dropouts = per_layer(rates, n_dense, "dropout", check_rate)
        self._block_dropouts = [0.0] * n_conv

    def _layer_specs(self, n_features, n_outputs):
        shape = self._resolve_input_shape(n_features)
        self.input_shape_ = shape
        self._data_format_ = self.data_format
        shape = _channels_first(shape, self.data_format)
        specs = []
        acts = iter(self._activations)
        blocks = zip(self._filters, self._kernels, self._strides, self._paddings,
                     self._pools, self._pool_sizes, self._block_dropouts)
        for i, (f, k, s, pad, pool, size, rate) in enumerate(blocks):
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
            if pool is not None and size is not None:
                specs.append(("pool2d", {"in_shape": shape, "size": size,
                                         "mode": pool}))
                shape = (f, oh // min(size, oh), ow // min(size, ow))
            if rate > 0:
                specs.append(("spatial_dropout", {"shape": shape, "rate": float(rate)}))
        if self.global_pool is not None:
            c, h, w = shape
            specs.append(("pool2d", {"in_shape": shape, "size": (h, w),
                                     "mode": _GLOBAL_POOL_MODES[self.global_pool]}))
            shape = (c, 1, 1)
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
        return any(r > 0 for r in self._dropouts + self._block_dropouts)

    def _publish_common(self, specs, n_outputs, first_pass):
        super()._publish_common(specs, n_outputs, first_pass)
        self.n_layers_ = sum(1 for name, _ in specs if name in ("dense", "conv2d")) + 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class ConvClassifier(NeuralClassifierMixin, ClassifierMixin, _ConvNetwork):
    """Convolutional neural-network classifier on Numba kernels.

    Each convolution is followed by its activation and, when ``pool`` is set,
    by one pooling layer; then come an optional global pooling, the dense
    hidden layers and a softmax (or logistic) output.  It takes ordinary 2-D
    ``X`` (one row per image, reshaped with ``input_shape``) as well as 3-D
    and 4-D image arrays, so it works in pipelines, grid searches and
    cross-validation like any classifier.

    Parameters
    ----------
    {conv_params}

    {engine_params}

    {conv_tail_params}

    class_weight : dict, 'balanced' or None, default=None
        Class weights multiplied into ``sample_weight``.

    n_jobs : int or None, default=None
        Kernel threads for this estimator's calls (``None``: all cores).

    {training_params}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.

    {conv_attrs}

    {fitted_attrs}

    See Also
    --------
    ConvRegressor : The same network with a regression head.

    Notes
    -----
    {conv_notes}

    {transform_note}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sknn import ConvClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ConvClassifier(input_shape=(1, 8, 8), filters=(8,),
    ...                      hidden_layer_sizes=(32,), learning_rate_init=0.01,
    ...                      max_iter=10, random_state=0)
    >>> clf.fit(X[:1000] / 16, y[:1000]).score(X[1000:] / 16, y[1000:]) > 0.85
    True
    """

    _parameter_constraints: dict = {
        **_ConvNetwork._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        *,
        input_shape=None,
        data_format="channels_first",
        filters=(16,),
        kernel_size=3,
        stride=1,
        padding="same",
        pool="max",
        pool_size=2,
        global_pool=None,
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
        lr_schedule=None,
        scoring=None,
        callbacks=None,
        init=None,
        frozen_layers=0,
        dropout=0.0,
        class_weight=None,
        n_jobs=None,
    ):
        self.input_shape = input_shape
        self.data_format = data_format
        self.filters = filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.pool = pool
        self.pool_size = pool_size
        self.global_pool = global_pool
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
        self.lr_schedule = lr_schedule
        self.scoring = scoring
        self.callbacks = callbacks
        self.init = init
        self.frozen_layers = frozen_layers
        self.dropout = dropout
        self.class_weight = class_weight
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class ConvRegressor(NeuralRegressorMixin, RegressorMixin, _ConvNetwork):
    """Convolutional neural-network regressor on Numba kernels.

    The convolutional body of :class:`ConvClassifier` (convolution blocks,
    optional global pooling, dense hidden layers) with a regression output:
    one or several continuous targets per image, such as a position, a count
    or an intensity. ``score`` is the coefficient of determination R².

    Parameters
    ----------
    loss : {'squared_error', 'poisson', 'absolute_error', 'huber', \
'quantile'}, default='squared_error'
        The losses of :class:`MLPRegressorX`: ``'squared_error'`` (half the
        squared error, identity output); ``'poisson'`` (half the Poisson
        deviance, exponential output; targets must be non-negative); the
        robust ``'absolute_error'`` (predicts the conditional median),
        ``'huber'`` (squared below ``huber_delta``, absolute above it) and
        ``'quantile'`` (the pinball loss, predicts the ``quantile`` of ``y``),
        averaged over outputs with an identity output.

    {conv_params}

    {engine_params}

    {conv_tail_params}

    n_jobs : int or None, default=None
        Kernel threads for this estimator's calls (``None``: all cores).

    {training_params}

    huber_delta : float, default=1.0
        Threshold of ``loss='huber'`` between its squared and absolute parts,
        in units of ``y``.

    quantile : float, default=0.5
        The quantile ``loss='quantile'`` predicts, in (0, 1).

    Attributes
    ----------
    {conv_attrs}

    {fitted_attrs}

    See Also
    --------
    ConvClassifier : The same network with a classification head.
    MLPRegressorX : A dense network for regression.

    Notes
    -----
    {conv_notes}

    {transform_note}

    Examples
    --------
    Locate one bright square in 16x16 images (its centre's row and column):

    >>> from sknn import ConvRegressor
    >>> from sknn.datasets import make_squares
    >>> X, y = make_squares(1200, random_state=0)
    >>> reg = ConvRegressor(input_shape=(16, 16), filters=(8,),
    ...                     hidden_layer_sizes=(32,), learning_rate_init=0.003,
    ...                     max_iter=40, random_state=0)
    >>> reg.fit(X[:1000], y[:1000]).score(X[1000:], y[1000:]) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **_ConvNetwork._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        *,
        loss="squared_error",
        input_shape=None,
        data_format="channels_first",
        filters=(16,),
        kernel_size=3,
        stride=1,
        padding="same",
        pool="max",
        pool_size=2,
        global_pool=None,
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
        lr_schedule=None,
        scoring=None,
        callbacks=None,
        init=None,
        frozen_layers=0,
        dropout=0.0,
        n_jobs=None,
        huber_delta=1.0,
        quantile=0.5,
    ):
        self.loss = loss
        self.input_shape = input_shape
        self.data_format = data_format
        self.filters = filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.pool = pool
        self.pool_size = pool_size
        self.global_pool = global_pool
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
        self.lr_schedule = lr_schedule
        self.scoring = scoring
        self.callbacks = callbacks
        self.init = init
        self.frozen_layers = frozen_layers
        self.dropout = dropout
        self.n_jobs = n_jobs
        self.huber_delta = huber_delta
        self.quantile = quantile


ConvClassifier.__doc__ = _fill(ConvClassifier.__doc__, "convclassifier")
ConvRegressor.__doc__ = _fill(ConvRegressor.__doc__, "convregressor")
