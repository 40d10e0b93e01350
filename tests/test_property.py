"""Issue 7: property-based robustness of every estimator (hypothesis).

Random shapes, dtypes, values (extreme magnitudes, NaN, inf), sample weights
and hyperparameters (valid and invalid) go to ``fit``.  The only acceptable
outcomes are a clean ``ValueError``/``TypeError`` (never a Numba error), or a
fitted model whose predictions on the same ``X`` have the right shape, dtype
and finite values.  ``derandomize=True`` keeps CI deterministic; set
``SKNN_HYPOTHESIS_EXAMPLES`` (and ``SKNN_HYPOTHESIS_RANDOM=1``) to explore more.
"""

import os
import warnings

import numpy as np
import pytest
from _extras import sknn_estimator

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from numba.core.errors import NumbaError  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

EXAMPLES = int(os.environ.get("SKNN_HYPOTHESIS_EXAMPLES", "30"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("SKNN_HYPOTHESIS_RANDOM", "") in ("", "0"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

KINDS = {
    "MLPClassifierX": "classifier",
    "MLPRegressorX": "regressor",
    "ConvClassifier": "classifier",
    "AutoEncoderTransformer": "transformer",
}
SPECIALS = [0.0, -0.0, 5e-324, -1e-300, 1e-30, 1e15, -1e15, 3e38, -3e38, 1e300,
            -1e300, 1.7e308, np.nan, np.inf, -np.inf]
MAGNITUDES = [1.0, 1.0, 1.0, 1e-6, 1e3, 1e20, 1e150, 1e300]


@st.composite
def values(draw, shape, special_rate):
    """Floats of a drawn magnitude with a few special values sprinkled in."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from(MAGNITUDES))
    out = rng.standard_normal(shape) * scale
    if special_rate and draw(st.booleans()):
        n_special = draw(st.integers(1, 3))
        for _ in range(n_special):
            idx = tuple(draw(st.integers(0, s - 1)) for s in shape)
            out[idx] = draw(st.sampled_from(SPECIALS))
    return out


def as_dtype(X, kind):
    """``X`` in a drawn container/dtype (some conversions make bad input)."""
    with np.errstate(all="ignore"):
        if kind == "float32":
            return X.astype(np.float32)
        if kind == "float16":
            return X.astype(np.float16)
        if kind == "int64" and np.isfinite(X).all() and np.abs(X).max() < 1e18:
            return X.astype(np.int64)
        if kind == "bool":
            return X > 0
        if kind == "object":
            return X.astype(object)
        if kind == "list":
            return X.tolist()
    return X


VALID = {
    "hidden_layer_sizes": st.lists(st.integers(1, 6), max_size=2).map(tuple),
    "activation": st.sampled_from(
        ["relu", "tanh", "logistic", "identity", "leaky_relu", "elu"]),
    "solver": st.sampled_from(["adam", "sgd", "lbfgs"]),
    "alpha": st.sampled_from([0.0, 1e-4, 1.0, 1e8]),
    "learning_rate_init": st.sampled_from([1e-3, 0.1, 10.0, 1e10, 1e200]),
    "learning_rate": st.sampled_from(["constant", "invscaling", "adaptive"]),
    "batch_size": st.sampled_from(["auto", 1, 3, 1000]),
    "early_stopping": st.booleans(),
    "dropout": st.sampled_from([0.0, 0.0, 0.3, 0.9]),
    "n_jobs": st.sampled_from([1, 2, None, -1]),
    "momentum": st.sampled_from([0.9, 0.0, 1.0]),
    "tol": st.sampled_from([1e-4, 0.0, 1e3]),
}
INVALID = {
    "hidden_layer_sizes": [(0,), (-1,), (2.5,), "abc", None],
    "activation": ["swish", 3, ["relu"] * 5],
    "solver": ["newton"],
    "alpha": [-1.0, np.nan, "x"],
    "learning_rate_init": [0.0, -1.0, np.inf],
    "batch_size": [0, 2.5],
    "dropout": [1.0, -0.5, [0.1] * 5],
    "n_jobs": [0, 1.5],
    "tol": [np.inf, -1.0],
    "max_iter": [0, 1.5],
    "n_components": [0, 1.5],
    "kernel_size": [0, 99],
    "input_shape": [(1, 1, 1), "square"],
}


@st.composite
def problems(draw, name):
    """``(X, y, sample_weight, params)``; at most one deliberately bad part."""
    kind = KINDS[name]
    corrupt = draw(st.sampled_from(["none", "none", "none", "X", "y", "sample_weight",
                                    "param"]))
    n = draw(st.integers(1, 24))
    params = {"max_iter": draw(st.integers(1, 3)), "random_state": 0}
    params.update({k: draw(v) for k, v in VALID.items()})
    if name == "ConvClassifier":
        c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
        n_features = c * h * w
        params.update(
            input_shape=(c, h, w), filters=(draw(st.integers(1, 3)),),
            kernel_size=draw(st.integers(1, 3)),
            padding=draw(st.sampled_from(["same", "valid"])),
            pool=draw(st.sampled_from(["max", "mean", None])),
        )
    else:
        n_features = draw(st.integers(1, 6))
    if name == "AutoEncoderTransformer":
        params.update(n_components=draw(st.integers(1, 3)),
                      tied_weights=draw(st.booleans()),
                      noise=draw(st.sampled_from([0.0, 0.1, 2.0])))
    if corrupt == "param":
        names = sorted(k for k in INVALID if k in params)
        bad = draw(st.sampled_from(names))
        params[bad] = draw(st.sampled_from(INVALID[bad]))
    X = as_dtype(draw(values((n, n_features), special_rate=corrupt == "X")),
                 draw(st.sampled_from(["float64", "float64", "float32", "float16",
                                       "int64", "bool", "object", "list"])))
    if kind == "classifier":
        n_classes = draw(st.integers(1, 4))
        y = np.asarray(draw(st.lists(st.integers(0, n_classes - 1), min_size=n,
                                     max_size=n)))
        if draw(st.booleans()):
            y = np.array(["cat", "dog", "emu", "gnu"])[y]
        if corrupt == "y":
            y = y[:-1] if draw(st.booleans()) else np.full(n, np.nan)
    elif kind == "regressor":
        y = draw(values((n,), special_rate=corrupt == "y"))
    else:
        y = None
    sample_weight = None
    if corrupt == "sample_weight" or draw(st.booleans()):
        sample_weight = np.abs(draw(values((n,), special_rate=corrupt == "sample_weight")))
        if corrupt == "sample_weight" and draw(st.booleans()):
            sample_weight = -sample_weight
    return X, y, sample_weight, params


def _float_dtype(X):
    dtype = getattr(X, "dtype", None)
    return np.float32 if dtype == np.float32 else np.float64


def check_outcome(name, X, y, sample_weight, params):
    cls = sknn_estimator(name)
    valid = cls().get_params()
    est = cls(**{k: v for k, v in params.items() if k in valid})
    kind = KINDS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if kind == "transformer":
                est.fit(X, sample_weight=sample_weight)
            else:
                est.fit(X, y, sample_weight=sample_weight)
        except (ValueError, TypeError) as exc:
            assert not isinstance(exc, NumbaError), f"Numba error leaked: {exc!r}"
            assert str(exc), "an error without a message"
            assert not hasattr(est, "coefs_")  # a failed first fit leaves nothing
            return "error"
        n = len(X)
        dtype = _float_dtype(X)
        if kind == "classifier":
            labels = est.predict(X)
            assert labels.shape == (n,) and labels.dtype == est.classes_.dtype
            assert set(np.unique(labels)) <= set(est.classes_)
            proba = est.predict_proba(X)
            assert proba.shape == (n, len(est.classes_)) and proba.dtype == dtype
            assert np.isfinite(proba).all()
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-3)
        elif kind == "regressor":
            pred = est.predict(X)
            assert pred.shape == (n,) and pred.dtype == dtype
            assert np.isfinite(pred).all(), pred
        else:
            Z = est.transform(X)
            assert Z.shape == (n, est.n_components) and Z.dtype == dtype
            assert np.isfinite(Z).all(), Z
            R = est.inverse_transform(Z)
            assert R.shape == (n, est.n_features_in_) and np.isfinite(R).all()
    return "fitted"


def _test(name):
    sknn_estimator(name)  # skip (outside hypothesis) when absent
    outcomes = []

    @SETTINGS
    @given(problems(name))
    def run(problem):
        outcomes.append(check_outcome(name, *problem))

    run()
    # the strategy must exercise both outcomes, or the test proves little
    assert "fitted" in outcomes and "error" in outcomes, outcomes


@pytest.mark.parametrize("name", list(KINDS))
def test_fit_gives_clean_error_or_sound_model(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _test(name)
