"""Weights from other networks: pretraining and fine-tuning (``init=``).

A supervised network's ``init`` may be a fitted estimator instead of a
scheme name.  :func:`leading_layers` reads the weight layers it offers and
checks them against the network being fitted:

* a fitted ``AutoEncoderTransformer`` offers its encoder (tied weights made
  plain), which must start the *hidden* layers exactly;
* a fitted estimator of the same family (``_transfer_family``: the dense
  MLPs, or the convolutional networks) offers its hidden layers, which must
  start the network's layers exactly, and its output layer, copied too when
  the source is of the estimator's own class with the same outputs (and
  classes): fine-tuning continues from the whole network, transfer to a new
  task from its hidden layers.

Only shapes are compared: the activations are the new estimator's own.
"""

import numpy as np

_FAMILY_NAMES = {
    "mlp": "MLPClassifierX or MLPRegressorX",
    "conv": "ConvClassifier or ConvRegressor",
}


def _sources_text(family):
    """What ``init`` accepts besides a scheme name, for messages."""
    names = _FAMILY_NAMES.get(family, "estimator of the same kind")
    if family == "mlp":
        return f"a fitted AutoEncoderTransformer (pretraining) or a fitted {names}"
    return f"a fitted {names}"


def check_source(target, source):
    """Raise a ``ValueError`` unless ``source`` can be ``target``'s ``init``:
    an autoencoder (for the dense networks) or an estimator of ``target``'s
    family, fitted."""
    family = target._transfer_family
    src_family = getattr(source, "_transfer_family", None)
    src = type(source).__name__
    if not (src_family == family or (src_family == "autoencoder" and family == "mlp")):
        raise ValueError(
            f"init={src}(...) cannot start the layers of {type(target).__name__}: "
            f"init takes a scheme name, {_sources_text(family)}."
        )
    if not hasattr(source, "coefs_"):
        raise ValueError(
            f"init={src}(...) is not fitted: fit it first (init takes a scheme "
            f"name, {_sources_text(family)})."
        )


def _hint(source, coefs):
    """How the target's layers must look, for the mismatch message."""
    if source._transfer_family in ("autoencoder", "mlp"):
        widths = tuple(int(c.shape[1]) for c in coefs)
        return (f"hidden_layer_sizes must start with {widths} and X must have "
                f"{coefs[0].shape[0]} features")
    return ("the convolution blocks, input_shape and leading hidden_layer_sizes "
            "must give these shapes")


def leading_layers(target, source, shapes):
    """``(coefs, intercepts)`` from the fitted ``source`` for the first weight
    layers of ``target``, whose network has coefficient and intercept shapes
    ``shapes = (coef shapes, intercept shapes)`` (raises a ``ValueError``
    naming ``init`` and the shapes when they do not fit)."""
    check_source(target, source)
    src = type(source).__name__
    if source._transfer_family == "autoencoder":
        _, _, coefs, intercepts = source._halves()[0]
        what = f"the encoder of init={src}"
        where = "hidden layers"
    else:
        coefs, intercepts = list(source.coefs_[:-1]), list(source.intercepts_[:-1])
        what = f"the hidden layers of init={src}"
        where = "layers"
    want_c, want_i = shapes
    m = len(coefs)
    got_c = [tuple(np.shape(c)) for c in coefs]
    got_i = [tuple(np.shape(b)) for b in intercepts]
    # The copied layers must leave the output layer to the target.
    if m >= len(want_c) or got_c != list(want_c[:m]) or got_i != list(want_i[:m]):
        raise ValueError(
            f"init: {what} has weight shapes {got_c}, but the first {where} of this "
            f"{type(target).__name__} have {list(want_c[:-1])} (then the output "
            f"layer {want_c[-1]}): {_hint(source, coefs) if m else 'no layers'}."
        )
    coefs, intercepts = list(coefs), list(intercepts)
    if _same_outputs(target, source) and (
            tuple(np.shape(source.coefs_[-1])) == tuple(want_c[m])
            and tuple(np.shape(source.intercepts_[-1])) == tuple(want_i[m])):
        coefs.append(source.coefs_[-1])
        intercepts.append(source.intercepts_[-1])
    return coefs, intercepts


def _same_outputs(target, source):
    """Whether ``source``'s output layer means what ``target``'s does: the
    same class and the same classes (for classifiers)."""
    if type(source) is not type(target):
        return False
    a, b = getattr(target, "classes_", None), getattr(source, "classes_", None)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) or isinstance(b, list):  # multi-output classes
        return False
    return len(a) == len(b) and bool(np.all(np.asarray(a) == np.asarray(b)))
