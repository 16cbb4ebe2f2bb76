"""What the pmc pane and its batch section both show: event labels, figures and the headline."""

from __future__ import annotations

from bpftop.derive.pmc import Figure, PmcView
from bpftop.fmt import fmt_count

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
