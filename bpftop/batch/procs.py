"""Batch text and JSON of the procs pane: every collector's per-process figures joined by pid.

Not a collector's section (it reads the whole ``Derived``, not one view), so
``bpftop.batch`` calls it after the collectors' sections. The syscalls
section's own ``procs`` list stays as it was for existing consumers.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bpftop.batch.common import DEFAULT_ROWS, Rows, num
from bpftop.derive import Derived
from bpftop.derive.procs import ProcsRow, proc_rows
from bpftop.derive.runqlat import RunqlatView
from bpftop.display import procs as display

PANES = ("procs",)
# The pane's columns (bpftop.display.procs) by key, in top's order, plus disk
# I/Os a second; the syscalls view's details are in the syscalls section.
# Batch widths are its own: one cell between columns, so 80 cells (a pipe's
# width) leave the command 20; narrower terminals shorten the command, never
# the figures.
COLUMNS = (
    *("pid", "user", "cpu", "rq", "calls", "errors"),
    *("disk", "disk_ios", "io_lat", "net", "ipc", "command"),
)
MIN_WIDTHS = {"pid": 7, "user": 4, "calls": 7, "disk_ios": 6, "command": 12}
MAX_WIDTHS = {"user": 10}  # cut, as top cuts user names
_BY_KEY = {c.key: c for c in (*display.COLUMNS, display.DISK_IOS)}


def _proc_json(p: ProcsRow, sched: RunqlatView | None) -> dict[str, Any]:
    full = sched.by_pid.get(p.pid) if sched is not None else None  # the procs pane has no p99
    return {
        "pid": p.pid,
        "comm": p.comm,
        "user": p.user,
        "cmdline": p.cmdline,
        "exited": p.exited,
        "cpu_percent": num(p.cpu_pct),
        "on_cpu_ns": p.on_cpu_ns,
        "on_cpu_total_ns": p.on_cpu_total_ns,
        "runq_waits": p.rq_waits,
        "runq_waits_total": p.rq_waits_total,
        "runq_wait_avg_ns": num(p.rq_avg_ns),
        "runq_wait_p99_ns": num(full.rq_p99_ns if full is not None else None),
        "syscalls": p.calls,
        "syscalls_total": p.calls_total,
        "syscalls_per_s": num(p.calls_per_s),
        "errors": p.errors,
        "errors_total": p.errors_total,
        "errors_per_s": num(p.errors_per_s),
        "syscall_avg_latency_ns": num(p.avg_ns),
        "top_syscall": p.top_syscall,
        "top_errno": p.top_errno,
        "disk_bytes": p.disk_bytes,
        "disk_bytes_total": p.disk_bytes_total,
        "disk_bytes_per_s": num(p.disk_bytes_per_s),
        "disk_ios": p.disk_ios,
        "disk_ios_total": p.disk_ios_total,
        "disk_ios_per_s": num(p.disk_ios_per_s),
        "disk_avg_latency_ns": num(p.disk_avg_ns),
        "ipc": num(p.ipc, 3),  # null without hardware counters (pmc)
        "tcp_sent_bytes": p.net_sent_bytes,
        "tcp_recv_bytes": p.net_recv_bytes,
        "tcp_sent_bytes_per_s": num(p.net_sent_per_s),
        "tcp_recv_bytes_per_s": num(p.net_recv_per_s),
        "tcp_retrans": p.net_retrans,
    }


def _order(p: ProcsRow) -> tuple[float, float, float, int]:
    """Like the pane: CPU %, then syscalls, then disk bytes (interval counts), busiest first."""
    return (-(p.cpu_pct or 0.0), -p.calls, -p.disk_bytes, p.pid)


def _rows(d: Derived) -> list[ProcsRow] | None:
    """The joined rows, busiest first; None when no per-process collector runs."""
    joined = proc_rows(d)
    return None if joined is None else sorted(joined, key=_order)


def _active(p: ProcsRow) -> int:
    """Whether anything happened to the process in the interval: on a CPU, in a syscall, on disk or TCP."""
    return (
        p.on_cpu_ns or p.rq_waits or p.calls or p.errors or p.disk_ios
        or p.net_sent_bytes or p.net_recv_bytes or p.net_retrans
    )  # fmt: skip


def json_section(d: Derived, rows: Rows = DEFAULT_ROWS) -> tuple[list[dict[str, Any]], dict[str, int]] | None:
    """The top-level ``procs`` list of a JSON record and its ``procs_omitted`` counts."""
    joined = _rows(d)
    if joined is None:
        return None
    sched: RunqlatView | None = d.view("runqlat")
    listed, omitted = rows.pick(joined, _active)
    return [_proc_json(p, sched) for p in listed], omitted


def text_section(d: Derived, rows: Rows = DEFAULT_ROWS) -> list[Any]:
    """The joined process table."""
    joined = _rows(d)
    if joined is None:
        return []
    listed, omitted = rows.pick(joined, _active)
    t = Table(box=None, pad_edge=False, header_style="bold", padding=(0, 1), collapse_padding=True)
    ipc = any(p.ipc is not None for p in listed)  # only with hardware counters (pmc)
    columns = [_BY_KEY[key] for key in COLUMNS if key != "ipc" or ipc]
    for col in columns:
        t.add_column(
            col.label,
            justify="right" if col.numeric else "left",
            no_wrap=True,
            min_width=MIN_WIDTHS.get(col.key, len(col.label)),
            max_width=MAX_WIDTHS.get(col.key),
            overflow="crop" if col.key in MAX_WIDTHS else "ellipsis",
        )
    for p in listed:
        t.add_row(*(col.text(p) for col in columns))
    idle = f", {omitted['idle']} idle not listed" if omitted["idle"] else ""
    return [f"Processes: {len(joined)}{idle}", t]
