"""ONNX export of sknn estimators (needs the ``onnx`` extra).

Importing this module registers skl2onnx converters for every sknn estimator,
so both of these work::

    from sknn.onnx import to_onnx
    onx = to_onnx(clf, X[:1])                  # float32 graph, plain outputs

    import sknn.onnx  # noqa: F401  (registers the converters)
    import skl2onnx
    onx = skl2onnx.to_onnx(make_pipeline(StandardScaler(), clf),
                           X[:1].astype(np.float32),
                           options={MLPClassifierX: {"zipmap": False}})

The graph (Reshape, Conv, MaxPool/AveragePool, Flatten, Gemm and activation
nodes) is built from the fitted state alone: the network that ``predict``
runs, rebuilt from ``_layer_specs_`` with the weights in ``coefs_`` /
``intercepts_`` bound (:meth:`sknn._network.Network.inference_layers`).  Its
layer objects give the geometry, activations and weights; the dropout, noise
and activity-penalty layers act at training time only and are left out.
Outputs follow skl2onnx's conventions for scikit-learn's MLPs:

* classifiers: ``label`` (ArgMax of the probabilities looked up in
  ``classes_``: int64 for integer/bool classes, string for text classes; an
  (N, n_classes) 0/1 int64 matrix for multilabel targets) and
  ``probabilities`` (N, n_classes).  ``zipmap`` defaults to True in
  ``skl2onnx.to_onnx`` as for every scikit-learn classifier and to False in
  :func:`to_onnx`.
* regressors: ``variable`` (N, n_outputs).
* transformers (the autoencoder): ``variable``, the code layer (N, n_code).

Graphs compute in float32, or in float64 for a float64 input type (networks
with convolutions then compute in float32 inside, as onnxruntime has no
float64 convolution, and return float64).
"""

import numpy as np

try:
    from onnx import TensorProto
    from skl2onnx import to_onnx as _skl2onnx_to_onnx
    from skl2onnx import update_registered_converter
    from skl2onnx.algebra.onnx_ops import (
        OnnxAdd,
        OnnxArgMax,
        OnnxAveragePool,
        OnnxCast,
        OnnxConcat,
        OnnxConv,
        OnnxElu,
        OnnxErf,
        OnnxExp,
        OnnxFlatten,
        OnnxGather,
        OnnxGemm,
        OnnxGreater,
        OnnxIdentity,
        OnnxLeakyRelu,
        OnnxMaxPool,
        OnnxMul,
        OnnxRelu,
        OnnxReshape,
        OnnxSigmoid,
        OnnxSoftmax,
        OnnxSoftplus,
        OnnxSub,
        OnnxTanh,
        OnnxTranspose,
    )
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "sknn.onnx needs the optional 'onnx' extra (skl2onnx, onnx, onnxruntime): "
        "pip install 'sknn-numba[onnx]'"
    ) from exc

from sklearn.base import is_classifier, is_regressor

from ._base import build_network
from ._conv_layers import Conv2D, Pool2D
from ._kernels.activations import (
    ELU,
    GELU,
    IDENTITY,
    LEAKY_RELU,
    LEAKY_SLOPE,
    LOGISTIC,
    RELU,
    SILU,
    SOFTPLUS,
    TANH,
)
from ._layers import Dense

__all__ = ["register", "to_onnx"]

_CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "output_class_labels": [False, True],
    "nocl": [False, True],
}


# ---------------------------------------------------------------------------
# Graph pieces
# ---------------------------------------------------------------------------


def _float_dtype(var_type):
    """NumPy float dtype of the graph for an input variable type."""
    return np.float64 if isinstance(var_type, DoubleTensorType) else np.float32


def _tensor_type(dtype):
    return DoubleTensorType if dtype == np.float64 else FloatTensorType


def _activation(x, code, opv, dtype=np.float32):
    """Hidden-layer activation ``code`` (a layer's ``act``) applied to node
    ``x`` of float ``dtype``."""
    if code == IDENTITY:
        return x
    if code == LOGISTIC:
        return OnnxSigmoid(x, op_version=opv)
    if code == TANH:
        return OnnxTanh(x, op_version=opv)
    if code == RELU:
        return OnnxRelu(x, op_version=opv)
    if code == LEAKY_RELU:
        return OnnxLeakyRelu(x, alpha=float(LEAKY_SLOPE), op_version=opv)
    if code == ELU:
        return OnnxElu(x, alpha=1.0, op_version=opv)
    if code == SOFTPLUS:
        return OnnxSoftplus(x, op_version=opv)
    if code == SILU:  # x * sigmoid(x)
        return OnnxMul(x, OnnxSigmoid(x, op_version=opv), op_version=opv)
    if code == GELU:  # x * Phi(x) = x * (1 + erf(x / sqrt(2))) / 2, the exact form
        half = np.array([0.5], dtype=dtype)
        one = np.array([1.0], dtype=dtype)
        inv_sqrt2 = np.array([1.0 / np.sqrt(2.0)], dtype=dtype)
        erf = OnnxErf(OnnxMul(x, inv_sqrt2, op_version=opv), op_version=opv)
        phi = OnnxMul(OnnxAdd(erf, one, op_version=opv), half, op_version=opv)
        return OnnxMul(x, phi, op_version=opv)
    raise NotImplementedError(f"No ONNX conversion for activation code {code!r}.")


def _output_link(z, out_activation, opv):
    """The output activation (``out_activation_``) applied to node ``z``."""
    if out_activation == "softmax":
        return OnnxSoftmax(z, axis=1, op_version=opv)
    if out_activation == "logistic":
        return OnnxSigmoid(z, op_version=opv)
    if out_activation == "exp":
        return OnnxExp(z, op_version=opv)
    if out_activation == "identity":
        return z
    raise NotImplementedError(f"No ONNX conversion for output {out_activation!r}.")


def _layers(est):
    """``(index, layer)`` of the fitted network's inference layers, weights bound.

    The network is rebuilt from ``_layer_specs_`` (no loss: the output link,
    ``out_activation_``, is applied by the caller).
    """
    net = build_network(est._layer_specs_, None)
    return net.inference_layers(est.coefs_, est.intercepts_)


def _conv(x, layer, dtype, opv):
    """Conv node of the :class:`~sknn._conv_layers.Conv2D` layer ``layer``.

    ONNX wants every pad explicitly: the kernels pad ``layer.pad`` before the
    input and whatever "same" needs after it (an odd extra pad at the
    bottom/right), implicitly.
    """
    c, h, wid = layer.in_shape
    _, oh, ow = layer.out_shape
    k, s = layer.k, layer.stride
    pt, pl = layer.pad
    pb = max((oh - 1) * s + k - h - pt, 0)
    pr = max((ow - 1) * s + k - wid - pl, 0)
    w = np.reshape(layer.w, (layer.filters, c, k, k)).astype(dtype)
    b = np.asarray(layer.b).astype(dtype).ravel()
    return OnnxConv(x, w, b, kernel_shape=[k, k], strides=[s, s],
                    pads=[pt, pl, pb, pr], op_version=opv)


def _network(est, layers, x, dtype, opv):
    """Nodes computing the network ``layers`` (see :func:`_layers`) on node
    ``x``; returns the last node.

    Each layer comes with its own activation (the output layer's is
    ``identity``: the output link is applied by the caller).
    """
    rank = 2
    for i, layer in layers:
        if isinstance(layer, (Conv2D, Pool2D)) and rank == 2:
            if getattr(est, "_data_format_", "channels_first") == "channels_last":
                # rows are C-order over (H, W, C): images, then channels first
                c, h, wid = layer.in_shape
                shape = np.array((-1, h, wid, c), dtype=np.int64)
                x = OnnxTranspose(OnnxReshape(x, shape, op_version=opv),
                                  perm=[0, 3, 1, 2], op_version=opv)
            else:
                shape = np.array((-1,) + tuple(layer.in_shape), dtype=np.int64)
                x = OnnxReshape(x, shape, op_version=opv)
            rank = 4
        if isinstance(layer, Dense):  # TiedDense too: its w is its source's .T
            if rank != 2:
                x = OnnxFlatten(x, axis=1, op_version=opv)
                rank = 2
            w = np.asarray(layer.w).astype(dtype)
            b = np.asarray(layer.b).astype(dtype).ravel()
            x = _activation(OnnxGemm(x, w, b, op_version=opv), layer.act, opv, dtype)
        elif isinstance(layer, Conv2D):
            x = _activation(_conv(x, layer, dtype, opv), layer.act, opv, dtype)
        elif isinstance(layer, Pool2D):
            size = list(layer.size)
            op = OnnxMaxPool if layer.mode == "max" else OnnxAveragePool
            # MaxPool also has an optional Indices output: keep only Y.
            x = op(x, kernel_shape=size, strides=size, op_version=opv)[0]
        else:
            raise NotImplementedError(
                f"{type(est).__name__}: no ONNX conversion for layer "
                f"{est._layer_specs_[i][0]!r}."
            )
    if rank != 2:
        x = OnnxFlatten(x, axis=1, op_version=opv)
    return x


def _graph_input(operator, opv):
    """The operator's input as a float node, and the graph's float dtype."""
    var = operator.inputs[0]
    if isinstance(var.type, (FloatTensorType, DoubleTensorType)):
        return var, _float_dtype(var.type)
    return OnnxCast(var, to=TensorProto.FLOAT, op_version=opv), np.float32


def _forward(est, operator, opv, stop=None, link=True):
    """Network (and output link) on the operator's input: (node, dtype).

    Runs the layers before ``_layer_specs_[stop]`` (all by default).
    ``dtype`` is the graph's float type.  onnxruntime has no float64
    convolution, so networks with convolution or pooling layers compute in
    float32 and cast their result back to float64 for a float64 input.
    """
    layers = [(i, layer) for i, layer in _layers(est) if stop is None or i < stop]
    x, dtype = _graph_input(operator, opv)
    net_dtype = dtype
    if dtype == np.float64 and any(isinstance(layer, (Conv2D, Pool2D))
                                   for _, layer in layers):
        x = OnnxCast(x, to=TensorProto.FLOAT, op_version=opv)
        net_dtype = np.float32
    y = _network(est, layers, x, net_dtype, opv)
    if link:
        y = _output_link(y, est.out_activation_, opv)
    if net_dtype != dtype:
        y = OnnxCast(y, to=TensorProto.DOUBLE, op_version=opv)
    return y, dtype


def _class_labels(est, scope):
    """``classes_`` as an int64 or str array for the ONNX label output.

    With skl2onnx's option ``nocl=True`` the labels are the class indices.
    """
    classes = np.asarray(est.classes_)
    if scope.get_options(est, {"nocl": False})["nocl"]:
        return np.arange(len(classes), dtype=np.int64)
    if classes.dtype == np.bool_ or np.issubdtype(classes.dtype, np.integer):
        return classes.astype(np.int64)
    if np.issubdtype(classes.dtype, np.floating):
        as_int = classes.astype(np.int64)
        if not np.array_equal(as_int, classes):
            raise ValueError(
                "ONNX export needs integer or string class labels; classes_ "
                f"holds non-integral floats {classes}."
            )
        return as_int
    return np.array([str(c) for c in classes], dtype=object)


def _is_multilabel(est):
    lb = getattr(est, "_label_binarizer", None)
    return getattr(lb, "y_type_", None) == "multilabel-indicator"


# ---------------------------------------------------------------------------
# Shape calculators and converters (skl2onnx's public extension API)
# ---------------------------------------------------------------------------


def _classifier_shapes(operator):
    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    ftype = _tensor_type(_float_dtype(operator.inputs[0].type))
    n_classes = len(est.classes_)
    if _is_multilabel(est):
        operator.outputs[0].type = Int64TensorType([n, n_classes])
    elif _class_labels(est, operator.scope_inst).dtype == object:
        operator.outputs[0].type = StringTensorType([n])
    else:
        operator.outputs[0].type = Int64TensorType([n])
    operator.outputs[1].type = ftype([n, n_classes])


def _convert_classifier(scope, operator, container):
    est = operator.raw_operator
    opv = container.target_opset
    label_out, proba_out = operator.outputs[0], operator.outputs[1]
    p, dtype = _forward(est, operator, opv)
    if est.out_activation_ == "logistic" and est.n_outputs_ == 1:
        one = np.array([1], dtype=dtype)
        proba = OnnxConcat(OnnxSub(one, p, op_version=opv), p, axis=1,
                           op_version=opv, output_names=[proba_out])
    else:
        proba = OnnxIdentity(p, op_version=opv, output_names=[proba_out])
    proba.add_to(scope, container)
    if _is_multilabel(est):
        half = np.array([0.5], dtype=dtype)
        label = OnnxCast(OnnxGreater(proba_out, half, op_version=opv),
                         to=TensorProto.INT64, op_version=opv,
                         output_names=[label_out])
    else:
        # Like skl2onnx's MLPClassifier: ArgMax (first maximum on ties, as
        # NumPy) and a look-up in the class labels.
        idx = OnnxArgMax(proba_out, axis=1, keepdims=0, op_version=opv)
        label = OnnxGather(_class_labels(est, scope), idx, axis=0, op_version=opv,
                           output_names=[label_out])
    label.add_to(scope, container)


def _regressor_shapes(operator):
    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    ftype = _tensor_type(_float_dtype(operator.inputs[0].type))
    operator.outputs[0].type = ftype([n, int(est.n_outputs_)])


def _convert_regressor(scope, operator, container):
    est = operator.raw_operator
    opv = container.target_opset
    y, _ = _forward(est, operator, opv)
    OnnxIdentity(y, op_version=opv, output_names=operator.outputs[:1]).add_to(
        scope, container)


def _code_stop(est, layers):
    """Number of leading ``_layer_specs_`` entries that compute the code.

    The code layer is the dense layer whose (activated) output ``transform``
    returns: ``_layer_specs_[_code_layer_]`` when the estimator stores that
    index, else the last layer of the encoder, the first half of the dense
    (and tied dense) layers.
    """
    if hasattr(est, "_code_layer_"):
        return int(est._code_layer_) + 1
    dense = [i for i, layer in layers if isinstance(layer, Dense)]
    return dense[len(dense) // 2 - 1] + 1


def _code_size(est):
    layers = _layers(est)
    stop = _code_stop(est, layers)
    code = dict(layers).get(stop - 1)
    if not isinstance(code, Dense):
        raise NotImplementedError(
            f"{type(est).__name__}: the code layer is "
            f"{est._layer_specs_[stop - 1][0]!r}, not 'dense'."
        )
    return int(code.n_out)


def _transformer_shapes(operator):
    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    ftype = _tensor_type(_float_dtype(operator.inputs[0].type))
    operator.outputs[0].type = ftype([n, _code_size(est)])


def _convert_transformer(scope, operator, container):
    est = operator.raw_operator
    opv = container.target_opset
    stop = _code_stop(est, _layers(est))
    code, _ = _forward(est, operator, opv, stop=stop, link=False)
    OnnxIdentity(code, op_version=opv, output_names=operator.outputs[:1]).add_to(
        scope, container)


# ---------------------------------------------------------------------------
# Registration and the convenience entry point
# ---------------------------------------------------------------------------


def _estimator_classes():
    """sknn's public estimator classes (those that exist in this version)."""
    import sknn
    from sknn._base import BaseNeuralNetwork

    names = list(getattr(sknn, "__all__", [])) + [
        "MLPClassifierX", "MLPRegressorX", "ConvClassifier", "AutoEncoderTransformer",
    ]
    out = []
    for name in dict.fromkeys(names):
        cls = getattr(sknn, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseNeuralNetwork):
            out.append(cls)
    return out


def register():
    """Register skl2onnx converters for every sknn estimator class.

    Called on import; call again after importing an sknn estimator class
    defined later.  Returns the registered classes.
    """
    done = []
    for cls in _estimator_classes():
        alias = f"Sknn{cls.__name__}"
        probe = cls()
        if is_classifier(probe):
            update_registered_converter(
                cls, alias, _classifier_shapes, _convert_classifier,
                options=dict(_CLASSIFIER_OPTIONS),
            )
        elif is_regressor(probe):
            update_registered_converter(cls, alias, _regressor_shapes,
                                        _convert_regressor)
        elif hasattr(probe, "transform"):
            update_registered_converter(cls, alias, _transformer_shapes,
                                        _convert_transformer)
        else:
            continue
        done.append(cls)
    _registered.update(done)
    return done


def _sknn_classifiers(model):
    """sknn classifier classes used anywhere inside ``model``."""
    found = set()
    stack = [model]
    while stack:
        m = stack.pop()
        if type(m) in _registered and is_classifier(m):
            found.add(type(m))
        if hasattr(m, "get_params"):
            stack.extend(v for v in m.get_params(deep=True).values()
                         if hasattr(v, "get_params"))
    return found


def _feature_steps(model):
    """sknn classifiers and regressors that ``model`` uses as transformers
    (a pipeline step before the last, a feature union or column transformer
    part): their ``transform`` (hidden features) has no converter."""
    found, stack = [], [model]
    while stack:
        m = stack.pop()
        steps = [s for _, s in getattr(m, "steps", None) or []]
        parts = steps[:-1] + [t[1] for t in getattr(m, "transformer_list", None) or []]
        column_parts = getattr(m, "transformers_", None) or getattr(
            m, "transformers", None) or []
        parts += [t[1] for t in column_parts if isinstance(t, tuple) and len(t) > 1]
        found += [p for p in parts if type(p) in _registered
                  and (is_classifier(p) or is_regressor(p))]
        stack.extend(steps[-1:] + parts)
    return found


def to_onnx(estimator, X_sample, *, dtype=np.float32, zipmap=False,
            target_opset=None, options=None, name=None):
    """Export a fitted sknn estimator (or a pipeline containing one) to ONNX.

    Parameters
    ----------
    estimator : estimator
        A fitted sknn estimator, or any scikit-learn pipeline skl2onnx
        converts that contains sknn estimators.
    X_sample : array-like of shape (n_samples, n_features)
        A few input rows: they give the input's name, width and type.
    dtype : {np.float32, np.float64}, default=np.float32
        The graph's input (and computation) type; ``X_sample`` is cast to it.
    zipmap : bool or 'columns', default=False
        skl2onnx's ZipMap for classifier probabilities (False: a plain
        (N, n_classes) tensor).
    target_opset : int, default=None
        ONNX opset (skl2onnx's latest tested one by default).
    options : dict, default=None
        Further skl2onnx conversion options (keyed by class or ``id(model)``);
        they take precedence over ``zipmap``.
    name : str, default=None
        Graph name.

    Returns
    -------
    onnx.ModelProto
        Run it with ``onnxruntime.InferenceSession(onx.SerializeToString())``.

    Raises
    ------
    NotImplementedError
        When a classifier or regressor of sknn is used as a transformer
        inside ``estimator`` (its ``transform``, the hidden features, feeds
        another step): only their predictions are exported.
    """
    register()
    used = _feature_steps(estimator)
    if used:
        raise NotImplementedError(
            f"{type(used[0]).__name__} is used as a transformer (its transform, the "
            "hidden features, feeds another step); sknn's ONNX export covers the "
            "predictions of classifiers and regressors and the autoencoder's "
            "transform, not the hidden features of a classifier or regressor."
        )
    X_sample = np.asarray(X_sample, dtype=dtype)
    opts = {cls: {"zipmap": zipmap} for cls in _sknn_classifiers(estimator)}
    for key, value in (options or {}).items():
        if isinstance(opts.get(key), dict) and isinstance(value, dict):
            opts[key] = {**opts[key], **value}
        else:
            opts[key] = value
    return _skl2onnx_to_onnx(estimator, X_sample, target_opset=target_opset,
                             options=opts or None, name=name)


_registered = set()
register()
