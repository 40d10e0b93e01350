"""Convolution and pooling kernels, the Conv2D/Pool2D layers and a small
conv network against plain NumPy float64 references and finite differences."""

import numpy as np
import pytest
from scipy.special import erf, expit

import sknn._conv_layers  # noqa: F401  (registers "conv2d" and "pool2d")
from sknn import _runtime
from sknn._base import build_network
from sknn._conv_layers import Conv2D, Pool2D
from sknn._kernels import conv as K
from sknn._kernels.activations import ACTIVATION_CODES, NEEDS_PREACTIVATION
from sknn._kernels.losses import SOFTMAX_CE, link_loss_grad
from sknn._layers import basic_code, finish_activation, start_activation_grad
from sknn._runtime import SERIAL, ExecutionPlan

DTYPES = [np.float64, np.float32]
CHUNKED = [ExecutionPlan(n_threads=1, split=3), ExecutionPlan(n_threads=2, split=3)]


def tol(dtype, scale=1.0):
    t = (1e-12 if dtype == np.float64 else 2e-6) * scale
    return dict(rtol=t, atol=t)


def ref_act(name, z):
    return {"identity": z, "logistic": expit(z), "tanh": np.tanh(z),
            "relu": np.maximum(z, 0.0), "leaky_relu": np.where(z > 0, z, 0.01 * z),
            "elu": np.where(z > 0, z, np.expm1(z)), "softplus": np.logaddexp(0.0, z),
            "gelu": 0.5 * z * (1 + erf(z / np.sqrt(2))), "silu": z * expit(z)}[name]


def deriv_from_output(name, a):
    """f' from the output, or from the pre-activation for GELU and SiLU (what
    the layers hand the kernels for those)."""
    a = np.asarray(a, np.float64)
    return {"identity": np.ones_like(a), "logistic": a * (1 - a), "tanh": 1 - a * a,
            "relu": (a > 0) * 1.0, "leaky_relu": np.where(a > 0, 1.0, 0.01),
            "elu": np.where(a > 0, 1.0, a + 1), "softplus": -np.expm1(-a),
            "gelu": 0.5 * (1 + erf(a / np.sqrt(2))) + a * np.exp(-a * a / 2)
            / np.sqrt(2 * np.pi),
            "silu": expit(a) * (1 + a * (1 - expit(a)))}[name]


@pytest.fixture
def thresholds(monkeypatch):
    """``set(**values)`` overrides THRESHOLDS entries; the plan's are at their
    minimum from the start, so work is cut into the plan's ``split`` chunks."""
    table = dict(_runtime.THRESHOLDS)
    monkeypatch.setattr(_runtime, "THRESHOLDS", table)

    def set_(**values):
        for name, value in values.items():
            table[name] = (value, table[name][1])

    set_(parallel_min_macs=1, one_pass_parallel_min_macs=1, parallel_min_elements=1,
         conv_split_min_macs=1, pool_split_min_elements=1, min_chunk_rows=1)
    return set_


# -- NumPy references (float64, explicit loops over output positions) ----------------


def _padded(x, KH, KW, stride, pad_h, pad_w, OH, OW):
    N, C, H, W = x.shape
    Hp = max(pad_h + H, (OH - 1) * stride + KH)
    Wp = max(pad_w + W, (OW - 1) * stride + KW)
    xp = np.zeros((N, C, Hp, Wp))
    xp[:, :, pad_h:pad_h + H, pad_w:pad_w + W] = x
    return xp


def ref_conv_forward(x, w, b, stride, pad_h, pad_w, OH, OW):
    x, w, b = (np.asarray(a, np.float64) for a in (x, w, b))
    F, _, KH, KW = w.shape
    xp = _padded(x, KH, KW, stride, pad_h, pad_w, OH, OW)
    out = np.zeros((x.shape[0], F, OH, OW))
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


def ref_im2col(x, KH, KW, stride, ph, pw, OH, OW):
    """``cols (C*KH*KW, N*OH*OW)`` of all of ``x``'s samples."""
    N, C = x.shape[:2]
    xp = _padded(np.asarray(x, np.float64), KH, KW, stride, ph, pw, OH, OW)
    cols = np.empty((C, KH, KW, N, OH, OW))
    for p in range(KH):
        for q in range(KW):
            win = xp[:, :, p:p + stride * OH:stride, q:q + stride * OW:stride]
            cols[:, p, q] = win.transpose(1, 0, 2, 3)
    return cols.reshape(C * KH * KW, N * OH * OW)


def ref_col2im(cols, shape, KH, KW, stride, ph, pw, OH, OW):
    N, C, H, W = shape
    dxp = _padded(np.zeros(shape), KH, KW, stride, ph, pw, OH, OW)
    c6 = np.asarray(cols, np.float64).reshape(C, KH, KW, N, OH, OW)
    for p in range(KH):
        for q in range(KW):
            dxp[:, :, p:p + stride * OH:stride, q:q + stride * OW:stride] += (
                c6[:, p, q].transpose(1, 0, 2, 3))
    return dxp[:, :, ph:ph + H, pw:pw + W]


def _windows(x, sh, sw):
    """(N, C, OH, OW, sh*sw) view of the pooling windows, row-major inside."""
    N, C, H, W = x.shape
    OH, OW = H // sh, W // sw
    v = np.asarray(x, np.float64)[:, :, :OH * sh, :OW * sw]
    v = v.reshape(N, C, OH, sh, OW, sw).transpose(0, 1, 2, 4, 3, 5)
    return v.reshape(N, C, OH, OW, sh * sw)


def ref_pool(x, dout, sh, sw, mode):
    """(out, arg, dx) of non-overlapping pooling; dropped rows/cols get 0."""
    win = _windows(x, sh, sw)
    N, C, OH, OW, _ = win.shape
    dx = np.zeros(x.shape)
    if mode == "mean":
        dx[:, :, :OH * sh, :OW * sw] = np.repeat(np.repeat(dout, sh, 2), sw, 3) / (sh * sw)
        return win.mean(-1), None, dx
    arg = win.argmax(-1)  # first maximum; NaN counts as the maximum
    for n, c, i, j in np.ndindex(N, C, OH, OW):
        p, q = divmod(arg[n, c, i, j], sw)
        dx[n, c, i * sh + p, j * sw + q] = dout[n, c, i, j]
    return win.max(-1), arg, dx


def geometry(H, W, KH, KW, stride, padding):
    OH, OW = K.conv_output_size(H, KH, stride, padding), K.conv_output_size(W, KW, stride,
                                                                            padding)
    return OH, OW, K.conv_padding(H, KH, stride, padding), K.conv_padding(W, KW, stride,
                                                                          padding)


# -- im2col / col2im ------------------------------------------------------------------

# (C, H, W, KH, KW), stride, padding; the last: a kernel larger than the image
IM2COL_CASES = [(case, stride, padding)
                for case in [(1, 5, 5, 3, 3), (2, 6, 7, 3, 2), (3, 4, 9, 1, 4)]
                for stride in (1, 2) for padding in ("valid", "same")]
IM2COL_CASES += [((2, 2, 3, 3, 3), 1, "same"), ((2, 2, 3, 3, 3), 2, "same")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n0, n1", [(0, 5), (1, 4), (4, 5)])
@pytest.mark.parametrize("case, stride, padding", IM2COL_CASES)
def test_im2col_col2im_match_numpy(case, stride, padding, n0, n1, dtype):
    C, H, W, KH, KW = case
    rng = np.random.default_rng(sum(case) + stride)
    OH, OW, ph, pw = geometry(H, W, KH, KW, stride, padding)
    args = (n0, n1, KH, KW, stride, ph, pw, OH, OW)
    x = rng.standard_normal((5, C, H, W)).astype(dtype)
    cols = np.full((C * KH * KW, (n1 - n0) * OH * OW), np.nan, dtype)
    K.im2col(cols, x, *args)
    np.testing.assert_array_equal(cols, ref_im2col(x[n0:n1], KH, KW, stride, ph, pw, OH, OW))

    c = rng.standard_normal(cols.shape).astype(dtype)
    dx = np.full_like(x, np.nan)
    K.col2im(dx, c, *args)
    assert np.isnan(dx[:n0]).all() and np.isnan(dx[n1:]).all()  # other samples untouched
    want = ref_col2im(c, (n1 - n0, C, H, W), KH, KW, stride, ph, pw, OH, OW)
    np.testing.assert_allclose(dx[n0:n1], want, **tol(dtype, 5))
    # the adjoint: <im2col(x), c> == <x, col2im(c)>
    lhs = np.dot(cols.astype(np.float64).ravel(), c.astype(np.float64).ravel())
    rhs = np.dot(x[n0:n1].astype(np.float64).ravel(), dx[n0:n1].astype(np.float64).ravel())
    assert rhs == pytest.approx(lhs, rel=tol(dtype, 10)["rtol"], abs=tol(dtype, 10)["atol"])


# -- conv_out / conv_delta -----------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATION_CODES))
def test_conv_out_and_conv_delta_match_numpy(name, dtype):
    rng = np.random.default_rng(6)
    N, F, OH, OW, n0, n1 = 5, 3, 4, 3, 1, 4
    g, P = n1 - n0, OH * OW
    code = ACTIVATION_CODES[name]
    y = rng.standard_normal((F, g * P)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    out = np.full((N, F, OH, OW), np.nan, dtype)
    K.conv_out(out, y, b, n0, n1, basic_code(code))  # then the extra activations'
    finish_activation(out[n0:n1], code)                # kernel, as Conv2D does
    z = y.astype(np.float64).reshape(F, g, OH, OW).transpose(1, 0, 2, 3) + b[:, None, None]
    np.testing.assert_allclose(out[n0:n1], ref_act(name, z), **tol(dtype, 5))
    assert np.isnan(out[:n0]).all() and np.isnan(out[n1:]).all()

    dout = rng.standard_normal(out.shape).astype(dtype)
    d = dout.copy()
    dy = np.full((F, g * P), np.nan, dtype)
    db = np.full(F, np.nan, dtype)
    source = out
    if code in NEEDS_PREACTIVATION:  # the layer passes z for these
        source = np.full_like(out, np.nan)
        source[n0:n1] = z
    act = start_activation_grad(d[n0:n1], source[n0:n1], code)
    K.conv_delta(dy, d, source, n0, n1, act, db)
    dz = dout[n0:n1] * deriv_from_output(name, source[n0:n1])
    np.testing.assert_allclose(d[n0:n1], dz, **tol(dtype, 5))  # dout scaled in place
    np.testing.assert_array_equal(d[:n0], dout[:n0])
    np.testing.assert_array_equal(d[n1:], dout[n1:])
    np.testing.assert_array_equal(dy, d[n0:n1].transpose(1, 0, 2, 3).reshape(F, g * P))
    np.testing.assert_allclose(db, dz.sum(axis=(0, 2, 3)), **tol(dtype, 20))


# -- pooling --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", list(K.POOL_CODES))
@pytest.mark.parametrize("sh, sw, H, W", [(2, 2, 7, 8), (2, 2, 6, 9), (3, 3, 9, 7),
                                          (3, 3, 8, 11), (2, 3, 5, 7), (1, 2, 1, 5)])
@pytest.mark.parametrize("n0, n1", [(0, 3), (1, 2)])
def test_pool_forward_backward_match_numpy(n0, n1, sh, sw, H, W, mode, dtype):
    rng = np.random.default_rng(H * 10 + W)
    x = rng.standard_normal((3, 2, H, W)).astype(dtype)
    if mode == "max":
        for a in (sh * sw - 2, sh * sw - 1):  # a tie in a window: the first one wins
            x[0, 0, a // sw, a % sw] = 5.0
    OH, OW = H // sh, W // sw
    out = np.full((3, 2, OH, OW), np.nan, dtype)
    arg = np.full(out.shape, -1, np.int32)
    code = K.POOL_CODES[mode]
    K.pool_forward(out, arg, x, n0, n1, sh, sw, code)
    dout = rng.standard_normal(out.shape).astype(dtype)
    ref_out, ref_arg, ref_dx = ref_pool(x[n0:n1], dout[n0:n1], sh, sw, mode)
    np.testing.assert_allclose(out[n0:n1], ref_out, **tol(dtype, 5))
    assert np.isnan(out[:n0]).all() and np.isnan(out[n1:]).all()
    if mode == "max":
        np.testing.assert_array_equal(out[n0:n1], ref_out.astype(dtype))
        np.testing.assert_array_equal(arg[n0:n1], ref_arg)

    dx = np.full_like(x, np.nan)
    K.pool_backward(dx, dout, arg, n0, n1, sh, sw, code)
    np.testing.assert_allclose(dx[n0:n1], ref_dx, **tol(dtype))
    assert np.isnan(dx[:n0]).all() and np.isnan(dx[n1:]).all()
    assert (dx[n0:n1, :, OH * sh:] == 0).all() and (dx[n0:n1, :, :, OW * sw:] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, n0, n1", [(3, 0, 3), (3, 1, 2), (220, 1, 219)])
def test_max_2x2_pair_gives_the_bits_of_generic_pooling(n, n0, n1, dtype):
    """Where windows tile the input exactly, 2x2 max pooling runs its own
    pair of kernels: the same outputs, argmax positions and gradients, bit
    for bit, as the generic kernels (ties, and NaNs, which win); 220
    samples make the forward kernel work through several blocks of rows."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, 2, 6, 8)).astype(dtype)
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = 5.0  # a tie: the first wins
    x[1, 1, 1, 0] = np.nan  # a NaN after its window's start
    x[1, 1, 2, 3] = x[1, 1, 3, 2] = np.nan  # two NaNs: the first wins
    code = K.POOL_CODES["max"]
    assert K.exact_max_2x2.py_func(code, 2, 2, 6, 8, 3, 4)
    assert not K.exact_max_2x2.py_func(code, 2, 2, 7, 8, 3, 4)
    assert not K.exact_max_2x2.py_func(K.POOL_CODES["mean"], 2, 2, 6, 8, 3, 4)
    dout = rng.standard_normal((n, 2, 3, 4)).astype(dtype)
    got = []
    for fwd, bwd in ((K.pool_forward, K.pool_backward), (K.max_pool_2x2, K.max_unpool_2x2)):
        out = np.full((n, 2, 3, 4), -7.0, dtype)
        arg = np.full(out.shape, -1, np.int32)
        fwd(out, arg, x, n0, n1, 2, 2, code)
        dx = np.full_like(x, -7.0)
        bwd(dx, dout, arg, n0, n1, 2, 2, code)
        got.append((out, arg, dx))
    for a, b in zip(*got):
        np.testing.assert_array_equal(a, b)
    ref_out, ref_arg, ref_dx = ref_pool(x[n0:n1], dout[n0:n1], 2, 2, "max")
    np.testing.assert_array_equal(got[1][0][n0:n1], ref_out.astype(dtype))
    np.testing.assert_array_equal(got[1][1][n0:n1], ref_arg)
    np.testing.assert_array_equal(got[1][2][n0:n1], ref_dx.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [2, 3])
def test_max_pool_propagates_nan(size, dtype):
    x = np.arange(36, dtype=dtype).reshape(1, 1, 6, 6)
    x[0, 0, 0, 1] = np.nan  # window (0, 0): a NaN after its start
    x[0, 0, 0, size] = np.nan  # window (0, 1): a NaN at its start, larger values after
    x[0, 0, size - 1, size - 1] = np.nan  # a second NaN in window (0, 0): the first wins
    out = np.empty((1, 1, 6 // size, 6 // size), dtype)
    arg = np.empty(out.shape, np.int32)
    K.pool_forward(out, arg, x, 0, 1, size, size, K.POOL_CODES["max"])
    win = _windows(x, size, size)
    np.testing.assert_array_equal(out, win.max(-1).astype(dtype))  # NaN == NaN here
    np.testing.assert_array_equal(arg, win.argmax(-1))
    assert np.isnan(out[0, 0, 0, :2]).all() and list(arg[0, 0, 0, :2]) == [1, 0]
    assert not np.isnan(out[0, 0, 1:]).any()


# -- layers ---------------------------------------------------------------------------


def run_conv_pool(plan, dtype, act="relu", mode="max", stride=1, padding="same", n=7):
    """Conv2D + Pool2D forward and backward on ``n`` rows (buffers for 8)."""
    rng = np.random.default_rng(9)
    conv = Conv2D((2, 7, 6), 3, 3, stride, padding, act)
    w = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    conv.bind(w, b, np.full_like(w, np.nan), np.full_like(b, np.nan))
    pool = Pool2D(conv.out_shape, 2, mode)
    for layer in (conv, pool):
        layer.plan = plan
        layer.allocate(8, dtype)
    x = rng.standard_normal((n, 2 * 7 * 6)).astype(dtype)  # flat rows, as fit passes them
    y = conv.forward(x, True, None)
    out = pool.forward(y, True, None)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dy = pool.backward(dout.copy(), True)
    res = [y.copy(), out.copy(), dy.copy()]
    dx = conv.backward(dy, True)
    return conv, x, dout, res + [dx.copy(), conv.dw.copy(), conv.db.copy()]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", list(K.POOL_CODES))
@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("stride, padding", [(1, "same"), (2, "same"), (1, "valid")])
def test_conv_pool_layers_match_numpy(stride, padding, act, mode, dtype):
    conv, x, dout, (y, out, dy, dx, dw, db) = run_conv_pool(
        SERIAL, dtype, act=act, mode=mode, stride=stride, padding=padding)
    x = x.reshape(-1, 2, 7, 6)
    OH, OW, ph, pw = geometry(7, 6, 3, 3, stride, padding)
    z = ref_conv_forward(x, conv.w, conv.b, stride, ph, pw, OH, OW)
    np.testing.assert_allclose(y, ref_act(act, z), **tol(dtype, 20))
    # pooling and the activation's derivative from the layer's own output, so
    # float32 rounding cannot move a maximum or a relu kink
    ref_out, _, ref_dy = ref_pool(y, dout, 2, 2, mode)
    np.testing.assert_allclose(out, ref_out, **tol(dtype, 5))
    np.testing.assert_allclose(dy, ref_dy, **tol(dtype))
    dz = ref_dy * deriv_from_output(act, y)
    for got, ref in zip((dx, dw, db), ref_conv_backward(dz, x, conv.w, stride, ph, pw)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref, **tol(dtype, 50))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", list(K.POOL_CODES))
def test_conv_pool_chunked_matches_serial(mode, dtype, thresholds):
    serial = run_conv_pool(SERIAL, dtype, mode=mode)[3]
    per_sample = 2 * 9 * 7 * 6 * np.dtype(dtype).itemsize  # one sample's im2col bytes
    runs = {}
    # im2col matrices kept for backward, rebuilt (same chunks), and capped at
    # one sample per chunk (7 chunks on 3 slots)
    for cols_bytes in (2**25, 3 * per_sample, per_sample):
        thresholds(conv_cols_bytes=cols_bytes)
        for plan in CHUNKED:
            conv, _, _, runs[cols_bytes, plan.n_threads] = run_conv_pool(plan, dtype,
                                                                         mode=mode)
            assert (conv.nc, conv.keep) == ((3, True), (3, False), (7, False))[
                [2**25, 3 * per_sample, per_sample].index(cols_bytes)]
    for key, res in runs.items():
        for a, b, s in zip(res, runs[key[0], 1], serial):
            np.testing.assert_array_equal(a, b)  # 1 and 2 threads: the same bits
            np.testing.assert_allclose(a, s, **tol(dtype, 50))
    for a, b in zip(runs[2**25, 1], runs[3 * per_sample, 1]):
        np.testing.assert_array_equal(a, b)  # kept or rebuilt: the same bits


# -- a small conv network: finite differences -----------------------------------------


def net_specs(mode, stride, padding, dropout):
    OH, OW = geometry(7, 6, 3, 3, stride, padding)[:2]
    n_flat = 3 * (OH // min(2, OH)) * (OW // min(2, OW))
    specs = [
        ("conv2d", dict(in_shape=(2, 7, 6), filters=3, kernel_size=3, stride=stride,
                        padding=padding, activation="tanh")),
        ("pool2d", dict(in_shape=(3, OH, OW), size=2, mode=mode)),
        ("dense", dict(n_in=n_flat, n_out=4, activation="elu")),
        ("dense", dict(n_in=4, n_out=3, activation="identity", init_activation="elu")),
    ]
    if dropout:
        specs.insert(3, ("dropout", dict(shape=(4,), rate=0.25)))
    return specs


def objective(net, params, x, y, sw, plan, with_grad=True):
    grad = np.zeros_like(params)
    net.bind_flat(params, grad)
    net.allocate(x.shape[0], params.dtype, plan)
    z = net.forward(x, True, np.random.default_rng(7))  # the same dropout mask each call
    delta = np.empty_like(y)
    loss = link_loss_grad(delta, z, y, sw, SOFTMAX_CE, 0.0)
    if with_grad:
        net.backward(delta)
    return loss, grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("mode", list(K.POOL_CODES))
@pytest.mark.parametrize("stride, padding", [(1, "same"), (2, "valid")])
def test_conv_network_gradient_matches_finite_differences(stride, padding, mode, chunked,
                                                          dtype, thresholds):
    rng = np.random.RandomState(0)
    n = 7
    # float32 draws differ from float64 ones: dropout only where the
    # float64 network can use the same mask
    specs = net_specs(mode, stride, padding, dropout=dtype == np.float64)
    x = rng.uniform(-1, 1, (n, 2 * 7 * 6))
    y = np.eye(3)[rng.randint(0, 3, n)]
    sw = rng.uniform(0.5, 2.0, n)
    net64 = build_network(specs, SOFTMAX_CE)
    params = np.empty(net64.n_params)
    net64.init_params(params, np.random.RandomState(1), np.float64)
    # the analytic gradient in ``dtype`` (chunked: the same bits on 1 and 2
    # threads); the numeric one always in float64 (a float32 step could move
    # a pooling maximum)
    data = [a.astype(dtype) for a in (params, x, y, sw)]
    grads = [objective(build_network(specs, SOFTMAX_CE), *data, plan)[1]
             for plan in (CHUNKED if chunked else [SERIAL])]
    np.testing.assert_array_equal(grads[0], grads[-1])
    grad = grads[0]
    assert grad.dtype == dtype
    numeric = np.empty(params.size)
    for i in range(params.size):
        p = params.copy()
        p[i] += 1e-6
        up = objective(net64, p, x, y, sw, SERIAL, False)[0]
        p[i] -= 2e-6
        down = objective(net64, p, x, y, sw, SERIAL, False)[0]
        numeric[i] = (up - down) / 2e-6
    scale = np.abs(numeric).max()
    if dtype == np.float64:
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7 * scale)
    else:
        np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-4 * scale)
