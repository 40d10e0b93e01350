"""Layers: forward/backward over buffers the layer allocates once per fit.

A layer sees per-sample shapes (``in_shape``, ``out_shape``) and batches of up
to ``max_batch`` rows.  Parameters live in the network's flat vectors; the
layer only holds views (``bind``), so an optimizer step, a best-weights
snapshot, L-BFGS and pickling all act on one array.

Interface every layer implements (see :class:`Layer`):

* ``param_shapes()``: ``(weight_shape or None, bias_shape or None)``.
* ``bind(w, b, dw, db)``: views into the flat parameter/gradient vectors (or
  the published ``coefs_``/``intercepts_`` arrays for prediction).
* ``init_params(rs, dtype)``: draw initial weights from ``rs`` (NumPy
  ``RandomState``), in scikit-learn's order.
* ``allocate(max_batch, dtype)``: the layer's output and input-gradient buffers.
* ``forward(x, training, rng) -> out``; ``backward(dout, need_dx) -> dx``.
"""

import numpy as np

from ._kernels.activations import ACTIVATION_CODES, LOGISTIC
from ._kernels.dense import (
    MAX_CHUNKS,
    MIN_FORWARD_ROWS,
    csr_dense_backward,
    csr_dense_forward,
    dense_backward,
    dense_backward_pair,
    dense_backward_parallel,
    dense_forward,
    dense_forward_parallel,
    work_split,
)
from ._kernels.regularization import dropout_forward, multiply
from ._threads import threading_layer

# A layer's kernels depend on its shape only (never on n_jobs), so the same
# layer runs the same arithmetic for any thread count and results stay
# bit-identical.  With ``macs`` the multiply-adds of one full batch's forward
# GEMM:
#
# * from FORWARD_PARALLEL_MIN_MACS, with at least two chunks' worth of rows
#   (so a one-row prediction never pays a launch), the forward pass is split
#   in row chunks (``dense_forward_parallel``; the same rows through the same
#   GEMM);
# * from PARALLEL_MIN_MACS the backward pass is split in row and weight-row
#   chunks (``dense_backward_parallel``);
# * from PAIR_MIN_MACS up to that, the backward pass runs its two halves side
#   by side (``dense_backward_pair``: the serial kernel's own calls, hence the
#   same bits): ``dw`` and ``dx``, or the two halves of ``dw`` for a first
#   layer.
#
# Measured on this 2-core machine with the ``omp`` layer (launch ~2 us):
# splitting the digits network's 1.28M-MAC first layer (batch 200, 64 ->
# 100) in both directions made a 200-epoch float64 fit 1.26-1.31 ms per epoch
# against 1.66-1.75 (six alternating processes each); splitting the forward
# pass of its 200k-MAC output layer too, 1.21-1.25 against 1.28-1.32, and a
# first fit then compiles one kernel fewer (cold MLP fits 9.4-10.5 s against
# 9.9-10.5 s, three alternating rounds each); 20 000 MACs per
# product already gain in the pair kernel (7.9 -> 7.6 us) and 32 768 in
# float32 lose (5.9 -> 6.1 us).  The row-split backward kernel stays for
# large layers: it compiles in ~3 s, against ~1 s for the pair, which
# matters for a first fit's compile budget.
FORWARD_PARALLEL_MIN_MACS = 100_000
PARALLEL_MIN_MACS = 8_000_000
PAIR_MIN_MACS = 50_000
# On Numba's ``workqueue`` layer a launch costs ~90 us, which only layers from
# PARALLEL_MIN_MACS repay, and on a one-CPU machine no launch pays: there,
# below it, a chunked forward pass runs the kernel's serial twin (the same
# chunks in order: the same bits, no launch) and the backward pass the serial
# kernel (the pair's calls in order).


class CSRBatch:
    """A batch of rows of a CSR matrix held in engine-owned buffers."""

    __slots__ = ("data", "indices", "indptr", "n_rows")

    def __init__(self, data, indices, indptr, n_rows):
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.n_rows = n_rows

    @property
    def shape(self):  # only the row count is ever read
        return (self.n_rows,)


def n_rows(x):
    """Number of samples in a dense array or a :class:`CSRBatch`."""
    return x.shape[0]


class Layer:
    """Base class: a parameter-free identity layer."""

    in_shape = ()
    out_shape = ()

    def param_shapes(self):
        return None, None

    def bind(self, w, b, dw, db):
        pass

    def init_params(self, rs, dtype):
        pass

    def allocate(self, max_batch, dtype):
        pass

    def forward(self, x, training, rng):
        return x

    def backward(self, dout, need_dx):
        return dout


class Dense(Layer):
    """Fully connected layer with a fused activation.

    ``init_factor`` is Glorot's uniform bound numerator (6, or 2 for logistic
    units) as in scikit-learn, so the same ``random_state`` gives the same
    initial weights as ``MLPClassifier``.
    """

    def __init__(self, n_in, n_out, activation="identity", init_activation=None):
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.in_shape = (self.n_in,)
        self.out_shape = (self.n_out,)
        self.act = ACTIVATION_CODES[activation]
        init_act = activation if init_activation is None else init_activation
        self.init_factor = 2.0 if ACTIVATION_CODES[init_act] == LOGISTIC else 6.0

    def param_shapes(self):
        return (self.n_in, self.n_out), (self.n_out,)

    def bind(self, w, b, dw, db):
        self.w = w.reshape(self.n_in, self.n_out)
        self.b = b
        self.dw = None if dw is None else dw.reshape(self.n_in, self.n_out)
        self.db = db

    def init_params(self, rs, dtype):
        bound = np.sqrt(self.init_factor / (self.n_in + self.n_out))
        self.w[...] = rs.uniform(-bound, bound, (self.n_in, self.n_out))
        self.b[...] = rs.uniform(-bound, bound, self.n_out)

    def allocate(self, max_batch, dtype):
        self.out = np.empty((max_batch, self.n_out), dtype=dtype)
        self.dx = np.empty((max_batch, self.n_in), dtype=dtype)
        self.split = work_split()
        macs = max_batch * self.n_in * self.n_out
        parallel = macs >= PARALLEL_MIN_MACS
        # The row-split kernel's bias partial sums; the other two kernels
        # need n_in * n_out values for a first layer (see ``backward``).
        self.work = np.empty(MAX_CHUNKS * self.n_out, dtype=dtype)
        # Below PARALLEL_MIN_MACS the side-by-side kernels only pay with a
        # cheap launch and a second core (split is the machine's CPU count).
        cheap = threading_layer() != "workqueue" and self.split > 1
        chunked = parallel or (macs >= FORWARD_PARALLEL_MIN_MACS
                               and max_batch >= 2 * MIN_FORWARD_ROWS)
        if not chunked:
            self._fwd = dense_forward
        elif parallel or cheap:
            self._fwd = dense_forward_parallel
        else:  # the same chunks in order, without a launch
            self._fwd = dense_forward_parallel.serial
        self._bwd = dense_backward_parallel if parallel else dense_backward
        if not parallel and macs >= PAIR_MIN_MACS and cheap:
            self._bwd = dense_backward_pair

    def forward(self, x, training, rng):
        n = n_rows(x)
        out = self.out[:n]
        if isinstance(x, CSRBatch):
            csr_dense_forward(out, x.data, x.indices, x.indptr, self.w, self.b, self.act)
        else:
            self._fwd(out, x.reshape(n, self.n_in), self.w, self.b, self.act, self.split)
        self.x = x
        return out

    def backward(self, dout, need_dx):
        x = self.x
        n = n_rows(x)
        if isinstance(x, CSRBatch):
            csr_dense_backward(
                self.dw, self.db, dout, self.out[:n], x.data, x.indices, x.indptr,
                self.act,
            )
            return None
        dx = self.dx[:n]
        if (not need_dx and self._bwd is not dense_backward_parallel
                and self.work.size < self.w.size):
            # half of a first layer's weight gradient (dense_backward and
            # dense_backward_pair); allocated by the first training pass, so
            # predicting networks do not hold a copy of every weight matrix
            self.work = np.empty(self.w.size, dtype=self.work.dtype)
        self._bwd(
            dx, self.dw, self.db, self.work, dout, self.out[:n], x.reshape(n, self.n_in),
            self.w, self.act, need_dx, self.split,
        )
        return dx.reshape((n,) + self.in_shape) if need_dx else None


class Dropout(Layer):
    """Inverted dropout on the previous layer's output (training only)."""

    def __init__(self, shape, rate):
        self.in_shape = self.out_shape = tuple(shape)
        self.rate = float(rate)

    def allocate(self, max_batch, dtype):
        shape = (max_batch,) + self.in_shape
        self.out = np.empty(shape, dtype=dtype)
        self.mask = np.empty(shape, dtype=dtype)
        self.u = np.empty(shape, dtype=dtype)
        self.dx = np.empty(shape, dtype=dtype)

    def forward(self, x, training, rng):
        if not training or self.rate == 0.0:
            self.active = False
            return x
        self.active = True
        n = x.shape[0]
        u = self.u[:n]
        rng.random(out=u, dtype=u.dtype)
        out = self.out[:n]
        dropout_forward(
            out.reshape(-1), self.mask[:n].reshape(-1), x.reshape(-1), u.reshape(-1),
            self.rate,
        )
        return out

    def backward(self, dout, need_dx):
        if not self.active:
            return dout
        n = dout.shape[0]
        dx = self.dx[:n]
        multiply(dx.reshape(-1), dout.reshape(-1), self.mask[:n].reshape(-1))
        return dx


# Layer names used in the plain-Python architecture specs that estimators
# store as fitted state (``_layer_specs_``).  Other modules register theirs.
LAYERS = {"dense": Dense, "dropout": Dropout}
