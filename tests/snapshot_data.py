"""A deterministic recording with samples of every collector, for the snapshot tests.

Each frame is one second after the previous; every counter is ``rate * second``
(cumulative, as collectors report them), so the rates ``derive`` computes
between two frames are the per-second figures below, whatever frame is shown.
Wall clock, host and process start times are fixed: with ``TZ=UTC`` the
screens are the same on every machine.

The cast: a database (postgres), a web server (nginx) with connections, a
CPU-bound python3 with stacks, a kernel thread doing disk I/O, systemd, and
``make`` which exits in the last interval (shown as exited). ``write_recording``
can also mark one collector as failed to load (no sample, an error status).
"""

from __future__ import annotations

import errno
from pathlib import Path

from bpftop.collectors.biolat import HIST_SLOTS as BIO_SLOTS
from bpftop.collectors.biolat import BiolatSample, DiskOpTotals, ProcIO
from bpftop.collectors.bpfstats import BpfstatsSample, MapRow, ProgRow
from bpftop.collectors.pmc import CpuCounts, PmcEvent, PmcSample, ProcCounts
from bpftop.collectors.runqlat import HIST_SLOTS as RQ_SLOTS
from bpftop.collectors.runqlat import ProcSched, RunqlatSample
from bpftop.collectors.stacks import StackCount, StackLosses, StacksSample
from bpftop.collectors.syscalls import HIST_SLOTS as SYS_SLOTS
from bpftop.collectors.syscalls import ProcSyscall, SyscallErrno, SyscallsSample, SyscallTotals
from bpftop.collectors.tcp import RTT_SLOTS, TcpClosed, TcpConn, TcpProc, TcpSample
from bpftop.frame import CollectorStatus, Frame, HostInfo, ProcMeta
from bpftop.record.writer import RecordingWriter

S = 1_000_000_000
FRAMES = 6
SHOWN = FRAMES - 1  # index of the frame the snapshots show (rates over the interval before it)
TS0 = 5_000 * S  # CLOCK_MONOTONIC of the first frame
WALL0 = 1_767_225_600.0 + 9 * 3600 + 30 * 60  # 2026-01-01 09:30:00 UTC
HOST = HostInfo(
    hostname="snaphost", kernel="6.8.0-snapshot", machine="x86_64", ncpu=2, boot_time=WALL0 - 5_000
)
COLLECTORS = ("syscalls", "runqlat", "biolat", "tcp", "pmc", "bpfstats", "stacks")
METHODS = {"bpfstats": "task_file iterator", "stacks": "perf_event+tp_btf"}
FAILURES = {  # what a collector that could not load says, by stem
    "tcp": ("tracepoint sock/inet_sock_set_state not found", "mount tracefs at /sys/kernel/tracing"),
    "pmc": ("perf_event_open(cycles): Permission denied", "run as root or lower kernel.perf_event_paranoid"),
}
EXITED_PID = 4100  # make: exits during the last interval
PROCESS_PID = 2210  # the process whose screen is snapshot

# pid -> (user, name, command line, started seconds before WALL0, kernel thread)
PROCS = {
    1: ("root", "systemd", "/sbin/init splash", 5_000, False),
    812: ("postgres", "postgres", "/usr/lib/postgresql/16/bin/postgres -D /var/lib/postgresql/16/main", 4_000,
          False),
    1204: ("www-data", "nginx", "nginx: worker process", 3_000, False),
    2210: ("alice", "python3", "python3 train.py --epochs 40 --data /srv/data/imagenet", 600, False),
    3301: ("root", "kworker/1:2", "", 4_500, True),
    EXITED_PID: ("bob", "make", "make -j2 all", 30, False),
}  # fmt: skip

# Syscalls per second: pid -> {nr: (calls, errors, errno, log2(ns) slot of most calls)}.
READ, WRITE, OPENAT, FUTEX, EPOLL_WAIT, SENDTO, FSYNC, WAIT4 = 0, 1, 257, 202, 232, 44, 74, 61
SYSCALLS = {
    1: {EPOLL_WAIT: (12, 0, 0, 24)},
    812: {READ: (4_200, 0, 0, 11), WRITE: (1_300, 0, 0, 13), OPENAT: (310, 120, errno.ENOENT, 14),
          FSYNC: (45, 0, 0, 21)},
    1204: {EPOLL_WAIT: (2_400, 0, 0, 18), SENDTO: (2_350, 35, errno.EAGAIN, 12),
           READ: (1_900, 600, errno.EAGAIN, 10)},
    2210: {FUTEX: (15_000, 2_000, errno.ETIMEDOUT, 16), READ: (40, 0, 0, 12)},
    EXITED_PID: {WAIT4: (3, 0, 0, 26), OPENAT: (800, 400, errno.ENOENT, 13)},
}  # fmt: skip
# Run queue: pid -> (on-CPU share of one CPU, waits/s, log2(us) slot, voluntary/s, involuntary/s)
SCHED = {
    1: (0.001, 10, 3, 10, 0),
    812: (0.35, 900, 5, 800, 60),
    1204: (0.12, 2_000, 4, 1_900, 20),
    2210: (0.97, 300, 11, 10, 290),
    3301: (0.02, 150, 2, 150, 0),
    EXITED_PID: (0.5, 40, 8, 30, 10),
}
# Disks: (dev, name, op, ios/s, total, queue, device slot in log2(us))
VDA, NVME = 253 << 20, (259 << 20) | 1
DISK_OPS = (
    (VDA, "vda", 0, 420, 8, 3, 7),
    (VDA, "vda", 1, 130, 10, 6, 9),
    (VDA, "vda", 2, 6, 13, 0, 13),
    (NVME, "nvme0n1", 0, 2_600, 6, 1, 6),
)
# Per process I/O: (pid, dev, disk, op, ios/s, bytes per io, us per io)
PROC_IO = (
    (812, VDA, "vda", 0, 400, 8192, 300),
    (812, VDA, "vda", 1, 100, 16384, 900),
    (3301, VDA, "vda", 1, 30, 4096, 1500),
    (2210, NVME, "nvme0n1", 0, 2_600, 131072, 70),
    (EXITED_PID, VDA, "vda", 0, 20, 4096, 250),
)
# TCP connections: id -> (pid, comm, family, laddr, lport, raddr, rport, passive,
#                         sent/s, recv/s, retransmits/s, srtt us)
CONNS = {
    11: (1204, "nginx", 2, "10.0.0.5", 443, "203.0.113.7", 51514, True, 2_400_000, 90_000, 0, 18_000),
    12: (1204, "nginx", 2, "10.0.0.5", 443, "198.51.100.23", 60211, True, 350_000, 12_000, 1, 95_000),
    13: (812, "postgres", 2, "10.0.0.5", 5432, "10.0.0.9", 40122, True, 120_000, 30_000, 0, 240),
    14: (2210, "python3", 10, "2001:db8::5", 41000, "2001:db8:0:1::80", 443, False, 1_000, 5_200_000, 0,
         2_100),
}  # fmt: skip
# Performance counters per second: pid -> (cycles, instructions, cache references, cache misses)
PMC = {
    812: (900_000_000, 1_400_000_000, 20_000_000, 1_500_000),
    1204: (300_000_000, 330_000_000, 4_000_000, 200_000),
    2210: (2_900_000_000, 7_500_000_000, 60_000_000, 9_000_000),
    EXITED_PID: (1_000_000_000, 900_000_000, 8_000_000, 2_000_000),
}
HW_EVENTS = tuple(
    PmcEvent(name, 0, config, True)
    for config, name in enumerate(("cycles", "instructions", "cache-references", "cache-misses"))
)
# BPF programs: id -> (type, name, runs/s, ns per run, owners, bpftop's own)
PROGS = {
    21: ("cgroup_skb", "sd_fw_egress", 300, 150, ((1, "systemd"),), False),
    48: ("tracing", "handle_sys_enter_exit_full", 40_000, 95, ((611, "bpftop"),), True),
    52: ("perf_event", "do_perf_event", 98, 2_400, ((611, "bpftop"),), True),
    60: ("kprobe", "trace_tcp_retransmit", 2, 800, ((2950, "tcpretrans"), (2951, "tcpretrans")), False),
}
# BPF maps: id -> (type, name, key, value, max entries, entries, memlock kB, owners)
MAPS = {
    7: ("hash", "sd_fw_ingress", 8, 8, 1024, 12, 96, ((1, "systemd"),)),
    31: ("percpu_array", "sys_hists", 4, 296, 512, 512, 2_400, ((611, "bpftop"),)),
    33: ("lru_hash", "proc_calls", 8, 48, 16_384, 9_800, 3_300, ((611, "bpftop"),)),
    40: ("ringbuf", "events", 0, 0, 262_144, 0, 260, ((2950, "tcpretrans"),)),
}
# Stacks: (pid, comm, frames root first, kinds, samples/s, off-CPU ns/s)
CPU_STACKS = (
    (2210, "python3", ("_start", "main", "PyEval_EvalFrame", "matmul", "sgemm_kernel"), "uuuuu", 60),
    (2210, "python3", ("_start", "main", "PyEval_EvalFrame", "load_batch", "read", "ksys_read"), "uuuuuk",
     12),
    (812, "postgres", ("main", "PostgresMain", "exec_simple_query", "ExecScan", "heap_getnext"), "uuuuu", 15),
    (1204, "nginx", ("main", "ngx_process_events", "epoll_wait", "do_epoll_wait"), "uuuk", 4),
)  # fmt: skip
OFF_STACKS = (
    (812, "postgres", ("main", "PostgresMain", "fsync", "ext4_sync_file", "io_schedule"), "uuukk",
     350_000_000),
    (1204, "nginx", ("main", "ngx_process_events", "epoll_wait", "schedule_hrtimeout"), "uuuk", 800_000_000),
)  # fmt: skip


def _log2_hist(slots: int, per_s: dict[int, int], t: int) -> tuple[int, ...]:
    return tuple(per_s.get(i, 0) * t for i in range(slots))


def _spread(slot: int, count: int) -> dict[int, int]:
    """Most of ``count`` in ``slot``, a shoulder each side and a tail, for histograms with a shape."""
    shape = {slot - 1: count // 4, slot + 1: count // 8, slot + 3: count // 50}
    shape[slot] = count - sum(shape.values())
    return {k: v for k, v in shape.items() if k >= 0}


def syscalls_sample(frame: int, ts_ns: int) -> SyscallsSample:
    """Totals, per-process pairs and errnos; the focus histograms are PROCESS_PID's."""
    totals: dict[int, list[int]] = {}
    focus: dict[int, list[int]] = {}
    pairs, errnos = [], []
    for pid, calls in SYSCALLS.items():
        for nr, (per_s, errors, err, slot) in calls.items():
            n = per_s * frame
            pairs.append(
                ProcSyscall(pid, nr, n, errors * frame, n * (3 << slot) // 2, 1 << (slot + 3), PROCS[pid][1])
            )
            if errors:
                errnos.append(SyscallErrno(pid, nr, err, errors * frame))
            targets = [totals, focus] if pid == PROCESS_PID else [totals]
            for target in targets:
                row = target.setdefault(nr, [0, 0, 0, 0] + [0] * SYS_SLOTS)
                row[0] += n
                row[1] += errors * frame
                row[2] += n * (3 << slot) // 2
                row[3] = max(row[3], 1 << (slot + 3))
                for index, count in _spread(slot, n).items():
                    row[4 + index] += count

    def as_totals(table: dict[int, list[int]]) -> tuple[SyscallTotals, ...]:
        rows = sorted(table.items())
        return tuple(SyscallTotals(nr, r[0], r[1], r[2], r[3], tuple(r[4:])) for nr, r in rows)

    return SyscallsSample(
        ts_ns=ts_ns,
        arch="x86_64",
        syscalls=as_totals(totals),
        procs=tuple(pairs),
        errnos=tuple(errnos),
        focus_pid=PROCESS_PID,
        focus=as_totals(focus),
        unmatched_exits=2,
    )


def runqlat_sample(frame: int, ts_ns: int) -> RunqlatSample:
    """System and per-process run-queue waits; CPU 1 is busy, CPU 0 half idle."""
    procs, system = [], [0] * RQ_SLOTS
    for pid, (share, waits, slot, vol, invol) in SCHED.items():
        hist = _log2_hist(RQ_SLOTS, _spread(slot, waits * frame), 1)
        system = [a + b for a, b in zip(system, hist, strict=True)]
        on_cpu = int(share * S) * frame
        name, kthread = PROCS[pid][1], PROCS[pid][4]
        rq_count, rq_wait_ns, rq_max_ns = waits * frame, waits * frame * (3 << slot) * 500, (4 << slot) * 1000
        off_blocked_ns, off_preempted_ns = (S - int(share * S)) * frame // 2, invol * frame * 20_000
        procs.append(
            ProcSched(pid, name, kthread, on_cpu, rq_wait_ns, rq_count, rq_max_ns, vol * frame, invol * frame,
                      off_blocked_ns, off_preempted_ns, hist)
        )  # fmt: skip
    return RunqlatSample(
        ts_ns=ts_ns,
        ncpu=2,
        hist=tuple(system),
        rq_count=sum(system),
        rq_wait_ns=sum(p.rq_wait_ns for p in procs),
        rq_max_ns=16_384_000,
        idle_ns=(frame * S // 2, frame * S // 20),
        procs=tuple(procs),
        running_tids=(0, 2210),
        unmatched=3,
    )


def biolat_sample(frame: int, ts_ns: int) -> BiolatSample:
    """Two disks, four operations, five process rows."""
    disks = []
    for dev, name, op, ios, total, queue, device in DISK_OPS:
        n = ios * frame
        hists = tuple(_log2_hist(BIO_SLOTS, _spread(s, n), 1) for s in (total, queue, device))
        sums = tuple(n * (3 << s) * 500 for s in (total, queue, device))
        maxima = tuple((8 << s) * 1000 for s in (total, queue, device))
        disks.append(DiskOpTotals(dev, name, op, op == 2, n, n * 4096 * (1 + op), sums, maxima, hists))  # type: ignore[arg-type]
    procs = tuple(
        ProcIO(pid, dev, disk, op, ios * frame, ios * frame * size,
               ios * frame * us * 1000, PROCS[pid][1])
        for pid, dev, disk, op, ios, size, us in PROC_IO
    )  # fmt: skip
    return BiolatSample(
        ts_ns=ts_ns, disks=tuple(disks), procs=procs, in_flight=4, unmatched=1, merges=7 * frame
    )


def tcp_sample(frame: int, ts_ns: int) -> TcpSample:
    """Four live connections (three accepted), two closed ones, an RTT histogram."""
    conns = tuple(
        TcpConn(cid, pid, comm, fam, laddr, lport, raddr, rport, 1, passive, False, TS0 - 30 * S,
                sent * frame, recv * frame, retr * frame, 0, srtt)
        for cid, (pid, comm, fam, laddr, lport, raddr, rport, passive, sent, recv, retr, srtt)
        in CONNS.items()
    )  # fmt: skip
    procs: dict[int, TcpProc] = {}
    for pid, comm, *_, sent, recv, retr, _srtt in CONNS.values():
        old = procs.get(pid, TcpProc(pid, comm, 0, 0, 0, 0, 0, 0, 0, 0))
        procs[pid] = old._replace(
            sent_bytes=old.sent_bytes + sent * frame,
            recv_bytes=old.recv_bytes + recv * frame,
            sends=old.sends + 10 * frame,
            recvs=old.recvs + 8 * frame,
            retrans=old.retrans + retr * frame,
            active_opens=1,
        )
    closed = (
        TcpClosed(5, 2210, "python3", 2, "10.0.0.5", 39810, "93.184.216.34", 80, False, False, TS0 - 9 * S,
                  TS0 - 2 * S, 1_234, 880_000, 1_234, 880_000, 0, 0, 31_000),
        TcpClosed(6, 1204, "nginx", 2, "10.0.0.5", 443, "192.0.2.44", 50022, True, False, TS0 - 4 * S,
                  TS0 - S, 52_000, 900, 52_000, 900, 3, 1, 140_000),
    )  # fmt: skip
    rtt = _log2_hist(RTT_SLOTS, {7: 30 * frame, 11: 12 * frame, 14: 20 * frame, 16: 3 * frame}, 1)
    return TcpSample(
        ts_ns=ts_ns, conns=conns, procs=tuple(procs.values()), closed=closed, rtt_hist=rtt,
        retrans=frame, resets_sent=1, resets_recv=2, active_opens=40 + 2 * frame,
        passive_opens=300 + 9 * frame, closes=330 + 10 * frame,
    )  # fmt: skip


def pmc_sample(frame: int, ts_ns: int) -> PmcSample:
    """Hardware counters; cache events ran half the time (scaled, marked ``*``)."""
    running = (S, S, S // 2, S // 2)
    procs = []
    for pid, per_s in PMC.items():
        counted = tuple(r * frame * run // S for r, run in zip(per_s, running, strict=True))
        procs.append(
            ProcCounts(
                pid,
                PROCS[pid][1],
                False,
                100 * frame,
                counted,
                (S * frame,) * 4,
                tuple(r * frame for r in running),
            )
        )
    cpus = tuple(
        CpuCounts(cpu, tuple(sum(p.counters[i] for p in procs[cpu::2]) for i in range(4)), (S * frame,) * 4,
                  tuple(r * frame for r in running), (0,) * 4)
        for cpu in (0, 1)
    )  # fmt: skip
    return PmcSample(ts_ns, HW_EVENTS, cpus, tuple(procs), hardware=True, switches=3_000 * frame)


def bpfstats_sample(frame: int, ts_ns: int) -> BpfstatsSample:
    """Four programs (two bpftop's own) and four maps."""
    progs = tuple(
        ProgRow(pid, kind, name, f"{pid:016x}", WALL0 - 3_600, 0, 900 + pid, 600 + pid, 8192, (7,), 40 + pid,
                200 + pid, True, ns * runs * frame, runs * frame, 1 if pid == 60 else 0, owners, own)
        for pid, (kind, name, runs, ns, owners, own) in PROGS.items()
    )  # fmt: skip
    maps = tuple(
        MapRow(mid, kind, name, 0, key, value, max_entries, entries, False, kb * 1024, 0, owners,
               owners[0][1] == "bpftop")
        for mid, (kind, name, key, value, max_entries, entries, kb, owners) in MAPS.items()
    )  # fmt: skip
    return BpfstatsSample(ts_ns, progs, maps, stats_method="BPF_ENABLE_STATS", scan_ns=1_200_000)


def stacks_sample(frame: int, ts_ns: int) -> StacksSample:
    """CPU samples and off-CPU time by stack."""
    return StacksSample(
        ts_ns=ts_ns,
        freq_hz=49,
        min_block_ns=1000,
        cpu=tuple(StackCount(p, c, f, k, v * frame, 0) for p, c, f, k, v in CPU_STACKS),
        off=tuple(StackCount(p, c, f, k, 5 * frame, ns * frame) for p, c, f, k, ns in OFF_STACKS),
        cpu_losses=StackLosses(events=98 * frame, idle=40 * frame, user_collided=1),
        off_losses=StackLosses(events=7 * frame),
    )


BUILDERS = {
    "syscalls": syscalls_sample,
    "runqlat": runqlat_sample,
    "biolat": biolat_sample,
    "tcp": tcp_sample,
    "pmc": pmc_sample,
    "bpfstats": bpfstats_sample,
    "stacks": stacks_sample,
}


def build_frame(frame: int, failed: str = "") -> Frame:
    """Frame number ``frame`` (1-based seconds of counting); ``failed``: a collector that did not load."""
    ts_ns = TS0 + frame * S
    samples = {name: build(frame, ts_ns) for name, build in BUILDERS.items() if name != failed}
    status = []
    for name in COLLECTORS:
        if name == failed:
            error, hint = FAILURES[name]
            status.append(CollectorStatus(name, False, error=error, hint=hint))
        else:
            status.append(CollectorStatus(name, True, method=METHODS.get(name, "tp_btf")))
    procs = {
        pid: ProcMeta(
            pid=pid,
            ppid=0 if pid == 1 else 2 if kthread else 1,
            user=user,
            name=name,
            cmdline=cmdline,
            start_time=WALL0 - ago,
            exited=pid == EXITED_PID and frame == FRAMES,
        )
        for pid, (user, name, cmdline, ago, kthread) in PROCS.items()
    }
    return Frame(
        ts_ns=ts_ns,
        wall=WALL0 + frame,
        samples=samples,
        procs=procs,
        status=tuple(status),
        host=HOST,
        delay_s=1.0,
    )


def write_recording(path: Path, failed: str = "") -> Path:
    """Write ``FRAMES`` frames to ``path`` (a new file); ``failed`` names a collector that did not load."""
    writer = RecordingWriter(str(path), host=HOST, collectors=list(COLLECTORS), delay_s=1.0)
    for frame in range(1, FRAMES + 1):
        assert writer.append(build_frame(frame, failed)), writer.message
    writer.close()
    return path
