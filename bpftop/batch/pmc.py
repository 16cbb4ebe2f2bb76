"""Batch text and JSON of the pmc collector (pane ``pmc``)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bpftop.batch.common import num
from bpftop.derive.pmc import Figure, PmcRow, PmcView
from bpftop.fmt import fmt_count, fmt_ratio

LEFT = {"USER", "COMMAND", "CPU"}
CLOCK_EVENTS = ("task-clock", "cpu-clock")
# Column labels of the common events; others show their name, upper-cased.
SHORT = {
    "cycles": "CYCLES",
    "cpu-cycles": "CYCLES",
    "instructions": "INSTR",
    "cache-references": "CREF",
    "cache-misses": "CMISS",
    "branches": "BRANCH",
    "branch-misses": "BRMISS",
    "task-clock": "TASKCLK",
    "cpu-clock": "CPUCLK",
    "page-faults": "FAULTS",
    "faults": "FAULTS",
    "context-switches": "CSW",
    "cs": "CSW",
    "cpu-migrations": "MIGR",
    "migrations": "MIGR",
}


def label(name: str, width: int = 10) -> str:
    """A short column label for an event."""
    return SHORT.get(name, name.upper())[:width]


def _figure_json(f: Figure) -> dict[str, Any]:
    return {
        "count": num(f.value, 0),
        "raw": f.raw,
        "per_s": num(f.per_s),
        "running_pct": num(f.running_pct),
        "total": f.total,
    }


def _row_json(view: PmcView, r: PmcRow) -> dict[str, Any]:
    out: dict[str, Any] = (
        {"cpu": r.key}
        if r.is_cpu
        else {
            "pid": r.key,
            "comm": r.comm,
            "user": r.user,
            "cmdline": r.cmdline,
            "kthread": r.kthread,
            "exited": r.exited,
        }
    )
    out |= {
        "events": {e.name: _figure_json(f) for e, f in zip(view.events, r.figures, strict=True)},
        "ipc": num(r.ipc, 3),
        "cache_miss_pct": num(r.miss_pct),
        "on_cpu_pct": num(r.cpu_pct),
        "scaled": r.scaled,
    }
    return out


def json_section(view: PmcView, pane: str | None) -> dict[str, Any]:
    """The ``pmc`` part of a JSON record: what is counted, why, per CPU and per process."""
    return {
        "hardware": view.hardware,
        "notice": view.notice or None,
        "events": [
            {"name": e.name, "type": e.type, "config": e.config, "hardware": e.hardware} for e in view.events
        ],
        "unavailable": [{"name": u.name, "reason": u.reason} for u in view.unavailable],
        "total": _row_json(view, view.total) if view.total else None,
        "cpus": [_row_json(view, c) for c in view.cpus],
        "drops": dict(view.drops),
        "procs": [_row_json(view, p) for p in view.procs],
    }


def fmt_figure(name: str, f: Figure, per_s: bool) -> str:
    """A clock as milliseconds (per second when ``per_s``), any other event as a count or rate.

    A figure scaled for multiplexing is marked ``*``. Before the first
    interval there is no rate: the cumulative count is shown.
    """
    value = f.per_s if per_s and f.per_s is not None else f.value
    if name in CLOCK_EVENTS:
        return "-" if value is None else f"{value / 1e6:.1f}ms"
    mark = "*" if f.running_pct is not None and f.running_pct < 100.0 else ""
    return fmt_count(value) + mark


def headline(view: PmcView) -> list[str]:
    """Why hardware counters are missing (first), what is counted, what is not and why."""
    kind = "hardware" if view.hardware else "software"
    lines = [f"PMC: {view.notice}"] if view.notice else []
    counting = f"PMC: {kind} counters: {', '.join(e.name for e in view.events) or 'none'}"
    by_reason: dict[str, list[str]] = {}
    for u in view.unavailable:
        by_reason.setdefault(u.reason, []).append(u.name)
    # The fallback's reason is already on the first line.
    missing = [", ".join(n) if r in view.notice else f"{', '.join(n)} ({r})" for r, n in by_reason.items()]
    if missing:
        counting += "; not counted: " + "; ".join(missing)
    lines.append(counting)
    if any(r.scaled for r in (*view.cpus, *view.procs)):
        lines.append("PMC: * = scaled for multiplexing (counted part of the time)")
    return lines


def table(view: PmcView, rows: list[PmcRow], per_cpu: bool) -> Table:
    """Per-CPU or per-process rates over the interval (a clock in ms per second)."""
    t = Table(box=None, pad_edge=False, header_style="bold")
    first = ["CPU"] if per_cpu else ["PID", "USER"]
    cols = [*first, *(label(e.name) + "/s" for e in view.events)]
    cols += ["IPC", "MISS%"] if view.hardware else ["CPU%"]
    if not per_cpu:
        cols.append("COMMAND")
    for col in cols:
        # Narrow terminals shorten the command, never the figures.
        width = None if col == "COMMAND" else max(6, len(col))
        t.add_column(col, justify="left" if col in LEFT else "right", no_wrap=True, min_width=width)
    for r in rows:
        cells = [r.comm] if per_cpu else [str(r.key), r.user[:10]]
        cells += [fmt_figure(e.name, f, True) for e, f in zip(view.events, r.figures, strict=True)]
        cells += [fmt_ratio(r.ipc), fmt_ratio(r.miss_pct, 1)] if view.hardware else [fmt_ratio(r.cpu_pct, 1)]
        if not per_cpu:
            cells.append(r.comm + (" [kthread]" if r.kthread else "") + (" (exited)" if r.exited else ""))
        t.add_row(*cells)
    return t


def text_section(view: PmcView, pane: str | None, limit: int) -> list[Any]:
    """Headline, the per-CPU table (with the total) and the per-process table."""
    parts: list[Any] = list(headline(view))
    drops = {k: v for k, v in view.drops.items() if v}
    if drops:
        parts.append("PMC dropped: " + ", ".join(f"{k}={v}" for k, v in drops.items()))
    parts.append(table(view, [*view.cpus, *([view.total] if view.total else [])], per_cpu=True))
    parts.append(table(view, list(view.procs[:limit]), per_cpu=False))
    return parts
