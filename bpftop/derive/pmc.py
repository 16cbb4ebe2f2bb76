"""Interval counts, multiplexing scaling, IPC and cache miss ratio of the pmc collector.

A PMU has a few counters; when more events are asked for, the kernel rotates
them and each counts only part of the time. ``perf stat`` then reports
``count * time_enabled / time_running``; so does this module, over the
interval (deltas of all three), and says how much of the time the event
actually ran (``running_pct``; 100 = no scaling).

IPC is instructions / cycles and the miss ratio cache-misses /
cache-references, each from the scaled interval counts of the same row, when
both events are counted. A clock event (task-clock, cpu-clock) gives on-CPU %:
per process its time on a CPU, per CPU the time not spent in the idle task.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, NamedTuple

from bpftop.collectors.pmc import CpuCounts, PmcEvent, PmcSample, ProcCounts, Unavailable
from bpftop.derive import LazyRows
from bpftop.frame import ProcMeta

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
CYCLES, INSTRUCTIONS, CACHE_REFERENCES, CACHE_MISSES = 0, 1, 2, 3
CLOCKS = (0, 1)  # PERF_COUNT_SW_CPU_CLOCK, PERF_COUNT_SW_TASK_CLOCK: nanoseconds


class Figure(NamedTuple):
    """One event over the interval (cumulative on the first frame)."""

    value: float | None  # scaled for multiplexing; None: the event never ran
    raw: int  # what the counter moved
    per_s: float | None
    running_pct: float | None  # time counting / time enabled; None without times
    total: int  # raw, since the events were opened


class PmcRow(NamedTuple):
    """A process or a CPU over the interval."""

    key: int  # pid, or CPU number
    is_cpu: bool
    comm: str
    user: str
    cmdline: str
    kthread: bool
    exited: bool
    figures: tuple[Figure, ...]  # in PmcView.events order
    ipc: float | None
    miss_pct: float | None
    cpu_pct: float | None  # from a clock event; 100 = one CPU for the whole interval
    running_pct: float | None  # the least of the figures'; < 100: scaled

    @property
    def scaled(self) -> bool:
        """Some figure was scaled for multiplexing."""
        return self.running_pct is not None and self.running_pct < 100.0


@dataclass(frozen=True)
class PmcView:
    """What the pmc pane, batch output and the procs IPC column show.

    ``order`` and ``active`` are derived with the view; each process's row
    when first looked up in ``by_pid`` (all of them by ``procs``).
    """

    # Fields derived from the sample's DETAIL tables (see bpftop.derive.derive).
    DETAIL: ClassVar[tuple[str, ...]] = ("order", "active", "by_pid")

    events: tuple[PmcEvent, ...]
    hardware: bool
    notice: str
    unavailable: tuple[Unavailable, ...]
    cpus: tuple[PmcRow, ...]
    order: tuple[int, ...]  # the shown processes, most of the first event first (then by pid)
    active: frozenset[int]  # those with a count in the interval
    by_pid: Mapping[int, PmcRow]  # built when first looked up (LazyRows)
    total: PmcRow | None  # all CPUs together
    drops: Mapping[str, int] = field(default_factory=dict)

    @cached_property
    def procs(self) -> tuple[PmcRow, ...]:
        """Every shown process's row, in ``order``."""
        rows = self.by_pid
        return tuple(rows[pid] for pid in self.order)

    def index_of(self, type_: int, config: int) -> int | None:
        """Position of an event in the figures, None if not counted."""
        return next((i for i, e in enumerate(self.events) if (e.type, e.config) == (type_, config)), None)


def scale(count: int, enabled_ns: int, running_ns: int) -> tuple[float | None, float | None]:
    """(scaled count, running %) for one interval, as ``perf stat`` scales.

    No times (both 0): the count as is. Enabled but never running: unknown.
    """
    if enabled_ns <= 0:
        return float(count), None
    if running_ns <= 0:
        return None, 0.0
    if running_ns >= enabled_ns:
        return float(count), 100.0
    return count * enabled_ns / running_ns, 100.0 * running_ns / enabled_ns


def ratio(num: float | None, den: float | None) -> float | None:
    """``num / den``, None when either is unknown or ``den`` is 0."""
    if num is None or not den:
        return None
    return num / den


def _delta(cur: Sequence[int], prev: Sequence[int] | None) -> list[int]:
    if prev is None or len(prev) != len(cur):
        return list(cur)
    return [c - p for c, p in zip(cur, prev, strict=True)]


def figures(
    counters: Sequence[int],
    enabled: Sequence[int],
    running: Sequence[int],
    prev: tuple[Sequence[int], Sequence[int], Sequence[int]] | None,
    interval_s: float | None,
) -> tuple[Figure, ...]:
    """Interval figures from cumulative (counter, enabled, running); ``prev`` None: cumulative.

    A counter that went down restarted (an evicted and re-created process):
    the whole row then counts from zero.
    """
    if prev is not None and any(c < p for c, p in zip(counters, prev[0], strict=False)):
        prev = None
    d_count = _delta(counters, prev[0] if prev else None)
    d_enabled = _delta(enabled, prev[1] if prev else None)
    d_running = _delta(running, prev[2] if prev else None)
    out = []
    for i, raw in enumerate(d_count):
        count, running_pct = scale(raw, max(0, d_enabled[i]), max(0, d_running[i]))
        per_s = count / interval_s if count is not None and interval_s else None
        out.append(Figure(count, raw, per_s, running_pct, counters[i]))
    return tuple(out)


def _derived_ratios(
    view_events: Sequence[PmcEvent], figs: Sequence[Figure]
) -> tuple[float | None, float | None]:
    def count(type_: int, config: int) -> float | None:
        for e, f in zip(view_events, figs, strict=False):
            if (e.type, e.config) == (type_, config):
                return f.value
        return None

    ipc = ratio(count(PERF_TYPE_HARDWARE, INSTRUCTIONS), count(PERF_TYPE_HARDWARE, CYCLES))
    miss = ratio(count(PERF_TYPE_HARDWARE, CACHE_MISSES), count(PERF_TYPE_HARDWARE, CACHE_REFERENCES))
    return ipc, None if miss is None else 100.0 * miss


def _clock_index(events: Sequence[PmcEvent]) -> int | None:
    return next(
        (i for i, e in enumerate(events) if e.type == PERF_TYPE_SOFTWARE and e.config in CLOCKS), None
    )


def _min_running(figs: Sequence[Figure]) -> float | None:
    known = [f.running_pct for f in figs if f.running_pct is not None]
    return min(known) if known else None


def _pct(ns: float | None, interval_s: float | None) -> float | None:
    return None if ns is None or not interval_s else 100.0 * ns / (interval_s * 1e9)


def proc_row(
    events: Sequence[PmcEvent],
    cur: ProcCounts,
    prev: ProcCounts | None,
    interval_s: float | None,
    meta: ProcMeta,
) -> PmcRow:
    """One process's row."""
    before = (prev.counters, prev.enabled_ns, prev.running_ns) if prev is not None else None
    figs = figures(cur.counters, cur.enabled_ns, cur.running_ns, before, interval_s)
    ipc, miss = _derived_ratios(events, figs)
    clock = _clock_index(events)
    return PmcRow(
        key=cur.pid,
        is_cpu=False,
        comm=meta.name or cur.comm,
        user=meta.user,
        cmdline=meta.cmdline,
        kthread=cur.kthread,
        exited=meta.exited,
        figures=figs,
        ipc=ipc,
        miss_pct=miss,
        cpu_pct=_pct(figs[clock].value, interval_s) if clock is not None else None,
        running_pct=_min_running(figs),
    )


def cpu_row(
    events: Sequence[PmcEvent], cur: CpuCounts, prev: CpuCounts | None, interval_s: float | None
) -> PmcRow:
    """One CPU's row; its clock figure and on-CPU % are the time outside the idle task.

    A per-CPU clock event counts all the time the CPU exists (so ~1 s/s on
    every CPU, idle or not); the idle task's share is taken out, so each
    CPU's TASKCLK is its busy time and all CPUs together stay within
    ncpu x 1 s/s (issue 16).
    """
    before = (prev.counters, prev.enabled_ns, prev.running_ns) if prev is not None else None
    figs = figures(cur.counters, cur.enabled_ns, cur.running_ns, before, interval_s)
    ipc, miss = _derived_ratios(events, figs)
    clock = _clock_index(events)
    busy = None
    if clock is not None and prev is not None and not (cur.idle and prev.idle):
        # The idle task's time is unknown (no switch seen on the CPU yet, in
        # the scheduler accounting): so is the busy time; not the wall clock.
        f = figs[clock]
        figs = (*figs[:clock], f._replace(value=None, per_s=None), *figs[clock + 1 :])
    elif clock is not None and prev is not None:
        idle_ns = max(0, cur.idle[clock] - prev.idle[clock])
        f = figs[clock]
        busy_ns = max(0, f.raw - idle_ns)
        busy = _pct(busy_ns, interval_s)
        busy_fig = f._replace(
            value=float(busy_ns),
            raw=busy_ns,
            per_s=busy_ns / interval_s if interval_s else None,
            total=max(0, f.total - cur.idle[clock]),
        )
        figs = (*figs[:clock], busy_fig, *figs[clock + 1 :])
    name = f"cpu{cur.cpu}" if cur.cpu >= 0 else "all"
    return PmcRow(cur.cpu, True, name, "", "", False, False, figs, ipc, miss, busy, _min_running(figs))


def _sum_cpus(cpus: Sequence[CpuCounts]) -> CpuCounts | None:
    if not cpus:
        return None
    if not all(c.idle for c in cpus):
        cpus = [c._replace(idle=()) for c in cpus]  # one CPU's idle time unknown: the sum's too
    cols = [tuple(map(sum, zip(*(getattr(c, f) for c in cpus), strict=True))) for f in CpuCounts._fields[1:]]
    return CpuCounts(-1, *cols)


def _shown(
    cur: Sequence[ProcCounts],
    before: Mapping[int, ProcCounts],
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None,
) -> tuple[tuple[int, ...], frozenset[int]]:
    """The processes shown (``--comm`` matches; exited ones only if they counted), ordered, and the active.

    The raw deltas of ``figures`` on plain numbers, without building rows:
    this runs for every process each refresh.
    """
    keyed: list[tuple[int, int]] = []
    active: set[int] = set()
    no_meta = ProcMeta(pid=0)
    for c in cur:
        pid = c.pid
        meta = procs.get(pid) or no_meta
        if comm_re and not comm_re.search(meta.name or c.comm):
            continue
        p = before.get(pid)
        counters = c.counters
        was = p.counters if p is not None and len(p.counters) == len(counters) else None
        if was is None or any(x < y for x, y in zip(counters, was, strict=True)):
            first, busy = (counters[0] if counters else 0), any(counters)  # new, or restarted
        else:
            first = counters[0] - was[0] if counters else 0
            busy = counters != was
        if busy:
            active.add(pid)
        elif meta.exited:
            continue
        keyed.append((-first, pid))
    keyed.sort()
    return tuple(pid for _, pid in keyed), frozenset(active)


def derive_pmc(
    prev: PmcSample | None,
    cur: PmcSample,
    interval_s: float | None,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None = None,
) -> PmcView:
    """Derive the pmc view from two samples (``prev`` None on the first tick)."""
    if prev is not None and prev.events != cur.events:
        prev = None  # different counters: nothing to subtract
    if prev is not None and prev.unread:
        # Nothing was read then (no pane showed pmc): every row would look
        # new and get its total since start as its interval. A first frame.
        prev, interval_s = None, None
    events = cur.events
    before = {p.pid: p for p in prev.procs} if prev else {}
    now = {p.pid: p for p in cur.procs}
    order, active = _shown(cur.procs, before, procs, comm_re)

    def build(pid: int) -> PmcRow:
        return proc_row(events, now[pid], before.get(pid), interval_s, procs.get(pid) or ProcMeta(pid=pid))

    prev_cpus = {c.cpu: c for c in prev.cpus} if prev else {}
    cpus = tuple(cpu_row(events, c, prev_cpus.get(c.cpu), interval_s) for c in cur.cpus)
    total_cur, total_prev = _sum_cpus(cur.cpus), _sum_cpus(prev.cpus) if prev else None
    same = total_prev is not None and len(prev.cpus if prev else ()) == len(cur.cpus)
    total = cpu_row(events, total_cur, total_prev if same else None, interval_s) if total_cur else None
    return PmcView(
        events=events,
        hardware=cur.hardware,
        notice=cur.notice,
        unavailable=cur.unavailable,
        cpus=cpus,
        order=order,
        active=active,
        by_pid=LazyRows(dict.fromkeys(order), build),
        total=total,
        drops={
            "read_errors": cur.read_errors,
            "evicted_procs": cur.evicted_procs,
            "lost_procs": cur.lost_procs,
        },
    )


derive_view = derive_pmc
