"""The shared estimator base: one ``fit`` / ``partial_fit`` template.

Subclasses say *which* network to build (``_layer_specs``) and how targets are
encoded and scored; this class does everything else: parameter checks,
validation of ``X``/``y``/``sample_weight``, resolving ``random_state``,
building the network, the validation split, calling the engine, and publishing
the fitted attributes.

Fits are transactional: training works on a packed copy of the parameters and
a copy of the optimizer state, and fitted attributes are published only when
training ends normally (or is interrupted by the user).  A fit that diverges
raises ``ValueError`` and leaves the estimator exactly as it was: unfitted, or
with its previous weights.  While training runs, a validation scorer and
the end-of-epoch callbacks see a *stand-in* of the estimator (same class and
attributes, current weights), never the estimator itself.
"""

import copy
import threading
import weakref
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._engine import History, TrainConfig, TrainData, fit_lbfgs, fit_stochastic
from ._kernels.activations import ACTIVATION_CODES
from ._layers import INIT_SCHEMES, LAYERS
from ._network import Network
from ._optim import make_optimizer
from ._runtime import kernel_threads, row_bounds, threshold
from ._transfer import leading_layers

STOCHASTIC_SOLVERS = ("sgd", "adam")

# Per-thread prediction networks, keyed weakly by estimator.
_PREDICT_CACHE = threading.local()

# Parameters every estimator on the engine shares (scikit-learn's MLP set).
ENGINE_CONSTRAINTS = {
    "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [
        Interval(Integral, 1, None, closed="left"),
        Options(Real, {np.inf}),
    ],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    # 0 means nothing (as in joblib): positive counts, negative count back.
    "n_jobs": [
        None,
        Interval(Integral, None, -1, closed="right"),
        Interval(Integral, 1, None, closed="left"),
    ],
    # Training control (sknn's own): names are checked in _check_training_control,
    # which imports sklearn.metrics only when a scorer name is given.
    "lr_schedule": [None, StrOptions({"cosine", "plateau"}), callable],
    "scoring": [None, str, callable],
    "callbacks": [None, list, tuple],
    "init": [StrOptions(set(INIT_SCHEMES))],
}

ACTIVATIONS = set(ACTIVATION_CODES)


def per_layer(value, n_layers, name, check, layers="hidden layers"):
    """Expand a scalar-or-list hyperparameter to one value per layer.

    Raises a ``ValueError`` naming ``name`` when a list has the wrong length
    or an element fails ``check`` (a callable returning an error text or None).
    ``layers`` names what the list must match, for the message.
    """
    if isinstance(value, str) or np.isscalar(value):
        values = [value] * n_layers
    else:
        values = list(value)
        if len(values) != n_layers:
            raise ValueError(
                f"{name} has {len(values)} entries but the network has {n_layers} "
                f"{layers}; give one value or one per layer."
            )
    for v in values:
        err = check(v)
        if err:
            raise ValueError(f"Invalid value in {name}: {err}")
    return values


def check_activation(v):
    if not isinstance(v, str) or v not in ACTIVATIONS:
        return f"{v!r} is not one of {sorted(ACTIVATIONS)}."
    return None


def check_rate(v):
    if isinstance(v, bool) or not isinstance(v, Real) or not (0.0 <= v < 1.0):
        return f"{v!r} must be a float in [0, 1)."
    return None


def hidden_sizes(value, name="hidden_layer_sizes"):
    """``hidden_layer_sizes`` as a list of positive ints (ValueError otherwise)."""
    sizes = [value] if not hasattr(value, "__iter__") else list(value)
    out = []
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (Integral, np.integer)) or s <= 0:
            raise ValueError(f"{name} must be > 0, got {sizes}.")
        out.append(int(s))
    return out


def build_network(specs, loss_code, loss_param=0.0):
    """A :class:`Network` from plain ``(layer_name, kwargs)`` specs."""
    return Network([LAYERS[name](**kwargs) for name, kwargs in specs], loss_code,
                   loss_param)


def _all_finite(X, plan):
    """True when the sum of every row chunk of ``X`` is finite (then every
    element is), on the plan's threads and without a temporary array; False
    may be an overflowing sum of finite values, which the caller checks
    element-wise."""
    n = X.shape[0]
    nc = plan.chunks(n, X.shape[1], threshold("parallel_min_elements"))
    ok = [True] * nc

    def rows(c, slot):
        r0, r1 = row_bounds(c, nc, n)
        ok[c] = bool(np.isfinite(np.sum(X[r0:r1])))

    plan.run(rows, nc)
    return all(ok)


_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
# Inputs up to this many elements skip validate_data when already plain
# (see ``_plain_input``); larger ones are dominated by the finite check,
# which validate_data does without a temporary array.
_PLAIN_MAX_SIZE = 1 << 16


class BaseNeuralNetwork(BaseEstimator):
    """Shared ``fit``/``partial_fit``/predict machinery (not public).

    Subclass hooks
    --------------
    _layer_specs(n_features, n_outputs) -> list of (name, kwargs)
    _loss_code() -> int
    _validate_fit_data(X, y, incremental, reset) -> X, y   (y may be None)
    _encode_targets(X, y) -> Y float array (n, n_outputs)
    _score_outputs(outputs, y_raw, sample_weight) -> float (validation score)
    _stratify(y_raw) -> array or None
    _extra_sample_weight(y_raw, incremental) -> array or None
    """

    _parameter_constraints: dict = dict(ENGINE_CONSTRAINTS)

    # Keyword arguments of ``validate_data`` for ``X`` (sparse: CSR/CSC).
    _x_validation = dict(accept_sparse=["csr", "csc"])

    # The scheme that draws the layers a fitted ``init`` does not start.
    _default_init = "glorot_uniform"
    # Which fitted estimators can start this one's layers (see _transfer).
    _transfer_family = None

    # -- hooks with defaults -----------------------------------------------
    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True

    def _prepare_X(self, X):
        """Hook run on raw ``X`` before validation (e.g. flatten images)."""
        return X

    def _stratify(self, y):
        return None

    def _extra_sample_weight(self, y, incremental):
        return None

    def _input_data(self, X):
        """Reshape validated 2-D ``X`` for the first layer (identity here)."""
        return X

    # -- the fit template ------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False, X_val=None, y_val=None):
        # Transactional: a fit that raises (bad input, divergence, an interrupt
        # outside the epoch loop) leaves every attribute as it was, including
        # ``n_features_in_`` / ``classes_`` that validation resets.  Attributes
        # are only ever replaced, never mutated in place, so a shallow copy of
        # ``__dict__`` is a complete snapshot.
        saved = dict(self.__dict__)
        try:
            return self._fit_transaction(X, y, sample_weight, incremental, X_val, y_val)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            if "coefs_" not in saved:
                # A failed *first* partial_fit leaves the estimator unfitted:
                # forget the classes its ``classes=`` argument recorded, so the
                # next call may pass them again (or different ones).
                self.__dict__.pop("classes_", None)
                self.__dict__.pop("_label_binarizer", None)
            raise

    def _check_training_set(self, n_samples, sample_weight, incremental, X_val):
        """Reject training sets no network can learn from (before any kernel).

        One sample, and (for classifiers) one class, are accepted as
        scikit-learn's MLPs accept them: a model fitted on one sample can be
        fine-tuned with ``partial_fit``, and a one-class classifier predicts
        that class.
        """
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            if not np.isfinite(sw).all() or (sw < 0).any():
                raise ValueError(
                    "sample_weight (times class_weight) must be finite and "
                    "non-negative."
                )
            with np.errstate(over="ignore"):
                total = sw.sum()
            if not total > 0 or not np.isfinite(total):
                raise ValueError(
                    "sample_weight (times class_weight) must have a positive, "
                    f"finite sum; got {total}."
                )
        if (self.early_stopping and not incremental and X_val is None
                and self.solver in STOCHASTIC_SOLVERS
                and self.validation_fraction == 0):
            raise ValueError(
                "early_stopping=True needs validation_fraction > 0 (or X_val and "
                "y_val); got validation_fraction=0."
            )

    def _check_training_control(self):
        """Checks of ``lr_schedule``, ``scoring`` and ``callbacks`` that the
        parameter constraints cannot express (before any kernel runs)."""
        if (self.lr_schedule is not None and self.solver == "sgd"
                and self.learning_rate != "constant"):
            raise ValueError(
                f"lr_schedule={self.lr_schedule!r} and learning_rate="
                f"{self.learning_rate!r} both set the learning rate of "
                "solver='sgd': keep learning_rate='constant' with an lr_schedule "
                "(lr_schedule='plateau' is learning_rate='adaptive' for any solver)."
            )
        scoring = self.scoring
        if isinstance(scoring, str) and scoring != "loss":
            from sklearn.metrics import get_scorer_names  # lazily: ~50 ms of imports

            if scoring not in get_scorer_names():
                raise ValueError(
                    f"scoring={scoring!r} is not a scorer name. Use None (the "
                    "estimator's score), 'loss' (minus the validation loss), a name "
                    "from sklearn.metrics.get_scorer_names() or a callable "
                    "scorer(estimator, X, y)."
                )
        for cb in self.callbacks or ():
            if not callable(cb):
                raise TypeError(
                    f"callbacks must be a list of callables cb(estimator, record); "
                    f"got an element {cb!r}."
                )

    def _continue_params(self, net, dtype):
        """The flat vector of the published (or user-assigned) ``coefs_`` /
        ``intercepts_``, which must have the shapes of ``net``."""
        want_c, want_i = net.param_array_shapes()
        coefs = list(getattr(self, "coefs_", None) or [])
        intercepts = list(getattr(self, "intercepts_", None) or [])
        got_c = [tuple(np.shape(c)) for c in coefs]
        got_i = [tuple(np.shape(b)) for b in intercepts]
        if got_c != want_c or got_i != want_i:
            raise ValueError(
                f"coefs_ / intercepts_ have shapes {got_c} / {got_i}, but the network "
                "architecture the current parameters build (hidden_layer_sizes, the "
                "layer parameters, the number of features and outputs) needs "
                f"{want_c} / {want_i}. warm_start and partial_fit continue from "
                "weights of that architecture; set warm_start=False to refit from "
                "scratch."
            )
        params = net.pack(coefs, intercepts, dtype)
        if not np.isfinite(params).all():
            raise ValueError("coefs_ / intercepts_ contain NaN or infinity; "
                             "training cannot continue from them.")
        return params

    def _loss_param(self):
        """The loss's parameter (Huber threshold, quantile), or 0.0."""
        return 0.0

    def _initial_params(self, net, dtype):
        """The flat vector a fit from scratch starts from: drawn with the
        ``init`` scheme, or, for a fitted ``init`` estimator, drawn with the
        default scheme and the leading layers replaced by copies of its
        weights (checked first: a mismatch raises before any kernel runs)."""
        init = self.init
        scheme = self._default_init if isinstance(init, BaseEstimator) else init
        params = np.empty(net.n_params, dtype=dtype)
        net.init_params(params, self._random_state, dtype, scheme)
        if isinstance(init, BaseEstimator):
            lead_c, lead_i = leading_layers(self, init, net.param_array_shapes())
            coefs, intercepts = net.unpack(params)
            coefs[:len(lead_c)] = lead_c
            intercepts[:len(lead_i)] = lead_i
            params = net.pack(coefs, intercepts, dtype)
            if not np.isfinite(params).all():
                raise ValueError(f"init={type(init).__name__}(...) has NaN or "
                                 "infinite weights.")
        return params

    def _check_frozen(self, net):
        """``frozen_layers`` must leave the output layer to train."""
        k = getattr(self, "frozen_layers", 0)
        n = len(net.param_array_shapes()[0])
        if k >= n:
            raise ValueError(
                f"frozen_layers={k} must be less than the number of weight layers "
                f"of this {type(self).__name__} ({n}, counting the output layer, "
                "which always trains)."
            )

    def _frozen_spans(self, net):
        """``(n_w, n_b)`` of the flat vector that training leaves unchanged."""
        k = getattr(self, "frozen_layers", 0)
        return net.leading_spans(k) if k else (0, 0)

    def _fit_transaction(self, X, y, sample_weight, incremental, X_val, y_val):
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        self._check_hyperparameters()
        self._check_training_control()
        # Weights assigned by hand to an estimator never fitted: record the
        # number of features (and names) of this first X as a fit would.
        reset = first_pass or not hasattr(self, "n_features_in_")
        X, y = self._validate_fit_data(X, y, incremental, reset=reset)
        n_samples = X.shape[0]
        user_sw = sample_weight is not None
        if user_sw:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        extra = self._extra_sample_weight(y, incremental)
        if extra is not None:
            sample_weight = extra if sample_weight is None else sample_weight * extra
            user_sw = True
        self._check_training_set(n_samples, sample_weight, incremental, X_val)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together.")

        Y = self._encode_targets(X, y)
        dtype = X.dtype
        self._random_state = check_random_state(self.random_state)
        n_outputs = Y.shape[1]
        specs = self._layer_specs(X.shape[1], n_outputs)
        net = build_network(specs, self._loss_code(), self._loss_param())
        val_net = build_network(specs, self._loss_code(), self._loss_param())
        self._check_frozen(net)

        if first_pass:
            params = self._initial_params(net, dtype)
        else:
            # Continue from the published weights, or from weights the user
            # assigned (scikit-learn's idiom): their shapes must fit.
            params = self._continue_params(net, dtype)

        sw = (
            np.ones(n_samples, dtype=dtype)
            if sample_weight is None
            else np.ascontiguousarray(sample_weight, dtype=dtype)
        )
        X = self._as_kernel_input(X)
        data = TrainData(X, Y, sw)
        data.y_raw = y
        data.user_sw = user_sw

        fitted = {}
        # Overflow in a diverging fit is detected and reported by the engine.
        with kernel_threads(self.n_jobs) as plan, np.errstate(all="ignore"):
            if self.solver in STOCHASTIC_SOLVERS:
                fitted = self._run_stochastic(
                    net, val_net, params, data, X_val, y_val, incremental, first_pass,
                    plan, specs, n_outputs,
                )
            else:
                records = []
                on_epoch = self._callback_runner(net, specs, n_outputs, first_pass,
                                                 records, dtype)
                new_params, loss, n_iter = fit_lbfgs(
                    net=net, params=params, data=data,
                    cfg=self._engine_cfg(n_samples, net),
                    plan=plan, records=records,
                    on_epoch=None if on_epoch is None else (
                        lambda record, theta: on_epoch(record, theta.astype(dtype))),
                )
                params = new_params
                fitted = {"loss_": loss, "n_iter_": n_iter, "history_": records}
                if first_pass:
                    fitted["t_"] = 0
        coefs, intercepts = net.unpack(fitted.pop("_params", params))
        # Publish: nothing above this line touched the estimator's fitted state.
        self._publish_common(specs, n_outputs, first_pass)
        self.coefs_ = coefs
        self.intercepts_ = intercepts
        for k, v in fitted.items():
            setattr(self, k, v)
        return self

    def _engine_cfg(self, n_samples, net):
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                import warnings

                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        return TrainConfig(
            alpha=float(self.alpha),
            batch_size=batch_size,
            shuffle=bool(self.shuffle),
            tol=float(self.tol),
            n_iter_no_change=self.n_iter_no_change,
            early_stopping=bool(self.early_stopping),
            max_iter=int(self.max_iter),
            verbose=self.verbose,
            learning_rate_init=float(self.learning_rate_init),
            max_fun=int(self.max_fun),
            lr_schedule=self.lr_schedule,
            metric=self._metric_name(),
            frozen=self._frozen_spans(net),
        )

    def _metric_name(self):
        """How verbose lines name the validation score."""
        scoring = self.scoring
        if scoring is None:
            return "score"
        if scoring == "loss":
            return "-loss"
        if isinstance(scoring, str):
            return scoring
        return getattr(scoring, "__name__", None) or type(scoring).__name__

    # -- stand-ins for scorers and callbacks --------------------------------
    def _stand_in(self, specs, n_outputs, first_pass, feature_names=True):
        """An estimator of this class with this one's attributes and
        parameters, fitted attributes published for ``specs``; training
        updates its ``coefs_`` / ``intercepts_``.  The estimator itself is
        never touched before the fit succeeds.

        Without ``feature_names`` it drops ``feature_names_in_``: the
        validation arrays a scorer gets are already validated NumPy arrays.
        """
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        if not feature_names:
            view.__dict__.pop("feature_names_in_", None)
        view._publish_common(specs, n_outputs, first_pass)
        return view

    def _score_function(self, net, specs, n_outputs, first_pass):
        """``score_fn(params, val, val_loss, predict)`` for the engine, from
        ``scoring``."""
        scoring = self.scoring
        if scoring is None:
            return lambda params, val, loss, predict: self._score_val(predict(), val)
        if scoring == "loss":
            return lambda params, val, loss, predict: -float(loss)
        if isinstance(scoring, str):
            from sklearn.metrics import get_scorer

            scorer = get_scorer(scoring)
        else:
            scorer = scoring
        view = self._stand_in(specs, n_outputs, first_pass, feature_names=False)

        def score(params, val, loss, predict):
            view.coefs_, view.intercepts_ = net.unpack(params)
            X = self._scorer_input(val)
            kwargs = {"sample_weight": val.sw} if val.user_sw else {}
            try:
                return float(scorer(view, X, self._scorer_target(val), **kwargs))
            except ValueError:
                # Overflowing outputs: scored nan, as by the default scorer.
                out = predict()
                if not np.isfinite(out).all():
                    return np.nan
                raise

        return score

    def _scorer_target(self, val):
        """The ``y`` a validation scorer gets."""
        return val.y_raw

    def _scorer_input(self, val):
        """The ``X`` a validation scorer gets: the kernel input as 2-D rows,
        laid out as the estimator reads ``X``."""
        return val.X if val.sparse else val.X.reshape(val.X.shape[0], -1)

    def _callback_runner(self, net, specs, n_outputs, first_pass, records, dtype):
        """``on_epoch(record, params) -> stop`` running ``callbacks`` on a
        stand-in with the current weights, or None without callbacks."""
        callbacks = list(self.callbacks or ())
        if not callbacks:
            return None
        view = self._stand_in(specs, n_outputs, first_pass)

        def on_epoch(record, params):
            view.coefs_, view.intercepts_ = net.unpack(params)
            view.history_ = list(records)
            stop = False
            for cb in callbacks:  # every callback sees every epoch
                if cb(view, dict(record)):
                    stop = True
            return stop

        return on_epoch

    def _run_stochastic(self, net, val_net, params, data, X_val, y_val, incremental,
                        first_pass, plan, specs, n_outputs):
        rs = self._random_state
        val = None
        if X_val is not None:
            val = self._user_validation_data(X_val, y_val)
        elif self.early_stopping:
            data, val = self._split_validation(data, rs)
        # Like scikit-learn: a new optimizer for every fit(); partial_fit
        # continues the previous optimizer state (moments, step count).
        if first_pass or not incremental or not hasattr(self, "_optimizer"):
            optimizer = make_optimizer(self.solver, net.n_params, params.dtype,
                                       self.get_params())
        else:
            optimizer = copy.deepcopy(self._optimizer)
        history = self._history(first_pass, val is not None)
        dropout_rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max)) if (
            self._needs_rng()
        ) else None
        cfg = self._engine_cfg(data.n, net)
        runner = self._callback_runner(net, specs, n_outputs, first_pass,
                                       history.records, params.dtype)
        best, interrupted = fit_stochastic(
            net=net, val_net=val_net, params=params, optimizer=optimizer, data=data,
            val=val, history=history, cfg=cfg, incremental=incremental,
            shuffle_rs=rs, dropout_rng=dropout_rng,
            score_fn=self._score_function(net, specs, n_outputs, first_pass),
            on_epoch=None if runner is None else (lambda record: runner(record, params)),
            plan=plan,
        )
        if best is not None:
            params = best
        return {
            "_params": params,
            "_optimizer": optimizer,
            "n_iter_": history.n_iter,
            "t_": history.t,
            "loss_": history.loss,
            "loss_curve_": history.loss_curve,
            "best_loss_": history.best_loss,
            "validation_scores_": history.validation_scores,
            "best_validation_score_": history.best_validation_score,
            "validation_loss_curve_": history.validation_loss_curve,
            "_no_improvement_count": history.no_improvement_count,
            "history_": history.records,
            "_reference_loss": history.reference_loss,
        }

    def _history(self, first_pass, has_val):
        h = History(self.early_stopping, has_val)
        if not first_pass:
            h.reference_loss = getattr(self, "_reference_loss", None)
        if not first_pass and hasattr(self, "loss_curve_"):
            # Continue the previous fit's curves, as scikit-learn does.
            h.t = getattr(self, "t_", 0)
            h.loss_curve = list(self.loss_curve_)
            h.records = list(getattr(self, "history_", None) or [])
            h.no_improvement_count = getattr(self, "_no_improvement_count", 0)
            best_loss = getattr(self, "best_loss_", None)
            if best_loss is not None and not self.early_stopping:
                h.best_loss = best_loss
            if getattr(self, "validation_scores_", None) is not None and has_val:
                h.validation_scores = list(self.validation_scores_)
                h.best_validation_score = self.best_validation_score_
            prev_vl = getattr(self, "validation_loss_curve_", None)
            if prev_vl is not None and has_val:
                h.validation_loss_curve = list(prev_vl)
        return h

    def _needs_rng(self):
        return False

    def _split_validation(self, data, rs):
        idx = np.arange(data.n)
        stratify = self._stratify(data.y_raw)
        try:
            # imported here: sklearn.model_selection (with sklearn.metrics)
            # is ~50 ms of ``import sknn`` that only early stopping needs
            from sklearn.model_selection import train_test_split

            train_idx, val_idx = train_test_split(
                idx, random_state=rs, test_size=self.validation_fraction,
                stratify=stratify,
            )
        except ValueError as exc:  # name the parameters the user set
            raise ValueError(
                f"early_stopping=True holds out validation_fraction="
                f"{self.validation_fraction} of the {data.n} samples, which "
                f"failed ({str(exc).rstrip('.')}{self._too_few(data.y_raw)}). "
                "Increase 'validation_fraction' or the size of your dataset, or "
                "pass X_val and y_val."
            ) from exc
        if val_idx.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        train = self._subset(data, train_idx)
        val = self._subset(data, val_idx)
        return train, val

    def _too_few(self, y):
        """For a failed stratified split: the labels of ``y`` (as the user
        gave them) with fewer than 2 samples, as a message suffix."""
        return ""

    def _subset(self, data, idx):
        sub = data.subset(idx)
        if not data.sparse:
            sub.X = np.ascontiguousarray(sub.X)
        else:
            sub.X = self._as_kernel_input(sub.X)
        sub.Y = (self._as_kernel_input(sub.Y) if sp.issparse(sub.Y)
                 else np.ascontiguousarray(sub.Y))
        sub.sw = np.ascontiguousarray(sub.sw)
        sub.y_raw = data.y_raw[idx] if data.y_raw is not None else None
        sub.user_sw = data.user_sw
        return sub

    def _user_validation_data(self, X_val, y_val):
        X_val, y_val = self._validate_val_data(X_val, y_val)
        Y = self._encode_targets(X_val, y_val, fit=False)
        val = TrainData(self._as_kernel_input(X_val), Y,
                        np.ones(X_val.shape[0], dtype=Y.dtype))
        val.y_raw = y_val
        val.user_sw = False
        return val

    def _score_val(self, outputs, val):
        if np.issubdtype(outputs.dtype, np.floating) and not np.isfinite(outputs).all():
            return np.nan
        sw = val.sw if val.user_sw else None
        return float(self._score_outputs(outputs, val.y_raw, sw))

    def _plain_input(self, X, n_features=None):
        """True when ``validate_data(reset=False)`` would return ``X`` unchanged
        and silently: a small, finite, non-empty 2-D float ndarray with the
        fitted number of features (or ``n_features``), and no feature names
        fitted.

        ``validate_data`` costs ~50 us per call (most of a one-row predict),
        mostly in looking for dataframe types; for inputs this check accepts
        it does nothing else.  Anything else, including every input that
        should warn or raise, goes through ``validate_data`` itself.
        """
        return (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in _FLOAT_DTYPES
            and 0 < X.shape[0]
            and X.size <= _PLAIN_MAX_SIZE
            and X.shape[1] == (getattr(self, "n_features_in_", -1) if n_features is None
                               else n_features)
            and not hasattr(self, "feature_names_in_")
            and bool(np.isfinite(X).all())
        )

    def _as_kernel_input(self, X):
        """C-contiguous dense arrays; CSR with sorted indices for sparse input."""
        if sp.issparse(X):
            # Never reorder the caller's matrix in place: sorted_indices()
            # returns a copy only when the indices are not sorted already.
            X = X.tocsr()
            return X if X.has_sorted_indices else X.sorted_indices()
        X = self._input_data(np.ascontiguousarray(X))
        if not X.flags.writeable:
            X = X.copy()
        return X

    def _publish_common(self, specs, n_outputs, first_pass):
        self._layer_specs_ = specs
        self.n_outputs_ = n_outputs
        self.n_layers_ = len([1 for name, _ in specs if name in ("dense",)]) + 1

    # -- prediction -------------------------------------------------------
    def _outputs(self, X, check_input=True):
        """Link-applied network outputs for ``X`` (validated unless told not).

        Callers (``predict``, ``predict_proba``) check that the estimator is
        fitted first.
        """
        check = None
        if check_input:
            X, check = self._validated_input(self._prepare_X(X), defer_finite=True)
        return self._infer("full", self._as_kernel_input(X), self._layer_specs_,
                           self._loss_code(), self.coefs_, self.intercepts_, check=check)

    def _validated_input(self, X, defer_finite=False):
        """``validate_data(self, X, reset=False)`` for every path that takes
        ``X`` after the first fit (predict, transform, ``partial_fit``), at
        its cheapest: a small plain array as it is (:meth:`_plain_input`); a
        large C-ordered float array with the finiteness check done on the
        plan's threads (the rest of ``validate_data`` is cheap there), and
        non-finite input through ``validate_data`` again, which raises its
        usual error.

        ``defer_finite=True`` returns ``(X, check)``: ``check`` is None, or,
        for such a large array, its finiteness check left to the prediction
        (:meth:`sknn._network.Network.predict`), where a dense first layer
        counts non-finite values in its products instead of another pass
        over ``X``."""
        if self._plain_input(X):
            return (X, None) if defer_finite else X
        kwargs = dict(dtype=(np.float64, np.float32), reset=False, **self._x_validation)
        if (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOAT_DTYPES
                and X.flags.c_contiguous and X.size > _PLAIN_MAX_SIZE
                and validate_data(self, X, ensure_all_finite=False, **kwargs) is X):
            if defer_finite:
                return X, self._deferred_finite_check(X, kwargs)
            with kernel_threads(self.n_jobs, blas=False) as plan:
                checked = X if _all_finite(X, plan) else validate_data(self, X, **kwargs)
        else:
            checked = validate_data(self, X, **kwargs)
        return (checked, None) if defer_finite else checked

    def _deferred_finite_check(self, X, kwargs):
        """The check of :meth:`_validated_input` left to the prediction:
        ``check(rows, plan, suspect)`` looks at ``rows`` of ``X`` itself
        when ``suspect`` is None; when they (or products of them) may hold
        a non-finite value it runs ``validate_data`` on all of ``X``, which
        raises its usual error, and returns False if that passes (finite
        values that overflowed): ``X`` needs no more checks then."""
        def check(rows, plan, suspect):
            if suspect is None:
                suspect = not _all_finite(rows, plan)
            if not suspect:
                return True
            validate_data(self, X, **kwargs)
            return False

        return check

    def _infer(self, name, X, specs, code, coefs, intercepts, chunk=None, check=None):
        """Link-applied outputs of network ``name`` (``specs``, loss ``code``)
        with weights ``coefs``/``intercepts`` cast to ``X``'s dtype.

        ``X`` is kernel input (see ``_as_kernel_input``).  Every prediction
        path (``predict``, an autoencoder's ``transform``...) comes here, so
        all share the cached network, the dtype cast and the small-input
        threading shortcut.  ``check`` is a finiteness check of ``X`` left
        to the prediction (:meth:`_validated_input`).
        """
        dtype = X.dtype
        net = self._inference_network(name, specs, code)
        coefs = [np.ascontiguousarray(c, dtype=dtype) for c in coefs]
        intercepts = [np.ascontiguousarray(b, dtype=dtype) for b in intercepts]
        net.bind_arrays(coefs, intercepts)
        # Tiny predictions (a few rows) never reach BLAS's threading
        # threshold, so they skip the cost of limiting it.
        widest = max((c.size for c in coefs), default=0)
        blas = X.shape[0] * widest >= threshold("blas_limit_min_macs")
        with kernel_threads(self.n_jobs, blas=blas, one_pass=True) as plan:
            return net.predict(X, plan, chunk=chunk, check=check)

    def _inference_network(self, name, specs, code):
        """This thread's prediction network ``name`` for ``specs`` and ``code``.

        Layers own scratch buffers, so each Python thread gets its own network
        (concurrent predicts never share buffers); within a thread it is
        reused across calls (rebuilt when ``specs`` or ``code`` change), which
        makes predicting a few rows cheap. The cache lives outside the
        estimator (a per-thread weak-keyed map), so predict leaves
        ``__dict__`` untouched and pickles never see it.
        """
        cache = getattr(_PREDICT_CACHE, "nets", None)
        if cache is None:
            cache = _PREDICT_CACHE.nets = weakref.WeakKeyDictionary()
        nets = cache.get(self)
        if nets is None:
            nets = cache[self] = {}
        entry = nets.get(name)
        if entry is None or entry[1] != code or (entry[0] is not specs
                                                 and entry[0] != specs):
            entry = nets[name] = (specs, code, build_network(specs, code))
        return entry[2]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def __sklearn_clone__(self):
        # scikit-learn's clone returns every estimator-valued parameter
        # unfitted; a fitted ``init`` is the weights to start from (data, as
        # a scheme name is), so the clone gets a copy of it, still fitted.
        new = super().__sklearn_clone__()
        init = getattr(self, "init", None)
        if isinstance(init, BaseEstimator) and hasattr(init, "coefs_"):
            new.init = copy.deepcopy(init)
        return new

    def __sklearn_is_fitted__(self):
        # Fitted means weights were published, not merely that validation set
        # ``n_features_in_`` or a first ``partial_fit(classes=)`` set ``classes_``.
        return hasattr(self, "coefs_")

    def _check_fitted(self):
        """``check_is_fitted(self)``, whose answer is :meth:`__sklearn_is_fitted__`,
        asked only when that says no (it costs microseconds on every call, a
        tenth of a one-row prediction)."""
        if not hasattr(self, "coefs_"):
            check_is_fitted(self)

    def __getstate__(self):
        state = super().__getstate__()
        # The RandomState used during the last fit is not fitted state.
        state.pop("_random_state", None)
        return state


# The supervised networks' parameters on top of ENGINE_CONSTRAINTS: ``init``
# may also be a fitted network (checked in fit by sknn._transfer), and the
# leading layers may be frozen.
TRANSFER_CONSTRAINTS = {
    "init": [StrOptions(set(INIT_SCHEMES)), BaseNeuralNetwork],
    "frozen_layers": [Interval(Integral, 0, None, closed="left")],
}
