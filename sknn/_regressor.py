"""Regression on the engine: targets, losses and the R² validation score.

:class:`NeuralRegressorMixin` holds what a neural-network regressor adds to
:class:`sknn._base.BaseNeuralNetwork` (as :mod:`sknn._classifier` does for
classifiers): ``X``/``y`` validation (``X`` goes through the estimator's
``_prepare_X`` and ``_x_validation``, so image estimators take 3-D/4-D ``X``),
single- and multi-output targets, the loss code, its parameter
(``huber_delta``, ``quantile``) and output link, and
``fit`` / ``partial_fit`` / ``predict``.  ``score`` (R²) comes from
scikit-learn's ``RegressorMixin``.
"""

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d, validate_data

from ._kernels.losses import ABSOLUTE, HUBER, POISSON, QUANTILE, SQUARED

# loss name -> (loss code, output activation, needs non-negative y), the
# losses of MLPRegressorX.
REGRESSION_LOSSES = {
    "squared_error": (SQUARED, "identity", False),
    "poisson": (POISSON, "exp", True),
    "absolute_error": (ABSOLUTE, "identity", False),
    "huber": (HUBER, "identity", False),
    "quantile": (QUANTILE, "identity", False),
}


class NeuralRegressorMixin:
    """Regressor behaviour shared by sknn's regressors (not public)."""

    def _validate_fit_data(self, X, y, incremental, reset):
        X, y = validate_data(
            self, self._prepare_X(X), y, multi_output=True, y_numeric=True,
            dtype=(np.float64, np.float32), reset=reset, **self._x_validation,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if REGRESSION_LOSSES[self.loss][2] and np.any(y < 0):
            raise ValueError(f"loss={self.loss!r} requires non-negative y.")
        return X, y

    def _encode_targets(self, X, y, fit=True):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return np.ascontiguousarray(Y, dtype=X.dtype)

    def _validate_val_data(self, X_val, y_val):
        return self._validate_fit_data(X_val, y_val, False, reset=False)

    def _loss_code(self):
        return REGRESSION_LOSSES[self.loss][0]

    def _loss_param(self):
        """The Huber threshold or the quantile, for the losses that have one."""
        if self.loss == "huber":
            return float(self.huber_delta)
        if self.loss == "quantile":
            return float(self.quantile)
        return 0.0

    def _publish_common(self, specs, n_outputs, first_pass):
        super()._publish_common(specs, n_outputs, first_pass)
        self.out_activation_ = REGRESSION_LOSSES[self.loss][1]

    def _score_outputs(self, outputs, y, sample_weight):
        if outputs.shape[1] == 1:
            outputs = outputs.ravel()
        if (sample_weight is None and isinstance(y, np.ndarray) and y.dtype.kind == "f"
                and y.dtype == outputs.dtype and y.shape == outputs.shape
                and y.shape[0] >= 2):
            return _r2(y, outputs)
        from sklearn.metrics import r2_score  # lazily: see _base._split_validation

        return r2_score(y, outputs, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data. float32 input trains in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.
        X_val, y_val : array-like, default=None
            A validation set. When given, validation scores (R²) and losses
            are recorded each epoch, and ``early_stopping=True`` uses it
            instead of holding out ``validation_fraction`` of ``X``.

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
        X : array-like of shape (n_samples, n_features)
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
        """Predict the target(s) of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        self._check_fitted()
        y_pred = self._outputs(X)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred


def _r2(y, pred):
    """``r2_score(y, pred)`` (unweighted, outputs averaged uniformly) for
    float arrays of one dtype and shape with at least two rows: the same
    NumPy expressions, without its input checks, which take about a
    millisecond on every early-stopping epoch."""
    y = y.reshape(y.shape[0], -1)
    pred = pred.reshape(pred.shape[0], -1)
    numerator = np.sum(1.0 * (y - pred) ** 2, axis=0)
    denominator = np.sum(1.0 * (y - np.average(y, axis=0)) ** 2, axis=0)
    scores = np.ones(y.shape[1], dtype=numerator.dtype)
    valid = (denominator != 0) & (numerator != 0)
    scores[valid] = 1 - numerator[valid] / denominator[valid]
    scores[(numerator != 0) & (denominator == 0)] = 0.0
    return float(np.average(scores))
