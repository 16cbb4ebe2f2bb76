"""Run-queue latency, on-CPU and off-CPU time and context switches per process.

Kernel side: ``bpftop/c/runqlat.bpf.h`` in ``sched.bpf.c``, the object it
shares with the pmc collector (``collectors/sched.py``). This module turns its maps into a
``RunqlatSample`` of cumulative counters; rates and percentiles are computed in
``bpftop.derive.runqlat``.

Accounting rules (also in docs/architecture.md):

- A run-queue wait runs from a wakeup, or from a switch-out that left the
  thread runnable (preempted), to its next switch-in, as libbpf-tools'
  ``runqlat`` counts it. Histograms are log2 of microseconds.
- A switch-out is voluntary when the thread blocks, involuntary when it stays
  runnable; off-CPU time (switch-out to switch-in) is split the same way, so a
  blocked interval includes the run-queue wait after its wakeup, as
  ``offcputime`` counts it.
- The kernel adds a thread's figures to its process when it switches out; the
  stint on CPU at sampling time is added here from the per-CPU state, so a
  process that never switches out still shows its CPU time.
- pid 0 (each CPU's idle task) is not a process: its time is CPU idle time.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from bpftop.collectors.base import (
    Collector,
    Evictions,
    Filters,
    header_defines,
    pid_comms,
    sorted_rows,
    tuple_maker,
)

DEFS = header_defines("runqlat.h")
HIST_SLOTS = DEFS["RUNQLAT_HIST_SLOTS"]
PROC_VAL = struct.Struct(f"<10QII{DEFS['RUNQLAT_COMM_LEN']}s")
CPU_VAL = struct.Struct(f"<IIQQQQQ{HIST_SLOTS}QQQ")
HIST_VAL = struct.Struct(f"<{HIST_SLOTS}Q")
TASK_VAL_SIZE = 80
U32 = struct.Struct("<I")
# Field indexes in a decoded ``struct cpu_val``.
CPU_RQ_COUNT = 4  # then rq_total_ns, rq_max_ns
CPU_SLOTS = 7


class ProcSched(NamedTuple):
    """Cumulative scheduler figures of one process (tgid)."""

    pid: int
    comm: str
    kthread: bool
    on_cpu_ns: int
    rq_wait_ns: int
    rq_count: int
    rq_max_ns: int
    vol_switches: int
    invol_switches: int
    off_blocked_ns: int
    off_preempted_ns: int
    hist: tuple[int, ...] = ()  # log2(us) run-queue slots; () when the kernel kept none


@dataclass(frozen=True)
class RunqlatSample:
    """The runqlat collector's state at ``ts_ns`` (CLOCK_MONOTONIC).

    Attributes:
        ncpu: CPUs the per-CPU figures cover.
        hist: system-wide run-queue wait, log2(us) slots.
        rq_count: run-queue waits, all processes.
        rq_wait_ns: their total.
        rq_max_ns: the longest since attach.
        idle_ns: per CPU, time its idle task (pid 0) ran.
        running_tids: per CPU, the thread on it at ``ts_ns`` (0: idle; -1: no
            switch seen since attach, so unknown).
        procs: per process still held by the kernel's LRU map (or running now).
        unmatched: switch-ins of threads never seen before (running at attach,
            or evicted from the thread map): their wait is unknown.
        lost_tasks: thread entries that could not be created.
        evicted_procs: processes pushed out of the full LRU map.
        lost_procs: switches not counted because the process entry failed.
        evicted_hists: per-process histograms pushed out (totals remain).
        lost_hists: waits missing from a per-process histogram.
        recovered: waits whose wakeup or switch-in the programs did not see
            (skipped runs, tasks the kernel hides from tracing), taken from the
            kernel's own sched_info counters instead.
    """

    # Per-process tables a recording may keep only every few seconds (see
    # bpftop.record.detail); everything else is recorded every frame.
    DETAIL: ClassVar[tuple[str, ...]] = ("procs",)

    ts_ns: int
    ncpu: int
    hist: tuple[int, ...]
    rq_count: int
    rq_wait_ns: int
    rq_max_ns: int
    idle_ns: tuple[int, ...]
    procs: tuple[ProcSched, ...]
    running_tids: tuple[int, ...] = ()
    unmatched: int = 0
    lost_tasks: int = 0
    evicted_procs: int = 0
    lost_procs: int = 0
    evicted_hists: int = 0
    lost_hists: int = 0
    recovered: int = 0


def decode_cpus(values: bytes, ncpu: int) -> list[tuple[int, ...]]:
    """The per-CPU ``cpus`` entry, one tuple of ``struct cpu_val`` fields per CPU."""
    stride = len(values) // ncpu if ncpu else 0
    return [CPU_VAL.unpack_from(values, c * stride) for c in range(ncpu)]


def stints(cpus: list[tuple[int, ...]], ts_ns: int) -> tuple[list[tuple[int, int]], dict[int, int]]:
    """What runs at ``ts_ns``, from the decoded ``cpus`` entries.

    Returns:
        per CPU, its idle task's finished time and the idle stint running now
        (0 while a thread runs); per tgid, the sum of its threads' stints
        running now.
    """
    idle: list[tuple[int, int]] = []
    running_ns: dict[int, int] = {}
    for tid, tgid, in_ns, idle_ns, *_ in cpus:
        stint = ts_ns - in_ns if 0 < in_ns < ts_ns else 0
        idle.append((idle_ns, stint if tid == 0 else 0))
        if tid and tgid:
            running_ns[tgid] = running_ns.get(tgid, 0) + stint
    return idle, running_ns


def decode_hists(keys: bytes, values: bytes) -> dict[int, tuple[int, ...]]:
    """The ``proc_hists`` LRU hash dump, by tgid."""
    return {
        pid: hist for (pid,), hist in zip(U32.iter_unpack(keys), HIST_VAL.iter_unpack(values), strict=True)
    }


_NEW_PROC = tuple_maker(ProcSched)


def decode_procs(keys: bytes, values: bytes, hists: dict[int, tuple[int, ...]]) -> list[ProcSched]:
    """The ``procs`` LRU hash dump, each row with its histogram when the kernel kept one."""
    kthread = DEFS["RUNQLAT_KTHREAD"]
    new = _NEW_PROC
    rows = []
    for (pid,), value in zip(U32.iter_unpack(keys), PROC_VAL.iter_unpack(values), strict=True):
        # faults and migrations are the pmc collector's (collectors/pmc_sched.py)
        on_cpu, rq_wait, rq_count, rq_max, vol, invol, off_blocked, off_preempted, _, _, flags, _, comm = (
            value
        )
        name = comm.split(b"\0", 1)[0].decode("utf-8", "replace")
        rows.append(
            new((pid, name, bool(flags & kthread), on_cpu, rq_wait, rq_count, rq_max, vol, invol,
                 off_blocked, off_preempted, hists.get(pid, ())))
        )  # fmt: skip
    return rows


class RunqlatCollector(Collector):
    """Runs runqlat's part of ``sched.bpf.o`` and samples its maps."""

    name = "runqlat"
    # (tracepoint category, name) of every hook, for `bpftop check`.
    hooks = (
        ("sched", "sched_wakeup"),
        ("sched", "sched_wakeup_new"),
        ("sched", "sched_switch"),
        ("sched", "sched_process_exec"),
    )

    def __init__(self) -> None:
        self.method = ""
        self.tried: dict[str, str] = {}
        self._obj: Any = None
        self._filtered = False
        self._last: RunqlatSample | None = None
        self._evictions = Evictions()
        # (kernel value, reported value) of each on-CPU and idle counter: the
        # running stint added here must never make a counter go down.
        self._seen: dict[tuple[str, int], tuple[int, int]] = {}

    def open(self, filters: Filters) -> None:
        """Load and attach the shared sched object (tp_btf, raw_tp, then tracepoint); turn runqlat on."""
        from bpftop.collectors import sched

        self._filtered = bool(filters.pid or filters.uid is not None or filters.cgroup_id)
        self._obj = sched.acquire(filters, runqlat=True)
        self.method = self._obj.method
        self.tried = self._obj.tried
        self._check_layout()
        self._obj.set_global("runqlat_on", 1)

    def _check_layout(self) -> None:
        sizes = {"cpus": CPU_VAL.size, "procs": PROC_VAL.size, "proc_hists": HIST_VAL.size}
        sizes["tasks"] = TASK_VAL_SIZE
        for name, size in sizes.items():
            actual = self._obj.map(name).value_size
            if actual != size:
                raise RuntimeError(f"runqlat.h and the collector disagree on {name}: {actual} != {size}")

    def forget(self, pids: set[int]) -> None:
        """Drop the kernel's entries of processes that have exited (and were shown)."""
        from bpftop.collectors import sched

        if pids and self._obj is not None:
            sched.forget(self._obj, pids)

    def _monotonic(
        self, seen: dict[tuple[str, int], tuple[int, int]], key: tuple[str, int], kernel: int, stint: int
    ) -> int:
        """``kernel + stint``, never below the last value shown unless the kernel counter restarted.

        A per-CPU entry read while its CPU switches may pair a new thread with
        the old one's start time; this keeps such a read from making a
        cumulative counter go down (which derive would take for a restart).
        Only values above the kernel's are kept in ``seen``: a value the
        kernel's counter reached bounds nothing the next read could report.
        """
        reported = kernel + stint
        last = self._seen.get(key)
        if last is not None and kernel >= last[0]:
            reported = max(reported, last[1])
        if reported != kernel:
            seen[key] = (kernel, reported)
        return reported

    def sample(self) -> RunqlatSample:
        """Read every map once (batch lookups) and return cumulative counters."""
        obj = self._obj
        # Per-process maps first, then the clock, then who runs now: a stint
        # seen running then began before ts_ns and had not ended when the
        # process figures were read, so adding it cannot count it twice.
        counters = obj.map("counters").dump()  # before the maps: see Evictions
        procs_dump = obj.map("procs").dump()
        hists_dump = obj.map("proc_hists").dump()
        ts_ns = time.monotonic_ns()
        cpus_dump = obj.map("cpus").dump()
        cpus = decode_cpus(cpus_dump.values, cpus_dump.ncpu)
        seen: dict[tuple[str, int], tuple[int, int]] = {}

        idle_stints, running_ns = stints(cpus, ts_ns)
        idle = [self._monotonic(seen, ("cpu", cpu), *s) for cpu, s in enumerate(idle_stints)]

        rows = decode_procs(
            procs_dump.keys, procs_dump.values, decode_hists(hists_dump.keys, hists_dump.values)
        )
        known = {r.pid for r in rows}
        if not self._filtered:  # with a filter, only the kernel knows who passes it
            rows += [
                ProcSched(pid, "", False, 0, 0, 0, 0, 0, 0, 0, 0) for pid in running_ns if pid not in known
            ]
        last_seen = self._seen
        for i, r in enumerate(rows):
            stint = running_ns.get(r.pid, 0)
            key = ("pid", r.pid)
            if not stint and key not in last_seen:
                continue  # not running, nothing added before: the kernel's figure (most processes)
            on_cpu_ns = self._monotonic(seen, key, r.on_cpu_ns, stint)
            if on_cpu_ns != r.on_cpu_ns:  # few are running now: _replace only those
                rows[i] = r._replace(on_cpu_ns=on_cpu_ns)
        self._seen = seen

        from bpftop.collectors import sched

        # Keys bpftop deleted itself (sched.forget) are not LRU evictions.
        deleted_procs, deleted_hists = sched.deleted(obj)
        words = memoryview(counters.values).cast("Q")
        c = [sum(words[i * counters.ncpu : (i + 1) * counters.ncpu]) for i in range(counters.count)]
        self._last = RunqlatSample(
            ts_ns=ts_ns,
            ncpu=len(cpus),
            hist=tuple(sum(cpu[CPU_SLOTS + s] for cpu in cpus) for s in range(HIST_SLOTS)),
            rq_count=sum(cpu[CPU_RQ_COUNT] for cpu in cpus),
            rq_wait_ns=sum(cpu[CPU_RQ_COUNT + 1] for cpu in cpus),
            rq_max_ns=max((cpu[CPU_RQ_COUNT + 2] for cpu in cpus), default=0),
            idle_ns=tuple(idle),
            running_tids=tuple(cpu[0] if cpu[2] else -1 for cpu in cpus),
            procs=sorted_rows(rows),
            unmatched=c[DEFS["RQ_UNMATCHED"]],
            lost_tasks=c[DEFS["RQ_TASK_LOST"]],
            evicted_procs=self._evictions(
                "procs", c[DEFS["RQ_PROC_INSERTS"]], procs_dump.count, deleted_procs
            ),
            lost_procs=c[DEFS["RQ_PROC_LOST"]],
            evicted_hists=self._evictions(
                "hists", c[DEFS["RQ_HIST_INSERTS"]], hists_dump.count, deleted_hists
            ),
            lost_hists=c[DEFS["RQ_HIST_LOST"]],
            recovered=c[DEFS["RQ_RECOVERED"]],
        )
        return self._last

    def pids(self, sample: RunqlatSample) -> set[int]:
        """Pids of the per-process table."""
        return {p.pid for p in sample.procs}

    def comms(self, sample: RunqlatSample) -> Mapping[int, str]:
        """The kernel's name of each process of the per-process table."""
        return pid_comms(sample.procs)

    def close(self) -> None:
        """Turn runqlat off and let the shared object go; safe to call twice."""
        from bpftop.collectors import sched

        obj, self._obj = self._obj, None
        if obj is not None:
            try:
                obj.set_global("runqlat_on", 0)
            finally:
                sched.release(obj)
