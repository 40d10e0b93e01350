"""Classification on the engine: target encoding, class weights, probabilities.

:class:`NeuralClassifierMixin` holds everything a neural-network classifier
adds to :class:`sknn._base.BaseNeuralNetwork` (label binarisation exactly as
scikit-learn's ``MLPClassifier`` does it, ``class_weight``, the stratified
validation split, ``predict_proba`` and friends, ``partial_fit(classes=)``).
``MLPClassifierX`` and ``ConvClassifier`` differ only in the network they
build.
"""

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import column_or_1d, validate_data

from ._kernels.losses import BINARY_CE, SOFTMAX_CE

# predict_proba's bounds [eps, 1 - eps] per dtype (looked up: a one-row
# predict is a few tens of microseconds).
_PROBA_BOUNDS = {np.dtype(t): (np.finfo(t).eps, 1 - np.finfo(t).eps)
                 for t in (np.float32, np.float64)}


def _new_label_binarizer():
    # imported on first fit: sklearn.preprocessing is part of the ~50 ms of
    # imports that ``import sknn`` defers (see _base._split_validation)
    from sklearn.preprocessing import LabelBinarizer

    return LabelBinarizer()


class NeuralClassifierMixin:
    """Classifier behaviour shared by every sknn classifier (not public)."""

    def _validate_fit_data(self, X, y, incremental, reset):
        X, y = validate_data(
            self, self._prepare_X(X), y, multi_output=True,
            dtype=(np.float64, np.float32), reset=reset, **self._x_validation,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = _new_label_binarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        return X, y

    def _encode_targets(self, X, y, fit=True):
        if not fit:
            unknown = np.setdiff1d(unique_labels(y), self.classes_)
            if len(unknown):
                raise ValueError(
                    f"y_val has classes not seen in training: {unknown}."
                )
        Y = self._label_binarizer.transform(y)
        return np.ascontiguousarray(Y, dtype=X.dtype)

    def _validate_val_data(self, X_val, y_val):
        X_val, y_val = validate_data(
            self, self._prepare_X(X_val), y_val, multi_output=True,
            dtype=(np.float64, np.float32), reset=False, **self._x_validation,
        )
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        return X_val, y_val

    def _loss_code(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return SOFTMAX_CE
        return BINARY_CE

    def _publish_common(self, specs, n_outputs, first_pass):
        super()._publish_common(specs, n_outputs, first_pass)
        self.out_activation_ = (
            "softmax" if self._loss_code() == SOFTMAX_CE else "logistic"
        )

    def _stratify(self, y):
        if y.ndim != 1:
            return None
        if self._label_binarizer.y_type_ == "binary":
            # The encoded column, as scikit-learn stratifies: the same split
            # (and the same error for a class too small to split).
            return self._label_binarizer.transform(y).astype(bool)
        return y

    def _too_few(self, y):
        if y is None or y.ndim != 1:
            return ""
        labels, counts = np.unique(y, return_counts=True)
        few = labels[counts < 2]
        return f"; in y, the classes with too few members are {few.tolist()}" if len(
            few) else ""

    def _extra_sample_weight(self, y, incremental):
        if self.class_weight is None:
            return None
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: the "
                "class frequencies of the whole data set are unknown. Pass a "
                "dict computed with sklearn.utils.class_weight."
                "compute_class_weight instead."
            )
        return compute_sample_weight(self.class_weight, y)

    def _decode(self, outputs):
        if outputs.shape[1] == 1:
            outputs = outputs.ravel()
        return self._label_binarizer.inverse_transform(outputs)

    def _score_outputs(self, outputs, y, sample_weight):
        pred = self._decode(outputs)
        if (isinstance(y, np.ndarray) and y.ndim == 1 and y.shape == pred.shape
                and (y.dtype == pred.dtype
                     or (y.dtype.kind in "OU" and pred.dtype.kind in "OU"))):
            # accuracy_score's own arithmetic for one column of labels (the
            # average of the matches; string labels compare element by
            # element whether stored as objects or as NumPy strings), without
            # its input checks: those take about a millisecond, as long as a
            # digits epoch, on every early-stopping epoch
            return float(np.average(y == pred, weights=sample_weight))
        from sklearn.metrics import accuracy_score  # lazily: see _base._split_validation

        return accuracy_score(y, pred, sample_weight=sample_weight)

    # -- public API -----------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. float32 input trains in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, or a label-indicator matrix for multilabel problems.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.
        X_val, y_val : array-like, default=None
            A validation set. When given, validation scores and losses are
            recorded each epoch, and ``early_stopping=True`` uses it instead
            of holding out ``validation_fraction`` of ``X``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                         X_val=X_val, y_val=y_val)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        classes : array of shape (n_classes,), default=None
            All classes across calls; required on the first call.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = _new_label_binarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict class labels for ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        self._check_fitted()
        return self._decode(self._outputs(X))

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``, clipped to
            ``[eps, 1 - eps]`` (``eps`` of the dtype), as the training loss
            clips them.
        """
        self._check_fitted()
        y_pred = self._outputs(X)
        if len(self.classes_) == 1:  # one class seen in training: certain
            return np.ones((y_pred.shape[0], 1), dtype=y_pred.dtype)
        # Strictly inside (0, 1), as the training loss clips them: saturated
        # outputs would give log-probabilities of -inf.
        lo, hi = _PROBA_BOUNDS[y_pred.dtype]
        np.maximum(np.minimum(y_pred, hi, out=y_pred), lo, out=y_pred)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            Log-probabilities in the order of ``classes_``.
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
