"""Implementations timed as whole fresh Python processes (workloads 8-10, 13 and 14).

A measurement is the wall time of ``python -c CODE``: interpreter start,
imports and the work itself.  Every child gets the BLAS/OpenMP thread
variables set to ``--threads`` and the repository root on ``PYTHONPATH``
(so it imports the checkout's ``sknn`` and, for the numba floor,
``benchmarks``), and runs in a scratch directory that is removed when the
suite exits.
"""

import atexit
import functools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ._peers import sknn_class
from ._types import Implementation, Unavailable

#: The repository root (which holds this ``benchmarks`` directory) and the
#: ``sknn`` package directory in it.
REPO_ROOT = Path(__file__).resolve().parents[1]
SKNN_DIR = REPO_ROOT / "sknn"

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

FIT_SCRIPT = """\
import warnings
import numpy as np
from {module} import {cls}
warnings.simplefilter("ignore")
data = np.load({path!r})
model = {cls}(**{params!r}, n_iter_no_change=float("inf")).fit(data["X"], data["y"])
"""

#: Appended to :data:`FIT_SCRIPT` to time a method after the fit.
THEN_SCRIPT = """\
model.{method}(data["X"])
"""

#: Appended to an sknn child's program: prints, as its last line, how many
#: kernel signatures the process compiled or loaded (nothing when
#: ``sknn._jit.compiled_kernels`` is missing).
KERNEL_COUNT_SCRIPT = """\
try:
    from sknn import _jit as _sknn_jit
except ImportError:
    _sknn_jit = None
_compiled = getattr(_sknn_jit, "compiled_kernels", None)
if _compiled is not None:
    print("SKNN_KERNELS=%d" % sum(_compiled().values()), flush=True)
"""

_KERNEL_COUNT = re.compile(r"SKNN_KERNELS=(\d+)")

#: A child that fits twice and prints, as its last line, how much longer
#: its first fit took than its second (:func:`second_fit_script`).
SECOND_FIT_SCRIPT = """\
import time
import warnings
import numpy as np
from {module} import {cls}
warnings.simplefilter("ignore")
data = np.load({path!r})
seconds = []
for _ in range(2):
    start = time.perf_counter()
    {cls}(**{params!r}).fit(data["X"], data["y"])
    seconds.append(time.perf_counter() - start)
print("SECONDS=%r" % (seconds[0] - seconds[1]), flush=True)
"""

#: A child that imports sknn (not Numba) like a fit script, then prints the
#: seconds of importing Numba and of Numba's first call of a tiny cached
#: kernel: what an ordinary Numba program pays before its first fit.
NUMBA_START_SCRIPT = """\
import time
import numpy as np
import sknn
start = time.perf_counter()
import numba
imported = time.perf_counter()
from benchmarks._numba_floor import _checksum
loaded = time.perf_counter()
_checksum(np.zeros(2))
print("SECONDS=%r" % (imported - start + time.perf_counter() - loaded), flush=True)
"""

#: A child that compiles every kernel as ``sknn-precompile`` does.
PRECOMPILE_SCRIPT = """\
from sknn._precompile import precompile
precompile(verbose=False)
"""

_SECONDS = re.compile(r"SECONDS=(\S+)")

NUMBA_FLOOR_SCRIPT = """\
import warnings
import sknn
from benchmarks._numba_floor import run
warnings.simplefilter("ignore")
run({path!r}, {layer_sizes!r}, {batch_size!r}, {epochs!r})
"""


@functools.cache
def scratch_dir():
    """Return a temporary directory that lives until the process exits.

    Returns
    -------
    pathlib.Path
    """
    path = tempfile.mkdtemp(prefix="sknn-bench-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return Path(path)


def child_env(threads, first_paths=(), **extra):
    """Return the environment of a child process.

    Parameters
    ----------
    threads : int
        Value of the BLAS/OpenMP thread-count variables.
    first_paths : sequence of path-like, default=()
        Directories put on ``PYTHONPATH`` before the repository root.
    **extra : str
        Further variables, e.g. ``NUMBA_CACHE_DIR``.

    Returns
    -------
    dict
    """
    env = dict(os.environ)
    # Let children write sknn's bytecode cache, as pip does at install time:
    # with PYTHONDONTWRITEBYTECODE set (a common dev setting) every timed
    # process of a source checkout recompiled sknn's modules, ~25 ms that an
    # installed sknn never pays, while scikit-learn's are precompiled.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({name: str(threads) for name in _THREAD_VARIABLES})
    paths = [str(p) for p in first_paths] + [str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra)
    return env


def run_python_output(code, env):
    """Run ``python -c code``; return its wall time in seconds and its stdout.

    Parameters
    ----------
    code : str
        Program text.
    env : dict
        Its environment (see :func:`child_env`).

    Returns
    -------
    seconds : float
    stdout : str

    Raises
    ------
    RuntimeError
        With the last line of standard error when the child fails.
    """
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=scratch_dir(),
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
        raise RuntimeError(lines[-1])
    return elapsed, proc.stdout


def run_python(code, env):
    """Run ``python -c code`` and return its wall time in seconds.

    See :func:`run_python_output`.
    """
    return run_python_output(code, env)[0]


def kernel_count(stdout):
    """Return the ``N`` of a last stdout line ``SKNN_KERNELS=N``, else None.

    Parameters
    ----------
    stdout : str
        A child's standard output (see :data:`KERNEL_COUNT_SCRIPT`).

    Returns
    -------
    int or None
    """
    lines = stdout.strip().splitlines()
    found = _KERNEL_COUNT.fullmatch(lines[-1].strip()) if lines else None
    return int(found.group(1)) if found else None


def kernels_note(counts):
    """Return the note of a cold row from its rounds' kernel counts.

    Parameters
    ----------
    counts : list of int or None
        One per timed process; None where the child printed no count.

    Returns
    -------
    str
        ``"kernels 27"``, ``"kernels 27-29"`` when the rounds differ, or
        ``""`` when no child printed a count.
    """
    found = [c for c in counts if c is not None]
    if not found:
        return ""
    low, high = min(found), max(found)
    return f"kernels {low}" if low == high else f"kernels {low}-{high}"


def saved_arrays(name, get_args):
    """Save ``X, y = get_args()`` once to ``<scratch>/<name>.npz``.

    Parameters
    ----------
    name : str
        File stem, unique per data set.
    get_args : callable
        Returns ``(X, y)``.

    Returns
    -------
    str
        The file's path.
    """
    path = scratch_dir() / f"{name}.npz"
    if not path.exists():
        X, y = get_args()
        np.savez(path, X=X, y=y)
    return str(path)


def fit_script(module, cls, params, path, then=None):
    """Return a program that loads ``path`` and fits ``cls(**params)`` on it.

    Parameters
    ----------
    module : str
        ``"sknn"`` or ``"sklearn.neural_network"``.
    cls : str
        Estimator class name.
    params : dict
        Constructor parameters with plain-literal values; the program adds
        ``n_iter_no_change=inf``.
    path : str
        An ``.npz`` file holding ``X`` and ``y``.
    then : str, optional
        A method called on ``X`` after the fit (``"predict"``,
        ``"transform"``).

    Returns
    -------
    str
    """
    code = FIT_SCRIPT.format(module=module, cls=cls, params=params, path=path)
    return code if then is None else code + THEN_SCRIPT.format(method=then)


def numba_floor_script(path, layer_sizes, batch_size, epochs):
    """Return a program that runs :func:`benchmarks._numba_floor.run`.

    It imports sknn (no Numba) like a fit script, then pays Numba's start-up
    and the fit's matrix products only.

    Parameters
    ----------
    path : str
        An ``.npz`` file holding ``X``.
    layer_sizes : tuple of int
    batch_size : int
    epochs : int

    Returns
    -------
    str
    """
    return NUMBA_FLOOR_SCRIPT.format(path=path, layer_sizes=tuple(layer_sizes),
                                     batch_size=batch_size, epochs=epochs)


def second_fit_script(module, cls, params, path):
    """Return a program that fits ``cls(**params)`` twice on ``path`` and
    prints how much longer the first fit took (see :func:`printed_seconds_impl`).

    Parameters
    ----------
    module, cls, params, path
        As for :func:`fit_script` (``params`` taken as they are).

    Returns
    -------
    str
    """
    return SECOND_FIT_SCRIPT.format(module=module, cls=cls, params=params, path=path)


def printed_seconds(stdout):
    """Return the ``S`` of a last stdout line ``SECONDS=S``.

    Parameters
    ----------
    stdout : str

    Returns
    -------
    float

    Raises
    ------
    RuntimeError
        When the last line is not of that form.
    """
    lines = stdout.strip().splitlines()
    found = _SECONDS.fullmatch(lines[-1].strip()) if lines else None
    if found is None:
        raise RuntimeError("the child printed no SECONDS= line")
    return float(found.group(1))


def printed_seconds_impl(name, make_code, threads):
    """A fresh process, after one untimed warm-up run, whose *measurement*
    is the seconds it prints itself (``SECONDS=...``, last line), not its
    wall time: a span inside the process, such as a first fit's extra time
    over the second.

    Parameters
    ----------
    name : str
        Row label.
    make_code : callable
        Returns the program text (called once, in ``prepare``).
    threads : int
        Thread count of the child.

    Returns
    -------
    Implementation
    """

    def timed(code, env):
        return printed_seconds(run_python_output(code, env)[1])

    def prepare():
        code, env = make_code(), child_env(threads)
        _checked(code, env, timed)
        return functools.partial(timed, code, env)

    return Implementation(name, prepare)


def _checked(code, env, run=run_python):
    """``run(code, env)`` once (the untimed warm-up); a failing child makes
    the implementation "not available"."""
    try:
        run(code, env)
    except RuntimeError as exc:
        raise Unavailable(f"not available: {exc}") from None


def warm_process_impl(name, make_code, threads, repeats=1):
    """Time a fresh process after one untimed warm-up run.

    The warm-up fills Numba's cache, Python's bytecode cache and the OS file
    cache, so the timed runs see what a user's second session sees.

    Parameters
    ----------
    name : str
        Row label.
    make_code : callable
        Returns the program text (called once, in ``prepare``).
    threads : int
        Thread count of the child.
    repeats : int, default=1
        Processes per timed call; the call returns their median.

    Returns
    -------
    Implementation
    """

    def timed(code, env):
        return statistics.median(run_python(code, env) for _ in range(repeats))

    def prepare():
        code, env = make_code(), child_env(threads)
        _checked(code, env)
        return functools.partial(timed, code, env)

    return Implementation(name, prepare)


def _cold_fit(code, threads):
    """Run ``code`` on a fresh copy of sknn with an empty Numba cache."""
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        source = Path(tmp) / "src"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
        shutil.copytree(SKNN_DIR, source / "sknn", ignore=ignore)
        numba_cache = Path(tmp) / "numba"
        numba_cache.mkdir()
        env = child_env(threads, [source], NUMBA_CACHE_DIR=str(numba_cache))
        return run_python_output(code, env)


def cold_precompile_impl(threads):
    """Time ``sknn-precompile`` from scratch: fresh package copy and empty
    Numba cache, as :func:`cold_process_impl` (every estimator, both dtypes).

    Parameters
    ----------
    threads : int
        Thread count of the child (and of the helper process it starts).

    Returns
    -------
    Implementation
    """

    def timed(code):
        return _cold_fit(code, threads)[0]

    def prepare():
        scratch = str(scratch_dir())
        assert_code = f"import sknn; assert sknn.__path__[0].startswith({scratch!r})\n"
        return functools.partial(timed, assert_code + PRECOMPILE_SCRIPT)

    return Implementation("sknn", prepare)


def cold_process_impl(cls, make_code, threads):
    """Time a first fit ever: fresh package copy and empty Numba cache.

    Each timed call copies the ``sknn`` package, without any
    ``__pycache__``, to a new temporary directory put first on
    ``PYTHONPATH`` and points ``NUMBA_CACHE_DIR`` at a new empty directory,
    so every kernel is compiled from scratch.  The copy is not timed.  The
    child ends by printing how many kernel signatures it compiled
    (:data:`KERNEL_COUNT_SCRIPT`); the row's note reports it, e.g.
    ``"kernels 27"``.

    Parameters
    ----------
    cls : str
        The sknn estimator class; checked importable in ``prepare``.
    make_code : callable
        Returns the program text.
    threads : int
        Thread count of the child.

    Returns
    -------
    Implementation
    """

    counts = []

    def timed(code):
        seconds, stdout = _cold_fit(code, threads)
        counts.append(kernel_count(stdout))
        return seconds

    def prepare():
        sknn_class(cls)
        scratch = str(scratch_dir())
        assert_code = f"import sknn; assert sknn.__path__[0].startswith({scratch!r})\n"
        return functools.partial(timed, assert_code + make_code() + KERNEL_COUNT_SCRIPT)

    return Implementation("sknn", prepare, note=lambda: kernels_note(counts))
