"""``MLPClassifierX`` and ``MLPRegressorX``: drop-in supersets of scikit-learn's MLP."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

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
from ._kernels.losses import POISSON, SQUARED


class _MLPMixin:
    """Layer specs and hyperparameter checks shared by both MLPs."""

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
}


class MLPClassifierX(NeuralClassifierMixin, ClassifierMixin, _MLPMixin,
                     BaseNeuralNetwork):
    """Multi-layer perceptron classifier on Numba kernels.

    A drop-in superset of :class:`sklearn.neural_network.MLPClassifier`: the
    same parameters (order, defaults, meaning), fitted attributes, methods,
    warnings and errors, plus per-layer activations, dropout, ``class_weight``,
    ``n_jobs`` and a user-supplied validation set.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.

    activation : str or list of str, default='relu'
        Hidden-layer activation: ``'identity'``, ``'logistic'``, ``'tanh'``,
        ``'relu'``, ``'leaky_relu'`` (slope 0.01) or ``'elu'``; one name, or
        one per hidden layer.

    {engine_params}

    {extra_params}

    class_weight : dict, 'balanced' or None, default=None
        Weights associated with classes, multiplied into ``sample_weight`` as
        scikit-learn's linear models do. ``'balanced'`` uses
        ``n_samples / (n_classes * np.bincount(y))`` (not available in
        ``partial_fit``).

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
    >>> clf.fit(X[:1500], y[:1500]).score(X[1500:], y[1500:]) > 0.9
    True
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



class MLPRegressorX(RegressorMixin, _MLPMixin, BaseNeuralNetwork):
    """Multi-layer perceptron regressor on Numba kernels.

    A drop-in superset of :class:`sklearn.neural_network.MLPRegressor`, with
    per-layer activations, dropout, ``n_jobs`` and a user-supplied validation
    set.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        Half squared error with an identity output, or half Poisson deviance
        with an exponential output (targets must be non-negative).

    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.

    activation : str or list of str, default='relu'
        Hidden-layer activation: ``'identity'``, ``'logistic'``, ``'tanh'``,
        ``'relu'``, ``'leaky_relu'`` or ``'elu'``; one or one per hidden layer.

    {engine_params}

    {extra_params}

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
        "loss": [StrOptions({"squared_error", "poisson"})],
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

    def _validate_fit_data(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            y_numeric=True, dtype=(np.float64, np.float32), reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' requires non-negative y.")
        return X, y

    def _encode_targets(self, X, y, fit=True):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return np.ascontiguousarray(Y, dtype=X.dtype)

    def _validate_val_data(self, X_val, y_val):
        return self._validate_fit_data(X_val, y_val, False, reset=False)

    def _loss_code(self):
        return POISSON if self.loss == "poisson" else SQUARED

    def _publish_common(self, specs, n_outputs, first_pass):
        super()._publish_common(specs, n_outputs, first_pass)
        self.out_activation_ = "exp" if self.loss == "poisson" else "identity"

    def _score_outputs(self, outputs, y, sample_weight):
        if outputs.shape[1] == 1:
            outputs = outputs.ravel()
        from sklearn.metrics import r2_score  # lazily: see _base._split_validation

        return r2_score(y, outputs, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. float32 input trains in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.
        X_val, y_val : array-like, default=None
            A validation set (see :meth:`MLPClassifierX.fit`).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                         X_val=X_val, y_val=y_val)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict using the multi-layer perceptron.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        check_is_fitted(self)
        y_pred = self._outputs(X)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred


MLPClassifierX.__doc__ = fill(MLPClassifierX.__doc__)
MLPRegressorX.__doc__ = fill(MLPRegressorX.__doc__)
