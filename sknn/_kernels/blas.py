"""Every matrix product of every kernel: one ``gemm`` on NumPy's own BLAS.

Why not ``np.dot`` inside ``@njit``
-----------------------------------
* Numba lowers ``np.dot`` to SciPy's bundled OpenBLAS (through
  ``scipy.linalg.cython_blas``), not to NumPy's.  With the wheels used here
  (NumPy 2.4's OpenBLAS 0.3.31, SciPy 1.17's 0.3.30) NumPy's library is the
  faster one: single-threaded float32 products of the benchmark MLP's shapes
  take 7-17 % less time, float64 ones 0-8 % less (interleaved, 10th
  percentiles).  NumPy's is also the library that scikit-learn's MLP and the
  benchmark's GEMM floor run on.
* ``np.dot`` takes only C- or F-contiguous operands.  A block of columns of a
  C-ordered matrix (``x[:, i0:i1]``) is neither, so splitting
  ``dw = x.T @ dz`` over the rows of ``dw`` needed a transposed copy of
  ``x`` first (about a tenth of a large dense layer's backward pass); BLAS
  itself takes any leading dimension.

How
---
Kernels call :func:`gemm`, which calls two external functions by name,
``sknn_cblas_sgemm`` and ``sknn_cblas_dgemm``, with the ABI of the 64-bit
integer CBLAS (``cblas_?gemm64_``).  The names are bound once per process,
when Numba is first needed (:func:`_bind_gemm`), so kernels that use them
stay cacheable:

* to NumPy's ``scipy_cblas_?gemm64_`` when NumPy's BLAS is the OpenBLAS of
  NumPy's wheels (found among the libraries threadpoolctl sees, and checked
  on a small product before use);
* otherwise to two small Numba ``cfunc`` adapters with the same ABI that
  call ``numba_xxgemm``, the helper Numba's own ``np.dot`` uses (SciPy's
  BLAS): the products are then exactly what ``np.dot`` in a kernel gave.

:data:`BLAS_SOURCE` says which.  Either library is pinned to one thread
inside sknn's calls (:mod:`sknn._threads` limits every BLAS threadpoolctl
finds), so results stay independent of the thread count.
``tests/test_kernels_dense.py`` checks :func:`gemm` against NumPy on every
transpose combination, strided blocks and empty shapes, and both bindings.
"""

import ctypes

import numpy as np

from .._jit import kernel, on_materialize

_SGEMM = None  # Numba external functions, declared when Numba is imported
_DGEMM = None
_XXGEMM = None
_ADAPTERS = []  # the cfunc adapters once built (see numba_adapters)

#: Where :func:`gemm`'s products run once bound: ``"numpy"`` (NumPy's
#: OpenBLAS) or ``"numba"`` (Numba's ``np.dot`` helper, SciPy's BLAS).
BLAS_SOURCE = None

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# (single, double) precision symbol names of the 64-bit-integer CBLAS that
# NumPy's wheels ship (OpenBLAS built with the ``scipy_`` prefix and ``64_``
# suffix), then plain OpenBLAS ILP64 names.
_NUMPY_CBLAS_NAMES = (
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"),
    ("cblas_sgemm64_", "cblas_dgemm64_"),
)


def _cblas_signature(types, real):
    i64, intc, ptr = types.int64, types.intc, types.voidptr
    return types.void(intc, intc, intc, i64, i64, i64, real, ptr, i64, ptr, i64, real,
                      ptr, i64)


def _ctypes_gemm(address, real):
    i64, intc, ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    proto = ctypes.CFUNCTYPE(None, intc, intc, intc, i64, i64, i64, real, ptr, i64, ptr,
                             i64, real, ptr, i64)
    return proto(address)


def _works(address, dtype, real):
    """True when ``address`` computes a small row-major product correctly."""
    a = np.arange(1.0, 7.0, dtype=dtype).reshape(2, 3)
    b = np.arange(1.0, 13.0, dtype=dtype).reshape(4, 3)  # used transposed
    c = np.full((2, 4), -1.0, dtype=dtype)
    _ctypes_gemm(address, real)(_ROW_MAJOR, _NO_TRANS, _TRANS, 2, 4, 3, 1.0,
                                a.ctypes.data, 3, b.ctypes.data, 3, 0.0,
                                c.ctypes.data, 4)
    return np.array_equal(c, a @ b.T)


def _numpy_cblas():
    """``(sgemm, dgemm)`` addresses in NumPy's OpenBLAS, or None."""
    from .._threads import _blas_controller

    for lib in _blas_controller().lib_controllers:
        if lib.user_api != "blas" or lib.internal_api != "openblas":
            continue
        try:
            handle = ctypes.CDLL(lib.filepath)
        except OSError:
            continue
        for s_name, d_name in _NUMPY_CBLAS_NAMES:
            try:
                s = ctypes.cast(getattr(handle, s_name), ctypes.c_void_p).value
                d = ctypes.cast(getattr(handle, d_name), ctypes.c_void_p).value
            except AttributeError:
                continue
            if (_works(s, np.float32, ctypes.c_float)
                    and _works(d, np.float64, ctypes.c_double)):
                return s, d
    return None


def _xx(kind, coef, ta, tb, m, n, k, a, lda, b, ldb, c, ldc):
    # Row-major C = op(A) @ op(B) is column-major C.T = op(B).T @ op(A).T.
    no = np.int8(110)  # 'n'
    yes = np.int8(116)  # 't'
    _XXGEMM(kind, no if tb == _NO_TRANS else yes, no if ta == _NO_TRANS else yes,
            n, m, k, coef.ctypes, b, ldb, a, lda, coef[1:].ctypes, c, ldc)


def _sgemm_via_numba(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    coef = np.empty(2, np.float32)
    coef[0] = alpha
    coef[1] = beta
    _xx(np.int8(115), coef, ta, tb, m, n, k, a, lda, b, ldb, c, ldc)


def _dgemm_via_numba(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    coef = np.empty(2, np.float64)
    coef[0] = alpha
    coef[1] = beta
    _xx(np.int8(100), coef, ta, tb, m, n, k, a, lda, b, ldb, c, ldc)


def numba_adapters():
    """The two ``cfunc`` adapters (single, double) over ``numba_xxgemm``.

    Built (and cached by Numba) on first use; :func:`_bind_gemm` binds them
    when NumPy's BLAS cannot be used, and the tests call them directly.
    """
    global _xx
    if not _ADAPTERS:
        import numba
        from numba import types

        if not hasattr(_xx, "py_func"):
            _xx = numba.njit(cache=True, inline="always")(_xx)
        _ADAPTERS[:] = [
            numba.cfunc(_cblas_signature(types, types.float32), cache=True)(
                _sgemm_via_numba),
            numba.cfunc(_cblas_signature(types, types.float64), cache=True)(
                _dgemm_via_numba),
        ]
    return tuple(_ADAPTERS)


@on_materialize
def _bind_gemm():
    """Declare the external functions and bind their names (see module doc)."""
    global _SGEMM, _DGEMM, _XXGEMM, BLAS_SOURCE
    from llvmlite import binding
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
    _SGEMM = types.ExternalFunction("sknn_cblas_sgemm",
                                    _cblas_signature(types, types.float32))
    _DGEMM = types.ExternalFunction("sknn_cblas_dgemm",
                                    _cblas_signature(types, types.float64))
    found = _numpy_cblas()
    BLAS_SOURCE = "numpy"
    if found is None:
        found = tuple(f.address for f in numba_adapters())
        BLAS_SOURCE = "numba"
    binding.add_symbol("sknn_cblas_sgemm", found[0])
    binding.add_symbol("sknn_cblas_dgemm", found[1])


@kernel
def _storage(x):
    """``(transposed, leading dimension)`` of a 2-D array as BLAS sees it.

    Rows contiguous (C order, row or column blocks): the array itself, row
    stride as leading dimension.  Columns contiguous (F order, e.g. ``w.T``
    of a C array): stored as its transpose, column stride as leading
    dimension.  Anything else is refused.
    """
    r, c = x.shape
    item = x.itemsize
    s0, s1 = x.strides
    if (c <= 1 or s1 == item) and (r <= 1 or s0 >= item * c):
        return False, max(1, s0 // item, c)
    if (r <= 1 or s0 == item) and (c <= 1 or s1 >= item * r):
        return True, max(1, s1 // item, r)
    raise ValueError("gemm operands must have contiguous rows or columns")


@kernel
def gemm(c, a, b, trans_a, trans_b):
    """``c = op(a) @ op(b)`` where ``op(x)`` is ``x.T`` when ``trans_x``.

    ``a``, ``b`` and ``c`` are 2-D arrays of one float dtype whose rows or
    columns are contiguous: C- or F-ordered arrays and their row or column
    blocks (such as ``x[:, i0:i1]``), taken in place.  ``c`` is overwritten;
    with an empty inner dimension it is set to zero.
    """
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        c[:, :] = 0
        return
    a_t, lda = _storage(a)
    b_t, ldb = _storage(b)
    c_t, ldc = _storage(c)
    ta = trans_a != a_t
    tb = trans_b != b_t
    if c_t:  # c is stored as its transpose: c.T = op(b).T @ op(a).T
        _row_major_gemm(n, m, k, not tb, b, ldb, not ta, a, lda, c, ldc)
    else:
        _row_major_gemm(m, n, k, ta, a, lda, tb, b, ldb, c, ldc)


@kernel
def _row_major_gemm(m, n, k, ta, a, lda, tb, b, ldb, c, ldc):
    order = np.intc(_ROW_MAJOR)
    ta_code = np.intc(_TRANS if ta else _NO_TRANS)
    tb_code = np.intc(_TRANS if tb else _NO_TRANS)
    if c.itemsize == 4:
        _SGEMM(order, ta_code, tb_code, m, n, k, np.float32(1), a.ctypes, lda, b.ctypes,
               ldb, np.float32(0), c.ctypes, ldc)
    else:
        _DGEMM(order, ta_code, tb_code, m, n, k, np.float64(1), a.ctypes, lda, b.ctypes,
               ldb, np.float64(0), c.ctypes, ldc)
