"""What the process screen shows of one process: its part of every derived view.

``follow(prev, pid, derived)`` picks the process's rows out of each collector's
view (the views are already derived: no rate maths here). While the process
runs, every section shows the current frame, so a connection that closed or a
disk it stopped using goes away. Once it has exited, a section the frame no
longer has data for keeps what it showed last: the last figures bpftop saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bpftop.derive import Derived
from bpftop.derive.biolat import BiolatView, ProcDisk, ProcIORow
from bpftop.derive.pmc import PmcRow, PmcView
from bpftop.derive.runqlat import RunqlatView, SchedRow
from bpftop.derive.stacks import StackRow, StacksView
from bpftop.derive.syscalls import ProcSyscallRow, SyscallRow, SyscallsView
from bpftop.derive.tcp import ClosedRow, ConnRow, TcpProcRow, TcpView
from bpftop.frame import ProcMeta

# Section name -> the collector (derive view) it shows.
COLLECTOR_OF = {
    "cpu": "runqlat",
    "syscalls": "syscalls",
    "disk": "biolat",
    "tcp": "tcp",
    "pmc": "pmc",
    "stacks": "stacks",
}


@dataclass(frozen=True)
class ProcessData:
    """One process across every collector, as of the last frame (or its last data).

    Attributes:
        pid: the process.
        meta: its metadata, the last seen (None: never seen).
        exited: it exited, or is no longer in the frames.
        seen: collector stem -> the process was in that view at least once.
        sched: on-CPU and run-queue figures (runqlat).
        syscalls: its syscalls (syscalls view's per-process rows).
        focus: per-syscall rows with latency histograms, counted in the kernel
            for the focused pid only (``set_focus``); () until they come.
        focus_on: the syscalls collector's focus is on this pid.
        disk: its I/O per disk and operation (biolat).
        disk_total: all its I/O together.
        conns: its live TCP connections; closed: recently closed ones.
        tcp: its TCP totals.
        pmc: its counter row; pmc_view: the view (events, hardware, notice).
        cpu_stacks, off_stacks: its stacks since start.
        stacks_view: the stacks view (errors, frequency), None before one came.
        last_wall: epoch seconds of the last frame that had it running (0: none).
    """

    pid: int
    meta: ProcMeta | None = None
    exited: bool = False
    seen: frozenset[str] = frozenset()
    sched: SchedRow | None = None
    syscalls: tuple[ProcSyscallRow, ...] = ()
    focus: tuple[SyscallRow, ...] = ()
    focus_on: bool = False
    disk: tuple[ProcIORow, ...] = ()
    disk_total: ProcDisk | None = None
    conns: tuple[ConnRow, ...] = ()
    closed: tuple[ClosedRow, ...] = ()
    tcp: TcpProcRow | None = None
    pmc: PmcRow | None = None
    pmc_view: PmcView | None = None
    cpu_stacks: tuple[StackRow, ...] = ()
    off_stacks: tuple[StackRow, ...] = ()
    stacks_view: StacksView | None = None
    views: frozenset[str] = field(default_factory=frozenset)  # views present in the last frame
    last_wall: float = 0.0

    @property
    def comm(self) -> str:
        """Its name, or ``pid N`` before any metadata."""
        return (self.meta.name if self.meta else "") or f"pid {self.pid}"


def _current(pid: int, derived: Derived) -> dict[str, Any]:
    """This process's part of each view present in ``derived``."""
    out: dict[str, Any] = {}
    seen = set()
    sys_view: SyscallsView | None = derived.view("syscalls")
    if sys_view is not None:
        rows = sys_view.by_pid.get(pid, ())
        focus_on = sys_view.focus_pid == pid
        out |= {"syscalls": rows, "focus": sys_view.focus if focus_on else (), "focus_on": focus_on}
        if rows:
            seen.add("syscalls")
    sched_view: RunqlatView | None = derived.view("runqlat")
    if sched_view is not None:
        out["sched"] = sched_view.by_pid.get(pid)
        if out["sched"] is not None:
            seen.add("runqlat")
    bio: BiolatView | None = derived.view("biolat")
    if bio is not None:
        out["disk"] = tuple(r for r in bio.procs if r.pid == pid)
        out["disk_total"] = bio.by_pid.get(pid)
        if out["disk"]:
            seen.add("biolat")
    tcp: TcpView | None = derived.view("tcp")
    if tcp is not None:
        out["conns"] = tuple(r for r in tcp.conns if r.pid == pid)
        out["closed"] = tuple(r for r in tcp.closed if r.pid == pid)
        out["tcp"] = tcp.by_pid.get(pid)
        if out["tcp"] is not None or out["conns"] or out["closed"]:
            seen.add("tcp")
    pmc: PmcView | None = derived.view("pmc")
    if pmc is not None:
        out["pmc"] = pmc.by_pid.get(pid)
        out["pmc_view"] = pmc
        if out["pmc"] is not None:
            seen.add("pmc")
    stacks: StacksView | None = derived.view("stacks")
    if stacks is not None:
        out["cpu_stacks"] = stacks.rows("cpu", pid)
        out["off_stacks"] = stacks.rows("off", pid)
        out["stacks_view"] = stacks
        if out["cpu_stacks"] or out["off_stacks"]:
            seen.add("stacks")
    out["seen"] = frozenset(seen)
    return out


def follow(prev: ProcessData | None, pid: int, derived: Derived | None) -> ProcessData:
    """The process's data after a new frame; ``prev`` is what the screen showed before.

    A process missing from ``derived.procs``, or marked exited there, is
    exited. The first frame that says so still counts (it holds the process's
    last interval): a section with something in it takes it, one with nothing
    keeps ``prev``'s. After that the sections stay as they are: the kernel may
    keep reporting the dead process's counters, unchanged, and their rates of
    zero would hide what it last did.
    """
    data = prev if prev is not None and prev.pid == pid else ProcessData(pid=pid)
    if derived is None:
        return data
    meta = derived.procs.get(pid)
    exited = meta is None or meta.exited
    if exited and data.exited:
        return replace(data, meta=meta or data.meta, views=frozenset(derived.views))
    current = _current(pid, derived)
    seen = data.seen | current.pop("seen")
    if exited:
        # Keep the last non-empty figures of each section; the focus histograms
        # too, although the kernel stopped counting.
        current = {k: v for k, v in current.items() if v or k in ("focus_on", "pmc_view", "stacks_view")}
        if not current.get("focus"):
            current.pop("focus_on", None)
    return replace(
        data,
        meta=meta or data.meta,
        exited=exited,
        seen=seen,
        views=frozenset(derived.views),
        last_wall=data.last_wall if exited else derived.wall,
        **current,
    )
