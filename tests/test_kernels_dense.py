"""Dense, activation, loss and optimizer kernels against NumPy references."""

import numpy as np
import pytest
from _extras import one_and_all_threads

from sknn._kernels import activations as A
from sknn._kernels.dense import (
    MAX_CHUNKS,
    csr_dense_backward,
    csr_dense_forward,
    csr_gather,
    dense_backward,
    dense_backward_pair,
    dense_backward_parallel,
    dense_forward,
    dense_forward_parallel,
    gather_rows,
    gather_vector,
)
from sknn._kernels.losses import BINARY_CE, POISSON, SOFTMAX_CE, SQUARED, link_loss_grad
from sknn._kernels.optim import adam_step, sgd_step
from sknn._kernels.regularization import dropout_forward

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-12, np.float32: 2e-5}

REF_ACT = {
    "identity": lambda z: z,
    "logistic": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)),
}
REF_DERIV = {
    "identity": lambda z: np.ones_like(z),
    "logistic": lambda z: REF_ACT["logistic"](z) * (1 - REF_ACT["logistic"](z)),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(z.dtype),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.01),
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(z)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(A.ACTIVATION_CODES))
def test_dense_forward_backward_reference(name, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5)).astype(dtype)
    w = rng.standard_normal((5, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    code = A.ACTIVATION_CODES[name]
    out = np.empty((7, 4), dtype)
    dense_forward(out, x, w, b, code, 1)
    z = x.astype(np.float64) @ w + b
    np.testing.assert_allclose(out, REF_ACT[name](z), rtol=TOL[dtype] * 10,
                               atol=TOL[dtype] * 10)

    dout = rng.standard_normal((7, 4)).astype(dtype)
    dz = dout * REF_DERIV[name](z)
    dx, dw, db = np.empty((7, 5), dtype), np.empty((5, 4), dtype), np.empty(4, dtype)
    dense_backward(dx, dw, db, np.empty(35, dtype), dout.copy(), out, x, w, code, True,
                   1)
    tol = dict(rtol=TOL[dtype] * 100, atol=TOL[dtype] * 100)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ dz, **tol)
    np.testing.assert_allclose(db, dz.sum(0), **tol)
    np.testing.assert_allclose(dx, dz @ w.T, **tol)


def test_activation_large_inputs_stay_finite():
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    for name in ["logistic", "tanh", "elu"]:
        v = z.copy()
        A.activate(v, A.ACTIVATION_CODES[name])
        assert np.all(np.isfinite(v)), name
    v = np.array([np.nan, -1.0])
    A.activate(v, A.RELU)
    assert np.isnan(v[0]) and v[1] == 0  # NaN propagates so divergence is caught


@pytest.mark.parametrize("dtype", DTYPES)
def test_csr_kernels_match_dense(dtype):
    import scipy.sparse as sp

    rng = np.random.default_rng(1)
    X = rng.standard_normal((9, 6)) * (rng.random((9, 6)) < 0.4)
    Xs = sp.csr_matrix(X.astype(dtype))
    idx = np.array([3, 0, 8, 5], dtype=np.int64)
    data = np.empty(Xs.nnz, dtype)
    ind = np.empty(Xs.nnz, np.int64)
    ptr = np.empty(5, np.int64)
    nnz = csr_gather(data, ind, ptr, Xs.data, Xs.indices.astype(np.int64),
                     Xs.indptr.astype(np.int64), idx)
    sub = sp.csr_matrix((data[:nnz], ind[:nnz], ptr), shape=(4, 6)).toarray()
    np.testing.assert_array_equal(sub, X[idx].astype(dtype))

    w = rng.standard_normal((6, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    out_s, out_d = np.empty((4, 3), dtype), np.empty((4, 3), dtype)
    csr_dense_forward(out_s, data, ind, ptr, w, b, A.TANH)
    dense_forward(out_d, np.ascontiguousarray(sub), w, b, A.TANH, 1)
    np.testing.assert_allclose(out_s, out_d, rtol=TOL[dtype] * 10)
    dout = rng.standard_normal((4, 3)).astype(dtype)
    dw_s, db_s = np.empty((6, 3), dtype), np.empty(3, dtype)
    dw_d, db_d = np.empty((6, 3), dtype), np.empty(3, dtype)
    csr_dense_backward(dw_s, db_s, dout.copy(), out_s, data, ind, ptr, A.TANH)
    dense_backward(np.empty((4, 6), dtype), dw_d, db_d, np.empty(24, dtype), dout.copy(),
                   out_d,
                   np.ascontiguousarray(sub), w, A.TANH, False, 1)
    np.testing.assert_allclose(dw_s, dw_d, rtol=TOL[dtype] * 100, atol=TOL[dtype] * 10)
    np.testing.assert_allclose(db_s, db_d, rtol=TOL[dtype] * 100)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather(dtype):
    x = np.arange(20, dtype=dtype).reshape(10, 2)
    idx = np.array([9, 2, 4], dtype=np.int64)
    out = np.empty((5, 2), dtype)
    gather_rows(out, x, idx)
    np.testing.assert_array_equal(out[:3], x[idx])
    v = np.empty(5, dtype)
    s = gather_vector(v, x[:, 0].copy(), idx)
    assert s == x[idx, 0].sum()


def _ref_loss(code, p, y):
    eps = np.finfo(p.dtype).eps
    if code == SQUARED:
        return 0.5 * ((y - p) ** 2).mean(axis=1)
    if code == POISSON:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(y > 0, y * np.log(y / p), 0.0)
        return (t - y + p).sum(axis=1)
    pc = np.clip(p, eps, 1 - eps)
    if code == SOFTMAX_CE:
        return -(y * np.log(pc)).sum(axis=1)
    return -(y * np.log(pc) + (1 - y) * np.log(1 - pc)).sum(axis=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [3, 11])  # 11: the 4-wide loop and its tail
@pytest.mark.parametrize("code", [SQUARED, POISSON, SOFTMAX_CE, BINARY_CE])
def test_link_loss_grad_reference(code, dtype, k):
    rng = np.random.default_rng(2)
    z = rng.standard_normal((6, k)).astype(dtype)
    if code == SOFTMAX_CE:
        y = np.eye(k, dtype=dtype)[rng.integers(0, k, 6)]
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
    elif code == BINARY_CE:
        y = rng.integers(0, 2, (6, k)).astype(dtype)
        p = 1 / (1 + np.exp(-z))
    elif code == POISSON:
        y = rng.poisson(2.0, (6, k)).astype(dtype)
        p = np.exp(z)
    else:
        y = rng.standard_normal((6, k)).astype(dtype)
        p = z.copy()
    sw = rng.random(6).astype(dtype)
    delta = np.empty_like(z)
    zz = z.copy()
    total = link_loss_grad(delta, zz, y, sw, code)
    tol = TOL[dtype] * 100
    np.testing.assert_allclose(zz, p, rtol=tol, atol=tol)
    np.testing.assert_allclose(delta, (p - y) * sw[:, None], rtol=tol, atol=tol)
    assert total == pytest.approx(float((sw * _ref_loss(code, p, y)).sum()), rel=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_kernels_reference(dtype):
    rng = np.random.default_rng(3)
    n, nw = 11, 7
    p0 = rng.standard_normal(n).astype(dtype)
    g0 = rng.standard_normal(n).astype(dtype)
    alpha, inv = 0.3, 0.25
    g = g0.astype(np.float64) * inv
    g[:nw] += alpha * p0[:nw] * inv

    p, v = p0.copy(), (rng.standard_normal(n).astype(dtype))
    v0 = v.copy()
    sq = sgd_step(p, g0.copy(), v, nw, alpha, inv, 0.1, 0.9, True)
    v_ref = 0.9 * v0 - 0.1 * g
    tol = TOL[dtype] * 10
    np.testing.assert_allclose(v, v_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(p, p0 + 0.9 * v_ref - 0.1 * g, rtol=tol, atol=tol)
    assert sq == pytest.approx(float((p0[:nw].astype(np.float64) ** 2).sum()), rel=tol)

    p, m, s = p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    adam_step(p, g0.copy(), m, s, nw, alpha, inv, 0.01, 0.9, 0.999, 1e-8)
    m_ref, s_ref = 0.1 * g, 0.001 * g * g
    np.testing.assert_allclose(m, m_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(p, p0 - 0.01 * m_ref / (np.sqrt(s_ref) + 1e-8),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_kernel(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(1000).astype(dtype)
    u = rng.random(1000).astype(dtype)
    out, mask = np.empty_like(x), np.empty_like(x)
    dropout_forward(out, mask, x, u, 0.25)
    keep = u >= 0.25
    np.testing.assert_allclose(out, np.where(keep, x / 0.75, 0), rtol=TOL[dtype])
    np.testing.assert_allclose(mask, np.where(keep, 1 / 0.75, 0), rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_chunked_matches_reference_on_many_chunks(dtype):
    """Batches big enough to be split in several chunks give the same answer."""
    rng = np.random.default_rng(5)
    n, k, m = 203, 37, 11
    x = rng.standard_normal((n, k)).astype(dtype)
    w = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    out = np.empty((n, m), dtype)
    dense_forward(out, x, w, b, A.TANH, 1)
    z = x.astype(np.float64) @ w + b
    tol = dict(rtol=TOL[dtype] * 100, atol=TOL[dtype] * 100)
    np.testing.assert_allclose(out, np.tanh(z), **tol)
    dout = rng.standard_normal((n, m)).astype(dtype)
    dz = dout * (1 - np.tanh(z) ** 2)
    dx, dw, db = np.empty((n, k), dtype), np.empty((k, m), dtype), np.empty(m, dtype)
    dense_backward(dx, dw, db, np.empty(n * k, dtype), dout, out, x, w, A.TANH, True,
                   1)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ dz, **tol)
    np.testing.assert_allclose(dx, dz @ w.T, **tol)
    np.testing.assert_allclose(db, dz.sum(0), **tol)


@pytest.mark.parametrize("split", [2, 3, 8])
@pytest.mark.parametrize("dtype", DTYPES)
def test_parallel_dense_kernels_are_thread_count_independent(dtype, split):
    """For a given ``split`` the parallel kernels give the same bits for 1 and
    all threads, and so does their serial twin (run in forked GNU-OpenMP
    children); they agree with the unchunked serial kernels to rounding."""
    rng = np.random.default_rng(6)
    n, k, m = 300, 200, 9  # up to 2 row chunks, 3 chunks of dw rows
    x = rng.standard_normal((n, k)).astype(dtype)
    w = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    dout = rng.standard_normal((n, m)).astype(dtype)

    def run(fwd, bwd):
        out = np.empty((n, m), dtype)
        fwd(out, x, w, b, A.ELU, split)
        dx, dw, db = np.empty((n, k), dtype), np.empty((k, m), dtype), np.empty(m, dtype)
        bwd(dx, dw, db, np.empty(MAX_CHUNKS * m, dtype), dout.copy(), out, x, w, A.ELU,
            True, split)
        return out, dx, dw, db

    one, many = one_and_all_threads(
        lambda: run(dense_forward_parallel, dense_backward_parallel))
    twin = run(dense_forward_parallel.serial, dense_backward_parallel.serial)
    serial = run(dense_forward, dense_backward)
    for a, c, t, s in zip(one, many, twin, serial):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(a, t)
        np.testing.assert_allclose(a, s, rtol=TOL[dtype] * 100, atol=TOL[dtype] * 100)


@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("name", ["identity", "elu"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_pair_is_the_serial_kernel_bit_for_bit(dtype, name, need_dx):
    """The two-product kernel makes the serial kernel's calls on two threads
    (``dw`` and ``dx``, or without ``dx`` the two half-batch products of
    ``dw``): the same bits for 1 and all threads and in its serial twin, and
    the NumPy reference to rounding; ``dx`` is untouched when not needed."""
    rng = np.random.default_rng(7)
    n, k, m = 128, 96, 10
    code = A.ACTIVATION_CODES[name]
    x = rng.standard_normal((n, k)).astype(dtype)
    w = rng.standard_normal((k, m)).astype(dtype)
    out = rng.standard_normal((n, m)).astype(dtype)
    if name == "elu":
        out = np.maximum(out, dtype(-0.9))  # an ELU output is > -1
    dout = rng.standard_normal((n, m)).astype(dtype)

    def run(kernel):
        dx = np.full((n, k), 7.0, dtype)
        dw, db = np.empty((k, m), dtype), np.empty(m, dtype)
        kernel(dx, dw, db, np.empty(k * m, dtype), dout.copy(), out, x, w,
               code, need_dx, 2)
        return dx, dw, db

    serial = run(dense_backward)
    one, many = one_and_all_threads(lambda: run(dense_backward_pair))
    for got in (one, many, run(dense_backward_pair.serial)):
        for a, s in zip(got, serial):
            np.testing.assert_array_equal(a, s)
    # f'(z) from the output a = f(z), as the kernels compute it
    deriv = np.where(out > 0, 1.0, out + 1.0) if name == "elu" else 1.0
    dz = dout.astype(np.float64) * deriv
    tol = dict(rtol=TOL[dtype] * 100, atol=TOL[dtype] * 100)
    np.testing.assert_allclose(serial[1], x.T.astype(np.float64) @ dz, **tol)
    np.testing.assert_allclose(serial[2], dz.sum(0), **tol)
    if need_dx:
        np.testing.assert_allclose(serial[0], dz @ w.T, **tol)
    else:
        assert (serial[0] == 7.0).all()


# (m, k, n): general, one output row or column (gemv), both, empty; the
# last is big enough for the packed kernel in both dtypes where it is enabled.
GEMM_SHAPES = [(7, 5, 3), (300, 200, 9), (1, 5, 3), (4, 5, 1), (1, 5, 1), (1, 1, 1),
               (0, 4, 3), (4, 0, 3), (4, 3, 0), (150, 300, 50)]


def _strided_operand(rng, rows, cols, dtype, order="C"):
    """A ``(rows, cols)`` block of a wider C array: contiguous rows, leading
    dimension larger than ``cols`` (as ``x[:, i0:i1]`` in the kernels); with
    ``order="F"`` the transpose of such a block of a C array (as a tied
    decoder's ``w.T``)."""
    if order == "F":
        return _strided_operand(rng, cols, rows, dtype).T
    base = rng.standard_normal((rows, cols + 5)).astype(dtype)
    return base[:, 2:2 + cols]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m, k, n", GEMM_SHAPES)
@pytest.mark.parametrize("orders", ["CCC", "FCC", "CFC", "CCF", "FFF"])
def test_gemm_matches_numpy_on_blocks_in_place(dtype, trans_a, trans_b, m, k, n,
                                               orders):
    """``gemm(c, a, b, ta, tb)`` equals NumPy's ``op(a) @ op(b)`` for every
    transpose pair, on strided row-major blocks and transposed (F-ordered)
    ones, and writes only ``c``'s block (an empty inner dimension gives
    zeros)."""
    from sknn._kernels.blas import gemm

    _check_product(gemm, dtype, trans_a, trans_b, m, k, n, orders, TOL[dtype] * 100)


def _check_product(product, dtype, trans_a, trans_b, m, k, n, orders, tol):
    """``product(c, a, b, ta, tb)`` against NumPy on operands of ``orders``
    (``_strided_operand``), ``c`` a block of a wider array filled with 7:
    the block must hold ``op(a) @ op(b)`` and the rest stay 7."""
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = _strided_operand(rng, *((k, m) if trans_a else (m, k)), dtype, orders[0])
    b = _strided_operand(rng, *((n, k) if trans_b else (k, n)), dtype, orders[1])
    c_full = np.full((m, n + 4) if orders[2] == "C" else (n + 4, m), 7.0, dtype)
    c = c_full[:, 1:1 + n] if orders[2] == "C" else c_full[1:1 + n].T
    product(c, a, b, trans_a, trans_b)
    ref = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
    np.testing.assert_allclose(c, ref, rtol=tol, atol=tol)
    rest = np.delete(c_full, np.s_[1:1 + n], axis=1 if orders[2] == "C" else 0)
    assert np.all(rest == 7.0)


def _needs_packed_kernel():
    from sknn._kernels import packed_gemm
    from sknn._kernels.blas import gemm

    gemm(np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1)), False, False)  # Numba
    if not packed_gemm.ENABLED:
        pytest.skip("sknn's packed GEMM is built for CPUs with AVX-512 only")


# (m, k, n) for the packed kernel: one full tile, edge tiles in both
# directions, several k-blocks (k > KC) and A blocks (m > MC), several B
# blocks (n > NC), products narrower and shorter than one tile.
PACKED_SHAPES = [(8, 1, 48), (13, 7, 50), (130, 600, 100), (17, 260, 4100), (2, 3, 5)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m, k, n", PACKED_SHAPES)
@pytest.mark.parametrize("orders", ["CCC", "FCC", "CFC", "CCF", "FFF"])
def test_packed_gemm_matches_numpy(dtype, trans_a, trans_b, m, k, n, orders):
    """The packed kernel equals NumPy's product on every tile shape, with
    operands read in place (untransposed ``b``, transposed ``a`` as stored)
    or packed, on strided blocks and F-ordered ones, and writes only
    ``c``'s block."""
    from sknn._kernels.blas import packed_only_gemm

    _needs_packed_kernel()
    _check_product(packed_only_gemm, dtype, trans_a, trans_b, m, k, n, orders,
                   TOL[dtype] * 10 * np.sqrt(k))


@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_gemm_rows_do_not_depend_on_their_neighbours(dtype):
    """Every entry is summed in one order whatever the call: rows computed in
    another block (a thread's chunk) or from an operand read in place
    instead of packed give the same bits.  This is what keeps fits
    independent of the thread count."""
    from sknn._kernels.blas import packed_only_gemm

    _needs_packed_kernel()
    rng = np.random.default_rng(3)
    m, k, n = 150, 600, 100
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    whole = np.empty((m, n), dtype)
    packed_only_gemm(whole, a, b, False, False)
    for i0, i1 in [(0, 5), (5, 77), (77, 150)]:  # blocks off the tile grid
        part = np.empty((i1 - i0, n), dtype)
        packed_only_gemm(part, a[i0:i1], b, False, False)
        assert np.array_equal(part, whole[i0:i1])
    for a_op, b_op, ta, tb in [(np.ascontiguousarray(a.T), b, True, False),  # a in place
                               (a, np.ascontiguousarray(b.T), False, True)]:  # b packed
        other = np.empty((m, n), dtype)
        packed_only_gemm(other, a_op, b_op, ta, tb)
        assert np.array_equal(other, whole)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_and_blas_gemm_agree(dtype):
    """``gemm`` (packed where it pays) and ``blas_gemm`` (BLAS only, the
    path on CPUs without AVX-512) give the same product on the benchmark
    MLP's shapes, forward and both backward products."""
    from sknn._kernels.blas import blas_gemm, gemm

    rng = np.random.default_rng(4)
    x = rng.standard_normal((128, 784)).astype(dtype)
    w = rng.standard_normal((784, 256)).astype(dtype)
    dz = rng.standard_normal((128, 256)).astype(dtype)
    for out, a, b, ta, tb in [((128, 256), x, w, False, False),
                              ((784, 256), x, dz, True, False),
                              ((128, 784), dz, w, False, True)]:
        got, ref = np.empty(out, dtype), np.empty(out, dtype)
        gemm(got, a, b, ta, tb)
        blas_gemm(ref, a, b, ta, tb)
        tol = TOL[dtype] * 10 * np.sqrt(a.shape[0] if ta else a.shape[1])
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("split", [1, 2, 8])
def test_matrix_all_finite_matches_numpy(dtype, split):
    """The parallel finiteness check finds NaN and +-inf in any row chunk,
    in the first and last element of a chunk, and accepts huge finite values."""
    from sknn._kernels.dense import matrix_all_finite

    x = np.full((3000, 7), np.finfo(dtype).max, dtype)
    x[::2] = -1.5
    assert matrix_all_finite(x, split)
    for bad in (np.nan, np.inf, -np.inf):
        for i, j in [(0, 0), (1499, 6), (1500, 0), (2999, 6), (374, 3)]:
            y = x.copy()
            y[i, j] = bad
            assert not matrix_all_finite(y, split)
    assert matrix_all_finite(x[:0], split)


def test_gemm_rejects_operands_without_contiguous_rows():
    from sknn._kernels.blas import gemm

    a = np.ones((8, 6))
    with pytest.raises(ValueError, match="contiguous rows or columns"):
        gemm(np.empty((4, 4)), a[::2, ::2], np.ones((3, 4)), False, False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False),
                                              (False, True), (True, True)])
def test_gemm_numba_gemm_adapter_matches_numpy(dtype, trans_a, trans_b):
    """The fallback binding's gemm (a cfunc adapter over Numba's ``np.dot``
    helper, used when NumPy's BLAS is not the OpenBLAS of NumPy's wheels)
    computes the same row-major products, leading dimensions included."""
    from sknn._kernels import blas

    name = "sgemm" if dtype == np.float32 else "dgemm"
    call = blas.ctypes_routine(name, blas.numba_adapters()[name].address)
    rng = np.random.default_rng(3)
    m, k, n = 6, 5, 4
    a = _strided_operand(rng, *((k, m) if trans_a else (m, k)), dtype)
    b = _strided_operand(rng, *((n, k) if trans_b else (k, n)), dtype)
    c_full = np.full((m, n + 3), 7.0, dtype)
    c = c_full[:, 1:1 + n]
    item = c.itemsize
    call(101, 112 if trans_a else 111, 112 if trans_b else 111, m, n, k, 1.0,
         a.ctypes.data, a.strides[0] // item, b.ctypes.data, b.strides[0] // item, 0.0,
         c.ctypes.data, c.strides[0] // item)
    ref = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
    np.testing.assert_allclose(c, ref, rtol=TOL[dtype] * 100, atol=TOL[dtype] * 100)
    assert np.all(c_full[:, 0] == 7.0) and np.all(c_full[:, 1 + n:] == 7.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans", [False, True])
@pytest.mark.parametrize("incx, incy", [(1, 1), (3, 1), (1, 2), (2, 3)])
def test_gemv_numba_adapter_matches_numpy(dtype, trans, incx, incy):
    """The fallback binding's gemv: unit strides go to Numba's gemv helper,
    others to a one-row gemm; both give ``op(A) @ x`` and write only every
    ``incy``-th element of ``y``."""
    from sknn._kernels import blas

    name = "sgemv" if dtype == np.float32 else "dgemv"
    call = blas.ctypes_routine(name, blas.numba_adapters()[name].address)
    rng = np.random.default_rng(4)
    rows, cols = 5, 4
    a = _strided_operand(rng, rows, cols, dtype)
    nx, ny = (rows, cols) if trans else (cols, rows)
    x = rng.standard_normal(nx * incx).astype(dtype)
    y = np.full(ny * incy, 7.0, dtype)
    call(101, 112 if trans else 111, rows, cols, 1.0, a.ctypes.data,
         a.strides[0] // a.itemsize, x.ctypes.data, incx, 0.0, y.ctypes.data, incy)
    ref = (a.T if trans else a).astype(np.float64) @ x[::incx]
    np.testing.assert_allclose(y[::incy], ref, rtol=TOL[dtype] * 100,
                               atol=TOL[dtype] * 100)
    mask = np.ones(y.shape, bool)
    mask[::incy] = False
    assert np.all(y[mask] == 7.0)


def test_gemm_runs_on_numpys_openblas_when_numpy_ships_it():
    """With NumPy's wheels (scipy-openblas), kernels' products run on NumPy's
    BLAS: the faster library here, and the one scikit-learn's MLP uses."""
    from sknn._jit import materialize
    from sknn._kernels import blas

    materialize()
    info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    if info.get("name") != "scipy-openblas":
        pytest.skip(f"NumPy's BLAS is {info.get('name')!r}, not its wheels' OpenBLAS")
    assert blas.BLAS_SOURCE == "numpy"


def test_fallback_binding_fits_like_numpys_blas(tmp_path):
    """A process where NumPy's BLAS is not found binds the adapters and trains
    to the same model (up to the two libraries' rounding)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from sknn._kernels import blas\n"
        "blas._numpy_cblas = lambda: None\n"
        "from sklearn.datasets import load_digits\n"
        "from sknn import MLPClassifierX\n"
        "X, y = load_digits(return_X_y=True)\n"
        "m = MLPClassifierX(hidden_layer_sizes=(32,), max_iter=5, random_state=0)\n"
        "m.fit(X / 16, y)\n"
        "assert blas.BLAS_SOURCE == 'numba', blas.BLAS_SOURCE\n"
        "np.save(sys.argv[1], m.predict_proba(X / 16))\n"
    )
    out = tmp_path / "proba.npy"
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code, str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning

    from sknn import MLPClassifierX

    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = MLPClassifierX(hidden_layer_sizes=(32,), max_iter=5, random_state=0)
        m.fit(X / 16, y)
    np.testing.assert_allclose(np.load(out), m.predict_proba(X / 16), rtol=1e-7,
                               atol=1e-9)


@pytest.mark.parametrize("solver", ["adam", "sgd", "nesterov"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_block_parallel_optimizer_is_bit_identical_to_serial(dtype, solver):
    """Large vectors update block-parallel: the same bits for 1 and all
    threads and in the serial twin (which small vectors use), including
    ``sum(w**2)``, and equal to a NumPy reference (weights end mid-block)."""
    from sknn._kernels import optim

    rng = np.random.default_rng(8)
    n = 3 * optim.BLOCK + 77
    nw = optim.BLOCK + 1000
    p0 = rng.standard_normal(n).astype(dtype)
    g0 = rng.standard_normal(n).astype(dtype)
    s0 = np.abs(rng.standard_normal(n)).astype(dtype)
    alpha, inv = 0.3, 0.25
    if solver == "adam":
        args, hyper = (0.01, 0.9, 0.999, 1e-8), True
    else:
        args, hyper = (0.1, 0.9, 1.0 if solver == "nesterov" else 0.0, 0.0), False

    def run(kern):
        p, s1, s2 = p0.copy(), s0.copy(), s0.copy()
        sq = kern(p, g0.copy(), s1, s2, nw, alpha, inv, *args, hyper)
        return p, s1, s2, sq

    one, many = one_and_all_threads(lambda: run(optim._step_parallel))
    for other in (many, run(optim._step_parallel.serial)):
        for a, b in zip(one, other):
            np.testing.assert_array_equal(a, b)

    g = g0.astype(np.float64) * inv
    g[:nw] += alpha * p0[:nw] * inv
    tol = TOL[dtype] * 10
    if solver == "adam":
        m = 0.9 * s0 + 0.1 * g
        v = 0.999 * s0 + 0.001 * g * g
        ref = p0 - 0.01 * m / (np.sqrt(v) + 1e-8)
    else:
        vel = 0.9 * s0 - 0.1 * g
        ref = p0 + (0.9 * vel - 0.1 * g if solver == "nesterov" else vel)
    np.testing.assert_allclose(one[0], ref, rtol=tol, atol=tol)
    assert one[3] == pytest.approx(float((p0[:nw].astype(np.float64) ** 2).sum()), rel=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", [SQUARED, POISSON, SOFTMAX_CE, BINARY_CE])
def test_parallel_loss_is_bit_identical_to_serial(code, dtype):
    """Wide outputs use the row-chunked loss kernel: same link output, same
    gradient and the same loss bits as the serial kernel, for any split."""
    from sknn._kernels.losses import link_loss_grad_parallel

    rng = np.random.default_rng(12)
    n, k = 150, 13
    z = rng.standard_normal((n, k)).astype(dtype)
    if code == SOFTMAX_CE:
        y = np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    elif code == BINARY_CE:
        y = rng.integers(0, 2, (n, k)).astype(dtype)
    elif code == POISSON:
        y = rng.poisson(2.0, (n, k)).astype(dtype)
    else:
        y = rng.standard_normal((n, k)).astype(dtype)
    sw = rng.random(n).astype(dtype)

    def run(kern, *extra):
        zz, delta = z.copy(), np.empty_like(z)
        total = kern(delta, zz, y, sw, code, *extra)
        return zz, delta, total

    ref = run(link_loss_grad)
    for split in (1, 2, 3):
        for a, b in zip(ref, run(link_loss_grad_parallel, split)):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(ref, run(link_loss_grad_parallel.serial, split)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [1, 2, 7])
@pytest.mark.parametrize("kernel", [dense_backward, dense_backward_pair])
def test_first_layer_backward_needs_a_weight_sized_work(kernel, n):
    # Without dx the second half-batch product goes to ``work``: one too
    # small is refused (never written past its end), and tiny batches (one
    # row: an empty first half) still give x.T @ dz.
    rng = np.random.default_rng(n)
    k, m = 5, 3
    x = rng.standard_normal((n, k))
    w = rng.standard_normal((k, m))
    out = rng.standard_normal((n, m))
    dout = rng.standard_normal((n, m))
    dw, db = np.full((k, m), np.nan), np.empty(m)
    with pytest.raises(ValueError, match="n_in \\* n_out"):
        kernel(np.empty((n, k)), dw, db, np.empty(k * m - 1), dout.copy(), out, x, w,
               A.IDENTITY, False, 2)
    kernel(np.empty((n, k)), dw, db, np.empty(k * m), dout.copy(), out, x, w,
           A.IDENTITY, False, 2)
    np.testing.assert_allclose(dw, x.T @ dout, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, dout.sum(0), rtol=1e-12, atol=1e-12)
