"""Safe persistence with skops.io (needs the ``skops`` extra).

skops files hold NumPy arrays and plain Python values plus the *names* of the
types to rebuild; loading refuses every type that is neither trusted by skops
(builtins, NumPy, scikit-learn) nor listed by the caller, so no arbitrary code
runs on load.  A fitted sknn estimator needs only its own class and its
optimizer's class (:mod:`sknn._optim`, plain NumPy state) listed:
:func:`trusted_types` returns those names::

    import skops.io as sio
    from sknn.skops import trusted_types

    sio.dump(clf, "model.skops")
    clf = sio.load("model.skops", trusted=trusted_types())

or, equivalently, :func:`dump` / :func:`load` below.  pickle and joblib work
too (but execute code from the file on load: only load files you trust).
"""

__all__ = ["trusted_types", "dump", "load", "dumps", "loads"]


def _type_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def trusted_types():
    """Fully qualified names of the sknn types a fitted sknn model contains.

    Every public sknn estimator class in this version plus the optimizer
    classes that hold Adam/SGD state for ``warm_start`` and ``partial_fit``.
    Pass it as ``trusted=`` to ``skops.io.load`` (add the names of any other
    non-scikit-learn types of your own pipeline).

    Returns
    -------
    list of str
        Sorted type names such as ``"sknn._mlp.MLPClassifierX"``.
    """
    import sknn
    from sknn import _optim
    from sknn._base import BaseNeuralNetwork

    names = set()
    for name in dir(sknn):
        obj = getattr(sknn, name)
        if isinstance(obj, type) and issubclass(obj, BaseNeuralNetwork):
            names.add(_type_name(obj))
    for obj in vars(_optim).values():
        if isinstance(obj, type) and obj.__module__ == _optim.__name__:
            names.add(_type_name(obj))
    return sorted(names)


def _skops_io():
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise ImportError(
            "sknn.skops needs the optional 'skops' extra: "
            "pip install 'sknn-numba[skops]'"
        ) from exc
    return sio


def _trusted(extra):
    return trusted_types() + [t if isinstance(t, str) else _type_name(t)
                              for t in (extra or ())]


def dump(estimator, file, **kwargs):
    """``skops.io.dump``: save ``estimator`` to ``file`` (a path or binary file)."""
    _skops_io().dump(estimator, file, **kwargs)


def dumps(estimator, **kwargs):
    """``skops.io.dumps``: the skops file of ``estimator`` as bytes."""
    return _skops_io().dumps(estimator, **kwargs)


def load(file, trusted=None):
    """Load a skops file trusting sknn's types (and ``trusted``, if given).

    Raises ``skops.io.exceptions.UntrustedTypesFoundException`` when the file
    holds any other type that skops does not trust by default.
    """
    return _skops_io().load(file, trusted=_trusted(trusted))


def loads(data, trusted=None):
    """Like :func:`load`, from the bytes :func:`dumps` returned."""
    return _skops_io().loads(data, trusted=_trusted(trusted))
