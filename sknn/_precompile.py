"""Compile every kernel for float32 and float64 into Numba's cache.

``sknn.precompile()`` (or the ``sknn-precompile`` command, or
``python -m sknn._precompile``) fits tiny models so that every kernel the
estimators use is compiled and written to the cache.  Run it once when
building a Docker image or a CI cache, or once on each Dask worker
(``client.run(sknn.precompile)``), so users never pay compilation.
"""

import time
import warnings

import numpy as np


def warm(dtypes=(np.float64, np.float32)):
    """Fit tiny models of every estimator in every dtype.

    Every kernel takes the activation, loss, pooling mode and optimizer as
    run-time codes, so a few fits per dtype reach all of them; the tasks of
    parallel work and their runner are compiled directly (:func:`_build_tasks`).
    """
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
    _build_tasks(["_f32" if np.dtype(d) == np.float32 else "_f64" for d in dtypes])


# Other estimator modules append callables ``f(X, y, dtype)`` here.
_EXTRA_WARMERS = []


def _build_tasks(suffixes):
    """Compile the tasks of each dtype suffix (``"_f64"``, ``"_f32"``).

    The first suffix's tasks compile in a second Python process while this
    one compiles the others, on two cores in about half the time.  That is
    safe for Numba's cache: a task has one signature and a cache index of its
    own, the kernels the tasks call were cached by the fits before, and the
    runner is compiled here first, so the two processes never write the same
    index.  If the second process fails, its tasks compile here.
    """
    import os
    import subprocess
    import sys

    from ._jit import build_tasks

    build_tasks("\0")  # the runner only (no task name ends with a NUL)
    if len(suffixes) < 2 or (os.cpu_count() or 1) < 2:
        for suffix in suffixes:
            build_tasks(suffix)
        return
    code = f"from sknn._jit import build_tasks; build_tasks({suffixes[0]!r})"
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        for suffix in suffixes[1:]:
            build_tasks(suffix)
    finally:
        failed = other.wait() != 0
    if failed:
        build_tasks(suffixes[0])


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
