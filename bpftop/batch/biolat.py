"""Batch text and JSON of the biolat collector (pane ``biolat``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from bpftop import hist
from bpftop.batch.common import DEFAULT_ROWS, Rows, hist_json, num
from bpftop.derive.biolat import BiolatView, DiskOpRow, ProcIORow, TimeStats
from bpftop.fmt import fmt_mb, fmt_rate, fmt_ratio, format_ns

LEFT = {"DISK", "OP", "COMMAND", "USECS"}
BAR_WIDTH = 30


def _times_json(t: TimeStats) -> dict[str, Any]:
    return {
        "avg_ns": num(t.avg_ns),
        "p50_ns": num(t.p50_ns),
        "p90_ns": num(t.p90_ns),
        "p99_ns": num(t.p99_ns),
        "max_ns": t.max_ns,
        "hist_log2_us": hist_json(t.hist, t.hist_total, unit="us"),
    }


def _op_json(r: DiskOpRow) -> dict[str, Any]:
    return {
        "disk": r.disk,
        "op": r.op,
        "ios": r.ios,
        "ios_total": r.ios_total,
        "sync_ios": r.sync_ios,
        "bytes": r.bytes,
        "bytes_total": r.bytes_total,
        "ios_per_s": num(r.iops),
        "bytes_per_s": num(r.bytes_per_s),
        "total_time": _times_json(r.total),
        "queue_time": _times_json(r.queue),
        "device_time": _times_json(r.device),
    }


def _submitter(p: ProcIORow) -> str:
    """Who the row's I/Os are charged to: a kernel thread here means the block layer's own work.

    Flushes and asynchronous queue runs are issued by kblockd kworkers, not
    by the process whose writes caused them (docs/architecture.md): said in
    the JSON so no one hunts the wrong process.
    """
    if not p.kthread:
        return "process"
    return "kworker (flush machinery)" if p.op == "flush" else "kernel thread (asynchronous queue run)"


def _active(p: ProcIORow) -> int:
    return p.ios


def json_section(view: BiolatView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> dict[str, Any]:
    """The ``biolat`` part of a JSON record: disks, (disk, op) histograms, processes."""
    procs, omitted = rows.pick(view.procs, _active)
    return {
        "attribution": view.attribution,
        "in_flight": view.in_flight,
        "drops": dict(view.drops),
        "events": dict(view.events),
        "disks": [
            {
                "disk": d.disk,
                "ios": d.ios,
                "bytes": d.bytes,
                "read_bytes": d.read_bytes,
                "write_bytes": d.write_bytes,
                "ios_total": d.ios_total,
                "bytes_total": d.bytes_total,
                "ios_per_s": num(d.iops),
                "bytes_per_s": num(d.bytes_per_s),
                "avg_latency_ns": num(d.avg_ns),
                "queue_depth": num(d.queue_depth, 2),
            }
            for d in view.disks
        ],
        "ops": [_op_json(r) for r in view.disk_ops],
        "procs": [
            {
                "pid": p.pid,
                "comm": p.comm,
                "user": p.user,
                "disk": p.disk,
                "op": p.op,
                "ios": p.ios,
                "ios_total": p.ios_total,
                "bytes": p.bytes,
                "bytes_total": p.bytes_total,
                "ios_per_s": num(p.iops),
                "bytes_per_s": num(p.bytes_per_s),
                "avg_latency_ns": num(p.avg_ns),
                "exited": p.exited,
                "submitter": _submitter(p),
            }
            for p in procs
        ],
        "procs_omitted": omitted,
    }


def _table(*columns: str) -> Table:
    t = Table(box=None, pad_edge=False, header_style="bold")
    for col in columns:
        t.add_column(col, justify="left" if col in LEFT else "right", no_wrap=True)
    return t


def text_histogram(slots: Sequence[int]) -> Table:
    """A log2(us) histogram as ``biolatency`` prints it: range, count, bar."""
    t = _table("USECS", "COUNT", "SHARE", "DISTRIBUTION")
    used = [i for i, n in enumerate(slots) if n]
    total, top = sum(slots), max(slots, default=0)
    for slot in range(used[0], used[-1] + 1) if used else ():
        low, high = hist.slot_bounds(slot)
        bar = "*" * round(BAR_WIDTH * slots[slot] / top) if top else ""
        share = f"{100 * slots[slot] / total:.1f}%"
        t.add_row(f"{low} -> {high - 1}", str(slots[slot]), share, f"|{bar:<{BAR_WIDTH}}|")
    return t


def text_section(view: BiolatView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> list[Any]:
    """Per-disk and per-operation tables, their histograms, and the process table."""
    limit = rows.limit
    parts: list[Any] = [f"Block I/O: {view.in_flight} in flight; submitter from {view.attribution}"]
    drops = {k: v for k, v in view.drops.items() if v}
    if drops:
        parts.append("Dropped/unmatched: " + ", ".join(f"{k}={v}" for k, v in drops.items()))
    t = _table("DISK", "IO/s", "MB/s", "READ MB", "WRITE MB", "AVG", "QUEUE DEPTH")
    for d in view.disks[:limit]:
        depth = fmt_ratio(d.queue_depth)
        t.add_row(
            d.disk,
            fmt_rate(d.iops),
            fmt_mb(d.bytes_per_s),
            fmt_mb(d.read_bytes),
            fmt_mb(d.write_bytes),
            format_ns(d.avg_ns),
            depth,
        )
    parts.append(t)
    t = _table("DISK", "OP", "IOS", "IO/s", "MB/s", "AVG", "P50", "P90", "P99", "MAX", "QUEUE", "DEVICE")
    for r in view.disk_ops[:limit]:
        t.add_row(
            r.disk,
            r.op,
            str(r.ios),
            fmt_rate(r.iops),
            fmt_mb(r.bytes_per_s),
            *(format_ns(v) for v in (r.total.avg_ns, r.total.p50_ns, r.total.p90_ns, r.total.p99_ns)),
            format_ns(r.total.max_ns),
            format_ns(r.queue.avg_ns),
            format_ns(r.device.avg_ns),
        )
    parts.append(t)
    for r in view.disk_ops[:limit]:
        if r.ios:
            parts.append(f"{r.disk} {r.op}: total time (insert -> complete), {r.ios} I/Os")
            parts.append(text_histogram(r.total.hist))
    t = _table("PID", "COMMAND", "DISK", "OP", "I/O", "KBYTES", "AVG")
    for p in rows.pick(view.procs, _active)[0]:
        t.add_row(
            str(p.pid),
            p.comm + (" (exited)" if p.exited else ""),
            p.disk,
            p.op,
            str(p.ios),
            f"{p.bytes / 1024:.0f}",
            format_ns(p.avg_ns),
        )
    parts.append(t)
    return parts
