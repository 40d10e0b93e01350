"""Compile every kernel for float32 and float64 into Numba's cache.

``sknn.precompile()`` (or the ``sknn-precompile`` command, or
``python -m sknn._precompile``) fits tiny models so that every kernel the
estimators use is compiled and written to the cache.  Run it once when
building a Docker image or a CI cache so users never pay compilation.
"""

import time
import warnings

import numpy as np
import scipy.sparse as sp


def warm(dtypes=(np.float64, np.float32)):
    """Fit tiny models of every estimator and solver in every dtype."""
    from ._autoencoder import _warm as warm_autoencoder
    from ._conv import ConvClassifier
    from ._mlp import MLPClassifierX, MLPRegressorX

    rng = np.random.RandomState(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dtype in dtypes:
            X = rng.rand(12, 4).astype(dtype)
            y = np.arange(12) % 3
            yb = np.arange(12) % 2
            acts = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu"]
            for solver in ("adam", "sgd", "lbfgs"):
                MLPClassifierX((3, 3), activation=acts[:2], solver=solver,
                               max_iter=2, dropout=0.1, random_state=0).fit(X, y)
            MLPClassifierX((3,) * 6, activation=acts, max_iter=1,
                           random_state=0).fit(X, yb).predict_proba(X)
            MLPClassifierX((3,), max_iter=1, random_state=0).fit(
                sp.csr_matrix(X), y).predict(sp.csr_matrix(X))
            for loss in ("squared_error", "poisson"):
                MLPRegressorX(loss, (3,), max_iter=1, random_state=0).fit(X, X[:, 0])
            # One batch big enough for the parallel paths: dense layers of
            # >= 8M multiply-adds, >= 65536 parameters (optimizer), >= 65536
            # batch elements (gather) and outputs (loss).
            Xl = rng.rand(256, 256).astype(dtype)
            big = MLPRegressorX(hidden_layer_sizes=(256,), batch_size=256, max_iter=1,
                                random_state=0)
            big.fit(Xl, Xl).predict(Xl)
            # A hidden layer of >= 50 000 multiply-adds that passes dx back
            # (dense_backward_pair).
            MLPClassifierX((32, 32), max_iter=1, random_state=0).fit(
                Xl[:64, :32], np.arange(64) % 3)
            warm_autoencoder(X, y, dtype)
            Xi = rng.rand(12, 36).astype(dtype)
            for pool, filters in (("max", (2, 3)), ("mean", (8, 8))):
                ConvClassifier(filters=filters, kernel_size=3, pool=pool,
                               hidden_layer_sizes=(3,), max_iter=1,
                               random_state=0).fit(Xi, y).predict_proba(Xi)
            for extra in _EXTRA_WARMERS:
                extra(X, y, dtype)


# Other estimator modules append callables ``f(X, y, dtype)`` here.
_EXTRA_WARMERS = []


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
