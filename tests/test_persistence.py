"""Issue 7, persistence: pickle and joblib round trips, clone, and fitted
state carried into a fresh process.

Every estimator is covered (``ConvClassifier`` and ``AutoEncoderTransformer``
automatically once importable from ``sknn``).  Subprocesses get a
generous ``timeout`` only so a hang fails the test instead of blocking the
suite.
"""

import os
import pickle
import pickletools
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from _extras import (
    NAMES,
    SUBPROCESS_TIMEOUT,
    assert_same_weights,
    data,
    fit,
    flat_params,
    make,
    outputs,
    partial_fit,
)
from sklearn.base import clone

import sknn

# -- persistence --------------------------------------------------------------------
ALLOWED_MODULES = ("builtins", "numpy", "sklearn", "sknn", "collections", "copy")


def _assert_plain(obj, path="est", seen=None):
    """Fitted state: NumPy arrays, Python/sklearn/sknn plain objects, no Numba."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    module = type(obj).__module__ or ""
    assert not module.startswith("numba"), f"{path} is a Numba object: {type(obj)}"
    assert module.split(".")[0] in ALLOWED_MODULES, f"{path}: {type(obj)}"
    if isinstance(obj, np.ndarray):
        assert obj.dtype != object or all(
            _assert_plain(v, f"{path}[]", seen) is None for v in obj.ravel())
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _assert_plain(v, f"{path}[{k!r}]", seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, v in enumerate(obj):
            _assert_plain(v, f"{path}[{i}]", seen)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        for k, v in vars(obj).items():
            _assert_plain(v, f"{path}.{k}", seen)


def _fitted_models():
    models = {}
    for name in NAMES:
        if getattr(sknn, name, None) is None:
            continue
        for solver in ("adam", "sgd", "lbfgs"):
            est, kind = make(name, solver=solver, dropout=0.1 if solver != "lbfgs"
                             else 0.0)
            X, y = data(kind)
            models[f"{name}-{solver}"] = (fit(est, kind, X, y), kind)
    return models


@pytest.fixture(scope="module")
def fitted_models():
    return _fitted_models()


def test_pickle_and_joblib_round_trips(fitted_models, tmp_path):
    for key, (est, kind) in fitted_models.items():
        X, y = data(kind, seed=1)
        ref = outputs(est, kind, X)
        _assert_plain(est.__dict__, key)
        blob = pickle.dumps(est)
        strings = [a for _, a, _ in pickletools.genops(blob) if isinstance(a, str)]
        assert not [s for s in strings if s.startswith("numba")], key
        path = tmp_path / f"{key}.joblib"
        joblib.dump(est, path)
        for loaded in (pickle.loads(blob), joblib.load(path)):
            np.testing.assert_array_equal(outputs(loaded, kind, X), ref, err_msg=key)
            if kind != "transformer":
                np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
            # continue training after loading: same result as the original
            if not key.endswith("lbfgs"):
                a = partial_fit(pickle.loads(blob), kind, X, y)
                b = partial_fit(loaded, kind, X, y)
                assert_same_weights(a, b)
            loaded.set_params(warm_start=True)
            assert np.isfinite(flat_params(fit(loaded, kind, X, y))).all()


SUBPROCESS_SCRIPT = textwrap.dedent("""
    import json, pickle, sys, warnings
    import numba, numpy as np
    from numba.core import config
    from numba.np.ufunc import parallel

    import sknn

    # importing sknn changes no global Numba configuration
    report = {"initialized_at_import": bool(parallel._is_initialized),
              "priority_at_import": list(config.THREADING_LAYER_PRIORITY)}
    warnings.simplefilter("ignore")
    folder = sys.argv[1]
    with open(folder + "/jobs.pkl", "rb") as f:
        jobs = pickle.load(f)
    out = {}
    for key, (blob, jl_path, X, y, kind, params, cls_name) in jobs.items():
        import joblib
        for tag, est in (("pickle", pickle.loads(blob)), ("joblib", joblib.load(jl_path))):
            if kind == "classifier":
                out[key + "-" + tag] = est.predict_proba(X)
            elif kind == "regressor":
                out[key + "-" + tag] = est.predict(X)
            else:
                out[key + "-" + tag] = est.transform(X)
        est = pickle.loads(blob)
        if params["solver"] != "lbfgs":
            (est.partial_fit(X) if kind == "transformer" else est.partial_fit(X, y))
            out[key + "-continued"] = np.concatenate(
                [a.ravel() for a in est.coefs_ + est.intercepts_])
        fresh = getattr(sknn, cls_name)(**{**params, "n_jobs": 2})
        (fresh.fit(X) if kind == "transformer" else fresh.fit(X, y))
        out[key + "-fresh"] = np.concatenate(
            [a.ravel() for a in fresh.coefs_ + fresh.intercepts_])
    np.savez(folder + "/out.npz", **out)
    report["priority_after"] = list(config.THREADING_LAYER_PRIORITY)
    with open(folder + "/report.json", "w") as f:
        json.dump(report, f)
""")


def test_fresh_process_loads_predicts_continues_and_reproduces(fitted_models, tmp_path):
    """One subprocess: load (pickle and joblib), predict, continue, refit."""
    jobs, expected = {}, {}
    for key, (est, kind) in fitted_models.items():
        X, y = data(kind, seed=2)
        jl_path = str(tmp_path / f"{key}.joblib")
        joblib.dump(est, jl_path)
        params = est.get_params()
        jobs[key] = (pickle.dumps(est), jl_path, X, y, kind, params, type(est).__name__)
        for tag in ("pickle", "joblib"):
            expected[f"{key}-{tag}"] = outputs(est, kind, X)
        if params["solver"] != "lbfgs":
            expected[f"{key}-continued"] = flat_params(
                partial_fit(pickle.loads(pickle.dumps(est)), kind, X, y))
        # n_jobs=1 here, n_jobs=2 in the child: same weights
        fresh = clone(est).set_params(n_jobs=1)
        expected[f"{key}-fresh"] = flat_params(fit(fresh, kind, X, y))
    with open(tmp_path / "jobs.pkl", "wb") as f:
        pickle.dump(jobs, f)
    script = tmp_path / "child.py"
    script.write_text(SUBPROCESS_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                          cwd=tmp_path, capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(tmp_path / "out.npz")
    assert sorted(got.files) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    import json

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["initialized_at_import"] is False
    default = ["tbb", "omp", "workqueue"]
    assert report["priority_at_import"] == report["priority_after"]
    if "NUMBA_THREADING_LAYER_PRIORITY" not in os.environ:
        assert report["priority_after"] == default
