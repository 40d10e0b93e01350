"""Hidden features: ``transform`` for the supervised networks.

A fitted classifier or regressor is also a transformer (as scikit-learn's
``LinearDiscriminantAnalysis`` is): ``transform`` returns the activations of
the last hidden layer, the input of the output layer.  They come from an
inference network built from the fitted layer specs up to (not including)
the output layer, with the identity link, run through the same
``_infer`` path as ``predict`` (per-thread cached network, chunks of bounded
memory, weights cast to ``X``'s dtype).  Training-only layers (dropout,
noise) are left out: they are the identity at inference.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._kernels.losses import SQUARED
from ._layers import LAYERS
from ._network import TRAINING_ONLY


class HiddenFeaturesMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """``transform``, ``fit_transform``, ``get_feature_names_out`` and
    ``set_output`` for a network whose last spec is its output layer (not
    public)."""

    def transform(self, X):
        """Hidden features: the activations of the last hidden layer.

        The input of the output layer, for feature extraction (for instance
        as a step of a :class:`~sklearn.pipeline.Pipeline`). Dropout is off,
        as in ``predict``. For a convolutional network without dense hidden
        layers they are the last block's feature maps (after pooling),
        flattened in C order of ``(channels, height, width)``. For a network
        without any hidden layer they are ``X`` itself, as a dense array.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data (images for the convolutional networks, as in
            ``predict``).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_hidden)
            The features, in the dtype of ``X`` (float32 or float64);
            ``n_hidden`` is the width of the last hidden layer.
        """
        check_is_fitted(self)
        X = self._validated_input(self._prepare_X(X))
        return self._hidden_features(self._as_kernel_input(X))

    def _feature_network(self):
        """``(specs, coefs, intercepts)`` of the layers before the output
        layer that act at inference."""
        specs = [(name, kw) for name, kw in self._layer_specs_[:-1]
                 if not issubclass(LAYERS[name], TRAINING_ONLY)]
        return specs, self.coefs_[:-1], self.intercepts_[:-1]

    def _hidden_features(self, X):
        """Hidden features of kernel input ``X`` as 2-D rows."""
        specs, coefs, intercepts = self._feature_network()
        n = X.shape[0]
        if not specs:  # no hidden layer: the output layer reads X itself
            X = X.toarray() if sp.issparse(X) else np.array(X)
            return X.reshape(n, -1)
        # SQUARED: the identity link (the last hidden activation is the
        # layer's own, applied by its forward pass).
        out = self._infer("features", X, specs, SQUARED, coefs, intercepts)
        return out.reshape(n, -1)

    @property
    def _n_features_out(self):
        """Width of the last hidden layer (AttributeError when unfitted)."""
        return self.coefs_[-1].shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
