"""Side-by-side speed benchmarks of sknn against its peers.

Run every workload from the repository root with::

    python -m benchmarks            # full suite, 5 rounds (~8 minutes)
    python -m benchmarks --quick    # tiny sizes, 1 round (smoke test)
    python -m benchmarks --only digits --markdown

This directory is not part of the installed ``sknn`` package: it sits next
to ``sknn/`` in the source checkout, and run from the repository root it
times that checkout's ``sknn``.  The speed targets it checks are data, one
reason each, in ``benchmarks/targets.json``.

Each workload times sknn and its peers (scikit-learn, PyTorch when it is
installed, and a "GEMM floor" made of the epoch's matrix products alone)
round-robin, so that a noisy machine slows every implementation alike, and
reports the median of the rounds, achieved GFLOP/s and the ratio of each
peer's median to sknn's median (for the cold-compile and cold-precompile
rows, sknn's to scikit-learn's; for first-fit-extra, sknn's to Numba's own
start) against the project's targets.

This package is the project's only code that measures speed; it imports
neither PyTorch nor the estimators until a workload needs them, and an
implementation that cannot be imported yields a "not available" row instead
of stopping the suite.
"""

__all__ = ["main"]


def main(argv=None):
    """Run the benchmark command line; see :func:`benchmarks._cli.main`.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments without the program name; ``sys.argv[1:]``
        when omitted.

    Returns
    -------
    int
        The process exit status.
    """
    from ._cli import main as _main

    return _main(argv)
