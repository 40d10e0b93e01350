"""The Numba cache and the kernels: a read-only install (with a writable or a
read-only user cache), lazy Numba import and kernel binding in a fresh
process, precompilation covering what every fit compiles, and the one place
that calls Numba.  Subprocesses get a generous
``timeout`` only so a hang fails the test instead of blocking the suite.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings

import numpy as np
import pytest
from _extras import SUBPROCESS_TIMEOUT, quiet
from sklearn.exceptions import ConvergenceWarning

import sknn

# -- the Numba cache on a read-only install --------------------------------------------
READONLY_SCRIPT = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("error")
    from sklearn.exceptions import ConvergenceWarning
    warnings.simplefilter("ignore", ConvergenceWarning)
    import numpy as np
    import sknn
    assert sknn.__file__.startswith(sys.argv[1]), sknn.__file__
    X = np.random.RandomState(0).rand(50, 4)
    est = sknn.MLPRegressorX(hidden_layer_sizes=(3,), max_iter=3, n_jobs=1,
                             random_state=0).fit(X, X.sum(axis=1))
    np.save(sys.argv[2], est.predict(X))
""")


def _readonly_command(root, code, args):
    """Command running ``code`` with the directory ``root`` read-only."""
    if os.geteuid() != 0:
        return [sys.executable, "-c", code, *args], True
    # root ignores permissions: use a private read-only bind mount instead
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: cannot make a read-only dir")
    script = (f'mount --bind "{root}" "{root}" && '
              f'mount -o remount,bind,ro "{root}" && exec "$0" "$@"')
    return ["unshare", "-m", "sh", "-c", script, sys.executable, "-c", code,
            *args], False


def _set_writable(path, writable):
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
            mode = os.stat(name).st_mode
            os.chmod(name, mode | 0o200 if writable else mode & ~0o222)


@pytest.mark.parametrize("user_cache", ["writable", "read-only"])
def test_read_only_install(tmp_path, user_cache):
    root = tmp_path / "ro"
    site = root / "site-packages"
    shutil.copytree(os.path.dirname(sknn.__file__), site / "sknn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    home = (root if user_cache == "read-only" else tmp_path) / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               PYTHONPATH=str(site))
    out = tmp_path / "pred.npy"
    cmd, chmod = _readonly_command(root, READONLY_SCRIPT, [str(site), str(out)])
    if chmod:
        _set_writable(root, False)
    try:
        proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=SUBPROCESS_TIMEOUT)
    finally:
        if chmod:
            _set_writable(root, True)
    if proc.returncode and proc.stderr.startswith(("unshare:", "mount:")):
        pytest.skip(f"cannot create a read-only mount here: {proc.stderr[-200:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == "" and proc.stdout == ""  # nothing alarming
    X = np.random.RandomState(0).rand(50, 4)
    ref = sknn.MLPRegressorX(hidden_layer_sizes=(3,), max_iter=3, n_jobs=1,
                             random_state=0)
    np.testing.assert_array_equal(np.load(out), quiet(ref.fit, X, X.sum(axis=1))
                                  .predict(X))
    assert not list(site.rglob("*.nbi"))  # nothing written into the install
    cached = list(home.rglob("*.nbi"))
    assert bool(cached) == (user_cache == "writable")


# -- lazy Numba ---------------------------------------------------------------


def test_import_sknn_does_not_import_numba_and_first_call_binds_kernels():
    """``import sknn`` loads neither Numba nor llvmlite (a third of a second);
    the first fit materializes every kernel: module namespaces then hold the
    real dispatchers (no placeholder) and the fit matches a process where
    Numba was imported first."""
    code = """
import sys
import sknn
assert 'numba' not in sys.modules and 'llvmlite' not in sys.modules, 'eager'
import numpy as np
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
X = X[:300] / 16.0
m = sknn.MLPClassifierX(hidden_layer_sizes=(300,), max_iter=3, random_state=0)
import warnings
warnings.simplefilter("ignore")
m.fit(X, y[:300])
from sknn import _jit
for mod in [m for n, m in sys.modules.items() if n.startswith('sknn')]:
    for k, v in vars(mod).items():
        assert not isinstance(v, _jit.LazyKernel), (mod, k)
np.save(sys.argv[1], m.predict_proba(X))
"""

    from sklearn.datasets import load_digits

    from sknn import MLPClassifierX

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.npy")
        subprocess.run([sys.executable, "-c", code, path], check=True,
                       capture_output=True, text=True)
        lazy = np.load(path)
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    here = MLPClassifierX(hidden_layer_sizes=(300,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        here.fit(X, y[:300])
    np.testing.assert_array_equal(lazy, here.predict_proba(X))


CACHED_FITS_SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    import numba.core.base
    import sknn
    from sknn import _jit
    refreshes = []
    _refresh = numba.core.base.BaseContext.refresh
    def refresh(self):
        refreshes.append(1)
        _refresh(self)
    numba.core.base.BaseContext.refresh = refresh
    warnings.simplefilter("ignore")
    rng = np.random.RandomState(1)
    for dtype in (np.float64, np.float32):
        X = rng.rand(40, 16).astype(dtype)
        y = np.arange(40) % 3
        for solver in ("adam", "sgd", "lbfgs"):
            sknn.MLPClassifierX((8, 4), activation="tanh", solver=solver, max_iter=2,
                                dropout=0.1 if solver != "lbfgs" else 0.0,
                                random_state=0).fit(X, y).predict_proba(X)
        sknn.MLPRegressorX(loss="poisson", hidden_layer_sizes=(5,), max_iter=2,
                           random_state=0).fit(X, X[:, 0] + 0.1).predict(X)
        sknn.MLPRegressorX(loss="quantile", hidden_layer_sizes=(5, 3),
                           activation=["elu", "silu"], max_iter=2,
                           random_state=0).fit(X, X[:, 0]).predict(X)
        sknn.AutoEncoderTransformer(3, (6,), tied_weights=True, noise=0.1,
                                    max_iter=2, random_state=0).fit(X).transform(X)
        sknn.ConvClassifier(input_shape=(1, 4, 4), filters=(3, 2), pool="mean",
                            max_iter=2, random_state=0).fit(X, y).predict(X)
        # Work big enough to run as tasks, on Numba's threads and serially.
        Xb = rng.rand(128, 512).astype(dtype)
        yb = np.arange(128) % 3
        for n_jobs in (1, 2):
            sknn.MLPClassifierX((256,), max_iter=1, batch_size=128, n_jobs=n_jobs,
                                random_state=0).fit(Xb, yb)
            sknn.ConvClassifier(input_shape=(1, 16, 32), filters=(32,), max_iter=1,
                                batch_size=128, n_jobs=n_jobs, random_state=0).fit(Xb, yb)
            # mid-sized dense layers (batch-row tasks) and a wide loss
            sknn.AutoEncoderTransformer(8, (32,), max_iter=1, batch_size=128,
                                        n_jobs=n_jobs, random_state=0).fit(Xb)
    misses = {}
    for lazy in _jit._registry:
        if lazy.inline or lazy.target is None or not lazy.target.signatures:
            continue
        stats = lazy.target.stats
        misses[lazy.__qualname__] = [sum(stats.cache_hits.values()),
                                     sum(stats.cache_misses.values())]
    for t in _jit._tasks:
        if t._cfunc is not None:
            misses[t.__qualname__] = [t._cfunc.cache_hits, 1 - t._cfunc.cache_hits]
    print(json.dumps([misses, len(refreshes)]))
""")


def test_precompile_covers_what_every_fit_compiles():
    """The session fixture ran :func:`sknn._precompile.warm` (what
    ``sknn.precompile()`` runs); a fresh process fitting every estimator,
    solver and dtype then loads every kernel it calls from the cache and
    compiles none, without Numba's refresh of its target context (which only
    compiling needs: :class:`sknn._jit._QuickLoads`)."""
    import json

    proc = subprocess.run([sys.executable, "-c", CACHED_FITS_SCRIPT], capture_output=True,
                          text=True, timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats, refreshes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert refreshes == 0
    assert stats, "no kernel ran"
    compiled = {name: m for name, (h, m) in stats.items() if m}
    assert compiled == {}, f"compiled instead of loaded from the cache: {compiled}"
    for task in ("run_task", "product_rows_f64", "product_rows_f32", "conv_forward_f64",
                 "conv_backward_f32", "gather_rows_f32", "pool_f64", "dense_backward_f64",
                 "loss_rows_f32"):
        assert task in stats, f"the large fits did not run {task}"
    assert all(h for h, _ in stats.values())


class _StubCache:
    """Records which of a cache's loads ran."""

    def __init__(self, quick):
        self.quick, self.calls = quick, []
        self.index_name = "stub"

    def _load_overload(self, sig, target_context):
        self.calls.append("quick")
        if self.quick is None:
            raise OSError("unreadable")
        return self.quick

    def load_overload(self, sig, target_context):
        self.calls.append("numba")
        return "numba's"


class _StubFunction:
    def __init__(self, cache):
        self._cache = cache


@pytest.mark.parametrize("quick, result, calls", [
    ("code", "code", ["quick"]),  # loaded without Numba's refresh
    (None, "numba's", ["quick", "numba"]),  # any failure: Numba's own load
])
def test_quick_cache_loads_fall_back_to_numbas(quick, result, calls):
    from numba.core.registry import cpu_target

    from sknn import _jit

    stub = _StubCache(quick)
    function = _jit._quick_loads(_StubFunction(stub))
    assert _jit._quick_loads(function) is function  # wrapped once
    cache = function._cache
    assert isinstance(cache, _jit._QuickLoads) and cache.index_name == "stub"
    assert cache.load_overload(None, cpu_target.target_context) == result
    assert stub.calls == calls
    # nothing to load from (a NullCache): left as it is
    bare = _StubFunction(object())
    assert _jit._quick_loads(bare)._cache is bare._cache


READY_SCRIPT = textwrap.dedent("""
    import sys
    from sknn._kernels.gather import gather_rows_f64 as task
    ready = task.ready()
    if sys.argv[1] == "build":
        task.cfunc
    print(ready, task.cfunc.cache_hits)
""")


def test_a_task_is_ready_once_compiled_by_any_process(tmp_path):
    """Small work runs as a task only when the task is ready: a fresh cache
    has none; once a process compiled it, the next finds it in the cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))

    def run(mode):
        proc = subprocess.run([sys.executable, "-c", READY_SCRIPT, mode], env=env,
                              capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout.split()

    assert run("build") == ["False", "0"]  # not in the cache: compiled on demand
    assert run("look") == ["True", "1"]  # loaded by ready(), not compiled


LOCKED_SAVE_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import sknn._jit as J
    real, waited = J._index_lock, []
    def announcing(cache, exclusive):
        if exclusive and not waited:  # the first save: let the test lock first
            waited.append(True)
            print(cache._cache_file._index_path, flush=True)
            sys.stdin.readline()
        return real(cache, exclusive)
    J._index_lock = announcing
    if sys.argv[1] == "kernel":
        from sknn._kernels.dense import bias_act
        bias_act(np.zeros((2, 3)), np.zeros(3), 0)
    else:
        from sknn._kernels.gather import gather_rows_f64
        gather_rows_f64.cfunc
    print("saved", flush=True)
""")


@pytest.mark.parametrize("kind", ["kernel", "task"])
def test_saving_to_the_cache_waits_for_the_index_lock(tmp_path, kind):
    """A process saves a compiled kernel or task under an exclusive lock on
    its cache index, so processes sharing a cache (a search's workers) never
    interleave their index and data writes: while this test holds the lock,
    the child's save writes nothing; once it lets go, the save completes."""
    fcntl = pytest.importorskip("fcntl")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", LOCKED_SAVE_SCRIPT, kind], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        index = proc.stdout.readline().strip()
        assert index.endswith(".nbi"), proc.stderr.read()[-3000:]
        assert not os.path.exists(index)  # a cold cache: nothing saved yet
        fd = os.open(index + ".lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)  # blocked on the lock, not finished
            assert not os.path.exists(index)
        finally:
            os.close(fd)
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert out.split() == ["saved"]
    assert os.path.exists(index)


def test_only_the_jit_module_calls_numba():
    """Kernels and tasks are decorated through :mod:`sknn._jit` only (one
    place for the compilation options); the only ``prange`` loop is the task
    runner's; no module imports Numba when it is imported (Numba objects
    that kernels use are made by :func:`sknn._jit.deferred` factories)."""
    import ast
    import pathlib

    root = pathlib.Path(sknn.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "_jit.py":
            continue
        text = path.read_text()
        name = str(path.relative_to(root))
        for needle in ("numba.njit", "@njit", "parallel=True", "numba.cfunc", "@cfunc"):
            if needle in text:
                offenders.append(f"{name}: {needle}")
        if "prange(" in text and name != "_kernels/tasks.py":
            offenders.append(f"{name}: prange")
        for node in ast.parse(text).body:  # module-level imports only
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            if any(m == "numba" or m.startswith(("numba.", "llvmlite")) for m in mods):
                offenders.append(f"{name}: imports Numba at import time")
    assert offenders == []


def test_a_change_to_any_kernel_file_makes_every_cached_kernel_stale(tmp_path, monkeypatch):
    """Kernels inline helpers from other kernel files (the activations into
    the dense and convolution kernels), so a kernel's cache entry is checked
    against every file of sknn/_kernels, not only its own."""
    import numpy as np

    from sknn import _jit
    from sknn._kernels import conv, dense

    dense.bias_act(np.ones((2, 2)), np.ones(2), 0)
    for kern in (dense.bias_act, conv.conv_out):
        assert type(kern._cache._impl._locator).__name__.startswith("Sknn")
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("x = 1\n")
    monkeypatch.setattr(_jit, "_KERNEL_DIR", str(tmp_path))
    before = _jit._kernel_sources_stamp()
    (tmp_path / "b.py").write_text("x = 22\n")
    assert _jit._kernel_sources_stamp() != before
