"""Convolution and pooling layers over the kernels of :mod:`sknn._kernels.conv`.

Shapes are per sample and channels-first: ``in_shape = (C, H, W)``.  Weights
use PyTorch's layout ``(out_channels, in_channels, kernel_h, kernel_w)``; a
dense layer after the last block sees the feature maps flattened in C order
of ``(channels, height, width)`` (a free reshape of the contiguous buffer).
"""

import numpy as np

from ._kernels.activations import ACTIVATION_CODES, LOGISTIC
from ._kernels.conv import (
    conv2d_backward,
    conv2d_backward_gemm,
    conv2d_forward,
    conv2d_forward_gemm,
    conv2d_method,
    conv2d_workspace_shape,
    conv_output_size,
    conv_padding,
    maxpool2d_backward,
    maxpool2d_forward,
    meanpool2d_backward,
    meanpool2d_forward,
)
from ._layers import LAYERS, Layer

RECTIFIERS = {ACTIVATION_CODES[a] for a in ("relu", "leaky_relu", "elu")}

#: A GEMM convolution layer keeps its training batch's im2col matrices for
#: the backward pass when they take at most this many bytes (LeNet's layers
#: take 7.7 and 6.6 MB at batch 128, float32); larger layers rebuild them.
KEEP_COLS_BYTES = 32 * 2**20


class Conv2D(Layer):
    """2-D convolution (cross-correlation) + bias + fused activation."""

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
        self.method = conv2d_method(c, self.filters, k, k, oh, ow)
        self.work_shape = conv2d_workspace_shape(c, self.filters, k, k, oh, ow,
                                                 method=self.method)

    def param_shapes(self):
        return (self.filters,) + (self.in_shape[0], self.k, self.k), (self.filters,)

    def bind(self, w, b, dw, db):
        self.w, self.b, self.dw, self.db = w, b, dw, db

    def init_params(self, rs, dtype):
        # He-uniform for rectifiers (bound sqrt(6 / fan_in)), Glorot-uniform
        # otherwise; biases U(+-1/sqrt(fan_in)) as PyTorch. Measured on the
        # documented digits network (4 seeds): He 98.4% mean test accuracy,
        # Glorot 98.2%, and Glorot missed 98% for random_state=0.
        fan_in = self.in_shape[0] * self.k * self.k
        fan_out = self.filters * self.k * self.k
        if self.act in RECTIFIERS:
            bound = np.sqrt(6.0 / fan_in)
        else:
            bound = np.sqrt(self.init_factor / (fan_in + fan_out))
        self.w[...] = rs.uniform(-bound, bound, self.w.shape)
        bias_bound = 1.0 / np.sqrt(fan_in)
        self.b[...] = rs.uniform(-bias_bound, bias_bound, self.filters)

    def allocate(self, max_batch, dtype):
        self.out = np.empty((max_batch,) + self.out_shape, dtype=dtype)
        self.dx = np.empty((max_batch,) + self.in_shape, dtype=dtype)
        self.work = np.empty(self.work_shape, dtype=dtype)
        # im2col matrices kept from forward to backward (rebuilding them cost
        # 2-4% of a LeNet fit and 6-15% of a digits CNN fit, A/B measured);
        # allocated by the first training forward, so prediction-only
        # networks do not pay for them.
        shape = (max_batch, self.in_shape[0] * self.k * self.k + 1,
                 self.out_shape[1] * self.out_shape[2])
        self.cols = np.empty((0,) + shape[1:], dtype=dtype)  # none kept yet
        fits = np.prod(shape) * self.cols.itemsize <= KEEP_COLS_BYTES
        self.cols_shape = shape if self.method == "gemm" and fits else None

    def _kept_cols(self, n, training):
        """``keep`` for the GEMM kernels: rows for ``n`` samples, or none."""
        if training and self.cols_shape is not None and not self.cols.shape[0]:
            self.cols = np.empty(self.cols_shape, dtype=self.cols.dtype)
        return self.cols[:n] if self.cols.shape[0] else self.cols

    def forward(self, x, training, rng):
        n = x.shape[0]
        x = x.reshape((n,) + self.in_shape)
        out = self.out[:n]
        ph, pw = self.pad
        if self.method == "gemm":
            conv2d_forward_gemm(out, x, self.w, self.b, self.stride, ph, pw, self.work,
                                self.act, self._kept_cols(n, training))
        else:
            conv2d_forward(out, x, self.w, self.b, self.stride, ph, pw, self.act)
        self.x = x
        return out

    def backward(self, dout, need_dx):
        n = dout.shape[0]
        dout = dout.reshape((n,) + self.out_shape)
        dx = self.dx[:n]
        ph, pw = self.pad
        if self.method == "gemm":
            conv2d_backward_gemm(dx, self.dw, self.db, dout, self.out[:n], self.x, self.w,
                                 self.stride, ph, pw, need_dx, self.work, self.act,
                                 self._kept_cols(n, False))
        else:
            conv2d_backward(dx, self.dw, self.db, dout, self.out[:n], self.x, self.w,
                            self.stride, ph, pw, need_dx, self.work, self.act)
        return dx if need_dx else None


class Pool2D(Layer):
    """Non-overlapping max or mean pooling (floor mode).

    Windows are ``size x size``, clipped to the feature map along an axis
    that is shorter than ``size`` (so a ``1 x n`` strip pools ``1 x size``).
    """

    def __init__(self, in_shape, size=2, mode="max"):
        c, h, w = (int(v) for v in in_shape)
        self.in_shape = (c, h, w)
        self.size = (min(int(size), h), min(int(size), w))
        self.mode = mode
        self.out_shape = (c, h // self.size[0], w // self.size[1])

    def allocate(self, max_batch, dtype):
        self.out = np.empty((max_batch,) + self.out_shape, dtype=dtype)
        self.dx = np.empty((max_batch,) + self.in_shape, dtype=dtype)
        if self.mode == "max":
            self.argmax = np.empty((max_batch,) + self.out_shape, dtype=np.int32)

    def forward(self, x, training, rng):
        n = x.shape[0]
        x = x.reshape((n,) + self.in_shape)
        out = self.out[:n]
        sh, sw = self.size
        if self.mode == "max":
            maxpool2d_forward(out, self.argmax[:n], x, sh, sw)
        else:
            meanpool2d_forward(out, x, sh, sw)
        return out

    def backward(self, dout, need_dx):
        n = dout.shape[0]
        dout = dout.reshape((n,) + self.out_shape)
        dx = self.dx[:n]
        sh, sw = self.size
        if self.mode == "max":
            maxpool2d_backward(dx, dout, self.argmax[:n], sh, sw)
        else:
            meanpool2d_backward(dx, dout, sh, sw)
        return dx


LAYERS.update({"conv2d": Conv2D, "pool2d": Pool2D})
