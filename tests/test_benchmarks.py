"""The benchmark suite's arithmetic: ratios, targets and the floor's limit.

No timing here: the implementations return fixed seconds, so every figure
the report prints can be checked by hand.
"""

import itertools

import numpy as np
import pytest

from sknn.benchmarks import _runner
from sknn.benchmarks._flops import batch_sizes
from sknn.benchmarks._peers import GemmEpoch
from sknn.benchmarks._report import markdown_table, summary
from sknn.benchmarks._types import Implementation, Target, Unavailable, Workload


def _fixed(name, values):
    """An implementation whose rounds return ``values`` in turn."""
    def prepare():
        return itertools.cycle(values).__next__
    return Implementation(name, prepare)


def _unavailable(name):
    def prepare():
        raise Unavailable("not installed here")
    return Implementation(name, prepare)


def _run(monkeypatch, impls, targets, floor="gemm-floor"):
    monkeypatch.setattr(_runner, "SETTLE_SECONDS", 0)
    workload = Workload("w", "test workload", "epoch", tuple(impls), tuple(targets),
                        floor=floor)
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
    from sknn.benchmarks import _numba_floor
    from sknn.benchmarks._subproc import numba_floor_script

    X = np.arange(12.0).reshape(4, 3)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=np.zeros(4))
    assert _numba_floor.run(str(path), (3, 2), 3, 2) == X.sum()
    code = numba_floor_script(str(path), [3, 2], 3, 2)
    assert "import sknn\n" in code and f"run({str(path)!r}, (3, 2), 3, 2)" in code


def test_header_names_the_variables_that_pin_kernels(monkeypatch):
    """A table measured with OpenBLAS pinned to some kernels says so: the
    variable changes every OpenBLAS user's speed, whatever the CPU can do."""
    from sknn.benchmarks import _report

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
    from sknn.benchmarks import _report

    info = {**_report.machine(), "load_average_1min": 0.3662109375}
    assert ", load average 0.37, " in _report.header_lines(info, {}, {})[0]
    info["load_average_1min"] = None  # no os.getloadavg (Windows)
    assert ", load average unknown, " in _report.header_lines(info, {}, {})[0]
