"""The fourteen workloads of the suite, each a :class:`~._types.Workload`.

Building a workload imports nothing heavy: data sets, estimators and PyTorch
are reached lazily through each implementation's ``prepare``.  Every
workload's targets come from ``targets.json`` (:func:`._targets.targets_for`).
"""

import functools

from . import _config as C
from ._data import color_stripes, digits, gaussian_clusters, squares, synthetic_images
from ._flops import (
    cnn_layer_macs,
    dense_macs,
    inference_flops_per_sample,
    training_flops_per_sample,
)
from ._peers import (
    accepted_params,
    estimator_impl,
    fixed_epochs,
    gemm_floor_impl,
    predict_latency_impl,
    predict_throughput_impl,
    sklearn_class,
    sknn_class,
    torch_cnn,
    torch_impl,
    torch_mlp,
)
from ._subproc import (
    NUMBA_START_SCRIPT,
    cold_precompile_impl,
    cold_process_impl,
    fit_script,
    numba_floor_script,
    printed_seconds_impl,
    saved_arrays,
    second_fit_script,
    warm_process_impl,
)
from ._targets import targets_for
from ._types import Workload

_SHORT = {"float32": "f32", "float64": "f64"}


def _dense_params(hidden, batch_size):
    """Return the MLP hyperparameters shared by sknn and scikit-learn."""
    return {"hidden_layer_sizes": hidden, "activation": "relu", "solver": "adam",
            "batch_size": batch_size, "learning_rate_init": C.LEARNING_RATE,
            "alpha": C.ALPHA, "random_state": C.SEED}


def _with_jobs(params, cfg):
    """Return ``params`` plus sknn's ``n_jobs``."""
    return {**params, "n_jobs": cfg.threads}


def _sknn(name):
    return functools.partial(sknn_class, name)


def _sklearn(name):
    return functools.partial(sklearn_class, name)


def _epoch_workload(name, description, n_samples, layer_macs, impls):
    per_sample = training_flops_per_sample(layer_macs)
    floor = "gemm-floor" if any(i.name == "gemm-floor" for i in impls) else None
    return Workload(name=name, description=description, unit="epoch",
                    implementations=tuple(impls), targets=targets_for(name),
                    samples_per_unit=n_samples, flops_per_unit=n_samples * per_sample,
                    floor=floor)


def mlp_784(cfg, dtype, with_torch):
    """Workloads 1 and 2: 784-256-128-10 classifier on 20000 synthetic rows.

    Parameters
    ----------
    cfg : Config
    dtype : str
        ``"float32"`` (workload 1) or ``"float64"`` (workload 2).
    with_torch : bool
        Whether PyTorch is a peer (float32 only).

    Returns
    -------
    Workload
    """
    n, epochs = cfg.sizes.mlp_samples, cfg.sizes.mlp_epochs
    sizes = (C.MLP_FEATURES, *C.MLP_HIDDEN, C.MLP_CLASSES)
    data = functools.partial(gaussian_clusters, n, C.MLP_FEATURES, C.MLP_CLASSES, dtype)
    params = _dense_params(C.MLP_HIDDEN, C.MLP_BATCH)
    impls = [
        estimator_impl("sknn", _sknn("MLPClassifierX"), _with_jobs(params, cfg), data,
                       epochs),
        estimator_impl("sklearn", _sklearn("MLPClassifier"), params, data, epochs),
    ]
    if with_torch:
        build = functools.partial(torch_mlp, layer_sizes=sizes)
        impls.append(torch_impl(build, data, epochs, C.MLP_BATCH, None, cfg.threads))
    impls.append(gemm_floor_impl(sizes, n, C.MLP_BATCH, dtype, epochs, cfg.threads))
    return _epoch_workload(
        f"mlp-784-{_SHORT[dtype]}",
        f"MLP 784-256-128-10, {n} synthetic rows, {dtype}, adam, batch {C.MLP_BATCH}, "
        f"{epochs} epochs/round",
        n, dense_macs(sizes), impls)


def digits_mlp(cfg):
    """Workload 3: digits, hidden (100,), default batch, float64.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    Workload
    """
    epochs = cfg.sizes.digits_epochs
    data = functools.partial(digits, "float64")
    n = 1797
    sizes = C.DIGITS_SIZES
    params = _dense_params(C.DIGITS_HIDDEN, C.DIGITS_BATCH)
    impls = [
        estimator_impl("sknn", _sknn("MLPClassifierX"), _with_jobs(params, cfg), data,
                       epochs),
        estimator_impl("sklearn", _sklearn("MLPClassifier"), params, data, epochs),
        gemm_floor_impl(sizes, n, min(C.DIGITS_AUTO_BATCH, n), "float64", epochs,
                        cfg.threads),
    ]
    return _epoch_workload(
        "digits-mlp-f64",
        f"digits 1797x64, MLP hidden (100,), float64, adam, batch auto, "
        f"{epochs} epochs/round",
        n, dense_macs(sizes), impls)


def _cnn_params(shape, filters, kernel, padding, hidden, cfg):
    return {"input_shape": shape, "filters": filters, "kernel_size": kernel,
            "stride": 1, "padding": padding, "pool": "max", "pool_size": C.POOL_SIZE,
            "hidden_layer_sizes": hidden, "activation": "relu", "solver": "adam",
            "batch_size": C.CNN_BATCH, "learning_rate_init": C.LEARNING_RATE,
            "alpha": C.ALPHA, "random_state": C.SEED, "n_jobs": cfg.threads}


def _cnn_workload(cfg, name, description, data, n, epochs, geometry, *,
                  estimator="ConvClassifier", n_outputs=10, channels_last=False):
    """Return a CNN workload timing ``sknn.<estimator>`` against PyTorch.

    ``geometry`` is ``(shape, filters, kernel, padding, hidden)`` with
    ``shape`` as ``(channels, height, width)``.  A ``ConvRegressor`` is
    trained on the squared error (``MSELoss`` on the PyTorch side), a
    classifier on the cross-entropy.  With ``channels_last``, ``data()``
    returns ``(n, height, width, channels)`` images: sknn fits them as they
    are (``data_format="channels_last"``), PyTorch on an NCHW copy made
    before timing.
    """
    shape, filters, kernel, padding, hidden = geometry
    macs, flat = cnn_layer_macs(shape, filters, kernel, padding, C.POOL_SIZE, hidden,
                                n_outputs)
    build = functools.partial(torch_cnn, in_channels=shape[0], filters=filters,
                              kernel_size=kernel, padding=padding,
                              pool_size=C.POOL_SIZE, flat=flat, hidden=hidden,
                              n_outputs=n_outputs)
    params = _cnn_params(shape, filters, kernel, padding, hidden, cfg)
    if channels_last:
        params.update(input_shape=(*shape[1:], shape[0]), data_format="channels_last")
    loss = "squared_error" if estimator == "ConvRegressor" else "cross_entropy"
    impls = [
        estimator_impl("sknn", _sknn(estimator), params, data, epochs),
        torch_impl(build, data, epochs, C.CNN_BATCH, shape, cfg.threads, loss=loss,
                   channels_last=channels_last),
    ]
    return _epoch_workload(name, description, n, macs, impls)


def lenet(cfg):
    """Workload 4: LeNet-style CNN on synthetic 28x28x1 images vs PyTorch.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    Workload
    """
    n, epochs = cfg.sizes.lenet_samples, cfg.sizes.lenet_epochs
    data = functools.partial(synthetic_images, n, C.LENET_SHAPE[1], 10, "float32")
    geometry = (C.LENET_SHAPE, C.LENET_FILTERS, C.LENET_KERNEL, C.LENET_PADDING,
                C.LENET_HIDDEN)
    description = (f"LeNet CNN conv5x5x8-pool-conv5x5x16-pool-128-10, {n} images "
                   f"28x28, float32, adam, batch {C.CNN_BATCH}, {epochs} epochs/round")
    return _cnn_workload(cfg, "lenet-cnn", description, data, n, epochs, geometry)


def digits_cnn(cfg):
    """Workload 5: digits as 1x8x8 images, conv 3x3x16 same, pool, dense 10.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    Workload
    """
    epochs = cfg.sizes.digits_cnn_epochs
    data = functools.partial(digits, "float32")
    geometry = (C.DIGITS_CNN_SHAPE, C.DIGITS_CNN_FILTERS, C.DIGITS_CNN_KERNEL,
                C.DIGITS_CNN_PADDING, C.DIGITS_CNN_HIDDEN)
    description = (f"digits CNN 1x8x8 conv3x3x16 same-pool-10, float32, adam, "
                   f"batch {C.CNN_BATCH}, {epochs} epochs/round")
    return _cnn_workload(cfg, "digits-cnn", description, data, 1797, epochs, geometry)


def conv_regressor(cfg):
    """Workload 11: ConvRegressor locating a square in 16x16 images vs PyTorch.

    The data are ``sknn.datasets.make_squares`` (float32), the targets the
    square's centre (2 outputs); squared error, adam.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    Workload
    """
    n, epochs = cfg.sizes.conv_reg_samples, cfg.sizes.conv_reg_epochs
    side = C.CONV_REG_SHAPE[1]
    data = functools.partial(squares, n, side, "float32")
    geometry = (C.CONV_REG_SHAPE, C.CONV_REG_FILTERS, C.CONV_REG_KERNEL,
                C.CONV_REG_PADDING, C.CONV_REG_HIDDEN)
    description = (f"ConvRegressor conv3x3x8 same-pool-conv3x3x16 same-pool-64-2, {n} "
                   f"square images {side}x{side}, float32, squared error, adam, "
                   f"batch {C.CNN_BATCH}, {epochs} epochs/round")
    return _cnn_workload(cfg, "conv-regressor", description, data, n, epochs,
                         geometry, estimator="ConvRegressor",
                         n_outputs=C.CONV_REG_OUTPUTS)


def rgb_channels_last(cfg):
    """Workload 12: ConvClassifier on channels-last 32x32 RGB images vs PyTorch.

    The data are ``sknn.datasets.make_color_stripes`` (float32, shape
    ``(n, 32, 32, 3)``, 6 classes).  sknn fits them as a user with
    Keras-style data would, with ``data_format="channels_last"`` (its
    transpose to channels-first is part of the timed fit); PyTorch trains on
    an NCHW copy made before timing, as a PyTorch user keeps the data.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    Workload
    """
    n, epochs = cfg.sizes.rgb_samples, cfg.sizes.rgb_epochs
    side = C.RGB_SHAPE[1]
    data = functools.partial(color_stripes, n, side, "float32")
    geometry = (C.RGB_SHAPE, C.RGB_FILTERS, C.RGB_KERNEL, C.RGB_PADDING, C.RGB_HIDDEN)
    description = (f"channels-last RGB CNN conv3x3x16 same-pool-conv3x3x32 same-pool-"
                   f"64-{C.RGB_CLASSES}, {n} stripe images {side}x{side}x3, float32, "
                   f"adam, batch {C.CNN_BATCH}, {epochs} epochs/round")
    return _cnn_workload(cfg, "rgb-channels-last", description, data, n, epochs,
                         geometry, n_outputs=C.RGB_CLASSES, channels_last=True)


def autoencoder(cfg):
    """Workload 6: 784-256-32-256-784 autoencoder vs MLPRegressor on (X, X).

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    Workload
    """
    n, epochs = cfg.sizes.ae_samples, cfg.sizes.ae_epochs
    sizes = (C.MLP_FEATURES, *C.AE_HIDDEN, C.AE_COMPONENTS, *C.AE_HIDDEN[::-1],
             C.MLP_FEATURES)

    def x_only():
        return gaussian_clusters(n, C.MLP_FEATURES, C.MLP_CLASSES, "float32")[:1]

    def x_and_x():
        return x_only() * 2

    sknn_params = {"n_components": C.AE_COMPONENTS, "hidden_layer_sizes": C.AE_HIDDEN,
                   "activation": "relu", "solver": "adam", "batch_size": C.AE_BATCH,
                   "learning_rate_init": C.LEARNING_RATE, "alpha": C.ALPHA,
                   "random_state": C.SEED, "n_jobs": cfg.threads}
    impls = [
        estimator_impl("sknn", _sknn("AutoEncoderTransformer"), sknn_params, x_only,
                       epochs),
        estimator_impl("sklearn", _sklearn("MLPRegressor"),
                       _dense_params(sizes[1:-1], C.AE_BATCH), x_and_x, epochs),
        gemm_floor_impl(sizes, n, C.AE_BATCH, "float32", epochs, cfg.threads),
    ]
    return _epoch_workload(
        "autoencoder-784",
        f"autoencoder 784-256-32-256-784, {n} rows, float32, adam, batch {C.AE_BATCH}, "
        f"{epochs} epochs/round", n, dense_macs(sizes), impls)


@functools.cache
def _fitted_mlp(library, cfg):
    """Return the workload-1 classifier of ``library`` fitted for one epoch."""
    params = _dense_params(C.MLP_HIDDEN, C.MLP_BATCH)
    if library == "sknn":
        cls, params = sknn_class("MLPClassifierX"), _with_jobs(params, cfg)
    else:
        cls = sklearn_class("MLPClassifier")
    X, y = gaussian_clusters(cfg.sizes.mlp_samples, C.MLP_FEATURES, C.MLP_CLASSES,
                             "float32")
    return cls(**accepted_params(cls, {**params, **fixed_epochs(1)})).fit(X, y)


def _predict_rows(cfg):
    return gaussian_clusters(cfg.sizes.throughput_rows, C.MLP_FEATURES, C.MLP_CLASSES,
                             "float32", seed=C.SEED + 3)[0]


def predict_workloads(cfg):
    """Workload 7: ``predict_proba`` latency (1 row) and throughput.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    list of Workload
    """
    macs = dense_macs((C.MLP_FEATURES, *C.MLP_HIDDEN, C.MLP_CLASSES))
    flops = inference_flops_per_sample(macs)
    rows = functools.partial(_predict_rows, cfg)
    models = {lib: functools.partial(_fitted_mlp, lib, cfg)
              for lib in ("sknn", "sklearn")}
    n_rows, calls = cfg.sizes.throughput_rows, cfg.sizes.latency_calls
    latency = Workload(
        name="predict-latency",
        description=f"predict_proba of 1 row, MLP of mlp-784-f32 (1 epoch), "
                    f"median of {calls} calls/round",
        unit="call",
        implementations=tuple(predict_latency_impl(lib, m, rows, calls)
                              for lib, m in models.items()),
        targets=targets_for("predict-latency"),
        samples_per_unit=1, flops_per_unit=flops)
    throughput = Workload(
        name="predict-throughput",
        description=f"predict_proba of {n_rows} rows, MLP of mlp-784-f32 (1 epoch)",
        unit=f"{n_rows} rows",
        implementations=(
            *(predict_throughput_impl(lib, m, rows) for lib, m in models.items()),
            gemm_floor_impl((C.MLP_FEATURES, *C.MLP_HIDDEN, C.MLP_CLASSES), n_rows,
                            n_rows, "float32", 1, cfg.threads, backward=False)),
        targets=targets_for("predict-throughput"),
        samples_per_unit=n_rows, flops_per_unit=n_rows * flops, floor="gemm-floor")
    return [latency, throughput]


def _digits_path():
    return saved_arrays("digits-f64", functools.partial(digits, "float64"))


def _digits_fit_code(module, cls, params, then=None):
    return fit_script(module, cls, params, _digits_path(), then)


def _digits_numba_floor_code(epochs):
    return numba_floor_script(_digits_path(), C.DIGITS_SIZES, C.DIGITS_AUTO_BATCH,
                              epochs)


def first_fit(cfg):
    """Workload 8: import + digits fit in a new process, Numba cache warm.

    Its floor, ``numba-floor``, is a new process that imports sknn, then
    Numba, loads one tiny cached kernel and runs the fit's matrix products
    (:mod:`._numba_floor`): what any Numba-compiled fit pays at least.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    Workload
    """
    epochs = cfg.sizes.first_fit_epochs
    params = {**_dense_params(C.DIGITS_HIDDEN, C.DIGITS_BATCH), **fixed_epochs(epochs)}
    del params["n_iter_no_change"]
    sides = {
        "sknn": ("sknn", "MLPClassifierX", _with_jobs(params, cfg)),
        "sklearn": ("sklearn.neural_network", "MLPClassifier", params),
    }
    impls = tuple(warm_process_impl(name, functools.partial(_digits_fit_code, *side),
                                    cfg.threads)
                  for name, side in sides.items())
    floor = warm_process_impl("numba-floor",
                              functools.partial(_digits_numba_floor_code, epochs),
                              cfg.threads)
    return Workload(
        name="first-fit-warm",
        description=f"new process: import + digits MLP fit ({epochs} epochs), "
                    f"Numba cache warm",
        unit="process", implementations=(*impls, floor),
        targets=targets_for("first-fit-warm"), floor="numba-floor")


def _cold_reference(cfg):
    """The ``sklearn`` side of the cold rows: a new process fitting
    :data:`._config.COLD_REFERENCE` on digits, after one untimed run."""
    module, cls, params, then = C.COLD_REFERENCE
    code = functools.partial(_digits_fit_code, module, cls,
                             {**params, "random_state": C.SEED}, then)
    return warm_process_impl("sklearn", code, cfg.threads)


def cold_compile(cfg):
    """Workload 9: first fit ever with an empty Numba cache, one per estimator.

    Each workload's ``sknn`` side is a new process on a fresh copy of sknn
    with an empty ``NUMBA_CACHE_DIR`` that fits digits and predicts (or
    transforms) with one of :data:`._config.COLD_CASES`; its note says how
    many kernel signatures the process compiled.  The ``sklearn`` side, the
    reference of the ratio, is a new process that imports scikit-learn, fits
    ``MLPClassifier(max_iter=5)`` on digits and predicts
    (:data:`._config.COLD_REFERENCE`), timed after one untimed run like
    ``first-fit-warm``.  The target bounds sknn/sklearn from above.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    list of Workload
    """
    _, ref_cls, ref_params, ref_then = C.COLD_REFERENCE
    workloads = []
    for name, cls, params, then in C.COLD_CASES:
        params = {**params, "random_state": C.SEED, "n_jobs": cfg.threads}
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items()
                          if k not in ("random_state", "n_jobs"))
        sknn = cold_process_impl(
            cls, functools.partial(_digits_fit_code, "sknn", cls, params, then),
            cfg.threads)
        workloads.append(Workload(
            name=name,
            description=f"new process, empty Numba cache: import + {cls}({shown}) digits "
                        f"fit + {then}, vs a new scikit-learn process: "
                        f"{ref_cls}(max_iter={ref_params['max_iter']}) fit + {ref_then}",
            unit="process",
            implementations=(sknn, _cold_reference(cfg)),
            targets=targets_for(name), reference="sklearn"))
    return workloads


def first_fit_extra(cfg):
    """Workload 13: how much longer a new process's first fit takes than its
    second, Numba cache warm (what loading the kernels costs a session).

    The ``sknn`` side fits :data:`._config.COLD_CASES`' MLP twice on digits
    in one process and reports the difference; ``numba-start``, the
    reference of the ratio, reports what an ordinary Numba program pays
    there (importing Numba and its first call of a tiny cached kernel, after
    ``import sknn``).

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    Workload
    """
    _, cls, params, _ = C.COLD_CASES[0]
    params = {**params, "random_state": C.SEED, "n_jobs": cfg.threads}
    sknn = printed_seconds_impl(
        "sknn", lambda: second_fit_script("sknn", cls, params, _digits_path()),
        cfg.threads)
    numba_start = printed_seconds_impl("numba-start", lambda: NUMBA_START_SCRIPT,
                                       cfg.threads)
    return Workload(
        name="first-fit-extra",
        description=f"new process, Numba cache warm: first {cls}(max_iter="
                    f"{params['max_iter']}) digits fit minus the second",
        unit="process", implementations=(sknn, numba_start),
        targets=targets_for("first-fit-extra"), reference="numba-start")


def cold_precompile(cfg):
    """Workload 14: ``sknn-precompile`` on a fresh copy of sknn with an empty
    Numba cache, against the reference process of the cold-compile rows.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    Workload
    """
    _, ref_cls, ref_params, ref_then = C.COLD_REFERENCE
    return Workload(
        name="cold-precompile",
        description=f"new process, empty Numba cache: sknn-precompile (every estimator, "
                    f"float32 and float64), vs a new scikit-learn process: "
                    f"{ref_cls}(max_iter={ref_params['max_iter']}) fit + {ref_then}",
        unit="process",
        implementations=(cold_precompile_impl(cfg.threads),
                         _cold_reference(cfg)),
        targets=targets_for("cold-precompile"), reference="sklearn")


def import_time(cfg):
    """Workload 10: ``import sknn`` vs ``import sklearn.neural_network``.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    Workload
    """
    repeats = cfg.sizes.import_repeats
    sides = {"sknn": "import sknn", "sklearn": "import sklearn.neural_network"}
    impls = tuple(warm_process_impl(name, functools.partial(str, code), cfg.threads,
                                    repeats)
                  for name, code in sides.items())
    return Workload(
        name="import-time",
        description=f"fresh process running only the import, median of {repeats}/round",
        unit="process", implementations=impls,
        targets=targets_for("import-time"))


def build_workloads(cfg):
    """Return every workload of the suite, in the order they run.

    Parameters
    ----------
    cfg : Config

    Returns
    -------
    list of Workload
    """
    return [
        mlp_784(cfg, "float32", with_torch=True),
        mlp_784(cfg, "float64", with_torch=False),
        digits_mlp(cfg),
        lenet(cfg),
        digits_cnn(cfg),
        conv_regressor(cfg),
        rgb_channels_last(cfg),
        autoencoder(cfg),
        *predict_workloads(cfg),
        first_fit(cfg),
        first_fit_extra(cfg),
        *cold_compile(cfg),
        cold_precompile(cfg),
        import_time(cfg),
    ]
