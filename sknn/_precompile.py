"""Compile every kernel for float32 and float64 into Numba's cache.

``sknn.precompile()`` (or the ``sknn-precompile`` command, or
``python -m sknn._precompile``) fits tiny models so that every kernel the
estimators use is compiled and written to the cache.  Run it once when
building a Docker image or a CI cache, or once on each Dask worker
(``client.run(sknn.precompile)``), so users never pay compilation.
"""

import os
import subprocess
import sys
import time
import warnings

import numpy as np


def warm(dtypes=(np.float64, np.float32)):
    """Fit tiny models of every estimator in every dtype.

    Every kernel takes the activation, loss, pooling mode and optimizer as
    run-time codes, so a few fits per dtype reach all of them; the tasks of
    parallel work and their runner are compiled directly (:class:`_TaskBuilder`).
    """
    builder = _TaskBuilder(dtypes)
    try:
        _fit_each(dtypes)
    except BaseException:
        builder.stop()
        raise
    builder.finish()


def _fit_each(dtypes):
    """A few short fits per dtype that reach every kernel and code."""
    from ._autoencoder import AutoEncoderTransformer
    from ._conv import ConvClassifier
    from ._mlp import MLPClassifierX, MLPRegressorX

    rng = np.random.RandomState(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dtype in dtypes:
            X = rng.rand(12, 4).astype(dtype)
            y = np.arange(12) % 3
            for solver in ("adam", "sgd"):
                MLPClassifierX((3,), solver=solver, max_iter=1, random_state=0).fit(
                    X, y).predict_proba(X)
            # the kernels of the less common activations and the robust losses
            MLPRegressorX(loss="huber", hidden_layer_sizes=(3,), activation="gelu",
                          max_iter=1, random_state=0).fit(X, X[:, 0]).predict(X)
            AutoEncoderTransformer(2, (3,), max_iter=1, random_state=0).fit(X).transform(X)
            Xi = rng.rand(12, 36).astype(dtype)
            for pool in ("max", "mean"):
                ConvClassifier(filters=(2, 2), kernel_size=3, pool=pool, hidden_layer_sizes=(),
                               max_iter=1, random_state=0).fit(Xi, y).predict_proba(Xi)
            for extra in _EXTRA_WARMERS:
                extra(X, y, dtype)


# Other estimator modules append callables ``f(X, y, dtype)`` here.
_EXTRA_WARMERS = []


_HELPER = """
import sys
from sknn._jit import build_tasks
build_tasks(sys.argv[1].split(","))
sys.stdout.write("ready\\n")
sys.stdout.flush()
sys.stdin.readline()
build_tasks(sys.argv[2].split(","))
"""


class _TaskBuilder:
    """Compiles tasks in a second Python process alongside this one's fits.

    :func:`warm` starts it first; it compiles the tasks that call no kernel
    (and pays Numba's first typing of a task) while the fits compile the
    kernels, then, once told the kernels are cached, the float64 tasks,
    while this process compiles the float32 ones.  That is safe for Numba's
    cache: a task has one signature and a cache index of its own, only one
    process compiles each, and the kernels the tasks call are cached by the
    fits before either process compiles a task that calls them.  If the
    helper fails, this process compiles its tasks.
    """

    def __init__(self, dtypes):
        from ._jit import task_names

        suffixes = ["_f32" if np.dtype(d) == np.float32 else "_f64" for d in dtypes]
        names = [n for n in task_names() if n.endswith(tuple(suffixes))]
        self.early = [n for n in names if n.startswith("gather")]
        mine = "_f32" if "_f32" in suffixes and len(suffixes) > 1 else ""
        self.later = [n for n in names if n not in self.early and not (mine and n.endswith(mine))]
        self.mine = [n for n in names if n not in self.early and n not in self.later]
        self.proc = None
        if (os.cpu_count() or 1) > 1:
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-c", _HELPER, ",".join(self.early) or "-",
                     ",".join(self.later) or "-"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, text=True)
            except OSError:
                self.proc = None

    def stop(self):
        """End the helper without letting it compile anything more."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def finish(self):
        """Compile the runner and this process's tasks; wait for the helper."""
        from ._jit import build_runner, build_tasks

        build_runner()
        ok = False
        if self.proc is not None:
            try:
                ok = self.proc.stdout.readline().strip() == "ready"
                if ok:
                    self.proc.stdin.write("go\n")
                    self.proc.stdin.flush()
            except OSError:
                ok = False
        build_tasks(self.mine or ["-"])
        if self.proc is not None:
            ok = self.proc.wait() == 0 and ok
        if not ok:
            build_tasks(self.early + self.later)


def precompile(verbose=True):
    """Compile and cache all kernels (float32 and float64).

    Returns the seconds it took.
    """
    start = time.perf_counter()
    warm()
    elapsed = time.perf_counter() - start
    if verbose:
        print(f"sknn kernels compiled and cached in {elapsed:.1f} s")
    return elapsed


def main():
    precompile()


if __name__ == "__main__":
    main()
