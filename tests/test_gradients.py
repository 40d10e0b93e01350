"""Analytic gradients of the whole network against central finite differences."""

import numpy as np
import pytest

from sknn._base import build_network
from sknn._engine import TrainData, make_objective
from sknn._kernels.activations import ACTIVATION_CODES
from sknn._kernels.losses import BINARY_CE, POISSON, SOFTMAX_CE, SQUARED


def _problem(loss_code, act, dtype, n=13, n_in=4, hidden=(5, 3), n_out=3, seed=0):
    rng = np.random.RandomState(seed)
    specs = []
    fan = n_in
    for h in hidden:
        specs.append(("dense", {"n_in": fan, "n_out": h, "activation": act}))
        fan = h
    if loss_code == SQUARED:
        n_out = 1  # scikit-learn's squared loss averages outputs; gradient sums
    specs.append(("dense", {"n_in": fan, "n_out": n_out, "activation": "identity"}))
    net = build_network(specs, loss_code)
    X = rng.randn(n, n_in)
    if loss_code == SOFTMAX_CE:
        Y = np.eye(n_out)[rng.randint(0, n_out, n)]
    elif loss_code == BINARY_CE:
        Y = rng.randint(0, 2, (n, n_out)).astype(float)
    elif loss_code == POISSON:
        Y = rng.poisson(1.5, (n, n_out)).astype(float)
    else:
        Y = rng.randn(n, n_out)
    sw = rng.rand(n) + 0.5
    theta = np.empty(net.n_params)
    net.init_params(theta, rng, np.float64)
    theta += 0.1 * rng.randn(net.n_params)
    data = TrainData(np.ascontiguousarray(X, dtype), np.ascontiguousarray(Y, dtype),
                     np.ascontiguousarray(sw, dtype))
    return net, data, theta


@pytest.mark.parametrize("loss_code", [SQUARED, POISSON, SOFTMAX_CE, BINARY_CE])
@pytest.mark.parametrize("act", sorted(ACTIVATION_CODES))
def test_gradient_matches_finite_differences(act, loss_code):
    net, data, theta = _problem(loss_code, act, np.float64)
    fun = make_objective(net, data, alpha=0.3, dtype=np.float64, chunk=5)
    _, grad = fun(theta)
    h = 1e-6
    num = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        num[i] = (fun(theta + e)[0] - fun(theta - e)[0]) / (2 * h)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss_code", [SQUARED, SOFTMAX_CE, BINARY_CE])
@pytest.mark.parametrize("act", sorted(ACTIVATION_CODES))
def test_float32_gradient_matches_float64(act, loss_code):
    net64, data64, theta = _problem(loss_code, act, np.float64)
    net32, data32, _ = _problem(loss_code, act, np.float32)
    l64, g64 = make_objective(net64, data64, 0.3, np.float64)(theta)
    l32, g32 = make_objective(net32, data32, 0.3, np.float32)(theta.astype(np.float32))
    assert l32 == pytest.approx(l64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=2e-3, atol=2e-5)


def test_dropout_gradient_matches_finite_differences():
    """With a frozen mask the network is differentiable: check through dropout."""
    rng = np.random.RandomState(0)
    specs = [("dense", {"n_in": 4, "n_out": 6, "activation": "tanh"}),
             ("dropout", {"shape": (6,), "rate": 0.4}),
             ("dense", {"n_in": 6, "n_out": 3, "activation": "identity"})]
    net = build_network(specs, SOFTMAX_CE)
    X = rng.randn(9, 4)
    Y = np.eye(3)[rng.randint(0, 3, 9)]
    theta = np.empty(net.n_params)
    net.init_params(theta, rng, np.float64)
    grad = np.empty_like(theta)
    from sknn._kernels.losses import link_loss_grad

    def loss_grad(th, seed=7):
        work = th.copy()
        net.bind_flat(work, grad)
        net.allocate(9, np.float64)
        z = net.forward(X, True, np.random.default_rng(seed))
        delta = np.empty_like(z)
        loss = link_loss_grad(delta, z, Y, np.ones(9), SOFTMAX_CE, 0.0)
        net.backward(delta)
        return loss, grad.copy()

    _, g = loss_grad(theta)
    num = np.array([(loss_grad(theta + e)[0] - loss_grad(theta - e)[0]) / 2e-6
                    for e in np.eye(theta.size) * 1e-6])
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)
