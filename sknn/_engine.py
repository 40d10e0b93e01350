"""The training engine: the only epoch/batch loop in the package.

Every estimator (MLP, convolutional, autoencoder) hands the engine a network,
encoded targets and a few callables; the engine owns shuffling, batching into
preallocated buffers, the optimizer step, the learning-rate schedule hooks,
validation scoring, early stopping with best-weight restoration, divergence
detection, interruption, the per-epoch history records and the end-of-epoch
callbacks.  L-BFGS lives here too
(:func:`fit_lbfgs`), fed by the same forward/backward passes.

The loop mirrors scikit-learn's ``BaseMultilayerPerceptron._fit_stochastic``
step for step (same random draws for shuffling, same stopping rule), so with
the same ``random_state`` the results track scikit-learn's to rounding.
"""

import math
import time
import warnings
from dataclasses import dataclass
from numbers import Real

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ._kernels.gather import GATHER_REFS, gather_operands, gather_rows_f32, gather_rows_f64
from ._kernels.losses import (
    LOSS_REFS,
    apply_link,
    link_loss_grad,
    loss_operands,
    loss_rows_f32,
    loss_rows_f64,
)
from ._runtime import SERIAL, row_bounds, run_task, threshold


@dataclass(frozen=True)
class TrainConfig:
    """The engine's settings for one fit, resolved from the estimator's
    parameters (``batch_size`` already clipped to the data)."""

    alpha: float
    batch_size: int
    shuffle: bool
    tol: float
    n_iter_no_change: float
    early_stopping: bool
    max_iter: int
    verbose: int
    learning_rate_init: float
    max_fun: int
    # None, "cosine", "plateau" (the optimizer's adaptive rule) or a callable
    # ``epoch -> learning rate``; see :func:`epoch_rate`.
    lr_schedule: object = None
    # What the validation score is, for the verbose lines.
    metric: str = "score"
    # ``(n_w, n_b)``: the leading weight and bias entries of the flat vector
    # that training leaves unchanged (frozen layers; see
    # :meth:`~sknn._network.Network.leading_spans`).
    frozen: tuple = (0, 0)


class DivergenceError(ValueError):
    """Training diverged and left nothing usable (raised as a ``ValueError``)."""


# Training has diverged when an epoch's loss exceeds this many times the
# reference loss (the starting model's loss on the first batch of the first
# fit): no training run that is merely noisy gets that much worse than a
# network that knows nothing, while a run that blows up passes it within an
# epoch or two.
DIVERGENCE_RATIO = 1e4

DIVERGED_MSG = (
    "Solver produced non-finite parameter weights. The input data may contain "
    "large values and need to be preprocessed, or {advice}. The estimator's "
    "previous state (if any) was kept."
)

DIVERGED_WARNING = (
    "Training diverged at epoch {epoch} ({what}) and was stopped; {kept}. Either "
    "{advice}, or the input data need scaling (e.g. with StandardScaler)."
)


def lower_rate_advice(cfg, rate=None):
    """Which parameter to change when training diverged."""
    if callable(cfg.lr_schedule) or cfg.lr_schedule == "cosine":
        at = "" if rate is None else f" ({rate:.3g} in the last epoch)"
        return (f"the learning rate lr_schedule gives{at} is too large: lower it "
                f"(learning_rate_init={cfg.learning_rate_init})")
    return (f"learning_rate_init={cfg.learning_rate_init} is too large: lower it "
            "(or decay it with lr_schedule)")


MAX_ITER_MSG = (
    "Stochastic Optimizer: Maximum iterations ({max_iter}) reached and the "
    "optimization hasn't converged yet. Increase max_iter to train longer, or "
    "raise tol={tol:g} to stop once the {what} improves by less than tol for "
    "n_iter_no_change={n} consecutive epochs."
)

LBFGS_DIVERGED_MSG = (
    "Solver 'lbfgs' produced a non-finite loss or non-finite parameter weights. "
    "The input data (or sample weights) may contain large values and need to be "
    "preprocessed. The estimator's previous state (if any) was kept."
)


class TrainData:
    """Training arrays in the dtype and layout the kernels need.

    ``X`` is a C-contiguous dense array or a CSR matrix with sorted indices;
    ``Y`` the encoded targets ``(n, n_outputs)`` (dense; or, only when ``X`` is
    CSR, a CSR matrix that batches densify, for autoencoders whose targets
    are their sparse input); ``sw`` the per-sample weights (ones when the user
    gave none, which reproduces an unweighted mean).
    """

    def __init__(self, X, Y, sw):
        self.X = X
        self.Y = Y
        self.sw = sw
        self.sparse = not isinstance(X, np.ndarray)
        self.n = Y.shape[0]

    def subset(self, idx):
        return TrainData(self.X[idx], self.Y[idx], self.sw[idx])


class BatchBuffers:
    """Engine-owned batch buffers, allocated once per fit.

    :meth:`gather` copies a batch's rows into ``x`` / ``y`` / ``sw`` and
    returns views of them, valid until the next gather (CSR inputs are
    indexed instead, CSR targets densified).  The copies are ``take`` with
    ``mode="clip"`` (the indices are valid): the default ``mode="raise"``
    writes through a temporary and is slower than fancy indexing, which
    allocates a new array per batch.  When every sample weight is 1 (none
    given) ``sw`` is a view of ones and its sum the row count, the exact
    value summing the ones gives.
    """

    def __init__(self, data, batch_size, plan=SERIAL):
        dtype = data.Y.dtype
        self.plan = plan
        self.pending = None
        self.chains = {}  # a network's chain operands per batch size (Network._train_chain)
        self.delta = np.empty((batch_size, data.Y.shape[1]), dtype=dtype)
        self.loss_sums = np.empty(plan.split + 1)  # [param, chunk sums...]
        self.unit = bool(np.all(data.sw == 1))
        self.sw = (np.ones if self.unit else np.empty)(batch_size, dtype=data.sw.dtype)
        if not data.sparse:
            self.x = np.empty((batch_size,) + data.X.shape[1:], dtype=data.X.dtype)
        # An autoencoder's targets are its inputs: their batch is the
        # gathered input (no layer writes to its input).
        self.y_is_x = data.Y is data.X and not data.sparse
        if not sp.issparse(data.Y) and not self.y_is_x:
            self.y = np.empty((batch_size, data.Y.shape[1]), dtype=data.Y.dtype)

    def gather(self, data, idx, defer=False):
        """Copy rows ``idx`` into the buffers; return ``(x, y, sw, sw_sum)``.

        With ``defer``, the rows of dense float ``X`` and ``Y`` are not
        copied yet: :attr:`pending` holds ``(X, Y or None, idx)`` for the
        network, which copies them in its chain of tasks, each chunk's rows
        on the thread that then reads them (a thread writing rows the other
        one last read waits for them to leave its cache), or calls
        :meth:`fill` first."""
        n = idx.shape[0]
        self.pending = None
        sw = self.sw[:n]
        if self.unit:
            sw_sum = float(n)
        else:
            data.sw.take(idx, 0, sw, "clip")
            sw_sum = float(np.add.reduce(sw, dtype=np.float64))
        Y = data.Y
        if data.sparse:
            x = data.X[idx]
            if sp.issparse(Y):  # sparse targets: densified per batch
                return x, Y[idx].toarray(), sw, sw_sum
        else:
            x = self.x[:n]
            X = data.X
            if (defer and X.dtype in (np.float32, np.float64) and X.flags.c_contiguous
                    and idx.dtype == np.int64 and idx.flags.c_contiguous):
                deferred_y = (not self.y_is_x and isinstance(Y, np.ndarray)
                              and Y.dtype == X.dtype and Y.ndim == 2
                              and Y.flags.c_contiguous)
                self.pending = (X, Y if deferred_y else None, idx)
                if self.y_is_x:
                    return x, x, sw, sw_sum
                y = self.y[:n]
                if not deferred_y:
                    Y.take(idx, 0, y, "clip")
                return x, y, sw, sw_sum
            self._copy_rows(X, idx, x)
        if self.y_is_x:
            return x, x, sw, sw_sum
        y = self.y[:n]
        Y.take(idx, 0, y, "clip")
        return x, y, sw, sw_sum

    def fill(self):
        """Copy the rows :meth:`gather` left :attr:`pending` (if any)."""
        if self.pending is not None:
            X, Y, idx = self.pending
            self.pending = None
            n = idx.shape[0]
            self._copy_rows(X, idx, self.x[:n])
            if Y is not None:
                Y.take(idx, 0, self.y[:n], "clip")

    def _copy_rows(self, X, idx, x):
        n = idx.shape[0]
        row = X.size // max(X.shape[0], 1)
        nc = self.plan.chunks(n, row, threshold("gather_parallel_min_elements"))
        if (nc == 1 or X.dtype not in (np.float32, np.float64)
                or idx.dtype != np.int64 or not idx.flags.c_contiguous):
            X.take(idx, 0, x, "clip")
        else:  # a large batch: rows copied on several threads
            task = gather_rows_f32 if X.dtype == np.float32 else gather_rows_f64
            args = np.array(gather_operands(X, idx, x), dtype=np.int64)
            run_task(task, nc, self.plan.n_threads, args, GATHER_REFS)

    def loss_grad(self, z, y, sw, code, param=0.0, nc=None):
        """The fused link/loss kernel over the batch, in row chunks for wide
        outputs or in the output layer's ``nc`` chunks when given (chunk sums
        added in chunk order); ``param`` is the loss's parameter (Huber
        threshold, quantile).  The chunks run as a task
        (:data:`~sknn._kernels.losses.loss_rows_f64`) when the plan says so,
        otherwise one after the other with the same kernel."""
        n, m = z.shape
        delta = self.delta[:n]
        if nc is None:
            nc = self.plan.chunks(n, m, threshold("loss_split_min_elements"))
        if nc == 1:
            return link_loss_grad(delta, z, y, sw, code, param)
        sums = self.loss_sums
        task = loss_rows_f32 if z.dtype == np.float32 else loss_rows_f64
        if (self.plan.runs_task(task, n * m, self.plan.min_elements)
                and z.flags.c_contiguous and y.flags.c_contiguous
                and y.dtype == z.dtype and sw.dtype == z.dtype):
            sums[0] = param
            args = np.array(loss_operands(delta, z, y, sw, code, sums), dtype=np.int64)
            run_task(task, nc, self.plan.n_threads, args, LOSS_REFS)
        else:
            for c in range(nc):
                r0, r1 = row_bounds(c, nc, n)
                sums[c + 1] = link_loss_grad(delta[r0:r1], z[r0:r1], y[r0:r1],
                                             sw[r0:r1], code, param)
        total = 0.0
        for c in range(nc):
            total += sums[c + 1]
        return total


def batch_slices(n, batch_size):
    """Same batches as ``sklearn.utils.gen_batches(n, batch_size)``."""
    return [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


def dataset_loss(net, data, alpha, params, plan=SERIAL, chunk=2048):
    """Objective (weighted mean loss + L2 term) of ``net`` on ``data``.

    ``net`` must be an inference network bound to the current parameters.
    """
    total = 0.0
    n = data.n
    bufs = BatchBuffers(data, min(chunk, n), plan)
    net.allocate(min(chunk, n), data.Y.dtype, plan)
    all_idx = np.arange(n, dtype=np.int64)
    sw_sum = 0.0
    for start, stop in batch_slices(n, chunk):
        x, y, sw, s = bufs.gather(data, all_idx[start:stop])
        z = net.forward(x, training=False)
        total += bufs.loss_grad(z, y, sw, net.loss_code, net.loss_param)
        total += net.penalty(sw)
        sw_sum += s
    w = params[:net.n_weights]
    sq = float(np.dot(w, w))
    return (total + 0.5 * alpha * sq) / sw_sum


class EpochReporter:
    """Prints scikit-learn style progress lines when ``verbose`` is set.

    ``verbose=1`` prints one line per epoch (epoch, training loss, validation
    score and loss when present, learning rate, elapsed seconds); the score
    is named by ``metric`` (``'score'`` for the estimator's default, else the
    ``scoring`` in use).
    ``verbose>=2`` also shows a live progress bar over the batches of each
    epoch when tqdm is installed (``progress`` is then a :class:`BatchProgress`,
    otherwise None and only the epoch lines are printed).
    """

    def __init__(self, verbose, n_batches=None, metric="score"):
        self.verbose = verbose
        self.metric = metric
        self.start = time.perf_counter()
        self.progress = None
        if verbose and verbose >= 2 and n_batches:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.progress = BatchProgress(tqdm, n_batches)

    def epoch(self, it, loss, val_score, val_loss, lr):
        if not self.verbose:
            return
        if self.progress is not None:
            self.progress.close()
        msg = "Iteration %d, loss = %.8f" % (it, loss)
        if val_score is not None:
            msg += ", validation %s = %.6f" % (self.metric, val_score)
        if val_loss is not None:
            msg += ", validation loss = %.8f" % val_loss
        msg += ", lr = %.3g, elapsed = %.2fs" % (lr, time.perf_counter() - self.start)
        print(msg, flush=True)


class BatchProgress:
    """A tqdm bar over one epoch's batches, opened lazily, closed per epoch."""

    def __init__(self, tqdm, n_batches):
        self.tqdm = tqdm
        self.n_batches = n_batches
        self.epoch = 0
        self.bar = None

    def batch(self, loss):
        if self.bar is None:
            self.epoch += 1
            self.bar = self.tqdm(total=self.n_batches, desc="epoch %d" % self.epoch,
                                 unit="batch", leave=False, dynamic_ncols=True)
        self.bar.update(1)
        self.bar.set_postfix_str("loss = %.4g" % loss, refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class History:
    """Per-fit training history and stopping bookkeeping (plain Python).

    ``records`` holds one dict per epoch (see :func:`fit_stochastic`);
    ``reference_loss`` is the loss the divergence test compares with.
    """

    def __init__(self, early_stopping, has_val):
        self.n_iter = 0
        self.t = 0
        self.loss = None
        self.loss_curve = []
        self.no_improvement_count = 0
        self.validation_loss_curve = [] if has_val else None
        self.records = []
        self.reference_loss = None
        if early_stopping:
            self.validation_scores = []
            self.best_validation_score = -np.inf
            self.best_loss = None
        else:
            self.best_loss = np.inf
            self.validation_scores = [] if has_val else None
            self.best_validation_score = -np.inf if has_val else None


def epoch_rate(cfg, optimizer):
    """Set the learning rate of the coming epoch from ``cfg.lr_schedule``
    and return it.

    ``'cosine'`` anneals ``learning_rate_init`` to 0 over ``max_iter`` epochs
    (``lr_e = lr_0 (1 + cos(pi e / max_iter)) / 2`` after ``e`` epochs,
    0 from ``max_iter`` on); a callable gets the number of epochs already run
    (``optimizer.epochs``) and returns the rate.  ``None`` and ``'plateau'``
    leave the optimizer's own rate (its ``learning_rate`` rule, or the
    adaptive division at a plateau).
    """
    schedule = cfg.lr_schedule
    epoch = optimizer.epochs
    if schedule == "cosine":
        frac = min(epoch, cfg.max_iter) / cfg.max_iter
        optimizer.set_rate(cfg.learning_rate_init * 0.5 * (1.0 + math.cos(math.pi * frac)))
    elif callable(schedule):
        value = schedule(epoch)
        if (isinstance(value, (bool, np.bool_)) or not isinstance(value, Real)
                or not math.isfinite(value) or value < 0):
            raise ValueError(
                f"lr_schedule returned {value!r} for epoch {epoch}; it must return "
                "a finite learning rate >= 0 (a float)."
            )
        optimizer.set_rate(float(value))
    return float(optimizer.rate)


def fit_stochastic(
    *,
    net,
    val_net,
    params,
    optimizer,
    data,
    val,
    history,
    cfg,
    incremental,
    shuffle_rs,
    dropout_rng,
    score_fn,
    on_epoch=None,
    plan=SERIAL,
):
    """Run SGD/Adam epochs over ``data``, updating ``params`` in place.

    Parameters
    ----------
    net, val_net : Network
        Training network (bound here to ``params``) and an inference network
        for validation (bound here too).
    params : ndarray
        Flat parameter vector, modified in place.
    optimizer : SGD or Adam
    data, val : TrainData, TrainData or None
        Training and validation data.
    history : History
    cfg : TrainConfig
    incremental : bool
        One epoch only (``partial_fit``).
    shuffle_rs : numpy.random.RandomState
        Draws the epoch permutations (exactly as scikit-learn does).
    dropout_rng : numpy.random.Generator
        Draws dropout masks and other training-time noise.
    score_fn : callable ``(params, val, val_loss, predict) -> float``
        Validation score (higher is better) of the current weights;
        ``predict()`` returns the link-applied outputs on ``val.X``.
    on_epoch : callable ``record -> bool`` or None
        Run after each epoch with that epoch's record; a truthy return stops
        training after the epoch.
    plan : ExecutionPlan
        How the call's work is chunked and run.

    Each epoch appends to ``history.records`` a dict with ``epoch`` (epochs
    run so far, counting earlier fits that this one continues), ``loss``,
    ``validation_score`` and ``validation_loss`` (None without validation
    data), ``learning_rate`` (the epoch's rate; Adam's before its bias
    correction) and ``time`` (seconds since this call began).

    Divergence (a non-finite loss or weights, or an epoch loss above
    ``DIVERGENCE_RATIO`` times ``history.reference_loss``) stops training at
    that epoch, whose validation score is recorded as nan.  The weights
    returned are then, with a ``ConvergenceWarning``, the best ones (early
    stopping) or those an epoch with the lowest training loss started from
    (an epoch's loss accumulates along its updates, from its starting
    weights), or, when no epoch of this call improved, the weights it started
    from.  When the loss or the weights overflowed before any epoch improved,
    nothing usable is left and :class:`DivergenceError` is raised.

    Returns
    -------
    best_params : ndarray or None
        The weights to publish instead of ``params`` (the best validation
        score under early stopping, a fallback after divergence), else None.
    interrupted : bool
    """
    dtype = params.dtype
    grad = np.empty_like(params)
    net.bind_flat(params, grad)
    val_net.bind_flat(params, None)
    n = data.n
    batch_size = cfg.batch_size
    net.allocate(batch_size, dtype, plan)
    bufs = BatchBuffers(data, batch_size, plan)
    sample_idx = np.arange(n, dtype=np.int64)
    slices = batch_slices(n, batch_size)
    # Per batch: its rows of ``sample_idx`` (views made once; the shuffle
    # permutes ``sample_idx`` in place).
    batches = [sample_idx[start:stop] for start, stop in slices]
    gather, train_batch = bufs.gather, net.train_batch
    alpha = cfg.alpha
    nw = net.n_weights
    # Frozen weights are not updated; their (constant) L2 term still counts
    # in the reported objective, as in the validation loss.
    frozen = cfg.frozen
    frozen_sq = float(np.dot(params[:frozen[0]], params[:frozen[0]]))
    early_stopping = cfg.early_stopping
    reporter = EpochReporter(cfg.verbose, len(slices), cfg.metric)
    progress = reporter.progress
    best_params = params.copy() if early_stopping else None
    improved = False  # whether an epoch of this call beat the starting weights
    start_params = None if early_stopping else params.copy()
    # Without early stopping, the weights each epoch starts from are copied
    # aside and those of the epoch with the lowest training loss kept, for a
    # fit that diverges later (a copy of the parameters per epoch); a single
    # epoch has nothing earlier to fall back on.
    keep_fallback = not early_stopping and not incremental and cfg.max_iter > 1
    if keep_fallback:
        epoch_start, fallback = np.empty_like(params), np.empty_like(params)
    fallback_epoch, fallback_loss = 0, np.inf
    diverged = None
    interrupted = False
    try:
        for epoch_in_call in range(1, cfg.max_iter + 1):
            rate = epoch_rate(cfg, optimizer)
            if keep_fallback:
                np.copyto(epoch_start, params)
            if cfg.shuffle:
                # In place: the same permutation as scikit-learn's
                # ``sample_idx[perm]`` with ``perm`` a shuffled arange (the
                # draws do not depend on the contents), and the batch views
                # below follow it.
                shuffle_rs.shuffle(sample_idx)
            accumulated = 0.0
            for idx in batches:
                x, y, sw, sw_sum = gather(data, idx, True)
                batch_loss = train_batch(x, y, sw, bufs, dropout_rng)
                sq = optimizer.step(params, grad, nw, alpha, 1.0 / sw_sum, plan,
                                    frozen) + frozen_sq
                batch_loss = (batch_loss + 0.5 * alpha * sq) / sw_sum
                accumulated += batch_loss * idx.shape[0]
                if not math.isfinite(batch_loss):
                    diverged = "the training loss became non-finite"
                    break
                if history.reference_loss is None:
                    history.reference_loss = batch_loss
                if progress is not None:
                    progress.batch(batch_loss)
            loss = accumulated / n
            if diverged is None and not np.isfinite(params).all():
                diverged = "the weights became non-finite"
            ref = history.reference_loss
            if diverged is None and ref is not None and (
                    loss > DIVERGENCE_RATIO * max(ref, np.finfo(np.float64).tiny)):
                diverged = f"the training loss grew from {ref:.3g} to {loss:.3g}"
            history.n_iter += 1
            history.loss = loss
            history.t += n
            history.loss_curve.append(loss)

            val_score = val_loss = None
            if val is not None:
                if diverged is None:
                    val_score, val_loss = _validate(val_net, val, params, alpha,
                                                    score_fn, plan)
                else:  # as scikit-learn records a diverged model's score
                    val_score = val_loss = float("nan")
                history.validation_scores.append(val_score)
                history.validation_loss_curve.append(val_loss)
            record = {
                "epoch": len(history.loss_curve),
                "loss": loss,
                "validation_score": val_score,
                "validation_loss": val_loss,
                "learning_rate": rate,
                "time": time.perf_counter() - reporter.start,
            }
            history.records.append(record)
            reporter.epoch(history.n_iter, loss, val_score, val_loss, rate)
            if early_stopping:
                if val_score < history.best_validation_score + cfg.tol:
                    history.no_improvement_count += 1
                else:
                    history.no_improvement_count = 0
                if val_score > history.best_validation_score:
                    history.best_validation_score = val_score
                    np.copyto(best_params, params)
                    improved = True
            else:
                if val_score is not None and val_score > history.best_validation_score:
                    history.best_validation_score = val_score
                if history.loss_curve[-1] > history.best_loss - cfg.tol:
                    history.no_improvement_count += 1
                else:
                    history.no_improvement_count = 0
                if history.loss_curve[-1] < history.best_loss:
                    history.best_loss = history.loss_curve[-1]
                if keep_fallback and diverged is None and loss < fallback_loss:
                    epoch_start, fallback = fallback, epoch_start
                    fallback_epoch, fallback_loss = epoch_in_call, loss

            optimizer.iteration_ends(history.t)
            optimizer.epochs += 1
            stop_requested = bool(on_epoch(record)) if on_epoch is not None else False

            if diverged is not None or stop_requested:
                break

            if history.no_improvement_count > cfg.n_iter_no_change:
                if early_stopping:
                    msg = (
                        "Validation score did not improve more than tol=%f for %d"
                        " consecutive epochs." % (cfg.tol, cfg.n_iter_no_change)
                    )
                else:
                    msg = (
                        "Training loss did not improve more than tol=%f for %d"
                        " consecutive epochs." % (cfg.tol, cfg.n_iter_no_change)
                    )
                if optimizer.trigger_stopping(msg, cfg.verbose):
                    break
                history.no_improvement_count = 0

            if incremental:
                break

            if history.n_iter == cfg.max_iter:
                warnings.warn(
                    MAX_ITER_MSG.format(
                        max_iter=cfg.max_iter, tol=cfg.tol, n=cfg.n_iter_no_change,
                        what="validation score" if early_stopping else "training loss"),
                    ConvergenceWarning,
                )
        if diverged is None and not early_stopping:
            # Each batch loss is computed *before* that batch's update, so the
            # last update is otherwise unchecked: finite weights so large that
            # the model's outputs overflow would be published silently.  One
            # inference pass over the last batch closes that gap.
            z = net.forward(x, False)
            apply_link(z, net.loss_code)
            if not np.isfinite(z).all():
                diverged = "the model's outputs overflowed"
    except KeyboardInterrupt:
        # The interrupt lands between kernel calls: every kernel updates its
        # outputs completely, and ``params`` only changes inside the one
        # optimizer kernel, so the weights are a consistent state.
        interrupted = True
        if not np.isfinite(params).all():
            raise DivergenceError(
                DIVERGED_MSG.format(advice=lower_rate_advice(cfg))) from None
        warnings.warn(
            "Training interrupted by user; keeping the weights learned so far.",
            UserWarning,
        )
    if diverged is not None:
        if early_stopping and improved:
            kept = "the weights with the best validation score were restored"
            keep = best_params
        elif fallback_epoch > 1:
            kept = (f"the weights after epoch {fallback_epoch - 1} (lowest training "
                    "loss) were restored")
            keep = fallback
        elif "grew" in diverged:  # finite: the starting weights are still there
            kept = ("no epoch improved on the weights training started from, which "
                    "were kept")
            keep = best_params if early_stopping else start_params
        else:  # it overflowed before any epoch improved: nothing usable
            raise DivergenceError(DIVERGED_MSG.format(advice=lower_rate_advice(cfg, rate)))
        warnings.warn(
            DIVERGED_WARNING.format(epoch=epoch_in_call, what=diverged, kept=kept,
                                    advice=lower_rate_advice(cfg, rate)),
            ConvergenceWarning,
        )
        return keep, interrupted
    return best_params, interrupted


def _validate(val_net, val, params, alpha, score_fn, plan):
    """Validation score and validation objective for the current weights."""
    loss = dataset_loss(val_net, val, alpha, params, plan)
    score = score_fn(params, val, loss, lambda: val_net.predict(val.X, plan))
    return score, loss


def make_objective(net, data, alpha, dtype, plan=SERIAL, chunk=4096, frozen=(0, 0)):
    """Full-batch objective ``theta -> (loss, grad)`` over ``data``.

    Loss and gradient come from the same kernels as the stochastic solvers,
    summed over chunks of at most ``chunk`` rows (memory stays bounded) in a
    fixed order.  ``grad`` is returned as a float64 array (what SciPy wants).
    The objective is the weighted mean loss plus
    ``0.5 * alpha * ||W||^2 / sum(sample_weight)``, as in scikit-learn.
    The gradient of the ``frozen`` entries (see :class:`TrainConfig`) is 0.
    """
    n = data.n
    chunk = min(n, chunk)
    work = np.empty(net.n_params, dtype=dtype)
    grad = np.empty_like(work)
    total_grad = np.empty_like(work)
    net.bind_flat(work, grad)
    net.allocate(chunk, dtype, plan)
    bufs = BatchBuffers(data, chunk, plan)
    all_idx = np.arange(n, dtype=np.int64)
    slices = batch_slices(n, chunk)
    sw_total = float(np.sum(data.sw, dtype=np.float64))
    whole = len(slices) == 1 and not data.sparse
    nw = net.n_weights

    def fun(theta):
        work[...] = theta
        loss = 0.0
        for k, (start, stop) in enumerate(slices):
            if whole:  # the data already is one C-contiguous batch
                x, y, sw = data.X, data.Y, data.sw
            else:
                x, y, sw, _ = bufs.gather(data, all_idx[start:stop])
            z = net.forward(x, False)
            loss += (bufs.loss_grad(z, y, sw, net.loss_code, net.loss_param)
                     + net.penalty(sw))
            net.backward(bufs.delta[: stop - start])
            if k == 0:
                np.copyto(total_grad, grad)
            else:
                np.add(total_grad, grad, out=total_grad)
        w = work[:nw]
        sq = float(np.dot(w, w))
        total_grad[:nw] += alpha * w
        total_grad[:frozen[0]] = 0.0
        total_grad[nw:nw + frozen[1]] = 0.0
        np.multiply(total_grad, total_grad.dtype.type(1.0 / sw_total), out=total_grad)
        loss = (loss + 0.5 * alpha * sq) / sw_total
        return loss, total_grad.astype(np.float64)

    return fun


def merged_rows(data):
    """``data`` with identical rows (``X`` and ``Y`` together) merged into one
    row carrying their summed weight, and zero-weight rows dropped, in a
    canonical (sorted) order.

    The full-batch objective is a weighted sum over rows, so this is the
    same objective; but summed in an order that no longer depends on how a
    weight is spread over rows, so weighting a row by k and repeating it k
    times give the same bits, and L-BFGS the same path (a non-convex
    objective otherwise amplifies the last-bit differences of the two sums).
    Sparse data is merged through a dense copy when that is small
    (``merge_rows_max_elements``), and left as it is otherwise.
    """
    sparse = data.sparse
    if sparse:
        if data.X.shape[0] * data.X.shape[1] > threshold("merge_rows_max_elements"):
            return data
        X2 = data.X.toarray()
        Y = data.Y.toarray() if sp.issparse(data.Y) else data.Y
    else:
        X2, Y = data.X.reshape(data.n, -1), data.Y
    keep = data.sw != 0
    rows = np.concatenate([X2[keep], Y[keep]], axis=1)
    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    if unique.shape[0] == data.n:
        return data
    sw = np.zeros(unique.shape[0], dtype=data.sw.dtype)
    np.add.at(sw, inverse.ravel(), data.sw[keep])
    d = X2.shape[1]
    X = np.ascontiguousarray(unique[:, :d])
    Y = np.ascontiguousarray(unique[:, d:])
    if sparse:
        X = sp.csr_matrix(X)
        if sp.issparse(data.Y):
            Y = sp.csr_matrix(Y)
    else:
        X = X.reshape((-1,) + data.X.shape[1:])
    return TrainData(X, Y, sw)


def fit_lbfgs(*, net, params, data, cfg, plan=SERIAL, records=None, on_epoch=None):
    """Minimise the full-batch objective with SciPy's L-BFGS-B.

    After each iteration a record (as :func:`fit_stochastic`'s, with
    ``epoch`` the iteration, ``loss`` the objective there, no validation and
    no learning rate) is appended to ``records`` (a list, when given) and
    passed to ``on_epoch(record, theta)``; a truthy return ends the
    minimisation there.

    Returns ``(params, loss, n_iter)``; ``params`` is a new array.
    """
    data = merged_rows(data)
    fun = make_objective(net, data, cfg.alpha, params.dtype, plan, frozen=cfg.frozen)
    options = {"maxfun": cfg.max_fun, "maxiter": cfg.max_iter, "gtol": cfg.tol}
    bounds = _frozen_bounds(params, net.n_weights, cfg.frozen)
    if cfg.verbose:
        options["disp"] = True
    # The best finite point evaluated so far, kept for a KeyboardInterrupt.
    best = {"loss": np.inf, "x": None, "n_iter": 0, "stopped": False}
    start = time.perf_counter()

    def tracked(theta):
        loss, grad = fun(theta)
        if np.isfinite(loss) and loss < best["loss"]:
            best["loss"], best["x"] = loss, theta.copy()
        return loss, grad

    def iteration_ends(intermediate_result):
        best["n_iter"] += 1
        if records is None and on_epoch is None:
            return
        record = {"epoch": best["n_iter"], "loss": float(intermediate_result.fun),
                  "validation_score": None, "validation_loss": None,
                  "learning_rate": None, "time": time.perf_counter() - start}
        if records is not None:
            records.append(record)
        if on_epoch is not None and on_epoch(record, intermediate_result.x):
            best["stopped"] = True
            raise StopIteration  # SciPy ends the minimisation at this point

    x0 = params.astype(np.float64)
    try:
        res = scipy.optimize.minimize(
            tracked, x0, method="L-BFGS-B", jac=True, options=options,
            callback=iteration_ends, bounds=bounds,
        )
    except KeyboardInterrupt:
        warnings.warn(
            "Training interrupted by user; keeping the best weights found so far.",
            UserWarning,
        )
        if best["x"] is None:
            return params.copy(), None, best["n_iter"]
        return best["x"].astype(params.dtype), float(best["loss"]), best["n_iter"]
    if best["stopped"]:  # a callback asked to stop: not a convergence failure
        n_iter = best["n_iter"]
    else:
        n_iter = _check_lbfgs(res, cfg.max_iter)
    new = res.x.astype(params.dtype)
    if not np.isfinite(res.fun) or not np.isfinite(new).all():
        # L-BFGS-B stops at once on a non-finite objective and returns its
        # starting point: a "fitted" model with loss_ = nan would be a silent
        # wrong answer.
        raise DivergenceError(LBFGS_DIVERGED_MSG)
    return new, float(res.fun), n_iter


def _frozen_bounds(params, n_weights, frozen):
    """L-BFGS-B bounds that pin the ``frozen`` entries of ``params`` to their
    values (their gradient is 0 as well), or None when nothing is frozen."""
    n_w, n_b = frozen
    if not (n_w or n_b):
        return None
    lower = np.full(params.shape[0], -np.inf)
    upper = np.full(params.shape[0], np.inf)
    for sl in (slice(0, n_w), slice(n_weights, n_weights + n_b)):
        lower[sl] = upper[sl] = params[sl]
    return scipy.optimize.Bounds(lower, upper)


def _check_lbfgs(res, max_iter):
    from sklearn.utils.optimize import _check_optimize_result

    return _check_optimize_result("lbfgs", res, max_iter)
