"""The pmc collector's software counters, from the scheduler accounting runqlat does.

Without a PMU (most VMs and cloud guests) the pmc pane counts software
events: task-clock, page-faults, context-switches and cpu-migrations. Each is
a count the kernel keeps per task anyway (``se.sum_exec_runtime``,
``min_flt + maj_flt``, ``nvcsw + nivcsw``, ``se.nr_migrations``), and runqlat's
part of ``sched.bpf.o`` sees every thread at each switch-out. So rather than
read four perf events at every context switch (most of what pmc cost a switch:
~0.25 us a ping-pong round trip on the test VM, against runqlat's whole
~0.3), pmc turns that accounting on (``pmc_from_sched``, also while the runqlat
collector is not running) and reads the sums it leaves in runqlat's ``procs``
map:

- task-clock: on-CPU time, as runqlat counts it, with the stint running at
  sampling time added;
- context-switches: the switch-outs seen, voluntary and involuntary, as
  getrusage counts them (the perf event, read at a switch, charged each switch
  to the task switched *in*: a process's count was its switch-ins);
- page-faults: ``min_flt + maj_flt`` between switch-outs (getrusage's);
- cpu-migrations: ``se.nr_migrations`` between switch-outs (a thread migrates
  while off-CPU, so its next switch-out carries it).

A thread running at attach counts faults and migrations from its first
switch-out seen; one born since, from 0. Per CPU the events' own totals (a
``read(2)`` of each fd) stay; the idle task's task-clock is runqlat's idle
time. Nothing here pauses: what it costs a switch is the accounting the
default dashboard runs for runqlat anyway. It needs runqlat's part of the
object (Linux 5.12); with a PMU, other events or an older kernel pmc reads
its events at each switch (``pmc.bpf.h``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Sequence
from itertools import accumulate
from operator import itemgetter
from typing import Any

from bpftop.collectors import runqlat, sched
from bpftop.collectors.base import tuple_maker
from bpftop.collectors.pmc import PmcEvent, PmcSample, ProcCounts, cpu_counts

# Fields of a decoded runqlat ``struct proc_val``, and the flags field.
ON_CPU, VOL, INVOL, FAULTS, MIGRATIONS, FLAGS, COMM = 0, 4, 5, 8, 9, 10, 12
Monotonic = Callable[[dict[Any, Any], Any, tuple[int, ...], Sequence[int]], tuple[int, ...]]

# The proc_val fields each event sums (a context switch is voluntary or not).
FIELDS = {
    "task-clock": (ON_CPU,),
    "page-faults": (FAULTS,),
    "context-switches": (VOL, INVOL),
    "cpu-migrations": (MIGRATIONS,),
}


_NEW_COUNTS = tuple_maker(ProcCounts)


def usable(events: Sequence[PmcEvent]) -> bool:
    """Whether every event asked for is one the scheduler accounting counts."""
    return bool(events) and all(e.name in FIELDS and not e.hardware for e in events)


def decode_procs(keys: bytes, values: bytes, names: Sequence[str]) -> list[ProcCounts]:
    """The ``procs`` dump of runqlat as pmc rows, one counter per event in ``names`` order."""
    kthread = runqlat.DEFS["RUNQLAT_KTHREAD"]
    zero = (0,) * len(names)
    new = _NEW_COUNTS
    # The value's fields each event adds, then one C call per process takes
    # them all (a generator per event per process cost ~1 ms a refresh).
    fields = [FIELDS[n] for n in names]  # looked up once, not per process
    flat = [i for f in fields for i in f]
    take = itemgetter(*flat, VOL, INVOL, FLAGS, COMM)
    if len(flat) == len(fields):  # one field each: the counters are the fields

        def counters(got: tuple[int, ...]) -> tuple[int, ...]:
            return got[: len(flat)]
    else:
        spans = list(accumulate(len(f) for f in fields))
        starts = [0, *spans[:-1]]

        def counters(got: tuple[int, ...]) -> tuple[int, ...]:
            return tuple([sum(got[a:b]) for a, b in zip(starts, spans, strict=True)])

    rows = []
    for (pid,), v in zip(runqlat.U32.iter_unpack(keys), runqlat.PROC_VAL.iter_unpack(values), strict=True):
        got = take(v)
        vol, invol, flags, comm = got[-4:]
        name = comm.split(b"\0", 1)[0].decode("utf-8", "replace")
        rows.append(new((pid, name, bool(flags & kthread), vol + invol, counters(got), zero, zero)))
    return rows


def sample(
    obj: Any,
    counters: Any,
    shown_running: Callable[[int], bool],
    monotonic: Monotonic,
    guarded: Container[Any],
) -> tuple[PmcSample, dict[Any, Any]]:
    """Read runqlat's maps and the events' per-CPU totals into a ``PmcSample``.

    Args:
        obj: the loaded ``sched.bpf.o`` (with runqlat's part).
        counters: the open ``CounterSet`` (software events, ``usable``).
        shown_running: whether a process running now but without a row yet
            gets one (with a uid or cgroup filter only the kernel knows).
        monotonic: the collector's guard that keeps a cumulative counter from
            going down when a running stint is added (``PmcCollector._monotonic``).
        guarded: the keys that guard held at the last sample.

    Returns:
        the sample, and the guard's new state.
    """
    events = counters.events
    names = [e.name for e in events]
    n = len(names)
    clock = names.index("task-clock") if "task-clock" in names else None
    # Per-process sums first, then the clock, then who runs: as runqlat reads them.
    stats_dump = obj.map("counters").dump()  # before the maps: see collectors.base.Evictions
    procs_dump = obj.map("procs").dump()
    ts_ns = time.monotonic_ns()
    cpus_dump = obj.map("cpus").dump()
    readings = counters.read()
    cpus = runqlat.decode_cpus(cpus_dump.values, cpus_dump.ncpu)
    idle_stints, running_ns = runqlat.stints(cpus, ts_ns)
    seen: dict[Any, Any] = {}
    zero = (0,) * n
    cpu_rows = []
    for cpu, now in sorted(readings.items()):
        if cpu >= len(cpus) or not cpus[cpu][2]:
            # No switch seen on this CPU since the load (the fence that forces
            # one runs in its own thread): who runs there, idle or not, is
            # unknown, so its idle time is too (CpuCounts.idle left empty).
            cpu_rows.append(cpu_counts(cpu, now, ()))
            continue
        idle, stint = list(zero), list(zero)
        if clock is not None:
            idle[clock], stint[clock] = idle_stints[cpu]
        cpu_rows.append(cpu_counts(cpu, now, monotonic(seen, ("idle", cpu), tuple(idle), stint)))
    rows = decode_procs(procs_dump.keys, procs_dump.values, names)
    known = {r.pid for r in rows}
    rows += [
        ProcCounts(p, "", False, 0, zero, zero, zero)
        for p in running_ns
        if p not in known and shown_running(p)
    ]
    for j, r in enumerate(rows):
        ran = running_ns.get(r.pid, 0)
        if clock is None or (not ran and ("pid", r.pid) not in guarded):
            continue  # most processes: not running now, and not guarded before
        stint = [0] * 3 * n
        stint[clock] = ran
        flat = monotonic(seen, ("pid", r.pid), r.counters + zero + zero, stint)
        rows[j] = r._replace(counters=flat[:n])
    words = memoryview(stats_dump.values).cast("Q")
    stats = [sum(words[i * stats_dump.ncpu : (i + 1) * stats_dump.ncpu]) for i in range(stats_dump.count)]
    defs = runqlat.DEFS
    return PmcSample(
        ts_ns=ts_ns,
        events=tuple(events),
        cpus=tuple(cpu_rows),
        procs=tuple(rows),
        hardware=False,
        notice=counters.notice,
        unavailable=tuple(counters.unavailable),
        evicted_procs=max(0, stats[defs["RQ_PROC_INSERTS"]] - procs_dump.count - sched.deleted(obj)[0]),
        lost_procs=stats[defs["RQ_PROC_LOST"]],
    ), seen
