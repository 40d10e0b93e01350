"""``MLPClassifierX`` and ``MLPRegressorX``: drop-in supersets of scikit-learn's MLP."""

from numbers import Integral, Real

from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions

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
from ._docstrings import TRANSFORM_NOTE, fill
from ._features import HiddenFeaturesMixin
from ._regressor import REGRESSION_LOSSES, NeuralRegressorMixin


class _MLPMixin:
    """Layer specs and hyperparameter checks shared by both MLPs."""

    _transfer_family = "mlp"

    def _check_hyperparameters(self):
        sizes = hidden_sizes(self.hidden_layer_sizes)
        self._hidden = sizes
        self._activations = per_layer(self.activation, len(sizes), "activation",
                                      check_activation)
        self._dropouts = per_layer(self.dropout, len(sizes), "dropout", check_rate)

    def _layer_specs(self, n_features, n_outputs):
        specs = []
        n_in = n_features
        for size, act, rate in zip(self._hidden, self._activations, self._dropouts):
            specs.append(("dense", {"n_in": n_in, "n_out": size, "activation": act}))
            if rate > 0:
                specs.append(("dropout", {"shape": (size,), "rate": float(rate)}))
            n_in = size
        # Like scikit-learn, the output layer's initial scale follows the
        # hidden activation (the last one when they differ per layer).
        init_act = self._activations[-1] if self._activations else (
            self.activation if isinstance(self.activation, str) else "relu")
        specs.append(("dense", {"n_in": n_in, "n_out": n_outputs,
                                "activation": "identity",
                                "init_activation": init_act}))
        return specs

    def _needs_rng(self):
        return any(r > 0 for r in self._dropouts)


_MLP_CONSTRAINTS = {
    **BaseNeuralNetwork._parameter_constraints,
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(ACTIVATIONS), "array-like"],
    "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
    **TRANSFER_CONSTRAINTS,
}


class MLPClassifierX(NeuralClassifierMixin, ClassifierMixin, HiddenFeaturesMixin,
                     _MLPMixin, BaseNeuralNetwork):
    """Multi-layer perceptron classifier on Numba kernels.

    A drop-in superset of :class:`sklearn.neural_network.MLPClassifier`: the
    same parameters (order, defaults, meaning), fitted attributes, methods,
    warnings and errors, plus per-layer activations, dropout, ``class_weight``,
    ``n_jobs``, a user-supplied validation set, pretraining and fine-tuning
    (``init`` with a fitted autoencoder or network, ``frozen_layers``) and
    hidden features (``transform``).

    {transform_note}

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.

    activation : str or list of str, default='relu'
        Hidden-layer activation: ``'identity'``, ``'logistic'``, ``'tanh'``,
        ``'relu'``, ``'leaky_relu'`` (slope 0.01), ``'elu'``, ``'softplus'``
        (``log(1 + exp(z))``), ``'gelu'`` (``z * Phi(z)``, the exact form) or
        ``'silu'`` (``z * sigmoid(z)``); one name, or one per hidden layer.

    {engine_params}

    {extra_params}

    class_weight : dict, 'balanced' or None, default=None
        Weights associated with classes, multiplied into ``sample_weight`` as
        scikit-learn's linear models do. ``'balanced'`` uses
        ``n_samples / (n_classes * np.bincount(y))`` (not available in
        ``partial_fit``).

    {training_params}

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels.

    {fitted_attrs}

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The estimator this one extends.
    MLPRegressorX : The regression counterpart.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sknn import MLPClassifierX
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(),
    ...                     MLPClassifierX(hidden_layer_sizes=(64,), dropout=0.1,
    ...                                    max_iter=30, random_state=0))
    >>> clf.fit(X[:1500], y[:1500]).score(X[1500:], y[1500:]) > 0.85
    True

    Pretraining: the encoder of an autoencoder fitted without labels starts
    the hidden layer; ``transform`` returns the hidden features.

    >>> from sknn import AutoEncoderTransformer
    >>> X = X / 16
    >>> ae = AutoEncoderTransformer(n_components=32, hidden_layer_sizes=(),
    ...                             code_activation="relu", max_iter=20,
    ...                             random_state=0).fit(X)
    >>> clf = MLPClassifierX(hidden_layer_sizes=(32,), init=ae, max_iter=100,
    ...                      random_state=0).fit(X[:1500], y[:1500])
    >>> clf.score(X[1500:], y[1500:]) > 0.85
    True
    >>> clf.transform(X[1500:]).shape
    (297, 32)
    """

    _parameter_constraints: dict = {
        **_MLP_CONSTRAINTS,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
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
        lr_schedule=None,
        scoring=None,
        callbacks=None,
        init="glorot_uniform",
        frozen_layers=0,
    ):
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
        self.lr_schedule = lr_schedule
        self.scoring = scoring
        self.callbacks = callbacks
        self.init = init
        self.frozen_layers = frozen_layers



class MLPRegressorX(NeuralRegressorMixin, RegressorMixin, HiddenFeaturesMixin, _MLPMixin,
                    BaseNeuralNetwork):
    """Multi-layer perceptron regressor on Numba kernels.

    A drop-in superset of :class:`sklearn.neural_network.MLPRegressor`, with
    per-layer activations, dropout, ``n_jobs``, a user-supplied validation
    set, pretraining and fine-tuning (``init`` with a fitted autoencoder or
    network, ``frozen_layers``) and hidden features (``transform``).

    {transform_note}

    Parameters
    ----------
    loss : {'squared_error', 'poisson', 'absolute_error', 'huber', \
'quantile'}, default='squared_error'
        ``'squared_error'``: half the squared error with an identity output;
        ``'poisson'``: half the Poisson deviance with an exponential output
        (targets must be non-negative). The robust losses keep the identity
        output and average over outputs: ``'absolute_error'`` (``|y - p|``,
        predicts the conditional median), ``'huber'`` (squared below
        ``huber_delta``, absolute above it) and ``'quantile'`` (the pinball
        loss, predicts the ``quantile`` of ``y``).

    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.

    activation : str or list of str, default='relu'
        Hidden-layer activation: ``'identity'``, ``'logistic'``, ``'tanh'``,
        ``'relu'``, ``'leaky_relu'``, ``'elu'``, ``'softplus'``, ``'gelu'`` or
        ``'silu'`` (see :class:`MLPClassifierX`); one or one per hidden layer.

    {engine_params}

    {extra_params}

    {training_params}

    huber_delta : float, default=1.0
        Threshold of ``loss='huber'`` between its squared and absolute parts,
        in units of ``y``.

    quantile : float, default=0.5
        The quantile ``loss='quantile'`` predicts, in (0, 1).

    Attributes
    ----------
    {fitted_attrs}

    See Also
    --------
    sklearn.neural_network.MLPRegressor : The estimator this one extends.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sknn import MLPRegressorX
    >>> X, y = make_regression(n_samples=300, n_features=5, random_state=0)
    >>> reg = MLPRegressorX(hidden_layer_sizes=(32,), solver="lbfgs",
    ...                     max_iter=500, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **_MLP_CONSTRAINTS,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
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
        n_jobs=None,
        lr_schedule=None,
        scoring=None,
        callbacks=None,
        init="glorot_uniform",
        frozen_layers=0,
        huber_delta=1.0,
        quantile=0.5,
    ):
        self.loss = loss
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
        self.n_jobs = n_jobs
        self.lr_schedule = lr_schedule
        self.scoring = scoring
        self.callbacks = callbacks
        self.init = init
        self.frozen_layers = frozen_layers
        self.huber_delta = huber_delta
        self.quantile = quantile


MLPClassifierX.__doc__ = fill(MLPClassifierX.__doc__.replace(
    "{transform_note}", TRANSFORM_NOTE.replace("{prefix}", "mlpclassifierx")))
MLPRegressorX.__doc__ = fill(MLPRegressorX.__doc__.replace(
    "{transform_note}", TRANSFORM_NOTE.replace("{prefix}", "mlpregressorx")))
