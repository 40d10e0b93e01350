"""Activation, dense, loss and optimizer kernels and the Dense/Dropout layers
against plain NumPy float64 references (or finite differences)."""

import numpy as np
import pytest
from scipy.special import erf, expit, softmax, xlogy

from sknn._kernels.activations import ACTIVATION_CODES, NEEDS_PREACTIVATION
from sknn._kernels.dense import act_grad_colsum, bias_act
from sknn._kernels.losses import (
    BINARY_CE,
    HUBER,
    POISSON,
    QUANTILE,
    SOFTMAX_CE,
    SQUARED,
    apply_link,
    link_loss_grad,
)
from sknn._kernels.optim import optimizer_step
from sknn._layers import (
    Dense,
    Dropout,
    basic_code,
    finish_activation,
    start_activation_grad,
)
from sknn._optim import step
from sknn._runtime import SERIAL, ExecutionPlan

DTYPES = [np.float64, np.float32]
LOSSES = [SQUARED, POISSON, SOFTMAX_CE, BINARY_CE]
CHUNKED = [ExecutionPlan(n_threads=1, split=3), ExecutionPlan(n_threads=2, split=3)]


def tol(dtype, scale=1.0):
    t = (1e-12 if dtype == np.float64 else 2e-6) * scale
    return dict(rtol=t, atol=t)


def ref_act(name, z):
    with np.errstate(over="ignore", invalid="ignore"):
        return {
            "identity": lambda: z,
            "logistic": lambda: 1.0 / (1.0 + np.exp(-z)),
            "tanh": lambda: np.tanh(z),
            "relu": lambda: np.maximum(z, 0.0),
            "leaky_relu": lambda: np.where(z > 0, z, 0.01 * z),
            "elu": lambda: np.where(z > 0, z, np.expm1(z)),
            "softplus": lambda: np.logaddexp(0.0, z),
            "gelu": lambda: 0.5 * z * (1 + erf(z / np.sqrt(2))),
            "silu": lambda: z * expit(z),
        }[name]()


def ref_deriv(name, z):
    """f'(z), written in terms of z (the kernels use the output f(z))."""
    return {
        "identity": lambda: np.ones_like(z),
        "logistic": lambda: expit(z) * (1 - expit(z)),
        "tanh": lambda: 1 - np.tanh(z) ** 2,
        "relu": lambda: (z > 0) * 1.0,
        "leaky_relu": lambda: np.where(z > 0, 1.0, 0.01),
        "elu": lambda: np.where(z > 0, 1.0, np.exp(z)),
        "softplus": lambda: expit(z),
        "gelu": lambda: 0.5 * (1 + erf(z / np.sqrt(2)))
        + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi),
        "silu": lambda: expit(z) * (1 + z * (1 - expit(z))),
    }[name]()


# -- bias + activation ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATION_CODES))
def test_bias_act_and_act_grad_colsum_match_numpy(name, dtype):
    rng = np.random.default_rng(0)
    code = ACTIVATION_CODES[name]
    z0 = (2 * rng.standard_normal((9, 7))).astype(dtype)
    b = rng.standard_normal(7).astype(dtype)
    out = z0.copy()
    bias_act(out, b, basic_code(code))  # the fused kernel, then the extra
    finish_activation(out, code)        # activations' kernel, as layers do
    z = z0.astype(np.float64) + b
    np.testing.assert_allclose(out, ref_act(name, z), **tol(dtype, 5))

    dout = rng.standard_normal((9, 7)).astype(dtype)
    dz, db = dout.copy(), np.full(7, np.nan, dtype)
    # GELU/SiLU derivatives are computed from the pre-activation, which the
    # layer keeps and passes in place of the output.
    source = (z0 + b).astype(dtype) if code in NEEDS_PREACTIVATION else out
    act_grad_colsum(dz, source, start_activation_grad(dz, source, code), db)
    ref = dout * ref_deriv(name, z)
    np.testing.assert_allclose(dz, ref, **tol(dtype, 10))
    np.testing.assert_allclose(db, ref.sum(0), **tol(dtype, 50))
    assert dz.dtype == db.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATION_CODES))
def test_bias_act_extreme_values_and_nan(name, dtype):
    # logistic must not overflow for large |z|; NaN propagates everywhere
    # (relu included, like np.maximum) so divergence stays detectable.
    z = np.array([[-np.inf, -1000, -100, -50, -1e-30, -0.0, 0.0, 1e-30, 50, 100, 1000,
                   np.inf, np.nan]], dtype)
    out = z.copy()
    code = ACTIVATION_CODES[name]
    bias_act(out, np.zeros(z.shape[1], dtype), basic_code(code))
    finish_activation(out, code)
    np.testing.assert_allclose(out, ref_act(name, z.astype(np.float64)), **tol(dtype))
    assert np.isnan(out[0, -1])
    if name == "logistic":
        assert np.all((out[0, :-1] >= 0) & (out[0, :-1] <= 1))
        assert out[0, 0] == 0 and out[0, 11] == 1


# -- losses ---------------------------------------------------------------------------


def targets(code, rng, n, k, dtype):
    if code == SOFTMAX_CE:
        y = np.eye(k)[rng.integers(0, k, n)]
        y[0] = softmax(rng.standard_normal(k))  # soft targets too
    elif code == BINARY_CE:
        y = rng.integers(0, 2, (n, k)) * 1.0
        y[0] = rng.random(k)
    elif code == POISSON:
        y = rng.poisson(2.0, (n, k)) * 1.0
    else:
        y = rng.standard_normal((n, k))
    return y.astype(dtype)


def per_sample(code, p, y):
    """Per-sample losses (the module docstring's table) in float64; ``clip``
    uses the machine epsilon of ``p``'s dtype."""
    eps = np.finfo(p.dtype).eps
    p, y = p.astype(np.float64), y.astype(np.float64)
    if code == SQUARED:
        return 0.5 * ((y - p) ** 2).mean(axis=1)
    if code == POISSON:
        return (xlogy(y, y / p) - y + p).sum(axis=1)
    pc = np.clip(p, eps, 1 - eps)
    if code == SOFTMAX_CE:
        return -xlogy(y, pc).sum(axis=1)
    return -(xlogy(y, pc) + xlogy(1 - y, 1 - pc)).sum(axis=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 3, 11])  # 11: the squared loss' 4-wide loop and tail
@pytest.mark.parametrize("code", LOSSES)
def test_link_loss_grad_matches_numpy(code, k, dtype):
    rng = np.random.default_rng(2)
    n = 6
    z = rng.standard_normal((n, k)).astype(dtype)
    y = targets(code, rng, n, k, dtype)
    sw = rng.uniform(0.2, 2.0, n).astype(dtype)
    z64 = z.astype(np.float64)
    p = {SQUARED: z64, POISSON: np.exp(z64), SOFTMAX_CE: softmax(z64, axis=1),
         BINARY_CE: expit(z64)}[code]
    linked = apply_link(z.copy(), code)
    assert linked.dtype == dtype
    np.testing.assert_allclose(linked, p, **tol(dtype, 5))

    zz, delta = z.copy(), np.full_like(z, np.nan)
    total = link_loss_grad(delta, zz, y, sw, code, 0.0)
    np.testing.assert_allclose(zz, linked, **tol(dtype, 5))  # the link applied in place
    np.testing.assert_allclose(delta, (p - y) * sw[:, None], **tol(dtype, 10))
    want = float((sw * per_sample(code, p.astype(dtype), y)).sum())
    assert total == pytest.approx(want, rel=tol(dtype, 10)["rtol"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 600])
@pytest.mark.parametrize("k", [1, 2, 10, 32, 33, 100])  # 33+: NumPy's axis reductions
def test_softmax_link_matches_scipy(k, n, dtype):
    """Prediction's softmax reduces many short rows column by column and
    few or long ones along the axis: both are scipy's softmax, NaN in a row
    stays in that row only, and an empty batch passes."""
    rng = np.random.default_rng(3)
    z = (rng.standard_normal((n, k)) * 30).astype(dtype)
    bad = n // 2
    z[bad, 0] = np.nan
    p = apply_link(z.copy(), SOFTMAX_CE)
    want = softmax(z.astype(np.float64), axis=1)
    assert p.dtype == dtype
    assert np.isnan(p[bad]).all() and not np.isnan(np.delete(p, bad, axis=0)).any()
    np.testing.assert_allclose(np.delete(p, bad, axis=0), np.delete(want, bad, axis=0),
                               **tol(dtype, 5))
    assert apply_link(np.empty((0, k), dtype), SOFTMAX_CE).shape == (0, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", [SOFTMAX_CE, BINARY_CE])
def test_cross_entropy_clips_probabilities(code, dtype):
    # Saturated outputs: the link gives probabilities of exactly 0 and 1.
    z = np.array([[-1e3, 1e3, -1e3], [1e3, -1e3, -1e3]], dtype)
    y = np.array([[1.0, 0.0, 0.3], [1.0, 1.0, 0.0]], dtype)
    sw = np.array([1.0, 2.0], dtype)
    delta = np.empty_like(z)
    p = apply_link(z.copy(), code)
    assert set(np.unique(p)) <= {0.0, 1.0}
    total = link_loss_grad(delta, z, y, sw, code, 0.0)
    want = float((sw * per_sample(code, p, y)).sum())
    assert np.isfinite(total) and total == pytest.approx(want, rel=tol(dtype)["rtol"])
    np.testing.assert_array_equal(delta, (p - y) * sw[:, None])  # unclipped p


@pytest.mark.parametrize("code", LOSSES)
def test_delta_is_the_gradient_of_the_loss(code):
    # Canonical links: d(sum_i sw_i loss_i)/dz = delta (times 1/k for the
    # squared loss, which averages over the k outputs).
    rng = np.random.default_rng(5)
    n, k = 3, 4
    z = rng.standard_normal((n, k))
    y = targets(code, rng, n, k, np.float64)
    sw = rng.uniform(0.5, 2.0, n)
    delta = np.empty_like(z)
    link_loss_grad(delta, z.copy(), y, sw, code, 0.0)
    numeric = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += 1e-6
        zm[idx] -= 1e-6
        numeric[idx] = (link_loss_grad(np.empty_like(z), zp, y, sw, code, 0.0)
                        - link_loss_grad(np.empty_like(z), zm, y, sw, code, 0.0)) / 2e-6
    scale = 1.0 / k if code == SQUARED else 1.0
    np.testing.assert_allclose(delta * scale, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code, param", [(c, 0.0) for c in LOSSES] + [(HUBER, 0.7),
                                                                     (QUANTILE, 0.3)])
def test_batch_loss_in_row_chunks_matches_one_call(code, param, dtype, many_chunks,
                                                   monkeypatch):
    # A wide batch's loss is cut into row chunks (a task, or the kernel on
    # each chunk in turn): the gradient and the linked outputs are the bits
    # of one call, the chunk sums add up to its loss.
    from sknn import _runtime
    from sknn._engine import BatchBuffers, TrainData

    rng = np.random.default_rng(8)
    n, k = 29, 5
    z = rng.standard_normal((n, k)).astype(dtype)
    y = targets(code, rng, n, k, dtype)
    sw = rng.uniform(0.2, 2.0, n).astype(dtype)
    delta = np.empty_like(z)
    z_one = z.copy()
    want = link_loss_grad(delta, z_one, y, sw, code, param)
    data = TrainData(np.zeros((n, 2), dtype), y, sw)
    totals = []
    for n_threads, ready in ((1, False), (2, False), (2, True)):
        monkeypatch.setattr(_runtime.ExecutionPlan, "runs_task",
                            lambda self, task, work, compile_min, ready=ready:
                            ready and self.n_threads > 1)
        buffers = BatchBuffers(data, n, ExecutionPlan(n_threads=n_threads, split=3))
        zz = z.copy()
        totals.append(buffers.loss_grad(zz, y, sw, code, param))
        np.testing.assert_array_equal(zz, z_one)
        np.testing.assert_array_equal(buffers.delta[:n], delta)
    assert many_chunks == [3]  # only the task ran on two threads
    assert totals[0] == totals[1] == totals[2]
    assert totals[0] == pytest.approx(want, rel=1e-12)


# -- optimizer ------------------------------------------------------------------------

SOLVERS = {  # (lr, h1, h2, h3, is_adam)
    "adam": (0.01, 0.9, 0.999, 1e-8, True),
    "nesterov": (0.1, 0.9, 1.0, 0.0, False),
    "sgd": (0.1, 0.9, 0.0, 0.0, False),
}


def opt_state(dtype, n=23, seed=3):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    s1 = (0.1 * rng.standard_normal(n)).astype(dtype)
    s2 = (0.1 * np.abs(rng.standard_normal(n))).astype(dtype)
    return p, g, s1, s2


def ref_step(p, g, s1, s2, nw, alpha, inv, lr, h1, h2, h3, is_adam):
    p, g, s1, s2 = (a.astype(np.float64) for a in (p, g, s1, s2))
    a = np.zeros_like(p)
    a[:nw] = alpha
    gi = (g + a * p) * inv
    if is_adam:
        m = h1 * s1 + (1 - h1) * gi
        v = h2 * s2 + (1 - h2) * gi * gi
        return p - lr * m / (np.sqrt(v) + h3), m, v
    vel = h1 * s1 - lr * gi
    return (p + h1 * vel - lr * gi if h2 else p + vel), vel, s2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nw", [0, 14, 23])
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_optimizer_step_matches_numpy(solver, nw, dtype):
    hyper = SOLVERS[solver]
    p0, g, s1, s2 = opt_state(dtype)
    alpha, inv = 0.3, 0.25
    p, m, v = p0.copy(), s1.copy(), s2.copy()
    sq = optimizer_step(p, g, m, v, 0, p.size, nw, alpha, inv, *hyper)
    w_ref, m_ref, v_ref = ref_step(p0, g, s1, s2, nw, alpha, inv, *hyper)
    for got, ref in ((p, w_ref), (m, m_ref), (v, v_ref)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref, **tol(dtype, 5))
    # sum(w**2) of the weights before the update
    assert sq == pytest.approx(float((p0[:nw].astype(np.float64) ** 2).sum()),
                               rel=tol(dtype)["rtol"], abs=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [5, 14, 17])  # inside the weights, at their end, in biases
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_optimizer_ranges_give_the_same_bits(solver, k, dtype):
    hyper, nw = SOLVERS[solver], 14
    state = opt_state(dtype)
    whole = [a.copy() for a in state]
    sq = optimizer_step(*whole, 0, 23, nw, 0.3, 0.25, *hyper)
    parts = [a.copy() for a in state]
    sq0 = optimizer_step(*parts, 0, k, nw, 0.3, 0.25, *hyper)
    sq1 = optimizer_step(*parts, k, 23, nw, 0.3, 0.25, *hyper)
    for a, b in zip(whole, parts):
        np.testing.assert_array_equal(a, b)
    assert sq0 + sq1 == pytest.approx(sq, rel=1e-12)
    assert sq0 == pytest.approx(float((state[0][:min(k, nw)].astype(np.float64) ** 2).sum()),
                                rel=tol(dtype)["rtol"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_chunked_optimizer_step_same_bits_for_any_thread_count(solver, dtype, many_chunks):
    hyper, nw = SOLVERS[solver], 14
    state = opt_state(dtype, n=40)
    whole = [a.copy() for a in state]
    sq = optimizer_step(*whole, 0, 40, nw, 0.3, 0.25, *hyper)
    for plan in CHUNKED:
        got = [a.copy() for a in state]
        total = step(plan, *got, nw, 0.3, 0.25, *hyper)
        for a, b in zip(whole, got):
            np.testing.assert_array_equal(a, b)
        assert total == pytest.approx(sq, rel=1e-12)
    assert many_chunks == [3]


# -- layers ---------------------------------------------------------------------------


def dense_layer(rng, n_in, n_out, act, dtype, plan, max_batch):
    layer = Dense(n_in, n_out, act)
    w = rng.standard_normal((n_in, n_out)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    layer.bind(w, b, np.full_like(w, np.nan), np.full_like(b, np.nan))
    layer.plan = plan
    layer.allocate(max_batch, dtype)
    return layer


def run_dense(plan, dtype, act="tanh", need_dx=True, n=11, seed=4):
    rng = np.random.default_rng(seed)
    layer = dense_layer(rng, 6, 5, act, dtype, plan, max_batch=n + 2)
    x = rng.standard_normal((n, 6)).astype(dtype)
    dout = rng.standard_normal((n, 5)).astype(dtype)
    out = layer.forward(x, True, None).copy()
    dx = layer.backward(dout.copy(), need_dx)
    return layer, x, dout, [out, layer.dw.copy(), layer.db.copy()] + (
        [dx.copy()] if need_dx else [])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("act", ["identity", "tanh", "relu", "elu"])
def test_dense_layer_matches_numpy(act, need_dx, dtype):
    layer, x, dout, got = run_dense(SERIAL, dtype, act, need_dx)
    z = x.astype(np.float64) @ layer.w + layer.b
    dz = dout * ref_deriv(act, z)
    want = [ref_act(act, z), x.T.astype(np.float64) @ dz, dz.sum(0), dz @ layer.w.T.astype(
        np.float64)]
    for g, r in zip(got, want):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, r, **tol(dtype, 20))
    if not need_dx:
        assert layer.backward(dout.copy(), False) is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_dense_layer_chunked_matches_serial(act, dtype, many_chunks):
    serial = run_dense(SERIAL, dtype, act, n=29)[3]
    assert many_chunks == []
    one, two = (run_dense(plan, dtype, act, n=29)[3] for plan in CHUNKED)
    assert many_chunks and set(many_chunks) == {3}  # two threads shared 3 chunks
    for a, b, s in zip(one, two, serial):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, s, **tol(dtype, 20))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["identity", "tanh", "relu", "gelu"])
@pytest.mark.parametrize("w_order", ["C", "F"])
def test_dense_layer_row_chunks_match_numpy(act, dtype, w_order, many_chunks, monkeypatch):
    # Below parallel_min_macs a training batch is cut into batch-row chunks:
    # each chunk's share of dw and db is added in chunk order.  As a task
    # (one or two threads) or chunk after chunk, the bits are the same; w
    # may be a transposed view (a tied layer's).
    from sknn import _runtime

    results = []
    for n_threads, ready in ((1, False), (2, False), (2, True)):
        monkeypatch.setattr(_runtime.ExecutionPlan, "runs_task",
                            lambda self, task, work, compile_min, ready=ready:
                            ready and self.n_threads > 1)
        plan = ExecutionPlan(n_threads=n_threads, split=3, min_macs=10**12)
        rng = np.random.default_rng(4)
        layer = dense_layer(rng, 6, 5, act, dtype, plan, max_batch=31)
        layer.w = np.asarray(layer.w, order=w_order)
        x = rng.standard_normal((29, 6)).astype(dtype)
        dout = rng.standard_normal((29, 5)).astype(dtype)
        out = layer.forward(x, True, None).copy()
        dx = layer.backward(dout.copy(), True)
        results.append([out, layer.dw.copy(), layer.db.copy(), dx.copy()])
    assert len(many_chunks) == 2  # the task's forward and backward, on two threads
    z = x.astype(np.float64) @ layer.w + layer.b
    dz = dout * ref_deriv(act, z)
    want = [ref_act(act, z), x.T.astype(np.float64) @ dz, dz.sum(0),
            dz @ layer.w.T.astype(np.float64)]
    for got in results:
        for g, a, r in zip(got, results[0], want):
            np.testing.assert_array_equal(g, a)
            np.testing.assert_allclose(g, r, **tol(dtype, 20))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_layer_matches_numpy(dtype):
    rate = 0.3
    layer = Dropout((50,), rate)
    layer.allocate(12, dtype)
    x = np.random.default_rng(0).standard_normal((10, 50)).astype(dtype)
    out = layer.forward(x, True, np.random.default_rng(42))
    u = np.random.default_rng(42).random((10, 50), dtype=dtype)  # the same draws
    mask = np.where(u >= rate, dtype(1 / (1 - rate)), dtype(0))
    np.testing.assert_array_equal(out, x * mask)
    np.testing.assert_allclose(out, np.where(u >= rate, x / 0.7, 0), **tol(dtype))
    assert abs((out == 0).mean() - rate) < 0.06
    dout = np.random.default_rng(1).standard_normal((10, 50)).astype(dtype)
    np.testing.assert_array_equal(layer.backward(dout, True), dout * mask)
    # evaluation (and rate 0) pass the input through
    assert layer.forward(x, False, None) is x
    assert layer.backward(dout, True) is dout
    zero = Dropout((50,), 0.0)
    zero.allocate(12, dtype)
    assert zero.forward(x, True, np.random.default_rng(0)) is x
