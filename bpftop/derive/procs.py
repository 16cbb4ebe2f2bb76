"""The procs pane's rows: one per process, joining each collector's per-process view.

Not a collector's deriver (no rates are computed here): it pairs the syscalls
view's rows with the runqlat view's by pid. A process only one collector saw
gets the other's figures empty (0 counts, None rates), so a CPU hog that makes
no syscalls still shows, and so does a process runqlat could not load for.
"""

from __future__ import annotations

from typing import NamedTuple

from bpftop.derive import Derived
from bpftop.derive.runqlat import RunqlatView, SchedRow
from bpftop.derive.syscalls import ProcRow, SyscallsView


class ProcsRow(NamedTuple):
    """One process: the syscalls view's ``ProcRow`` fields (same order), then the scheduler's."""

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
    avg_ns: float | None
    max_ns: int
    top_syscall: str
    top_errno: str
    exited: bool
    cpu_pct: float | None = None  # 100 = one CPU
    on_cpu_ns: int = 0
    rq_avg_ns: float | None = None
    rq_p99_ns: float | None = None


_NO_SCHED = (None, 0, None, None)


def _sched_part(row: SchedRow) -> tuple[float | None, int, float | None, float | None]:
    return row.cpu_pct, row.on_cpu_ns, row.rq_avg_ns, row.rq_p99_ns


def _from_sched(row: SchedRow) -> ProcsRow:
    return ProcsRow(
        row.pid, row.comm, row.user, row.cmdline, 0, 0, 0, 0, None, None, None, 0, "", "", row.exited,
        *_sched_part(row),
    )  # fmt: skip


def proc_rows(derived: Derived) -> list[ProcsRow] | None:
    """Rows of every process either view has; None when neither collector runs."""
    syscalls: SyscallsView | None = derived.views.get("syscalls")
    sched: RunqlatView | None = derived.views.get("runqlat")
    if syscalls is None and sched is None:
        return None
    by_pid = sched.by_pid if sched is not None else {}
    rows: list[ProcsRow] = []
    seen: set[int] = set()
    p: ProcRow
    for p in syscalls.procs if syscalls is not None else ():
        s = by_pid.get(p.pid)
        rows.append(ProcsRow(*p, *(_sched_part(s) if s is not None else _NO_SCHED)))
        seen.add(p.pid)
    if sched is not None:
        rows.extend(_from_sched(s) for s in sched.procs if s.pid not in seen)
    return rows
