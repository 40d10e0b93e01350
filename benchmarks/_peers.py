"""In-process implementations: sknn, scikit-learn, PyTorch, GEMM floor.

Every builder returns an :class:`~._types.Implementation` whose ``prepare``
imports its library, builds its data, runs a one-epoch warm-up fit (so that
Numba compilation and first-call costs stay out of the per-epoch figures)
and returns the timed callable.  Libraries are imported inside ``prepare``
only, so a missing or broken one turns into a "not available" row.
"""

import functools
import importlib
import inspect
import itertools
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from ._config import ALPHA, LEARNING_RATE, SEED, WARMUP_ROWS
from ._flops import batch_sizes
from ._types import Implementation, Unavailable


def note(message):
    """Print a progress or diagnostic line on standard error.

    Parameters
    ----------
    message : str
    """
    print(message, file=sys.stderr, flush=True)


def sknn_class(name):
    """Return the estimator class ``sknn.<name>``.

    Parameters
    ----------
    name : str
        E.g. ``"MLPClassifierX"``.

    Returns
    -------
    type

    Raises
    ------
    Unavailable
        When sknn cannot be imported or has no such attribute.
    """
    try:
        return getattr(importlib.import_module("sknn"), name)
    except AttributeError:
        raise Unavailable(f"not available: sknn has no {name}") from None
    except Exception as exc:  # noqa: BLE001 - a half-written estimator may fail anyhow
        raise Unavailable(f"not available: {type(exc).__name__}: {exc}") from None


def sklearn_class(name):
    """Return ``sklearn.neural_network.<name>``.

    Parameters
    ----------
    name : str
        ``"MLPClassifier"`` or ``"MLPRegressor"``.

    Returns
    -------
    type
    """
    return getattr(importlib.import_module("sklearn.neural_network"), name)


def fixed_epochs(epochs):
    """Return the parameters that make a fit run exactly ``epochs`` epochs.

    Parameters
    ----------
    epochs : int

    Returns
    -------
    dict
    """
    return {"max_iter": epochs, "tol": 0.0, "n_iter_no_change": np.inf,
            "shuffle": True}


_REPORTED = set()


def accepted_params(cls, params):
    """Return the subset of ``params`` that ``cls.__init__`` accepts.

    Estimators under construction may lack an optional parameter (say
    ``tol``); dropping it with a note beats failing the whole row.

    Parameters
    ----------
    cls : type
        Estimator class.
    params : dict
        Wanted constructor parameters.

    Returns
    -------
    dict
    """
    signature = inspect.signature(cls)
    kinds = {p.kind for p in signature.parameters.values()}
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return dict(params)
    kept = {k: v for k, v in params.items() if k in signature.parameters}
    dropped = tuple(sorted(set(params) - set(kept)))
    if dropped and (cls, dropped) not in _REPORTED:
        _REPORTED.add((cls, dropped))
        note(f"    note: {cls.__name__} does not accept {', '.join(dropped)}")
    return kept


def _fit_seconds_per_epoch(cls, params, args, epochs):
    estimator = cls(**accepted_params(cls, {**params, **fixed_epochs(epochs)}))
    start = time.perf_counter()
    estimator.fit(*args)
    elapsed = time.perf_counter() - start
    ran = getattr(estimator, "n_iter_", epochs)
    return elapsed / (ran if isinstance(ran, int) and 0 < ran <= epochs else epochs)


def estimator_impl(name, get_class, params, get_args, epochs):
    """Time ``get_class()(**params).fit(*get_args())`` per epoch.

    Parameters
    ----------
    name : str
        Row label.
    get_class : callable
        Returns the estimator class; may raise :class:`Unavailable`.
    params : dict
        Constructor parameters except those of :func:`fixed_epochs`.
    get_args : callable
        Returns the positional arguments of ``fit``, e.g. ``(X, y)``.
    epochs : int
        Epochs per timed fit.

    Returns
    -------
    Implementation
    """

    def prepare():
        cls = get_class()
        args = get_args()
        _fit_seconds_per_epoch(cls, params, [a[:WARMUP_ROWS] for a in args], 1)
        return functools.partial(_fit_seconds_per_epoch, cls, params, args, epochs)

    return Implementation(name, prepare)


def import_torch():
    """Return the ``torch`` module.

    Raises
    ------
    Unavailable
        ``"torch not installed"`` when it cannot be imported.
    """
    try:
        import torch
    except ImportError:
        raise Unavailable("torch not installed") from None
    return torch


def torch_mlp(torch, layer_sizes):
    """Return ``nn.Sequential(Linear, ReLU, ..., Linear)``.

    Parameters
    ----------
    torch : module
    layer_sizes : sequence of int
        Widths from the input to the output.

    Returns
    -------
    torch.nn.Sequential
    """
    nn = torch.nn
    layers = []
    for fan_in, fan_out in itertools.pairwise(layer_sizes):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def torch_cnn(torch, in_channels, filters, kernel_size, padding, pool_size,
              flat, hidden, n_outputs):
    """Return the PyTorch twin of an ``sknn.ConvClassifier`` or ``ConvRegressor``.

    Parameters
    ----------
    torch : module
    in_channels : int
        Channels of the input images.
    filters : tuple of int
        Output channels of each ``Conv2d -> ReLU -> MaxPool2d`` block.
    kernel_size : int
        Square kernel size.
    padding : {"valid", "same"}
        Convolution padding.
    pool_size : int
        Max-pool window and stride.
    flat : int
        Width of the flattened feature map.
    hidden : tuple of int
        Dense hidden widths.
    n_outputs : int
        Output width (classes, or regression targets).

    Returns
    -------
    torch.nn.Sequential
    """
    nn = torch.nn
    layers = []
    for n_filters in filters:
        layers += [nn.Conv2d(in_channels, n_filters, kernel_size, padding=padding),
                   nn.ReLU(), nn.MaxPool2d(pool_size)]
        in_channels = n_filters
    layers.append(nn.Flatten())
    return nn.Sequential(*layers, torch_mlp(torch, (flat, *hidden, n_outputs)))


def _torch_adam(torch, model, batch_size):
    # scikit-learn adds alpha * W / batch_size to the weight gradients only.
    named = list(model.named_parameters())
    weights = [p for n, p in named if n.endswith("weight")]
    biases = [p for n, p in named if not n.endswith("weight")]
    groups = [{"params": weights, "weight_decay": ALPHA / batch_size},
              {"params": biases, "weight_decay": 0.0}]
    return torch.optim.Adam(groups, lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-8)


#: The PyTorch loss of each task of :func:`torch_impl` and the NumPy dtype of
#: its targets.
TORCH_LOSSES = {"cross_entropy": ("CrossEntropyLoss", np.int64),
                "squared_error": ("MSELoss", np.float32)}


def _torch_seconds_per_epoch(torch, build, X, y, epochs, batch_size, loss):
    start = time.perf_counter()
    model = build()
    optimizer = _torch_adam(torch, model, batch_size)
    loss_fn = getattr(torch.nn, TORCH_LOSSES[loss][0])()
    generator = torch.Generator().manual_seed(SEED)
    n_samples = X.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n_samples, generator=generator)
        for begin in range(0, n_samples, batch_size):
            rows = order[begin:begin + batch_size]
            optimizer.zero_grad()
            loss_fn(model(X[rows]), y[rows]).backward()
            optimizer.step()
    return (time.perf_counter() - start) / epochs


def torch_impl(build_model, get_args, epochs, batch_size, input_shape, threads,
               loss="cross_entropy", channels_last=False):
    """Time a PyTorch network trained with Adam and a manual batching loop.

    Each timed call builds a fresh model and optimizer (as ``fit`` does),
    then runs ``epochs`` epochs over a new random permutation each epoch,
    without a DataLoader.  The data are converted to tensors (and, with
    ``channels_last``, to NCHW images) once, before timing: a PyTorch user
    keeps the data in the layout the model takes.

    Parameters
    ----------
    build_model : callable
        ``build_model(torch)`` returns a new ``nn.Module``.
    get_args : callable
        Returns ``(X, y)`` as NumPy arrays (X float32, flat or, with
        ``channels_last``, of shape ``(n, height, width, channels)``).
    epochs : int
        Epochs per timed call.
    batch_size : int
        Rows per mini-batch.
    input_shape : tuple of int or None
        ``(channels, height, width)`` to reshape flat rows for a CNN.
    threads : int
        ``torch.set_num_threads`` value.
    loss : {"cross_entropy", "squared_error"}, default="cross_entropy"
        ``CrossEntropyLoss`` on integer labels (a classifier) or ``MSELoss``
        on float32 targets (a regressor); see :data:`TORCH_LOSSES`.
    channels_last : bool, default=False
        Whether ``X`` holds ``(n, height, width, channels)`` images, which
        are transposed to a contiguous ``(n, channels, height, width)`` copy
        before timing.

    Returns
    -------
    Implementation
    """
    y_dtype = TORCH_LOSSES[loss][1]

    def prepare():
        torch = import_torch()
        torch.set_num_threads(threads)
        torch.manual_seed(SEED)
        X, y = get_args()
        if channels_last:
            X = np.ascontiguousarray(X.transpose(0, 3, 1, 2))
        X = torch.from_numpy(X)
        if input_shape is not None:
            X = X.reshape(-1, *input_shape)
        y = torch.from_numpy(np.asarray(y, dtype=y_dtype))
        build = functools.partial(build_model, torch)
        _torch_seconds_per_epoch(torch, build, X[:WARMUP_ROWS], y[:WARMUP_ROWS],
                                 1, batch_size, loss)
        return functools.partial(_torch_seconds_per_epoch, torch, build, X, y,
                                 epochs, batch_size, loss)

    return Implementation("torch", prepare)


class GemmEpoch:
    """The matrix products of one epoch of a dense network, preallocated.

    Per batch and layer: the forward product ``A @ W``, the weight gradient
    ``A.T @ D`` and, except for the first layer, the input gradient
    ``D @ W.T``; all write into preallocated arrays with ``out=``.  With
    ``backward=False`` only the forward products (a prediction).
    """

    def __init__(self, layer_sizes, sizes_of_batches, dtype, backward=True):
        self.backward = backward
        rng = np.random.default_rng(SEED)
        pairs = list(itertools.pairwise(layer_sizes))
        self.weights = [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype)
                        for a, b in pairs]
        self.grads = [np.empty_like(w) for w in self.weights]
        self.batches = sizes_of_batches
        self.buffers = {}
        for rows in set(sizes_of_batches):
            acts = [rng.standard_normal((rows, w)).astype(dtype) for w in layer_sizes]
            deltas = [rng.standard_normal((rows, w)).astype(dtype) for w in layer_sizes]
            self.buffers[rows] = (acts, deltas)

    def run(self):
        """Run every product of one epoch."""
        weights, grads = self.weights, self.grads
        for rows in self.batches:
            acts, deltas = self.buffers[rows]
            for i, w in enumerate(weights):
                np.dot(acts[i], w, out=acts[i + 1])
            if not self.backward:
                continue
            for i in range(len(weights) - 1, -1, -1):
                np.dot(acts[i].T, deltas[i + 1], out=grads[i])
                if i:
                    np.dot(deltas[i + 1], weights[i].T, out=deltas[i])


def _floor_seconds_per_epoch(plan, epochs, blas_threads):
    best = float("inf")
    for count in blas_threads:
        with threadpool_limits(limits=count, user_api="blas"):
            start = time.perf_counter()
            for _ in range(epochs):
                plan.run()
            best = min(best, (time.perf_counter() - start) / epochs)
    return best


def gemm_floor_impl(layer_sizes, n_samples, batch_size, dtype, epochs, threads,
                    backward=True):
    """Time one epoch's GEMMs alone: the floor no implementation beats.

    With ``backward=False``, the forward products of predicting ``n_samples``
    rows in batches of ``batch_size`` (the floor of a prediction).

    The products run with BLAS limited to ``threads`` threads and, when
    ``threads > 1``, once more with one BLAS thread; the faster run is the
    measurement.  On a loaded machine a multi-threaded BLAS waits for its
    descheduled workers and can be several times slower than a serial one,
    and an implementation that parallelizes over batches instead would then
    "beat" a floor measured only the first way.

    Parameters
    ----------
    layer_sizes : sequence of int
        Dense widths from the input to the output.
    n_samples : int
        Rows per epoch.
    batch_size : int
        Rows per full mini-batch (the last batch holds the remainder).
    dtype : str
        ``"float32"`` or ``"float64"``.
    epochs : int
        Epochs per timed call (per BLAS thread count).
    threads : int
        The suite's thread count.

    Returns
    -------
    Implementation
    """
    blas_threads = sorted({threads, 1}, reverse=True)

    def prepare():
        plan = GemmEpoch(layer_sizes, batch_sizes(n_samples, batch_size), dtype,
                          backward)
        plan.run()
        return functools.partial(_floor_seconds_per_epoch, plan, epochs, blas_threads)

    return Implementation("gemm-floor", prepare)


def _latency(model, row, calls):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        model.predict_proba(row)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _throughput(model, X):
    start = time.perf_counter()
    model.predict_proba(X)
    return time.perf_counter() - start


def predict_latency_impl(name, get_model, get_X, calls):
    """Time one-row ``predict_proba``: the median of ``calls`` calls.

    Parameters
    ----------
    name : str
        Row label.
    get_model : callable
        Returns a fitted classifier; may raise :class:`Unavailable`.
    get_X : callable
        Returns the rows to predict; only the first is used.
    calls : int
        Calls per timed measurement.

    Returns
    -------
    Implementation
    """

    def prepare():
        model = get_model()
        row = get_X()[:1]
        _latency(model, row, 10)
        return functools.partial(_latency, model, row, calls)

    return Implementation(name, prepare)


def predict_throughput_impl(name, get_model, get_X):
    """Time one bulk ``predict_proba`` call on every row of ``get_X()``.

    Parameters
    ----------
    name : str
        Row label.
    get_model : callable
        Returns a fitted classifier; may raise :class:`Unavailable`.
    get_X : callable
        Returns the rows to predict.

    Returns
    -------
    Implementation
    """

    def prepare():
        model = get_model()
        X = get_X()
        _throughput(model, X[:WARMUP_ROWS])
        return functools.partial(_throughput, model, X)

    return Implementation(name, prepare)
