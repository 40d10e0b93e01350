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
Kernels call :func:`gemm`.  Like ``np.dot`` it hands a product with a single
output row or column (predicting one row; a one-unit output layer) to
``gemv``: OpenBLAS's ``gemm`` packs the whole other operand first, which made
a one-row ``predict_proba`` 2.2x slower.  The four routines are external
functions called by name (``sknn_cblas_sgemm`` ...) with the ABI of the
64-bit-integer CBLAS (``cblas_?gemm64_``, ``cblas_?gemv64_``); the names are
bound once per process, when Numba is first needed (:func:`_bind`), so
kernels that call them stay cacheable:

* to NumPy's ``scipy_cblas_?gem?64_`` when NumPy's BLAS is the OpenBLAS of
  NumPy's wheels (found among the libraries threadpoolctl sees, and each
  checked on a small product before use);
* otherwise to Numba ``cfunc`` adapters with the same ABI over
  ``numba_xxgemm`` / ``numba_xxgemv``, the helpers Numba's own ``np.dot``
  uses (SciPy's BLAS): the products are then what ``np.dot`` gave.

:data:`BLAS_SOURCE` says which.  Either library is pinned to one thread
inside sknn's calls (:mod:`sknn._threads` limits every BLAS threadpoolctl
finds), so results stay independent of the thread count.
``tests/test_kernels_dense.py`` checks :func:`gemm` against NumPy for every
transpose pair and layout, strided blocks, vector shapes and empty shapes,
and the adapters on their own.

sknn's own packed kernel
------------------------
On CPUs with AVX-512 (:data:`sknn._kernels.packed_gemm.ENABLED`) the
matrix-matrix products that it runs faster than single-threaded OpenBLAS
(:func:`_use_packed`) go to :mod:`sknn._kernels.packed_gemm` instead, through
two more names with the same ABI, ``sknn_packed_sgemm`` and
``sknn_packed_dgemm``, bound to ``cfunc`` entry points once every kernel is
decorated (:func:`_bind_packed`; elsewhere :func:`_bind` binds them to BLAS).
:func:`blas_gemm` and :func:`packed_only_gemm` pin one side, for the tests.
"""

import ctypes

import numpy as np

from .._jit import after_materialize, compiled_cfunc, kernel, on_materialize
from . import packed_gemm as _packed

# Numba external functions, declared when Numba is imported.
_SGEMM = _DGEMM = _SGEMV = _DGEMV = None
_PACKED_SGEMM = _PACKED_DGEMM = None  # sknn's packed kernel, or BLAS again
_PACKED_ENTRIES = {}  # "sgemm"/"dgemm" -> the packed kernel's cfunc, kept alive
_XXGEMM = _XXGEMV = None
_ADAPTERS = {}  # the cfunc adapters once built (see numba_adapters)

#: Where :func:`gemm`'s products run once bound: ``"numpy"`` (NumPy's
#: OpenBLAS) or ``"numba"`` (Numba's ``np.dot`` helpers, SciPy's BLAS).
BLAS_SOURCE = None

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_ROUTINES = ("sgemm", "dgemm", "sgemv", "dgemv")
# Symbol name patterns of the 64-bit-integer CBLAS in NumPy's wheels
# (OpenBLAS built with the ``scipy_`` prefix and ``64_`` suffix), then plain
# OpenBLAS ILP64 names.
_NUMPY_CBLAS_PATTERNS = ("scipy_cblas_{}64_", "cblas_{}64_")


# Argument kinds of the 64-bit-integer CBLAS routines, in order: "i" a C int
# (order and transpose codes), "n" a 64-bit size, leading dimension or
# stride, "r" a real of the routine's precision, "p" a pointer.
#   gemm: order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
#   gemv: order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy
_ARG_KINDS = {"gemm": "iiinnnrpnpnrpn", "gemv": "iinnrpnpnrpn"}


def _signature(name, types):
    """Numba signature of the 64-bit-integer CBLAS routine ``name``."""
    real = types.float32 if name[0] == "s" else types.float64
    of = {"i": types.intc, "n": types.int64, "r": real, "p": types.voidptr}
    return types.void(*(of[kind] for kind in _ARG_KINDS[name[1:]]))


def ctypes_routine(name, address):
    """A ctypes function for the CBLAS routine ``name`` at ``address``."""
    real = ctypes.c_float if name[0] == "s" else ctypes.c_double
    of = {"i": ctypes.c_int, "n": ctypes.c_int64, "r": real, "p": ctypes.c_void_p}
    return ctypes.CFUNCTYPE(None, *(of[kind] for kind in _ARG_KINDS[name[1:]]))(address)


def _works(name, address):
    """True when ``address`` computes a small row-major product correctly."""
    dtype = np.float32 if name[0] == "s" else np.float64
    f = ctypes_routine(name, address)
    a = np.arange(1.0, 7.0, dtype=dtype).reshape(2, 3)
    if name.endswith("gemm"):
        b = np.arange(1.0, 13.0, dtype=dtype).reshape(4, 3)  # used transposed
        c = np.full((2, 4), -1.0, dtype=dtype)
        f(_ROW_MAJOR, _NO_TRANS, _TRANS, 2, 4, 3, 1.0, a.ctypes.data, 3, b.ctypes.data,
          3, 0.0, c.ctypes.data, 4)
        return np.array_equal(c, a @ b.T)
    x = np.arange(1.0, 5.0, dtype=dtype)  # x[0], x[2] read (incx = 2)
    y = np.full(6, -1.0, dtype=dtype)  # y[0], y[2], y[4] written (incy = 2)
    f(_ROW_MAJOR, _TRANS, 2, 3, 1.0, a.ctypes.data, 3, x.ctypes.data, 2, 0.0,
      y.ctypes.data, 2)
    return np.array_equal(y[::2], a.T @ x[::2]) and np.all(y[1::2] == -1.0)


def _numpy_cblas():
    """``{routine: address}`` in NumPy's OpenBLAS, or None."""
    from .._threads import _blas_controller

    for lib in _blas_controller().lib_controllers:
        if lib.user_api != "blas" or lib.internal_api != "openblas":
            continue
        try:
            handle = ctypes.CDLL(lib.filepath)
        except OSError:
            continue
        for pattern in _NUMPY_CBLAS_PATTERNS:
            try:
                found = {name: ctypes.cast(getattr(handle, pattern.format(name)),
                                           ctypes.c_void_p).value
                         for name in _ROUTINES}
            except AttributeError:
                continue
            if all(_works(name, address) for name, address in found.items()):
                return found
    return None


# -- adapters over Numba's np.dot helpers (column-major Fortran BLAS) -------
def _flip(trans):
    return np.int8(116) if trans == _NO_TRANS else np.int8(110)  # 't' / 'n'


def _same(trans):
    return np.int8(110) if trans == _NO_TRANS else np.int8(116)


def _kind_and_coef(alpha, beta):
    """BLAS kind ('s' or 'd') and ``[alpha, beta]`` in alpha's precision."""
    coef = np.array([alpha, beta])
    return (np.int8(115) if coef.itemsize == 4 else np.int8(100)), coef


def _gemm_adapter(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    # Row-major C = op(A) @ op(B) is column-major C.T = op(B).T @ op(A).T.
    kind, coef = _kind_and_coef(alpha, beta)
    _XXGEMM(kind, _same(tb), _same(ta), n, m, k, coef.ctypes, b, ldb, a, lda,
            coef[1:].ctypes, c, ldc)


def _gemv_adapter(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy):
    kind, coef = _kind_and_coef(alpha, beta)
    # A row-major (m, n) matrix is a column-major (n, m) one: flip ``trans``.
    if incx == 1 and incy == 1:
        _XXGEMV(kind, _flip(trans), n, m, coef.ctypes, a, lda, x, coef[1:].ctypes, y)
    # Otherwise a one-row column-major gemm: a vector with stride ``inc`` is a
    # (1, len) matrix with leading dimension ``inc``, and the row-major A is
    # the column-major (n, m) matrix A.T.
    elif trans == _NO_TRANS:  # y (1, m) = x (1, n) @ A.T
        _XXGEMM(kind, np.int8(110), np.int8(110), np.intp(1), m, n, coef.ctypes, x,
                incx, a, lda, coef[1:].ctypes, y, incy)
    else:  # y (1, n) = x (1, m) @ A
        _XXGEMM(kind, np.int8(110), np.int8(116), np.intp(1), n, m, coef.ctypes, x,
                incx, a, lda, coef[1:].ctypes, y, incy)


def _declare_helpers():
    """Declare Numba's own ``np.dot`` helpers (once)."""
    global _XXGEMM, _XXGEMV
    if _XXGEMM is not None:
        return
    from numba import types
    from numba.np.linalg import ensure_blas

    ensure_blas()  # SciPy's BLAS must be importable, as for np.dot in a kernel
    ptr, intp, char = types.voidptr, types.intp, types.char
    _XXGEMM = types.ExternalFunction("numba_xxgemm", types.intc(
        char, char, char, intp, intp, intp, ptr, ptr, intp, ptr, intp, ptr, ptr, intp))
    _XXGEMV = types.ExternalFunction("numba_xxgemv", types.intc(
        char, char, intp, intp, ptr, ptr, intp, ptr, ptr, ptr))


def numba_adapters():
    """``{routine: cfunc}``: the row-major CBLAS adapters over Numba's helpers.

    Built (and cached by Numba) on first use; :func:`_bind` binds them when
    NumPy's BLAS cannot be used, and the tests call them directly.  Only
    ``order = CblasRowMajor`` is implemented (the only one :func:`gemm` uses).
    """
    if not _ADAPTERS:
        import numba
        from numba import types

        _declare_helpers()
        helpers = globals()
        for name in ("_flip", "_same", "_kind_and_coef"):
            if not hasattr(helpers[name], "py_func"):
                helpers[name] = numba.njit(cache=True, inline="always")(helpers[name])
        for name in _ROUTINES:  # one Python body per routine, compiled per precision
            body = _gemm_adapter if name.endswith("gemm") else _gemv_adapter
            _ADAPTERS[name] = numba.cfunc(_signature(name, types), cache=True)(body)
    return dict(_ADAPTERS)


@on_materialize
def _bind():
    """Declare the external functions and bind their names (see module doc)."""
    global _SGEMM, _DGEMM, _SGEMV, _DGEMV, BLAS_SOURCE, _PACKED_SGEMM, _PACKED_DGEMM
    from llvmlite import binding
    from numba import types

    _declare_helpers()
    _SGEMM, _DGEMM, _SGEMV, _DGEMV = (
        types.ExternalFunction("sknn_cblas_" + name, _signature(name, types))
        for name in _ROUTINES)
    _PACKED_SGEMM, _PACKED_DGEMM = (
        types.ExternalFunction("sknn_packed_" + name, _signature(name, types))
        for name in ("sgemm", "dgemm"))
    found = _numpy_cblas()
    BLAS_SOURCE = "numpy"
    if found is None:
        found = {name: f.address for name, f in numba_adapters().items()}
        BLAS_SOURCE = "numba"
    for name in _ROUTINES:
        binding.add_symbol("sknn_cblas_" + name, found[name])
    if not _packed.ENABLED:  # (set by its own hook, which runs first)
        for name in ("sgemm", "dgemm"):  # never called then, but must resolve
            binding.add_symbol("sknn_packed_" + name, found[name])


@after_materialize
def _bind_packed():
    """Where the packed kernel is enabled, build its ``cfunc`` entry points
    (:func:`sknn._kernels.packed_gemm.cblas_gemm`, one per dtype, cached by
    Numba) and bind ``sknn_packed_?gemm`` to them."""
    if not _packed.ENABLED:
        return
    from llvmlite import binding
    from numba import types

    for name in ("sgemm", "dgemm"):
        entry = _PACKED_ENTRIES[name] = compiled_cfunc(_packed.cblas_gemm,
                                                       _signature(name, types))
        binding.add_symbol("sknn_packed_" + name, entry.address)


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
    with an empty inner dimension it is set to zero.  Products big enough for
    sknn's own packed kernel run there on CPUs it is built for
    (:mod:`sknn._kernels.packed_gemm`), the rest on BLAS.
    """
    _product(c, a, b, trans_a, trans_b,
             _PACKED_WHERE_IT_PAYS if _packed.ENABLED else _BLAS_ONLY)


_BLAS_ONLY, _PACKED_WHERE_IT_PAYS, _PACKED_ALWAYS = 0, 1, 2  # _product's modes


@kernel
def blas_gemm(c, a, b, trans_a, trans_b):
    """:func:`gemm` with every product on BLAS (the reference for the tests,
    and what :func:`gemm` is on CPUs without AVX-512)."""
    _product(c, a, b, trans_a, trans_b, _BLAS_ONLY)


@kernel
def packed_only_gemm(c, a, b, trans_a, trans_b):
    """:func:`gemm` with every product that is not a matrix-vector one on
    the packed kernel, whatever its size (for the tests; only where
    :data:`sknn._kernels.packed_gemm.ENABLED`)."""
    _product(c, a, b, trans_a, trans_b, _PACKED_ALWAYS)


@kernel
def _use_packed(m, n, k, tb, item):
    """Whether the packed kernel beats single-threaded OpenBLAS (AVX2
    kernels) on a row-major ``(m, k) @ (k, n)`` product whose right operand
    is stored transposed when ``tb``, from measurements on the benchmark
    machine: a transposed right operand is packed whole, which a few rows do
    not repay; below 2**17 (float64) or 2**18 (float32) multiply-adds the
    call and edge-tile overheads dominate; in float32 the tile is 48 columns
    wide and OpenBLAS's AVX2 kernels closer, so narrow outputs (such as a
    10-class layer) stay on BLAS."""
    if tb and m < 64:
        return False
    if item == 8:
        return m * n * k >= 131072
    return n >= 32 and m >= _packed.MR and m * n * k >= 262144


@kernel
def _product(c, a, b, trans_a, trans_b, mode):
    """:func:`gemm` on BLAS (``mode == _BLAS_ONLY``), on the packed kernel
    where it pays (``_PACKED_WHERE_IT_PAYS``) or always
    (``_PACKED_ALWAYS``)."""
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
    if m == 1:
        # c's only row = op(b).T @ (op(a)'s row): gemv on b's storage B
        # (op(b) = B, or B.T when tb); op(a)'s row is a's storage row (or,
        # when ta, its column: stride lda); c's row has stride ldc when c is
        # stored transposed.
        _gemv(not tb, n if tb else k, k if tb else n, b, ldb, a, lda if ta else 1, c,
              ldc if c_t else 1)
    elif n == 1:
        # c's only column = op(a) @ (op(b)'s column): gemv on a's storage.
        _gemv(ta, k if ta else m, m if ta else k, a, lda, b, 1 if tb else ldb, c,
              1 if c_t else ldc)
    elif c_t:  # c is stored as its transpose: c.T = op(b).T @ op(a).T
        _gemm(n, m, k, not tb, b, ldb, not ta, a, lda, c, ldc, mode)
    else:
        _gemm(m, n, k, ta, a, lda, tb, b, ldb, c, ldc, mode)


@kernel
def _gemm(m, n, k, ta, a, lda, tb, b, ldb, c, ldc, mode):
    """Row-major ``gemm`` on storage matrices (``ta``/``tb``: transpose), on
    BLAS or the packed kernel as :func:`_product`'s ``mode`` says."""
    packed = mode == _PACKED_ALWAYS or (mode == _PACKED_WHERE_IT_PAYS
                                        and _use_packed(m, n, k, tb, c.itemsize))
    order = np.intc(_ROW_MAJOR)
    ta_code = np.intc(_TRANS if ta else _NO_TRANS)
    tb_code = np.intc(_TRANS if tb else _NO_TRANS)
    if c.itemsize == 4:
        one, zero = np.float32(1), np.float32(0)
        if packed:
            _PACKED_SGEMM(order, ta_code, tb_code, m, n, k, one, a.ctypes, lda, b.ctypes,
                          ldb, zero, c.ctypes, ldc)
        else:
            _SGEMM(order, ta_code, tb_code, m, n, k, one, a.ctypes, lda, b.ctypes, ldb,
                   zero, c.ctypes, ldc)
    else:
        one, zero = np.float64(1), np.float64(0)
        if packed:
            _PACKED_DGEMM(order, ta_code, tb_code, m, n, k, one, a.ctypes, lda, b.ctypes,
                          ldb, zero, c.ctypes, ldc)
        else:
            _DGEMM(order, ta_code, tb_code, m, n, k, one, a.ctypes, lda, b.ctypes, ldb,
                   zero, c.ctypes, ldc)


@kernel
def _gemv(trans, rows, cols, a, lda, x, incx, y, incy):
    """``y = op(A) @ x`` on the row-major ``(rows, cols)`` storage ``A`` of
    ``a``; ``x``/``y`` are read/written with strides ``incx``/``incy``."""
    order = np.intc(_ROW_MAJOR)
    code = np.intc(_TRANS if trans else _NO_TRANS)
    if y.itemsize == 4:
        _SGEMV(order, code, rows, cols, np.float32(1), a.ctypes, lda, x.ctypes, incx,
               np.float32(0), y.ctypes, incy)
    else:
        _DGEMV(order, code, rows, cols, np.float64(1), a.ctypes, lda, x.ctypes, incx,
               np.float64(0), y.ctypes, incy)
