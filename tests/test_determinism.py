"""Same random_state: bit-identical weights across fits and thread counts."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sknn import MLPClassifierX, MLPRegressorX


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _assert_same_weights(fits):
    for other in fits[1:]:
        for a, b in zip(fits[0].coefs_ + fits[0].intercepts_,
                        other.coefs_ + other.intercepts_):
            np.testing.assert_array_equal(a, b)
        assert getattr(other, "loss_curve_", None) == getattr(fits[0], "loss_curve_", None)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bit_identical_across_fits_and_n_jobs(digits, solver, dtype):
    X, y = digits
    X = X.astype(dtype)
    params = dict(hidden_layer_sizes=(64, 32), solver=solver, max_iter=4,
                  dropout=0.2 if solver != "lbfgs" else 0.0, random_state=0)
    fits = [_fit(MLPClassifierX(n_jobs=n, **params), X, y) for n in (1, 2, 1, 2)]
    _assert_same_weights(fits)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


def test_blas_thread_limit_is_restored_after_calls(digits):
    from threadpoolctl import threadpool_info

    X, y = digits
    before = [lib["num_threads"] for lib in threadpool_info()]
    reg = _fit(MLPRegressorX(hidden_layer_sizes=(4,), max_iter=1, n_jobs=1), X, y)
    assert [lib["num_threads"] for lib in threadpool_info()] == before
    reg.predict(X)
    assert [lib["num_threads"] for lib in threadpool_info()] == before


@pytest.fixture
def three_way_split(monkeypatch, many_chunks):
    """Every piece of work cut into 3 chunks (more than the threads there
    are): ``many_chunks`` with the CPU split at 3."""
    from sknn import _runtime

    monkeypatch.setattr(_runtime, "cpu_split", lambda: 3)
    return many_chunks


@pytest.mark.parametrize("name", ["mlp", "conv", "autoencoder"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chunked_work_same_bits_for_any_thread_count(digits, name, dtype,
                                                     three_way_split):
    # Chunks are cut from shapes and the CPU count only; one thread runs them
    # all in order, two threads share them: the weights must not differ.
    from sknn import AutoEncoderTransformer, ConvClassifier

    X, y = digits
    X, y = X[:300].astype(dtype) / 16, y[:300]
    make = {
        "mlp": lambda n: MLPClassifierX((32, 16), max_iter=2, random_state=0, n_jobs=n),
        "conv": lambda n: ConvClassifier(input_shape=(1, 8, 8), filters=(4, 6), max_iter=2,
                                         random_state=0, n_jobs=n),
        "autoencoder": lambda n: AutoEncoderTransformer(4, (16,), max_iter=2,
                                                        random_state=0, n_jobs=n),
    }[name]
    fits = [_fit(make(n), X, None if name == "autoencoder" else y) for n in (1, 2, 2)]
    runs = three_way_split
    assert 3 in runs and min(runs) >= 2  # the team ran chunked regions
    _assert_same_weights(fits)


@pytest.mark.parametrize("name", ["conv", "conv-chain", "mlp", "deep-mlp",
                                  "tied-autoencoder"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_same_bits_whether_or_not_its_tasks_are_compiled(digits, dtype, name,
                                                             monkeypatch):
    # Below parallel_min_macs a convolution's or a pooling's chunks, and a
    # dense layer's batch-row chunks (from dense_split_min_macs), run as a
    # task only once it is compiled (in this process or Numba's cache), else
    # one after the other on the calling thread with the same BLAS calls.
    # The MLP's layers (the output layer 80 -> 10 on 200 rows) and its loss
    # run as one chain of tasks, which also copies the batch's rows.  The
    # tied decoder runs on the transpose of its encoder's weights.
    from sknn import AutoEncoderTransformer, ConvClassifier, _runtime

    monkeypatch.setattr(_runtime, "cpu_split", lambda: 2)
    X, y = digits
    X, y = X[:400].astype(dtype) / 16, y[:400]
    make, tasks = {
        "conv": (lambda: ConvClassifier(input_shape=(1, 8, 8), filters=(16,),
                                        batch_size=128, max_iter=2, random_state=0,
                                        n_jobs=2),
                 ("conv_forward", "conv_backward", "pool")),
        "mlp": (lambda: MLPClassifierX((100, 80), batch_size=200, max_iter=2,
                                       random_state=0, n_jobs=2),
                ("product_rows", "dense_backward", "loss_rows", "gather_rows")),
        # the pooling and the output layer after it in one chain
        "conv-chain": (lambda: ConvClassifier(input_shape=(1, 8, 8), filters=(16,),
                                              hidden_layer_sizes=(), batch_size=128,
                                              max_iter=2, random_state=0, n_jobs=2),
                       ("pool", "product_rows", "dense_backward", "loss_rows")),
        # four dense layers in one chain: 128 operands, so a runner that let
        # its resolved copy of them go before the chunks ran would crash here
        "deep-mlp": (lambda: MLPClassifierX((100, 16, 100), batch_size=200, max_iter=2,
                                            random_state=0, n_jobs=2),
                     ("product_rows", "dense_backward", "loss_rows")),
        "tied-autoencoder": (lambda: AutoEncoderTransformer(
            8, (100,), tied_weights=True, batch_size=200, max_iter=2, random_state=0,
            n_jobs=2), ("product_rows", "dense_backward")),
    }[name]
    fits, asked = [], []
    for ready in (False, True):
        def runs_task(self, task, work, compile_min, ready=ready):
            asked.append(task.__name__)
            return ready and self.n_threads > 1

        monkeypatch.setattr(_runtime.ExecutionPlan, "runs_task", runs_task)
        fits.append(_fit(make(), X, None if name == "tied-autoencoder" else y))
    suffix = "_f32" if dtype == np.float32 else "_f64"
    assert {t + suffix for t in tasks} <= set(asked)
    _assert_same_weights(fits)
