"""Convolution and pooling layers over the kernels of :mod:`sknn._kernels.conv`.

Shapes are per sample and channels-first: ``in_shape = (C, H, W)``.  Weights
use PyTorch's layout ``(out_channels, in_channels, kernel_h, kernel_w)``; a
dense layer after the last block sees the feature maps flattened in C order
of ``(channels, height, width)`` (a free reshape of the contiguous buffer).
Global pooling is a :class:`Pool2D` whose window is the whole feature map,
and :class:`SpatialDropout` drops whole feature maps in NumPy.
"""

import numpy as np

from ._kernels.activations import (
    ACTIVATION_CODES,
    LOGISTIC,
    NEEDS_PREACTIVATION,
)
from ._kernels.conv import (
    BACKWARD_REFS,
    FORWARD_REFS,
    POOL_ARGS,
    POOL_CODES,
    POOL_REFS,
    col2im,
    conv_backward_f32,
    conv_backward_f64,
    conv_delta,
    conv_forward_f32,
    conv_forward_f64,
    conv_out,
    conv_output_size,
    conv_padding,
    exact_max_2x2,
    im2col,
    max_pool_2x2,
    max_unpool_2x2,
    pool_backward,
    pool_f32,
    pool_f64,
    pool_forward,
)
from ._kernels.gemm import blas_product
from ._layers import (
    LAYERS,
    Dropout,
    Layer,
    basic_code,
    buffer,
    draw_weights,
    finish_activation,
    start_activation_grad,
)
from ._runtime import row_bounds, run_task, threshold

RECTIFIERS = {ACTIVATION_CODES[a] for a in ("relu", "leaky_relu", "elu")}


class Conv2D(Layer):
    """2-D convolution (cross-correlation) + bias + fused activation.

    A batch is cut into chunks of samples by the plan (from the layer's
    multiply-adds per sample); each chunk is one im2col matrix
    ``cols (K, g*P)`` and one BLAS product ``y = w2 @ cols``
    (``w2 = w.reshape(F, K)``) scattered into the output with the bias and
    the activation.  The backward pass reverses it: ``dy`` in im2col order,
    ``dw2 = dy @ cols.T`` (per chunk, added in chunk order), ``dcols = w2.T
    @ dy`` gathered back into ``dx`` by ``col2im``.  A training batch's im2col
    matrices are kept for the backward pass when they fit in
    ``conv_cols_bytes``; otherwise each chunk rebuilds its own.

    The chunks are cut by shape alone.  They run as one task on the plan's
    threads (:data:`~sknn._kernels.conv.conv_forward_f64` and the others,
    their products on SciPy's BLAS through ``cython_blas``) when
    :meth:`~sknn._runtime.ExecutionPlan.runs_task` says so; otherwise one
    after the other on the calling thread with the same kernels and the same
    BLAS calls (:func:`~sknn._kernels.gemm.blas_product`), so the result is
    the same bits either way and nothing parallel is compiled.
    """

    def __init__(self, in_shape, filters, kernel_size, stride=1, padding="same",
                 activation="relu"):
        c, h, w = (int(v) for v in in_shape)
        k = int(kernel_size)
        self.in_shape = (c, h, w)
        self.filters = int(filters)
        self.k = k
        self.stride = int(stride)
        oh = conv_output_size(h, k, self.stride, padding)
        ow = conv_output_size(w, k, self.stride, padding)
        self.pad = (conv_padding(h, k, self.stride, padding),
                    conv_padding(w, k, self.stride, padding))
        self.out_shape = (self.filters, oh, ow)
        self.act = ACTIVATION_CODES[activation]
        self.init_factor = 2.0 if self.act == LOGISTIC else 6.0
        # GELU/SiLU: keep z for the backward pass (see Dense).
        self.keeps_pre = self.act in NEEDS_PREACTIVATION
        self.K = c * k * k
        self.P = oh * ow
        self.out = self.dx = self.pre = None

    def param_shapes(self):
        return (self.filters,) + (self.in_shape[0], self.k, self.k), (self.filters,)

    def bind(self, w, b, dw, db):
        self.w, self.b, self.dw, self.db = w, b, dw, db
        self.task_args = [None, None]

    def init_params(self, rs, dtype, init=None):
        # ``init=None``: He-uniform for rectifiers (bound sqrt(6 / fan_in)),
        # Glorot-uniform otherwise; biases U(+-1/sqrt(fan_in)) as PyTorch.
        # A named scheme draws the weights by its formula, biases at zero.
        fan_in = self.in_shape[0] * self.k * self.k
        fan_out = self.filters * self.k * self.k
        if init is not None:
            self.w[...] = draw_weights(rs, self.w.shape, fan_in, fan_out, init,
                                       self.init_factor)
            self.b[...] = 0.0
            return
        if self.act in RECTIFIERS:
            bound = np.sqrt(6.0 / fan_in)
        else:
            bound = np.sqrt(self.init_factor / (fan_in + fan_out))
        self.w[...] = rs.uniform(-bound, bound, self.w.shape)
        bias_bound = 1.0 / np.sqrt(fan_in)
        self.b[...] = rs.uniform(-bias_bound, bias_bound, self.filters)

    def allocate(self, max_batch, dtype):
        F, K, P = self.filters, self.K, self.P
        self.out = buffer(self.out, (max_batch,) + self.out_shape, dtype)
        self.dx = buffer(self.dx, (max_batch,) + self.in_shape, dtype)
        if self.keeps_pre:
            self.pre = buffer(self.pre, (max_batch,) + self.out_shape, dtype)
        split = self.plan.split
        nc = self._split(max_batch)
        # Samples per chunk: the batch's share, but at most conv_chunk_columns
        # output positions (BLAS runs the long inner dimension of the weight
        # gradient, dy @ cols.T, far slower in one product than in blocks),
        # and at most conv_cols_bytes of im2col matrix.  Every chunk's matrix
        # is kept from forward to backward when they fit there together.
        per_sample = K * P * np.dtype(dtype).itemsize
        cap = max(1, threshold("conv_cols_bytes") // per_sample)
        width = max(1, threshold("conv_chunk_columns") // P)
        self.group = min(-(-max_batch // nc), cap, width)
        max_chunks = max(nc, -(-max_batch // self.group))
        self.keep = self.keep_cols(max_chunks * self.group * per_sample)
        slots = max_chunks if self.keep else split
        # Flat rows, viewed as C-contiguous (K, width) / (F, width) matrices
        # for a chunk of any width (a column slice would not be contiguous).
        self.cols = np.empty((slots, K * self.group * P), dtype=dtype)
        self.y = np.empty((split, F * self.group * P), dtype=dtype)
        self.dw_parts = np.empty((max_chunks, K, F), dtype=dtype)  # each chunk's dw.T
        self.db_parts = np.empty((max_chunks, F), dtype=dtype)
        # The tasks' args arrays, made on first use: most entries are fixed
        # once the parameters are bound and the buffers allocated.
        self.task_args = [None, None]

    @staticmethod
    def keep_cols(nbytes):
        """Whether a batch's im2col matrices (``nbytes``) are kept for the
        backward pass (rebuilt there otherwise; the same bits either way)."""
        return nbytes <= threshold("conv_cols_bytes")

    def _cols(self, x, c, slot, nc, n, build):
        """Chunk ``c``'s im2col matrix and sample range (built when asked)."""
        n0, n1 = row_bounds(c, nc, n)
        width = (n1 - n0) * self.P
        cols = self.cols[c if self.keep else slot][:self.K * width].reshape(self.K, width)
        if build:
            ph, pw = self.pad
            oh, ow = self.out_shape[1:]
            im2col(cols, x, n0, n1, self.k, self.k, self.stride, ph, pw, oh, ow)
        return cols, n0, n1

    def _split(self, n):
        """Chunks a batch of ``n`` samples is cut into (at least)."""
        return self.plan.chunks(n, self.filters * self.K * self.P,
                                threshold("conv_split_min_macs"))

    def _geometry(self):
        ph, pw = self.pad
        return [self.k, self.stride, ph, pw]

    def forward(self, x, training, rng):
        n = x.shape[0]
        x = x.reshape((n,) + self.in_shape)
        out = self.out[:n]
        w2 = self.w.reshape(self.filters, self.K)
        # Chunks of at most ``group`` samples, cut by shape alone; they run
        # in parallel when the plan says so (the same bits either way).
        nc = max(self._split(n), -(-n // self.group))
        x = np.ascontiguousarray(x)
        self.x = x
        self.nc = nc
        task = conv_forward_f32 if out.dtype == np.float32 else conv_forward_f64
        if nc > 1 and self.plan.runs_task(task, n * self.filters * self.K * self.P,
                                          self.plan.min_macs):
            args = self.task_args[0]
            if args is None:
                args = self.task_args[0] = np.array([
                    out.ctypes.data, n, *self.out_shape, x.ctypes.data, *self.in_shape,
                    w2.ctypes.data, self.K, self.b.ctypes.data, self.cols.ctypes.data,
                    *self.cols.shape, self.y.ctypes.data, *self.y.shape, self.keep,
                    *self._geometry(), basic_code(self.act)], dtype=np.int64)
            args[1] = n
            args[5] = id(x)
            run_task(task, nc, self.plan.n_threads, args, FORWARD_REFS)
        else:
            for c in range(nc):
                cols, n0, n1 = self._cols(x, c, 0, nc, n, True)
                y = self.y[0][:self.filters * cols.shape[1]].reshape(self.filters, -1)
                blas_product(y, w2, cols)
                conv_out(out, y, self.b, n0, n1, basic_code(self.act))
        if self.keeps_pre:
            np.copyto(self.pre[:n], out)
        finish_activation(out, self.act)
        return out

    def backward(self, dout, need_dx):
        n = dout.shape[0]
        dout = dout.reshape((n,) + self.out_shape)
        dx = self.dx[:n]
        F, K = self.filters, self.K
        w2 = self.w.reshape(F, K)
        nc = self.nc
        src = (self.pre if self.keeps_pre else self.out)[:n]
        act = start_activation_grad(dout, src, self.act)
        ph, pw = self.pad
        task = conv_backward_f32 if dout.dtype == np.float32 else conv_backward_f64
        if nc > 1 and self.plan.runs_task(task, n * F * K * self.P, self.plan.min_macs):
            args = self.task_args[1]
            if args is None:
                args = self.task_args[1] = np.array([
                    dx.ctypes.data, n, *self.in_shape, dout.ctypes.data, *self.out_shape,
                    src.ctypes.data, self.x.ctypes.data, w2.ctypes.data, K,
                    self.cols.ctypes.data, *self.cols.shape, self.y.ctypes.data,
                    *self.y.shape, self.dw_parts.ctypes.data, self.dw_parts.shape[0],
                    self.db_parts.ctypes.data, self.keep, need_dx, *self._geometry(), act,
                    self.dw.ctypes.data, self.db.ctypes.data], dtype=np.int64)
            args[1] = n
            x = self.x
            args[5] = id(dout)
            args[10] = id(x)
            args[23] = need_dx
            args[28] = act
            # the finishing call adds the chunks' shares as below
            run_task(task, nc, self.plan.n_threads, args, BACKWARD_REFS, finish=True)
            return dx if need_dx else None
        oh, ow = self.out_shape[1:]
        for c in range(nc):
            cols, n0, n1 = self._cols(self.x, c, 0, nc, n, not self.keep)
            dy = self.y[0][:F * cols.shape[1]].reshape(F, -1)
            conv_delta(dy, dout, src, n0, n1, act, self.db_parts[c])
            blas_product(self.dw_parts[c], cols, dy, trans_b=True)
            if need_dx:
                # the chunk's cols are not needed again
                blas_product(cols, w2, dy, trans_a=True)
                col2im(dx, cols, n0, n1, self.k, self.k, self.stride, ph, pw, oh, ow)
        # the chunks' shares added in chunk order (np.add: a quarter of
        # np.sum's call overhead on these small arrays)
        dw = self.dw.reshape(F, K).T
        if nc == 1:
            np.copyto(dw, self.dw_parts[0])
            np.copyto(self.db, self.db_parts[0])
        else:
            np.add(self.dw_parts[0], self.dw_parts[1], out=dw)
            np.add(self.db_parts[0], self.db_parts[1], out=self.db)
            for c in range(2, nc):
                dw += self.dw_parts[c]
                self.db += self.db_parts[c]
        return dx if need_dx else None


class Pool2D(Layer):
    """Non-overlapping max or mean pooling (floor mode).

    Windows are ``size x size`` (or ``size = (size_h, size_w)``), clipped to
    the feature map along an axis that is shorter than the window (so a
    ``1 x n`` strip pools ``1 x size``).  A window of the whole map,
    ``size = (H, W)``, is global pooling: one value per feature map.
    """

    def __init__(self, in_shape, size=2, mode="max"):
        c, h, w = (int(v) for v in in_shape)
        self.in_shape = (c, h, w)
        sh, sw = (size, size) if np.ndim(size) == 0 else size
        self.size = (min(int(sh), h), min(int(sw), w))
        self.mode = mode
        self.code = POOL_CODES[mode]
        self.out_shape = (c, h // self.size[0], w // self.size[1])
        self.elems = c * h * w
        self.exact_2x2 = exact_max_2x2.py_func(self.code, *self.size, h, w,
                                               *self.out_shape[1:])

    def allocate(self, max_batch, dtype):
        self.out = np.empty((max_batch,) + self.out_shape, dtype=dtype)
        self.dx = np.empty((max_batch,) + self.in_shape, dtype=dtype)
        self.arg = np.zeros((max_batch,) + self.out_shape, dtype=np.int32)
        self.task = pool_f32 if np.dtype(dtype) == np.float32 else pool_f64
        self.arg_address = self.arg.ctypes.data

    def _run(self, backward, inner, outer, n):
        """One pooling pass (``inner``: ``x`` or ``dx``; ``outer``: ``out``
        or ``dout``) over the plan's sample chunks."""
        sh, sw = self.size
        nc = self.plan.chunks(n, self.elems, threshold("pool_split_min_elements"))
        if nc > 1 and self.plan.runs_task(self.task, n * self.elems, self.plan.min_elements):
            args = np.array(self._operands(inner, outer, n, backward), dtype=np.int64)
            run_task(self.task, nc, self.plan.n_threads, args, POOL_REFS)
            return
        if backward:
            kernel = max_unpool_2x2 if self.exact_2x2 else pool_backward
            operands = (inner, outer, self.arg)
        else:
            kernel = max_pool_2x2 if self.exact_2x2 else pool_forward
            operands = (outer, self.arg, inner)
        for c in range(nc):
            n0, n1 = row_bounds(c, nc, n)
            kernel(*operands, n0, n1, sh, sw, self.code)

    def forward(self, x, training, rng):
        n = x.shape[0]
        out = self.out[:n]
        self._run(False, np.ascontiguousarray(x.reshape((n,) + self.in_shape)), out, n)
        return out

    def chain_rows(self, n):
        """The sample chunks of this layer's passes over ``n`` samples, by
        shape alone, for a chain of tasks (:meth:`sknn._layers.Dense.chain_rows`)."""
        return self.plan.chunks(n, self.elems, threshold("pool_split_min_elements"))

    def chain_steps(self, dtype):
        """The forward and backward steps in a chain of tasks (one task, told
        the direction by its operands); see :meth:`sknn._layers.Dense.chain_steps`."""
        task = pool_f32 if np.dtype(dtype) == np.float32 else pool_f64
        return (task, POOL_ARGS, POOL_REFS, False), (task, POOL_ARGS, POOL_REFS, False)

    def chain_ready(self, n, dtype):
        """Whether the plan runs this layer's task for ``n`` samples."""
        return self.plan.runs_task(self.task, n * self.elems, self.plan.min_elements)

    def _operands(self, inner, outer, n, backward):
        """The pooling task's operands (:data:`~sknn._kernels.conv.POOL_ARGS`)
        for one pass over ``n`` samples (the caller keeps the arrays alive)."""
        return [id(inner), id(outer), self.arg_address, n, *self.in_shape,
                *self.out_shape[1:], *self.size, self.code, int(backward)]

    def forward_operands(self, x):
        """The forward pass's operands in a chain (C-contiguous ``x``); the
        input is kept for the call."""
        n = x.shape[0]
        self.x = x.reshape((n,) + self.in_shape)
        return self._operands(self.x, self.out, n, 0)

    def backward_operands(self, dout, need_dx, nc):
        """The backward pass's operands in a chain, for C-contiguous ``dout``
        (the caller keeps it alive)."""
        return self._operands(self.dx, dout, dout.shape[0], 1)

    def backward(self, dout, need_dx):
        n = dout.shape[0]
        dx = self.dx[:n]
        self._run(True, dx, np.ascontiguousarray(dout.reshape((n,) + self.out_shape)), n)
        return dx


class SpatialDropout(Dropout):
    """Inverted dropout of whole feature maps (training only).

    One uniform draw per sample and channel, from the engine's seeded
    generator, keeps or zeroes the channel's whole ``H x W`` map (scaled by
    ``1 / (1 - rate)`` when kept): neighbouring pixels of a map are strongly
    correlated, so dropping single pixels would hardly regularise.  A
    :class:`Dropout` subclass, so the network treats it as training-only.
    """

    def __init__(self, shape, rate):
        super().__init__(shape, rate)
        self.mask_shape = (self.in_shape[0], 1, 1)


LAYERS.update({"conv2d": Conv2D, "pool2d": Pool2D, "spatial_dropout": SpatialDropout})
