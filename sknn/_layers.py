"""Layers: forward/backward over buffers the layer allocates once per fit.

A layer sees per-sample shapes (``in_shape``, ``out_shape``) and batches of up
to ``max_batch`` rows.  Parameters live in the network's flat vectors; the
layer only holds views (``bind``), so an optimizer step, a best-weights
snapshot, L-BFGS and pickling all act on one array.

Interface every layer implements (see :class:`Layer`):

* ``param_shapes()``: ``(weight_shape or None, bias_shape or None)``.
* ``bind(w, b, dw, db)``: views into the flat parameter/gradient vectors (or
  the published ``coefs_``/``intercepts_`` arrays for prediction).
* ``init_params(rs, dtype, init)``: draw initial weights from ``rs`` (NumPy
  ``RandomState``) with the scheme ``init`` (:func:`draw_weights`), in
  scikit-learn's order.
* ``allocate(max_batch, dtype)``: the layer's output and input-gradient buffers.
* ``forward(x, training, rng) -> out``; ``backward(dout, need_dx) -> dx``.

Every layer reads ``self.plan`` (:class:`sknn._runtime.ExecutionPlan`, set by
the network for each call) to decide how its work is chunked and run.
"""

import numpy as np
import scipy.sparse as sp

from ._kernels.activations import (
    ACTIVATION_CODES,
    FIRST_EXTRA,
    IDENTITY,
    LOGISTIC,
    NEEDS_PREACTIVATION,
)
from ._kernels.dense import act_grad_colsum, bias_act, extra_activation, extra_activation_grad
from ._kernels.gemm import (
    DENSE_BACKWARD_ARGS,
    DENSE_BACKWARD_REFS,
    PRODUCT_ARGS,
    PRODUCT_REFS,
    blas_product,
    dense_backward_f32,
    dense_backward_f64,
    dense_backward_operands,
    product_operands,
    product_rows_f32,
    product_rows_f64,
)
from ._runtime import SERIAL, row_bounds, run_task, threshold


def basic_code(act):
    """The code the fused kernels apply: ``act`` itself when basic, else
    identity (:func:`finish_activation` then applies it)."""
    return act if act < FIRST_EXTRA else IDENTITY


def finish_activation(z, act):
    """Apply an activation the fused kernels left out (see
    :data:`~sknn._kernels.activations.FIRST_EXTRA`) to the C-contiguous ``z``."""
    if act >= FIRST_EXTRA:
        extra_activation(z.reshape(-1), act)


def start_activation_grad(delta, a, act):
    """``delta *= f'`` for an activation the fused kernels leave out; returns
    the code the fused gradient kernel then applies (identity, or ``act``)."""
    if act < FIRST_EXTRA:
        return act
    extra_activation_grad(delta.reshape(-1), a.reshape(-1), act)
    return IDENTITY

INIT_SCHEMES = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal")


def draw_weights(rs, shape, fan_in, fan_out, init, glorot_factor=6.0):
    """Initial weights of ``shape`` drawn from ``rs`` with scheme ``init``.

    ``glorot_uniform``: U(+-sqrt(glorot_factor / (fan_in + fan_out))), with
    scikit-learn's factor (6, or 2 for logistic units), so the same draws as
    ``MLPClassifier``; ``glorot_normal``: N(0, 2 / (fan_in + fan_out));
    ``he_uniform``: U(+-sqrt(6 / fan_in)); ``he_normal``: N(0, 2 / fan_in).
    """
    if init == "glorot_uniform":
        bound = np.sqrt(glorot_factor / (fan_in + fan_out))
        return rs.uniform(-bound, bound, shape)
    if init == "glorot_normal":
        return rs.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), shape)
    if init == "he_uniform":
        bound = np.sqrt(6.0 / fan_in)
        return rs.uniform(-bound, bound, shape)
    if init == "he_normal":
        return rs.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    raise ValueError(f"init must be one of {INIT_SCHEMES}, got {init!r}.")


def n_rows(x):
    """Number of samples in a dense array or a sparse batch."""
    return x.shape[0]


def buffer(current, shape, dtype):
    """``current`` when it already has ``shape`` and ``dtype``, else a new array."""
    if current is None or current.shape != shape or current.dtype != dtype:
        return np.empty(shape, dtype=dtype)
    return current


class Layer:
    """Base class: a parameter-free identity layer."""

    in_shape = ()
    out_shape = ()
    plan = SERIAL

    def param_shapes(self):
        return None, None

    def bind(self, w, b, dw, db):
        pass

    def init_params(self, rs, dtype, init="glorot_uniform"):
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
    initial weights as ``MLPClassifier`` with ``init='glorot_uniform'``; the
    other schemes draw the weights from their formula and start the biases
    at zero.

    An activation whose derivative needs the pre-activation (GELU, SiLU:
    :data:`~sknn._kernels.activations.NEEDS_PREACTIVATION`) makes the layer
    keep ``z`` in a buffer of its own (``pre``): the forward pass adds the
    bias, copies ``z``, then applies the activation; the backward pass hands
    ``z`` to the gradient kernel.  Other activations run the fused path.

    The products go through the plan (:meth:`ExecutionPlan.product
    <sknn._runtime.ExecutionPlan.product>`): one BLAS call, or row chunks run
    in parallel (the forward pass and ``dx``: batch rows; ``dw``: weight
    rows).  A batch between ``dense_split_min_macs`` and the plan's
    ``min_macs`` is cut into batch-row chunks instead (a prediction's output
    layer too), each chunk running its rows through the whole pass
    (:data:`~sknn._kernels.gemm.product_rows_f64` forward,
    :data:`~sknn._kernels.gemm.dense_backward_f64` backward, whose shares of
    ``dw`` and ``db`` are added in chunk order), so every thread keeps
    working on the rows it produced; the chunks run as tasks once these are
    compiled, otherwise one after the other with the same calls.
    """

    #: An int64 array that the next dense forward passes fill with their
    #: chunks' counts of non-finite products (see ExecutionPlan.affine), or
    #: None; set by :meth:`sknn._network.Network.predict` on a first layer.
    finite_flags = None

    def __init__(self, n_in, n_out, activation="identity", init_activation=None):
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.in_shape = (self.n_in,)
        self.out_shape = (self.n_out,)
        self.act = ACTIVATION_CODES[activation]
        init_act = activation if init_activation is None else init_activation
        self.init_factor = 2.0 if ACTIVATION_CODES[init_act] == LOGISTIC else 6.0
        self.keeps_pre = self.act in NEEDS_PREACTIVATION
        self.out = self.dx = self.pre = None
        self.dw_parts = self.db_parts = None

    def param_shapes(self):
        return (self.n_in, self.n_out), (self.n_out,)

    def bind(self, w, b, dw, db):
        self.w = w.reshape(self.n_in, self.n_out)
        self.b = b
        self.dw = None if dw is None else dw.reshape(self.n_in, self.n_out)
        self.db = db

    def init_params(self, rs, dtype, init="glorot_uniform"):
        init = init or "glorot_uniform"  # None: the layer's default
        shape = (self.n_in, self.n_out)
        self.w[...] = draw_weights(rs, shape, self.n_in, self.n_out, init,
                                   self.init_factor)
        if init == "glorot_uniform":
            bound = np.sqrt(self.init_factor / (self.n_in + self.n_out))
            self.b[...] = rs.uniform(-bound, bound, self.n_out)
        else:
            self.b[...] = 0.0

    def allocate(self, max_batch, dtype):
        self.out = buffer(self.out, (max_batch, self.n_out), dtype)
        self.dx = buffer(self.dx, (max_batch, self.n_in), dtype)
        if self.keeps_pre:
            self.pre = buffer(self.pre, (max_batch, self.n_out), dtype)

    @property
    def _two_chunks(self):
        """The fewest rows :meth:`_row_chunks` can cut into two chunks."""
        return 2 * threshold("min_chunk_rows")

    def _row_chunks(self, n):
        """Batch-row chunks of a batch of ``n`` rows whose products are
        below the plan's ``min_macs`` (1: not cut; by shape alone)."""
        macs = n * self.n_in * self.n_out
        if macs >= self.plan.min_macs:
            return 1
        return self.plan.chunks(n, self.n_in * self.n_out, threshold("dense_split_min_macs"))

    def _bias_act(self, out):
        """``out = f(out + b)`` in place (see :meth:`_finish`)."""
        bias_act(out, self.b, basic_code(self.act))
        self._finish(out)

    def _finish(self, out):
        """After ``out = f(z)`` for the basic part of the activation: keep
        ``z`` in ``pre`` when the activation needs it, then apply an extra
        activation (its basic code was the identity)."""
        if self.keeps_pre:
            np.copyto(self.pre[:out.shape[0]], out)
        finish_activation(out, self.act)

    def _act_source(self, n):
        """What the gradient kernel reads for f': the output, or ``z``."""
        return self.pre[:n] if self.keeps_pre else self.out[:n]

    def forward(self, x, training, rng):
        n = x.shape[0]
        out = self.out[:n]
        self.x = x
        if type(x) is not np.ndarray and sp.issparse(x):
            out[...] = x @ self.w
            self._bias_act(out)
            return out
        if x.ndim != 2:
            x = x.reshape(n, self.n_in)
        # (fewer than two chunks' worth of rows is never cut)
        rows = (self._row_chunks(n) if n >= self._two_chunks and x.flags.c_contiguous
                else 1)
        self.plan.affine(out, x, self.w, self.b, basic_code(self.act), rows,
                         self.finite_flags)
        if self.keeps_pre or self.act >= FIRST_EXTRA:
            self._finish(out)
        return out

    def backward(self, dout, need_dx):
        """``dout`` (n, n_out) holds dL/d(out); it is overwritten with
        ``dz = dout * f'(z)``.  Then ``dw = x.T @ dz``, ``db = sum_rows(dz)``
        and, when ``need_dx``, ``dx = dz @ w.T``."""
        x = self.x
        n = n_rows(x)
        out = self._act_source(n)
        dz = dout.reshape(n, self.n_out)
        dx = self.dx[:n]
        act = start_activation_grad(dz, out, self.act)
        if sp.issparse(x):
            act_grad_colsum(dz, out, act, self.db)
            self.dw[...] = x.T @ dz
            return None
        x = x.reshape(n, self.n_in)
        nc = self._row_chunks(n) if x.flags.c_contiguous else 1
        if nc == 1:
            act_grad_colsum(dz, out, act, self.db)
            self.plan.product(self.dw, x, dz, trans_a=True)
            if need_dx:
                self.plan.product(dx, dz, self.w, trans_b=True)
        else:
            self._backward_rows(x, dz, out, act, dx, need_dx, nc)
        return dx.reshape((n,) + self.in_shape) if need_dx else None

    def chain_rows(self, n):
        """Row chunks of this layer's passes over a training batch of ``n``
        rows when it can run in a chain of tasks (fused activation, weights
        of its own), by shape alone; 1 when it cannot."""
        if self.keeps_pre or self.act >= FIRST_EXTRA or not self.w.flags.c_contiguous:
            return 1
        return self._row_chunks(n)

    def chain_steps(self, dtype):
        """This layer's forward and backward steps in a chain of tasks, each
        ``(task, number of operands, mask of references, finishes)``: the
        product with the bias and activation, and the backward pass, which
        adds its chunks' shares when it finishes."""
        f32 = np.dtype(dtype) == np.float32
        return ((product_rows_f32 if f32 else product_rows_f64, PRODUCT_ARGS, PRODUCT_REFS,
                 False),
                (dense_backward_f32 if f32 else dense_backward_f64, DENSE_BACKWARD_ARGS,
                 DENSE_BACKWARD_REFS, True))

    def chain_ready(self, n, dtype):
        """Whether the plan runs this layer's steps as tasks for ``n`` rows."""
        macs = n * self.n_in * self.n_out
        plan = self.plan
        return all(plan.runs_task(step[0], macs, plan.min_macs)
                   for step in self.chain_steps(dtype))

    def forward_operands(self, x):
        """The forward pass's operands in a chain (``x`` C-contiguous), in
        the product task's layout (:func:`~sknn._kernels.gemm.product_operands`).
        The layer holds its input and output views until the next call."""
        n = x.shape[0]
        self.x = x = x.reshape(n, self.n_in)
        self.out_rows = out = self.out[:n]
        return product_operands(out, x, self.w, False, False, self.b, self.act)[0]

    def backward_operands(self, dout, need_dx, nc):
        """The backward pass's operands in a chain of ``nc`` chunks
        (:func:`~sknn._kernels.gemm.dense_backward_operands`), for ``dout``
        (n, n_out) C-contiguous, which the caller keeps alive."""
        self._parts(nc, dout.dtype)
        return dense_backward_operands(dout, self.out, self.act, self.x, self.w, 1,
                                       self.dx, need_dx, self.dw, self.dw_parts, self.db,
                                       self.db_parts)

    def _parts(self, nc, dtype):
        """The buffers of chunks 1 .. nc - 1's shares of ``dw`` and ``db``
        (made on first use: a batch of fewer rows than the largest may be
        cut too)."""
        if self.dw_parts is None or len(self.dw_parts) < nc - 1 \
                or self.dw_parts.dtype != dtype:
            self.dw_parts = np.empty((nc - 1, self.n_in, self.n_out), dtype)
            self.db_parts = np.empty((nc - 1, self.n_out), dtype)

    def _backward_rows(self, x, dz, src, act, dx, need_dx, nc):
        """The backward pass in ``nc`` batch-row chunks (see
        :data:`~sknn._kernels.gemm.dense_backward_f64`): each chunk's
        ``dz``, its share of ``dw`` and ``db`` and its rows of ``dx``, as a
        task or one chunk after the other with the same calls; then the
        shares are added in chunk order."""
        n = dz.shape[0]
        self._parts(nc, dz.dtype)
        w = self.w
        w_is_rows = w.flags.c_contiguous  # a tied layer's w is a transpose
        task = dense_backward_f32 if dz.dtype == np.float32 else dense_backward_f64
        if self.plan.runs_task(task, n * self.n_in * self.n_out, self.plan.min_macs):
            wb = w if w_is_rows else w.T
            args = np.array(dense_backward_operands(
                dz, src, act, x, wb, w_is_rows, dx, need_dx, self.dw, self.dw_parts,
                self.db, self.db_parts), dtype=np.int64)
            # the finishing call adds the shares as below
            run_task(task, nc, self.plan.n_threads, args, DENSE_BACKWARD_REFS, finish=True)
            return
        for c in range(nc):
            r0, r1 = row_bounds(c, nc, n)
            dw = self.dw if c == 0 else self.dw_parts[c - 1]
            db = self.db if c == 0 else self.db_parts[c - 1]
            act_grad_colsum(dz[r0:r1], src[r0:r1], act, db)
            blas_product(dw, x[r0:r1], dz[r0:r1], trans_a=True)
            if need_dx:
                if w_is_rows:
                    blas_product(dx[r0:r1], dz[r0:r1], w, trans_b=True)
                else:
                    blas_product(dx[r0:r1], dz[r0:r1], w.T)
        for c in range(1, nc):
            self.dw += self.dw_parts[c - 1]
            self.db += self.db_parts[c - 1]


class Dropout(Layer):
    """Inverted dropout on the previous layer's output (training only).

    The uniform draws come from the engine's seeded generator, so masks are
    reproducible and independent of the thread count.  ``mask_shape`` (the
    per-sample shape of the draws, broadcast over the input) is the input's
    own shape; subclasses draw fewer (one per feature map).
    """

    def __init__(self, shape, rate):
        self.in_shape = self.out_shape = tuple(shape)
        self.mask_shape = self.in_shape
        self.rate = float(rate)

    def allocate(self, max_batch, dtype):
        shape = (max_batch,) + self.in_shape
        self.out = buffer(getattr(self, "out", None), shape, dtype)
        self.dx = buffer(getattr(self, "dx", None), shape, dtype)
        self.mask = buffer(getattr(self, "mask", None), (max_batch,) + self.mask_shape,
                           dtype)

    def forward(self, x, training, rng):
        if not training or self.rate == 0.0:
            self.active = False
            return x
        self.active = True
        n = x.shape[0]
        mask = self.mask[:n]
        rng.random(out=mask, dtype=mask.dtype)
        # mask = (u >= rate) / (1 - rate), in place
        np.multiply(mask >= self.rate, mask.dtype.type(1.0 / (1.0 - self.rate)), out=mask)
        out = self.out[:n]
        np.multiply(x.reshape((n,) + self.in_shape), mask, out=out)
        return out

    def backward(self, dout, need_dx):
        if not self.active:
            return dout
        n = dout.shape[0]
        dx = self.dx[:n]
        np.multiply(dout.reshape((n,) + self.in_shape), self.mask[:n], out=dx)
        return dx


# Layer names used in the plain-Python architecture specs that estimators
# store as fitted state (``_layer_specs_``).  Other modules register theirs.
LAYERS = {"dense": Dense, "dropout": Dropout}
