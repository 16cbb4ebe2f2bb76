"""Batch text and JSON of the pmc collector (pane ``pmc``)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bpftop.batch.common import DEFAULT_ROWS, Rows, num
from bpftop.derive.pmc import Figure, PmcRow, PmcView
from bpftop.display.pmc import fmt_figure, headline, label
from bpftop.fmt import fmt_ratio

LEFT = {"USER", "COMMAND", "CPU"}


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


def listed(view: PmcView, rows: Rows) -> tuple[list[PmcRow], dict[str, int]]:
    """The processes batch output lists, in the view's order: only their rows are built."""
    picked, omitted = rows.pick(view.order, view.active.__contains__)
    return [view.by_pid[pid] for pid in picked], omitted


def json_section(view: PmcView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> dict[str, Any]:
    """The ``pmc`` part of a JSON record: what is counted, why, per CPU and per process."""
    procs, omitted = listed(view, rows)
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
        "procs": [_row_json(view, p) for p in procs],
        "procs_omitted": omitted,
    }


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


def text_section(view: PmcView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> list[Any]:
    """Headline, the per-CPU table (with the total) and the per-process table."""
    parts: list[Any] = list(headline(view))
    drops = {k: v for k, v in view.drops.items() if v}
    if drops:
        parts.append("PMC dropped: " + ", ".join(f"{k}={v}" for k, v in drops.items()))
    parts.append(table(view, [*view.cpus, *([view.total] if view.total else [])], per_cpu=True))
    parts.append(table(view, listed(view, rows)[0], per_cpu=False))
    return parts
