"""Non-interactive output: text tables like ``top -b``, or one JSON object per interval.

JSON keys carry their units (``_ns``, ``_per_s``, ``_bytes``); each figure comes
as the interval's raw count, its rate, and the cumulative count since attach.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from bpftop import hist
from bpftop.derive import Derived
from bpftop.derive.syscalls import SyscallsView


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _hist_json(interval: tuple[int, ...], total: tuple[int, ...]) -> list[dict[str, int | None]]:
    out: list[dict[str, int | None]] = []
    last = len(total) - 1
    for slot, count_total in enumerate(total):
        if not count_total:
            continue
        low, high = hist.slot_bounds(slot)
        out.append(
            {
                "slot": slot,
                "low_ns": low,
                "high_ns": None if slot == last else high,
                "count": interval[slot],
                "count_total": count_total,
            }
        )
    return out


def syscalls_json(view: SyscallsView, procs: bool = True, syscalls: bool = True) -> dict[str, Any]:
    """The syscalls part of a JSON record."""
    out: dict[str, Any] = {
        "calls_per_s": _r(view.calls_per_s),
        "errors_per_s": _r(view.errors_per_s),
        "drops": dict(view.drops),
    }
    if procs:
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
                "syscalls_per_s": _r(p.calls_per_s),
                "errors_per_s": _r(p.errors_per_s),
                "avg_latency_ns": _r(p.avg_ns),
                "max_latency_ns": p.max_ns,
                "top_syscall": p.top_syscall,
                "top_errno": p.top_errno,
                "exited": p.exited,
            }
            for p in view.procs
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
                "calls_per_s": _r(s.calls_per_s),
                "errors_per_s": _r(s.errors_per_s),
                "latency_ns": s.latency_ns,
                "avg_latency_ns": _r(s.avg_ns),
                "p50_latency_ns": _r(s.p50_ns),
                "p99_latency_ns": _r(s.p99_ns),
                "max_latency_ns": s.max_ns,
                "errnos": dict(s.errnos),
                "hist_log2_ns": _hist_json(s.hist, s.hist_total),
            }
            for s in view.syscalls
        ]
    return out


def to_json(d: Derived, pane: str | None) -> dict[str, Any]:
    """One JSON record for an interval."""
    record: dict[str, Any] = {
        "time": datetime.fromtimestamp(d.wall, timezone.utc).isoformat(timespec="milliseconds"),
        "interval_s": _r(d.interval_s, 3),
        "host": {"hostname": d.host.hostname, "kernel": d.host.kernel, "machine": d.host.machine},
        "collectors": [{"name": s.name, "ok": s.ok, "method": s.method, "error": s.error} for s in d.status],
    }
    view = d.views.get("syscalls")
    if view is not None:
        record["syscalls"] = syscalls_json(
            view, procs=pane in (None, "procs"), syscalls=pane in (None, "syscalls")
        )
    return record


def _fmt_rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def text_tables(d: Derived, pane: str | None, limit: int = 20) -> list[Any]:
    """Renderables for one interval: a summary line then the pane tables."""
    when = datetime.fromtimestamp(d.wall).strftime("%H:%M:%S")
    interval = f"{d.interval_s:.2f}s" if d.interval_s else "-"
    parts: list[Any] = [f"bpftop - {when} {d.host.hostname} {d.host.kernel}, interval {interval}"]
    for st in d.status:
        if not st.ok:
            parts.append(f"{st.name}: not loaded: {st.error}" + (f" ({st.hint})" if st.hint else ""))
    view: SyscallsView | None = d.views.get("syscalls")
    if view is None:
        return parts
    parts.append(f"Syscalls: {_fmt_rate(view.calls_per_s)}/s, errors {_fmt_rate(view.errors_per_s)}/s")
    drops = {k: v for k, v in view.drops.items() if v}
    if drops:
        parts.append("Dropped/unmatched: " + ", ".join(f"{k}={v}" for k, v in drops.items()))
    if pane in (None, "procs"):
        t = Table(box=None, pad_edge=False, header_style="bold")
        for col, just in (
            ("PID", "right"),
            ("USER", "left"),
            ("SYSC/s", "right"),
            ("ERR/s", "right"),
            ("TOP SYSCALL", "left"),
            ("AVG LAT", "right"),
            ("TOP ERRNO", "left"),
            ("COMMAND", "left"),
        ):
            t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
        for p in view.procs[:limit]:
            t.add_row(
                str(p.pid),
                p.user[:10],
                _fmt_rate(p.calls_per_s),
                _fmt_rate(p.errors_per_s),
                p.top_syscall,
                hist.format_ns(p.avg_ns),
                p.top_errno,
                p.comm + (" (exited)" if p.exited else ""),
            )
        parts.append(t)
    if pane in (None, "syscalls"):
        t = Table(box=None, pad_edge=False, header_style="bold")
        for col in ("SYSCALL", "CALLS/s", "ERR/s", "AVG", "P50", "P99", "MAX", "TOP ERRNO"):
            t.add_column(col, justify="left" if col in ("SYSCALL", "TOP ERRNO") else "right", no_wrap=True)
        for row in view.syscalls[:limit]:
            top = f"{row.errnos[0][0]} x{row.errnos[0][1]}" if row.errnos else ""
            t.add_row(
                row.name,
                _fmt_rate(row.calls_per_s),
                _fmt_rate(row.errors_per_s),
                hist.format_ns(row.avg_ns),
                hist.format_ns(row.p50_ns),
                hist.format_ns(row.p99_ns),
                hist.format_ns(row.max_ns),
                top,
            )
        parts.append(t)
    return parts


def run_batch(
    source: Any,
    *,
    iterations: int,
    delay_s: float,
    pane: str | None,
    as_json: bool,
    comm: str = "",
    out: TextIO | None = None,
) -> None:
    """Print ``iterations`` intervals of ``delay_s`` from ``source`` (an Engine or a replay)."""
    from bpftop.derive import derive

    console = Console(file=out, soft_wrap=False, width=None if out is None else 160)
    prev = source.tick()
    next_at = time.monotonic()
    for _ in range(iterations):
        next_at += delay_s
        time.sleep(max(0.0, next_at - time.monotonic()))
        cur = source.tick()
        d = derive(prev, cur, comm)
        prev = cur
        if as_json:
            line = json.dumps(to_json(d, pane), separators=(",", ":"))
            if out is None:
                print(line, flush=True)
            else:
                out.write(line + "\n")
        else:
            for part in text_tables(d, pane):
                console.print(part)
            console.print()
