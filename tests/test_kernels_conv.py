"""Tests for the convolution and pooling kernels in ``sknn._kernels.conv``."""

import numba
import numpy as np
import pytest
from _extras import one_and_all_threads

from sknn._kernels import conv as K
from sknn._kernels.activations import ACTIVATION_CODES, IDENTITY, activate, activation_grad

DTYPES = [np.float64, np.float32]
METHODS = ["direct", "gemm"]


def _tol(dtype):
    if dtype == np.float32:
        return dict(rtol=2e-4, atol=2e-5)
    return dict(rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------
# Plain NumPy references (float64, explicit loops over output positions)
# ---------------------------------------------------------------------------


def _padded(x, KH, KW, stride, pad_h, pad_w, OH, OW):
    N, C, H, W = x.shape
    Hp = max(pad_h + H, (OH - 1) * stride + KH)
    Wp = max(pad_w + W, (OW - 1) * stride + KW)
    xp = np.zeros((N, C, Hp, Wp))
    xp[:, :, pad_h:pad_h + H, pad_w:pad_w + W] = x
    return xp


def ref_conv_forward(x, w, b, stride, pad_h, pad_w, OH, OW):
    x, w, b = (np.asarray(a, np.float64) for a in (x, w, b))
    N = x.shape[0]
    F, _, KH, KW = w.shape
    xp = _padded(x, KH, KW, stride, pad_h, pad_w, OH, OW)
    out = np.zeros((N, F, OH, OW))
    for i in range(OH):
        for j in range(OW):
            win = xp[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
            out[:, :, i, j] = np.einsum("ncpq,fcpq->nf", win, w) + b
    return out


def ref_conv_backward(dout, x, w, stride, pad_h, pad_w):
    dout, x, w = (np.asarray(a, np.float64) for a in (dout, x, w))
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2:]
    xp = _padded(x, KH, KW, stride, pad_h, pad_w, OH, OW)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(OH):
        for j in range(OW):
            sl = (slice(None), slice(None),
                  slice(i * stride, i * stride + KH), slice(j * stride, j * stride + KW))
            g = dout[:, :, i, j]
            dw += np.einsum("nf,ncpq->fcpq", g, xp[sl])
            dxp[sl] += np.einsum("nf,fcpq->ncpq", g, w)
    dx = dxp[:, :, pad_h:pad_h + H, pad_w:pad_w + W]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def _windows(x, sh, sw):
    """(N, C, OH, OW, sh*sw) view of the pooling windows, row-major inside."""
    N, C, H, W = x.shape
    OH, OW = H // sh, W // sw
    v = np.asarray(x, np.float64)[:, :, :OH * sh, :OW * sw]
    v = v.reshape(N, C, OH, sh, OW, sw).transpose(0, 1, 2, 4, 3, 5)
    return v.reshape(N, C, OH, OW, sh * sw)


# ---------------------------------------------------------------------------
# Calling helpers
# ---------------------------------------------------------------------------


def _geometry(H, W, KH, KW, stride, padding):
    OH = K.conv_output_size(H, KH, stride, padding)
    OW = K.conv_output_size(W, KW, stride, padding)
    return OH, OW, K.conv_padding(H, KH, stride, padding), K.conv_padding(W, KW, stride, padding)


def _work(x, w, OH, OW, method, n_blocks=K.CONV_NBLOCK):
    F, C, KH, KW = w.shape
    shape = K.conv2d_workspace_shape(C, F, KH, KW, OH, OW, method, n_blocks)
    return np.full(shape, np.nan, x.dtype)  # garbage in the workspace must not leak


def _no_keep(x, w, OH, OW):
    return np.empty((0, w[0].size + 1, OH * OW), x.dtype)


def conv_forward(x, w, b, stride, ph, pw, OH, OW, method, act=IDENTITY, keep=None,
                 n_blocks=K.CONV_NBLOCK):
    out = np.full((x.shape[0], w.shape[0], OH, OW), np.nan, x.dtype)
    if method == "direct":
        K.conv2d_forward(out, x, w, b, stride, ph, pw, act)
    else:
        keep = _no_keep(x, w, OH, OW) if keep is None else keep
        K.conv2d_forward_gemm(out, x, w, b, stride, ph, pw,
                              _work(x, w, OH, OW, method, n_blocks), act, keep)
    return out


def conv_backward(dout, x, w, stride, ph, pw, method, need_dx=True, n_blocks=K.CONV_NBLOCK,
                  out=None, act=IDENTITY, keep=None):
    """Gradients; ``dout`` is not modified (the kernels overwrite their copy)."""
    dout = dout.copy()
    out = np.full_like(dout, np.nan) if out is None else out
    dx = np.full_like(x, np.nan)
    dw = np.full_like(w, np.nan)
    db = np.full(w.shape[0], np.nan, x.dtype)
    work = _work(x, w, dout.shape[2], dout.shape[3], method, n_blocks)
    if method == "direct":
        K.conv2d_backward(dx, dw, db, dout, out, x, w, stride, ph, pw, need_dx, work, act)
    else:
        keep = _no_keep(x, w, *dout.shape[2:]) if keep is None else keep
        K.conv2d_backward_gemm(dx, dw, db, dout, out, x, w, stride, ph, pw, need_dx, work,
                               act, keep)
    return dx, dw, db


def _random_conv(rng, N, C, H, W, F, KH, KW, dtype):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def test_conv_output_size_and_padding():
    assert K.conv_output_size(8, 3, 1, "same") == 8
    assert K.conv_output_size(8, 3, 2, "same") == 4
    assert K.conv_output_size(7, 3, 2, "same") == 4
    assert K.conv_output_size(8, 3, 1, "valid") == 6
    assert K.conv_output_size(8, 3, 2, "valid") == 3
    assert K.conv_output_size(3, 3, 5, "valid") == 1
    # TensorFlow "same": total = max((OH-1)*s + K - H, 0), before = total // 2
    assert K.same_padding(8, 3, 1) == 1
    assert K.same_padding(8, 4, 1) == 1  # total 3: 1 before, 2 after
    assert K.same_padding(8, 3, 2) == 0  # total 1: 0 before, 1 after
    assert K.same_padding(7, 3, 2) == 1  # total 2
    assert K.same_padding(5, 1, 1) == 0
    assert K.same_padding(2, 5, 1) == 2  # kernel larger than the image
    assert K.conv_padding(8, 3, 1, "valid") == 0
    assert K.conv_padding(8, 3, 1, "same") == 1
    assert K.pool_output_size(7, 2) == 3
    assert K.pool_output_size(8, 2) == 4


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda: K.conv_output_size(2, 3, 1, "valid"), ValueError),
        (lambda: K.conv_output_size(8, 3, 1, "full"), ValueError),
        (lambda: K.conv_output_size(8, 3, 0, "same"), ValueError),
        (lambda: K.conv_output_size(8, 0, 1, "same"), ValueError),
        (lambda: K.conv_output_size(8.0, 3, 1, "same"), TypeError),
        (lambda: K.conv_output_size(8, True, 1, "same"), TypeError),
        (lambda: K.same_padding(8, 3, -1), ValueError),
        (lambda: K.conv_padding(2, 3, 1, "valid"), ValueError),
        (lambda: K.pool_output_size(1, 2), ValueError),
        (lambda: K.pool_output_size(4, 0), ValueError),
        (lambda: K.conv2d_workspace_shape(1, 1, 3, 3, 4, 4, "fft"), ValueError),
        (lambda: K.conv2d_workspace_shape(1, 1, 3, 3, 4, 4, n_blocks=0), ValueError),
    ],
)
def test_helper_errors(call, exc):
    with pytest.raises(exc):
        call()


def test_workspace_shape_and_method():
    k = 3 * 5 * 4
    assert K.conv2d_workspace_shape(3, 8, 5, 4, 6, 7) == (K.CONV_NBLOCK, 8 * (k + 1))
    # 8 * 61 * 42 multiply-adds per sample: 6 samples per product, their
    # maps side by side at the end
    assert K.conv_group(k, 8, 42) == 6
    assert K.conv2d_workspace_shape(3, 8, 5, 4, 6, 7, "gemm", 4) == (
        4, (k + 1) * (16 + 6 * 42) + 8 * 6 * 42)
    # 1024 outputs: one sample per product, written in place (no maps part)
    assert K.conv_group(k, 8, 1024) == 1
    assert K.conv2d_workspace_shape(3, 8, 5, 4, 32, 32, "gemm", 4) == (
        4, (k + 1) * (16 + 1024))
    assert K.conv2d_method(8, 16, 5, 5, 12, 12) == "gemm"
    assert K.conv2d_method(1, 1, 3, 3, 4, 4) == "direct"
    assert K.conv2d_method(1, 16, 3, 3, 8, 8) == "gemm"


# ---------------------------------------------------------------------------
# Convolution vs the NumPy reference
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("C", [1, 3])
@pytest.mark.parametrize("kernel", [(3, 3), (4, 2)])
def test_conv_matches_reference(method, dtype, stride, padding, C, kernel):
    rng = np.random.default_rng(stride * 100 + C * 10 + kernel[1])
    N, H, W, F = 5, 8, 7, 4
    KH, KW = kernel
    x, w, b = _random_conv(rng, N, C, H, W, F, KH, KW, dtype)
    OH, OW, ph, pw = _geometry(H, W, KH, KW, stride, padding)

    out = conv_forward(x, w, b, stride, ph, pw, OH, OW, method)
    assert out.dtype == dtype
    ref = ref_conv_forward(x, w, b, stride, ph, pw, OH, OW)
    np.testing.assert_allclose(out, ref, **_tol(dtype))

    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = conv_backward(dout, x, w, stride, ph, pw, method)
    rdx, rdw, rdb = ref_conv_backward(dout, x, w, stride, ph, pw)
    for got, ref in ((dx, rdx), (dw, rdw), (db, rdb)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_direct_and_gemm_agree_any_block_count(dtype):
    rng = np.random.default_rng(7)
    N, C, H, W, F, KH, KW, stride = 11, 2, 9, 9, 3, 3, 3, 2
    x, w, b = _random_conv(rng, N, C, H, W, F, KH, KW, dtype)
    OH, OW, ph, pw = _geometry(H, W, KH, KW, stride, "same")
    out_d = conv_forward(x, w, b, stride, ph, pw, OH, OW, "direct")
    out_g = conv_forward(x, w, b, stride, ph, pw, OH, OW, "gemm")
    np.testing.assert_allclose(out_d, out_g, **_tol(dtype))
    dout = rng.standard_normal(out_d.shape).astype(dtype)
    ref = conv_backward(dout, x, w, stride, ph, pw, "direct")
    # more blocks than samples, one block, and an uneven split
    for n_blocks in (1, 3, 32):
        for method in METHODS:
            got = conv_backward(dout, x, w, stride, ph, pw, method, n_blocks=n_blocks)
            for g, r in zip(got, ref):
                np.testing.assert_allclose(g, r, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride, padding, size, n_blocks, group", [
    # 22x22 outputs: 4 samples per product; 11 samples in 2 blocks (5 and 6)
    # make groups of 4, 1 | 4, 2: full groups, a short one and one-sample
    # groups, which write out[n] in place
    (1, "same", 22, 2, 4),
    # stride 2, no padding: 16x16 outputs, 8 per product; one block of 11
    # makes groups of 8, 3
    (2, "valid", 33, 1, 8),
])
def test_gemm_groups_of_samples_match_the_direct_kernels(stride, padding, size, n_blocks,
                                                         group, dtype):
    # Kept and rebuilt im2col matrices give the same bits; the direct
    # kernels (no groups) agree, input gradient included.
    rng = np.random.default_rng(13)
    N, C, F = 11, 2, 3
    x, w, b = _random_conv(rng, N, C, size, size, F, 3, 3, dtype)
    OH, OW, ph, pw = _geometry(size, size, 3, 3, stride, padding)
    assert K.conv_group(C * 9, F, OH * OW) == group
    relu = ACTIVATION_CODES["relu"]
    keep = np.full((N, C * 9 + 1, OH * OW), np.nan, dtype)
    geometry = (stride, ph, pw, OH, OW)
    out = conv_forward(x, w, b, *geometry, "gemm", relu, keep, n_blocks=n_blocks)
    assert not np.isnan(keep).any()
    rebuilt = conv_forward(x, w, b, *geometry, "gemm", relu, n_blocks=n_blocks)
    np.testing.assert_array_equal(out, rebuilt)
    np.testing.assert_allclose(out, conv_forward(x, w, b, *geometry, "direct", relu),
                               **_tol(dtype))
    dout = rng.standard_normal(out.shape).astype(dtype)
    args = (dout, x, w, stride, ph, pw)
    got = conv_backward(*args, "gemm", n_blocks=n_blocks, out=out, act=relu, keep=keep)
    again = conv_backward(*args, "gemm", n_blocks=n_blocks, out=out, act=relu)
    want = conv_backward(*args, "direct", n_blocks=n_blocks, out=out, act=relu)
    for g, a, r in zip(got, again, want):
        np.testing.assert_array_equal(g, a)
        np.testing.assert_allclose(g, r, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("activation", sorted(ACTIVATION_CODES))
def test_fused_activation_equals_separate_passes(activation, method, dtype):
    # The kernels apply the activation (forward) and its derivative
    # (backward) per sample; the result must be the identity-activation
    # kernel followed or preceded by the element-wise activation kernels.
    code = ACTIVATION_CODES[activation]
    rng = np.random.default_rng(11)
    x, w, b = _random_conv(rng, 5, 2, 7, 6, 3, 3, 3, dtype)
    OH, OW, ph, pw = _geometry(7, 6, 3, 3, 1, "same")
    out = conv_forward(x, w, b, 1, ph, pw, OH, OW, method, code)
    ref = conv_forward(x, w, b, 1, ph, pw, OH, OW, method)
    activate(ref.reshape(-1), code)
    np.testing.assert_array_equal(out, ref)
    dout = rng.standard_normal(out.shape).astype(dtype)
    got = conv_backward(dout, x, w, 1, ph, pw, method, out=out, act=code)
    dz = dout.copy()
    activation_grad(dz.reshape(-1), out.reshape(-1), code)
    want = conv_backward(dz, x, w, 1, ph, pw, method)
    for g, r in zip(got, want):
        np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride, padding", [(1, "same"), (2, "valid")])
def test_kept_im2col_gives_the_same_bits(stride, padding, dtype):
    # The forward pass may keep its im2col matrices for the backward pass, in
    # keep's rows (one per sample, even more rows than samples): the
    # results are those of rebuilding them, and backward leaves keep as it is.
    rng = np.random.default_rng(5)
    x, w, b = _random_conv(rng, 7, 3, 9, 8, 4, 3, 2, dtype)
    OH, OW, ph, pw = _geometry(9, 8, 3, 2, stride, padding)
    keep = np.full((9, 3 * 3 * 2 + 1, OH * OW), np.nan, dtype)
    relu = ACTIVATION_CODES["relu"]
    out = conv_forward(x, w, b, stride, ph, pw, OH, OW, "gemm", relu, keep[:7])
    ref = conv_forward(x, w, b, stride, ph, pw, OH, OW, "gemm", relu)
    np.testing.assert_array_equal(out, ref)
    assert not np.isnan(keep[:7]).any() and np.isnan(keep[7:]).all()
    kept = keep.copy()
    dout = rng.standard_normal(out.shape).astype(dtype)
    got = conv_backward(dout, x, w, stride, ph, pw, "gemm", out=out, act=relu, keep=keep)
    want = conv_backward(dout, x, w, stride, ph, pw, "gemm", out=out, act=relu)
    for g, r in zip(got, want):
        np.testing.assert_array_equal(g, r)
    np.testing.assert_array_equal(keep, kept)


@pytest.mark.parametrize("method", METHODS)
def test_conv_backward_without_dx(method):
    rng = np.random.default_rng(3)
    x, w, _ = _random_conv(rng, 4, 2, 6, 6, 3, 3, 3, np.float64)
    dout = rng.standard_normal((4, 3, 6, 6))
    dx_ref, dw_ref, db_ref = conv_backward(dout, x, w, 1, 1, 1, method)
    dw = np.empty_like(w)
    db = np.empty(3)
    dummy = np.empty((0, 0, 0, 0))
    work = _work(x, w, 6, 6, method)
    if method == "direct":
        K.conv2d_backward(dummy, dw, db, dout, dout, x, w, 1, 1, 1, False, work, IDENTITY)
    else:
        K.conv2d_backward_gemm(dummy, dw, db, dout, dout, x, w, 1, 1, 1, False, work,
                               IDENTITY, _no_keep(x, w, 6, 6))
    np.testing.assert_array_equal(dw, dw_ref)
    np.testing.assert_array_equal(db, db_ref)


def test_conv_kernel_argument_errors():
    x = np.zeros((2, 3, 6, 6))
    w = np.zeros((4, 3, 3, 3))
    b = np.zeros(4)
    out = np.zeros((2, 4, 4, 4))
    with pytest.raises(ValueError):
        K.conv2d_forward(out, x, w[:, :2].copy(), b, 1, 0, 0, 0)  # channel mismatch
    with pytest.raises(ValueError):
        K.conv2d_forward(out, x, w, b, 0, 0, 0, 0)  # stride 0
    with pytest.raises(ValueError):
        K.conv2d_forward_gemm(out, x, w, b, 1, 0, 0, np.zeros((2, 10)), 0,
                              np.zeros((0, 28, 16)))  # work too small
    with pytest.raises(ValueError):
        K.conv2d_forward_gemm(out, x, w, b, 1, 0, 0, np.zeros((2, 1000)), 0,
                              np.zeros((1, 28, 16)))  # keep has too few rows
    with pytest.raises(ValueError):
        K.conv2d_forward_gemm(out, x, w, b, 1, 0, 0, np.zeros((2, 1000)), 0,
                              np.zeros((2, 27, 16)))  # keep lacks the ones row
    with pytest.raises(ValueError):
        K.conv2d_backward(x.copy(), w.copy(), b.copy(), out, out, x, w, 1, 0, 0, True,
                          np.zeros((2, 5)), 0)  # work too small
    with pytest.raises(ValueError):
        K.conv2d_backward(x.copy(), w.copy(), b.copy(), out, out, x, w, 1, 0, 0, True,
                          np.zeros((0, 200)), 0)  # no blocks
    with pytest.raises(ValueError):
        K.conv2d_backward_gemm(x[:1].copy(), w.copy(), b.copy(), out, out, x, w, 1, 0, 0,
                               True, np.zeros((2, 1000)), 0, np.zeros((0, 28, 16)))  # dx
    with pytest.raises(ValueError):
        K.conv2d_backward_gemm(x.copy(), w.copy(), b.copy(), out, out[:1], x, w, 1, 0, 0,
                               True, np.zeros((2, 1000)), 0, np.zeros((0, 28, 16)))  # out
    with pytest.raises(ValueError):
        K.conv2d_backward_gemm(x.copy(), w.copy(), b.copy(), out, out, x, w, 1, 0, 0,
                               True, np.zeros((2, 1000)), 0, np.zeros((2, 28, 15)))  # keep


# ---------------------------------------------------------------------------
# Finite differences (float64) and float32 vs float64
# ---------------------------------------------------------------------------


def _central_diff(loss, a, eps=1e-6):
    g = np.empty_like(a)
    flat, gflat = a.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        lp = loss()
        flat[i] = old - eps
        lm = loss()
        flat[i] = old
        gflat[i] = (lp - lm) / (2 * eps)
    return g


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stride, padding", [(1, "same"), (2, "same"), (2, "valid")])
def test_conv_gradients_finite_differences(method, stride, padding):
    rng = np.random.default_rng(11)
    N, C, H, W, F, KH, KW = 2, 2, 5, 6, 3, 3, 2
    x, w, b = _random_conv(rng, N, C, H, W, F, KH, KW, np.float64)
    OH, OW, ph, pw = _geometry(H, W, KH, KW, stride, padding)
    R = rng.standard_normal((N, F, OH, OW))

    def loss():
        return np.sum(conv_forward(x, w, b, stride, ph, pw, OH, OW, method) * R)

    dx, dw, db = conv_backward(R, x, w, stride, ph, pw, method)
    np.testing.assert_allclose(dx, _central_diff(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, _central_diff(loss, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, _central_diff(loss, b), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("method", METHODS)
def test_conv_float32_matches_float64(method):
    rng = np.random.default_rng(5)
    x, w, b = _random_conv(rng, 6, 3, 7, 7, 4, 3, 3, np.float64)
    OH, OW, ph, pw = _geometry(7, 7, 3, 3, 1, "same")
    R = rng.standard_normal((6, 4, OH, OW))
    f32 = [a.astype(np.float32) for a in (x, w, b, R)]
    out64 = conv_forward(x, w, b, 1, ph, pw, OH, OW, method)
    out32 = conv_forward(*f32[:3], 1, ph, pw, OH, OW, method)
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    g64 = conv_backward(R, x, w, 1, ph, pw, method)
    g32 = conv_backward(f32[3], f32[0], f32[1], 1, ph, pw, method)
    for a32, a64 in zip(g32, g64):
        assert a32.dtype == np.float32
        np.testing.assert_allclose(a32, a64, rtol=1e-4, atol=1e-4 * np.abs(a64).max())


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------


def _distinct_input(rng, shape, dtype):
    """Values at least 0.05 apart, so finite differences never cross a tie."""
    v = rng.permutation(np.prod(shape)).reshape(shape) * 0.05
    return (v - v.mean()).astype(dtype)


def maxpool(x, sh, sw, idx_dtype=None):
    if idx_dtype is None:  # one index dtype per float dtype keeps compilation short
        idx_dtype = np.int32 if x.dtype == np.float32 else np.int64
    N, C, H, W = x.shape
    out = np.full((N, C, H // sh, W // sw), np.nan, x.dtype)
    am = np.full(out.shape, -1, idx_dtype)
    K.maxpool2d_forward(out, am, x, sh, sw)
    return out, am


def meanpool(x, sh, sw):
    N, C, H, W = x.shape
    out = np.full((N, C, H // sh, W // sw), np.nan, x.dtype)
    K.meanpool2d_forward(out, x, sh, sw)
    return out


@pytest.mark.parametrize("dtype, idx_dtype", [(np.float64, np.int64), (np.float32, np.int32)])
@pytest.mark.parametrize(
    "sh, sw, H, W",
    [(2, 2, 7, 8), (2, 2, 6, 9), (3, 3, 9, 7), (1, 1, 3, 2), (2, 3, 5, 7), (1, 3, 1, 7)],
)
def test_pooling_matches_reference(dtype, idx_dtype, sh, sw, H, W):
    rng = np.random.default_rng(sh * 10 + sw)
    x = rng.standard_normal((3, 2, H, W)).astype(dtype)
    win = _windows(x, sh, sw)
    out, am = maxpool(x, sh, sw, idx_dtype)
    np.testing.assert_array_equal(out, win.max(-1).astype(dtype))
    np.testing.assert_array_equal(am, win.argmax(-1))
    mout = meanpool(x, sh, sw)
    np.testing.assert_allclose(mout, win.mean(-1), **_tol(dtype))

    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = np.full_like(x, np.nan)
    K.maxpool2d_backward(dx, dout, am, sh, sw)
    ref = np.zeros(x.shape)
    OH, OW = out.shape[2:]
    for i in range(OH):
        for j in range(OW):
            p, q = np.divmod(win.argmax(-1)[:, :, i, j], sw)
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    ref[n, c, i * sh + p[n, c], j * sw + q[n, c]] = dout[n, c, i, j]
    np.testing.assert_array_equal(dx, ref.astype(dtype))

    dx = np.full_like(x, np.nan)
    K.meanpool2d_backward(dx, dout, sh, sw)
    ref = np.zeros(x.shape)
    ref[:, :, :OH * sh, :OW * sw] = np.repeat(np.repeat(dout, sh, 2), sw, 3) / (sh * sw)
    np.testing.assert_allclose(dx, ref, **_tol(dtype))


def test_pooling_gradients_finite_differences():
    rng = np.random.default_rng(2)
    x = _distinct_input(rng, (2, 2, 5, 6), np.float64)
    R = rng.standard_normal((2, 2, 2, 3))
    _, am = maxpool(x, 2, 2)
    dx = np.empty_like(x)
    K.maxpool2d_backward(dx, R, am, 2, 2)
    np.testing.assert_allclose(dx, _central_diff(lambda: np.sum(maxpool(x, 2, 2)[0] * R), x),
                               rtol=1e-6, atol=1e-8)
    K.meanpool2d_backward(dx, R, 2, 2)
    np.testing.assert_allclose(dx, _central_diff(lambda: np.sum(meanpool(x, 2, 2) * R), x),
                               rtol=1e-6, atol=1e-8)


def test_pooling_float32_matches_float64():
    rng = np.random.default_rng(4)
    x = _distinct_input(rng, (3, 2, 6, 6), np.float64)
    R = rng.standard_normal((3, 2, 3, 3))
    x32, R32 = x.astype(np.float32), R.astype(np.float32)
    for fwd, bwd in ((maxpool, K.maxpool2d_backward), (meanpool, K.meanpool2d_backward)):
        o64, o32 = fwd(x, 2, 2), fwd(x32, 2, 2)
        d64, d32 = np.empty_like(x), np.empty_like(x32)
        if fwd is maxpool:
            np.testing.assert_array_equal(o64[1], o32[1])
            bwd(d64, R, o64[1], 2, 2)
            bwd(d32, R32, o32[1], 2, 2)
        else:
            bwd(d64, R, 2, 2)
            bwd(d32, R32, 2, 2)
        np.testing.assert_allclose(d32, d64, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("sh, sw", [(2, 2), (3, 2)])
def test_maxpool_ties_pick_the_first_maximum(sh, sw):
    """2x2 windows take an unrolled path; ties resolve like the general one
    and like NumPy's argmax (first in row-major window order)."""
    rng = np.random.default_rng(9)
    x = rng.integers(0, 3, (4, 3, 6, 6)).astype(np.float64)  # many ties
    out, am = maxpool(x, sh, sw)
    win = _windows(x, sh, sw)
    np.testing.assert_array_equal(out, win.max(-1))
    np.testing.assert_array_equal(am, win.argmax(-1))


def test_maxpool_nan_propagates():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 3, 3] = np.nan
    out, am = maxpool(x, 2, 2)
    assert np.isnan(out[0, 0, 0, 0]) and am[0, 0, 0, 0] == 1
    assert np.isnan(out[0, 0, 1, 1]) and am[0, 0, 1, 1] == 3
    assert out[0, 0, 0, 1] == 7 and out[0, 0, 1, 0] == 13


def test_pool_argument_errors():
    x = np.zeros((2, 3, 5, 5))
    am = np.zeros((2, 3, 3, 3), np.int64)
    with pytest.raises(ValueError):
        K.maxpool2d_forward(np.zeros((2, 3, 3, 3)), am, x, 2, 2)  # output too large
    with pytest.raises(ValueError):
        K.maxpool2d_forward(np.zeros((2, 3, 2, 2)), am[:, :, :2, :1].copy(), x, 2, 2)
    with pytest.raises(ValueError):
        K.meanpool2d_forward(np.zeros((2, 2, 2, 2)), x, 2, 2)  # channel mismatch
    with pytest.raises(ValueError):
        K.meanpool2d_backward(x.copy(), np.zeros((2, 3, 2, 2)), 0, 2)


# ---------------------------------------------------------------------------
# Determinism across thread counts
# ---------------------------------------------------------------------------


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs >= 2 Numba threads")
@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_identical_across_thread_counts(dtype):
    rng = np.random.default_rng(9)
    N, C, H, W, F = 37, 3, 8, 8, 5
    x, w, b = _random_conv(rng, N, C, H, W, F, 3, 3, dtype)
    OH, OW, ph, pw = _geometry(H, W, 3, 3, 1, "same")
    dout = rng.standard_normal((N, F, OH, OW)).astype(dtype)

    def run():
        res = []
        for method in METHODS:
            res.append(conv_forward(x, w, b, 1, ph, pw, OH, OW, method))
            res.extend(conv_backward(dout, x, w, 1, ph, pw, method))
        out, am = maxpool(x, 2, 2)
        dx = np.empty_like(x)
        K.maxpool2d_backward(dx, out, am, 2, 2)
        res += [out, am, dx, meanpool(x, 2, 2)]
        K.meanpool2d_backward(dx, out, 2, 2)
        res.append(dx)
        return res

    one, many = one_and_all_threads(run)
    for a, c in zip(one, many):
        np.testing.assert_array_equal(a, c)


def test_gemm_bit_identical_across_blas_threads():
    # big enough for OpenBLAS to consider several threads
    rng = np.random.default_rng(10)
    x, w, b = _random_conv(rng, 3, 16, 16, 16, 32, 3, 3, np.float64)
    dout = rng.standard_normal((3, 32, 16, 16))
    free_out = conv_forward(x, w, b, 1, 1, 1, 16, 16, "gemm")
    free = conv_backward(dout, x, w, 1, 1, 1, "gemm")
    with K.single_threaded_blas():
        one_out = conv_forward(x, w, b, 1, 1, 1, 16, 16, "gemm")
        one = conv_backward(dout, x, w, 1, 1, 1, "gemm")
    np.testing.assert_array_equal(free_out, one_out)
    for a, c in zip(free, one):
        np.testing.assert_array_equal(a, c)
