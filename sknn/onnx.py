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
nodes) is built from the fitted state alone: the architecture in
``_layer_specs_`` (``"dense"``, ``"tied_dense"``, ``"conv2d"``,
``"maxpool2d"``, ``"meanpool2d"``, ``"flatten"``; ``"dropout"``, ``"noise"``
and ``"activity_l1"`` act at training time only and are left out) and the
weights in ``coefs_`` / ``intercepts_``.  Outputs follow skl2onnx's conventions for
scikit-learn's MLPs:

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

import numbers

import numpy as np

try:
    from onnx import TensorProto
    from skl2onnx import to_onnx as _skl2onnx_to_onnx
    from skl2onnx import update_registered_converter
    from skl2onnx.algebra.onnx_ops import (
        OnnxArgMax,
        OnnxAveragePool,
        OnnxCast,
        OnnxConcat,
        OnnxConv,
        OnnxElu,
        OnnxExp,
        OnnxFlatten,
        OnnxGather,
        OnnxGemm,
        OnnxGreater,
        OnnxIdentity,
        OnnxLeakyRelu,
        OnnxMaxPool,
        OnnxRelu,
        OnnxReshape,
        OnnxSigmoid,
        OnnxSoftmax,
        OnnxSub,
        OnnxTanh,
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

from . import _conv_layers  # noqa: F401  (registers the conv/pool layers)
from ._kernels.activations import LEAKY_SLOPE
from ._layers import LAYERS

__all__ = ["register", "to_onnx"]

# Layers with a weight and a bias in coefs_ / intercepts_, in network order.
_PARAM_LAYERS = ("dense", "conv2d")
# Dense layers of the autoencoder: "tied_dense" has only a bias of its own; its
# weights are the transpose of those of the "dense" layer at spec index tied_to.
_DENSE_LAYERS = ("dense", "tied_dense")
# Training-only layers: the identity at inference.
_IDENTITY_LAYERS = ("dropout", "noise", "activity_l1")
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


def _activation(x, name, opv):
    """Hidden-layer activation ``name`` (sknn's codes) applied to node ``x``."""
    if name == "identity":
        return x
    if name == "logistic":
        return OnnxSigmoid(x, op_version=opv)
    if name == "tanh":
        return OnnxTanh(x, op_version=opv)
    if name == "relu":
        return OnnxRelu(x, op_version=opv)
    if name == "leaky_relu":
        return OnnxLeakyRelu(x, alpha=float(LEAKY_SLOPE), op_version=opv)
    if name == "elu":
        return OnnxElu(x, alpha=1.0, op_version=opv)
    raise NotImplementedError(f"No ONNX conversion for activation {name!r}.")


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


def _pair(v):
    """``int`` or length-2 sequence -> a tuple of two ints."""
    if isinstance(v, numbers.Integral):
        return int(v), int(v)
    a, b = v
    return int(a), int(b)


def _conv_out_hw(index, specs, kw, kh, kwid):
    """Output (OH, OW) of the conv layer ``specs[index]``.

    Asked, in order, of: the layer object itself (sknn's layer registry), an
    ``out_shape`` in the spec, the next layer's input shape, and finally the
    kernels' conventions (padding > 0 means "same": ``ceil(size / stride)``;
    otherwise "valid").
    """
    from ._layers import LAYERS

    cls = LAYERS.get(specs[index][0])
    if cls is not None:
        try:
            shape = tuple(cls(**kw).out_shape)
            if len(shape) == 3:
                return shape[1], shape[2]
        except Exception:  # not constructible here: use the specs below
            pass
    if "out_shape" in kw:
        shape = tuple(kw["out_shape"])
        return shape[-2], shape[-1]
    if index + 1 < len(specs):
        nxt = specs[index + 1][1]
        shape = nxt.get("in_shape", nxt.get("shape"))
        if shape is not None and len(tuple(shape)) == 3:
            shape = tuple(shape)
            return shape[1], shape[2]
    _, h, w = kw["in_shape"]
    sh, sw = _pair(kw.get("stride", 1))
    pt, pl = _pair(kw.get("pad", 0))
    oh = -(-h // sh) if pt > 0 else (h - kh) // sh + 1
    ow = -(-w // sw) if pl > 0 else (w - kwid) // sw + 1
    return oh, ow


def _network(est, x, dtype, opv, stop=None):
    """Nodes computing the network on node ``x``; returns the last node.

    Runs ``_layer_specs_[:stop]`` (all layers by default), each layer with its
    own activation (the output layer's is ``identity``: the output link,
    ``out_activation_``, is applied by the caller).
    """
    specs = list(est._layer_specs_)
    if stop is not None:
        specs = specs[:stop]
    coefs = iter(est.coefs_)
    intercepts = iter(est.intercepts_)
    weight_of = {}  # spec index -> dense weights, for tied layers
    rank = 2
    first_shape = specs[0][1].get("in_shape") if specs else None
    if first_shape is not None and len(tuple(first_shape)) == 3:
        shape = np.array((-1,) + tuple(int(s) for s in first_shape), dtype=np.int64)
        x = OnnxReshape(x, shape, op_version=opv)
        rank = 4
    for i, (name, kw) in enumerate(specs):
        if name in _PARAM_LAYERS:
            w = np.asarray(next(coefs))
            b = np.asarray(next(intercepts))
        elif name == "tied_dense":
            w = weight_of[kw["tied_to"]].T
            b = np.asarray(next(intercepts))
        if name in _DENSE_LAYERS:
            if rank != 2:
                x = OnnxFlatten(x, axis=1, op_version=opv)
                rank = 2
            w = w.reshape(int(kw["n_in"]), int(kw["n_out"]))
            weight_of[i] = w
            w = w.astype(dtype)
            x = OnnxGemm(x, w, b.astype(dtype).ravel(), op_version=opv)
            x = _activation(x, kw.get("activation", "identity"), opv)
        elif name == "conv2d":
            # Geometry (padding, output size) comes from the layer itself, so
            # the export can never disagree with the kernels.
            layer = LAYERS["conv2d"](**kw)
            c, h, wid = layer.in_shape
            kh = kwid = layer.k
            sh = sw = layer.stride
            pt, pl = layer.pad
            _, oh, ow = layer.out_shape
            pb = max((oh - 1) * sh + kh - h - pt, 0)
            pr = max((ow - 1) * sw + kwid - wid - pl, 0)
            w = w.reshape(layer.filters, c, kh, kwid).astype(dtype)
            x = OnnxConv(x, w, b.astype(dtype).ravel(), kernel_shape=[kh, kwid],
                         strides=[sh, sw], pads=[pt, pl, pb, pr], op_version=opv)
            x = _activation(x, kw.get("activation", "identity"), opv)
        elif name == "pool2d":
            layer = LAYERS["pool2d"](**kw)
            size = list(layer.size)
            op = OnnxMaxPool if layer.mode == "max" else OnnxAveragePool
            # MaxPool also has an optional Indices output: keep only Y.
            x = op(x, kernel_shape=size, strides=size, op_version=opv)[0]
        elif name == "flatten":
            x = OnnxFlatten(x, axis=1, op_version=opv)
            rank = 2
        elif name in _IDENTITY_LAYERS:
            continue
        else:
            raise NotImplementedError(
                f"{type(est).__name__}: no ONNX conversion for layer {name!r}."
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

    ``dtype`` is the graph's float type.  onnxruntime has no float64
    convolution, so networks with convolution or pooling layers compute in
    float32 and cast their result back to float64 for a float64 input.
    """
    x, dtype = _graph_input(operator, opv)
    net_dtype = dtype
    if dtype == np.float64 and any(
            name in ("conv2d", "maxpool2d", "meanpool2d")
            for name, _ in est._layer_specs_):
        x = OnnxCast(x, to=TensorProto.FLOAT, op_version=opv)
        net_dtype = np.float32
    y = _network(est, x, net_dtype, opv, stop=stop)
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


def _code_stop(est):
    """Number of leading ``_layer_specs_`` entries that compute the code.

    The code layer is the dense layer whose (activated) output ``transform``
    returns: ``_layer_specs_[_code_layer_]`` when the estimator stores that
    index, else the last layer of the encoder, the first half of the dense
    (and tied dense) layers.
    """
    if hasattr(est, "_code_layer_"):
        return int(est._code_layer_) + 1
    dense = [i for i, (name, _) in enumerate(est._layer_specs_)
             if name in _DENSE_LAYERS]
    return dense[len(dense) // 2 - 1] + 1


def _code_size(est):
    name, kw = est._layer_specs_[_code_stop(est) - 1]
    if name not in _DENSE_LAYERS:
        raise NotImplementedError(
            f"{type(est).__name__}: the code layer is {name!r}, not 'dense'."
        )
    return int(kw["n_out"])


def _transformer_shapes(operator):
    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    ftype = _tensor_type(_float_dtype(operator.inputs[0].type))
    operator.outputs[0].type = ftype([n, _code_size(est)])


def _convert_transformer(scope, operator, container):
    est = operator.raw_operator
    opv = container.target_opset
    code, _ = _forward(est, operator, opv, stop=_code_stop(est), link=False)
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
    """
    register()
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
