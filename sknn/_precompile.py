"""Compile every kernel for float32 and float64 into Numba's cache.

``sknn.precompile()`` (or the ``sknn-precompile`` command, or
``python -m sknn._precompile``) fits tiny models so that every kernel the
estimators use is compiled and written to the cache.  Run it once when
building a Docker image or a CI cache, or once on each Dask worker
(``client.run(sknn.precompile)``), so users never pay compilation.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np


def warm(dtypes=(np.float64, np.float32)):
    """Fit tiny models of every estimator in every dtype.

    Every kernel takes the activation, loss, pooling mode and optimizer as
    run-time codes, so a few fits per dtype reach all of them; the tasks of
    parallel work and their runner are compiled directly, partly in a second
    process (:class:`_TaskBuilder`).
    """
    builder = _TaskBuilder(dtypes)
    try:
        for dtype in dtypes:
            _fit_conv(dtype)
            builder.conv_kernels_cached(dtype)
        for dtype in dtypes:
            _fit_dense(dtype)
        builder.finish()
    except BaseException:
        builder.stop()
        raise


def _fit_conv(dtype):
    """Short convolutional fits in ``dtype``: every convolution and pooling
    kernel (and the dense head's)."""
    from ._conv import ConvClassifier

    Xi = np.random.RandomState(0).rand(12, 36).astype(dtype)
    y = np.arange(12) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pool in ("max", "mean"):
            ConvClassifier(filters=(2, 2), kernel_size=3, pool=pool, hidden_layer_sizes=(),
                           max_iter=1, random_state=0).fit(Xi, y).predict_proba(Xi)


def _fit_dense(dtype):
    """Short dense fits in ``dtype`` that reach every other kernel and code."""
    from ._autoencoder import AutoEncoderTransformer
    from ._mlp import MLPClassifierX, MLPRegressorX

    rng = np.random.RandomState(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = rng.rand(12, 4).astype(dtype)
        y = np.arange(12) % 3
        for solver in ("adam", "sgd"):
            MLPClassifierX((3,), solver=solver, max_iter=1, random_state=0).fit(
                X, y).predict_proba(X)
        # the kernels of the less common activations and the robust losses
        MLPRegressorX(loss="huber", hidden_layer_sizes=(3,), activation="gelu",
                      max_iter=1, random_state=0).fit(X, X[:, 0]).predict(X)
        AutoEncoderTransformer(2, (3,), max_iter=1, random_state=0).fit(X).transform(X)


# The helper ends without the interpreter's teardown, which takes about half
# a second after Numba has compiled (the parent waits for the exit): every
# cache file is complete when its compile returns, and stdout is flushed.
_HELPER = """
import os
import sys
from sknn._precompile import _build, _claim
for line in sys.stdin:
    for name in line.split():
        if _claim(sys.argv[1], name):
            _build(name)
    sys.stdout.write("done\\n")
    sys.stdout.flush()
os._exit(0)
"""


def _claim(claims, name):
    """Take task ``name`` for this process: True for the one process that
    creates its file in the directory ``claims``."""
    try:
        os.close(os.open(os.path.join(claims, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _build(name):
    """Compile (or load from the cache) the task runner or the task ``name``."""
    from ._jit import build_runner, build_tasks

    if name == "run_task":
        build_runner()
    else:
        build_tasks([name])


def _suffix(dtype):
    return "_f32" if np.dtype(dtype) == np.float32 else "_f64"


class _TaskBuilder:
    """Compiles the task runner and the tasks, most of them in a second
    Python process (the helper) while this one runs the fits.

    A task calls kernels and is compiled once they are in the cache.  The
    runner and the gathers call none, and an optimizer step only the two
    optimizer kernels (it compiles them if no fit has yet): they go to the
    helper at once; each dtype's convolution, pooling and dense layers'
    tasks call kernels that dtype's convolutional fits compile, and go to it
    as soon as those are done (:func:`warm` runs them first); the losses'
    tasks call every loss kernel, which only the dense fits reach, so they
    wait for the last fit.  After the fits this process takes tasks from the
    back of the helper's queue while the helper works from the front; each
    claims a task (a file created exclusively) before compiling it.
    That is safe for Numba's cache: a task has one signature and a cache
    index of its own, only one process compiles each, and a task only loads
    the kernels it calls, with the signatures the fits compiled (an index
    file is replaced atomically when a process adds a signature).  Without a
    second CPU, or if the helper fails, this process compiles everything.
    """

    def __init__(self, dtypes):
        from ._jit import task_names

        suffixes = tuple(_suffix(d) for d in dtypes)
        wanted = [n for n in task_names() if n.endswith(suffixes)]
        # a dtype's convolutional fits compile every kernel its convolution,
        # pooling and dense layers' tasks call (the dense head's too)
        self.conv = {suffix: [n for n in task_names("conv") + task_names("gemm")
                              if n.endswith(suffix)]
                     for suffix in suffixes}
        early = [n for n in wanted if n.startswith(("gather", "step"))]
        self.mine = [n for n in wanted
                     if n not in early and not any(n in c for c in self.conv.values())]
        self.given = []  # what the helper was asked to compile
        self.proc = None
        self.claims = None
        if (os.cpu_count() or 1) > 1:
            try:
                self.claims = tempfile.mkdtemp(prefix="sknn-precompile-")
                self.proc = subprocess.Popen(
                    [sys.executable, "-c", _HELPER, self.claims], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            except OSError:
                self.proc = None
        self._give(["run_task"] + early)

    def _give(self, names):
        """Hand ``names`` to the helper (this process takes them without one)."""
        try:
            self.proc.stdin.write(" ".join(names) + "\n")
            self.proc.stdin.flush()
        except (AttributeError, OSError):  # no helper, or it died
            self.mine += names
            return
        self.given.append(names)

    def conv_kernels_cached(self, dtype):
        """The convolutional fits of ``dtype`` are cached: the helper can
        compile that dtype's convolution, pooling and dense layers' tasks."""
        self._give(self.conv[_suffix(dtype)])

    def stop(self):
        """End the helper without letting it compile anything more."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        if self.claims is not None:
            shutil.rmtree(self.claims, ignore_errors=True)

    def finish(self):
        """Compile what is left, shared with the helper: each process claims
        a task before compiling it, the helper from the front of its queue
        and this one from the back; then wait for the helper, and if it
        failed, compile (or load) everything it was given here."""
        if self.proc is None:
            for name in self.mine:
                _build(name)
            return
        last, self.mine = self.mine, []
        self._give(last)  # (kept in self.mine if the helper is gone)
        try:
            self.proc.stdin.close()  # the helper ends after what it was given
        except OSError:
            pass
        given = [n for names in self.given for n in names]
        for name in self.mine + given[::-1]:
            if _claim(self.claims, name):
                _build(name)
        done = -1
        try:
            done = sum(line.strip() == "done" for line in self.proc.stdout)
        except OSError:
            pass
        if self.proc.wait() != 0 or done != len(self.given):
            for name in given:
                _build(name)
        shutil.rmtree(self.claims, ignore_errors=True)


def precompile(verbose=True):
    """Compile and cache all kernels (float32 and float64).

    Returns the seconds it took.
    """
    start = time.perf_counter()
    warm()
    elapsed = time.perf_counter() - start
    if verbose:
        print(f"sknn kernels compiled and cached in {elapsed:.1f} s")
    return elapsed


def main():
    precompile()


if __name__ == "__main__":
    main()
