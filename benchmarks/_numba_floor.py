"""The floor of a new process that fits with Numba-compiled kernels.

The ``numba-floor`` side of the ``first-fit-warm`` workload runs :func:`run`
in a new process, after ``import sknn`` (which imports scikit-learn, not
Numba).  It pays what every estimator whose kernels Numba compiles pays, and
nothing of sknn's own:

* importing Numba;
* loading one kernel from Numba's cache the quickest way (as sknn does,
  :func:`sknn._jit._quick_loads`: Numba's runtime only, not the set-up of
  everything Numba can compile, which an ordinary first cache load does);
* the garbage collections that sweep Numba's objects while the process runs
  and again when it exits;
* the matrix products of the fit's epochs (the GEMM floor of the fit).

Its time over scikit-learn's is the best ratio a Numba implementation of the
fit could reach in the same rounds.  It calls ``numba.njit`` itself (taking
only :func:`~sknn._jit._quick_loads` from sknn), not through
:func:`sknn._jit.kernel`: it stands for a minimal Numba program, so it must
not pay for sknn's kernels.  It lives in the repository's ``benchmarks``
directory, outside the installed package; the child process that runs it
finds it through the repository root on ``PYTHONPATH``.
"""

import numba
import numpy as np

from sknn._jit import _quick_loads

from ._flops import batch_sizes
from ._peers import GemmEpoch


def _checksum_py(x):
    """Sum ``x``: one small cached kernel, called once per process."""
    total = 0.0
    for value in x.ravel():
        total += value
    return total


#: The kernel as an ordinary Numba program has it (the ``numba-start`` side of
#: ``first-fit-extra`` calls it), and with sknn's quick cache loads.
_checksum = numba.njit(cache=True, nogil=True)(_checksum_py)
_quick_checksum = _quick_loads(numba.njit(cache=True, nogil=True)(_checksum_py))


def run(path, layer_sizes, batch_size, epochs):
    """Load ``X`` from ``path``, run one cached kernel, then the fit's products.

    Parameters
    ----------
    path : str
        An ``.npz`` file holding ``X`` (and ``y``, unused).
    layer_sizes : sequence of int
        Dense widths from the input to the output.
    batch_size : int
        Rows per full mini-batch.
    epochs : int
        Epochs of products to run.

    Returns
    -------
    float
        The kernel's checksum of ``X`` (so that nothing is optimised away).
    """
    X = np.load(path)["X"]
    total = _quick_checksum(X)
    plan = GemmEpoch(layer_sizes, batch_sizes(len(X), batch_size), X.dtype.name)
    for _ in range(epochs):
        plan.run()
    return total
