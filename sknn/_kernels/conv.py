"""2-D convolution and pooling kernels.

Conventions
-----------
* Images are batch-first, channels-first and C-contiguous: ``x (N, C, H, W)``.
  Convolution weights use the PyTorch layout ``(F, C, KH, KW)``, the bias is
  ``(F,)`` and the output is ``(N, F, OH, OW)``.
* A convolution is an im2col matrix and one BLAS product per chunk of
  samples ``n0:n1`` (in a task below, or by :class:`sknn._conv_layers.Conv2D`):
  ``cols (K, g*P)`` with ``K = C*KH*KW``, ``P = OH*OW``, ``g = n1 - n0``, so
  that ``y = w.reshape(F, K) @ cols`` holds ``g`` samples' outputs side by
  side, ``y[f, s*P + p]``.  The kernels here build and scatter those
  matrices and fuse the bias and the activation into the scatter.
* ``stride`` is one int for both spatial axes; ``pad_h``/``pad_w`` are the
  padding *before* the image (top, left).  Positions outside the image read
  as zero, so TensorFlow-style "same" padding (the odd extra row/column at
  the bottom/right) needs only the top/left pads (:func:`same_padding`).
* Convolution is a cross-correlation (no kernel flip), as in PyTorch::

      out[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q]
                                 * x[n, c, i*stride + p - pad_h, j*stride + q - pad_w]

* Pooling windows are ``size_h x size_w`` with stride equal to the window;
  trailing rows/columns that do not fill a window are dropped (floor mode).
* Every kernel works on samples ``n0:n1`` of whole arrays and writes only
  their slice, so chunks of a batch can run on different threads; sums are
  taken in a fixed order, so results never depend on the thread count.
"""

import numpy as np

from .._jit import inlined_kernel, kernel, task
from .activations import RELU, activate, activation_grad
from .gemm import gemm, unit_coef
from .tasks import FINISH, address_as, carray, unpack

MAX_POOL, MEAN_POOL = 0, 1
POOL_CODES = {"max": MAX_POOL, "mean": MEAN_POOL}

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



# Numba treats a signed array index as possibly negative and emits a
# wraparound select for it, which blocks vectorisation of the inner loops.
# Indices in the loops below are known to be in range and are cast with
# ``_U`` (a free bit cast in LLVM).  Only cast values that are >= 0.
_U = np.uint64


@inlined_kernel
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


@inlined_kernel
def _tap(r, KH, KW, stride, pad_h, pad_w, H, W, OH, OW):
    """Row ``r = (c*KH+p)*KW+q`` of an im2col matrix: its channel ``c``, the
    offsets of its kernel tap ``(p - pad_h, q - pad_w)`` and the ranges of
    output rows ``[ilo, ihi)`` and columns ``[jlo, jhi)`` that read the image."""
    c = r // (KH * KW)
    p = r // KW - c * KH
    q = r - (r // KW) * KW
    offh = p - pad_h
    offw = q - pad_w
    ilo, ihi = _valid_range(offh, stride, H, OH)
    jlo, jhi = _valid_range(offw, stride, W, OW)
    return _U(c), offh, offw, ilo, ihi, jlo, jhi


@kernel
def im2col(cols, x, n0, n1, KH, KW, stride, pad_h, pad_w, OH, OW):
    """``cols[(c*KH+p)*KW+q, s*P + i*OW+j] = x[n0+s, c, i*st+p-ph, j*st+q-pw]``
    for ``s < n1 - n0`` (0 outside the image); ``cols (C*KH*KW, (n1-n0)*OH*OW)``.

    Row by row of ``cols``, each written from start to end (sample by
    sample); output rows that read no image row are zero-filled whole.
    """
    H, W = x.shape[2], x.shape[3]
    P = OH * OW
    zero = cols.dtype.type(0)
    for r in range(cols.shape[0]):
        uc, offh, offw, ilo, ihi, jlo, jhi = _tap(r, KH, KW, stride, pad_h, pad_w, H, W,
                                                  OH, OW)
        row = cols[_U(r)]
        whole = stride == 1 and jlo == 0 and jhi == OW
        for s in range(n1 - n0):
            un = _U(n0 + s)
            base = s * P
            for t in range(base, base + ilo * OW):
                row[_U(t)] = zero
            for i in range(ilo, ihi):
                b = base + i * OW
                uh = _U(i * stride + offh)
                if whole:
                    for j in range(OW):
                        row[_U(b + j)] = x[un, uc, uh, _U(j + offw)]
                    continue
                for j in range(jlo):
                    row[_U(b + j)] = zero
                if stride == 1:
                    for j in range(jlo, jhi):
                        row[_U(b + j)] = x[un, uc, uh, _U(j + offw)]
                else:
                    for j in range(jlo, jhi):
                        row[_U(b + j)] = x[un, uc, uh, _U(j * stride + offw)]
                for j in range(jhi, OW):
                    row[_U(b + j)] = zero
            for t in range(base + ihi * OW, base + P):
                row[_U(t)] = zero


@kernel
def col2im(dx, cols, n0, n1, KH, KW, stride, pad_h, pad_w, OH, OW):
    """The adjoint of :func:`im2col`: ``dx[n0:n1] = 0``, then
    ``dx[n0+s, c, i*st+p-ph, j*st+q-pw] += cols[(c*KH+p)*KW+q, s*P + i*OW+j]``,
    each element summed in ``(c, p, q)`` order (row by row of ``cols``)."""
    H, W = dx.shape[2], dx.shape[3]
    P = OH * OW
    dx[n0:n1] = 0
    for r in range(cols.shape[0]):
        uc, offh, offw, ilo, ihi, jlo, jhi = _tap(r, KH, KW, stride, pad_h, pad_w, H, W,
                                                  OH, OW)
        row = cols[_U(r)]
        for s in range(n1 - n0):
            un = _U(n0 + s)
            for i in range(ilo, ihi):
                uh = _U(i * stride + offh)
                b = s * P + i * OW
                if stride == 1:
                    for j in range(jlo, jhi):
                        dx[un, uc, uh, _U(j + offw)] += row[_U(b + j)]
                else:
                    for j in range(jlo, jhi):
                        dx[un, uc, uh, _U(j * stride + offw)] += row[_U(b + j)]


@kernel
def conv_out(out, y, b, n0, n1, act):
    """``out[n0+s, f] = f_act(y[f, s*P:(s+1)*P] + b[f])`` (``out (N, F, OH, OW)``,
    ``y (F, (n1-n0)*P)``); ReLU is applied in the same pass."""
    F = out.shape[1]
    P = out.shape[2] * out.shape[3]
    relu = act == RELU
    zero = out.dtype.type(0)
    for s in range(n1 - n0):
        o = out[n0 + s].reshape(F, P)
        base = s * P
        for f in range(F):
            bf = b[f]
            if relu:
                for p in range(P):
                    v = y[_U(f), _U(base + p)] + bf
                    # ``< 0`` as in activate: NaN propagates
                    o[_U(f), _U(p)] = zero if v < 0 else v
            else:
                for p in range(P):
                    o[_U(f), _U(p)] = y[_U(f), _U(base + p)] + bf
    if not relu:
        activate(out[n0:n1].reshape(-1), act)


@kernel
def conv_delta(dy, dout, out, n0, n1, act, db):
    """The output gradient in im2col order: ``dout[n0:n1] *= f_act'`` (from
    ``out``, or from the pre-activation passed as ``out`` for GELU/SiLU) in
    place, ``dy[f, s*P + p] = dout[n0+s, f, p]`` and ``db[f]``, the sum of
    ``dy[f]``: four partial sums over ``p mod 4`` per sample, added in a fixed
    order (one running sum is a chain of dependent adds, several times
    slower).

    The weight gradient is then made transposed, ``dw.T = cols @ dy.T``: a
    few filters against thousands of positions is a skinny product that
    SciPy's OpenBLAS runs up to twice as fast with the output in that
    orientation."""
    F = dout.shape[1]
    P = dout.shape[2] * dout.shape[3]
    activation_grad(dout[n0:n1].reshape(-1), out[n0:n1].reshape(-1), act)
    zero = db.dtype.type(0)
    for f in range(F):
        db[f] = 0
    for s in range(n1 - n0):
        d = dout[n0 + s].reshape(F, P)
        base = s * P
        for f in range(F):
            uf = _U(f)
            for p in range(P):
                dy[uf, _U(base + p)] = d[uf, _U(p)]
            a0 = a1 = a2 = a3 = zero
            p = 0
            while p + 4 <= P:
                a0 += d[uf, _U(p)]
                a1 += d[uf, _U(p + 1)]
                a2 += d[uf, _U(p + 2)]
                a3 += d[uf, _U(p + 3)]
                p += 4
            while p < P:
                a0 += d[uf, _U(p)]
                p += 1
            db[f] += (a0 + a1) + (a2 + a3)


@inlined_kernel
def _take(best, at, v, k):
    """``(v, k)`` when ``v`` beats ``best`` (a NaN wins, then stays), else
    ``(best, at)``; selects, not branches: unpredictable on real data."""
    take = (v > best) | ((v != v) & (best == best))
    return (v if take else best), (k if take else at)


@inlined_kernel
def exact_max_2x2(mode, size_h, size_w, H, W, OH, OW):
    """Whether a pooling pass is 2x2 max pooling whose windows cover the
    ``H x W`` input exactly: it then runs :func:`max_pool_2x2` and
    :func:`max_unpool_2x2` instead of :func:`pool_forward` and
    :func:`pool_backward` (the same results, faster; and a first fit of the
    common LeNet-style network compiles only the small pair)."""
    return mode == MAX_POOL and size_h == 2 and size_w == 2 and H == 2 * OH and W == 2 * OW


@kernel
def max_pool_2x2(out, arg, x, n0, n1, size_h, size_w, mode):
    """:func:`pool_forward` for :func:`exact_max_2x2` geometry (the window
    arguments are not read), for C-contiguous arrays, in two long loops: the
    better of each horizontal pair over the whole flat input, then the
    better of the two rows of each window.  The same first maximum in
    row-major order and the same NaN rule as :func:`_take` in turn; passes
    over blocks of many small feature maps instead of a loop nest per map."""
    C, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    per = C * 2 * OH * 2 * OW  # input values per sample
    rows = (n1 - n0) * C * OH  # rows of windows
    xf = x.reshape(-1)[n0 * per:n1 * per]
    of = out.reshape(-1)[n0 * per // 4:n1 * per // 4]
    af = arg.reshape(-1)[n0 * per // 4:n1 * per // 4]
    # Blocks of rows of windows: the pairs' scratch stays in cache (a few
    # thousand values) instead of a copy of half the chunk.
    block = max(1, 2048 // OW)
    hv = np.empty(block * 2 * OW, x.dtype)
    hk = np.empty(block * 2 * OW, np.int32)
    for r0 in range(0, rows, block):
        r1 = min(rows, r0 + block)
        m = (r1 - r0) * 2 * OW  # the block's horizontal pairs
        xb = xf[r0 * 4 * OW:r0 * 4 * OW + 2 * m]
        for t in range(m):
            a = xb[2 * t]
            b = xb[2 * t + 1]
            take = (b > a) | ((b != b) & (a == a))
            hv[t] = b if take else a
            hk[t] = 1 if take else 0
        ob = of[r0 * OW:r1 * OW]
        ab = af[r0 * OW:r1 * OW]
        for r in range(r1 - r0):
            top = 2 * r * OW
            for j in range(OW):
                a = hv[top + j]
                b = hv[top + OW + j]
                take = (b > a) | ((b != b) & (a == a))
                ob[r * OW + j] = b if take else a
                ab[r * OW + j] = (2 + hk[top + OW + j]) if take else hk[top + j]


@kernel
def max_unpool_2x2(dx, dout, arg, n0, n1, size_h, size_w, mode):
    """The gradient of :func:`max_pool_2x2` (:func:`pool_backward` for
    :func:`exact_max_2x2` geometry; the window arguments are not read):
    every position of every window written, the maximum's with the output's
    gradient, the others with 0; one loop over the rows of windows of all
    samples, each input row written in a sequential pass (both rows in one
    loop interleave their stores, several times slower)."""
    C, OH, OW = dout.shape[1], dout.shape[2], dout.shape[3]
    W = 2 * OW
    per = C * OH * OW  # windows per sample
    df = dx.reshape(-1)[n0 * per * 4:n1 * per * 4]
    gf = dout.reshape(-1)[n0 * per:n1 * per]
    af = arg.reshape(-1)[n0 * per:n1 * per]
    zero = dx.dtype.type(0)
    for r in range((n1 - n0) * C * OH):
        o = r * OW
        top = 2 * r * W
        for j in range(OW):
            a = af[o + j]
            g = gf[o + j]
            df[top + 2 * j] = g if a == 0 else zero
            df[top + 2 * j + 1] = g if a == 1 else zero
        bottom = top + W
        for j in range(OW):
            a = af[o + j]
            g = gf[o + j]
            df[bottom + 2 * j] = g if a == 2 else zero
            df[bottom + 2 * j + 1] = g if a == 3 else zero


@kernel
def pool_forward(out, arg, x, n0, n1, size_h, size_w, mode):
    """Pooling of samples ``n0:n1`` over ``size_h x size_w`` windows.

    ``mode == MAX_POOL``: ``out`` is the window's maximum and ``arg`` its
    position ``p*size_w + q`` (the first maximum in row-major order; a NaN
    wins, so NaNs propagate).  ``MEAN_POOL``: the window's mean (``arg``
    unused).  Shapes: ``out, arg (N, C, OH, OW)`` (``arg`` int32),
    ``x (N, C, H, W)``.
    """
    C, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    area = out.dtype.type(size_h * size_w)
    for n in range(n0, n1):
        un = _U(n)
        for c in range(C):
            uc = _U(c)
            if mode == MEAN_POOL and size_h == 2 and size_w == 2:
                for i in range(OH):
                    r0, r1 = _U(2 * i), _U(2 * i + 1)
                    for j in range(OW):
                        c0, c1 = _U(2 * j), _U(2 * j + 1)
                        s = x[un, uc, r0, c0] + x[un, uc, r0, c1]
                        s = s + x[un, uc, r1, c0]
                        out[un, uc, _U(i), _U(j)] = (s + x[un, uc, r1, c1]) / area
            elif mode == MEAN_POOL:
                for i in range(OH):
                    h0 = i * size_h
                    for j in range(OW):
                        v0 = j * size_w
                        s = out.dtype.type(0)
                        for p in range(size_h):
                            for q in range(size_w):
                                s += x[un, uc, _U(h0 + p), _U(v0 + q)]
                        out[un, uc, _U(i), _U(j)] = s / area
            else:
                for i in range(OH):
                    h0 = i * size_h
                    for j in range(OW):
                        v0 = j * size_w
                        best = x[un, uc, _U(h0), _U(v0)]
                        at = 0
                        for p in range(size_h):
                            for q in range(size_w):
                                best, at = _take(best, at, x[un, uc, _U(h0 + p), _U(v0 + q)],
                                                 p * size_w + q)
                        out[un, uc, _U(i), _U(j)] = best
                        arg[un, uc, _U(i), _U(j)] = at


@kernel
def pool_backward(dx, dout, arg, n0, n1, size_h, size_w, mode):
    """Gradient of :func:`pool_forward` for samples ``n0:n1``: ``dx[n0:n1]``
    is set to zero, then the maximum's position (max) or every position of
    the window (mean, divided by its area) gets the output's gradient;
    dropped trailing rows/columns stay 0."""
    C, OH, OW = dout.shape[1], dout.shape[2], dout.shape[3]
    area = dx.dtype.type(size_h * size_w)
    dx[n0:n1] = 0
    for n in range(n0, n1):
        un = _U(n)
        for c in range(C):
            uc = _U(c)
            if mode == MAX_POOL:
                for i in range(OH):
                    for j in range(OW):
                        a = arg[un, uc, _U(i), _U(j)]
                        p = a // size_w
                        dx[un, uc, _U(i * size_h + p), _U(j * size_w + a - p * size_w)] = \
                            dout[un, uc, _U(i), _U(j)]
            else:
                for i in range(OH):
                    for j in range(OW):
                        g = dout[un, uc, _U(i), _U(j)] / area
                        for p in range(size_h):
                            for q in range(size_w):
                                dx[un, uc, _U(i * size_h + p), _U(j * size_w + q)] = g


# ---------------------------------------------------------------------------
# A batch's chunks as tasks
# ---------------------------------------------------------------------------
# Chunk ``c`` of ``nc`` covers samples ``[c * n // nc, (c + 1) * n // nc)``;
# the task runner (:mod:`sknn._kernels.tasks`) hands it a ``slot`` no other
# running chunk has.  ``y_buf`` has a row per slot; a chunk's im2col matrix
# lives in row ``c`` of ``cols_buf`` when the batch's matrices are kept for
# the backward pass (``keep``), else in its slot's row.  A row of either
# buffer holds a chunk's matrix C-contiguously, (K, width) or (F, width).

#: Entries of the ``args`` arrays (see ``sknn._conv_layers``).
FORWARD_ARGS = 24
BACKWARD_ARGS = 31
#: The entries set for each call, as array references (the input; ``dout``
#: and the input): :func:`sknn._runtime.run_task`.
FORWARD_REFS = 1 << 5
BACKWARD_REFS = 1 << 5 | 1 << 10


@inlined_kernel
def _chunk_matrices(cols_buf, y_buf, keep, c, slot, nc, n, K, F, P):
    n0 = c * n // nc
    n1 = (c + 1) * n // nc
    width = (n1 - n0) * P
    cols = cols_buf[c if keep else slot][:K * width].reshape(K, width)
    y = y_buf[slot][:F * width].reshape(F, width)
    return n0, n1, cols, y


@inlined_kernel
def _view(address, zero, shape):
    return carray(address_as(address, zero), shape)


@inlined_kernel
def _forward(c, slot, nc, args, zero):
    p = unpack(args, FORWARD_ARGS)
    n, F, OH, OW, K = p[1], p[2], p[3], p[4], p[10]
    out = _view(p[0], zero, (n, F, OH, OW))
    x = _view(p[5], zero, (n, p[6], p[7], p[8]))
    w2 = _view(p[9], zero, (F, K))
    b = _view(p[11], zero, (F,))
    cols_buf = _view(p[12], zero, (p[13], p[14]))
    y_buf = _view(p[15], zero, (p[16], p[17]))
    n0, n1, cols, y = _chunk_matrices(cols_buf, y_buf, p[18] != 0, c, slot, nc, n, K, F,
                                      OH * OW)
    k, stride, pad_h, pad_w = p[19], p[20], p[21], p[22]
    im2col(cols, x, n0, n1, k, k, stride, pad_h, pad_w, OH, OW)
    gemm(y, w2, cols, False, False, unit_coef(zero))
    conv_out(out, y, b, n0, n1, p[23])


@inlined_kernel
def _backward(c, slot, nc, args, zero):
    p = unpack(args, BACKWARD_ARGS)
    n, C, H, W, F, OH, OW, K = p[1], p[2], p[3], p[4], p[6], p[7], p[8], p[12]
    dx = _view(p[0], zero, (n, C, H, W))
    dout = _view(p[5], zero, (n, F, OH, OW))
    src = _view(p[9], zero, (n, F, OH, OW))
    x = _view(p[10], zero, (n, C, H, W))
    w2 = _view(p[11], zero, (F, K))
    cols_buf = _view(p[13], zero, (p[14], p[15]))
    y_buf = _view(p[16], zero, (p[17], p[18]))
    dw_parts = _view(p[19], zero, (p[20], K, F))  # each chunk's dw.T
    db_parts = _view(p[21], zero, (p[20], F))
    keep = p[22] != 0
    if c == FINISH:
        # dw = (dw_parts[0] + dw_parts[1] + ...).T and db likewise, added in
        # chunk order (as NumPy's adds, one part after the other)
        dw = _view(p[29], zero, (F, K))
        db = _view(p[30], zero, (F,))
        for f in range(F):
            for q in range(K):
                v = dw_parts[0, q, f]
                for part in range(1, nc):
                    v += dw_parts[part, q, f]
                dw[f, q] = v
            v = db_parts[0, f]
            for part in range(1, nc):
                v += db_parts[part, f]
            db[f] = v
        return
    k, stride, pad_h, pad_w = p[24], p[25], p[26], p[27]
    n0, n1, cols, dy = _chunk_matrices(cols_buf, y_buf, keep, c, slot, nc, n, K, F,
                                       OH * OW)
    if not keep:
        im2col(cols, x, n0, n1, k, k, stride, pad_h, pad_w, OH, OW)
    conv_delta(dy, dout, src, n0, n1, p[28], db_parts[c])
    coef = unit_coef(zero)
    gemm(dw_parts[c], cols, dy, False, True, coef)  # dw.T: see conv_delta
    if p[23] != 0:
        gemm(cols, w2, dy, True, False, coef)  # the chunk's cols are not needed again
        col2im(dx, cols, n0, n1, k, k, stride, pad_h, pad_w, OH, OW)


@task
def conv_forward_f64(c, slot, nc, args):
    """Chunk ``c`` of a float64 convolution's forward pass: im2col, one BLAS
    product and the bias/activation scatter (a basic activation code)."""
    _forward(c, slot, nc, args, np.float64(0))


@task
def conv_forward_f32(c, slot, nc, args):
    """:data:`conv_forward_f64` in float32."""
    _forward(c, slot, nc, args, np.float32(0))


@task
def conv_backward_f64(c, slot, nc, args):
    """Chunk ``c`` of a float64 convolution's backward pass: ``dout *=
    f_act'``, the chunk's bias and weight gradients into ``db_parts[c]`` and
    ``dw_parts[c]`` and, when asked, its ``dx`` rows; the finishing call
    sums the parts into ``dw`` and ``db`` in chunk order."""
    _backward(c, slot, nc, args, np.float64(0))


@task
def conv_backward_f32(c, slot, nc, args):
    """:data:`conv_backward_f64` in float32."""
    _backward(c, slot, nc, args, np.float32(0))


#: Entries of a pooling task's ``args`` (see ``sknn._conv_layers.Pool2D``):
#: the addresses of the input-side array (``x``, or ``dx`` backward), the
#: output-side array (``out``, or ``dout``) and ``arg``; ``n, C, H, W, OH,
#: OW``; the window ``size_h, size_w``; the mode; 1 for the backward pass.
POOL_ARGS = 13
#: The input- and output-side arrays are set for each call, as array
#: references (:func:`sknn._runtime.run_task`).
POOL_REFS = 1 << 0 | 1 << 1


@inlined_kernel
def _pool(c, nc, args, zero):
    p = unpack(args, POOL_ARGS)
    n, C, OH, OW = p[3], p[4], p[7], p[8]
    inner = _view(p[0], zero, (n, C, p[5], p[6]))
    outer = _view(p[1], zero, (n, C, OH, OW))
    arg = carray(address_as(p[2], np.int32(0)), (n, C, OH, OW))
    n0 = c * n // nc
    n1 = (c + 1) * n // nc
    exact = exact_max_2x2(p[11], p[9], p[10], p[5], p[6], OH, OW)
    if p[12] != 0:
        if exact:
            max_unpool_2x2(inner, outer, arg, n0, n1, p[9], p[10], p[11])
        else:
            pool_backward(inner, outer, arg, n0, n1, p[9], p[10], p[11])
    elif exact:
        max_pool_2x2(outer, arg, inner, n0, n1, p[9], p[10], p[11])
    else:
        pool_forward(outer, arg, inner, n0, n1, p[9], p[10], p[11])


@task
def pool_f64(c, slot, nc, args):
    """Chunk ``c`` of a float64 pooling pass, forward or backward
    (:func:`pool_forward`, :func:`pool_backward`, or the 2x2 max pair when
    :func:`exact_max_2x2`, on its samples)."""
    _pool(c, nc, args, np.float64(0))


@task
def pool_f32(c, slot, nc, args):
    """:data:`pool_f64` in float32."""
    _pool(c, nc, args, np.float32(0))
