"""The project's speed targets, read from ``targets.json`` beside this file.

The targets are data, not code: each workload's entry maps an
implementation's name to one bound (``min_ratio``, ``max_ratio`` or
``max_seconds``, see :class:`~._types.Target`) and a one-line ``reason``.
The workload definitions (:mod:`._workloads`) look their targets up by
workload name.  JSON, not TOML, so that Python 3.10 (no ``tomllib``) reads
it without a third-party parser.
"""

import functools
import json
from pathlib import Path

from ._types import Target

#: The file of the project's targets.
TARGETS_FILE = Path(__file__).with_name("targets.json")

_BOUNDS = ("min_ratio", "max_ratio", "max_seconds")


def _target(where, implementation, entry):
    """Return the :class:`Target` of one entry, or raise ``ValueError``."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object, got {entry!r}")
    unknown = set(entry) - {*_BOUNDS, "reason"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    bounds = {k: entry[k] for k in _BOUNDS if k in entry}
    if len(bounds) != 1:
        raise ValueError(f"{where}: set exactly one of {', '.join(_BOUNDS)}")
    (kind, value), = bounds.items()
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{where}: {kind} must be a positive number, got {value!r}")
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"{where}: a target needs a non-empty 'reason'")
    return Target(implementation, **{kind: float(value)}, reason=reason.strip())


def parse_targets(document):
    """Return ``{workload name: tuple of Target}`` from a parsed targets file.

    Parameters
    ----------
    document : dict
        ``{"workloads": {workload: {implementation: {bound: value,
        "reason": text}}}}``; other top-level keys (``"about"``) are ignored.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        When an entry is malformed (no or several bounds, a bound that is
        not a positive number, no reason, an unknown key).
    """
    workloads = document.get("workloads") if isinstance(document, dict) else None
    if not isinstance(workloads, dict):
        raise ValueError("targets: expected a 'workloads' object")
    parsed = {}
    for workload, entries in workloads.items():
        if not isinstance(entries, dict):
            raise ValueError(f"targets of {workload!r}: expected an object")
        parsed[workload] = tuple(
            _target(f"target of {implementation!r} on {workload!r}", implementation, entry)
            for implementation, entry in entries.items())
    return parsed


@functools.cache
def load_targets(path=TARGETS_FILE):
    """Read and check the targets file (once per process).

    Parameters
    ----------
    path : path-like, default=TARGETS_FILE

    Returns
    -------
    dict
        ``{workload name: tuple of Target}``.
    """
    with open(path, encoding="utf-8") as stream:
        return parse_targets(json.load(stream))


def targets_for(workload):
    """Return the targets of the workload named ``workload`` (maybe empty).

    Parameters
    ----------
    workload : str

    Returns
    -------
    tuple of Target
    """
    return load_targets().get(workload, ())
