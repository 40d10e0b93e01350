"""Layers used by :class:`~sknn.AutoEncoderTransformer` (usable by any network).

* :class:`TiedDense`: a dense layer without weights of its own; it runs
  :class:`~sknn._layers.Dense`'s passes on the transposed view of an earlier
  dense layer's weights and adds its weight gradient to that layer's
  (``finish_backward``).
* :class:`Noise`: input corruption at training time only (additive Gaussian
  or masking noise), drawn from the engine's seeded generator into
  preallocated buffers, as :class:`~sknn._layers.Dropout` does.
* :class:`ActivityL1`: an L1 penalty on the activations that pass through it
  (identity forward); it reports its weighted penalty to the loss through
  ``penalty(sw)`` and adds the penalty's gradient in ``backward``.

The network calls three optional hooks (see :class:`~sknn._network.Network`):
``link(layers)`` once when it is assembled, ``penalty(sw)`` after each forward
pass that is followed by a loss (training, L-BFGS, validation loss), and
``finish_backward()`` after every layer's ``backward``.

Importing this module registers the layers in :data:`sknn._layers.LAYERS`
under ``"tied_dense"``, ``"noise"`` and ``"activity_l1"``.
"""

import numpy as np
import scipy.sparse as sp

from ._layers import LAYERS, Dense, Layer, buffer, n_rows

NOISE_TYPES = ("gaussian", "mask")


class TiedDense(Dense):
    """Dense layer whose weights are the transpose of layer ``tied_to``'s.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths; the source layer must map ``n_out -> n_in``.
    tied_to : int
        Index (in the network's layer list) of the :class:`Dense` layer whose
        weight matrix ``w (n_out, n_in)`` this layer uses as ``w.T``.
    activation : str
        Fused activation.
    init_activation : str or None
        Activation whose Glorot factor scales the initial bias (default: the
        layer's own activation). Only the bias is drawn: the weights belong to
        the source layer.

    Forward and backward are :class:`Dense`'s, run on ``w = source.w.T``
    with the weight gradient going to ``gwt`` (``(n_in, n_out)``), which is
    added into the source's gradient once the whole backward pass is done.
    """

    def __init__(self, n_in, n_out, tied_to, activation="identity",
                 init_activation=None):
        super().__init__(n_in, n_out, activation, init_activation)
        self.tied_to = int(tied_to)
        self.source = None
        self.pending = False

    @property
    def w(self):
        return self.source.w.T

    def link(self, layers):
        src = layers[self.tied_to]
        if not isinstance(src, Dense) or (src.n_in, src.n_out) != (self.n_out, self.n_in):
            raise ValueError(
                f"TiedDense({self.n_in} -> {self.n_out}) must be tied to a Dense "
                f"layer mapping {self.n_out} -> {self.n_in}; layer {self.tied_to} "
                f"is {type(src).__name__}."
            )
        self.source = src

    def param_shapes(self):
        return None, (self.n_out,)

    def bind(self, w, b, dw, db):
        self.b = b
        self.db = db

    def init_params(self, rs, dtype, init="glorot_uniform"):
        if init not in (None, "glorot_uniform"):  # other schemes: biases at 0
            self.b[...] = 0.0
            return
        bound = np.sqrt(self.init_factor / (self.n_in + self.n_out))
        self.b[...] = rs.uniform(-bound, bound, self.n_out)

    def allocate(self, max_batch, dtype):
        super().allocate(max_batch, dtype)
        # Gradient with respect to the transposed weights, (n_in, n_out).
        self.dw = self.gwt = buffer(getattr(self, "gwt", None), (self.n_in, self.n_out),
                                    dtype)

    def backward(self, dout, need_dx):
        dx = super().backward(dout, need_dx)
        self.pending = True
        return dx

    def finish_backward(self):
        # The source layer runs its own backward after this one (it is earlier
        # in the network) and overwrites its gradient, so the tied part is
        # added only once the whole backward pass is done.
        if self.pending:
            self.source.dw += self.gwt.T
            self.pending = False


class Noise(Layer):
    """Input corruption during training (identity at inference).

    Parameters
    ----------
    shape : tuple of int
        Per-sample shape.
    level : float
        Standard deviation of the additive Gaussian noise, or the probability
        of zeroing each input for masking noise (no rescaling, as in denoising
        autoencoders).
    kind : {'gaussian', 'mask'}
    """

    def __init__(self, shape, level, kind="gaussian"):
        if kind not in NOISE_TYPES:
            raise ValueError(f"Noise kind must be one of {NOISE_TYPES}, got {kind!r}.")
        self.in_shape = self.out_shape = tuple(shape)
        self.level = float(level)
        self.kind = kind
        self.active = False

    def allocate(self, max_batch, dtype):
        shape = (max_batch,) + self.in_shape
        self.out = np.empty(shape, dtype=dtype)
        self.draws = np.empty(shape, dtype=dtype)
        self.dx = np.empty(shape, dtype=dtype)

    def forward(self, x, training, rng):
        if not training or self.level == 0.0:
            self.active = False
            return x
        self.active = True
        n = n_rows(x)
        draws = self.draws[:n]
        self.sparse = sp.issparse(x)
        if self.sparse and self.kind == "mask":
            # Masking keeps the sparsity pattern: corrupt the stored values.
            x = x.copy()
            u = rng.random(x.data.shape[0], dtype=x.data.dtype)
            x.data[u < self.level] = 0
            return x
        out = self.out[:n]
        dense = x.toarray().reshape(out.shape) if self.sparse else x
        if self.kind == "gaussian":
            # out = x + level * eps (Gaussian noise makes sparse input dense)
            rng.standard_normal(out=draws, dtype=draws.dtype)
            np.multiply(draws, draws.dtype.type(self.level), out=out)
            out += dense
        else:
            # masking noise: out = x where u >= level, else 0 (no rescaling)
            rng.random(out=draws, dtype=draws.dtype)
            np.multiply(dense, draws >= self.level, out=out)
        return out

    def backward(self, dout, need_dx):
        # Only reached when a layer with parameters precedes this one.
        if not self.active or self.kind == "gaussian":
            return dout
        if self.sparse or not need_dx:
            return None
        n = dout.shape[0]
        dx = self.dx[:n]
        np.multiply(dout, self.draws[:n] >= self.level, out=dx)
        return dx


class ActivityL1(Layer):
    """Identity layer adding ``l1 * sum_j |a_j|`` per sample to the loss.

    The penalty is weighted by the sample weights like the data loss; its
    gradient ``l1 * sign(a) * sw`` is added to the incoming gradient.
    """

    def __init__(self, shape, l1):
        self.in_shape = self.out_shape = tuple(shape)
        self.l1 = float(l1)
        self.sw = None

    def allocate(self, max_batch, dtype):
        self.dx = np.empty((max_batch,) + self.in_shape, dtype=dtype)

    def forward(self, x, training, rng):
        self.x = x
        self.sw = None
        return x

    def penalty(self, sw):
        """Weighted penalty sum of the last forward batch (remembers ``sw``)."""
        self.sw = sw
        x = self.x
        rows = np.abs(x.reshape(x.shape[0], -1)).sum(axis=1, dtype=np.float64)
        return self.l1 * float(np.dot(rows, sw))

    def backward(self, dout, need_dx):
        if self.sw is None:
            raise RuntimeError("ActivityL1.backward needs penalty(sw) after forward.")
        x = self.x
        n = x.shape[0]
        dx = self.dx[:n]
        # dx = dout + l1 * sign(x) * sw
        np.sign(x, out=dx)
        g = (self.sw.astype(np.float64) * self.l1).astype(dx.dtype)
        dx *= g.reshape((n,) + (1,) * (dx.ndim - 1))
        dx += dout.reshape(dx.shape)
        return dx


LAYERS.update({"tied_dense": TiedDense, "noise": Noise, "activity_l1": ActivityL1})
