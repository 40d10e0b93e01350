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

Every layer reads ``self.plan`` (:class:`sknn._runtime.ExecutionPlan`, set by
the network for each call) to decide how its work is chunked and run.
"""

import numpy as np
import scipy.sparse as sp

from ._kernels.activations import ACTIVATION_CODES, LOGISTIC
from ._kernels.dense import act_grad_colsum, bias_act
from ._runtime import SERIAL


def n_rows(x):
    """Number of samples in a dense array or a sparse batch."""
    return x.shape[0]


def row_bounds(c, nc, n):
    """Rows ``[r0, r1)`` of chunk ``c`` of ``nc`` over ``n`` rows."""
    return c * n // nc, (c + 1) * n // nc


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

    The products are NumPy calls on BLAS; a product of at least the plan's
    ``parallel_min_macs`` is cut into row chunks (the forward pass and
    ``dx``: batch rows; ``dw``: weight rows), each one BLAS call on its own
    rows, run on the plan's threads.
    """

    def __init__(self, n_in, n_out, activation="identity", init_activation=None):
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.in_shape = (self.n_in,)
        self.out_shape = (self.n_out,)
        self.act = ACTIVATION_CODES[activation]
        init_act = activation if init_activation is None else init_activation
        self.init_factor = 2.0 if ACTIVATION_CODES[init_act] == LOGISTIC else 6.0
        self.out = self.dx = self.db_parts = None

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
        self.out = buffer(self.out, (max_batch, self.n_out), dtype)
        self.dx = buffer(self.dx, (max_batch, self.n_in), dtype)
        self.db_parts = buffer(self.db_parts, (self.plan.split, self.n_out), dtype)

    def forward(self, x, training, rng):
        n = n_rows(x)
        out = self.out[:n]
        w, b, act = self.w, self.b, self.act
        self.x = x
        if sp.issparse(x):
            out[...] = x @ w
            bias_act(out, b, act)
            return out
        x = x.reshape(n, self.n_in)
        nc = self.plan.chunks(n, self.n_in * self.n_out)
        if nc == 1:
            np.matmul(x, w, out=out)
            bias_act(out, b, act)
            return out

        def rows(c, slot):
            r0, r1 = row_bounds(c, nc, n)
            np.matmul(x[r0:r1], w, out=out[r0:r1])
            bias_act(out[r0:r1], b, act)

        self.plan.run(rows, nc)
        return out

    def backward(self, dout, need_dx):
        """``dout`` (n, n_out) holds dL/d(out); it is overwritten with
        ``dz = dout * f'(z)``.  Then ``dw = x.T @ dz``, ``db = sum_rows(dz)``
        and, when ``need_dx``, ``dx = dz @ w.T``."""
        x = self.x
        n = n_rows(x)
        out = self.out[:n]
        dz = dout.reshape(n, self.n_out)
        dx = self.dx[:n]
        if sp.issparse(x):
            act_grad_colsum(dz, out, self.act, self.db)
            self.dw[...] = x.T @ dz
            return None
        x = x.reshape(n, self.n_in)
        plan = self.plan
        nc = plan.chunks(n, self.n_in * self.n_out)
        if nc == 1:
            act_grad_colsum(dz, out, self.act, self.db)
            np.matmul(x.T, dz, out=self.dw)
            if need_dx:
                np.matmul(dz, self.w.T, out=dx)
        else:
            parts = self.db_parts[:nc]

            def rows(c, slot):
                r0, r1 = row_bounds(c, nc, n)
                act_grad_colsum(dz[r0:r1], out[r0:r1], self.act, parts[c])
                if need_dx:
                    np.matmul(dz[r0:r1], self.w.T, out=dx[r0:r1])

            plan.run(rows, nc)
            np.sum(parts, axis=0, out=self.db)
            kc = plan.chunks(self.n_in, n * self.n_out)

            def weight_rows(c, slot):
                i0, i1 = row_bounds(c, kc, self.n_in)
                np.matmul(x[:, i0:i1].T, dz, out=self.dw[i0:i1])

            plan.run(weight_rows, kc)
        return dx.reshape((n,) + self.in_shape) if need_dx else None


class Dropout(Layer):
    """Inverted dropout on the previous layer's output (training only).

    The uniform draws come from the engine's seeded generator, so masks are
    reproducible and independent of the thread count.
    """

    def __init__(self, shape, rate):
        self.in_shape = self.out_shape = tuple(shape)
        self.rate = float(rate)

    def allocate(self, max_batch, dtype):
        shape = (max_batch,) + self.in_shape
        self.out = np.empty(shape, dtype=dtype)
        self.mask = np.empty(shape, dtype=dtype)
        self.dx = np.empty(shape, dtype=dtype)

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
        np.multiply(x, mask, out=out)
        return out

    def backward(self, dout, need_dx):
        if not self.active:
            return dout
        n = dout.shape[0]
        dx = self.dx[:n]
        np.multiply(dout, self.mask[:n], out=dx)
        return dx


# Layer names used in the plain-Python architecture specs that estimators
# store as fitted state (``_layer_specs_``).  Other modules register theirs.
LAYERS = {"dense": Dense, "dropout": Dropout}
