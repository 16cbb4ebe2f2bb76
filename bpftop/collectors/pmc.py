"""Performance counters (hardware, or the software fallback) per CPU and per process.

Kernel side: ``bpftop/c/pmc.bpf.h`` in ``sched.bpf.c``, the object it shares
with the runqlat collector (``collectors/sched.py``). One perf event per CPU
per counter is opened here (``bpftop/bpf/perf.py``) and put in the object's
``counterN`` arrays; at each ``sched_switch`` the kernel reads this CPU's counters and adds
the deltas since the previous switch to the process leaving the CPU. This
module turns the maps and the events' own totals into a ``PmcSample`` of
cumulative counters; scaling, rates and IPC are computed in
``bpftop.derive.pmc``.

- Per CPU, the totals are the events' own counts (``read(2)`` of each fd, as
  ``perf stat -a -A``), with their enabled and running times: when the PMU
  multiplexes more events than it has counters, running < enabled.
- Per process, the kernel sums each counter's delta and the deltas of its
  enabled and running times, so any interval can be scaled the same way.
  The stint still running at sampling time is added here from the per-CPU
  state (last reading, who runs), so a process that never switches out shows.
- Without a PMU (most VMs), or when no hardware event opens, the same
  mechanism runs on software events (task-clock, page faults, context
  switches, CPU migrations) and the sample says why (``notice``).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from bpftop.collectors.base import Collector, Filters, header_defines, pid_comms
from bpftop.collectors.cpu_fence import switch_every_cpu_soon

logger = logging.getLogger(__name__)
PMC_PANE = "pmc"  # counted while this pane (or a process screen) is on screen
DEFS = header_defines("pmc.h")
MAX_COUNTERS = DEFS["PMC_MAX_COUNTERS"]
U32 = struct.Struct("<I")
Key = tuple[str, int]  # ("pid", tgid) or ("idle", cpu)
Flat = tuple[int, ...]
# pmc_epoch values, unique in the process: a collector that opens a shared
# object after another trusts no reading the other left behind.
_epochs = itertools.count(1)
EVENTS_OPTION = "pmc_events"  # set_option before open: `--pmc-events` of the dashboard and `record`


class PmcEvent(NamedTuple):
    """One counter being counted: its name and ``perf_event_attr`` type/config."""

    name: str
    type: int
    config: int
    hardware: bool


class Unavailable(NamedTuple):
    """An event asked for that could not be opened, and why."""

    name: str
    reason: str


class CpuCounts(NamedTuple):
    """One CPU's cumulative counts, one entry per event (in ``PmcSample.events`` order)."""

    cpu: int
    counters: tuple[int, ...]
    enabled_ns: tuple[int, ...]
    running_ns: tuple[int, ...]
    idle: tuple[int, ...] = ()  # the counts of this CPU's idle task (pid 0)


class ProcCounts(NamedTuple):
    """One process's cumulative counts, summed over its stints on every CPU."""

    pid: int
    comm: str
    kthread: bool
    stints: int
    counters: tuple[int, ...]
    enabled_ns: tuple[int, ...]
    running_ns: tuple[int, ...]


@dataclass(frozen=True)
class PmcSample:
    """The pmc collector's state at ``ts_ns`` (CLOCK_MONOTONIC).

    Attributes:
        events: what is counted, in column order.
        cpus: per online CPU.
        procs: per process still held by the kernel's LRU map (or running now).
        hardware: at least one hardware event counts.
        notice: why the hardware counters are missing (the fallback's reason).
        unavailable: events asked for that could not be opened.
        read_errors: counter reads that failed at a switch.
        switches: context switches the program handled.
        evicted_procs: processes pushed out of the full LRU map.
        lost_procs: stints not counted because the process entry failed.
        paused: nothing is counted now (no pane shows the counters), per
            process or per CPU's idle task; the events' own totals go on.
        unread: nothing was read (the scheduler accounting while no pane
            shows it): no rows, and the next sample derives as a first frame.
    """

    # Per-process tables a recording may keep only every few seconds (see
    # bpftop.record.detail); everything else is recorded every frame.
    DETAIL: ClassVar[tuple[str, ...]] = ("procs",)

    ts_ns: int
    events: tuple[PmcEvent, ...]
    cpus: tuple[CpuCounts, ...]
    procs: tuple[ProcCounts, ...]
    hardware: bool = False
    notice: str = ""
    unavailable: tuple[Unavailable, ...] = ()
    read_errors: int = 0
    switches: int = 0
    evicted_procs: int = 0
    lost_procs: int = 0
    paused: bool = False
    unread: bool = False


def _timed_mask(events: Sequence[PmcEvent]) -> int:
    """``pmc_timed``: the events the kernel reads with enabled and running times.

    Those the PMU may multiplex; software events never are, and are read bare.
    """
    from bpftop.bpf.perf import PERF_TYPE_SOFTWARE

    return sum(1 << i for i, e in enumerate(events) if e.type != PERF_TYPE_SOFTWARE)


def _as_kernel_reads(now: list[tuple[int, int, int]], timed: int) -> list[tuple[int, int, int]]:
    """An fd's (count, enabled, running) as the kernel reads it: no times where untimed."""
    return [r if timed >> i & 1 else (r[0], 0, 0) for i, r in enumerate(now)]


def cpu_counts(cpu: int, now: Sequence[tuple[int, int, int]], idle: Sequence[int]) -> CpuCounts:
    """One CPU's row from its events' (count, enabled, running) readings and its idle task's counts."""
    return CpuCounts(
        cpu,
        counters=tuple(r[0] for r in now),
        enabled_ns=tuple(r[1] for r in now),
        running_ns=tuple(r[2] for r in now),
        idle=tuple(idle),
    )


def _values(dump: Any) -> tuple[bytes, int]:
    return dump.values, dump.ncpu


class PmcCollector(Collector):
    """Opens the perf events, runs pmc's part of ``sched.bpf.o`` and samples both."""

    name = "pmc"
    hooks = (("sched", "sched_switch"),)

    def __init__(self, event_names: tuple[str, ...] | None = None, *, from_sched: bool = True) -> None:
        """Configure; nothing opens until ``open``.

        Args:
            event_names: ``--pmc-events`` entries; None or empty: the defaults,
                unless the ``pmc_events`` option names some before ``open``.
            from_sched: take software counters from the scheduler accounting
                where it can (``collectors/pmc_sched.py``); False reads the
                events at each switch, as with hardware counters (tests).
        """
        self.method = ""
        self.tried: dict[str, str] = {}
        self.detail = ""
        self._names = event_names or ()
        self._obj: Any = None
        self._counters: Any = None
        self._filtered = False
        self._passes: set[int] = set()
        self._deleted_procs = 0
        self._base_errors = 0
        # (kernel values, reported values) of the rows a running stint was
        # added to: see _monotonic.
        self._seen: dict[Key, tuple[Flat, Flat]] = {}
        self._paused = False
        self._hidden = False  # scheduler accounting, no pane shows it: sample reads nothing
        self._last: PmcSample | None = None
        self._epoch = 0  # pmc_epoch: new at open and at each resume
        self._want_sched = from_sched
        self.from_sched = False  # the software counters come from the scheduler accounting

    def open(self, filters: Filters) -> None:
        """Open the events (or the software fallback), then load and attach the program."""
        from bpftop.collectors import sched
        from bpftop.collectors.pmc_events import CounterSet
        from bpftop.collectors.pmc_maps import CPU_STATE, PROC_VAL

        self._counters = CounterSet.open(self._names)
        counters = self._counters
        self.detail = counters.notice or ("hardware counters" if counters.hardware else "software counters")
        self._filtered = bool(filters.pid or filters.uid is not None or filters.cgroup_id)
        # A process the filter names outright passes it: shown while it runs even
        # before its first switch-out (a pinned hog may not switch for seconds).
        only_pid = filters.pid and filters.uid is None and not filters.cgroup_id
        self._passes = {filters.pid} if only_pid else set()
        if self._open_from_sched(filters):
            return
        self._obj = sched.acquire(filters, runqlat=False)
        self.method = self._obj.method
        self.tried = self._obj.tried
        self._check_layout({"pmc_cpus": CPU_STATE.size, "pmc_procs": PROC_VAL.size})
        for i, fds in enumerate(counters.fds):
            array = self._obj.map(f"counter{i}")
            for cpu, fd in fds.items():
                array.update(U32.pack(cpu), U32.pack(fd))
        # Read errors of an earlier user of a shared object are not this one's.
        self._base_errors = self._stats()[DEFS["PMC_READ_ERRORS"]]
        self._epoch = next(_epochs)
        self._obj.set_global("pmc_epoch", self._epoch)
        self._obj.set_global("pmc_paused", 0)
        self._obj.set_global("pmc_timed", _timed_mask(counters.events))
        self._obj.set_global("nr_counters", len(counters.events))  # last: the arrays are full
        switch_every_cpu_soon()  # each CPU's baseline now, not at its next switch

    def _open_from_sched(self, filters: Filters) -> bool:
        """Software events only: share runqlat's accounting, no read at a switch (``pmc_sched``).

        False where that cannot be (hardware or other events, or a kernel
        without runqlat's part: before 5.12), and pmc reads its events.
        """
        from bpftop.bpf.errors import BpfError
        from bpftop.collectors import pmc_sched, runqlat, sched

        if not self._want_sched or not pmc_sched.usable(self._counters.events):
            return False
        try:
            self._obj = sched.acquire(filters, runqlat=True)
        except (BpfError, OSError) as exc:
            logger.info("pmc: no scheduler accounting (%s); reading the events at each switch", exc)
            return False
        self.method = self._obj.method
        self.tried = self._obj.tried
        actual = self._obj.map("procs").value_size
        if actual != runqlat.PROC_VAL.size:
            raise RuntimeError(
                f"runqlat.h and the pmc collector disagree on procs: {actual} != {runqlat.PROC_VAL.size}"
            )
        self.from_sched = True
        self._obj.set_global("pmc_from_sched", 1)
        switch_every_cpu_soon()  # who runs on each CPU, known now, not at its next switch
        return True

    def _check_layout(self, sizes: dict[str, int]) -> None:
        for name, size in sizes.items():
            actual = self._obj.map(name).value_size
            if actual != size:
                raise RuntimeError(f"pmc.h and the collector disagree on {name}: {actual} != {size}")

    def _stats(self) -> list[int]:
        dump = self._obj.map("pmc_stats").dump()
        words = memoryview(dump.values).cast("Q")
        return [sum(words[i * dump.ncpu : (i + 1) * dump.ncpu]) for i in range(dump.count)]

    def forget(self, pids: set[int]) -> None:
        """Drop the kernel's entries of processes that have exited (and were shown)."""
        from bpftop.collectors import sched

        if pids and self._obj is not None and self.from_sched:
            sched.forget(self._obj, pids)
        elif pids and self._obj is not None:
            self._deleted_procs += self._obj.map("pmc_procs").delete([U32.pack(p) for p in pids])

    def _monotonic(
        self, seen: dict[Key, tuple[Flat, Flat]], key: Key, kernel: Flat, stint: Sequence[int]
    ) -> Flat:
        """``kernel + stint``, never below the last values shown unless the kernel's restarted.

        A running stint read from a fd just after its CPU switched belongs
        partly to the next task; this keeps such a read from making a
        cumulative counter go down (which derive would take for a restart).
        """
        reported = tuple(k + s for k, s in zip(kernel, stint, strict=True))
        last = self._seen.get(key)
        if last is not None and all(k >= p for k, p in zip(kernel, last[0], strict=True)):
            reported = tuple(max(r, p) for r, p in zip(reported, last[1], strict=True))
        seen[key] = (kernel, reported)
        return reported

    def sample(self) -> PmcSample:
        """Read the maps (per-process first, then who runs), then the events."""
        from bpftop.collectors import pmc_sched
        from bpftop.collectors.pmc_maps import decode_cpus, decode_procs, running_stints

        if self.from_sched and self._hidden:
            return self._unread()
        if self.from_sched:
            sample, self._seen = pmc_sched.sample(
                self._obj,
                self._counters,
                lambda pid: not self._filtered or pid in self._passes,
                self._monotonic,
                self._seen,
            )
            self._last = sample
            return sample

        counters = self._counters
        n = len(counters.events)
        stats = self._stats()  # before the map: see collectors.base.Evictions
        procs_dump = self._obj.map("pmc_procs").dump()
        ts_ns = time.monotonic_ns()
        states = decode_cpus(*_values(self._obj.map("pmc_cpus").dump()))
        readings = counters.read()  # cpu -> per-event (count, enabled, running)
        seen: dict[Key, tuple[Flat, Flat]] = {}
        running: dict[int, list[int]] = {}  # tgid -> counts, enabled, running of its stints now
        cpu_rows = []
        timed = _timed_mask(counters.events)
        for cpu, now in sorted(readings.items()):
            # Paused, the kernel reads nothing: its last readings are old.
            stint = (
                running_stints(states[cpu], _as_kernel_reads(now, timed), self._epoch)
                if cpu < len(states) and not self._paused
                else None
            )
            idle_stint = [0] * n
            if stint is not None:
                tid, tgid, deltas = stint
                if tid == 0:
                    idle_stint = [d[0] for d in deltas]
                elif tgid:
                    this = [d[k] for k in range(3) for d in deltas]
                    acc = running.setdefault(tgid, [0] * 3 * n)
                    running[tgid] = [a + b for a, b in zip(acc, this, strict=True)]
            idle = states[cpu].idle[:n] if cpu < len(states) else (0,) * n
            cpu_rows.append(cpu_counts(cpu, now, self._monotonic(seen, ("idle", cpu), idle, idle_stint)))
        rows = decode_procs(procs_dump.keys, procs_dump.values, n)
        known = {r.pid for r in rows}
        # With a uid or cgroup filter only the kernel knows who passes it.
        shown_running = [p for p in running if p not in known and (not self._filtered or p in self._passes)]
        if shown_running:
            zero = (0,) * n
            rows += [ProcCounts(pid, "", False, 0, zero, zero, zero) for pid in shown_running]
        for j, r in enumerate(rows):
            key = ("pid", r.pid)
            if r.pid not in running and key not in self._seen:
                continue  # most processes: not running now, and not guarded before
            flat = self._monotonic(
                seen, key, r.counters + r.enabled_ns + r.running_ns, running.get(r.pid) or [0] * 3 * n
            )
            rows[j] = r._replace(counters=flat[:n], enabled_ns=flat[n : 2 * n], running_ns=flat[2 * n :])
        self._seen = seen
        return PmcSample(
            ts_ns=ts_ns,
            events=tuple(counters.events),
            cpus=tuple(cpu_rows),
            procs=tuple(rows),
            hardware=counters.hardware,
            notice=counters.notice,
            unavailable=tuple(counters.unavailable),
            read_errors=max(0, stats[DEFS["PMC_READ_ERRORS"]] - self._base_errors),
            switches=stats[DEFS["PMC_SWITCHES"]],
            evicted_procs=max(0, stats[DEFS["PMC_PROC_INSERTS"]] - procs_dump.count - self._deleted_procs),
            lost_procs=stats[DEFS["PMC_PROC_LOST"]],
            paused=self._paused,
        )

    def set_option(self, name: str, value: object) -> None:
        """``visible_pane``: count only while a pane shows the counters.

        That is the pmc pane, a process screen, procs with hardware counters (its
        IPC column) or ``*`` (batch output). Until the app first says which pane
        is shown (and in ``bpftop record``, which never does) they are counted
        all the time. Paused, the kernel reads no counter at a switch; a resume
        starts a new epoch, so the first switch on each CPU after it only takes
        a baseline and nothing spanning the pause is counted. Every CPU is then
        made to switch (``cpu_fence``): what runs until its CPU's first switch
        would be lost.

        ``pmc_events`` (``EVENTS_OPTION``): the ``--pmc-events`` entries, already
        validated; heeded only before ``open``.
        """
        if name == EVENTS_OPTION:
            if self._obj is None and isinstance(value, tuple):
                self._names = tuple(str(n) for n in value)
            return
        if name != "visible_pane" or self._obj is None:
            return
        shown = value in (PMC_PANE, "process", "*") or (value == "procs" and self._counters.hardware)
        if self.from_sched:
            # The scheduler accounting counts anyway: what a hidden pane saves
            # is the reading (runqlat's procs map again, 2-4 ms a tick).
            self._hidden = not shown
            return
        if shown != self._paused:
            return
        if shown:
            self._epoch = next(_epochs)
            self._obj.set_global("pmc_epoch", self._epoch)
        self._paused = not shown
        self._obj.set_global("pmc_paused", int(self._paused))
        if shown:
            switch_every_cpu_soon()

    def _unread(self) -> PmcSample:
        """A sample that read nothing: no rows (a pane shown next starts its rates a tick later).

        Its since-start counters are the last read's, so none goes down.
        """
        ts_ns = time.monotonic_ns()
        if self._last is not None:
            return dataclasses.replace(self._last, ts_ns=ts_ns, cpus=(), procs=(), unread=True)
        counters = self._counters
        return PmcSample(
            ts_ns, tuple(counters.events), (), (), notice=counters.notice,
            unavailable=tuple(counters.unavailable), unread=True,
        )  # fmt: skip

    def pids(self, sample: PmcSample) -> set[int]:
        """Pids of the per-process table."""
        return {p.pid for p in sample.procs}

    def comms(self, sample: PmcSample) -> Mapping[int, str]:
        """The kernel's name of each process of the per-process table."""
        return pid_comms(sample.procs)

    def close(self) -> None:
        """Turn pmc off, let the shared object go and close the events; safe to call twice."""
        from bpftop.collectors import sched

        obj, self._obj = self._obj, None
        if obj is not None and self.from_sched:
            try:
                obj.set_global("pmc_from_sched", 0)
            finally:
                sched.release(obj)
        elif obj is not None:
            try:
                obj.set_global("nr_counters", 0)
                # runqlat may keep the object: its arrays must not keep our events alive.
                for i, fds in enumerate(self._counters.fds if self._counters is not None else ()):
                    obj.map(f"counter{i}").delete([U32.pack(cpu) for cpu in fds])
            finally:
                sched.release(obj)
        if self._counters is not None:
            self._counters.close()
            self._counters = None
