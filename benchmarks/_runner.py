"""Round-robin execution of a workload and the statistics of its rows."""

import statistics
import time
from dataclasses import dataclass, field

from ._config import SETTLE_SECONDS
from ._peers import note
from ._types import Unavailable


@dataclass
class Row:
    """One implementation's result on one workload.

    Attributes
    ----------
    workload : str
    implementation : str
    unit : str
        What one measurement covers (``"epoch"``, ``"call"``, ...).
    seconds : list of float
        One measurement per completed round, in round order.
    status : str
        ``"ok"``, or why there is no result (``"torch not installed"``...).
    median : float or None
        Median of ``seconds``.
    samples_per_s, gflops : float or None
        Throughput derived from the median.
    ratio : float or None
        ``median / reference median`` (e.g. sklearn/sknn), same rounds.
    target : str
        The goal as text, empty when there is none.
    met : bool or None
        Whether the goal is met; None when it cannot be told.
    limit : float or None
        For a ratio goal: this implementation's median over the workload's
        floor's median, the ratio an implementation running at the floor
        would reach (see :attr:`~._types.Workload.floor`).  A goal above it
        cannot be met in this run.
    reachable : bool or None
        Whether ``limit`` meets the goal; None without a limit.
    note : str
        The implementation's own note (e.g. ``"kernels 27"``), or ``""``.
    """

    workload: str
    implementation: str
    unit: str
    seconds: list = field(default_factory=list)
    status: str = "ok"
    median: float | None = None
    samples_per_s: float | None = None
    gflops: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    limit: float | None = None
    reachable: bool | None = None
    note: str = ""


def _prepare_all(workload):
    """Prepare every implementation; return timers and failure statuses."""
    timers, statuses = {}, {}
    for impl in workload.implementations:
        note(f"  {impl.name}: preparing (data, warm-up)")
        try:
            timers[impl.name] = impl.prepare()
        except Unavailable as exc:
            statuses[impl.name] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a broken peer must not stop the suite
            statuses[impl.name] = f"failed in warm-up: {type(exc).__name__}: {exc}"
        if impl.name in statuses:
            note(f"  {impl.name}: {statuses[impl.name]}")
    return timers, statuses


def _run_rounds(workload, timers, statuses, rounds):
    """Run the timers round-robin; return each one's measurements."""
    seconds = {name: [] for name in timers}
    for index in range(rounds):
        for name in list(timers):
            time.sleep(SETTLE_SECONDS)
            try:
                value = timers[name]()
            except Exception as exc:  # noqa: BLE001
                statuses[name] = f"failed: {type(exc).__name__}: {exc}"
                del timers[name]
                note(f"  round {index + 1}/{rounds} {name}: {statuses[name]}")
                continue
            seconds[name].append(value)
            note(f"  round {index + 1}/{rounds} {name}: {value:.4g} s/{workload.unit}")
    return seconds


def _row(workload, impl, seconds, status, reference_median, floor_median):
    name = impl.name
    row = Row(workload.name, name, workload.unit, list(seconds), status)
    if impl.note is not None:
        row.note = impl.note()
    target = workload.target_for(name)
    if target is not None:
        row.target = target.describe(workload.reference)
    if status != "ok" or not seconds:
        return row
    row.median = statistics.median(seconds)
    if workload.samples_per_unit:
        row.samples_per_s = workload.samples_per_unit / row.median
    if workload.flops_per_unit:
        row.gflops = workload.flops_per_unit / row.median / 1e9
    if reference_median and name != workload.reference:
        row.ratio = row.median / reference_median
    if target is not None:
        row.met = target.is_met(row.median, row.ratio)
        if target.min_ratio is not None and floor_median and name != workload.floor:
            row.limit = row.median / floor_median
            row.reachable = row.limit >= target.min_ratio
    return row


def _median_of(name, seconds, statuses):
    found = seconds.get(name)
    return statistics.median(found) if found and name not in statuses else None


def run_workload(workload, rounds):
    """Prepare, warm up and time every implementation of ``workload``.

    Implementations run interleaved, A B C A B C ..., for ``rounds`` rounds,
    so that load changes on a shared machine hit every side alike.

    Parameters
    ----------
    workload : Workload
    rounds : int

    Returns
    -------
    list of Row
        One row per implementation, in the workload's order.
    """
    note(f"[{workload.name}] {workload.description}")
    timers, statuses = _prepare_all(workload)
    seconds = _run_rounds(workload, timers, statuses, rounds)
    ref_median = _median_of(workload.reference, seconds, statuses)
    floor_median = _median_of(workload.floor, seconds, statuses)
    return [_row(workload, impl, seconds.get(impl.name, []),
                 statuses.get(impl.name, "ok"), ref_median, floor_median)
            for impl in workload.implementations]
