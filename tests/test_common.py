"""scikit-learn's estimator checks on every sknn estimator (no expected failures)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknn import AutoEncoderTransformer, ConvClassifier, MLPClassifierX, MLPRegressorX

# Cheap but faithful settings: small networks, few epochs. Solvers are varied
# because each has its own code path through the engine.
ESTIMATORS = [
    MLPClassifierX(hidden_layer_sizes=(16,), max_iter=100, learning_rate_init=0.01,
                   random_state=0),
    MLPClassifierX(hidden_layer_sizes=(16,), solver="sgd", max_iter=100,
                   learning_rate_init=0.05, random_state=0),
    MLPClassifierX(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50,
                   random_state=0),
    MLPRegressorX(hidden_layer_sizes=(16,), max_iter=100, learning_rate_init=0.01,
                  random_state=0),
    MLPRegressorX(hidden_layer_sizes=(8,), solver="sgd", max_iter=50,
                  learning_rate_init=0.01, random_state=0),
    MLPRegressorX(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50,
                  random_state=0),
    MLPClassifierX(),
    MLPRegressorX(),
    AutoEncoderTransformer(),
    ConvClassifier(),
    ConvClassifier(filters=(4, 4), kernel_size=[3, 1], padding=["same", "valid"],
                   pool="mean", hidden_layer_sizes=(), solver="sgd",
                   learning_rate_init=0.05, max_iter=100, random_state=0),
    AutoEncoderTransformer(hidden_layer_sizes=(8,), tied_weights=True, code_l1=1e-3,
                           max_iter=50, random_state=0),
    AutoEncoderTransformer(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50,
                           random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
