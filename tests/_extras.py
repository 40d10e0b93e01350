"""Test helpers: optional extras (skip with a clear reason locally, fail in
CI), estimators that land later, and runs at several thread counts.

CI (``CI=true``, set by the CI runner) installs every extra (``.ci/run``), so
a missing one there is a broken install, not a reason to skip.
"""

import importlib
import os

import pytest

EXTRAS = {
    "distributed": ("dask", "dask.array", "distributed", "dask_ml"),
    "onnx": ("skl2onnx", "onnx", "onnxruntime"),
    "skops": ("skops", "skops.io"),
}


def in_ci():
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_extra(extra):
    """Import every module of ``extra``; skip (locally) or fail (CI) if absent.

    Returns the list of imported modules, in ``EXTRAS[extra]`` order.
    """
    modules = []
    for name in EXTRAS[extra]:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            msg = (
                f"the optional extra {extra!r} is not installed ({name} is missing: "
                f"{exc}); install it with: pip install -e '.[{extra}]'"
            )
            if in_ci():
                pytest.fail(f"CI=true but {msg}", pytrace=False)
            pytest.skip(msg, allow_module_level=True)
    return modules


def sknn_estimator(name):
    """The class ``sknn.<name>``, or skip: for estimators that land later."""
    import sknn

    cls = getattr(sknn, name, None)
    if cls is None:
        pytest.skip(f"sknn.{name} is not available in this version of sknn")
    return cls


def one_and_all_threads(run):
    """``(run() on 1 Numba thread, run() on all of them)``, for bit-identity
    tests; the caller's thread count is restored."""
    import numba

    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        return one, run()
    finally:
        numba.set_num_threads(previous)
