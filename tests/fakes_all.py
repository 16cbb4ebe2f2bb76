"""FakeSource with every collector: runqlat, biolat, tcp, pmc and stacks samples too.

Deterministic like ``FakeSource``: one virtual second per tick, counters grow by
the per-tick figures below for every tick a process lived (``kill`` stops
them), so rates equal those figures. ``failed`` names collectors that "could
not load": an error status and no sample; ``absent`` ones are not in the frames
at all (as with ``--pane``).
"""

from __future__ import annotations

import dataclasses

from bpftop.bpf.pmu import NO_PMU
from bpftop.collectors import biolat, runqlat, tcp
from bpftop.collectors.biolat import BiolatSample, DiskOpTotals, ProcIO
from bpftop.collectors.pmc import CpuCounts, PmcEvent, PmcSample, ProcCounts, Unavailable
from bpftop.collectors.runqlat import ProcSched, RunqlatSample
from bpftop.collectors.stacks import StackCount, StackLosses, StacksSample
from bpftop.collectors.tcp import TcpClosed, TcpConn, TcpProc, TcpSample
from bpftop.frame import CollectorStatus, Frame
from tests.fakes import PROCS, FakeSource

S = 1_000_000_000
VDA = 253 << 20
COLLECTORS = ("runqlat", "biolat", "tcp", "pmc", "stacks")
CGROUPS = {
    100: ("/system.slice/docker-3f2a9c1b7d4e5f60718293a4b5c6d7e8.scope", "docker 3f2a9c1b7d4e"),
    200: ("/system.slice/postgresql.service", ""),
    300: ("/user.slice/user-0.slice/session-1.scope", ""),
    400: ("/", ""),
}
# pid -> (on-CPU ns per tick, run-queue waits per tick, their log2(us) slot, off-CPU blocked ns per tick)
SCHED = {100: (200_000_000, 300, 5, 700_000_000), 200: (350_000_000, 100, 8, 500_000_000),
         300: (50_000_000, 20, 11, 900_000_000), 400: (10_000_000, 50, 3, 0)}  # fmt: skip
# pid -> [(op, I/Os per tick, bytes per I/O, total ns per I/O)] on vda (op 0 read, 1 write)
DISK = {100: [(0, 120, 4096, 200_000), (1, 30, 65536, 800_000)], 200: [(1, 10, 4096, 3_000_000)]}
# conn id -> (pid, local port, remote address, remote port, bytes sent per tick, retransmits per tick)
CONNS = {1: (100, 443, "10.0.0.9", 51000, 20_000, 0), 2: (100, 443, "10.0.0.7", 51002, 5_000, 1),
         3: (200, 5432, "10.0.0.5", 40100, 100_000, 0)}  # fmt: skip
SW = tuple(
    PmcEvent(name, 1, config, False)
    for config, name in ((1, "task-clock"), (2, "page-faults"), (3, "context-switches"))
)
HW_NAMES = ("cycles", "instructions", "cache-references", "cache-misses")
# pid -> per tick: task-clock ns, page faults, context switches
PMC = {100: (200_000_000, 40, 300), 200: (350_000_000, 7, 100), 300: (50_000_000, 1, 20)}
Stacks = list[tuple[tuple[str, ...], str, int]]
CPU_STACKS: dict[int, Stacks] = {  # pid -> [(frames root first, kinds, samples per tick)]
    100: [(("main", "ngx_process_events", "epoll_wait"), "uuk", 6), (("main", "ngx_http_handler"), "uu", 4)],
    200: [(("main", "PostgresMain", "exec_simple_query"), "uuu", 12)],
}
OFF_STACKS: dict[int, Stacks] = {
    100: [(("main", "epoll_wait", "schedule"), "uuk", 600_000_000)]
}  # ns blocked per tick


class AllCollectorsSource(FakeSource):
    """``FakeSource`` frames plus a sample from every other collector.

    Args:
        delay_s: initial refresh interval.
        failed: collectors whose load "failed" (syscalls included).
        absent: collectors not asked for at all.
    """

    def __init__(self, delay_s: float = 0.05, failed: tuple[str, ...] = (), absent: tuple[str, ...] = ()):
        super().__init__(delay_s=delay_s, failed="syscalls" in failed)
        self.failed = failed
        self.absent = absent
        self.options: list[tuple[str, object]] = []

    def set_option(self, name: str, value: object) -> None:
        """Record what the app tells the collectors (``visible_pane``)."""
        self.options.append((name, value))

    def tick(self) -> Frame:
        """One more virtual second of every collector."""
        frame = super().tick()
        with self._lock:
            lived = {p.pid: self._active_ticks(p) for p in PROCS if self._visible(p)}
            samples = dict(frame.samples)
            status = list(frame.status)
            for name in COLLECTORS:
                if name in self.absent:
                    continue
                if name in self.failed:
                    status.append(CollectorStatus(name, False, error=f"{name}: not supported here",
                                                  hint=f"see bpftop check for {name}"))  # fmt: skip
                    continue
                samples[name] = getattr(self, f"_{name}")(lived)
                status.append(CollectorStatus(name, True, method="tp_btf"))
        procs = {pid: dataclasses.replace(meta, cgroup=CGROUPS[pid][0], container=CGROUPS[pid][1])
                 for pid, meta in frame.procs.items()}  # fmt: skip
        return dataclasses.replace(frame, samples=samples, status=tuple(status), procs=procs)

    def _runqlat(self, lived: dict[int, int]) -> RunqlatSample:
        procs, system = [], [0] * runqlat.HIST_SLOTS
        for pid, n in lived.items():
            on_ns, waits, slot, blocked = SCHED[pid]
            hist = [0] * runqlat.HIST_SLOTS
            hist[slot] = waits * n
            system[slot] += waits * n
            wait_ns = 3 * (1 << slot) * 500  # 1.5x the slot's low bound
            procs.append(ProcSched(pid, "", pid == 400, on_ns * n, waits * n * wait_ns, waits * n,
                                   2 * (1 << slot) * 1000, waits * n // 2, waits * n // 2, blocked * n,
                                   0, tuple(hist)))  # fmt: skip
        return RunqlatSample(self.ticks * S, 2, tuple(system), sum(system), 0, 4_096_000,
                             (self.ticks * S // 2,) * 2, tuple(procs), (0, 0))  # fmt: skip

    def _biolat(self, lived: dict[int, int]) -> BiolatSample:
        per_op: dict[int, list[int]] = {}
        procs = []
        for pid, ops in DISK.items():
            n = lived.get(pid, 0)
            if pid not in lived:
                continue
            for op, ios, size, ns in ops:
                procs.append(ProcIO(pid, VDA, "vda", op, ios * n, ios * n * size, ios * n * ns, ""))
                acc = per_op.setdefault(op, [0, 0, 0])
                acc[0], acc[1], acc[2] = acc[0] + ios * n, acc[1] + ios * n * size, acc[2] + ios * n * ns
        disks = []
        for op, (ios, size, ns) in sorted(per_op.items()):
            hist = [0] * biolat.HIST_SLOTS
            hist[8] = ios
            disks.append(DiskOpTotals(VDA, "vda", op, True, ios, size, (ns, ns // 4, ns - ns // 4),
                                      (4_000_000,) * 3, (tuple(hist),) * 3))  # fmt: skip
        return BiolatSample(self.ticks * S, tuple(disks), tuple(procs))

    def _tcp(self, lived: dict[int, int]) -> TcpSample:
        conns = tuple(
            TcpConn(cid, pid, "", 2, "10.0.0.1", lport, raddr, rport, 1, pid == 200, False, S,
                    per * lived[pid], per * lived[pid] // 4, retr * lived[pid], 0, 250)
            for cid, (pid, lport, raddr, rport, per, retr) in CONNS.items()
            if pid in lived and pid not in self._exit_tick
        )  # fmt: skip
        procs = tuple(
            TcpProc(pid, "", sum(c.sent_bytes for c in conns if c.pid == pid),
                    sum(c.recv_bytes for c in conns if c.pid == pid), n, n,
                    sum(c.retrans for c in conns if c.pid == pid), 0, 2, 1)
            for pid, n in lived.items()
            if pid in (100, 200)
        )  # fmt: skip
        closed = (TcpClosed(9, 100, "nginx", 2, "10.0.0.1", 443, "10.0.0.8", 50999, True, False, S, 2 * S,
                            8192, 1024, 8192, 1024, 0, 0, 300),)  # fmt: skip
        hist = [0] * tcp.RTT_SLOTS
        hist[8] = 2 * self.ticks
        return TcpSample(self.ticks * S, conns, procs, closed, tuple(hist))

    def _pmc(self, lived: dict[int, int]) -> PmcSample:
        running = (S,) * len(SW)
        procs = tuple(
            ProcCounts(pid, "", False, lived[pid], tuple(v * lived[pid] for v in PMC[pid]),
                       tuple(r * lived[pid] for r in running), tuple(r * lived[pid] for r in running))
            for pid in PMC
            if pid in lived
        )  # fmt: skip
        n = self.ticks
        cpus = tuple(
            CpuCounts(cpu, tuple(sum(p.counters[i] for p in procs) for i in range(len(SW))),
                      (S * n,) * len(SW), (S * n,) * len(SW))
            for cpu in (0, 1)
        )  # fmt: skip
        unavailable = tuple(Unavailable(name, NO_PMU) for name in HW_NAMES)
        return PmcSample(n * S, SW, cpus, procs, False, f"{NO_PMU}: showing software counters", unavailable)

    def _stacks(self, lived: dict[int, int]) -> StacksSample:
        cpu = tuple(
            StackCount(pid, "", frames, kinds, per * lived[pid], 0)
            for pid, stacks in CPU_STACKS.items()
            if pid in lived
            for frames, kinds, per in stacks
        )
        off = tuple(
            StackCount(pid, "", frames, kinds, lived[pid], ns * lived[pid])
            for pid, stacks in OFF_STACKS.items()
            if pid in lived
            for frames, kinds, ns in stacks
        )
        return StacksSample(
            self.ticks * S, 49, 1000, cpu, off, StackLosses(events=sum(c.events for c in cpu))
        )
