"""Side-by-side speed benchmarks of sknn against its peers.

Run every workload with::

    python -m sknn.benchmarks            # full suite, 5 rounds (~6 minutes)
    python -m sknn.benchmarks --quick    # tiny sizes, 1 round (smoke test)
    python -m sknn.benchmarks --only digits --markdown

Each workload times sknn and its peers (scikit-learn, PyTorch when it is
installed, and a "GEMM floor" made of the epoch's matrix products alone)
round-robin, so that a noisy machine slows every implementation alike, and
reports the median of the rounds, achieved GFLOP/s and the ratio of each
peer's median to sknn's median against the project's target.

This package is the only place in sknn that measures speed; it imports
neither PyTorch nor the estimators until a workload needs them, and an
implementation that cannot be imported yields a "not available" row instead
of stopping the suite.
"""

__all__ = ["main"]


def main(argv=None):
    """Run the benchmark command line; see :func:`sknn.benchmarks._cli.main`.

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
