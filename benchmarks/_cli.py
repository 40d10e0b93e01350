"""Command line of ``python -m benchmarks``."""

import argparse
import sys
import time
import warnings

from ._config import DEFAULT_ROUNDS, FULL, QUICK, Config
from ._report import (
    dump_json,
    header_lines,
    machine,
    markdown_table,
    plain_table,
    summary,
    versions,
)
from ._runner import run_workload
from ._workloads import build_workloads


def parse_args(argv):
    """Parse the command line.

    Parameters
    ----------
    argv : list of str or None

    Returns
    -------
    argparse.Namespace
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time sknn side by side with scikit-learn, PyTorch and the "
                    "GEMM floor, round-robin, and check the speed targets.")
    parser.add_argument("--rounds", type=int, default=None,
                        help="round-robin rounds per workload "
                             "(default 5, 1 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 1 round: a smoke test")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run the workloads whose name contains NAME (repeatable)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads of every implementation (default 2)")
    parser.add_argument("--json", metavar="PATH", help="write the results to PATH")
    parser.add_argument("--markdown", action="store_true",
                        help="print the table as Markdown")
    parser.add_argument("--list", action="store_true",
                        help="list the workloads and their targets, and exit")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else DEFAULT_ROUNDS
    if args.rounds < 1 or args.threads < 1:
        parser.error("--rounds and --threads must be at least 1")
    return args


def select(workloads, patterns):
    """Return the workloads whose name contains any of ``patterns``.

    Parameters
    ----------
    workloads : list of Workload
    patterns : list of str or None
        None selects everything.

    Returns
    -------
    list of Workload
    """
    if not patterns:
        return workloads
    return [w for w in workloads if any(p in w.name for p in patterns)]


def _run(workloads, threads, rounds):
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    rows = []
    with warnings.catch_warnings(), threadpool_limits(limits=threads, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for workload in workloads:
            rows += run_workload(workload, rounds)
    return rows


def _load_torch_first():
    """Import PyTorch (when installed) before sknn, as a user timing both would.

    PyTorch loads its own OpenMP runtime; importing it first gives it the
    process as it would have on its own, so nothing sknn loads can slow it.
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        pass


def _precompile(threads):
    """Fill Numba's cache with every kernel and task, as ``sknn-precompile``
    does and the performance page advises before timing or deploying:
    small work uses the parallel tasks only once they are compiled, so an
    unfilled cache would make the speed rows depend on what ran before.
    The cold-compile rows use caches of their own.  Returns the seconds."""
    import subprocess

    from ._subproc import child_env

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sknn._precompile"], env=child_env(threads),
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None):
    """Run the selected workloads and print the report.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        0, or 2 when ``--only`` selects nothing.
    """
    args = parse_args(argv)
    _load_torch_first()
    cfg = Config(sizes=QUICK if args.quick else FULL, threads=args.threads,
                 rounds=args.rounds)
    workloads = select(build_workloads(cfg), args.only)
    if args.list or not workloads:
        for workload in build_workloads(cfg):
            print(f"{workload.name:24s} {workload.description}")
            for target in workload.targets:
                print(f"{'':24s}   target {target.describe(workload.reference)}: "
                      f"{target.reason}")
        return 0 if args.list else 2
    settings = {"threads": cfg.threads, "rounds": cfg.rounds, "quick": args.quick,
                "only": ",".join(args.only or []) or "all",
                "precompiled": "no" if args.quick else f"{_precompile(cfg.threads):.0f} s"}
    header = {"machine": machine(), "versions": versions(), "settings": settings}
    lines = header_lines(header["machine"], header["versions"], settings)
    print("\n".join(f"- {h}" if args.markdown else h for h in lines), flush=True)
    start = time.perf_counter()
    rows = _run(workloads, cfg.threads, cfg.rounds)
    elapsed = time.perf_counter() - start
    print()
    print(markdown_table(rows) if args.markdown else plain_table(rows))
    print()
    print(f"{summary(rows)}; total {elapsed:.1f} s")
    if args.json:
        dump_json(args.json, header, workloads, rows, elapsed)
    sys.stdout.flush()
    return 0
