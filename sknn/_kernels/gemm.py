"""Matrix products on SciPy's BLAS from compiled code, and the row-chunk task.

:func:`gemm` is ``c = op(a) @ op(b)`` (``op(x)`` is ``x.T`` when
``trans_x``) with one call of ``numba_xxgemm``, the helper behind Numba's
own ``np.dot``: SciPy's BLAS through ``scipy.linalg.cython_blas``.  It takes
any leading dimension, so a block of columns ``x[:, i0:i1]`` is used in
place.  Operands are 2-D arrays of one float dtype whose rows are contiguous
(C order, or a block of rows or columns of such an array).

:data:`product_rows_f64` / :data:`product_rows_f32` are the task
(:mod:`sknn._kernels.tasks`) of a product too big for one thread
(:meth:`sknn._runtime.ExecutionPlan.product`): chunk ``i`` of ``n`` writes
rows ``[i * m // n, (i + 1) * m // n)`` of ``c`` with one single-threaded
BLAS call, so the result depends on the chunk count and never on the thread
that runs a chunk.  Given a bias and a basic activation code, the task also
applies them to each chunk's rows (a dense layer's forward pass).

:data:`dense_backward_f64` / :data:`dense_backward_f32` are a dense layer's
backward pass cut into chunks of batch rows: chunk ``i`` takes the rows of
:func:`~sknn._runtime.row_bounds` and computes their ``dz = dout * f'``,
their share of the gradients (``x_i.T @ dz_i`` and the column sums of
``dz_i``, into ``dw``/``db`` for chunk 0 and into row ``i - 1`` of the
parts buffers otherwise, added in chunk order by the caller) and their rows
of ``dx = dz @ w.T``.  Each chunk touches only its own rows of the batch,
the rows the same thread produced in the forward pass.
"""

import numpy as np

from .._jit import deferred, inlined_kernel, task
from .dense import act_grad_colsum, bias_act
from .tasks import FINISH, address_as, carray, chunk_rows, unpack

_N, _T = 110, 116  # BLAS's 'n' and 't'


def _declare_xxgemm():
    from numba import types
    from numba.np.linalg import ensure_blas

    ensure_blas()  # SciPy's BLAS must be importable, as for np.dot in a kernel
    ptr, intp, char = types.voidptr, types.intp, types.char
    return types.ExternalFunction("numba_xxgemm", types.intc(
        char, char, char, intp, intp, intp, ptr, ptr, intp, ptr, intp, ptr, ptr, intp))


def _make_as_voidptr():
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def as_voidptr(typingctx, address):
        def codegen(context, builder, signature, llargs):
            return builder.inttoptr(llargs[0], cgutils.voidptr_t)

        return types.voidptr(types.int64), codegen

    return as_voidptr


_xxgemm = deferred(_declare_xxgemm)
_as_voidptr = deferred(_make_as_voidptr)


@inlined_kernel
def unit_coef(zero):
    """``[alpha, beta] = [1, 0]`` in the type of the scalar ``zero``."""
    coef = np.zeros(2, type(zero))
    coef[0] = 1
    return coef


@inlined_kernel
def _call(kind, trans_a, trans_b, m, n, k, coef, a, lda, b, ldb, c, ldc):
    # Row-major C = A @ B is column-major C.T = B.T @ A.T: BLAS's first
    # operand is b, its second a.
    _xxgemm(kind, np.int8(_T if trans_b else _N), np.int8(_T if trans_a else _N),
            n, m, k, coef.ctypes, b, max(1, ldb), a, max(1, lda), coef[1:].ctypes, c,
            max(1, ldc))


@inlined_kernel
def gemm(c, a, b, trans_a, trans_b, coef):
    """``c = op(a) @ op(b)`` with one BLAS call (``coef``: :func:`unit_coef`)."""
    m, n = c.shape
    if m == 0 or n == 0:
        return
    k = b.shape[1] if trans_b else b.shape[0]
    item = c.itemsize
    kind = np.int8(115) if item == 4 else np.int8(100)
    _call(kind, trans_a, trans_b, m, n, k, coef, a.ctypes, a.strides[0] // item, b.ctypes,
          b.strides[0] // item, c.ctypes, c.strides[0] // item)


def blas_product(c, a, b, trans_a=False, trans_b=False):
    """``c = op(a) @ op(b)`` from Python, for C-contiguous operands, with the
    BLAS call :func:`gemm` makes in compiled code (SciPy's BLAS, here
    through its f2py wrapper): the same bits as the tasks' products."""
    from scipy.linalg import blas

    f = blas.sgemm if c.dtype == np.float32 else blas.dgemm
    # Column-major c.T = op(b).T @ op(a).T, as in _call.
    f(1.0, b.T, a.T, 0.0, c.T, trans_b, trans_a, True)


#: Entries of a product task's ``args`` (see :func:`product_args`).
PRODUCT_ARGS = 14
NO_BIAS = -1  # the activation code that skips the bias and activation


def product_operands(c, a, b, trans_a, trans_b, bias=None, act=NO_BIAS, flags=None):
    """The operands (a list, :data:`PRODUCT_ARGS` long) of
    :data:`product_rows_f64` / ``_f32`` for ``c = op(a) @ op(b)``, or ``c =
    f(a @ b + bias)`` with a basic activation code ``act`` and a
    C-contiguous ``c``, and their mask of array references (see
    :func:`sknn._runtime.run_task`; the caller keeps the arrays alive while
    it runs).  With a bias, ``flags`` (an int64 array of an entry per chunk)
    receives the number of non-finite values of each chunk's product,
    counted before the bias and activation."""
    item = c.itemsize
    k = a.shape[0] if trans_a else a.shape[1]
    refs = PRODUCT_REFS
    if bias is None:
        bias, act, refs = 0, NO_BIAS, _PRODUCT_REFS_NO_BIAS
    else:
        bias = id(bias)
        if flags is not None:
            refs |= 1 << 13
    return [id(c), c.shape[0], c.shape[1], c.strides[0] // item, id(a),
            a.strides[0] // item, id(b), b.strides[0] // item, k, trans_a, trans_b,
            bias, act, 0 if flags is None else id(flags)], refs


def product_args(c, a, b, trans_a, trans_b, bias=None, act=NO_BIAS, flags=None):
    """:func:`product_operands` as the task's int64 ``args`` array."""
    operands, refs = product_operands(c, a, b, trans_a, trans_b, bias, act, flags)
    return np.array(operands, dtype=np.int64), refs


_PRODUCT_REFS_NO_BIAS = 1 << 0 | 1 << 4 | 1 << 6
#: The array references among a product task's args (with a bias).
PRODUCT_REFS = _PRODUCT_REFS_NO_BIAS | 1 << 11


@inlined_kernel
def count_nonfinite(x):
    """How many values of the C-contiguous float array ``x`` are infinite
    or NaN: ``v - v`` is 0 for every finite ``v`` and NaN otherwise (an
    integer count of comparisons: the loop vectorises)."""
    flat = x.reshape(-1)
    n = 0
    for k in range(flat.shape[0]):
        v = flat[k]
        n += (v - v) != 0
    return n


@inlined_kernel
def _product_rows(i, n_chunks, args, zero):
    p = unpack(args, PRODUCT_ARGS)
    m, n, ldc, lda, ldb, k = p[1], p[2], p[3], p[5], p[7], p[8]
    trans_a, trans_b = p[9] != 0, p[10] != 0
    r0, r1 = chunk_rows(i, n_chunks, m)
    if r1 <= r0 or n == 0:
        return
    coef = unit_coef(zero)
    item = coef.itemsize
    kind = np.int8(100) if item == 8 else np.int8(115)
    # Rows r0: of op(a) start r0 rows (not transposed) or r0 columns in.
    a0 = p[4] + (r0 * item if trans_a else r0 * lda * item)
    c0 = p[0] + r0 * ldc * item
    _call(kind, trans_a, trans_b, r1 - r0, n, k, coef, _as_voidptr(a0), lda,
          _as_voidptr(p[6]), ldb, _as_voidptr(c0), ldc)
    if p[12] != NO_BIAS:
        # c is C-contiguous then (ldc == n): its rows r0:r1 are one block,
        # still in cache from the product.
        out = carray(address_as(c0, zero), (r1 - r0, n))
        if p[13] != 0:
            carray(address_as(p[13], np.int64(0)), (n_chunks,))[i] = count_nonfinite(out)
        bias_act(out, carray(address_as(p[11], zero), (n,)), p[12])


@task
def product_rows_f64(i, slot, n_chunks, args):
    """Rows of chunk ``i`` of a float64 product, then the bias and the
    activation on them when asked (see the module doc)."""
    _product_rows(i, n_chunks, args, np.float64(0))


@task
def product_rows_f32(i, slot, n_chunks, args):
    """:data:`product_rows_f64` in float32."""
    _product_rows(i, n_chunks, args, np.float32(0))


@inlined_kernel
def _view2(address, zero, rows, cols):
    return carray(address_as(address, zero), (rows, cols))


@inlined_kernel
def _add_parts(total, parts):
    """``total[0] += parts[c]`` for each ``c`` in turn, element by element
    (the same sums as NumPy's in-place adds, one part after the other)."""
    for e in range(total.shape[1]):
        v = total[0, e]
        for c in range(parts.shape[0]):
            v += parts[c, e]
        total[0, e] = v


#: Entries of a dense backward task's ``args`` (see :class:`sknn._layers.Dense`),
#: and which of them are array references (:func:`sknn._runtime.run_task`).
DENSE_BACKWARD_ARGS = 17
DENSE_BACKWARD_REFS = sum(1 << j for j in (0, 3, 5, 8, 9, 11, 12, 13, 14))


def dense_backward_operands(dz, src, act, x, wb, w_is_rows, dx, need_dx, dw, dw_parts,
                            db, db_parts):
    """The operands (a list, :data:`DENSE_BACKWARD_ARGS` long, references
    flagged by :data:`DENSE_BACKWARD_REFS`) of :data:`dense_backward_f64` /
    ``_f32``: ``dz`` (n, n_out) C-contiguous, ``src`` what f' reads, ``x``
    (n, n_in) with contiguous rows, ``wb`` the weights as rows (``w``, or a
    tied layer's ``w.T``); ``dx``, ``src`` and the gradient buffers start at
    their first row (the caller keeps every array alive while it runs)."""
    n, n_out = dz.shape
    return [id(dz), n, n_out, id(src), act, id(x), x.strides[0] // x.itemsize, x.shape[1],
            id(wb), id(dx), need_dx, id(dw), id(dw_parts), id(db), id(db_parts),
            w_is_rows, wb.shape[1]]


@inlined_kernel
def _dense_backward_rows(i, n_chunks, args, zero):
    p = unpack(args, DENSE_BACKWARD_ARGS)
    n, n_out, n_in, ldx = p[1], p[2], p[7], p[6]
    if i == FINISH:
        # dw += parts[c - 1], db += db_parts[c - 1] for c = 1, 2, ... in turn
        _add_parts(_view2(p[11], zero, 1, n_in * n_out), _view2(p[12], zero, n_chunks - 1,
                                                                 n_in * n_out))
        _add_parts(_view2(p[13], zero, 1, n_out), _view2(p[14], zero, n_chunks - 1, n_out))
        return
    r0, r1 = chunk_rows(i, n_chunks, n)
    rows = r1 - r0
    coef = unit_coef(zero)
    item = coef.itemsize
    kind = np.int8(100) if item == 8 else np.int8(115)
    dz0 = p[0] + r0 * n_out * item
    dz = carray(address_as(dz0, zero), (rows, n_out))
    src = carray(address_as(p[3] + r0 * n_out * item, zero), (rows, n_out))
    if i == 0:
        dw0, db0 = p[11], p[13]
    else:
        dw0 = p[12] + (i - 1) * n_in * n_out * item
        db0 = p[14] + (i - 1) * n_out * item
    act_grad_colsum(dz, src, p[4], carray(address_as(db0, zero), (n_out,)))
    # dw_i = x_i.T @ dz_i: x's rows r0:r1 are the columns of op(a).
    _call(kind, True, False, n_in, n_out, rows, coef, _as_voidptr(p[5] + r0 * ldx * item),
          ldx, _as_voidptr(dz0), n_out, _as_voidptr(dw0), n_out)
    if p[10] != 0:
        # dx_i = dz_i @ w.T, w given as itself (p[15]) or as w.T (a tied layer's).
        _call(kind, False, p[15] != 0, rows, n_in, n_out, coef, _as_voidptr(dz0), n_out,
              _as_voidptr(p[8]), p[16], _as_voidptr(p[9] + r0 * n_in * item), n_in)


@task
def dense_backward_f64(i, slot, n_chunks, args):
    """Chunk ``i`` of a float64 dense layer's backward pass (module doc)."""
    _dense_backward_rows(i, n_chunks, args, np.float64(0))


@task
def dense_backward_f32(i, slot, n_chunks, args):
    """:data:`dense_backward_f64` in float32."""
    _dense_backward_rows(i, n_chunks, args, np.float32(0))
