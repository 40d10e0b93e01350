"""Direct BLAS ``gemm`` calls from kernels, for operands ``np.dot`` cannot take.

``np.dot`` inside ``@njit`` accepts only C- or F-contiguous operands.  A block
of columns of a C-ordered matrix (``x[:, i0:i1]``) is neither, so splitting
``dw = x.T @ dz`` over the rows of ``dw`` used to need a transposed copy of
``x`` first (about a tenth of a large dense layer's backward pass).  BLAS
itself takes any leading dimension: :func:`gemm` hands it the block in place.

It calls ``numba_xxgemm``, the C helper that Numba's own ``np.dot`` lowers to
(it forwards to SciPy's ``cython_blas`` ``sgemm``/``dgemm``, the same BLAS
``np.dot`` uses and that :mod:`sknn._threads` pins to one thread).  The symbol
is resolved by name when a kernel is loaded, so kernels that use it stay
cacheable.  ``tests/test_kernels_dense.py`` checks it against NumPy.
"""

import numpy as np

from .._jit import kernel, on_materialize

_XXGEMM = None  # the Numba external function, built when Numba is imported


@on_materialize
def _declare_gemm():
    global _XXGEMM
    from numba import types
    from numba.np.linalg import ensure_blas

    ensure_blas()  # SciPy's BLAS must be importable, as for np.dot in a kernel
    _XXGEMM = types.ExternalFunction(
        "numba_xxgemm",
        types.intc(
            types.char,  # kind: 's' or 'd'
            types.char, types.char,  # transa, transb: 'n' or 't'
            types.intp, types.intp, types.intp,  # m, n, k
            types.voidptr, types.voidptr, types.intp,  # alpha, a, lda
            types.voidptr, types.intp,  # b, ldb
            types.voidptr, types.voidptr, types.intp,  # beta, c, ldc
        ),
    )
_N, _T = 110, 116  # ord('n'), ord('t')


@kernel
def gemm_tn(c, a, b, i0, i1):
    """``c[i0:i1] = a[:, i0:i1].T @ b`` without copying the column block.

    ``a (n, k)``, ``b (n, m)`` and ``c (k, m)`` are C-contiguous with the same
    float dtype; ``0 <= i0 <= i1 <= k``.  Only rows ``i0:i1`` of ``c`` are
    written, so disjoint ranges can run in parallel.
    """
    n, k = a.shape
    m = b.shape[1]
    rows = i1 - i0
    if rows <= 0 or m == 0:
        return
    if n == 0:
        c[i0:i1] = 0
        return
    coef = np.empty(2, c.dtype)
    coef[0] = 1
    coef[1] = 0
    kind = np.int8(115) if c.itemsize == 4 else np.int8(100)  # 's' / 'd'
    # Row-major C = op(A) @ op(B) is column-major C.T = op(B).T @ op(A).T:
    # BLAS sees b as an (m x n) column-major matrix and the column block of a
    # as an (rows x n) one with leading dimension k, to be transposed.
    status = _XXGEMM(kind, np.int8(_N), np.int8(_T), m, rows, n,
                     coef.ctypes, b.ctypes, m, a[0, i0:].ctypes, k,
                     coef[1:].ctypes, c[i0:].ctypes, m)
    if status != 0:
        raise RuntimeError("BLAS gemm failed")
