"""scikit-learn's own MLP tests, run on sknn's estimators.

The installed ``sklearn/neural_network/tests/test_mlp.py`` is read, its
import of ``MLPClassifier``/``MLPRegressor`` is pointed at
:class:`~sknn.MLPClassifierX`/:class:`~sknn.MLPRegressorX`, and every test it
defines is collected here, parametrisations included.  The only tests
skipped are those that read private attributes sknn does not have, each
listed below with its reason: everything else scikit-learn pins, sknn keeps.
"""

import pathlib
import types

import pytest
import sklearn

_PATH = pathlib.Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
_OURS = "from sknn import MLPClassifierX as MLPClassifier, MLPRegressorX as MLPRegressor"

# Tests that read scikit-learn's private implementation, with the reason.
PRIVATE = {
    "test_gradient": (
        "calls the private MLPClassifier._loss_grad_lbfgs with scikit-learn's "
        "per-layer buffers; sknn's gradients are checked against finite "
        "differences in tests/test_gradients.py and tests/test_training_control.py"
    ),
}


def _load():
    source = _PATH.read_text()
    if _IMPORT not in source:  # pragma: no cover - a new scikit-learn layout
        pytest.fail(f"{_PATH} no longer imports the MLPs as {_IMPORT!r}")
    module = types.ModuleType("sklearn_test_mlp_on_sknn")
    module.__file__ = str(_PATH)
    exec(compile(source.replace(_IMPORT, _OURS), str(_PATH), "exec"), module.__dict__)
    return module


_MODULE = _load()
for _name, _test in vars(_MODULE).items():
    if _name.startswith("test_") and callable(_test):
        if _name in PRIVATE:
            _test = pytest.mark.skip(reason=PRIVATE[_name])(_test)
        globals()[_name] = _test


@pytest.fixture
def global_random_seed():
    """scikit-learn's fixture of the same name, with its default seed."""
    return 42
