"""2-D convolution and pooling kernels.

Conventions (shared by every kernel in this module)
---------------------------------------------------
* Images are batch-first, channels-first and C-contiguous: ``x`` has shape
  ``(N, C, H, W)``.  Convolution weights use the PyTorch layout
  ``(F, C, KH, KW)``, the bias is ``(F,)`` and the output is ``(N, F, OH, OW)``.
* All float arrays passed to one call share one dtype (float32 or float64),
  are C-contiguous and writable.  Sums are accumulated in that dtype.
* Kernels take their preallocated outputs as the *first* arguments, return
  ``None`` and do not allocate.  Scratch space is a ``work`` argument that the
  caller allocates once; :func:`conv2d_workspace_shape` gives its shape.
* ``stride`` is one Python int used for both spatial axes; ``pad_h`` and
  ``pad_w`` are the padding *before* the image (top, left).  The output size
  is read from the output array, and input positions outside the image are
  treated as zero, so TensorFlow-style asymmetric "same" padding (the extra
  row/column goes at the bottom/right) only needs the top/left pads given by
  :func:`same_padding`.
* Convolution is a cross-correlation (no kernel flip), as in PyTorch::

      out[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q]
                                 * x[n, c, i*stride + p - pad_h, j*stride + q - pad_w]

* Pooling windows are ``size_h x size_w`` (normally square) with stride
  equal to the window; trailing rows/columns that do not fill a window are
  dropped (floor mode, PyTorch's default).

Determinism
-----------
Every ``prange`` iteration writes a disjoint slice of the outputs, and each
output element is computed with a fixed summation order.  The weight and bias
gradients are sums over the batch: sample ``n`` is assigned to block
``k`` with ``k*N//B <= n < (k+1)*N//B`` where ``B = work.shape[0]`` (a fixed
number chosen by the caller, :data:`CONV_NBLOCK` by default), each block is
summed into its own row of ``work`` and the ``B`` rows are then added in
order.  Results therefore depend on ``work.shape[0]`` but never on the number
of threads.

Two implementations
-------------------
``conv2d_forward`` / ``conv2d_backward`` are direct loop nests (no scratch for
the forward pass); ``conv2d_forward_gemm`` / ``conv2d_backward_gemm`` build
im2col matrices in ``work`` (for a group of samples side by side when one
sample's product is small, :func:`conv_group`) and call BLAS
(:func:`.blas.gemm`).  Both
compute the same quantities (to floating-point rounding);
:func:`conv2d_method` picks the faster one for a layer geometry.
"""

import numpy as np

from .._jit import inlined_kernel, kernel, parallel_kernel, prange, prange_index
from .activations import activate, activation_grad
from .blas import gemm

__all__ = [
    "CONV_NBLOCK",
    "conv_output_size",
    "same_padding",
    "conv_padding",
    "pool_output_size",
    "CONV_GROUP_MACS",
    "conv_group",
    "conv2d_workspace_shape",
    "conv2d_method",
    "single_threaded_blas",
    "conv2d_forward",
    "conv2d_backward",
    "conv2d_forward_gemm",
    "conv2d_backward_gemm",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "meanpool2d_forward",
    "meanpool2d_backward",
]

#: Default number of reduction blocks (first axis of the workspace).  Fixed,
#: so that gradients do not depend on the thread count.
CONV_NBLOCK = 16


# ---------------------------------------------------------------------------
# Pure-Python helpers
# ---------------------------------------------------------------------------


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def conv_output_size(size, kernel, stride, padding):
    """Output length of a convolution along one axis.

    ``padding="same"``: ``ceil(size / stride)``;
    ``padding="valid"``: ``(size - kernel) // stride + 1`` (requires
    ``size >= kernel``).
    """
    size = _check_positive_int(size, "size")
    kernel = _check_positive_int(kernel, "kernel")
    stride = _check_positive_int(stride, "stride")
    if padding == "same":
        return -(-size // stride)
    if padding == "valid":
        if size < kernel:
            raise ValueError(
                f"kernel size {kernel} is larger than the input size {size} "
                "with padding='valid'"
            )
        return (size - kernel) // stride + 1
    raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")


def same_padding(size, kernel, stride):
    """Padding *before* the input for TensorFlow-style "same" convolution.

    ``total = max((ceil(size/stride) - 1) * stride + kernel - size, 0)`` and the
    returned value is ``total // 2``; the remaining ``total - total // 2``
    goes after the input (implicit in the kernels).
    """
    out = conv_output_size(size, kernel, stride, "same")
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2


def conv_padding(size, kernel, stride, padding):
    """Padding before the input for ``padding`` in {"same", "valid"}."""
    conv_output_size(size, kernel, stride, padding)  # validates
    return same_padding(size, kernel, stride) if padding == "same" else 0


def pool_output_size(size, pool):
    """Output length of non-overlapping ``pool``-wide pooling (floor mode)."""
    size = _check_positive_int(size, "size")
    pool = _check_positive_int(pool, "pool")
    if size < pool:
        raise ValueError(f"pool size {pool} is larger than the input size {size}")
    return size // pool


#: The GEMM kernels multiply the im2col matrices of several samples at once
#: when one sample's product is small: :func:`conv_group` samples per
#: product, up to about this many multiply-adds.
CONV_GROUP_MACS = 2**17


def conv_group(K, F, P):
    """Samples per product of the GEMM kernels (``K = C*KH*KW``, ``F``
    filters, ``P = OH*OW`` outputs per map).

    A product per sample costs a BLAS call (with its packing) per sample,
    which dominates when the product is small.  Measured on 2 cores
    (OpenBLAS, batch 128, float32): the digits CNN (1->16 channels 3x3 on
    8x8 maps, 10 240 multiply-adds per sample) with 8 samples per product
    fitted 20 epochs in 54.4 and 56.1 ms against 58.8 and 59.8 ms (medians
    of 12 fits interleaved in one process, two runs; its backward kernel
    alone 64-72 -> 43-60 us); LeNet's second layer (8->16 channels 5x5 on
    8x8 outputs, 205 824 per sample) made the LeNet fit 15 % slower with 8
    samples per product, so it keeps one, which writes its output in place.
    """
    return max(1, CONV_GROUP_MACS // (F * (K + 1) * P))


def _gemm_work_cols(K, F, P, g):
    """Columns of a ``method="gemm"`` workspace row (see conv2d_workspace_shape)."""
    cols = (K + 1) * (2 * F + g * P)
    if g > 1:
        cols += F * g * P
    return cols


_conv_group_jit = kernel(conv_group)
_gemm_work_cols_jit = kernel(_gemm_work_cols)


def conv2d_workspace_shape(
    in_channels, n_filters, kernel_h, kernel_w, out_h, out_w,
    method="direct", n_blocks=CONV_NBLOCK,
):
    """Shape of the ``work`` array for the convolution kernels.

    With ``K = in_channels * kernel_h * kernel_w``, ``F = n_filters``,
    ``P = out_h * out_w`` and ``g = conv_group(K, F, P)``, each of the
    ``n_blocks`` rows holds:

    * ``method="direct"`` (``conv2d_backward``): ``F*(K+1)`` values, the
      per-block partial weight and bias gradients, filter by filter ->
      ``(n_blocks, F*(K+1))``.
    * ``method="gemm"`` (``conv2d_forward_gemm`` and ``conv2d_backward_gemm``):
      the partial gradients ``(F, K+1)``, an im2col matrix with a row of
      ones for ``g`` samples ``(K+1, g*P)``, a ``(F, K+1)`` product and, when
      ``g > 1``, ``g`` samples' output maps side by side ``(F, g*P)`` ->
      ``(n_blocks, (K+1)*(2*F + g*P) + [g > 1]*F*g*P)``.

    Any array with ``n_blocks`` rows and at least that many columns works,
    so one array per layer can serve every call of both methods.  The
    workspace does not depend on the batch size.  It must not be shared by
    calls running at the same time (e.g. predict from several threads).
    """
    c = _check_positive_int(in_channels, "in_channels")
    f = _check_positive_int(n_filters, "n_filters")
    kh = _check_positive_int(kernel_h, "kernel_h")
    kw = _check_positive_int(kernel_w, "kernel_w")
    oh = _check_positive_int(out_h, "out_h")
    ow = _check_positive_int(out_w, "out_w")
    nb = _check_positive_int(n_blocks, "n_blocks")
    k = c * kh * kw
    if method == "direct":
        return (nb, f * (k + 1))
    if method == "gemm":
        return (nb, _gemm_work_cols(k, f, oh * ow, conv_group(k, f, oh * ow)))
    raise ValueError(f"method must be 'direct' or 'gemm', got {method!r}")


def conv2d_method(in_channels, n_filters, kernel_h, kernel_w, out_h, out_w):
    """Heuristic choice between the "direct" and "gemm" kernels.

    Measured on a 2-core x86-64 (OpenBLAS, float32 and float64, batch 1 to
    64): im2col + GEMM was faster (forward 1.5-6x, backward 3.5-9x) for every
    layer with ``n_filters * in_channels * kernel_h * kernel_w >= 32``,
    including 1->16 channels 3x3 on 8x8 maps; the direct loop nest only won
    for tiny layers such as 1->1 or 1->4 channels 3x3 on 4x4-8x8 maps, where
    per-call BLAS overhead dominates.  Both methods give the same results up
    to rounding, so this only affects speed.  ``out_h``/``out_w`` are accepted
    for future tuning.
    """
    if n_filters * in_channels * kernel_h * kernel_w >= 32:
        return "gemm"
    return "direct"


def single_threaded_blas():
    """Context manager that limits BLAS (OpenBLAS/MKL) to one thread.

    The ``*_gemm`` kernels call BLAS from inside Numba's parallel threads;
    if BLAS also starts its own threads the two pools oversubscribe the cores
    (measured, 2 cores, batch 64, float32, 16->32 channels 3x3 on 16x16
    maps: forward 1.3 ms with 2 Numba threads and 1 OpenBLAS thread, 6.9 ms
    with 2 OpenBLAS threads, over 60 ms on a busy machine).  Wrap a whole
    fit/predict loop, not each call: entering the context scans the loaded
    libraries.  Results do not depend on the BLAS thread count either way.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------------------
# Small jitted helpers
# ---------------------------------------------------------------------------

# Numba treats a signed array index as possibly negative and emits a
# wraparound select for it, which blocks vectorisation (measured ~10x slower
# inner loops).  Every index in the hot loops below is known to be in range
# and is cast with ``_U`` (a free bit cast in LLVM) so no wraparound is
# emitted.  Only cast values that are already >= 0.
_U = np.uint64


@kernel
def _valid_range(off, stride, size, n_out):
    """Range ``[lo, hi)`` of ``j`` in ``[0, n_out)`` with ``0 <= j*stride + off < size``."""
    lo = 0
    if off < 0:
        lo = (-off + stride - 1) // stride
    hi = 0
    if size > off:
        hi = (size - off + stride - 1) // stride
    if hi > n_out:
        hi = n_out
    if hi < lo:
        hi = lo
    return lo, hi


@kernel
def _check_conv_args(out_shape, x_shape, w_shape, b_shape, stride, pad_h, pad_w):
    if stride < 1:
        raise ValueError("stride must be >= 1")
    if pad_h < 0 or pad_w < 0:
        raise ValueError("padding must be >= 0")
    if w_shape[1] != x_shape[1]:
        raise ValueError("w.shape[1] must equal x.shape[1] (input channels)")
    if out_shape[0] != x_shape[0] or out_shape[1] != w_shape[0]:
        raise ValueError("out/dout must have shape (N, F, OH, OW)")
    if b_shape[0] != w_shape[0]:
        raise ValueError("bias/db must have shape (F,)")


@kernel
def _check_backward_args(dx, dw, db, dout, out, x, w, stride, pad_h, pad_w, need_dx,
                         work, ncol):
    _check_conv_args(dout.shape, x.shape, w.shape, db.shape, stride, pad_h, pad_w)
    if out.shape != dout.shape:
        raise ValueError("out must have the shape of dout")
    if dw.shape != w.shape:
        raise ValueError("dw must have the shape of w")
    if need_dx and dx.shape != x.shape:
        raise ValueError("dx must have the shape of x")
    if work.shape[0] < 1 or work.shape[1] < ncol:
        raise ValueError("work is too small, see conv2d_workspace_shape")


@kernel
def _block_bounds(blk, nblock, n):
    """Samples ``[n0, n1)`` of block ``blk`` out of ``nblock`` (fixed rule)."""
    return (blk * n) // nblock, ((blk + 1) * n) // nblock


@kernel
def _reduce_blocks(dw, db, work):
    """Block partials to gradients, blocks added in order 0, 1, ...

    Row ``blk`` of ``work`` holds filter ``f``'s partials at
    ``f*(K+1) : (f+1)*(K+1)``: ``K`` weight-gradient values, then the bias
    gradient (the layout of a ``(F, K+1)`` product with an im2col matrix
    that has a row of ones).

    Serial: it costs ``B*F*(K+1)`` additions, negligible next to the
    ``N*F*K*OH*OW`` multiply-adds of the backward pass, and a separate
    parallel region would add compile time.
    """
    F = dw.shape[0]
    K = dw.shape[1] * dw.shape[2] * dw.shape[3]
    dwf = dw.reshape(F * K)
    for blk in range(work.shape[0]):
        ub = _U(blk)
        for f in range(F):
            r = f * (K + 1)
            g = f * K
            if blk == 0:
                for k in range(K):
                    dwf[_U(g + k)] = work[ub, _U(r + k)]
                db[_U(f)] = work[ub, _U(r + K)]
            else:
                for k in range(K):
                    dwf[_U(g + k)] += work[ub, _U(r + k)]
                db[_U(f)] += work[ub, _U(r + K)]


# ---------------------------------------------------------------------------
# Direct convolution
# ---------------------------------------------------------------------------


@inlined_kernel
def _conv_fwd_one(out, x, w, b, n, f, stride, pad_h, pad_w):
    """``out[n, f] = b[f] + sum_{c,p,q} w[f,c,p,q] * x[n, c, shifted]``.

    Each output element is summed in (c, p, q) order.
    """
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    KH, KW = w.shape[2], w.shape[3]
    OH, OW = out.shape[2], out.shape[3]
    un = _U(n)
    uf = _U(f)
    bf = b[uf]
    for i in range(OH):
        for j in range(OW):
            out[un, uf, _U(i), _U(j)] = bf
    for c in range(C):
        uc = _U(c)
        for p in range(KH):
            offh = p - pad_h
            ilo, ihi = _valid_range(offh, stride, H, OH)
            for q in range(KW):
                offw = q - pad_w
                jlo, jhi = _valid_range(offw, stride, W, OW)
                wv = w[uf, uc, _U(p), _U(q)]
                for i in range(ilo, ihi):
                    ui = _U(i)
                    uh = _U(i * stride + offh)
                    for j in range(jlo, jhi):
                        out[un, uf, ui, _U(j)] += wv * x[un, uc, uh, _U(j * stride + offw)]


@parallel_kernel
def conv2d_forward(out, x, w, b, stride, pad_h, pad_w, act):
    """Direct 2-D convolution (cross-correlation) plus bias, then activation.

    ``out[n,f,i,j] = act(b[f] + sum_{c,p,q} w[f,c,p,q] * x[n, c, i*s+p-pad_h, j*s+q-pad_w])``
    with ``s = stride``
    (out-of-range ``x`` is zero; each element summed in (c, p, q) order;
    ``act`` is an activation code of :mod:`.activations`, ``IDENTITY`` for
    none).

    Shapes: ``out (N, F, OH, OW)`` (written), ``x (N, C, H, W)``,
    ``w (F, C, KH, KW)``, ``b (F,)``.  No workspace.  Parallel over ``(n, f)``.
    """
    _check_conv_args(out.shape, x.shape, w.shape, b.shape, stride, pad_h, pad_w)
    N = x.shape[0]
    F = w.shape[0]
    P = out.shape[2] * out.shape[3]
    for t in prange(N * F):
        n = t // F
        f = t - n * F
        _conv_fwd_one(out, x, w, b, n, f, stride, pad_h, pad_w)
        activate(out[n, f].reshape(P), act)


@inlined_kernel
def _conv_dw_block(work, blk, dout, x, f, n0, n1, stride, pad_h, pad_w, KH, KW):
    """Partial gradients of filter ``f`` over samples ``[n0, n1)``.

    ``work[blk, f*(K+1) + (c*KH+p)*KW + q]`` ``= sum_n sum_{i,j} dout[n,f,i,j] *
    x[n,c,i*s+p-ph,j*s+q-pw]`` and ``work[blk, f*(K+1) + K] = sum_n sum_{i,j}
    dout[n,f,i,j]`` (``K = C*KH*KW``).
    Summation order: samples in order, and within a sample (i, j) row-major.
    """
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    OH, OW = dout.shape[2], dout.shape[3]
    K = C * KH * KW
    ub = _U(blk)
    uf = _U(f)
    base = f * (K + 1)
    zero = work.dtype.type(0)
    for k in range(K):
        work[ub, _U(base + k)] = zero
    sb = zero
    for n in range(n0, n1):
        un = _U(n)
        s = zero
        for i in range(OH):
            for j in range(OW):
                s += dout[un, uf, _U(i), _U(j)]
        sb += s
        for c in range(C):
            uc = _U(c)
            for p in range(KH):
                offh = p - pad_h
                ilo, ihi = _valid_range(offh, stride, H, OH)
                for q in range(KW):
                    offw = q - pad_w
                    jlo, jhi = _valid_range(offw, stride, W, OW)
                    s = zero
                    for i in range(ilo, ihi):
                        ui = _U(i)
                        uh = _U(i * stride + offh)
                        for j in range(jlo, jhi):
                            s += dout[un, uf, ui, _U(j)] * x[un, uc, uh, _U(j * stride + offw)]
                    work[ub, _U(base + (c * KH + p) * KW + q)] += s
    work[ub, _U(base + K)] = sb


@inlined_kernel
def _conv_dx_one(dx, dout, w, n, c, stride, pad_h, pad_w):
    """``dx[n, c] = sum_{f,p,q} w[f,c,p,q] * dout[n, f]`` scattered back.

    Each element is summed in (f, p, q) order.
    """
    H, W = dx.shape[2], dx.shape[3]
    F, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    OH, OW = dout.shape[2], dout.shape[3]
    un = _U(n)
    uc = _U(c)
    zero = dx.dtype.type(0)
    for h in range(H):
        for v in range(W):
            dx[un, uc, _U(h), _U(v)] = zero
    for f in range(F):
        uf = _U(f)
        for p in range(KH):
            offh = p - pad_h
            ilo, ihi = _valid_range(offh, stride, H, OH)
            for q in range(KW):
                offw = q - pad_w
                jlo, jhi = _valid_range(offw, stride, W, OW)
                wv = w[uf, uc, _U(p), _U(q)]
                for i in range(ilo, ihi):
                    ui = _U(i)
                    uh = _U(i * stride + offh)
                    for j in range(jlo, jhi):
                        dx[un, uc, uh, _U(j * stride + offw)] += wv * dout[un, uf, ui, _U(j)]


@inlined_kernel
def _activation_grad_one(dout, out, n, act):
    """``dout[n] *= f'(z)``, computed from the forward output ``out[n]``."""
    M = dout.shape[1] * dout.shape[2] * dout.shape[3]
    activation_grad(dout[n].reshape(M), out[n].reshape(M), act)


@parallel_kernel
def conv2d_backward(dx, dw, db, dout, out, x, w, stride, pad_h, pad_w, need_dx, work,
                    act):
    """Gradients of the convolution, direct loop nests (batch sums, not means).

    ``dout`` holds dL/d(out) and is first overwritten with
    ``dz = dout * f'(z)``, the derivative of activation ``act`` computed from
    the forward output ``out`` (as :func:`.dense.dense_backward`).  Then:

    * ``dx[n,c,h,v] = sum_{f,p,q,i,j: i*s+p-ph=h, j*s+q-pw=v} w[f,c,p,q] * dout[n,f,i,j]``
      (only if ``need_dx``; otherwise ``dx`` is not touched and may be any
      4-D array of the right dtype, e.g. ``np.empty((0, 0, 0, 0))``),
    * ``dw[f,c,p,q] = sum_{n,i,j} dout[n,f,i,j] * x[n, c, i*s+p-ph, j*s+q-pw]``,
    * ``db[f] = sum_{n,i,j} dout[n,f,i,j]``.

    Shapes: ``dx (N, C, H, W)``, ``dw (F, C, KH, KW)``, ``db (F,)`` (all
    written), ``dout`` and ``out (N, F, OH, OW)``, ``x (N, C, H, W)``,
    ``w (F, C, KH, KW)``, ``work (B, >= F*(K+1))`` with ``K = C*KH*KW`` (see
    :func:`conv2d_workspace_shape`, ``method="direct"``).  The batch is split
    into ``B = work.shape[0]`` fixed blocks; parallel over ``(block, f)`` for
    the partial sums (then a serial in-order block reduction) and over
    ``(n, c)`` for ``dx``.

    The direct kernels are kept simple (one loop nest per quantity, short to
    compile); use the GEMM kernels for speed on all but tiny layers
    (:func:`conv2d_method`).
    """
    N, C = x.shape[0], x.shape[1]
    F, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    K = C * KH * KW
    _check_backward_args(dx, dw, db, dout, out, x, w, stride, pad_h, pad_w, need_dx,
                         work, F * (K + 1))
    nb = work.shape[0]
    for n in prange(N):
        _activation_grad_one(dout, out, prange_index(n), act)
    for t in prange(nb * F):
        blk = t // F
        f = t - blk * F
        n0, n1 = _block_bounds(blk, nb, N)
        _conv_dw_block(work, blk, dout, x, f, n0, n1, stride, pad_h, pad_w, KH, KW)
    _reduce_blocks(dw, db, work)
    if need_dx:
        for t in prange(N * C):
            n = t // C
            c = t - n * C
            _conv_dx_one(dx, dout, w, n, c, stride, pad_h, pad_w)


# ---------------------------------------------------------------------------
# im2col + GEMM convolution
# ---------------------------------------------------------------------------


@kernel
def _im2col(cols, j0, x, n, KH, KW, stride, pad_h, pad_w, OH, OW):
    """``cols[(c*KH+p)*KW+q, j0+i*OW+j] = x[n, c, i*s+p-ph, j*s+q-pw]`` (0 outside)."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    un = _U(n)
    zero = cols.dtype.type(0)
    for c in range(C):
        uc = _U(c)
        for p in range(KH):
            offh = p - pad_h
            for q in range(KW):
                offw = q - pad_w
                ur = _U((c * KH + p) * KW + q)
                jlo, jhi = _valid_range(offw, stride, W, OW)
                for i in range(OH):
                    base = j0 + i * OW
                    ih = i * stride + offh
                    if ih < 0 or ih >= H:
                        for j in range(OW):
                            cols[ur, _U(base + j)] = zero
                        continue
                    uh = _U(ih)
                    for j in range(jlo):
                        cols[ur, _U(base + j)] = zero
                    if stride == 1:
                        for j in range(jlo, jhi):
                            cols[ur, _U(base + j)] = x[un, uc, uh, _U(j + offw)]
                    else:
                        for j in range(jlo, jhi):
                            cols[ur, _U(base + j)] = x[un, uc, uh, _U(j * stride + offw)]
                    for j in range(jhi, OW):
                        cols[ur, _U(base + j)] = zero


@kernel
def _col2im(dx, n, cols, j0, KH, KW, stride, pad_h, pad_w, OH, OW):
    """``dx[n] = 0``, then ``dx[n, c, i*s+p-ph, j*s+q-pw] += cols[(c*KH+p)*KW+q, j0+i*OW+j]``.

    Each element is summed in (c, p, q) row order.
    """
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    un = _U(n)
    zero = dx.dtype.type(0)
    for c in range(C):
        for h in range(H):
            for v in range(W):
                dx[un, _U(c), _U(h), _U(v)] = zero
    for c in range(C):
        uc = _U(c)
        for p in range(KH):
            offh = p - pad_h
            ilo, ihi = _valid_range(offh, stride, H, OH)
            for q in range(KW):
                offw = q - pad_w
                ur = _U((c * KH + p) * KW + q)
                jlo, jhi = _valid_range(offw, stride, W, OW)
                for i in range(ilo, ihi):
                    uh = _U(i * stride + offh)
                    base = j0 + i * OW
                    if stride == 1:
                        for j in range(jlo, jhi):
                            dx[un, uc, uh, _U(j + offw)] += cols[ur, _U(base + j)]
                    else:
                        for j in range(jlo, jhi):
                            dx[un, uc, uh, _U(j * stride + offw)] += cols[ur, _U(base + j)]


@kernel
def _check_keep(keep, N, K, P):
    if keep.shape[0] != 0 and (keep.shape[0] < N or keep.shape[1] != K + 1
                               or keep.shape[2] != P):
        raise ValueError("keep must have shape (0 or >= N, K+1, OH*OW)")


@kernel
def _ones_row(cols):
    """Last row of ``cols`` = 1: the im2col matrix's bias row."""
    one = cols.dtype.type(1)
    r = _U(cols.shape[0] - 1)
    for j in range(cols.shape[1]):
        cols[r, _U(j)] = one


@kernel
def _copy_columns(dst, d0, src, s0, width):
    """``dst[:, d0:d0+width] = src[:, s0:s0+width]`` (one compiled copy for
    both passes' side-by-side maps)."""
    for r in range(dst.shape[0]):
        ur = _U(r)
        for j in range(width):
            dst[ur, _U(d0 + j)] = src[ur, _U(s0 + j)]


@kernel
def _group_cols(work, blk, keep, s0, s1, K, P, c0):
    """The ``(K+1, m*P)`` im2col matrix of samples ``[s0, s1)`` (``m = s1 - s0``).

    In ``keep`` (``keep[s0:s1]``'s memory, read as one matrix) when it has a
    row per sample, else in row ``blk`` of ``work`` after its first ``c0``
    values.
    """
    width = (s1 - s0) * P
    if keep.shape[0] > 0:
        size = (K + 1) * P
        flat = keep.reshape(keep.shape[0] * size)
        return flat[s0 * size:s1 * size].reshape(K + 1, width)
    return work[blk, c0:c0 + (K + 1) * width].reshape(K + 1, width)


@inlined_kernel
def _conv_gemm_fwd_block(out, x, w, stride, pad_h, pad_w, work, blk, act, keep, g):
    """``out[n]`` for the samples of block ``blk``, using row ``blk`` of ``work``.

    The bias rides in the product: ``[w | b] (F, K+1) @ [cols; 1] (K+1, m*P)``,
    so no separate pass adds it; ``[w | b]`` is the start of row 0 of
    ``work``, filled once by the caller and only read here.  The block's
    samples go in groups of ``m <= g = conv_group(K, F, P)`` (computed once by
    the caller), one product per group
    (with one sample the product writes ``out[n]`` itself; with more, a
    ``(F, m*P)`` scratch matrix whose columns are then copied out).  The
    activation is applied to each sample's output while it is in cache.
    """
    F, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    K = w.shape[1] * KH * KW
    OH, OW = out.shape[2], out.shape[3]
    P = OH * OW
    n0, n1 = _block_bounds(blk, work.shape[0], x.shape[0])
    c0 = F * (K + 1)
    wb = work[0, 0:c0].reshape(F, K + 1)
    m0 = c0 + (K + 1) * g * P + c0  # the (F, m*P) scratch matrix
    for s0 in range(n0, n1, g):
        s1 = min(s0 + g, n1)
        cols = _group_cols(work, blk, keep, s0, s1, K, P, c0)
        _ones_row(cols)
        for n in range(s0, s1):
            _im2col(cols, (n - s0) * P, x, n, KH, KW, stride, pad_h, pad_w, OH, OW)
        if s1 - s0 == 1:
            gemm(out[s0].reshape(F, P), wb, cols, False, False)
        else:
            maps = work[blk, m0:m0 + F * cols.shape[1]].reshape(F, cols.shape[1])
            gemm(maps, wb, cols, False, False)
            for n in range(s0, s1):
                _copy_columns(out[n].reshape(F, P), 0, maps, (n - s0) * P, P)
        for n in range(s0, s1):
            activate(out[n].reshape(F * P), act)


@parallel_kernel
def conv2d_forward_gemm(out, x, w, b, stride, pad_h, pad_w, work, act, keep):
    """im2col + GEMM version of :func:`conv2d_forward` (same formula).

    Per group of ``m`` samples: ``cols (K+1, m*P)`` holds ``[im2col(x[n]); 1]``
    of each sample side by side, then ``out[n] as (F, P) = act([w as (F, K) |
    b] @ cols)``'s columns of that sample, with ``K = C*KH*KW`` and
    ``P = OH*OW``.  Groups: each block's samples in order, ``conv_group(K, F, P)``
    at a time (several when one sample's product is small, so that a
    product is not mostly call overhead).

    Shapes as :func:`conv2d_forward`, plus ``work (B, >= ...)`` (see
    :func:`conv2d_workspace_shape`, ``method="gemm"``) and
    ``keep (M, K+1, P)``: with ``M >= N`` each group's ``cols`` is kept in
    the memory of ``keep[s0:s1]`` for :func:`conv2d_backward_gemm` to reuse;
    with ``M = 0`` nothing is kept.  ``[w | b] (F, K+1)`` is formed once, at
    the start of row 0 of ``work``; then, parallel over the
    ``B = work.shape[0]`` sample blocks, block ``k`` uses the rest of row
    ``k``.
    """
    _check_conv_args(out.shape, x.shape, w.shape, b.shape, stride, pad_h, pad_w)
    F = w.shape[0]
    K = x.shape[1] * w.shape[2] * w.shape[3]
    P = out.shape[2] * out.shape[3]
    g = _conv_group_jit(K, F, P)
    if work.shape[0] < 1 or work.shape[1] < _gemm_work_cols_jit(K, F, P, g):
        raise ValueError("work is too small, see conv2d_workspace_shape")
    _check_keep(keep, x.shape[0], K, P)
    wb = work[0, 0:F * (K + 1)].reshape(F, K + 1)  # [w | b], shared by every block
    wmat = w.reshape(F, K)
    for f in range(F):
        uf = _U(f)
        for k in range(K):
            wb[uf, _U(k)] = wmat[uf, _U(k)]
        wb[uf, _U(K)] = b[uf]
    for blk in prange(work.shape[0]):
        _conv_gemm_fwd_block(out, x, w, stride, pad_h, pad_w, work, prange_index(blk),
                             act, keep, g)


@inlined_kernel
def _conv_gemm_bwd_block(dx, dout, out, x, w, stride, pad_h, pad_w, need_dx, work, blk,
                         act, keep, g):
    """Partial ``[dW | db]`` (into ``acc (F, K+1)``) and ``dx[n]`` for the
    samples of block ``blk``, using row ``blk`` of ``work``.

    Samples go in the forward pass's groups of ``g``.  The bias gradient rides in the
    product with the im2col matrix's row of ones (a separate running sum per
    filter and sample was a chain of dependent additions: most of a LeNet
    first layer's backward pass).  A group's ``cols`` is the forward pass's
    when ``keep`` has a row per sample; otherwise it is rebuilt in the
    block's row of ``work``.  With several samples in a group their
    ``dout[n]`` are copied side by side into an ``(F, m*P)`` matrix.
    """
    N = x.shape[0]
    F, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    K = w.shape[1] * KH * KW
    OH, OW = dout.shape[2], dout.shape[3]
    P = OH * OW
    n0, n1 = _block_bounds(blk, work.shape[0], N)
    wmat = w.reshape(F, K)
    c0 = F * (K + 1)
    t0 = c0 + (K + 1) * g * P
    acc = work[blk, 0:c0].reshape(F, K + 1)
    tmp = work[blk, t0:t0 + c0].reshape(F, K + 1)
    m0 = t0 + c0
    zero = acc.dtype.type(0)
    for f in range(F):
        for k in range(K + 1):
            acc[_U(f), _U(k)] = zero
    for s0 in range(n0, n1, g):
        s1 = min(s0 + g, n1)
        cols = _group_cols(work, blk, keep, s0, s1, K, P, c0)
        width = cols.shape[1]
        if keep.shape[0] == 0:
            _ones_row(cols)
            for n in range(s0, s1):
                _im2col(cols, (n - s0) * P, x, n, KH, KW, stride, pad_h, pad_w, OH, OW)
        for n in range(s0, s1):
            _activation_grad_one(dout, out, n, act)
        if s1 - s0 == 1:
            grad = dout[s0].reshape(F, P)
        else:
            grad = work[blk, m0:m0 + F * width].reshape(F, width)
            for n in range(s0, s1):
                _copy_columns(grad, (n - s0) * P, dout[n].reshape(F, P), 0, P)
        gemm(tmp, grad, cols, False, True)
        for f in range(F):
            uf = _U(f)
            for k in range(K + 1):
                acc[uf, _U(k)] += tmp[uf, _U(k)]
        if need_dx:
            dcols = work[blk, c0:c0 + K * width].reshape(K, width)
            gemm(dcols, wmat, grad, True, False)
            for n in range(s0, s1):
                _col2im(dx, n, dcols, (n - s0) * P, KH, KW, stride, pad_h, pad_w, OH, OW)


@parallel_kernel
def conv2d_backward_gemm(dx, dw, db, dout, out, x, w, stride, pad_h, pad_w, need_dx,
                         work, act, keep):
    """im2col + GEMM version of :func:`conv2d_backward` (same formulas).

    Per group of ``m`` samples (:func:`conv2d_forward_gemm`'s groups;
    ``K = C*KH*KW``, ``P = OH*OW``): ``dout[n] *= f'(z)``; ``G (F, m*P)``
    the group's ``dout[n]`` as ``(F, P)`` side by side, ``cols (K+1, m*P)``
    their ``[im2col(x[n]); 1]``; block partials ``[dW | db] += G @ cols.T``;
    if ``need_dx``: ``dx[n] = col2im`` of sample ``n``'s columns of
    ``w(F, K).T @ G``.

    Shapes as :func:`conv2d_backward`, with ``work`` from
    :func:`conv2d_workspace_shape` (``method="gemm"``).  ``keep`` is the
    array given to :func:`conv2d_forward_gemm` for the same ``x``: with a
    row per sample its ``cols`` are reused (not modified), otherwise
    (``M = 0``) they are rebuilt.  Parallel over the ``B`` sample blocks,
    then a serial in-order block reduction.
    """
    F = w.shape[0]
    K = x.shape[1] * w.shape[2] * w.shape[3]
    P = dout.shape[2] * dout.shape[3]
    g = _conv_group_jit(K, F, P)
    _check_backward_args(dx, dw, db, dout, out, x, w, stride, pad_h, pad_w, need_dx,
                         work, _gemm_work_cols_jit(K, F, P, g))
    _check_keep(keep, x.shape[0], K, P)
    for blk in prange(work.shape[0]):
        _conv_gemm_bwd_block(dx, dout, out, x, w, stride, pad_h, pad_w, need_dx, work,
                             prange_index(blk), act, keep, g)
    _reduce_blocks(dw, db, work)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------


@kernel
def _check_pool_args(out_shape, x_shape, size_h, size_w):
    if size_h < 1 or size_w < 1:
        raise ValueError("pool size must be >= 1")
    if out_shape[0] != x_shape[0] or out_shape[1] != x_shape[1]:
        raise ValueError("pooled array must have shape (N, C, OH, OW)")
    if out_shape[2] * size_h > x_shape[2] or out_shape[3] * size_w > x_shape[3]:
        raise ValueError("pooled output is larger than the input allows")


@inlined_kernel
def _maxpool_fwd_one(out, argmax, x, n, c, size_h, size_w):
    OH, OW = out.shape[2], out.shape[3]
    xs = x[n, c]
    os_ = out[n, c]
    am = argmax[n, c]
    for i in range(OH):
        ui = _U(i)
        h0 = i * size_h
        for j in range(OW):
            uj = _U(j)
            v0 = j * size_w
            best = xs[_U(h0), _U(v0)]
            arg = 0
            for p in range(size_h):
                uh = _U(h0 + p)
                for q in range(size_w):
                    best, arg = _pick(best, arg, xs[uh, _U(v0 + q)], p * size_w + q)
            os_[ui, uj] = best
            am[ui, uj] = arg


@kernel
def _pick(best, arg, v, k):
    # First maximum wins; a NaN wins and then stays.  Selects, not branches:
    # on real data the comparison is unpredictable (branches were 3x slower).
    take = (v > best) | ((v != v) & (best == best))
    return (v if take else best), (k if take else arg)


@parallel_kernel
def maxpool2d_forward(out, argmax, x, size_h, size_w):
    """Max pooling over ``size_h x size_w`` windows with the same stride (floor mode).

    ``out[n,c,i,j] = max_{p < size_h, q < size_w} x[n, c, i*size_h+p, j*size_w+q]``
    and ``argmax[n,c,i,j] = p*size_w + q`` of the first maximum in row-major
    window order (a NaN in the window wins, so NaNs propagate).

    Shapes: ``out (N, C, OH, OW)``, ``argmax (N, C, OH, OW)`` int32 or int64
    (both written), ``x (N, C, H, W)`` with ``OH*size_h <= H`` and
    ``OW*size_w <= W`` (normally ``OH = H // size_h``, ``OW = W // size_w``).
    Parallel over ``(n, c)``.
    """
    _check_pool_args(out.shape, x.shape, size_h, size_w)
    if argmax.shape != out.shape:
        raise ValueError("argmax must have the shape of out")
    N, C = x.shape[0], x.shape[1]
    if size_h == 2 and size_w == 2:
        # Every index written out, inside the parallel loop: the constant
        # window unrolls, and neither per-row views (reference-count updates)
        # nor a helper call per map are paid; together 3-4x faster on digits
        # maps than rows of views.  Same window order as the general loops,
        # hence the same results.
        for t in prange(N * C):
            n = t // C
            un, uc = _U(n), _U(t - n * C)
            for i in range(out.shape[2]):
                ui, h0, h1 = _U(i), _U(2 * i), _U(2 * i + 1)
                for j in range(out.shape[3]):
                    uj, v0, v1 = _U(j), _U(2 * j), _U(2 * j + 1)
                    best, arg = x[un, uc, h0, v0], 0
                    best, arg = _pick(best, arg, x[un, uc, h0, v1], 1)
                    best, arg = _pick(best, arg, x[un, uc, h1, v0], 2)
                    best, arg = _pick(best, arg, x[un, uc, h1, v1], 3)
                    out[un, uc, ui, uj] = best
                    argmax[un, uc, ui, uj] = arg
        return
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        _maxpool_fwd_one(out, argmax, x, n, c, size_h, size_w)


@inlined_kernel
def _maxpool_bwd_one(dx, dout, argmax, n, c, size_h, size_w):
    H, W = dx.shape[2], dx.shape[3]
    OH, OW = dout.shape[2], dout.shape[3]
    un = _U(n)
    uc = _U(c)
    zero = dx.dtype.type(0)
    for h in range(H):
        for v in range(W):
            dx[un, uc, _U(h), _U(v)] = zero
    for i in range(OH):
        for j in range(OW):
            a = argmax[un, uc, _U(i), _U(j)]
            p = a // size_w
            q = a - p * size_w
            dx[un, uc, _U(i * size_h + p), _U(j * size_w + q)] = dout[un, uc, _U(i), _U(j)]


@parallel_kernel
def maxpool2d_backward(dx, dout, argmax, size_h, size_w):
    """Gradient of :func:`maxpool2d_forward`.

    ``dx[n, c, i*size_h+p, j*size_w+q] = dout[n,c,i,j]`` where
    ``p*size_w + q = argmax[n,c,i,j]``; every other element of ``dx``
    (including dropped trailing rows/columns) is set to 0.

    Shapes: ``dx (N, C, H, W)`` (written), ``dout (N, C, OH, OW)``,
    ``argmax (N, C, OH, OW)`` from the forward call (values must be in
    ``[0, size_h*size_w)``; they are not checked).  Parallel over ``(n, c)``.
    """
    _check_pool_args(dout.shape, dx.shape, size_h, size_w)
    if argmax.shape != dout.shape:
        raise ValueError("argmax must have the shape of dout")
    N, C = dx.shape[0], dx.shape[1]
    H, W = dx.shape[2], dx.shape[3]
    OH, OW = dout.shape[2], dout.shape[3]
    if size_h == 2 and size_w == 2:
        # Rows 2i and 2i+1 of dx from output row i, each written in its own
        # sequential pass (a window's max gets the gradient, the rest 0), so
        # no zeroing pass; 3-5x faster than writing both rows in one loop.
        zero = dx.dtype.type(0)
        for t in prange(N * C):
            n = t // C
            c = t - n * C
            un, uc = _U(n), _U(c)
            for i in range(OH):
                ui, h0, h1 = _U(i), _U(2 * i), _U(2 * i + 1)
                for j in range(OW):
                    uj = _U(j)
                    a, v = argmax[un, uc, ui, uj], dout[un, uc, ui, uj]
                    dx[un, uc, h0, _U(2 * j)] = v if a == 0 else zero
                    dx[un, uc, h0, _U(2 * j + 1)] = v if a == 1 else zero
                for j in range(OW):
                    uj = _U(j)
                    a, v = argmax[un, uc, ui, uj], dout[un, uc, ui, uj]
                    dx[un, uc, h1, _U(2 * j)] = v if a == 2 else zero
                    dx[un, uc, h1, _U(2 * j + 1)] = v if a == 3 else zero
        if 2 * OH < H or 2 * OW < W:
            # rows and columns the floor-mode windows do not cover (a loop of
            # its own: views in the loop above slowed it by half)
            for t in prange(N * C):
                n = t // C
                ds = dx[n, t - n * C]
                ds[2 * OH:, :] = 0
                ds[:2 * OH, 2 * OW:] = 0
        return
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        _maxpool_bwd_one(dx, dout, argmax, n, c, size_h, size_w)


@inlined_kernel
def _meanpool_fwd_one(out, x, n, c, size_h, size_w):
    OH, OW = out.shape[2], out.shape[3]
    un = _U(n)
    uc = _U(c)
    area = out.dtype.type(size_h * size_w)
    for i in range(OH):
        for j in range(OW):
            h0 = i * size_h
            v0 = j * size_w
            s = out.dtype.type(0)
            for p in range(size_h):
                uh = _U(h0 + p)
                for q in range(size_w):
                    s += x[un, uc, uh, _U(v0 + q)]
            out[un, uc, _U(i), _U(j)] = s / area


@parallel_kernel
def meanpool2d_forward(out, x, size_h, size_w):
    """Mean pooling over ``size_h x size_w`` windows with the same stride (floor mode).

    ``out[n,c,i,j] = (sum_{p < size_h, q < size_w} x[n, c, i*size_h+p, j*size_w+q])
    / (size_h*size_w)`` (row-major summation order).

    Shapes: ``out (N, C, OH, OW)`` (written), ``x (N, C, H, W)`` with
    ``OH*size_h <= H`` and ``OW*size_w <= W``.  Parallel over ``(n, c)``.
    """
    _check_pool_args(out.shape, x.shape, size_h, size_w)
    N, C = x.shape[0], x.shape[1]
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        _meanpool_fwd_one(out, x, n, c, size_h, size_w)


@inlined_kernel
def _meanpool_bwd_one(dx, dout, n, c, size_h, size_w):
    H, W = dx.shape[2], dx.shape[3]
    OH, OW = dout.shape[2], dout.shape[3]
    un = _U(n)
    uc = _U(c)
    zero = dx.dtype.type(0)
    area = dx.dtype.type(size_h * size_w)
    for h in range(H):
        for v in range(W):
            dx[un, uc, _U(h), _U(v)] = zero
    for i in range(OH):
        for j in range(OW):
            val = dout[un, uc, _U(i), _U(j)] / area
            for p in range(size_h):
                uh = _U(i * size_h + p)
                for q in range(size_w):
                    dx[un, uc, uh, _U(j * size_w + q)] = val


@parallel_kernel
def meanpool2d_backward(dx, dout, size_h, size_w):
    """Gradient of :func:`meanpool2d_forward`.

    ``dx[n, c, i*size_h+p, j*size_w+q] = dout[n,c,i,j] / (size_h*size_w)``;
    dropped trailing rows/columns of ``dx`` are set to 0.

    Shapes: ``dx (N, C, H, W)`` (written), ``dout (N, C, OH, OW)``.
    Parallel over ``(n, c)``.
    """
    _check_pool_args(dout.shape, dx.shape, size_h, size_w)
    N, C = dx.shape[0], dx.shape[1]
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        _meanpool_bwd_one(dx, dout, n, c, size_h, size_w)
