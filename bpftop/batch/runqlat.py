"""Batch text and JSON of the runqlat collector (pane ``runqlat``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from bpftop import hist
from bpftop.batch.common import DEFAULT_ROWS, Rows, hist_json, num
from bpftop.derive.runqlat import ProcCpu, RunqlatView, SchedRow, busiest
from bpftop.fmt import fmt_pct, fmt_rate, format_ns

LEFT = {"USER", "COMMAND", "USECS"}
BAR_WIDTH = 30


def _proc_json(p: SchedRow) -> dict[str, Any]:
    return {
        "pid": p.pid,
        "comm": p.comm,
        "user": p.user,
        "cmdline": p.cmdline,
        "kthread": p.kthread,
        "exited": p.exited,
        "on_cpu_pct": num(p.cpu_pct),
        "on_cpu_ns": p.on_cpu_ns,
        "on_cpu_total_ns": p.on_cpu_total_ns,
        "rq_waits": p.rq_count,
        "rq_waits_total": p.rq_count_total,
        "rq_wait_ns": p.rq_wait_ns,
        "rq_avg_ns": num(p.rq_avg_ns),
        "rq_p50_ns": num(p.rq_p50_ns),
        "rq_p99_ns": num(p.rq_p99_ns),
        "rq_max_ns": p.rq_max_ns,
        "rq_max_total_ns": p.rq_max_total_ns,
        "vol_switches": p.vol_switches,
        "invol_switches": p.invol_switches,
        "vol_switches_per_s": num(p.vol_per_s),
        "invol_switches_per_s": num(p.invol_per_s),
        "off_cpu_pct": num(p.off_cpu_pct),
        "off_cpu_blocked_ns": p.off_blocked_ns,
        "off_cpu_preempted_ns": p.off_preempted_ns,
        "hist_log2_us": hist_json(p.hist, unit="us"),
    }


def _active(p: ProcCpu) -> int:
    return p.on_cpu_ns or p.rq_count


def listed(view: RunqlatView, rows: Rows) -> tuple[list[SchedRow], dict[str, int]]:
    """The processes batch output lists, busiest first: only their full rows are built."""
    picked, omitted = rows.pick(busiest(view.cpu), _active)
    return [view.by_pid[p.pid] for p in picked], omitted


def json_section(view: RunqlatView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> dict[str, Any]:
    """The ``runqlat`` part of a JSON record: system figures and the per-process table."""
    s = view.system
    procs, omitted = listed(view, rows)
    return {
        "busy_pct": num(s.busy_pct),
        "idle_pct_per_cpu": [num(p) for p in s.idle_pct],
        "rq_waits": s.rq_count,
        "rq_waits_total": sum(s.hist_total),
        "rq_waits_per_s": num(s.rq_per_s),
        "rq_avg_ns": num(s.rq_avg_ns),
        "rq_p50_ns": num(s.rq_p50_ns),
        "rq_p99_ns": num(s.rq_p99_ns),
        "rq_max_ns": s.rq_max_ns,
        "rq_max_total_ns": s.rq_max_total_ns,
        "hist_log2_us": hist_json(s.hist, s.hist_total, unit="us"),
        "drops": dict(view.drops),
        "procs": [_proc_json(p) for p in procs],
        "procs_omitted": omitted,
    }


def hist_table(slots: Sequence[int]) -> Table:
    """A runqlat-style text histogram: usecs range, count, bar."""
    t = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("USECS", "COUNT", "DISTRIBUTION"):
        t.add_column(col, justify="left" if col in LEFT or col == "DISTRIBUTION" else "right", no_wrap=True)
    used = [i for i, n in enumerate(slots) if n]
    peak = max(slots, default=0)
    for slot in range(used[0], used[-1] + 1) if used else ():
        low, high = hist.slot_bounds(slot)
        bar = "*" * round(BAR_WIDTH * slots[slot] / peak) if peak else ""
        t.add_row(f"{low} -> {high - 1}", str(slots[slot]), f"|{bar:<{BAR_WIDTH}}|")
    return t


def text_section(view: RunqlatView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> list[Any]:
    """Summary lines, the system histogram and the per-process table."""
    s = view.system
    idle = " ".join(fmt_pct(p) for p in s.idle_pct)
    parts: list[Any] = [
        f"CPU: busy {fmt_pct(s.busy_pct)}% (100% = one CPU), idle per CPU: {idle}",
        f"Run queue: {fmt_rate(s.rq_per_s)} waits/s, avg {format_ns(s.rq_avg_ns)}, "
        f"p50 {format_ns(s.rq_p50_ns)}, p99 {format_ns(s.rq_p99_ns)}, "
        f"max {format_ns(s.rq_max_ns)}",
    ]
    drops = {k: v for k, v in view.drops.items() if v}
    if drops:
        parts.append("Dropped/unmatched: " + ", ".join(f"{k}={v}" for k, v in drops.items()))
    if any(s.hist):
        parts.append(hist_table(s.hist))
    t = Table(box=None, pad_edge=False, header_style="bold")
    columns = ("PID", "USER", "CPU%", "RQ AVG", "RQ P99", "RQ MAX", "VOL/s", "INVOL/s", "OFF-CPU%", "COMMAND")
    for col in columns:
        # Narrow terminals shorten the command, never the figures.
        width = None if col == "COMMAND" else max(len(col), 6)
        t.add_column(col, justify="left" if col in LEFT else "right", no_wrap=True, min_width=width)
    for p in listed(view, rows)[0]:
        t.add_row(
            str(p.pid),
            p.user[:10],
            fmt_pct(p.cpu_pct),
            format_ns(p.rq_avg_ns),
            format_ns(p.rq_p99_ns),
            format_ns(p.rq_max_ns),
            fmt_rate(p.vol_per_s),
            fmt_rate(p.invol_per_s),
            fmt_pct(p.off_cpu_pct),
            p.comm + (" [kthread]" if p.kthread else "") + (" (exited)" if p.exited else ""),
        )
    parts.append(t)
    return parts
