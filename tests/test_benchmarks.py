"""The benchmark suite's arithmetic: ratios, targets and the floor's limit.

No timing here: the implementations return fixed seconds, so every figure
the report prints can be checked by hand.  The harness lives in the
repository's ``benchmarks/`` directory (not in the installed package);
pytest finds it through ``pythonpath = ["."]`` in ``pyproject.toml``.
"""

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

import benchmarks
from benchmarks import _runner, _subproc, _targets
from benchmarks._config import QUICK, Config
from benchmarks._flops import batch_sizes
from benchmarks._peers import GemmEpoch
from benchmarks._report import markdown_table, plain_table, summary
from benchmarks._types import Implementation, Target, Unavailable, Workload
from benchmarks._workloads import build_workloads


def _fixed(name, values, note=None):
    """An implementation whose rounds return ``values`` in turn."""
    def prepare():
        return itertools.cycle(values).__next__
    return Implementation(name, prepare, note=note)


def _unavailable(name):
    def prepare():
        raise Unavailable("not installed here")
    return Implementation(name, prepare)


def _run(monkeypatch, impls, targets, floor="gemm-floor", reference="sknn"):
    monkeypatch.setattr(_runner, "SETTLE_SECONDS", 0)
    workload = Workload("w", "test workload", "epoch", tuple(impls), tuple(targets),
                        floor=floor, reference=reference)
    return {row.implementation: row for row in _runner.run_workload(workload, 3)}


def test_ratio_target_and_floor_limit(monkeypatch):
    rows = _run(monkeypatch,
                [_fixed("sknn", [1.0, 1.2, 0.9]), _fixed("sklearn", [3.0, 2.0, 2.5]),
                 _fixed("gemm-floor", [0.8, 0.8, 0.8])],
                [Target("sklearn", min_ratio=5.0), Target("gemm-floor", min_ratio=0.8)])
    sk, floor = rows["sklearn"], rows["gemm-floor"]
    assert sk.median == 2.5 and sk.ratio == pytest.approx(2.5)
    assert sk.met is False
    # The best any implementation could do: sklearn's median over the floor's.
    assert sk.limit == pytest.approx(2.5 / 0.8) and sk.reachable is False
    # The floor's own target has no limit of its own.
    assert floor.ratio == pytest.approx(0.8) and floor.met is True
    assert floor.limit is None and floor.reachable is None
    assert rows["sknn"].limit is None and rows["sknn"].ratio is None
    table = markdown_table(list(rows.values()))
    assert "limit 3.12" in table
    assert summary(list(rows.values())) == (
        "targets: 1 met, 1 missed (1 beyond the floor's limit), 0 not measurable")


def test_reachable_miss_is_not_counted_beyond_the_floor(monkeypatch):
    rows = _run(monkeypatch,
                [_fixed("sknn", [1.0]), _fixed("sklearn", [2.0]), _fixed("gemm-floor", [0.5])],
                [Target("sklearn", min_ratio=2.5)])
    assert rows["sklearn"].met is False
    assert rows["sklearn"].limit == pytest.approx(4.0)
    assert rows["sklearn"].reachable is True
    assert summary(list(rows.values())).startswith(
        "targets: 0 met, 1 missed (0 beyond")


@pytest.mark.parametrize("floor", [None, "gemm-floor"])
def test_no_limit_without_a_measured_floor(monkeypatch, floor):
    impls = [_fixed("sknn", [1.0]), _fixed("sklearn", [3.0])]
    if floor:
        impls.append(_unavailable(floor))
    rows = _run(monkeypatch, impls, [Target("sklearn", min_ratio=2.5)], floor=floor)
    assert rows["sklearn"].met is True and rows["sklearn"].limit is None
    if floor:
        assert rows[floor].status == "not installed here"


def test_gemm_epoch_runs_every_product_of_a_dense_epoch():
    """The floor's products are the ones a dense network's epoch needs."""
    plan = GemmEpoch((5, 4, 3), batch_sizes(7, 3), "float64")
    assert plan.batches == [3, 3, 1]
    plan.run()
    acts, deltas = plan.buffers[1]
    w0, w1 = plan.weights
    # Last batch run: one row.  Forward, then both weight gradients and the
    # hidden layer's input gradient, from the same buffers.
    np.testing.assert_allclose(acts[1], acts[0] @ w0)
    np.testing.assert_allclose(acts[2], acts[1] @ w1)
    np.testing.assert_allclose(plan.grads[1], acts[1].T @ deltas[2])
    np.testing.assert_allclose(deltas[1], deltas[2] @ w1.T)
    np.testing.assert_allclose(plan.grads[0], acts[0].T @ deltas[1])


def test_numba_floor_program_runs_its_kernel_and_products(tmp_path):
    from benchmarks import _numba_floor
    from benchmarks._subproc import numba_floor_script

    X = np.arange(12.0).reshape(4, 3)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=np.zeros(4))
    assert _numba_floor.run(str(path), (3, 2), 3, 2) == X.sum()
    code = numba_floor_script(str(path), [3, 2], 3, 2)
    assert "import sknn\n" in code and f"run({str(path)!r}, (3, 2), 3, 2)" in code
    assert "from benchmarks._numba_floor import run\n" in code


def test_header_names_the_variables_that_pin_kernels(monkeypatch):
    """A table measured with OpenBLAS pinned to some kernels says so: the
    variable changes every OpenBLAS user's speed, whatever the CPU can do."""
    from benchmarks import _report

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("SKNN_UNRELATED_TEST_VARIABLE", "1")
    info = _report.machine()
    assert info["environment"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert "SKNN_UNRELATED_TEST_VARIABLE" not in info["environment"]
    assert info["vector_extension"] in {"AVX-512", "AVX2", "AVX", "unknown"}
    lines = _report.header_lines(info, {"numpy": "1"}, {"threads": 2})
    assert lines[0].startswith("machine: ") and f"({info['vector_extension']})" in lines[0]
    assert lines[1].startswith("environment: ") and "OPENBLAS_CORETYPE=Haswell" in lines[1]
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    info["environment"] = _report.kernel_environment()
    assert "OPENBLAS_CORETYPE" not in _report.header_lines(info, {}, {})[1]


def test_header_rounds_the_load_average():
    from benchmarks import _report

    info = {**_report.machine(), "load_average_1min": 0.3662109375}
    assert ", load average 0.37, " in _report.header_lines(info, {}, {})[0]
    info["load_average_1min"] = None  # no os.getloadavg (Windows)
    assert ", load average unknown, " in _report.header_lines(info, {}, {})[0]


def test_max_ratio_target_bounds_sknn_over_its_reference(monkeypatch):
    """The cold-compile rows: the reference is scikit-learn's process and the
    target bounds sknn/sklearn from above."""
    rows = _run(monkeypatch,
                [_fixed("sknn", [9.0, 7.0, 8.0], note=lambda: "kernels 27"),
                 _fixed("sklearn", [2.0, 2.5, 3.0])],
                [Target("sknn", max_ratio=3.0)], floor=None, reference="sklearn")
    sknn, sk = rows["sknn"], rows["sklearn"]
    assert sknn.median == 8.0 and sk.median == 2.5
    assert sknn.ratio == pytest.approx(3.2) and sk.ratio is None
    assert sknn.target == "sknn/sklearn <= 3.00" and sknn.met is False
    assert sknn.limit is None and sknn.reachable is None
    assert sknn.note == "kernels 27" and sk.note == ""
    table = markdown_table(list(rows.values()))
    assert "| sknn/sklearn <= 3.00 | NO | kernels 27 |" in table
    assert summary(list(rows.values())) == (
        "targets: 0 met, 1 missed (0 beyond the floor's limit), 0 not measurable")
    rows = _run(monkeypatch, [_fixed("sknn", [5.9]), _fixed("sklearn", [1.0])],
                [Target("sknn", max_ratio=6.0)], floor=None, reference="sklearn")
    assert rows["sknn"].ratio == pytest.approx(5.9) and rows["sknn"].met is True


def test_target_bounds():
    assert Target("sknn", max_ratio=3.0).is_met(10.0, 3.0) is True
    assert Target("sknn", max_ratio=3.0).is_met(10.0, 3.01) is False
    assert Target("sknn", max_ratio=3.0).is_met(10.0, None) is None
    assert Target("sklearn", min_ratio=2.5).is_met(1.0, 2.5) is True
    assert Target("sknn", max_seconds=15.0).describe("sknn") == "<= 15 s"
    with pytest.raises(ValueError, match="exactly one"):
        Target("sknn")
    with pytest.raises(ValueError, match="exactly one"):
        Target("sknn", min_ratio=1.0, max_ratio=2.0)


def test_note_joins_the_limit_and_the_implementation_note(monkeypatch):
    rows = _run(monkeypatch,
                [_fixed("sknn", [1.0]), _fixed("sklearn", [3.0], note=lambda: "kernels 4"),
                 _fixed("gemm-floor", [1.0])],
                [Target("sklearn", min_ratio=2.5)])
    assert "limit 3.00; kernels 4" in plain_table(list(rows.values()))


#: The targets as they were code constants before they moved to
#: targets.json (plus the new cold-compile ratios): the file must keep them.
_EXPECTED_TARGETS = {
    "mlp-784-f32": {"sklearn": ("min_ratio", 2.5), "torch": ("min_ratio", 1.5),
                    "gemm-floor": ("min_ratio", 0.8)},
    "mlp-784-f64": {"sklearn": ("min_ratio", 2.0), "gemm-floor": ("min_ratio", 0.8)},
    "digits-mlp-f64": {"sklearn": ("min_ratio", 5.0), "gemm-floor": ("min_ratio", 0.8)},
    "lenet-cnn": {"torch": ("min_ratio", 1.0)},
    "digits-cnn": {"torch": ("min_ratio", 4.0)},
    "conv-regressor": {"torch": ("min_ratio", 1.0)},
    "rgb-channels-last": {"torch": ("min_ratio", 1.0)},
    "autoencoder-784": {"sklearn": ("min_ratio", 2.5), "gemm-floor": ("min_ratio", 0.8)},
    "predict-latency": {"sklearn": ("min_ratio", 1.0)},
    "predict-throughput": {"sklearn": ("min_ratio", 2.0)},
    "first-fit-warm": {"sklearn": ("min_ratio", 1.0)},
    "first-fit-extra": {"sknn": ("max_seconds", 0.3)},
    "cold-compile-mlp": {"sknn": ("max_ratio", 3.0)},
    "cold-compile-cnn": {"sknn": ("max_ratio", 6.0)},
    "cold-compile-autoencoder": {"sknn": ("max_ratio", 3.0)},
    "cold-precompile": {"sknn": ("max_ratio", 15.0)},
    "import-time": {"sklearn": ("min_ratio", 1.0)},
}


def test_every_workload_reads_its_targets_from_the_file():
    workloads = build_workloads(Config(sizes=QUICK, threads=1, rounds=1))
    found = {}
    for w in workloads:
        names = {impl.name for impl in w.implementations}
        assert w.targets == _targets.targets_for(w.name)
        for t in w.targets:
            assert t.implementation in names and t.implementation != w.reference
            assert t.reason
            kind = next(k for k in ("min_ratio", "max_ratio", "max_seconds")
                        if getattr(t, k) is not None)
            found.setdefault(w.name, {})[t.implementation] = (kind, getattr(t, kind))
    assert found == _EXPECTED_TARGETS
    # No entry of the file names a workload that does not exist.
    assert set(_targets.load_targets()) == set(found)
    cold = [w for w in workloads if w.name.startswith("cold-compile-")]
    assert [w.name for w in cold] == ["cold-compile-mlp", "cold-compile-cnn",
                                      "cold-compile-autoencoder"]
    for w in cold:
        assert [i.name for i in w.implementations] == ["sknn", "sklearn"]
        assert w.reference == "sklearn"


@pytest.mark.parametrize("entry, message", [
    ({}, "exactly one"),
    ({"min_ratio": 1.0, "max_ratio": 2.0, "reason": "r"}, "exactly one"),
    ({"min_ratio": 0, "reason": "r"}, "positive number"),
    ({"min_ratio": "2", "reason": "r"}, "positive number"),
    ({"min_ratio": 2.0}, "reason"),
    ({"min_ratio": 2.0, "reason": " "}, "reason"),
    ({"min_ratio": 2.0, "reason": "r", "why": "typo"}, "unknown keys"),
])
def test_malformed_targets_are_refused(entry, message):
    with pytest.raises(ValueError, match=message):
        _targets.parse_targets({"workloads": {"w": {"sklearn": entry}}})


def test_kernel_count_is_read_from_the_childs_last_line():
    assert _subproc.kernel_count("fitting\nSKNN_KERNELS=27\n") == 27
    assert _subproc.kernel_count("SKNN_KERNELS=27\nsomething else\n") is None
    assert _subproc.kernel_count("") is None
    assert _subproc.kernels_note([27, 27]) == "kernels 27"
    assert _subproc.kernels_note([27, None, 29]) == "kernels 27-29"
    assert _subproc.kernels_note([None]) == ""


def test_kernel_count_script_prints_a_parseable_line(capsys):
    from sknn import _jit

    exec(_subproc.KERNEL_COUNT_SCRIPT, {})
    out = capsys.readouterr().out
    if hasattr(_jit, "compiled_kernels"):
        assert _subproc.kernel_count(out) == sum(_jit.compiled_kernels().values())
    else:
        assert out == ""


def test_printed_seconds_are_read_from_the_childs_last_line():
    assert _subproc.printed_seconds("fitting\nSECONDS=0.25\n") == 0.25
    assert _subproc.printed_seconds("SECONDS=-0.001") == -0.001
    for out in ("SECONDS=0.25\nsomething else\n", ""):
        with pytest.raises(RuntimeError, match="SECONDS"):
            _subproc.printed_seconds(out)


def test_second_fit_script_prints_the_first_fits_extra_seconds(tmp_path):
    rng = np.random.RandomState(0)
    path = tmp_path / "d.npz"
    np.savez(path, X=rng.rand(30, 3), y=np.arange(30) % 2)
    code = _subproc.second_fit_script("sklearn.linear_model", "LogisticRegression",
                                      {"C": 1.0}, str(path))
    seconds, out = _subproc.run_python_output(code, _subproc.child_env(1))
    # a difference of two spans inside a process that took ``seconds``
    assert abs(_subproc.printed_seconds(out)) < seconds


def test_fit_script_can_call_a_method_after_the_fit():
    code = _subproc.fit_script("sknn", "MLPClassifierX", {"max_iter": 5}, "d.npz",
                               then="predict")
    assert code.endswith('.fit(data["X"], data["y"])\nmodel.predict(data["X"])\n')
    assert "model.predict" not in _subproc.fit_script("sknn", "C", {}, "d.npz")


def test_children_import_the_harness_from_the_repository_root():
    """The child processes (numba floor) import ``benchmarks`` and ``sknn``
    from the checkout through PYTHONPATH, from a scratch working directory."""
    root = Path(benchmarks.__file__).resolve().parents[1]
    assert _subproc.REPO_ROOT == root
    assert (_subproc.SKNN_DIR / "__init__.py").is_file()
    code = ("import benchmarks._numba_floor, sknn, os\n"
            f"assert os.path.realpath(sknn.__file__).startswith({str(root)!r})\n"
            f"assert os.getcwd() != {str(root)!r}\n")
    env = _subproc.child_env(1)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(root)
    assert _subproc.run_python(code, env) > 0
