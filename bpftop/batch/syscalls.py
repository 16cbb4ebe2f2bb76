"""Batch text and JSON of the syscalls collector (panes ``procs`` and ``syscalls``).

Its text has no process table: the joined one of ``bpftop.batch.procs`` shows
each process's syscall figures with the other collectors'.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bpftop.batch.common import DEFAULT_ROWS, Rows, hist_json, num
from bpftop.derive.syscalls import SyscallsView
from bpftop.fmt import fmt_rate, format_ns

LEFT = {"TOP ERRNO", "SYSCALL"}
COLUMNS = ("SYSCALL", "CALLS/s", "ERR/s", "AVG", "P50", "P99", "MAX", "TOP ERRNO")
LATENCY = {"AVG", "P50", "P99", "MAX"}
UNTIMED = (
    "Latency: not timed in output of every pane (timing costs each syscall a second program); "
    "--pane syscalls times them"
)


def json_section(view: SyscallsView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> dict[str, Any]:
    """The ``syscalls`` part of a JSON record (``procs`` and/or ``syscalls`` tables)."""
    procs, syscalls = pane in (None, "procs"), pane in (None, "syscalls")
    out: dict[str, Any] = {
        "calls_per_s": num(view.calls_per_s),
        "errors_per_s": num(view.errors_per_s),
        "drops": dict(view.drops),
    }
    if procs:
        shown, out["procs_omitted"] = rows.pick(view.procs, lambda p: p.calls or p.errors)
        out["procs"] = [
            {
                "pid": p.pid,
                "comm": p.comm,
                "user": p.user,
                "cmdline": p.cmdline,
                "syscalls": p.calls,
                "errors": p.errors,
                "syscalls_total": p.calls_total,
                "errors_total": p.errors_total,
                "syscalls_per_s": num(p.calls_per_s),
                "errors_per_s": num(p.errors_per_s),
                "avg_latency_ns": num(p.avg_ns),
                "max_latency_ns": p.max_ns,
                "top_syscall": p.top_syscall,
                "top_errno": p.top_errno,
                "exited": p.exited,
            }
            for p in shown
        ]
    if syscalls:
        out["syscalls"] = [
            {
                "nr": s.nr,
                "name": s.name,
                "calls": s.calls,
                "errors": s.errors,
                "calls_total": s.calls_total,
                "errors_total": s.errors_total,
                "calls_per_s": num(s.calls_per_s),
                "errors_per_s": num(s.errors_per_s),
                "latency_ns": s.latency_ns,
                "avg_latency_ns": num(s.avg_ns),
                "p50_latency_ns": num(s.p50_ns),
                "p99_latency_ns": num(s.p99_ns),
                "max_latency_ns": s.max_ns,
                "errnos": dict(s.errnos),
                "hist_log2_ns": hist_json(s.hist, s.hist_total),
            }
            for s in view.syscalls
        ]
    return out


def text_section(view: SyscallsView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> list[Any]:
    """Summary lines and tables for text output."""
    parts: list[Any] = [f"Syscalls: {fmt_rate(view.calls_per_s)}/s, errors {fmt_rate(view.errors_per_s)}/s"]
    drops = {k: v for k, v in view.drops.items() if v}
    if drops:
        parts.append("Dropped/unmatched: " + ", ".join(f"{k}={v}" for k, v in drops.items()))
    if pane in (None, "syscalls"):
        timed = timed_any(view)
        if not timed and view.syscalls:
            parts.append(UNTIMED)
        columns = COLUMNS if timed else tuple(c for c in COLUMNS if c not in LATENCY)
        t = Table(box=None, pad_edge=False, header_style="bold")
        for col in columns:
            t.add_column(col, justify="left" if col in LEFT else "right", no_wrap=True)
        for row in view.syscalls[: rows.limit]:
            top = f"{row.errnos[0][0]} x{row.errnos[0][1]}" if row.errnos else ""
            latency = (
                (
                    format_ns(row.avg_ns),
                    format_ns(row.p50_ns),
                    format_ns(row.p99_ns),
                    format_ns(row.max_ns),
                )
                if timed
                else ()
            )
            t.add_row(row.name, fmt_rate(row.calls_per_s), fmt_rate(row.errors_per_s), *latency, top)
        parts.append(t)
    return parts


def timed_any(view: SyscallsView) -> bool:
    """Whether any call was ever timed (batch output of every pane counts only; a replay is timed)."""
    return any(any(row.hist_total) for row in view.syscalls)
