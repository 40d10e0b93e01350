"""sknn: scikit-learn neural networks on Numba kernels.

``import sknn`` compiles nothing: kernels compile (or load from Numba's cache)
on first use.  :func:`sknn.precompile` fills the cache ahead of time.
"""

# scikit-learn before SciPy's sparse module: in this order the same modules
# import faster, and `import sknn` should cost no more than scikit-learn's MLP.
import sklearn.base  # noqa: F401, I001

from ._autoencoder import AutoEncoderTransformer
from ._conv import ConvClassifier, ConvRegressor
from ._mlp import MLPClassifierX, MLPRegressorX

__version__ = "0.1.0"

__all__ = [
    "AutoEncoderTransformer",
    "ConvClassifier",
    "ConvRegressor",
    "MLPClassifierX",
    "MLPRegressorX",
    "precompile",
    "__version__",
]


def precompile(verbose=True):
    """Compile and cache all kernels (float32 and float64); return the seconds.

    Fits small models of every estimator, solver and dtype (including one
    batch big enough for the parallel kernels), so that later processes load
    every kernel from Numba's cache. Also available as the ``sknn-precompile``
    command and ``python -m sknn._precompile``.
    """
    # Imported here so that ``python -m sknn._precompile`` does not find the
    # module already imported by the package.
    from ._precompile import precompile as run

    return run(verbose)
