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
    """

    name: str
    prepare: Prepare


@dataclass(frozen=True)
class Target:
    """A speed goal of one implementation.

    Exactly one of ``min_ratio`` and ``max_seconds`` is set.

    Attributes
    ----------
    implementation : str
        Name of the implementation the target applies to.
    min_ratio : float, optional
        The implementation's median divided by the reference's (sknn's)
        median must be at least this; e.g. 2.5 means sknn is 2.5x faster.
    max_seconds : float, optional
        The implementation's median must be at most this many seconds.
    """

    implementation: str
    min_ratio: float | None = None
    max_seconds: float | None = None

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
        return None if ratio is None else ratio >= self.min_ratio


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
        Implementation whose median is the denominator of every ratio.
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
