"""Docstring fragments shared by every estimator built on the engine."""

ENGINE_PARAMS = """\
solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The solver for weight optimization. ``'lbfgs'`` is SciPy's L-BFGS-B fed
        by the network's full-batch loss and gradient kernels; ``'sgd'`` is
        stochastic gradient descent with (Nesterov) momentum; ``'adam'`` is
        Kingma and Ba's stochastic optimizer.

    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights (not the biases), divided by
        the sum of sample weights, as in scikit-learn.

    batch_size : int or 'auto', default='auto'
        Size of minibatches for the stochastic solvers; ``'auto'`` means
        ``min(200, n_samples)``. Ignored by ``'lbfgs'``.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning-rate schedule for ``solver='sgd'``: constant
        ``learning_rate_init``; ``invscaling`` divides it by ``t ** power_t``;
        ``adaptive`` divides it by 5 each time ``n_iter_no_change`` epochs
        fail to improve by ``tol``. ``lr_schedule`` gives schedules to both
        stochastic solvers.

    learning_rate_init : float, default=0.001
        Initial step size (``'sgd'`` and ``'adam'``).

    power_t : float, default=0.5
        Exponent of the inverse-scaling schedule.

    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations (L-BFGS).
        A stochastic fit whose loss becomes non-finite or grows without bound
        stops early with a ``ConvergenceWarning`` naming the parameter to
        change, keeping its best weights (those it started from when no
        epoch improved); it raises a ``ValueError`` when the loss overflowed
        before any epoch improved.

    shuffle : bool, default=True
        Whether to shuffle samples before each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, the validation split, shuffling and
        dropout/noise masks. The same value gives bit-identical weights for
        any ``n_jobs``.

    tol : float, default=1e-4
        Tolerance for the stopping rule (see ``n_iter_no_change``).

    verbose : bool or int, default=False
        ``1`` prints one line per epoch: epoch, training loss, validation
        score and loss when present, learning rate and elapsed time.
        ``2`` adds a live progress bar over batches when ``tqdm`` is installed.

    warm_start : bool, default=False
        Reuse the previous solution as initialisation of the next ``fit``.

    momentum : float, default=0.9
        Momentum of ``'sgd'``, in [0, 1].

    nesterovs_momentum : bool, default=True
        Whether ``'sgd'`` uses Nesterov's momentum.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (or use
        ``X_val``/``y_val`` given to ``fit``), stop when the validation score
        has not improved by ``tol`` for ``n_iter_no_change`` epochs, and
        restore the best weights. The score is the estimator's own, or the
        one ``scoring`` names.

    validation_fraction : float, default=0.1
        Fraction of training data held out for early stopping.

    beta_1 : float, default=0.9
        Adam's decay rate of the first-moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Adam's decay rate of the second-moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Adam's numerical-stability constant.

    n_iter_no_change : int or np.inf, default=10
        Epochs without ``tol`` improvement before stopping.

    max_fun : int, default=15000
        Maximum number of loss evaluations for ``'lbfgs'``."""

EXTRA_PARAMS = """\
dropout : float or list of float, default=0.0
        Inverted-dropout rate applied to the output of each hidden layer during
        training only (one value, or one per hidden layer), in [0, 1).
        Prediction is deterministic.

    n_jobs : int or None, default=None
        Threads used by the kernels and by BLAS during this estimator's calls
        (``None``: all cores, capped by ``OMP_NUM_THREADS`` when set; negative
        values count back from all cores). Set per call and restored after."""

CONTROL_PARAMS = """\
lr_schedule : {'cosine', 'plateau'}, callable or None, default=None
        Learning-rate schedule for the stochastic solvers (``'sgd'`` and
        ``'adam'``; Adam's bias correction applies on top). ``None`` keeps
        scikit-learn's behaviour (``learning_rate`` governs ``'sgd'``, Adam's
        rate is constant). ``'cosine'`` anneals ``learning_rate_init`` to 0
        over ``max_iter`` epochs: ``lr_init * (1 + cos(pi * e / max_iter)) / 2``
        after ``e`` epochs. ``'plateau'`` divides the rate by 5 each time
        ``n_iter_no_change`` epochs fail to improve by ``tol`` (stopping once
        it falls below 1e-6), scikit-learn's ``'adaptive'`` rule for any
        stochastic solver. A callable ``f(epoch) -> float`` is called before
        each epoch with the number of epochs already run in this fit (a run of
        ``partial_fit`` calls counts as one fit) and returns that epoch's rate
        (0 allowed; a negative or non-finite rate raises a ``ValueError``).
        With ``solver='sgd'`` it requires ``learning_rate='constant'``.

    scoring : str, callable or None, default=None
        Validation metric recorded in ``validation_scores_`` /
        ``best_validation_score_`` and watched by early stopping (with
        ``early_stopping=True`` or ``fit(..., X_val=, y_val=)``), as in
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`. ``None``:
        the estimator's ``score`` (accuracy, R², ...); ``'loss'``: minus the
        validation loss; a scorer name of
        :func:`sklearn.metrics.get_scorer_names` (``'neg_log_loss'``,
        ``'balanced_accuracy'``, ``'f1_macro'``, ...); or a callable
        ``scorer(estimator, X, y)`` (given ``sample_weight=`` too when ``fit``
        got sample weights). Scorers see a stand-in of the estimator with the
        current weights.

    callbacks : list of callable or None, default=None
        Functions ``cb(estimator, record)`` called after each epoch (each
        L-BFGS iteration for ``solver='lbfgs'``) with a stand-in of the
        estimator holding the current weights and that epoch's record (see
        ``history_``). A truthy return stops training after that epoch (under
        early stopping the best weights are restored, as when the patience
        runs out). An exception raised by a callback propagates and leaves
        the estimator as it was before ``fit``."""

INIT_PARAM = """\
init : {'glorot_uniform', 'glorot_normal', 'he_uniform', 'he_normal'}, \
default='glorot_uniform'
        Initial weight distribution. ``'glorot_uniform'`` draws exactly as
        scikit-learn (bound ``sqrt(6 / (fan_in + fan_out))``, ``sqrt(2 / ...)``
        for logistic units; biases likewise), so the same ``random_state``
        gives scikit-learn's weights. ``'glorot_normal'``: N(0, 2 / (fan_in +
        fan_out)); ``'he_uniform'``: U(+-sqrt(6 / fan_in)); ``'he_normal'``:
        N(0, 2 / fan_in), suited to ReLU-like units; biases start at 0. To
        start from given weights instead, assign ``coefs_`` and
        ``intercepts_`` (of the shapes the architecture needs) and call
        ``partial_fit``, or ``fit`` with ``warm_start=True``."""

TRAINING_PARAMS = CONTROL_PARAMS + "\n\n    " + INIT_PARAM

# ``init`` of the supervised dense networks: a scheme, or a fitted network.
MLP_INIT_PARAM = """\
init : {'glorot_uniform', 'glorot_normal', 'he_uniform', 'he_normal'} or \
fitted estimator, default='glorot_uniform'
        Initial weights. A scheme name draws them: ``'glorot_uniform'``
        draws exactly as scikit-learn (bound ``sqrt(6 / (fan_in +
        fan_out))``, ``sqrt(2 / ...)`` for logistic units; biases likewise),
        so the same ``random_state`` gives scikit-learn's weights;
        ``'glorot_normal'``: N(0, 2 / (fan_in + fan_out)); ``'he_uniform'``:
        U(+-sqrt(6 / fan_in)); ``'he_normal'``: N(0, 2 / fan_in), suited to
        ReLU-like units; biases start at 0.

        A fitted estimator starts the first layers with a copy of its weights
        (the other layers draw ``'glorot_uniform'`` weights):

        - a fitted :class:`~sknn.AutoEncoderTransformer` (pretraining): its
          encoder, the dense layers of widths ``hidden_layer_sizes`` then
          ``n_components``, starts the first hidden layers, which must have
          exactly these widths (``hidden_layer_sizes`` starts with them) on
          the same number of input features;
        - a fitted :class:`~sknn.MLPClassifierX` or
          :class:`~sknn.MLPRegressorX` (fine-tuning, transfer): its hidden
          layers start the first hidden layers, which must have their
          shapes; its output layer is copied too when it is an estimator of
          this class with the same outputs (and classes).

        The activations are this estimator's own. Shapes that do not match
        raise a ``ValueError`` naming them. ``init`` applies to fits that
        start from scratch, not to ``warm_start`` or ``partial_fit``
        continuing a fit (to start from given arrays, assign ``coefs_`` and
        ``intercepts_`` and call ``partial_fit``). ``clone`` keeps a fitted
        ``init`` fitted (a copy), so the estimator works in grid searches
        and cross-validation; ``init__<param>`` names its parameters."""

FROZEN_PARAM = """\
frozen_layers : int, default=0
        Number of leading weight layers (``coefs_[:frozen_layers]`` and
        ``intercepts_[:frozen_layers]``) that training leaves unchanged:
        they keep their initial values (usually from a fitted ``init``), the
        optimizer never updates them (nor their Adam moments or SGD
        velocity) and L2 does not shrink them (their constant L2 term still
        counts in ``loss_``). With ``'lbfgs'`` they are bound to their
        values. Must be less than the number of weight layers: the output
        layer always trains."""

# The supervised networks: training control, ``init`` with fitted
# estimators, ``frozen_layers``.
SUPERVISED_TRAINING_PARAMS = (CONTROL_PARAMS + "\n\n    " + MLP_INIT_PARAM
                              + "\n\n    " + FROZEN_PARAM)

TRANSFORM_NOTE = """\
``transform`` returns the hidden features: the activations of the last
    hidden layer, the input of the output layer (dropout is off, as in
    ``predict``), so a fitted network is also a feature-extraction step of
    a :class:`~sklearn.pipeline.Pipeline` (as
    :class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis` is
    both a classifier and a transformer); ``get_feature_names_out`` names
    them after the class (``{prefix}0``, ``{prefix}1``, ...) and
    ``set_output(transform='pandas')`` returns data frames."""

FITTED_ATTRS = """\
loss_ : float
        The objective (mean loss plus L2 term) after the last epoch.

    best_loss_ : float or None
        The best training loss seen (``None`` with early stopping).

    loss_curve_ : list of float
        Training loss at the end of each epoch (stochastic solvers).

    validation_scores_ : list of float or None
        Validation score at the end of each epoch, when validation data exists.

    best_validation_score_ : float or None
        The best validation score seen.

    validation_loss_curve_ : list of float or None
        Validation objective at the end of each epoch, when validation data
        exists.

    history_ : list of dict
        One record per epoch of the last ``fit`` (continued by
        ``partial_fit`` and ``warm_start``), so ``pandas.DataFrame(history_)``
        is the training log: ``epoch`` (epochs run so far), ``loss``,
        ``validation_score`` and ``validation_loss`` (None without
        validation data), ``learning_rate`` (the epoch's rate; Adam's before
        bias correction) and ``time`` (seconds since the fit began). With
        ``solver='lbfgs'`` one record per iteration of the last fit, without
        validation or learning rate.

    t_ : int
        Number of training samples seen by the solver.

    coefs_ : list of ndarray
        Weight arrays in network order.

    intercepts_ : list of ndarray
        Bias vectors in network order.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit`` (only when ``X`` has string
        column names).

    n_iter_ : int
        Number of epochs (or L-BFGS iterations) run by the last call.

    n_layers_ : int
        Number of layers, counting input and output.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation."""


def fill(doc):
    """Insert the shared fragments into a class docstring (the supervised
    networks' ``{training_params}``)."""
    return doc.replace("{engine_params}", ENGINE_PARAMS).replace(
        "{extra_params}", EXTRA_PARAMS
    ).replace("{training_params}", SUPERVISED_TRAINING_PARAMS).replace(
        "{fitted_attrs}", FITTED_ATTRS)
