"""The description of a workload: its implementations and targets."""

from collections.abc import Callable
from dataclasses import dataclass, field

#: ``prepare()`` builds data and models, warms the implementation up and
#: returns ``timed()``, which runs one measurement and returns its seconds
#: per unit (per epoch, per call, ...).
Timed = Callable[[], float]
Prepare = Callable[[], Timed]


class Unavailable(Exception):
    """Raised by ``prepare`` when an implementation cannot run here.

    The message is printed in the implementation's row, e.g.
    ``"torch not installed"``.
    """


@dataclass(frozen=True)
class Implementation:
    """One side of a workload.

    Attributes
    ----------
    name : str
        Row label: ``"sknn"``, ``"sklearn"``, ``"torch"``, ``"gemm-floor"``.
    prepare : callable
        Called once before the rounds; returns the timed callable or raises
        :class:`Unavailable`.
    note : callable, optional
        Called after the rounds; returns text for the row's note column
        (e.g. ``"kernels 27"``), or ``""``.
    """

    name: str
    prepare: Prepare
    note: Callable[[], str] | None = None


@dataclass(frozen=True)
class Target:
    """A speed goal of one implementation.

    Exactly one of ``min_ratio``, ``max_ratio`` and ``max_seconds`` is set.
    The project's targets are read from ``targets.json``
    (:mod:`._targets`).

    Attributes
    ----------
    implementation : str
        Name of the implementation the target applies to.
    min_ratio : float, optional
        The implementation's median divided by the reference's (sknn's)
        median must be at least this; e.g. 2.5 means sknn is 2.5x faster.
    max_ratio : float, optional
        The implementation's median divided by the reference's median must
        be at most this; e.g. on a workload whose reference is
        ``"sklearn"``, ``Target("sknn", max_ratio=3)`` means sknn takes at
        most 3x scikit-learn's time.
    max_seconds : float, optional
        The implementation's median must be at most this many seconds.
    reason : str, default=""
        Why the target is what it is (one line, from ``targets.json``).
    """

    implementation: str
    min_ratio: float | None = None
    max_seconds: float | None = None
    max_ratio: float | None = None
    reason: str = ""

    def __post_init__(self):
        bounds = (self.min_ratio, self.max_ratio, self.max_seconds)
        if sum(b is not None for b in bounds) != 1:
            raise ValueError(f"target of {self.implementation!r}: set exactly one of "
                             f"min_ratio, max_ratio and max_seconds")

    def describe(self, reference):
        """Return the target as table text, e.g. ``"sklearn/sknn >= 2.50"``.

        Parameters
        ----------
        reference : str
            Name of the workload's reference implementation.

        Returns
        -------
        str
        """
        if self.max_seconds is not None:
            return f"<= {self.max_seconds:g} s"
        if self.max_ratio is not None:
            return f"{self.implementation}/{reference} <= {self.max_ratio:.2f}"
        return f"{self.implementation}/{reference} >= {self.min_ratio:.2f}"

    def is_met(self, median, ratio):
        """Return whether the target is met, or None when it cannot be told.

        Parameters
        ----------
        median : float or None
            The implementation's median seconds.
        ratio : float or None
            The implementation's median over the reference's median.

        Returns
        -------
        bool or None
        """
        if self.max_seconds is not None:
            return None if median is None else median <= self.max_seconds
        if ratio is None:
            return None
        if self.max_ratio is not None:
            return ratio <= self.max_ratio
        return ratio >= self.min_ratio


@dataclass(frozen=True)
class Workload:
    """A benchmark: what is measured, on which implementations, to what goal.

    Attributes
    ----------
    name : str
        Short identifier, matched by ``--only``.
    description : str
        One line shown above the workload's progress output.
    unit : str
        What one timed measurement covers: ``"epoch"``, ``"call"``, ...
    implementations : tuple of Implementation
        Run round-robin in this order.
    targets : tuple of Target
        Goals checked in the report.
    samples_per_unit : float, optional
        Samples processed per unit, for the samples/s column.
    flops_per_unit : float, optional
        Analytic flops per unit, for the GFLOP/s column.
    reference : str, default="sknn"
        Implementation whose median is the denominator of every ratio
        (``"sklearn"`` for the cold-compile workloads, whose target bounds
        sknn's time from above).
    floor : str, optional
        Implementation that times only what no implementation can avoid (the
        epoch's matrix products, Numba's start-up).  A peer's median over the
        floor's is the best ratio any implementation could reach against that
        peer in the same rounds: the report prints it as the row's ``limit``.
    """

    name: str
    description: str
    unit: str
    implementations: tuple
    targets: tuple = field(default=())
    samples_per_unit: float | None = None
    flops_per_unit: float | None = None
    reference: str = "sknn"
    floor: str | None = None

    def target_for(self, implementation):
        """Return the :class:`Target` of ``implementation`` or None."""
        for target in self.targets:
            if target.implementation == implementation:
                return target
        return None
