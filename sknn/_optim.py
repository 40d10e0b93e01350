"""Stochastic optimizers over flat parameter vectors.

They know nothing about networks: a step takes the flat parameters, the flat
summed gradient, how many leading entries are weights (for L2), ``alpha`` and
``1 / sum(sample_weight)``.  Learning-rate schedules and the "trigger
stopping" protocol follow scikit-learn's ``_stochastic_optimizers`` so that
``learning_rate='adaptive'`` and ``'invscaling'`` behave identically.

The state (moment vectors, step counter, current learning rate, epochs run)
is plain NumPy and Python values, so it pickles and survives Numba upgrades;
warm starts and ``partial_fit`` continue from it.

Both optimizers also take the engine's ``lr_schedule`` hooks: ``rate`` is the
learning rate of the coming epoch (for Adam the rate before its bias
correction), ``set_rate`` overrides it for a schedule, ``epochs`` counts the
epochs run since the optimizer was made (one ``fit``, or a run of
``partial_fit`` calls), and ``adaptive=True`` makes ``trigger_stopping``
divide the rate by 5 instead of stopping, scikit-learn's ``'adaptive'`` rule.
"""

import numpy as np

from ._kernels import optim
from ._kernels.optim import optimizer_step
from ._runtime import SERIAL, row_bounds, run_task, threshold


def step(plan, params, grad, s1, s2, n_weights, alpha, inv_sw, lr, h1, h2, h3, is_adam,
         frozen=(0, 0)):
    """One optimizer step over ``params``; returns ``sum(w**2)`` of the
    weights it updated, before the update.  Large vectors are cut into chunks
    by ``plan`` (shape only); the chunks' sums are added in chunk order.

    ``frozen = (n_w, n_b)`` leaves ``params[:n_w]`` and
    ``params[n_weights:n_weights + n_b]`` (the leading layers' weights and
    biases) out of the step: neither they nor their optimizer state change,
    and L2 does not shrink them.
    """
    n = params.shape[0]
    n_w, n_b = frozen
    if n_w or n_b:
        ranges = ((n_w, n_weights), (n_weights + n_b, n))
    elif plan.chunks(n, 1, threshold("optimizer_split_min_elements")) == 1:
        # The common case (every step of a small network): one kernel call.
        return optimizer_step(params, grad, s1, s2, 0, n, n_weights, alpha, inv_sw,
                              lr, h1, h2, h3, is_adam)
    else:
        ranges = ((0, n),)
    total = 0.0
    for start, stop in ranges:
        total += _step_range(plan, params, grad, s1, s2, start, stop, n_weights,
                             alpha, inv_sw, lr, h1, h2, h3, is_adam)
    return total


def _step_range(plan, params, grad, s1, s2, start, stop, n_weights, alpha, inv_sw, lr,
                h1, h2, h3, is_adam):
    """:func:`step` on ``params[start:stop]``: one kernel call, or chunks
    that run as the optimizer's task on the plan's threads (when
    :meth:`~sknn._runtime.ExecutionPlan.runs_task` says so) or one after
    the other here, with the same calls and so the same bits."""
    n = stop - start
    if n <= 0:
        return 0.0
    nc = plan.chunks(n, 1, threshold("optimizer_split_min_elements"))
    if nc == 1:
        return optimizer_step(params, grad, s1, s2, start, stop, n_weights, alpha,
                              inv_sw, lr, h1, h2, h3, is_adam)
    parts = np.empty(nc)
    task = optim.step_f32 if params.dtype == np.float32 else optim.step_f64
    if plan.runs_task(task, n, plan.min_elements):
        hyper = np.array([alpha, inv_sw, lr, h1, h2, h3], dtype=np.float64)
        args, refs = optim.step_args(params, grad, s1, s2, start, stop, n_weights, hyper,
                                     is_adam, parts)
        run_task(task, nc, plan.n_threads, args, refs)
    else:
        for c in range(nc):
            lo, hi = row_bounds(c, nc, n)
            parts[c] = optimizer_step(params, grad, s1, s2, start + lo, start + hi,
                                      n_weights, alpha, inv_sw, lr, h1, h2, h3, is_adam)
    total = 0.0
    for c in range(nc):
        total += parts[c]
    return total


class SGD:
    """SGD with momentum / Nesterov momentum and a learning-rate schedule."""

    epochs = 0  # class defaults: optimizers pickled before these existed

    def __init__(self, n_params, dtype, learning_rate_init=0.1, lr_schedule="constant",
                 momentum=0.9, nesterov=True, power_t=0.5):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.velocity = np.zeros(n_params, dtype=dtype)

    def step(self, params, grad, n_weights, alpha, inv_sw, plan=SERIAL, frozen=(0, 0)):
        return step(plan, params, grad, self.velocity, self.velocity, n_weights,
                    alpha, inv_sw, self.learning_rate, self.momentum,
                    1.0 if self.nesterov else 0.0, 0.0, False, frozen)

    @property
    def rate(self):
        return self.learning_rate

    def set_rate(self, rate):
        self.learning_rate = float(rate)

    def iteration_ends(self, time_step):
        if self.lr_schedule == "invscaling":
            self.learning_rate = (
                float(self.learning_rate_init) / (time_step + 1) ** self.power_t
            )

    def trigger_stopping(self, msg, verbose):
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


class Adam:
    """Adam with scikit-learn's bias-corrected step size."""

    epochs = 0  # class defaults: optimizers pickled before these existed
    base_rate = None
    adaptive = False

    def __init__(self, n_params, dtype, learning_rate_init=0.001, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, adaptive=False):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.base_rate = float(learning_rate_init)
        self.adaptive = adaptive
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.t = 0
        self.m = np.zeros(n_params, dtype=dtype)
        self.v = np.zeros(n_params, dtype=dtype)

    def step(self, params, grad, n_weights, alpha, inv_sw, plan=SERIAL, frozen=(0, 0)):
        self.t += 1
        self.learning_rate = (
            self.rate
            * np.sqrt(1 - self.beta_2**self.t)
            / (1 - self.beta_1**self.t)
        )
        return step(plan, params, grad, self.m, self.v, n_weights, alpha, inv_sw,
                    self.learning_rate, self.beta_1, self.beta_2, self.epsilon, True,
                    frozen)

    @property
    def rate(self):
        return self.learning_rate_init if self.base_rate is None else self.base_rate

    def set_rate(self, rate):
        self.base_rate = float(rate)

    def iteration_ends(self, time_step):
        pass

    def trigger_stopping(self, msg, verbose):
        if not self.adaptive:
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.base_rate = self.rate / 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.base_rate)
        return False


def make_optimizer(solver, n_params, dtype, p):
    """Build the optimizer named ``solver`` from estimator parameters ``p``.

    ``lr_schedule='plateau'`` (when ``p`` has it) is scikit-learn's
    ``'adaptive'`` rule, for either solver.
    """
    plateau = p.get("lr_schedule") == "plateau"
    if solver == "sgd":
        schedule = "adaptive" if plateau else p["learning_rate"]
        return SGD(n_params, dtype, p["learning_rate_init"], schedule,
                   p["momentum"], p["nesterovs_momentum"], p["power_t"])
    return Adam(n_params, dtype, p["learning_rate_init"], p["beta_1"], p["beta_2"],
                p["epsilon"], adaptive=plateau)
