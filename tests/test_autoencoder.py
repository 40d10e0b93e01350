"""AutoEncoderTransformer and its layers, against NumPy, PCA and finite differences."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from sknn._ae_layers import Noise
from sknn._autoencoder import AutoEncoderTransformer, _row_errors
from sknn._base import build_network
from sknn._kernels.losses import BINARY_CE, SQUARED, link_loss_grad

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def low_rank(n=400, d=20, rank=3, noise=0.3, seed=0):
    """Rank-``rank`` signal plus isotropic Gaussian noise, off-centre.

    The subspace depends only on ``d`` and ``rank``; ``seed`` draws the rows,
    so calls with different seeds sample the same distribution.
    """
    basis = np.random.default_rng(12345).normal(size=(rank, d))
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, rank)) @ basis
    return signal + noise * rng.normal(size=(n, d)) + 2.0, signal + 2.0


def mse(X, R):
    return float(np.mean((np.asarray(X) - R) ** 2))


def reconstruct(ae, X):
    return ae.inverse_transform(ae.transform(X))


def numpy_act(a, name):
    return {"identity": lambda v: v, "relu": lambda v: np.maximum(v, 0),
            "tanh": np.tanh, "logistic": lambda v: 1 / (1 + np.exp(-v))}[name](a)


# -- layer gradients ---------------------------------------------------------

D, H, K = 6, 4, 3
GRAD_CONFIGS = {
    # tied decoder + code L1 + Gaussian input noise, squared error
    "tied_l1_gauss": dict(noise=("gaussian", 0.3), tied=True, l1=0.05, loss=SQUARED,
                          dropout=0.0, sparse=False),
    # untied decoder + masking noise + code L1 + dropout, cross-entropy
    "mask_l1_bce": dict(noise=("mask", 0.3), tied=False, l1=0.1, loss=BINARY_CE,
                        dropout=0.25, sparse=False),
    # tied decoder on a CSR first layer (gradient added to the CSR kernel's)
    "tied_csr_mask": dict(noise=("mask", 0.2), tied=True, l1=0.0, loss=SQUARED,
                          dropout=0.0, sparse=True),
    # tied, CSR input densified by Gaussian noise, cross-entropy
    "tied_csr_gauss_bce": dict(noise=("gaussian", 0.2), tied=True, l1=0.05,
                               loss=BINARY_CE, dropout=0.0, sparse=True),
}


def grad_specs(cfg):
    kind, level = cfg["noise"]
    specs = [("noise", {"shape": (D,), "level": level, "kind": kind}),
             ("dense", {"n_in": D, "n_out": H, "activation": "tanh"}),
             ("dense", {"n_in": H, "n_out": K, "activation": "identity"})]
    if cfg["l1"]:
        specs.append(("activity_l1", {"shape": (K,), "l1": cfg["l1"]}))
    dec = [{"n_in": K, "n_out": H, "activation": "tanh"},
           {"n_in": H, "n_out": D, "activation": "identity"}]
    for j, kw in enumerate(dec):
        if cfg["tied"]:
            specs.append(("tied_dense", {**kw, "tied_to": 2 - j}))
        else:
            specs.append(("dense", kw))
        if j == 0 and cfg["dropout"]:
            specs.append(("dropout", {"shape": (H,), "rate": cfg["dropout"]}))
    return specs


def objective(net, params, x, y, sw, dtype):
    """Weighted loss sum + penalties and its gradient; fixed random draws.

    Like scikit-learn's MLP, the engine's squared-error delta ``p - y`` is the
    gradient of half the squared error *summed* over outputs, while the loss it
    reports is averaged over outputs; the objective differentiated here is the
    summed one, so the squared-error loss is scaled by the number of outputs.
    """
    grad = np.zeros_like(params)
    net.bind_flat(params, grad)
    n = y.shape[0]
    net.allocate(n, dtype)
    z = net.forward(x, True, np.random.default_rng(7))
    delta = np.empty_like(y)
    data_loss = link_loss_grad(delta, z, y, sw, net.loss_code, net.loss_param)
    if net.loss_code == SQUARED:
        data_loss *= y.shape[1]
    loss = data_loss + net.penalty(sw)
    net.backward(delta)
    return loss, grad


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(GRAD_CONFIGS))
def test_layer_gradients_match_finite_differences(name, dtype):
    cfg = GRAD_CONFIGS[name]
    rng = np.random.RandomState(0)
    n = 9
    X = rng.uniform(0, 1, (n, D))
    if cfg["sparse"]:
        X[X < 0.4] = 0.0
    X = X.astype(dtype)
    sw = rng.uniform(0.5, 2.0, n).astype(dtype)
    net = build_network(grad_specs(cfg), cfg["loss"])
    params = np.empty(net.n_params, dtype=dtype)
    net.init_params(params, np.random.RandomState(1), dtype)
    # Without tied weights the decoder has weight matrices of its own.
    n_weights = D * H + H * K + (0 if cfg["tied"] else K * H + H * D)
    assert net.n_weights == n_weights

    if cfg["sparse"]:
        csr = sp.csr_matrix(X)
        x = csr
    else:
        x = X
    _, grad = objective(net, params, x, X, sw, dtype)
    eps = 1e-6 if dtype == np.float64 else 1e-2
    numeric = np.empty(net.n_params)
    for i in range(net.n_params):
        p = params.copy()
        p[i] += eps
        up = objective(net, p, x, X, sw, dtype)[0]
        p[i] -= 2 * eps
        down = objective(net, p, x, X, sw, dtype)[0]
        numeric[i] = (up - down) / (2 * eps)
    scale = np.abs(numeric).max()
    if dtype == np.float64:
        assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7 * scale)
    else:
        assert_allclose(grad, numeric, rtol=2e-2, atol=2e-3 * scale)


def test_noise_layer_uses_engine_generator_draws():
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 1, (7, 5))
    X[X < 0.5] = 0.0
    csr = sp.csr_matrix(X)
    batch = csr

    gauss = Noise((5,), 0.5, "gaussian")
    gauss.allocate(7, np.float64)
    expected = X + 0.5 * np.random.default_rng(3).standard_normal((7, 5))
    assert_allclose(gauss.forward(X, True, np.random.default_rng(3)), expected)
    assert_allclose(gauss.forward(batch, True, np.random.default_rng(3)), expected)
    assert gauss.forward(X, False, None) is X  # identity at inference

    mask = Noise((5,), 0.4, "mask")
    mask.allocate(7, np.float64)
    u = np.random.default_rng(3).random((7, 5))
    assert_allclose(mask.forward(X, True, np.random.default_rng(3)),
                    np.where(u >= 0.4, X, 0.0))
    out = mask.forward(batch, True, np.random.default_rng(3))  # stays sparse
    u = np.random.default_rng(3).random(csr.nnz)
    assert_allclose(out.data[:csr.nnz], np.where(u >= 0.4, csr.data, 0.0))
    assert_array_equal(out.indices, batch.indices)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_errors_match_numpy(dtype):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(6, 5)).astype(dtype)
    X[X < 0] = 0
    R = rng.normal(size=(6, 5)).astype(dtype)
    expected = ((X.astype(np.float64) - R) ** 2).mean(axis=1)
    out = np.empty(6)
    _row_errors(out, X, R)
    assert_allclose(out, expected, rtol=1e-6)
    out[:] = 0
    _row_errors(out, sp.csr_matrix(X), R)
    assert_allclose(out, expected, rtol=1e-5)


# -- acceptance: PCA and digits ---------------------------------------------

@pytest.mark.parametrize("tied", [False, True])
def test_linear_autoencoder_matches_pca(tied):
    # A linear autoencoder's optimum spans the principal subspace.
    X, _ = low_rank(n=500, d=20, rank=3, noise=0.3)
    pca = PCA(3).fit(X)
    pca_err = mse(X, pca.inverse_transform(pca.transform(X)))
    ae = AutoEncoderTransformer(3, hidden_layer_sizes=(), activation="identity",
                                alpha=0.0, solver="lbfgs", max_iter=3000, tol=1e-10,
                                tied_weights=tied, random_state=0).fit(X)
    ae_err = mse(X, reconstruct(ae, X))
    assert ae_err == pytest.approx(-ae.score(X))
    assert ae_err <= 1.02 * pca_err
    assert ae_err >= 0.999 * pca_err  # PCA is optimal among rank-3 maps


def test_linear_autoencoder_with_hidden_layer_and_adam_near_pca():
    X, _ = low_rank(n=500, d=20, rank=3, noise=0.3)
    pca = PCA(3).fit(X)
    pca_err = mse(X, pca.inverse_transform(pca.transform(X)))
    ae = AutoEncoderTransformer(3, hidden_layer_sizes=(16,), activation="identity",
                                alpha=0.0, solver="lbfgs", max_iter=3000, tol=1e-10,
                                random_state=0).fit(X)
    assert mse(X, reconstruct(ae, X)) <= 1.02 * pca_err
    ae = AutoEncoderTransformer(3, hidden_layer_sizes=(), activation="identity",
                                alpha=0.0, learning_rate_init=0.01, max_iter=1000,
                                tol=1e-8, n_iter_no_change=50, random_state=0).fit(X)
    assert mse(X, reconstruct(ae, X)) <= 1.02 * pca_err


def digits_split():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, _, _ = train_test_split(X, y, test_size=0.3, stratify=y,
                                        random_state=0)
    scaler = MinMaxScaler().fit(X_tr)
    return scaler.transform(X_tr), np.clip(scaler.transform(X_te), 0, 1)


def test_digits_two_components_beat_pca_on_held_out_data():
    # The configuration of the class docstring's example.
    X_tr, X_te = digits_split()
    pca = PCA(2).fit(X_tr)
    pca_err = mse(X_te, pca.inverse_transform(pca.transform(X_te)))
    ae = AutoEncoderTransformer(n_components=2, hidden_layer_sizes=(64,),
                                out_activation="logistic",
                                loss="binary_crossentropy", random_state=0)
    ae.fit(X_tr)
    ae_err = mse(X_te, reconstruct(ae, X_te))
    assert ae_err < 0.95 * pca_err, (ae_err, pca_err)


# -- architecture, inference oracles -----------------------------------------

@pytest.mark.parametrize("tied", [False, True])
def test_transform_and_inverse_transform_match_numpy(tied):
    X, _ = low_rank(n=60, d=8)
    ae = AutoEncoderTransformer(2, hidden_layer_sizes=(5, 4), activation=["relu", "tanh"],
                                code_activation="tanh", tied_weights=tied,
                                max_iter=20, random_state=0).fit(X)
    W, b = ae.coefs_, ae.intercepts_
    assert len(b) == 6
    assert [w.shape for w in W[:3]] == [(8, 5), (5, 4), (4, 2)]
    if tied:  # only the encoder's matrices; the decoder uses their transposes
        assert len(W) == 3
        dec_w = [W[2].T, W[1].T, W[0].T]
    else:
        assert [w.shape for w in W[3:]] == [(2, 4), (4, 5), (5, 8)]
        dec_w = W[3:]
    h = numpy_act(X @ W[0] + b[0], "relu")
    h = numpy_act(h @ W[1] + b[1], "tanh")
    code = np.tanh(h @ W[2] + b[2])
    assert_allclose(ae.transform(X), code, rtol=1e-10, atol=1e-12)
    h = numpy_act(code @ dec_w[0] + b[3], "tanh")
    h = numpy_act(h @ dec_w[1] + b[4], "relu")
    assert_allclose(ae.inverse_transform(code), h @ dec_w[2] + b[5], rtol=1e-10,
                    atol=1e-12)
    assert ae.n_layers_ == 7
    assert ae.n_outputs_ == 8


def test_tied_weights_halve_parameters_and_reconstruct_as_well():
    X, _ = low_rank(n=300, d=20)
    kw = dict(hidden_layer_sizes=(10,), learning_rate_init=0.01, max_iter=200,
              random_state=0)
    untied = AutoEncoderTransformer(3, **kw).fit(X)
    tied = AutoEncoderTransformer(3, tied_weights=True, **kw).fit(X)
    assert sum(w.size for w in tied.coefs_) * 2 == sum(w.size for w in untied.coefs_)
    err_tied = mse(X, reconstruct(tied, X))
    assert err_tied < 0.05 * mse(X, X.mean(axis=0))
    assert err_tied < 1.1 * mse(X, reconstruct(untied, X))


def test_same_weights_for_any_n_jobs():
    # Large enough for the parallel dense kernels (tied layers use them too).
    X_tr, _ = digits_split()
    kw = dict(hidden_layer_sizes=(100,), tied_weights=True, noise=0.1, code_l1=1e-3,
              max_iter=3, random_state=0)
    one = AutoEncoderTransformer(8, n_jobs=1, **kw).fit(X_tr)
    two = AutoEncoderTransformer(8, n_jobs=2, **kw).fit(X_tr)
    for a, b in zip(one.coefs_ + one.intercepts_, two.coefs_ + two.intercepts_):
        assert_array_equal(a, b)
    assert_array_equal(one.transform(X_tr), two.transform(X_tr))


# -- regularisation -----------------------------------------------------------

@pytest.mark.parametrize("noise_type, level", [("gaussian", 0.5), ("mask", 0.3)])
def test_denoising_improves_reconstruction_of_corrupted_inputs(noise_type, level):
    # A complete linear code can learn the identity; trained on corrupted
    # inputs it has to learn to project back onto the data instead.
    X, _ = low_rank(n=1000, d=20, rank=3, noise=0.05, seed=1)
    X_test, _ = low_rank(n=300, d=20, rank=3, noise=0.05, seed=2)
    rng = np.random.default_rng(5)
    if noise_type == "gaussian":
        corrupted = X_test + level * rng.standard_normal(X_test.shape)
    else:
        corrupted = np.where(rng.random(X_test.shape) >= level, X_test, 0.0)
    params = dict(hidden_layer_sizes=(), activation="identity", alpha=0.0,
                  learning_rate_init=0.01, max_iter=150, random_state=0)
    plain = AutoEncoderTransformer(20, **params).fit(X)
    denoising = AutoEncoderTransformer(20, noise=level, noise_type=noise_type,
                                       **params).fit(X)
    err_plain = mse(X_test, reconstruct(plain, corrupted))
    err_denoising = mse(X_test, reconstruct(denoising, corrupted))
    assert err_denoising < 0.7 * err_plain, (err_denoising, err_plain)


def test_noise_is_reproducible_with_random_state():
    X, _ = low_rank(n=100, d=10)
    kw = dict(hidden_layer_sizes=(6,), noise=0.3, max_iter=5)
    a = AutoEncoderTransformer(2, random_state=0, **kw).fit(X)
    b = AutoEncoderTransformer(2, random_state=0, **kw).fit(X)
    c = AutoEncoderTransformer(2, random_state=1, **kw).fit(X)
    for wa, wb in zip(a.coefs_, b.coefs_):
        assert_array_equal(wa, wb)
    assert not np.allclose(a.coefs_[0], c.coefs_[0])
    # Noise is training-only: inference is deterministic and noise-free.
    assert_array_equal(a.transform(X), a.transform(X))


def test_code_l1_makes_codes_sparser():
    X_tr, _ = digits_split()
    kw = dict(hidden_layer_sizes=(32,), code_activation="relu", max_iter=60,
              random_state=0)
    plain = AutoEncoderTransformer(16, **kw).fit(X_tr)
    sparse_ae = AutoEncoderTransformer(16, code_l1=0.03, **kw).fit(X_tr)
    # The fraction of exact zeros does not depend on the codes' scale.
    zeros_plain = np.mean(plain.transform(X_tr) == 0)
    zeros_sparse = np.mean(sparse_ae.transform(X_tr) == 0)
    assert zeros_sparse > zeros_plain + 0.1, (zeros_sparse, zeros_plain)
    # The penalty is part of the reported loss.
    assert sparse_ae.loss_ > 0.5 * mse(X_tr, reconstruct(sparse_ae, X_tr))


@pytest.mark.parametrize("loss", ["squared_error", "binary_crossentropy"])
def test_lbfgs_objective_matches_numpy(loss):
    # L-BFGS reports the final objective: data loss + code L1 + L2 term.
    X_tr, _ = digits_split()
    X = X_tr[:200]
    out = "logistic" if loss == "binary_crossentropy" else "identity"
    sw = np.random.RandomState(0).uniform(0.5, 2, X.shape[0])
    ae = AutoEncoderTransformer(4, hidden_layer_sizes=(8,), activation="tanh",
                                loss=loss, out_activation=out, code_l1=0.01,
                                alpha=0.01, solver="lbfgs", max_iter=30,
                                random_state=0).fit(X, sample_weight=sw)
    Z = ae.transform(X)
    R = ae.inverse_transform(Z)
    if loss == "squared_error":
        per_sample = 0.5 * ((X - R) ** 2).mean(axis=1)
    else:
        assert R.min() > 0 and R.max() < 1
        P = np.clip(R, 1e-15, 1 - 1e-15)
        per_sample = -(X * np.log(P) + (1 - X) * np.log(1 - P)).sum(axis=1)
    per_sample = per_sample + 0.01 * np.abs(Z).sum(axis=1)
    l2 = 0.5 * 0.01 * sum((w ** 2).sum() for w in ae.coefs_)
    expected = (np.sum(sw * per_sample) + l2) / sw.sum()
    assert ae.loss_ == pytest.approx(expected, rel=1e-6)


def test_binary_crossentropy_fits_binary_data_better_than_squared_error():
    # Binarised digits: the Bernoulli likelihood is the right loss.
    X_tr, X_te = digits_split()
    X_tr, X_te = (X_tr > 0.5).astype(float), (X_te > 0.5).astype(float)
    kw = dict(hidden_layer_sizes=(32,), max_iter=100, random_state=0)
    bce = AutoEncoderTransformer(4, out_activation="logistic",
                                 loss="binary_crossentropy", **kw).fit(X_tr)
    sq = AutoEncoderTransformer(4, **kw).fit(X_tr)

    def log_loss(R):
        P = np.clip(R, 1e-6, 1 - 1e-6)
        return -np.mean(X_te * np.log(P) + (1 - X_te) * np.log(1 - P))

    R_bce = reconstruct(bce, X_te)
    assert R_bce.min() >= 0 and R_bce.max() <= 1
    assert log_loss(R_bce) < log_loss(np.clip(reconstruct(sq, X_te), 0, 1))


# -- scores --------------------------------------------------------------------

def test_score_samples_flags_anomalies():
    X, _ = low_rank(n=400, d=20, rank=3, noise=0.1)
    rng = np.random.default_rng(3)
    inliers, _ = low_rank(n=100, d=20, rank=3, noise=0.1, seed=1)
    outliers = inliers[:20] + rng.normal(scale=1.0, size=(20, 20))
    X_test = np.vstack([inliers, outliers])
    ae = AutoEncoderTransformer(3, hidden_layer_sizes=(16,), activation="tanh",
                                max_iter=200, learning_rate_init=0.01,
                                random_state=0).fit(X)
    scores = ae.score_samples(X_test)
    expected = -((X_test - reconstruct(ae, X_test)) ** 2).mean(axis=1)
    assert_allclose(scores, expected, rtol=1e-10)
    labels = np.r_[np.zeros(100), np.ones(20)]
    assert roc_auc_score(labels, -scores) > 0.95
    w = rng.uniform(size=120)
    assert ae.score(X_test, sample_weight=w) == pytest.approx(np.average(scores,
                                                                         weights=w))
    assert ae.score(X_test) == pytest.approx(scores.mean())


def test_grid_search_tunes_without_labels():
    X, _ = low_rank(n=300, d=12, rank=3, noise=0.1)
    grid = GridSearchCV(
        AutoEncoderTransformer(hidden_layer_sizes=(), activation="identity",
                               solver="lbfgs", max_iter=300, random_state=0),
        {"n_components": [1, 3]}, cv=3).fit(X)
    assert grid.best_params_ == {"n_components": 3}


def test_early_stopping_scores_held_out_reconstruction():
    X, _ = low_rank(n=400, d=10)
    X_val, _ = low_rank(n=100, d=10, seed=4)
    ae = AutoEncoderTransformer(3, hidden_layer_sizes=(8,), early_stopping=True,
                                learning_rate_init=0.01, max_iter=300, random_state=0)
    ae.fit(X, X_val=X_val)
    # The best weights are restored, and their score is the best validation one.
    assert ae.best_validation_score_ == max(ae.validation_scores_)
    assert ae.score(X_val) == pytest.approx(ae.best_validation_score_, rel=1e-10)
    assert ae.n_iter_ < 300
    ae2 = AutoEncoderTransformer(3, hidden_layer_sizes=(8,), early_stopping=True,
                                 max_iter=30, random_state=0).fit(X)
    assert len(ae2.validation_scores_) == ae2.n_iter_


# -- dtypes, sparse input, API -----------------------------------------------

def test_float32_in_float32_out():
    X, _ = low_rank(n=200, d=10)
    kw = dict(hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    ae32 = AutoEncoderTransformer(3, **kw).fit(X.astype(np.float32))
    ae64 = AutoEncoderTransformer(3, **kw).fit(X)
    Z = ae32.transform(X.astype(np.float32))
    assert Z.dtype == np.float32
    assert ae32.inverse_transform(Z).dtype == np.float32
    assert all(w.dtype == np.float32 for w in ae32.coefs_)
    assert ae32.loss_ == pytest.approx(ae64.loss_, rel=1e-3)


@pytest.mark.parametrize("kw", [dict(), dict(tied_weights=True, code_l1=0.01),
                                dict(early_stopping=True)])
def test_sparse_input_matches_dense(kw):
    X, _ = low_rank(n=200, d=12)
    X[X < 2.0] = 0.0
    X_csr = sp.csr_matrix(X)
    params = dict(hidden_layer_sizes=(8,), max_iter=30, random_state=0, **kw)
    dense = AutoEncoderTransformer(3, **params).fit(X)
    sparse = AutoEncoderTransformer(3, **params).fit(X_csr)
    assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-9)
    assert_allclose(sparse.transform(X_csr), dense.transform(X), rtol=1e-8, atol=1e-10)
    assert_allclose(sparse.score_samples(X_csr.tocsc()), dense.score_samples(X),
                    rtol=1e-8)


def test_sparse_input_with_noise():
    X, _ = low_rank(n=200, d=12)
    X[X < 2.0] = 0.0
    X_csr = sp.csr_matrix(X)
    params = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0,
                  noise=0.3, noise_type="gaussian")
    # Gaussian noise densifies each batch with the same draws as dense input.
    dense = AutoEncoderTransformer(3, **params).fit(X)
    sparse = AutoEncoderTransformer(3, **params).fit(X_csr)
    assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-9)
    masked = AutoEncoderTransformer(3, **{**params, "noise_type": "mask"}).fit(X_csr)
    assert masked.loss_curve_[-1] < masked.loss_curve_[0]


def test_set_output_pandas_and_feature_names():
    pd = pytest.importorskip("pandas")
    X, _ = low_rank(n=50, d=5)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    ae = AutoEncoderTransformer(2, hidden_layer_sizes=(4,), max_iter=5,
                                random_state=0).set_output(transform="pandas")
    Z = ae.fit_transform(df)
    assert list(Z.columns) == ["autoencodertransformer0", "autoencodertransformer1"]
    assert_allclose(Z.to_numpy(), ae.set_output(transform="default").transform(df))
    assert ae.inverse_transform(Z).shape == (50, 5)


def test_pipeline_with_classifier():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                              random_state=0)
    pipe = make_pipeline(MinMaxScaler(),
                         AutoEncoderTransformer(n_components=16, random_state=0),
                         LogisticRegression(max_iter=1000))
    assert pipe.fit(X_tr, y_tr).score(X_te, y_te) > 0.85


def test_partial_fit_and_warm_start():
    X, _ = low_rank(n=200, d=10)
    ae = AutoEncoderTransformer(3, hidden_layer_sizes=(8,), random_state=0)
    losses = [ae.partial_fit(X).loss_ for _ in range(20)]
    assert ae.n_iter_ == 1 and ae.t_ == 20 * 200
    assert losses[-1] < losses[0]
    ae = AutoEncoderTransformer(3, hidden_layer_sizes=(8,), max_iter=5,
                                warm_start=True, random_state=0).fit(X)
    first = list(ae.loss_curve_)
    ae.fit(X)
    assert ae.loss_curve_[:5] == first and len(ae.loss_curve_) == 10
    assert not hasattr(AutoEncoderTransformer(solver="lbfgs"), "partial_fit")


@pytest.mark.parametrize("kw, match", [
    (dict(loss="binary_crossentropy"), "loss=.*out_activation"),
    (dict(out_activation="logistic"), "loss=.*out_activation"),
    (dict(noise=1.0, noise_type="mask"), "noise"),
    (dict(activation=["relu", "tanh"]), "activation"),
    (dict(dropout=[0.1, 0.2]), "dropout"),
])
def test_invalid_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        AutoEncoderTransformer(hidden_layer_sizes=(4,), **kw).fit(np.eye(5))


def test_input_errors():
    X, _ = low_rank(n=30, d=5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        AutoEncoderTransformer(out_activation="logistic", loss="binary_crossentropy",
                               max_iter=1).fit(X)
    ae = AutoEncoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2).fit(X)
    with pytest.raises(ValueError, match="expecting 2 features"):
        ae.inverse_transform(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="features"):
        ae.transform(X[:, :4])


def test_warnings_are_engine_warnings():
    X, _ = low_rank(n=30, d=5)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        AutoEncoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2).fit(X)
    assert any(issubclass(w.category, ConvergenceWarning) for w in rec)
