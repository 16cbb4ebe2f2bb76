"""IOPS, throughput, latency percentiles and per-process I/O of the biolat collector.

Rows are per (disk, operation); the sync flag is folded into the row and kept
as ``sync_ios``. Histogram slots are log2 of microseconds; every time in the
model is in ns. Queue depth is the average number of requests in flight over
the interval (Little's law: summed total latency / interval, like iostat's
``aqu-sz``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

from bpftop import hist
from bpftop.collectors.biolat import TIMES, BiolatSample, DiskOpTotals, ProcIO, op_name, split_dev
from bpftop.derive import counter_delta, rate
from bpftop.frame import ProcMeta

US = 1000  # ns per histogram unit


class TimeStats(NamedTuple):
    """One of total/queue/device time of a (disk, op) over the interval."""

    avg_ns: float | None
    p50_ns: float | None
    p90_ns: float | None
    p99_ns: float | None
    max_ns: int  # since bpftop started: a cumulative maximum has no interval form
    hist: tuple[int, ...]  # interval, log2(us)
    hist_total: tuple[int, ...]  # cumulative


class DiskOpRow(NamedTuple):
    """One (disk, operation) over the interval (cumulative counts on the first frame)."""

    disk: str  # /sys/block name, or "major:minor" when unknown
    dev: int
    op: str
    ios: int
    bytes: int
    sync_ios: int
    ios_total: int
    bytes_total: int
    iops: float | None
    bytes_per_s: float | None
    total: TimeStats  # insert -> complete
    queue: TimeStats  # insert -> issue
    device: TimeStats  # issue -> complete

    def times(self, which: str) -> TimeStats:
        """``total``, ``queue`` or ``device``."""
        return {"total": self.total, "queue": self.queue, "device": self.device}[which]


class DiskRow(NamedTuple):
    """One disk, all operations, over the interval."""

    disk: str
    dev: int
    ios: int
    bytes: int
    read_bytes: int
    write_bytes: int
    ios_total: int
    bytes_total: int
    iops: float | None
    bytes_per_s: float | None
    avg_ns: float | None  # total time
    queue_depth: float | None  # average requests in flight


KTHREADD_PID = 2  # the parent of every kernel thread

class ProcIORow(NamedTuple):
    """One (process, disk, operation) over the interval, as biotop shows it."""

    pid: int
    comm: str
    user: str
    disk: str
    op: str
    ios: int
    bytes: int
    ios_total: int
    bytes_total: int
    iops: float | None
    bytes_per_s: float | None
    avg_ns: float | None
    exited: bool
    kthread: bool = False  # a kernel thread (kthreadd's child): a kworker running the queue or a flush


class ProcDisk(NamedTuple):
    """One process, all its disks, for the procs pane's disk columns."""

    pid: int
    ios: int
    bytes: int
    bytes_per_s: float | None
    read_bytes_per_s: float | None
    write_bytes_per_s: float | None
    avg_ns: float | None


@dataclass(frozen=True)
class BiolatView:
    """Everything the biolat pane, the procs pane's disk columns and batch output show."""

    # Fields derived from the sample's DETAIL tables (see bpftop.derive.derive).
    DETAIL: ClassVar[tuple[str, ...]] = ("procs", "by_pid")

    disk_ops: tuple[DiskOpRow, ...]
    disks: tuple[DiskRow, ...]
    procs: tuple[ProcIORow, ...]
    by_pid: Mapping[int, ProcDisk]
    attribution: str
    in_flight: int
    drops: Mapping[str, int] = field(default_factory=dict)  # cumulative losses
    events: Mapping[str, int] = field(default_factory=dict)  # cumulative, not losses


def disk_label(dev: int, name: str) -> str:
    """The disk's name, or ``major:minor`` when /sys did not know it."""
    return name or "{}:{}".format(*split_dev(dev))


def _sum_hists(rows: Iterable[tuple[int, ...]]) -> tuple[int, ...]:
    return tuple(map(sum, zip(*rows, strict=True)))


def _time_stats(cur: list[DiskOpTotals], prev: list[DiskOpTotals], t: int, ios: int) -> TimeStats:
    before = {(d.dev, d.op, d.sync): d for d in prev}
    slots, sum_ns = [], 0
    for d in cur:
        p = before.get((d.dev, d.op, d.sync))
        slots.append(hist.delta(d.hists[t], p.hists[t] if p else None))
        sum_ns += counter_delta(d.sum_ns[t], p.sum_ns[t] if p else None)
    interval = _sum_hists(slots)
    max_ns = max(d.max_ns[t] for d in cur)

    def pct(q: float) -> float | None:
        us = hist.percentile(interval, q)
        # Interpolation inside a log2 slot can overshoot the true maximum.
        return None if us is None else min(us * US, float(max_ns))

    return TimeStats(
        avg_ns=sum_ns / ios if ios else None,
        p50_ns=pct(50),
        p90_ns=pct(90),
        p99_ns=pct(99),
        max_ns=max_ns,
        hist=interval,
        hist_total=_sum_hists(d.hists[t] for d in cur),
    )


def _disk_op_rows(
    cur: BiolatSample, prev: BiolatSample | None, interval_s: float | None
) -> tuple[tuple[DiskOpRow, ...], dict[int, float]]:
    """Rows per (disk, op), and each disk's summed total latency in the interval."""
    groups: dict[tuple[int, int], list[DiskOpTotals]] = defaultdict(list)
    for d in cur.disks:
        groups[(d.dev, d.op)].append(d)
    before: dict[tuple[int, int], list[DiskOpTotals]] = defaultdict(list)
    for d in prev.disks if prev else ():
        before[(d.dev, d.op)].append(d)
    rows: list[DiskOpRow] = []
    latency: dict[int, float] = defaultdict(float)
    for (dev, op), group in groups.items():
        old = {(d.sync): d for d in before.get((dev, op), [])}
        ios = nbytes = sync_ios = 0
        for d in group:
            p = old.get(d.sync)
            n = counter_delta(d.ios, p.ios if p else None)
            ios += n
            nbytes += counter_delta(d.bytes, p.bytes if p else None)
            sync_ios += n if d.sync else 0
        times = [_time_stats(group, before.get((dev, op), []), t, ios) for t in range(len(TIMES))]
        if times[0].avg_ns is not None:
            latency[dev] += times[0].avg_ns * ios
        rows.append(
            DiskOpRow(
                disk=disk_label(dev, group[0].disk),
                dev=dev,
                op=op_name(op),
                ios=ios,
                bytes=nbytes,
                sync_ios=sync_ios,
                ios_total=sum(d.ios for d in group),
                bytes_total=sum(d.bytes for d in group),
                iops=rate(ios, interval_s),
                bytes_per_s=rate(nbytes, interval_s),
                total=times[0],
                queue=times[1],
                device=times[2],
            )
        )
    rows.sort(key=lambda r: (r.disk, -r.ios_total, r.op))
    return tuple(rows), latency


def _disk_rows(
    ops: tuple[DiskOpRow, ...], latency: Mapping[int, float], interval_s: float | None
) -> tuple[DiskRow, ...]:
    by_dev: dict[int, list[DiskOpRow]] = defaultdict(list)
    for r in ops:
        by_dev[r.dev].append(r)
    rows = []
    for dev, group in by_dev.items():
        ios = sum(r.ios for r in group)
        nbytes = sum(r.bytes for r in group)
        rows.append(
            DiskRow(
                disk=group[0].disk,
                dev=dev,
                ios=ios,
                bytes=nbytes,
                read_bytes=sum(r.bytes for r in group if r.op == "read"),
                write_bytes=sum(r.bytes for r in group if r.op == "write"),
                ios_total=sum(r.ios_total for r in group),
                bytes_total=sum(r.bytes_total for r in group),
                iops=rate(ios, interval_s),
                bytes_per_s=rate(nbytes, interval_s),
                avg_ns=latency.get(dev, 0.0) / ios if ios else None,
                queue_depth=latency.get(dev, 0.0) / (interval_s * 1e9) if interval_s else None,
            )
        )
    return tuple(sorted(rows, key=lambda r: (-r.ios, r.disk)))


def _proc_rows(
    cur: tuple[ProcIO, ...],
    prev: tuple[ProcIO, ...] | None,
    interval_s: float | None,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None,
) -> tuple[ProcIORow, ...]:
    before = {(p.pid, p.dev, p.op): p for p in prev or ()}
    rows = []
    for p in cur:
        meta = procs.get(p.pid)
        comm = meta.name if meta and meta.name else p.comm
        if comm_re and not comm_re.search(comm):
            continue
        old = before.get((p.pid, p.dev, p.op))
        ios = counter_delta(p.ios, old.ios if old else None)
        if meta is not None and meta.exited and not ios:
            continue
        nbytes = counter_delta(p.bytes, old.bytes if old else None)
        total_ns = counter_delta(p.total_ns, old.total_ns if old else None)
        rows.append(
            ProcIORow(
                pid=p.pid,
                comm=comm,
                user=meta.user if meta else "",
                disk=disk_label(p.dev, p.disk),
                op=op_name(p.op),
                ios=ios,
                bytes=nbytes,
                ios_total=p.ios,
                bytes_total=p.bytes,
                iops=rate(ios, interval_s),
                bytes_per_s=rate(nbytes, interval_s),
                avg_ns=total_ns / ios if ios else None,
                exited=bool(meta and meta.exited),
                # Only the kernel makes kthreadd's children; a name can say anything.
                kthread=bool(meta and meta.ppid == KTHREADD_PID),
            )
        )
    rows.sort(key=lambda r: (-r.bytes, -r.ios, r.pid))
    return tuple(rows)


def _by_pid(rows: tuple[ProcIORow, ...], interval_s: float | None) -> dict[int, ProcDisk]:
    acc: dict[int, list[ProcIORow]] = defaultdict(list)
    for r in rows:
        acc[r.pid].append(r)
    out = {}
    for pid, group in acc.items():
        ios = sum(r.ios for r in group)
        latency = sum(r.avg_ns * r.ios for r in group if r.avg_ns is not None)
        out[pid] = ProcDisk(
            pid=pid,
            ios=ios,
            bytes=sum(r.bytes for r in group),
            bytes_per_s=rate(sum(r.bytes for r in group), interval_s),
            read_bytes_per_s=rate(sum(r.bytes for r in group if r.op == "read"), interval_s),
            write_bytes_per_s=rate(sum(r.bytes for r in group if r.op == "write"), interval_s),
            avg_ns=latency / ios if ios else None,
        )
    return out


def derive_biolat(
    prev: BiolatSample | None,
    cur: BiolatSample,
    interval_s: float | None,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None = None,
) -> BiolatView:
    """Derive the biolat view from two samples (``prev`` None on the first tick)."""
    ops, latency = _disk_op_rows(cur, prev, interval_s)
    proc_rows = _proc_rows(cur.procs, prev.procs if prev else None, interval_s, procs, comm_re)
    return BiolatView(
        disk_ops=ops,
        disks=_disk_rows(ops, latency, interval_s),
        procs=proc_rows,
        by_pid=_by_pid(proc_rows, interval_s),
        attribution=cur.attribution,
        in_flight=cur.in_flight,
        drops={
            "unmatched": cur.unmatched,
            "stale_starts": cur.stale_starts,
            "evicted_starts": cur.evicted_starts,
            "failed_starts": cur.failed_starts,
            "lost_disks": cur.lost_disks,
            "evicted_procs": cur.evicted_procs,
            "lost_procs": cur.lost_procs,
            "missed_runs": cur.missed_runs,
        },
        events={"unissued": cur.unissued, "requeues": cur.requeues, "merges": cur.merges},
    )


derive_view = derive_biolat
