"""sknn: scikit-learn neural networks on Numba kernels.

``import sknn`` compiles nothing: kernels compile (or load from Numba's cache)
on first use.  :func:`sknn.precompile` fills the cache ahead of time.
"""

from ._autoencoder import AutoEncoderTransformer
from ._conv import ConvClassifier
from ._mlp import MLPClassifierX, MLPRegressorX

__version__ = "0.1.0"

__all__ = [
    "AutoEncoderTransformer",
    "ConvClassifier",
    "MLPClassifierX",
    "MLPRegressorX",
    "precompile",
    "__version__",
]
from ._precompile import precompile
