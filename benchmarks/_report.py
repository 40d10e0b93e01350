"""Machine description, result tables (plain and Markdown) and JSON dump."""

import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess

_COLUMNS = ("workload", "implementation", "median s", "per", "spread", "samples/s",
            "GFLOP/s", "ratio", "target", "met", "note")


def _lscpu():
    """``lscpu``'s fields (``{"Model name": ..., "Flags": ...}``), or ``{}``."""
    try:
        proc = subprocess.run(["lscpu"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return {}
    return dict(line.split(":", 1) for line in proc.stdout.splitlines() if ":" in line)


def _cpu_model(fields):
    """``lscpu``'s model name (``fields`` from :func:`_lscpu`), else the platform's."""
    return fields.get("Model name", "").strip() or platform.processor() or "unknown"


def _vector_extension(fields):
    """The CPU's widest x86 vector extension from ``lscpu``'s flags:
    ``"AVX-512"``, ``"AVX2"``, ``"AVX"`` or ``"unknown"``."""
    flags = fields.get("Flags", "").split()
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX")):
        if flag in flags:
            return name
    return "unknown"


#: Environment variables that change which kernels the libraries run, or on
#: how many threads (``OPENBLAS_CORETYPE`` pins OpenBLAS's kernels whatever
#: the CPU can do).
_KERNEL_VARIABLE_PREFIXES = ("OPENBLAS_", "MKL_", "OMP_", "NUMBA_", "KMP_")


def kernel_environment():
    """Return the environment variables that select kernels or threads.

    Returns
    -------
    dict
    """
    return {k: v for k, v in sorted(os.environ.items())
            if k.startswith(_KERNEL_VARIABLE_PREFIXES)}


def machine():
    """Return the CPU model, vector extension, core counts, the current
    1-minute load and the environment variables that select kernels.

    Returns
    -------
    dict
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    fields = _lscpu()
    return {"cpu": _cpu_model(fields), "vector_extension": _vector_extension(fields),
            "cores": os.cpu_count(), "usable_cores": usable,
            "load_average_1min": load, "platform": platform.platform(),
            "environment": kernel_environment()}


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _blas():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    found = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
             for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(found) or "unknown"


def versions():
    """Return the versions of Python and the benchmarked libraries.

    PyTorch is reported ``"absent"`` when it cannot be found, without
    importing it.

    Returns
    -------
    dict
    """
    found = {"python": platform.python_version()}
    for name, dist in (("numpy", "numpy"), ("scipy", "scipy"),
                       ("sklearn", "scikit-learn"), ("numba", "numba")):
        found[name] = _version(dist)
    has_torch = importlib.util.find_spec("torch") is not None
    found["torch"] = _version("torch") if has_torch else "absent"
    found["blas"] = _blas()
    return found


def header_lines(info, found, settings):
    """Return the lines printed above the results.

    Parameters
    ----------
    info : dict
        From :func:`machine`.
    found : dict
        From :func:`versions`.
    settings : dict
        Run settings (threads, rounds, quick, ...).

    Returns
    -------
    list of str
    """
    load = info["load_average_1min"]
    cpu = (f"machine: {info['cpu']} ({info['vector_extension']}), "
           f"{info['cores']} cores ({info['usable_cores']} usable), load average "
           f"{'unknown' if load is None else f'{load:.2f}'}, {info['platform']}")
    env = ", ".join(f"{k}={v}" for k, v in info["environment"].items())
    lines = [cpu,
             "environment: " + (env or "none"),
             "versions: " + ", ".join(f"{k} {v}" for k, v in found.items()),
             "settings: " + ", ".join(f"{k}={v}" for k, v in settings.items())]
    return lines


def _fmt(value, spec):
    return "" if value is None else format(value, spec)


def _shorten(text, width=90):
    """Return ``text`` on one line, cut to ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."


def _spread(row):
    """Return max/min of the rounds, e.g. ``"1.08x"``: the run's noise."""
    if row.median is None or len(row.seconds) < 2 or min(row.seconds) <= 0:
        return ""
    return f"{max(row.seconds) / min(row.seconds):.2f}x"


def _note(row):
    if row.status != "ok":
        return _shorten(row.status)
    parts = ["" if row.limit is None else f"limit {row.limit:.2f}", row.note]
    return "; ".join(p for p in parts if p)


def _cells(row):
    met = {True: "yes", False: "NO", None: ""}[row.met]
    note = _note(row)
    return (row.workload, row.implementation, _fmt(row.median, ".4g"), row.unit,
            _spread(row), _fmt(row.samples_per_s, ",.0f"), _fmt(row.gflops, ".2f"),
            _fmt(row.ratio, ".2f"), row.target, met, note)


def plain_table(rows):
    """Return the results as an aligned text table.

    Parameters
    ----------
    rows : list of Row

    Returns
    -------
    str
    """
    cells = [_COLUMNS] + [_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows):
    """Return the results as a Markdown table.

    Parameters
    ----------
    rows : list of Row

    Returns
    -------
    str
    """
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    aligns = ["---", "---", "---:", "---", "---:", "---:", "---:", "---:", "---", "---",
              "---"]
    return "\n".join([line(_COLUMNS), "|" + "|".join(aligns) + "|"]
                     + [line(_cells(r)) for r in rows])


def summary(rows):
    """Return one line counting targets met, missed and not measurable.

    A missed ratio target whose row's ``limit`` is below the goal is also
    counted as beyond the floor (``reachable`` is False): no implementation
    could meet it in this run.

    Parameters
    ----------
    rows : list of Row

    Returns
    -------
    str
    """
    targeted = [r for r in rows if r.target]
    met = sum(r.met is True for r in targeted)
    missed = [r for r in targeted if r.met is False]
    beyond = sum(r.reachable is False for r in missed)
    return (f"targets: {met} met, {len(missed)} missed ({beyond} beyond the floor's "
            f"limit), {len(targeted) - met - len(missed)} not measurable")


def dump_json(path, header, workloads, rows, elapsed):
    """Write the run's description and every row to ``path``.

    Parameters
    ----------
    path : str
        Output file.
    header : dict
        ``machine``, ``versions`` and ``settings`` of the run.
    workloads : list of Workload
        The workloads run, for their descriptions.
    rows : list of Row
    elapsed : float
        Wall time of the whole run, in seconds.
    """
    document = {**header, "elapsed_seconds": elapsed,
                "load_average_end": machine()["load_average_1min"],
                "workloads": {w.name: w.description for w in workloads},
                "results": [dataclasses.asdict(r) for r in rows]}
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(document, stream, indent=2)
        stream.write("\n")
