"""The procs pane's rows: one per process, joining each collector's per-process view.

Not a collector's deriver: it pairs the syscalls, runqlat, biolat (and tcp)
views' rows by pid, and only sums a process's biolat rows (one per disk and operation), rates
included, so no rate maths happens here. A process only some collectors saw gets
the others' figures empty (0 counts, None rates), so a CPU hog that makes no
syscalls still shows, as does a process that only does disk I/O, or one
runqlat could not load for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from bpftop.collectors.base import tuple_maker
from bpftop.derive import Derived, LazyViews

if TYPE_CHECKING:  # the views' modules load with the views, in the sampling thread (first frame)
    from bpftop.derive.biolat import BiolatView, ProcIORow
    from bpftop.derive.pmc import PmcView
    from bpftop.derive.runqlat import ProcCpu, RunqlatView
    from bpftop.derive.syscalls import ProcRow, SyscallsView
    from bpftop.derive.tcp import TcpProcRow, TcpView


class ProcsRow(NamedTuple):
    """One process: the syscalls view's ``ProcRow`` fields (same order), the scheduler's, the disks'."""

    pid: int
    comm: str
    user: str
    cmdline: str
    calls: int
    errors: int
    calls_total: int
    errors_total: int
    calls_per_s: float | None
    errors_per_s: float | None
    avg_ns: float | None  # syscall latency
    max_ns: int
    top_syscall: str
    top_errno: str
    exited: bool
    cpu_pct: float | None = None  # 100 = one CPU
    on_cpu_ns: int = 0
    on_cpu_total_ns: int = 0
    rq_waits: int = 0
    rq_waits_total: int = 0
    rq_avg_ns: float | None = None
    disk_ios: int = 0  # every disk and operation
    disk_bytes: int = 0
    disk_ios_total: int = 0
    disk_bytes_total: int = 0
    disk_ios_per_s: float | None = None
    disk_bytes_per_s: float | None = None
    disk_avg_ns: float | None = None  # insert -> complete, averaged over the interval's I/Os
    ipc: float | None = None  # instructions per cycle (pmc); None without hardware counters
    net_sent_bytes: int = 0  # TCP application bytes (tcp collector), interval
    net_recv_bytes: int = 0
    net_sent_per_s: float | None = None
    net_recv_per_s: float | None = None
    net_retrans: int = 0  # TCP retransmits of its connections, interval


# The rows are joined by position, for speed (300 processes a refresh): each
# part's fields are named, and PARTS_IN_ORDER (checked by a test) says they line up.
SYSCALL_FIELDS = (  # the syscalls view's ProcRow._fields (a test checks)
    *("pid", "comm", "user", "cmdline", "calls", "errors", "calls_total", "errors_total"),
    *("calls_per_s", "errors_per_s", "avg_ns", "max_ns", "top_syscall", "top_errno", "exited"),
)
SCHED_FIELDS = ("cpu_pct", "on_cpu_ns", "on_cpu_total_ns", "rq_waits", "rq_waits_total", "rq_avg_ns")
DISK_FIELDS = (
    *("disk_ios", "disk_bytes", "disk_ios_total", "disk_bytes_total"),
    *("disk_ios_per_s", "disk_bytes_per_s", "disk_avg_ns"),
)
PARTS_IN_ORDER = (*SYSCALL_FIELDS, *SCHED_FIELDS, *DISK_FIELDS)


_NEW = tuple_maker(ProcsRow)
_DEFAULTS = tuple(ProcsRow._field_defaults[name] for name in ProcsRow._fields[len(PARTS_IN_ORDER) :])


def _make(parts: tuple[Any, ...]) -> ProcsRow:
    return _NEW(parts + _DEFAULTS)  # the fields after PARTS_IN_ORDER keep their defaults


SchedPart = tuple[float | None, int, int, int, int, float | None]
DiskPart = tuple[int, int, int, int, float | None, float | None, float | None]
_NO_SCHED: SchedPart = (None, 0, 0, 0, 0, None)
_NO_DISK: DiskPart = (0, 0, 0, 0, None, None, None)
_NO_SYSCALLS = (0, 0, 0, 0, None, None, None, 0, "", "")


def _sched_part(row: ProcCpu) -> SchedPart:
    return (row.cpu_pct, row.on_cpu_ns, row.on_cpu_total_ns, row.rq_count, row.rq_count_total, row.rq_avg_ns)


def _sum_rates(rates: Iterable[float | None]) -> float | None:
    """Sum of the rows' rates; None before the first interval (then every row's is None)."""
    total = 0.0
    for value in rates:
        if value is None:
            return None
        total += value
    return total


def _disk_part(rows: list[ProcIORow]) -> DiskPart:
    ios = sum(r.ios for r in rows)
    latency_ns = sum(r.avg_ns * r.ios for r in rows if r.avg_ns is not None)
    return (
        ios,
        sum(r.bytes for r in rows),
        sum(r.ios_total for r in rows),
        sum(r.bytes_total for r in rows),
        _sum_rates(r.iops for r in rows),
        _sum_rates(r.bytes_per_s for r in rows),
        latency_ns / ios if ios else None,
    )


def _disk_by_pid(view: BiolatView | None) -> dict[int, list[ProcIORow]]:
    out: dict[int, list[ProcIORow]] = {}
    for r in view.procs if view is not None else ():
        out.setdefault(r.pid, []).append(r)
    return out


def proc_rows(derived: Derived) -> list[ProcsRow] | None:
    """Rows of every process any view has; None when no per-process collector runs."""
    syscalls: SyscallsView | None = derived.view("syscalls")
    sched: RunqlatView | None = derived.view("runqlat")
    biolat: BiolatView | None = derived.view("biolat")
    if syscalls is None and sched is None and biolat is None and "tcp" not in derived.views:
        return None
    sched_by_pid = sched.cpu if sched is not None else {}  # lean: no histograms
    disk_by_pid = _disk_by_pid(biolat)
    rows: list[ProcsRow] = []
    seen: set[int] = set()
    p: ProcRow
    for p in syscalls.procs if syscalls is not None else ():
        s = sched_by_pid.get(p.pid)
        d = disk_by_pid.get(p.pid)
        sched_part = _sched_part(s) if s is not None else _NO_SCHED
        rows.append(_make((*p, *sched_part, *(_disk_part(d) if d else _NO_DISK))))
        seen.add(p.pid)
    for s in sched_by_pid.values():
        if s.pid not in seen:
            d = disk_by_pid.get(s.pid)
            head = (s.pid, s.comm, s.user, s.cmdline, *_NO_SYSCALLS, s.exited)
            rows.append(_make((*head, *_sched_part(s), *(_disk_part(d) if d else _NO_DISK))))
            seen.add(s.pid)
    for pid, d in disk_by_pid.items():
        if pid not in seen:
            meta = derived.procs.get(pid)
            head = (pid, d[0].comm, d[0].user, meta.cmdline if meta else "", *_NO_SYSCALLS, d[0].exited)
            rows.append(_make((*head, *_NO_SCHED, *_disk_part(d))))
    tcp: TcpView | None = derived.view("tcp")
    if tcp is not None:  # a process only the tcp collector saw gets a row too
        rows = [_with_net(r, tcp.by_pid[r.pid]) if r.pid in tcp.by_pid else r for r in rows]
        known = {r.pid for r in rows}
        for t in tcp.procs:
            if t.pid not in known:
                meta = derived.procs.get(t.pid)
                head = (t.pid, t.comm, t.user, meta.cmdline if meta else "", *_NO_SYSCALLS, t.exited)
                rows.append(_with_net(_make((*head, *_NO_SCHED, *_NO_DISK)), t))
    pmc = hardware_pmc(derived)
    if pmc is not None:
        ipc = {pid: r.ipc for pid, r in pmc.by_pid.items() if r.ipc is not None}
        rows = [r._replace(ipc=ipc[r.pid]) if r.pid in ipc else r for r in rows]
    return rows


def joined_rows(derived: Derived) -> list[ProcsRow] | None:
    """``proc_rows``, built once per frame: the sampling thread builds them first.

    On the event loop the join of 300 processes took ~3 ms of each tick.
    """
    try:
        rows: list[ProcsRow] | None = derived.joins["procs"]
    except KeyError:
        rows = derived.joins["procs"] = proc_rows(derived)
    return rows


def hardware_pmc(derived: Derived) -> PmcView | None:
    """The pmc view when it counts hardware events (IPC), else None.

    Software counters have no IPC, and the procs pane shows nothing else of
    pmc's: without a PMU its view (6 ms a tick at 300 processes) is not derived.
    """
    views = derived.views
    if isinstance(views, LazyViews):
        sample = views.sample("pmc")
        if sample is None or not sample.hardware:
            return None
    pmc: PmcView | None = derived.view("pmc")
    return pmc if pmc is not None and pmc.hardware else None


def _with_net(row: ProcsRow, tcp: TcpProcRow) -> ProcsRow:
    return row._replace(
        net_sent_bytes=tcp.sent_bytes,
        net_recv_bytes=tcp.recv_bytes,
        net_sent_per_s=tcp.sent_per_s,
        net_recv_per_s=tcp.recv_per_s,
        net_retrans=tcp.retrans,
    )
