"""scikit-learn's estimator checks on every sknn estimator (no expected failures)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknn import (
    AutoEncoderTransformer,
    ConvClassifier,
    ConvRegressor,
    MLPClassifierX,
    MLPRegressorX,
)


class _Named:
    """A module-level callable whose repr is its name: test ids come from the
    estimators' reprs, and pytest-xdist's workers must collect the same ids
    (a function's repr holds its address).  Module level, so estimators
    pickle."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)

    def __repr__(self):
        return self.fn.__name__


def _halve(epoch):
    return 0.01 * 0.5 ** (epoch // 10)


def _nothing(estimator, record):
    return None


#: An ``lr_schedule`` callable.
_halve_every_10_epochs = _Named(_halve)
#: A ``callbacks`` entry that never stops training.
_log_nothing = _Named(_nothing)


# Every estimator with its default parameters and with each solver (each
# solver has its own path through the engine), then configurations of the
# options the defaults leave off.
ESTIMATORS = [
    MLPClassifierX(),
    MLPClassifierX(solver="sgd"),
    MLPClassifierX(solver="lbfgs"),
    MLPRegressorX(),
    MLPRegressorX(solver="sgd"),
    MLPRegressorX(solver="lbfgs"),
    # The training-control options (scoring is exercised as a parameter: the
    # checks' data sets are too small for a validation split).
    MLPClassifierX(hidden_layer_sizes=(16,), activation="gelu", init="he_normal",
                   lr_schedule="cosine", scoring="neg_log_loss",
                   callbacks=[_log_nothing], max_iter=100, learning_rate_init=0.01,
                   random_state=0),
    MLPRegressorX(loss="huber", hidden_layer_sizes=(16,), activation="silu",
                  init="glorot_normal", lr_schedule="plateau", scoring="loss",
                  max_iter=100, learning_rate_init=0.01, random_state=0),
    MLPRegressorX(loss="absolute_error", hidden_layer_sizes=(8,), activation="softplus",
                  solver="sgd", init="he_uniform", lr_schedule=_halve_every_10_epochs,
                  max_iter=50, random_state=0),
    AutoEncoderTransformer(),
    AutoEncoderTransformer(solver="sgd"),
    AutoEncoderTransformer(solver="lbfgs"),
    ConvClassifier(solver="sgd"),
    ConvClassifier(solver="lbfgs"),
    ConvClassifier(),
    ConvClassifier(filters=(4, 4), kernel_size=[3, 1], padding=["same", "valid"],
                   pool="mean", hidden_layer_sizes=(), solver="sgd",
                   learning_rate_init=0.05, max_iter=100, random_state=0),
    ConvRegressor(),
    ConvRegressor(solver="sgd"),
    ConvRegressor(solver="lbfgs"),
    ConvRegressor(filters=(4, 4), pool=["mean", None], pool_size=[2, 3],
                  hidden_layer_sizes=(8,), solver="sgd",
                  learning_rate_init=0.01, max_iter=100, random_state=0),
    ConvClassifier(data_format="channels_last", filters=(4,), global_pool="max",
                   hidden_layer_sizes=(8,), max_iter=50,
                   learning_rate_init=0.01, random_state=0),
    AutoEncoderTransformer(hidden_layer_sizes=(8,), tied_weights=True, code_l1=1e-3,
                           max_iter=50, random_state=0),
    # Frozen leading layers (random features here: a fitted init would fix the
    # number of features), on each solver's path.
    MLPClassifierX(hidden_layer_sizes=(16,), frozen_layers=1, alpha=0.01, max_iter=100,
                   learning_rate_init=0.01, random_state=0),
    MLPRegressorX(hidden_layer_sizes=(16,), frozen_layers=1, solver="lbfgs",
                  max_iter=100, random_state=0),
    ConvClassifier(filters=(4,), hidden_layer_sizes=(8,), frozen_layers=1, solver="sgd",
                   learning_rate_init=0.05, max_iter=50, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
