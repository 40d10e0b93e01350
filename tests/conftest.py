"""Session-wide test setup.

Kernels compile once per dtype and are cached on disk (``cache=True``); the
session fixture below warms every estimator once at the start so individual
tests never pay compilation, and a fresh CI run pays it once per session.

The suite runs on pytest-xdist's workers (``-n 2`` in ``pyproject.toml``):
most tests are single-threaded Python around small fits.  The controller
warms the cache before the workers start (:func:`pytest_configure`), so the
kernels compile once, not once per worker, and each worker's session fixture
only loads them.  Two workers that both run parallel kernels share the
cores, so in a worker OpenMP's idle threads sleep instead of spinning
(``OMP_WAIT_POLICY``, read when the OpenMP runtime loads); that changes
waiting only, never results.
"""

import os
import sys
import warnings

import numpy as np
import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def _warm():
    from sknn._precompile import warm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm()


def pytest_configure(config):
    workers = getattr(config.option, "numprocesses", None)
    if workers and not hasattr(config, "workerinput"):  # xdist's controller
        _warm()


@pytest.fixture(scope="session", autouse=True)
def _warm_kernels():
    _warm()
    yield


@pytest.fixture
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def many_chunks(monkeypatch):
    """Plan thresholds at their minimum (every piece of work is cut into the
    plan's ``split`` chunks); returns the chunk counts that the thread team
    and Numba's threads shared (one entry per region)."""
    from sknn import _runtime

    table = dict(_runtime.THRESHOLDS)
    for name in ("parallel_min_macs", "one_pass_parallel_min_macs", "parallel_min_elements",
                 "conv_split_min_macs", "dense_split_min_macs", "pool_split_min_elements",
                 "loss_split_min_elements",
                 "gather_parallel_min_elements", "optimizer_split_min_elements",
                 "min_chunk_rows"):
        table[name] = (1, table[name][1])
    monkeypatch.setattr(_runtime, "THRESHOLDS", table)
    runs = []
    run = _runtime._Team.run

    def counting(self, fn, n_chunks, n_threads):
        runs.append(n_chunks)
        return run(self, fn, n_chunks, n_threads)

    monkeypatch.setattr(_runtime._Team, "run", counting)
    run_task = _runtime.run_task

    def counting_task(task, n_chunks, n_threads, args, refs=0, finish=False):
        if n_threads > 1 and n_chunks > 1:  # as the team counts: shared chunks
            runs.append(n_chunks)
        return run_task(task, n_chunks, n_threads, args, refs, finish)

    for name, module in list(sys.modules.items()):  # every importer of run_task
        if name.startswith("sknn") and getattr(module, "run_task", None) is run_task:
            monkeypatch.setattr(module, "run_task", counting_task)
    return runs
