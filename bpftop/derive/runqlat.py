"""On-CPU %, run-queue wait percentiles and context-switch rates of the runqlat collector.

Percentages are of one CPU over the interval: a process with two threads
spinning shows 200% on-CPU, and off-CPU % likewise counts each thread. Off-CPU
time is accounted when the thread runs again (as ``offcputime`` does), so a
thread back from a 5 s sleep adds 500% to one interval. Histogram slots are
log2 of microseconds; percentiles are returned in ns.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate
from typing import ClassVar, NamedTuple

from bpftop import hist
from bpftop.collectors.base import tuple_maker
from bpftop.collectors.runqlat import ProcSched, RunqlatSample
from bpftop.derive import LazyRows, counter_delta, rate
from bpftop.frame import ProcMeta

US = 1000  # ns per histogram unit


class SchedRow(NamedTuple):
    """One process over the interval (cumulative counts on the first frame)."""

    pid: int
    comm: str
    user: str
    cmdline: str
    kthread: bool
    exited: bool
    cpu_pct: float | None  # on-CPU, 100 = one CPU for the whole interval
    on_cpu_ns: int
    rq_count: int
    rq_wait_ns: int
    rq_avg_ns: float | None
    rq_p50_ns: float | None
    rq_p99_ns: float | None
    rq_max_ns: int | None  # interval maximum, to within one log2 slot (see wait_max_ns)
    rq_max_total_ns: int  # since bpftop started
    vol_per_s: float | None
    invol_per_s: float | None
    vol_switches: int
    invol_switches: int
    off_cpu_pct: float | None
    off_blocked_ns: int
    off_preempted_ns: int
    hist: tuple[int, ...]  # interval, log2(us); () without a kernel histogram
    on_cpu_total_ns: int
    rq_count_total: int


class ProcCpu(NamedTuple):
    """One process's on-CPU and run-queue figures without histograms: what the procs pane joins."""

    pid: int
    comm: str
    user: str
    cmdline: str
    exited: bool
    cpu_pct: float | None
    on_cpu_ns: int
    on_cpu_total_ns: int
    rq_count: int
    rq_count_total: int
    rq_avg_ns: float | None


class SystemSched(NamedTuple):
    """All processes together, and the CPUs' idle time."""

    rq_count: int
    rq_per_s: float | None
    rq_avg_ns: float | None
    rq_p50_ns: float | None
    rq_p99_ns: float | None
    rq_max_ns: int | None
    rq_max_total_ns: int
    hist: tuple[int, ...]
    hist_total: tuple[int, ...]
    idle_pct: tuple[float | None, ...]  # per CPU
    busy_pct: float | None  # all CPUs, 100 = one CPU


def busiest(cpu: Mapping[int, ProcCpu]) -> list[ProcCpu]:
    """The processes most on-CPU first (then by pid): the runqlat table's order."""
    return sorted(cpu.values(), key=lambda c: (-c.on_cpu_ns, c.pid))


@dataclass(frozen=True)
class RunqlatView:
    """Everything the runqlat pane, the procs pane's CPU columns and batch output show.

    ``cpu`` is derived with the view; each process's full row when first
    looked up in ``by_pid`` (all of them by ``procs``).
    """

    # Fields derived from the sample's DETAIL tables (see bpftop.derive.derive).
    DETAIL: ClassVar[tuple[str, ...]] = ("cpu", "by_pid")

    system: SystemSched
    cpu: Mapping[int, ProcCpu]  # the processes of ``procs``, lean
    by_pid: Mapping[int, SchedRow]  # full rows, each built when first looked up (LazyRows)
    drops: Mapping[str, int] = field(default_factory=dict)

    @cached_property
    def procs(self) -> tuple[SchedRow, ...]:
        """Every shown process's full row, most on-CPU time first."""
        rows = self.by_pid
        return tuple(rows[c.pid] for c in busiest(self.cpu))


def wait_max_ns(cur_max: int, prev_max: int | None, slots: Sequence[int]) -> int | None:
    """The longest wait of an interval, from a cumulative maximum and the interval's histogram.

    Exact when the cumulative maximum rose during the interval; otherwise the
    top of the highest non-empty slot, capped at the cumulative maximum (an
    upper bound within one log2 slot). None when the interval had no wait.
    """
    if prev_max is None or cur_max > prev_max:
        return cur_max
    total = sum(slots)
    if not total:
        return None
    top = bisect_left(list(accumulate(slots)), total)  # the highest non-empty slot, in C
    return min(hist.slot_bounds(top)[1] * US, cur_max)


def _pct(ns: int, interval_s: float | None) -> float | None:
    return None if not interval_s else 100.0 * ns / (interval_s * 1e9)


def _p50_p99_ns(slots: Sequence[int], cap_ns: int) -> tuple[float | None, float | None]:
    if not any(slots):  # most processes wait rarely: skip the scan
        return None, None
    p50, p99 = hist.percentiles(slots, (50, 99))
    # Interpolation inside a log2 slot can overshoot the true maximum.
    return (
        None if p50 is None else min(p50 * US, float(cap_ns)),
        None if p99 is None else min(p99 * US, float(cap_ns)),
    )


def _row(cur: ProcSched, prev: ProcSched | None, interval_s: float | None, meta: ProcMeta) -> SchedRow:
    if prev is not None and (
        cur.rq_count < prev.rq_count
        or cur.on_cpu_ns < prev.on_cpu_ns
        or cur.vol_switches + cur.invol_switches < prev.vol_switches + prev.invol_switches
    ):
        prev = None  # evicted and re-created: all its counters restarted
    if prev is None:
        on_cpu, count, wait = cur.on_cpu_ns, cur.rq_count, cur.rq_wait_ns
        vol, invol = cur.vol_switches, cur.invol_switches
        blocked, preempted = cur.off_blocked_ns, cur.off_preempted_ns
    else:
        # counter_delta, inlined (this runs per process per tick); on-CPU time
        # and the wait count were checked above not to go down.
        on_cpu, count = cur.on_cpu_ns - prev.on_cpu_ns, cur.rq_count - prev.rq_count
        wait = cur.rq_wait_ns - prev.rq_wait_ns if cur.rq_wait_ns >= prev.rq_wait_ns else cur.rq_wait_ns
        vol = (
            cur.vol_switches - prev.vol_switches
            if cur.vol_switches >= prev.vol_switches
            else cur.vol_switches
        )
        invol = (
            cur.invol_switches - prev.invol_switches
            if cur.invol_switches >= prev.invol_switches
            else cur.invol_switches
        )
        blocked = (
            cur.off_blocked_ns - prev.off_blocked_ns
            if cur.off_blocked_ns >= prev.off_blocked_ns
            else cur.off_blocked_ns
        )
        preempted = (
            cur.off_preempted_ns - prev.off_preempted_ns
            if cur.off_preempted_ns >= prev.off_preempted_ns
            else cur.off_preempted_ns
        )
    slots = hist.delta(cur.hist, prev.hist if prev and prev.hist else None) if cur.hist else ()
    max_ns = wait_max_ns(cur.rq_max_ns, prev.rq_max_ns if prev else None, slots) if count else None
    p50_ns, p99_ns = _p50_p99_ns(slots, cur.rq_max_ns)
    return SchedRow(
        pid=cur.pid,
        comm=meta.name or cur.comm,
        user=meta.user,
        cmdline=meta.cmdline,
        kthread=cur.kthread,
        exited=meta.exited,
        cpu_pct=_pct(on_cpu, interval_s),
        on_cpu_ns=on_cpu,
        rq_count=count,
        rq_wait_ns=wait,
        rq_avg_ns=wait / count if count else None,
        rq_p50_ns=p50_ns,
        rq_p99_ns=p99_ns,
        rq_max_ns=max_ns,
        rq_max_total_ns=cur.rq_max_ns,
        vol_per_s=rate(vol, interval_s),
        invol_per_s=rate(invol, interval_s),
        vol_switches=vol,
        invol_switches=invol,
        off_cpu_pct=_pct(blocked + preempted, interval_s),
        off_blocked_ns=blocked,
        off_preempted_ns=preempted,
        hist=slots,
        on_cpu_total_ns=cur.on_cpu_ns,
        rq_count_total=cur.rq_count,
    )


def _system(prev: RunqlatSample | None, cur: RunqlatSample, interval_s: float | None) -> SystemSched:
    count = counter_delta(cur.rq_count, prev.rq_count if prev else None)
    wait = counter_delta(cur.rq_wait_ns, prev.rq_wait_ns if prev else None)
    slots = hist.delta(cur.hist, prev.hist if prev else None)
    p50_ns, p99_ns = _p50_p99_ns(slots, cur.rq_max_ns)
    idle_pct: tuple[float | None, ...] = tuple(None for _ in cur.idle_ns)
    busy = None
    if prev is not None and interval_s and len(prev.idle_ns) == len(cur.idle_ns):
        # A CPU with no switch seen yet has an unknown state: neither idle nor
        # busy. Nor is the interval in which its first switch came: the idle
        # time before that switch was never counted.
        known = cur.running_tids or tuple(0 for _ in cur.idle_ns)
        was = prev.running_tids if len(prev.running_tids) == len(known) else tuple(0 for _ in known)
        idle_pct = tuple(
            None if min(tid, before) < 0 else min(100.0, 100.0 * counter_delta(c, p) / (interval_s * 1e9))
            for c, p, tid, before in zip(cur.idle_ns, prev.idle_ns, known, was, strict=True)
        )
        busy = sum(100.0 - pct for pct in idle_pct if pct is not None)
    return SystemSched(
        rq_count=count,
        rq_per_s=rate(count, interval_s),
        rq_avg_ns=wait / count if count else None,
        rq_p50_ns=p50_ns,
        rq_p99_ns=p99_ns,
        rq_max_ns=wait_max_ns(cur.rq_max_ns, prev.rq_max_ns if prev else None, slots) if count else None,
        rq_max_total_ns=cur.rq_max_ns,
        hist=slots,
        hist_total=cur.hist,
        idle_pct=idle_pct,
        busy_pct=busy,
    )


_NEW_CPU = tuple_maker(ProcCpu)


def _cpu(
    cur: Sequence[ProcSched],
    before: Mapping[int, ProcSched],
    interval_s: float | None,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None,
) -> dict[int, ProcCpu]:
    """Each shown process's lean figures: those ``--comm`` matches, exited ones only if active.

    The same deltas as ``_row`` (a counter that went down: the entry was
    evicted and re-created, so all of it counts), on plain numbers: this
    runs for every process each refresh.
    """
    out: dict[int, ProcCpu] = {}
    new = _NEW_CPU
    no_meta = ProcMeta(pid=0)
    for c in cur:
        pid = c.pid
        meta = procs.get(pid) or no_meta
        comm = meta.name or c.comm
        if comm_re and not comm_re.search(comm):
            continue
        p = before.get(pid)
        switches = c.vol_switches + c.invol_switches
        if (
            p is None
            or c.rq_count < p.rq_count
            or c.on_cpu_ns < p.on_cpu_ns
            or (switches < p.vol_switches + p.invol_switches)
        ):
            on_cpu, count, wait = c.on_cpu_ns, c.rq_count, c.rq_wait_ns
        else:
            on_cpu, count = c.on_cpu_ns - p.on_cpu_ns, c.rq_count - p.rq_count
            wait = c.rq_wait_ns - p.rq_wait_ns if c.rq_wait_ns >= p.rq_wait_ns else c.rq_wait_ns
            switches -= p.vol_switches + p.invol_switches
        if meta.exited and not (on_cpu or count or switches):
            continue
        out[pid] = new((
            pid, comm, meta.user, meta.cmdline, meta.exited,
            None if not interval_s else 100.0 * on_cpu / (interval_s * 1e9),
            on_cpu, c.on_cpu_ns, count, c.rq_count, wait / count if count else None,
        ))  # fmt: skip
    return out


def derive_runqlat(
    prev: RunqlatSample | None,
    cur: RunqlatSample,
    interval_s: float | None,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None = None,
) -> RunqlatView:
    """Derive the runqlat view from two samples (``prev`` None on the first tick)."""
    before = {p.pid: p for p in prev.procs} if prev else {}
    cpu = _cpu(cur.procs, before, interval_s, procs, comm_re)
    # The sample's processes by pid, made with the first full row (the procs
    # pane makes none); whole before it is seen, so a second thread finds it complete.
    now: list[dict[int, ProcSched]] = []

    def build(pid: int) -> SchedRow:
        if not now:
            now.append({p.pid: p for p in cur.procs})
        return _row(now[0][pid], before.get(pid), interval_s, procs.get(pid) or ProcMeta(pid=pid))

    return RunqlatView(
        system=_system(prev, cur, interval_s),
        cpu=cpu,
        by_pid=LazyRows(cpu, build),
        drops={
            "unmatched": cur.unmatched,
            "lost_tasks": cur.lost_tasks,
            "evicted_procs": cur.evicted_procs,
            "lost_procs": cur.lost_procs,
            "evicted_hists": cur.evicted_hists,
            "lost_hists": cur.lost_hists,
            "recovered": cur.recovered,
        },
    )


derive_view = derive_runqlat
