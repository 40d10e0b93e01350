"""Plots of fitted sknn estimators, in scikit-learn's ``Display`` style.

Each display is built with ``Display.from_estimator(est)``, which reads the
fitted attributes and calls :meth:`plot`; the display then keeps the
matplotlib objects it drew (``figure_``, ``ax_``, lines, images) so that
callers can restyle them.  matplotlib is imported only when a display is
built (``pip install "sknn-numba[plot]"``); ``import sknn.inspection`` works
without it.
"""

import numpy as np
from sklearn.exceptions import NotFittedError

from ._base import build_network
from ._conv_layers import Conv2D
from ._kernels.activations import ELU, LEAKY_RELU, LEAKY_SLOPE, LOGISTIC, RELU, TANH

__all__ = ["TrainingCurveDisplay", "FilterDisplay"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sknn.inspection displays need matplotlib: "
            'pip install "sknn-numba[plot]" (or pip install matplotlib).'
        ) from exc
    return plt


def _final_estimator(estimator):
    """The fitted network inside a search, a pipeline or itself."""
    est = getattr(estimator, "best_estimator_", estimator)
    if hasattr(est, "steps"):
        est = est.steps[-1][1]
    return est


def _name(estimator, name):
    return name if name is not None else type(estimator).__name__


class TrainingCurveDisplay:
    """Training loss, validation loss and validation score per epoch.

    Build it with :meth:`from_estimator` (or from arrays with the
    constructor, then :meth:`plot`). Losses share one axes; the validation
    score, on its own scale, goes on a second axes.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training objective after each epoch (``loss_curve_``).

    validation_loss_curve : array-like of shape (n_epochs,), default=None
        Validation objective after each epoch (``validation_loss_curve_``).

    validation_scores : array-like of shape (n_epochs,), default=None
        Validation score after each epoch (``validation_scores_``): accuracy
        for classifiers, R² for regressors.

    estimator_name : str, default=None
        Used in the title.

    score_name : str, default=None
        The validation metric, for the score axis label (the estimator's
        ``scoring``); ``None`` labels it "validation score".

    learning_rates : array-like of shape (n_epochs,), default=None
        The learning rate of each epoch (from ``history_``), drawn dashed on
        a second y axis of the loss axes when :meth:`plot` makes the figure.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure holding the axes.

    ax_ : matplotlib.axes.Axes
        Axes with the loss curves.

    score_ax_ : matplotlib.axes.Axes or None
        Axes with the validation scores (None when there are none).

    lr_ax_ : matplotlib.axes.Axes or None
        Axes with the learning rates (None when there are none).

    lines_ : dict of str to matplotlib.lines.Line2D
        The drawn lines, keyed ``'loss'``, ``'validation_loss'``,
        ``'validation_score'`` and ``'learning_rate'`` (only the curves that
        exist).

    See Also
    --------
    FilterDisplay : Learned convolution filters and feature maps.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sknn import MLPClassifierX
    >>> from sknn.inspection import TrainingCurveDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifierX((32,), max_iter=5, early_stopping=True,
    ...                      random_state=0).fit(X / 16, y)
    >>> disp = TrainingCurveDisplay.from_estimator(clf)
    >>> sorted(disp.lines_)
    ['learning_rate', 'loss', 'validation_loss', 'validation_score']
    """

    def __init__(self, *, loss_curve, validation_loss_curve=None,
                 validation_scores=None, estimator_name=None, score_name=None,
                 learning_rates=None):
        self.loss_curve = loss_curve
        self.validation_loss_curve = validation_loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name
        self.score_name = score_name
        self.learning_rates = learning_rates

    def plot(self, ax=None, *, score_ax=None, name=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Axes for the losses. ``None`` makes a new figure (with a second
            axes beside it for the validation scores, when there are any).

        score_ax : matplotlib.axes.Axes, default=None
            Axes for the validation scores. ``None`` uses the new figure's
            second axes, or a twin of ``ax`` when ``ax`` was given.

        name : str, default=None
            Overrides ``estimator_name`` in the title.

        Returns
        -------
        self : TrainingCurveDisplay
        """
        plt = _pyplot()
        has_scores = self.validation_scores is not None and len(
            self.validation_scores) > 0
        own_figure = ax is None
        if ax is None:
            ncols = 2 if has_scores and score_ax is None else 1
            fig, axes = plt.subplots(1, ncols, figsize=(4.5 * ncols, 3.5),
                                     squeeze=False, layout="constrained")
            ax = axes[0, 0]
            if ncols == 2:
                score_ax = axes[0, 1]
        elif has_scores and score_ax is None:
            score_ax = ax.twinx()
        lines = {}
        epochs = np.arange(1, len(self.loss_curve) + 1)
        (lines["loss"],) = ax.plot(epochs, self.loss_curve, label="training loss")
        if self.validation_loss_curve is not None and len(self.validation_loss_curve):
            vl = np.asarray(self.validation_loss_curve)
            (lines["validation_loss"],) = ax.plot(
                np.arange(1, len(vl) + 1), vl, label="validation loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(loc="upper right")
        lr_ax = None
        if own_figure and self.learning_rates is not None and len(self.learning_rates):
            lr = np.asarray(self.learning_rates, dtype=float)
            lr_ax = ax.twinx()
            (lines["learning_rate"],) = lr_ax.plot(
                np.arange(1, len(lr) + 1), lr, color="C3", linestyle="--",
                label="learning rate")
            lr_ax.set_ylabel("learning rate")
            lr_ax.legend(loc="center right")
        title = self.estimator_name if name is None else name
        if title:
            ax.set_title(title)
        if has_scores:
            vs = np.asarray(self.validation_scores)
            (lines["validation_score"],) = score_ax.plot(
                np.arange(1, len(vs) + 1), vs, color="C2", label="validation score")
            score_ax.set_xlabel("epoch")
            label = ("validation score" if self.score_name is None
                     else f"validation {self.score_name}")
            score_ax.set_ylabel(label)
            lines["validation_score"].set_label(label)
            score_ax.legend(loc="lower right")
        else:
            score_ax = None
        self.ax_ = ax
        self.score_ax_ = score_ax
        self.lr_ax_ = lr_ax
        self.figure_ = ax.figure
        self.lines_ = lines
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, score_ax=None, name=None):
        """Plot the curves recorded by a fitted estimator.

        Parameters
        ----------
        estimator : estimator instance
            A fitted estimator with ``loss_curve_`` (any sknn network trained
            with ``solver='adam'`` or ``'sgd'``, or scikit-learn's MLPs). A
            :class:`~sklearn.pipeline.Pipeline` or a fitted search
            (``best_estimator_``) is unwrapped to its final step.

        ax, score_ax : matplotlib.axes.Axes, default=None
            See :meth:`plot`.

        name : str, default=None
            Title; the estimator's class name by default.

        Returns
        -------
        display : TrainingCurveDisplay
        """
        est = _final_estimator(estimator)
        if not hasattr(est, "loss_curve_"):
            if hasattr(est, "n_iter_"):
                raise ValueError(
                    f"{type(est).__name__} has no loss_curve_: it is recorded by the "
                    "stochastic solvers ('adam', 'sgd') only, not by 'lbfgs'.")
            raise NotFittedError(
                f"This {type(est).__name__} instance is not fitted yet (it has no "
                "loss_curve_). Call 'fit' before plotting its training curves.")
        disp = cls(
            loss_curve=list(est.loss_curve_),
            validation_loss_curve=getattr(est, "validation_loss_curve_", None),
            validation_scores=getattr(est, "validation_scores_", None),
            estimator_name=_name(est, None),
            score_name=_score_name(getattr(est, "scoring", None)),
            learning_rates=[r["learning_rate"] for r in getattr(est, "history_", None) or []]
            or None,
        )
        return disp.plot(ax=ax, score_ax=score_ax, name=name)


def _score_name(scoring):
    """A label for an estimator's ``scoring`` (None: the default metric)."""
    if scoring is None:
        return None
    if isinstance(scoring, str):
        return "minus loss" if scoring == "loss" else scoring
    return getattr(scoring, "__name__", type(scoring).__name__)


def _first(value, default):
    """The first entry of a per-layer parameter (``default`` when None)."""
    if value is None:
        return default
    if isinstance(value, (list, tuple, np.ndarray)):
        return value[0]
    return value


def _conv_spec(est, weights, n_features):
    """A ``conv2d`` layer spec for ``coefs_[0]`` of a network that stores no
    ``_layer_specs_``: its ``input_shape_`` (or ``input_shape``, else a square
    image) and first ``stride``, ``padding`` and ``activation`` (1, 'same'
    and 'relu' by default)."""
    n_filters, n_channels, kernel = weights.shape[:3]
    shape = getattr(est, "input_shape_", None) or getattr(est, "input_shape", None)
    if shape is None:
        side = int(round(np.sqrt(n_features / n_channels)))
        shape = (n_channels, side, side)
    shape = tuple(shape)
    if len(shape) == 2:
        shape = (1,) + shape
    stride = _first(getattr(est, "strides", getattr(est, "stride", None)), 1)
    return ("conv2d", {"in_shape": shape, "filters": n_filters,
                       "kernel_size": kernel, "stride": int(stride),
                       "padding": _first(getattr(est, "padding", None), "same"),
                       "activation": _first(getattr(est, "activation", None), "relu")})


def _first_conv(est, weights, n_features):
    """The first layer of the fitted network, a bound convolution layer.

    The network is rebuilt from ``_layer_specs_`` (the one ``predict``
    runs), or from :func:`_conv_spec` for a network without them.
    """
    specs = getattr(est, "_layer_specs_", None)
    coefs, intercepts = est.coefs_, getattr(est, "intercepts_", None)
    if specs is None:
        specs = [_conv_spec(est, weights, n_features)]
        coefs = [weights]
        if intercepts is None or np.shape(intercepts[0]) != (weights.shape[0],):
            intercepts = [np.zeros(weights.shape[0])]  # no bias
    layers = build_network(specs, None).inference_layers(coefs, intercepts)
    conv = layers[0][1] if layers else None
    if not isinstance(conv, Conv2D):
        raise ValueError(
            f"The first layer of {type(est).__name__} is not a convolution: "
            "FilterDisplay draws feature maps of a first convolution layer only.")
    if np.shape(conv.w) != conv.param_shapes()[0]:
        raise ValueError(
            f"coefs_[0] of {type(est).__name__} has shape {np.shape(conv.w)}, not "
            f"{conv.param_shapes()[0]} as its first convolution layer needs.")
    return conv


def _conv_maps(image, conv):
    """Feature maps ``(F, OH, OW)`` of one ``(C, H, W)`` image through the
    bound convolution layer ``conv`` (its weights, padding, stride and
    activation), in NumPy float64."""
    weights = np.asarray(conv.w, dtype=np.float64)
    F, C, K, _ = weights.shape
    _, H, W = image.shape
    _, OH, OW = conv.out_shape
    ph, pw = conv.pad
    s = conv.stride
    # Zeros beyond the image on every side ("same" may pad one more row or
    # column at the bottom/right than at the top/left).
    padded = np.zeros((C, H + 2 * ph + K, W + 2 * pw + K))
    padded[:, ph:ph + H, pw:pw + W] = image
    out = np.zeros((F, OH, OW))
    for i in range(OH):
        for j in range(OW):
            patch = padded[:, i * s:i * s + K, j * s:j * s + K]
            out[:, i, j] = np.tensordot(weights, patch, axes=3)
    out += np.asarray(conv.b).reshape(F, 1, 1)
    return _activate(out, conv.act)


def _activate(z, code):
    """The activation with code ``code`` (a layer's ``act``), in NumPy."""
    if code == RELU:
        return np.maximum(z, 0)
    if code == LEAKY_RELU:
        return np.where(z > 0, z, LEAKY_SLOPE * z)
    if code == TANH:
        return np.tanh(z)
    if code == LOGISTIC:
        return 1.0 / (1.0 + np.exp(-z))
    if code == ELU:
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    return z


class FilterDisplay:
    """Learned convolution filters, and optionally the maps they produce.

    Build it with :meth:`from_estimator` from a fitted convolutional network
    whose ``coefs_[layer]`` has the layout
    ``(out_channels, in_channels, kernel_h, kernel_w)``, as
    :class:`sknn.ConvClassifier` documents.

    Parameters
    ----------
    filters : ndarray of shape (n_filters, kernel_h, kernel_w)
        One 2-D kernel per filter (one input channel of the layer).

    feature_maps : ndarray of shape (n_filters, out_h, out_w), default=None
        The response of each filter to ``image`` (after the activation,
        before pooling).

    image : ndarray of shape (height, width), default=None
        The input image the feature maps were computed from.

    estimator_name : str, default=None
        Used in the title.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure.

    filter_axes_ : ndarray of matplotlib.axes.Axes
        One axes per filter, in filter order.

    filter_images_ : list of matplotlib.image.AxesImage
        The drawn filters.

    image_ax_ : matplotlib.axes.Axes or None
        Axes with the input image (None without feature maps).

    map_axes_ : ndarray of matplotlib.axes.Axes or None
        One axes per feature map (None without feature maps).

    See Also
    --------
    TrainingCurveDisplay : Loss and validation curves.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sknn.inspection import FilterDisplay
    >>> disp = FilterDisplay(filters=np.eye(3)[None].repeat(4, axis=0)).plot()
    >>> len(disp.filter_axes_)
    4
    """

    def __init__(self, *, filters, feature_maps=None, image=None, estimator_name=None):
        self.filters = filters
        self.feature_maps = feature_maps
        self.image = image
        self.estimator_name = estimator_name

    def plot(self, *, ncols=8, cmap="RdBu_r", map_cmap="viridis", figure=None,
             name=None):
        """Draw each filter (and each feature map) as a small image.

        Filters use a diverging colour map centred on zero, so positive
        weights (pixels that excite the filter) and negative weights (pixels
        that inhibit it) are told apart at a glance.

        Parameters
        ----------
        ncols : int, default=8
            Images per row.

        cmap : str, default='RdBu_r'
            Colour map of the filters.

        map_cmap : str, default='viridis'
            Colour map of the input image and the feature maps.

        figure : matplotlib.figure.Figure or SubFigure, default=None
            Where to draw; a new figure by default.

        name : str, default=None
            Overrides ``estimator_name`` in the title.

        Returns
        -------
        self : FilterDisplay
        """
        plt = _pyplot()
        filters = np.asarray(self.filters)
        n = filters.shape[0]
        ncols = max(1, min(int(ncols), n))
        nrows = -(-n // ncols)
        has_maps = self.feature_maps is not None
        if figure is None:
            height = 1.3 * nrows * (2 if has_maps else 1) + 0.8
            figure = plt.figure(figsize=(1.3 * ncols + (1.5 if has_maps else 0),
                                         height), layout="constrained")
        if has_maps:
            top, bottom = figure.subfigures(2, 1)
        else:
            top, bottom = figure, None
        axes = top.subplots(nrows, ncols, squeeze=False)
        lim = float(np.abs(filters).max()) or 1.0
        images = []
        for k, ax in enumerate(axes.ravel()):
            ax.set_axis_off()
            if k < n:
                images.append(ax.imshow(filters[k], cmap=cmap, vmin=-lim, vmax=lim))
                ax.set_title(str(k), fontsize=8)
        title = self.estimator_name if name is None else name
        top.suptitle(f"{title}: learned filters" if title else "learned filters")
        self.filter_axes_ = axes.ravel()[:n]
        self.filter_images_ = images
        self.image_ax_ = self.map_axes_ = None
        if has_maps:
            maps = np.asarray(self.feature_maps)
            left, right = bottom.subfigures(1, 2, width_ratios=[1, ncols])
            self.image_ax_ = left.subplots()
            if self.image is not None:
                self.image_ax_.imshow(np.asarray(self.image), cmap=map_cmap)
            self.image_ax_.set_title("input", fontsize=8)
            self.image_ax_.set_axis_off()
            maxes = right.subplots(nrows, ncols, squeeze=False)
            for k, ax in enumerate(maxes.ravel()):
                ax.set_axis_off()
                if k < maps.shape[0]:
                    ax.imshow(maps[k], cmap=map_cmap)
                    ax.set_title(str(k), fontsize=8)
            self.map_axes_ = maxes.ravel()[: maps.shape[0]]
            bottom.suptitle("feature maps (after the activation, before pooling)")
        self.figure_ = figure if not hasattr(figure, "figure") else figure.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, X=None, *, layer=0, in_channel=0,
                       sample_index=0, ncols=8, figure=None, name=None):
        """Plot the filters of one convolution layer of a fitted network.

        Parameters
        ----------
        estimator : estimator instance
            A fitted convolutional network (e.g. :class:`sknn.ConvClassifier`)
            whose ``coefs_[layer]`` is a 4-D array
            ``(out_channels, in_channels, kernel_h, kernel_w)``. Pipelines and
            fitted searches are unwrapped to their final step.

        X : array-like of shape (n_samples, n_features), default=None
            When given (first layer only), row ``sample_index`` is reshaped
            to the first layer's input shape ``(C, H, W)`` and the feature
            maps of the first layer are drawn beneath the filters. They are
            recomputed here in NumPy with the weights, padding, stride and
            activation of the first layer of the fitted network, rebuilt
            from ``_layer_specs_`` as ``predict`` runs it. A network without
            ``_layer_specs_`` is read from ``coefs_[0]``, ``intercepts_[0]``,
            its ``input_shape_`` (or ``input_shape``) and its first
            ``padding``, ``stride`` and ``activation`` (``'same'``, 1 and
            ``'relu'`` when it has none). ``X`` must be preprocessed as the
            estimator saw it.

        layer : int, default=0
            Index into ``coefs_`` of the convolution layer.

        in_channel : int, default=0
            Which input channel of each filter to draw.

        sample_index : int, default=0
            Row of ``X`` whose feature maps are drawn.

        ncols, figure, name
            See :meth:`plot`.

        Returns
        -------
        display : FilterDisplay
        """
        est = _final_estimator(estimator)
        coefs = getattr(est, "coefs_", None)
        if coefs is None:
            raise NotFittedError(
                f"This {type(est).__name__} instance is not fitted yet. Call "
                "'fit' before plotting its filters.")
        weights = np.asarray(coefs[layer])
        if weights.ndim != 4:
            raise ValueError(
                f"coefs_[{layer}] of {type(est).__name__} has shape {weights.shape}; "
                "FilterDisplay needs a convolution layer "
                "(out_channels, in_channels, kernel_h, kernel_w).")
        maps = image = None
        if X is not None:
            if layer != 0:
                raise ValueError("feature maps are drawn for the first layer only "
                                 "(layer=0).")
            maps, image = cls._feature_maps(est, X, weights, sample_index)
            if image.shape[0] > in_channel:
                image = image[in_channel]
        disp = cls(filters=weights[:, in_channel], feature_maps=maps, image=image,
                   estimator_name=_name(est, None))
        return disp.plot(ncols=ncols, figure=figure, name=name)

    @staticmethod
    def _feature_maps(est, X, weights, sample_index):
        row = np.asarray(X[sample_index : sample_index + 1], dtype=np.float64)
        conv = _first_conv(est, weights, row.size)
        if getattr(est, "_data_format_", "channels_first") == "channels_last":
            # rows are C-order over (H, W, C): the channels-first image
            c, h, w = conv.in_shape
            image = np.ascontiguousarray(row.reshape(h, w, c).transpose(2, 0, 1))
        else:
            image = row.reshape(conv.in_shape)
        return _conv_maps(image, conv), image
