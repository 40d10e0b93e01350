"""``AutoEncoderTransformer``: a learned non-linear replacement for PCA.

The estimator is a thin subclass of :class:`~sknn._base.BaseNeuralNetwork`:
it says which layers to build (encoder, code, mirrored decoder, optional
input noise, dropout and code-sparsity layers from :mod:`sknn._ae_layers`)
and that the targets are ``X`` itself; training runs in the shared engine.

``transform`` runs only the encoder and ``inverse_transform`` only the decoder,
each as a plain stack of :class:`~sknn._layers.Dense` layers bound to the
published ``coefs_`` / ``intercepts_`` (a tied decoder layer is a dense layer
whose weights are the encoder's transposed), in chunks of bounded memory.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _ae_layers  # noqa: F401  (registers the autoencoder layers)
from ._base import (
    ACTIVATIONS,
    BaseNeuralNetwork,
    check_activation,
    check_rate,
    hidden_sizes,
    per_layer,
)
from ._docstrings import ENGINE_PARAMS, FITTED_ATTRS, TRAINING_PARAMS
from ._engine import TrainData
from ._kernels.losses import BINARY_CE, SQUARED

_LOSS_FOR_OUTPUT = {"identity": "squared_error", "logistic": "binary_crossentropy"}
_CHUNK = 4096


def _canonical_csr(X):
    """CSR with int64 indices, sorted and without duplicates (a new object)."""
    X = sp.csr_matrix(X)
    X = sp.csr_matrix(
        (X.data.copy(), X.indices.astype(np.int64), X.indptr.astype(np.int64)),
        shape=X.shape,
    )
    X.sum_duplicates()
    X.indices = X.indices.astype(np.int64, copy=False)
    X.indptr = X.indptr.astype(np.int64, copy=False)
    return X


def _row_errors(out, X, R):
    """``out[i] = mean_j (X_ij - R_ij)**2`` (in float64) for dense or CSR ``X``,
    in chunks of rows so that memory stays bounded."""
    for start in range(0, X.shape[0], _CHUNK):
        stop = min(start + _CHUNK, X.shape[0])
        x = X[start:stop]
        x = x.toarray() if sp.issparse(x) else x
        d = np.subtract(x, R[start:stop], dtype=np.float64)
        np.mean(np.square(d, out=d), axis=1, out=out[start:stop])
    return out


class AutoEncoderTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                             BaseNeuralNetwork):
    """Autoencoder on Numba kernels: a learned, non-linear PCA.

    The network is trained to reproduce its input through a narrow middle
    ("code") layer of ``n_components`` units; ``transform`` returns the code,
    ``inverse_transform`` maps codes back to the input space. It trains on the
    same engine, layers, losses and optimizers as
    :class:`~sknn.MLPClassifierX` and takes the same training parameters.

    Architecture: input -> ``hidden_layer_sizes`` -> code (``n_components``)
    -> ``hidden_layer_sizes`` reversed -> output (``n_features_in_``).

    Parameters
    ----------
    n_components : int, default=2
        Size of the code layer (the number of output features of
        ``transform``).

    hidden_layer_sizes : array-like of shape (n_hidden,), default=(100,)
        Sizes of the encoder's hidden layers before the code layer; the decoder
        uses them in reverse order. ``()`` gives a single code layer.

    activation : str or list of str, default='relu'
        Hidden-layer activation: ``'identity'``, ``'logistic'``, ``'tanh'``,
        ``'relu'``, ``'leaky_relu'``, ``'elu'``, ``'softplus'``, ``'gelu'`` or
        ``'silu'``; one name, or one per entry of ``hidden_layer_sizes`` (the
        decoder mirrors them).

    code_activation : str, default='identity'
        Activation of the code layer (same choices as ``activation``).

    out_activation : {'identity', 'logistic'}, default='identity'
        Output activation. ``'logistic'`` suits data scaled to [0, 1] and
        goes with ``loss='binary_crossentropy'``.

    loss : {'squared_error', 'binary_crossentropy'}, default='squared_error'
        Reconstruction loss: half the mean squared error over features with
        ``out_activation='identity'``, or the binary cross-entropy summed over
        features with ``out_activation='logistic'`` (``X`` must lie in
        [0, 1]). Other combinations raise a ``ValueError``.

    tied_weights : bool, default=False
        When True the decoder has no weight matrices of its own: each decoder
        layer uses the transpose of the mirrored encoder layer's weights (and
        its own bias). Halves the weights and often regularises.

    noise : float, default=0.0
        Denoising: corruption applied to the input during training only (the
        target stays the clean input). The standard deviation of additive
        Gaussian noise, or the probability of zeroing each input for
        ``noise_type='mask'`` (then in [0, 1)). Reproducible with
        ``random_state``. Like ``dropout``, it applies with the stochastic
        solvers; ``'lbfgs'`` minimises the noise-free objective.

    noise_type : {'gaussian', 'mask'}, default='gaussian'
        Kind of input corruption used when ``noise > 0``.

    code_l1 : float, default=0.0
        Sparsity penalty ``code_l1 * sum_j |code_j|`` per sample, weighted like
        the reconstruction loss and included in ``loss_`` / ``loss_curve_``.

    {engine_params}

    dropout : float or list of float, default=0.0
        Inverted-dropout rate on the output of each hidden layer during
        training only (one value, or one per entry of ``hidden_layer_sizes``;
        the decoder mirrors them), in [0, 1). The code layer is not dropped.

    n_jobs : int or None, default=None
        Threads used by the kernels and by BLAS during this estimator's calls
        (``None``: all cores, capped by ``OMP_NUM_THREADS`` when set; negative
        values count back from all cores). Set per call and restored after.

    {training_params}

    Attributes
    ----------
    {fitted_attrs}

    See Also
    --------
    sklearn.decomposition.PCA : The linear counterpart.
    MLPRegressorX : ``fit(X, X)`` with it trains a comparable (untied,
        noise-free) autoencoder but offers no ``transform``.

    Notes
    -----
    ``coefs_`` and ``intercepts_`` list the layers in network order. Without
    tied weights ``coefs_`` has ``2 * (len(hidden_layer_sizes) + 1)`` matrices:
    the encoder's (the last of them maps to the code) then the decoder's.
    With ``tied_weights=True`` it holds only the encoder's
    ``len(hidden_layer_sizes) + 1`` matrices; the decoder's layer ``k`` uses
    ``coefs_[-1 - k].T``. ``intercepts_`` always has one bias per layer,
    encoder then decoder.

    ``score`` and ``score_samples`` use the mean squared error over features
    for every loss, so that configurations with different losses can be
    compared (for example by :class:`~sklearn.model_selection.GridSearchCV`);
    with ``early_stopping=True`` the validation score is the same quantity on
    the held-out data.

    With ``loss='squared_error'`` the training loss is, as in
    :class:`~sklearn.neural_network.MLPRegressor`, half the squared error
    averaged over features: for data in [0, 1] it is small, and the default
    ``tol=1e-4`` may end training after a few dozen epochs. Lower ``tol`` (or
    use the cross-entropy loss, summed over features) to train longer.

    Examples
    --------
    Data scaled to [0, 1] suits a logistic output with the binary
    cross-entropy loss; a 2-D code then reconstructs digits better than PCA:

    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.preprocessing import MinMaxScaler
    >>> from sknn import AutoEncoderTransformer
    >>> X = MinMaxScaler().fit_transform(load_digits().data)
    >>> ae = AutoEncoderTransformer(n_components=2, hidden_layer_sizes=(64,),
    ...                             out_activation="logistic",
    ...                             loss="binary_crossentropy", random_state=0)
    >>> Z = ae.fit_transform(X)
    >>> Z.shape
    (1797, 2)
    >>> X_rec = ae.inverse_transform(Z)
    >>> X_rec.shape
    (1797, 64)
    >>> pca = PCA(n_components=2).fit(X)
    >>> pca_error = ((X - pca.inverse_transform(pca.transform(X))) ** 2).mean()
    >>> bool(-ae.score(X) < pca_error)
    True
    >>> ae.get_feature_names_out()
    array(['autoencodertransformer0', 'autoencodertransformer1'], dtype=object)
    """

    _parameter_constraints: dict = {
        **BaseNeuralNetwork._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(ACTIVATIONS), "array-like"],
        "code_activation": [StrOptions(ACTIVATIONS)],
        "out_activation": [StrOptions({"identity", "logistic"})],
        "loss": [StrOptions({"squared_error", "binary_crossentropy"})],
        "tied_weights": ["boolean"],
        "noise": [Interval(Real, 0, None, closed="left")],
        "noise_type": [StrOptions({"gaussian", "mask"})],
        "code_l1": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
    }

    # A fitted autoencoder's encoder can start an MLP's hidden layers.
    _transfer_family = "autoencoder"

    def __init__(
        self,
        n_components=2,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        code_activation="identity",
        out_activation="identity",
        loss="squared_error",
        tied_weights=False,
        noise=0.0,
        noise_type="gaussian",
        code_l1=0.0,
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
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.code_activation = code_activation
        self.out_activation = out_activation
        self.loss = loss
        self.tied_weights = tied_weights
        self.noise = noise
        self.noise_type = noise_type
        self.code_l1 = code_l1
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

    # -- hooks ------------------------------------------------------------
    def _check_hyperparameters(self):
        sizes = hidden_sizes(self.hidden_layer_sizes)
        self._hidden = sizes
        self._activations = per_layer(self.activation, len(sizes), "activation",
                                      check_activation)
        self._dropouts = per_layer(self.dropout, len(sizes), "dropout", check_rate)
        err = check_activation(self.code_activation)
        if err:
            raise ValueError(f"Invalid code_activation: {err}")
        if _LOSS_FOR_OUTPUT.get(self.out_activation) != self.loss:
            raise ValueError(
                f"loss={self.loss!r} does not go with out_activation="
                f"{self.out_activation!r}: use loss='squared_error' with "
                "out_activation='identity', or loss='binary_crossentropy' with "
                "out_activation='logistic'."
            )
        if self.noise_type == "mask" and self.noise >= 1:
            raise ValueError(
                f"noise={self.noise!r} must be in [0, 1) with noise_type='mask' "
                "(it is the probability of zeroing an input)."
            )

    def _layer_specs(self, n_features, n_outputs):
        k = int(self.n_components)
        specs = []
        if self.noise > 0:
            specs.append(("noise", {"shape": (n_features,), "level": float(self.noise),
                                    "kind": self.noise_type}))
        encoder = []  # spec index of each encoder dense layer
        n_in = n_features
        for size, act, rate in zip(self._hidden, self._activations, self._dropouts):
            encoder.append(len(specs))
            specs.append(("dense", {"n_in": n_in, "n_out": size, "activation": act}))
            if rate > 0:
                specs.append(("dropout", {"shape": (size,), "rate": float(rate)}))
            n_in = size
        encoder.append(len(specs))
        specs.append(("dense", {"n_in": n_in, "n_out": k,
                                "activation": self.code_activation}))
        if self.code_l1 > 0:
            specs.append(("activity_l1", {"shape": (k,), "l1": float(self.code_l1)}))
        sizes = self._hidden[::-1] + [n_outputs]
        acts = self._activations[::-1] + ["identity"]
        rates = self._dropouts[::-1] + [0.0]
        n_in = k
        for j, (size, act, rate) in enumerate(zip(sizes, acts, rates)):
            kw = {"n_in": n_in, "n_out": size, "activation": act}
            if j == len(sizes) - 1:  # output layer: the loss applies the link
                kw["init_activation"] = self.out_activation
            if self.tied_weights:
                specs.append(("tied_dense", {**kw, "tied_to": encoder[-1 - j]}))
            else:
                specs.append(("dense", kw))
            if rate > 0:
                specs.append(("dropout", {"shape": (size,), "rate": float(rate)}))
            n_in = size
        return specs

    def _loss_code(self):
        return BINARY_CE if self.loss == "binary_crossentropy" else SQUARED

    def _needs_rng(self):
        return self.noise > 0 or any(r > 0 for r in self._dropouts)

    def _check_X(self, X, reset):
        """Validated ``X``: C-contiguous writeable array or canonical int64 CSR."""
        if reset:
            X = validate_data(self, X, dtype=(np.float64, np.float32), reset=True,
                              **self._x_validation)
        else:
            X = self._validated_input(X)  # see BaseNeuralNetwork
        if sp.issparse(X):
            return _canonical_csr(X)
        X = np.ascontiguousarray(X)
        if not X.flags.writeable:
            X = X.copy()
        return X

    def _validate_fit_data(self, X, y, incremental, reset):
        X = self._check_X(X, reset)
        if self.loss == "binary_crossentropy":
            values = X.data if sp.issparse(X) else X
            if values.size and (values.min() < 0 or values.max() > 1):
                raise ValueError(
                    "loss='binary_crossentropy' needs X in [0, 1]; scale it "
                    "(e.g. with MinMaxScaler) or use loss='squared_error'."
                )
        # The targets are X itself (no copy); sparse targets are densified
        # one batch at a time by the engine.
        return X, X

    def _validate_val_data(self, X_val, y_val):
        X_val, _ = self._validate_fit_data(X_val, None, False, reset=False)
        return X_val, X_val

    def _encode_targets(self, X, y, fit=True):
        return y

    def _scorer_target(self, val):
        return None  # a transformer's scorer gets (estimator, X, None)

    def _score_outputs(self, outputs, y, sample_weight):
        errors = _row_errors(np.empty(outputs.shape[0]), y,
                             np.ascontiguousarray(outputs))
        return -np.average(errors, weights=sample_weight)

    def _publish_common(self, specs, n_outputs, first_pass):
        super()._publish_common(specs, n_outputs, first_pass)
        self.n_layers_ = sum(name in ("dense", "tied_dense") for name, _ in specs) + 1
        self.out_activation_ = self.out_activation

    def _subset(self, data, idx):
        # One copy of the selected rows serves as inputs, targets and the
        # validation scorer's reference (the base class would copy each).
        X = data.X[idx]
        X = _canonical_csr(X) if data.sparse else np.ascontiguousarray(X)
        sub = TrainData(X, X, np.ascontiguousarray(data.sw[idx]))
        sub.y_raw = X
        sub.user_sw = data.user_sw
        return sub

    @property
    def _n_features_out(self):
        """Code size of the fitted model (AttributeError when unfitted)."""
        stack = self._stack()
        return stack[len(stack) // 2 - 1][1].shape[1]

    # -- inference networks -----------------------------------------------
    def _stack(self):
        """``[(activation, W, b)]`` for every dense layer, tied ones made plain.

        The encoder is the first half (the last of it is the code layer), the
        decoder the second half.
        """
        specs = self._layer_specs_
        coefs, intercepts = self.coefs_, self.intercepts_
        stack, weight_of = [], {}
        ci = ii = 0
        for idx, (name, kw) in enumerate(specs):
            if name == "dense":
                w = coefs[ci]
                ci += 1
                weight_of[idx] = w
            elif name == "tied_dense":
                w = weight_of[kw["tied_to"]].T
            else:
                continue
            stack.append((kw["activation"], w, intercepts[ii]))
            ii += 1
        return stack

    def _halves(self):
        """``(specs, loss code, coefs, intercepts)`` of the encoder-only and the
        decoder-only inference networks (tied weights made plain)."""
        stack = self._stack()
        half = len(stack) // 2
        out_code = BINARY_CE if self.out_activation_ == "logistic" else SQUARED
        return [
            ([("dense", {"n_in": w.shape[0], "n_out": w.shape[1], "activation": act})
              for act, w, _ in part], code,
             [w for _, w, _ in part], [b for _, _, b in part])
            for part, code in ((stack[:half], SQUARED), (stack[half:], out_code))
        ]

    def _run_encoder(self, X, halves, chunk=_CHUNK):
        return self._infer("encoder", X, *halves[0], chunk=chunk)

    def _run_decoder(self, Z, halves, chunk=_CHUNK):
        return self._infer("decoder", Z, *halves[1], chunk=chunk)

    # -- public API ---------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None, X_val=None):
        """Train the autoencoder to reconstruct ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (also the target). float32 input trains in float32.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            A validation set. When given, the validation score (negative mean
            reconstruction error) and loss are recorded each epoch, and
            ``early_stopping=True`` uses it instead of holding out
            ``validation_fraction`` of ``X``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, None, sample_weight=sample_weight, incremental=False,
                         X_val=X_val, y_val=X_val)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with a single epoch over ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, None, sample_weight=sample_weight, incremental=True)

    def transform(self, X):
        """Encode ``X``: the activations of the code layer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            The codes, in the dtype of ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        return self._run_encoder(self._check_X(X, reset=False), self._halves())

    def inverse_transform(self, X):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            The reconstructions, in the dtype of the codes.
        """
        check_is_fitted(self)
        n_code = self._n_features_out
        if self._plain_input(X, n_code):  # what check_array would accept as is
            Z = np.ascontiguousarray(X)
        else:
            Z = check_array(X, dtype=(np.float64, np.float32), order="C")
        if Z.shape[1] != n_code:
            raise ValueError(
                f"X has {Z.shape[1]} features, but {type(self).__name__} "
                f"inverse_transform is expecting {n_code} features (the code size)."
            )
        if not Z.flags.writeable:
            Z = Z.copy()
        return self._run_decoder(Z, self._halves())

    def score_samples(self, X):
        """Negative reconstruction error of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-mean_j (X_ij - X_rec_ij) ** 2`` with
            ``X_rec = inverse_transform(transform(X))`` (float64). Low values
            flag samples unlike the training data (anomalies).
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        halves = self._halves()
        n = X.shape[0]
        errors = np.empty(n)
        for start in range(0, n, _CHUNK):
            part = X[start:start + _CHUNK]
            rec = self._run_decoder(self._run_encoder(part, halves), halves)
            _row_errors(errors[start:start + part.shape[0]], part, rec)
        return -errors

    def score(self, X, y=None, sample_weight=None):
        """Negative mean reconstruction error (higher is better).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the per-sample errors.

        Returns
        -------
        score : float
            The (weighted) mean of :meth:`score_samples`.
        """
        return float(np.average(self.score_samples(X), weights=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


AutoEncoderTransformer.__doc__ = AutoEncoderTransformer.__doc__.replace(
    "{engine_params}", ENGINE_PARAMS).replace(
    "{training_params}", TRAINING_PARAMS).replace("{fitted_attrs}", FITTED_ATTRS)

