"""Safe persistence: skops.io (extra ``skops``), pickle and joblib."""

import io
import json
import pickle
import subprocess
import sys
import warnings
import zipfile

import joblib
import numpy as np
import pytest
from _extras import require_extra, sknn_estimator
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelBinarizer, StandardScaler

from sknn import MLPClassifierX, MLPRegressorX
from sknn._optim import SGD, Adam


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def fit_quiet(est, X, y=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X) if y is None else est.fit(X, y)


def make(cls, **params):
    names = cls().get_params()
    return cls(**{k: v for k, v in params.items() if k in names})


def _mlp_cases():
    small = {"hidden_layer_sizes": (8,), "max_iter": 5, "random_state": 0}
    return {
        "clf-adam-dropout": (MLPClassifierX(dropout=0.2, **small), "multiclass"),
        "clf-sgd": (MLPClassifierX(solver="sgd", **small), "multiclass"),
        "clf-lbfgs": (MLPClassifierX(solver="lbfgs", **small), "binary"),
        "clf-strings": (MLPClassifierX(**small), "strings"),
        "clf-multilabel": (MLPClassifierX(**small), "multilabel"),
        "reg-adam": (MLPRegressorX(**small), "regression"),
        "reg-poisson": (MLPRegressorX("poisson", **small), "regression"),
        "pipeline": (make_pipeline(StandardScaler(), MLPClassifierX(**small)),
                     "multiclass"),
    }


def _target(kind, y, X):
    return {
        "multiclass": y,
        "binary": y % 2,
        "strings": np.array(["cat", "dog", "emu"])[y % 3],
        "multilabel": np.c_[y % 2, y > 4],
        "regression": X[:, 20] * 3.0,
    }[kind]


def fitted(name, data):
    X, y = data
    if name == "conv":
        cls = sknn_estimator("ConvClassifier")
        est = make(cls, input_shape=(1, 8, 8), image_shape=(1, 8, 8), max_iter=2,
                   random_state=0)
        return fit_quiet(est, X, y), X
    if name == "autoencoder":
        cls = sknn_estimator("AutoEncoderTransformer")
        return fit_quiet(make(cls, max_iter=3, random_state=0), X), X
    est, kind = _mlp_cases()[name]
    return fit_quiet(est, X, _target(kind, y, X)), X


CASES = sorted(_mlp_cases()) + ["conv", "autoencoder"]


def outputs(est, X):
    """Everything an estimator computes, for exact before/after comparisons."""
    out = {}
    for method in ("predict", "predict_proba", "transform"):
        if hasattr(est, method):
            out[method] = getattr(est, method)(X)
    return out


def assert_same_outputs(a, b, X):
    oa, ob = outputs(a, X), outputs(b, X)
    assert oa.keys() == ob.keys() and oa
    for k in oa:
        np.testing.assert_array_equal(oa[k], ob[k], err_msg=k)


def final(est):
    return est.steps[-1][1] if hasattr(est, "steps") else est


# -- fitted state ------------------------------------------------------------

_PLAIN = (type(None), bool, int, float, complex, str, bytes, np.ndarray, np.generic)
_STATE_OBJECTS = (Adam, SGD, LabelBinarizer)


def _check_plain(value, path):
    if isinstance(value, _PLAIN):
        if isinstance(value, np.ndarray):
            assert value.dtype != object, f"{path}: object array"
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_plain(k, f"{path} key")
            _check_plain(v, f"{path}[{k!r}]")
    elif isinstance(value, _STATE_OBJECTS):
        for k, v in vars(value).items():
            _check_plain(v, f"{path}.{k}")
    else:
        raise AssertionError(f"{path} is a {type(value).__name__}, not plain data")


@pytest.mark.parametrize("name", CASES)
def test_fitted_state_is_plain_data(name, data):
    est, _ = fitted(name, data)
    state = final(est).__getstate__()
    for key, value in state.items():
        _check_plain(value, key)


# -- pickle and joblib ---------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_pickle_and_joblib_roundtrip(name, data, tmp_path):
    est, X = fitted(name, data)
    assert_same_outputs(est, pickle.loads(pickle.dumps(est)), X)
    joblib.dump(est, tmp_path / "model.joblib")
    assert_same_outputs(est, joblib.load(tmp_path / "model.joblib"), X)


# -- skops ---------------------------------------------------------------------


def test_trusted_types_lists_sknn_types():
    require_extra("skops")
    from sknn.skops import trusted_types

    names = trusted_types()
    assert {"sknn._mlp.MLPClassifierX", "sknn._mlp.MLPRegressorX",
            "sknn._optim.Adam", "sknn._optim.SGD"} <= set(names)
    assert all(n.startswith("sknn.") for n in names)


@pytest.mark.parametrize("name", CASES)
def test_skops_roundtrip(name, data, tmp_path):
    (sio,) = require_extra("skops")[1:]
    from sknn.skops import load, trusted_types

    est, X = fitted(name, data)
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert set(untrusted) <= set(trusted_types())
    assert any(t.startswith("sknn.") for t in untrusted)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path)  # sknn's types are not trusted by skops by default
    loaded = sio.load(path, trusted=trusted_types())
    assert type(loaded) is type(est)
    assert_same_outputs(est, loaded, X)
    assert_same_outputs(est, load(path), X)
    a, b = final(est), final(loaded)
    for w0, w1 in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert w0.dtype == w1.dtype
        np.testing.assert_array_equal(w0, w1)


def test_skops_roundtrip_resumes_training(data):
    """The optimizer state survives: partial_fit continues identically."""
    (sio,) = require_extra("skops")[1:]
    from sknn.skops import dumps, loads

    X, y = data
    for solver in ("adam", "sgd"):
        est = MLPClassifierX((8,), solver=solver, random_state=0)
        for _ in range(3):
            est.partial_fit(X, y, classes=np.arange(10))
        loaded = loads(dumps(est))
        assert isinstance(loaded._optimizer, type(est._optimizer))
        est.partial_fit(X, y)
        loaded.partial_fit(X, y)
        for w0, w1 in zip(est.coefs_, loaded.coefs_):
            np.testing.assert_array_equal(w0, w1)


def _tamper(src, dst, new_module, new_class):
    """Copy skops file ``src`` to ``dst`` with the optimizer's type replaced."""
    with zipfile.ZipFile(src) as zin:
        schema = json.loads(zin.read("schema.json"))
        members = {n: zin.read(n) for n in zin.namelist() if n != "schema.json"}
    replaced = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("__module__") == "sknn._optim":
                node["__module__"], node["__class__"] = new_module, new_class
                replaced.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    assert replaced, "no sknn._optim node in the schema"
    with zipfile.ZipFile(dst, "w") as zout:
        zout.writestr("schema.json", json.dumps(schema))
        for n, content in members.items():
            zout.writestr(n, content)


def test_tampered_file_is_refused(data, tmp_path):
    (sio,) = require_extra("skops")[1:]
    from sknn.skops import load, trusted_types

    X, y = data
    est = fit_quiet(MLPClassifierX((8,), max_iter=3, random_state=0), X, y)
    good, bad = tmp_path / "good.skops", tmp_path / "bad.skops"
    sio.dump(est, good)
    _tamper(good, bad, "subprocess", "Popen")
    assert "subprocess.Popen" in sio.get_untrusted_types(file=bad)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException,
                       match="subprocess.Popen"):
        sio.load(bad, trusted=trusted_types())
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        load(bad)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        load(io.BytesIO(bad.read_bytes()))


# -- the extras stay optional ------------------------------------------------


def test_import_sknn_imports_no_extra():
    code = (
        "import sys, sknn, sknn.skops; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'dask', 'distributed', 'dask_ml', 'skl2onnx', 'onnx', 'onnxruntime', "
        "'skops'}); print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == ""


def test_clone_and_refit_after_load(data):
    (sio,) = require_extra("skops")[1:]
    from sknn.skops import dumps, loads

    X, y = data
    est = fit_quiet(MLPClassifierX((8,), max_iter=3, random_state=0), X, y)
    loaded = loads(dumps(est))
    refit = fit_quiet(clone(loaded), X, y)
    assert_same_outputs(est, refit, X)
