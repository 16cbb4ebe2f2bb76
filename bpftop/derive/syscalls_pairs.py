"""Per-process syscall figures: one lean pass for the procs table, a process's rows when asked.

The kernel keeps one entry per (process, syscall) pair: thousands a refresh
on a busy machine. The procs pane needs one row per process (``ProcRow``),
and only a process's screen needs that process's rows per syscall
(``ProcSyscallRow``). So ``proc_totals`` sums each process's pairs in one
pass over plain numbers, and ``PairRows`` builds a process's rows the first
time they are looked up (issue 23: building every pair's row each refresh
was most of the syscalls view's cost).
"""

from __future__ import annotations

import errno as errno_mod
import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from bpftop.collectors.base import tuple_maker
from bpftop.collectors.syscalls import ProcSyscall
from bpftop.collectors.syscalls_table import syscall_name
from bpftop.derive import rate
from bpftop.frame import ProcMeta

Pair = tuple[int, int]  # (pid, nr)


class ProcSyscallRow(NamedTuple):
    """One (process, syscall) pair over the interval (a tuple: thousands per tick)."""

    pid: int
    nr: int
    name: str
    calls: int
    errors: int
    calls_total: int
    errors_total: int
    calls_per_s: float | None
    errors_per_s: float | None
    latency_ns: int  # of the calls timed (``timed`` of ``calls``)
    avg_ns: float | None
    max_ns: int
    top_errno: str
    timed: int


class ProcRow(NamedTuple):
    """One process, all its syscalls, over the interval."""

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


def errno_name(err: int) -> str:
    """``EBADF`` for 9; the number for unknown values."""
    return errno_mod.errorcode.get(err, str(err))


def _deltas(ps: ProcSyscall, p: ProcSyscall | None) -> tuple[int, int, int, int]:
    """(calls, errors, latency, timed) over the interval; all of it for a new or re-created pair.

    ``timed`` < 0 in a recording from before timing could be off: every call timed.
    """
    if p is None or ps.calls < p.calls:
        return ps.calls, ps.errors, ps.total_ns, ps.timed if ps.timed >= 0 else ps.calls
    calls = ps.calls - p.calls
    timed = ps.timed - p.timed if ps.timed >= 0 and p.timed >= 0 else calls
    return calls, ps.errors - p.errors, ps.total_ns - p.total_ns, timed


def _top_errno(errs: dict[int, int] | None) -> str:
    if errs and any(n > 0 for n in errs.values()):
        return errno_name(max(errs, key=errs.__getitem__))
    return ""


class Context(NamedTuple):
    """What turning pairs into rows needs besides the two samples' pairs."""

    prev: Mapping[Pair, ProcSyscall]
    interval_s: float | None
    names: dict[int, str]
    errs_by_pair: Mapping[Pair, dict[int, int]]


class PairRows(Mapping[int, tuple[ProcSyscallRow, ...]]):
    """Each process's rows per syscall, built on first lookup and kept.

    Args:
        pairs: the current sample's pairs.
        spans: per shown process, its pairs' index ranges in ``pairs``.
        ctx: the previous pairs, interval, names and errno counts.
    """

    def __init__(self, pairs: tuple[ProcSyscall, ...], spans: dict[int, list[range]], ctx: Context) -> None:
        self._pairs = pairs
        self._spans = spans
        self._ctx = ctx
        self._built: dict[int, tuple[ProcSyscallRow, ...]] = {}

    def __getitem__(self, pid: int) -> tuple[ProcSyscallRow, ...]:
        rows = self._built.get(pid)
        if rows is None:
            spans = self._spans[pid]  # KeyError: not a process of this view
            rows = self._built[pid] = tuple(self._row(self._pairs[i]) for span in spans for i in span)
        return rows

    def __iter__(self) -> Iterator[int]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)

    def _row(self, ps: ProcSyscall) -> ProcSyscallRow:
        ctx = self._ctx
        calls, errors, latency, timed = _deltas(ps, ctx.prev.get((ps.pid, ps.nr)))
        return ProcSyscallRow(
            ps.pid,
            ps.nr,
            ctx.names.get(ps.nr) or syscall_name(ps.nr, ctx.names),
            calls,
            errors,
            ps.calls,
            ps.errors,
            rate(calls, ctx.interval_s),
            rate(errors, ctx.interval_s),
            latency,
            latency / timed if timed > 0 else None,
            ps.max_ns,
            _top_errno(ctx.errs_by_pair.get((ps.pid, ps.nr))) if errors else "",
            timed,
        )


_NEW_PROC_ROW = tuple_maker(ProcRow)


def proc_totals(
    pairs: tuple[ProcSyscall, ...],
    ctx: Context,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None,
) -> tuple[list[ProcRow], PairRows]:
    """Each shown process's row (exited ones with no calls left out), and its pairs' rows on demand.

    The hot loop of a refresh, one pass per pair with plain numbers. Pairs
    come sorted by (pid, nr) from the collector, so a process's pairs are
    one run; a recording's that are not still add up (runs are merged).
    """
    prev_get = ctx.prev.get
    spans: dict[int, list[range]] = {}
    # Per process: [calls, errors, latency, timed, calls_total, errors_total, max_ns,
    #               top pair, its calls, failing pair, its errors]
    acc: dict[int, list[Any]] = {}
    shown: dict[int, str | None] = {}  # pid -> name, None: filtered out by --comm
    run_pid, run_start, a = -1, 0, None
    for i, ps in enumerate(pairs):
        pid = ps.pid
        if pid != run_pid:
            if run_pid >= 0 and a is not None:
                spans[run_pid].append(range(run_start, i))
            run_pid, run_start = pid, i
            if pid not in shown:
                meta = procs.get(pid)
                name = meta.name if meta and meta.name else ps.comm
                comm = None if comm_re and not comm_re.search(name) else name
                shown[pid] = comm
                if comm is not None:
                    spans[pid] = []
                    acc[pid] = [0, 0, 0, 0, 0, 0, 0, ps, 0, ps, 0]
            a = acc.get(pid)
        if a is None:
            continue
        # _deltas inlined, on the tuple's fields: this runs once per pair.
        _, nr, c_calls, c_errors, c_total, c_max, _, c_timed = ps
        p = prev_get((pid, nr))
        if p is None or c_calls < p[2]:
            calls, errors, latency, timed = c_calls, c_errors, c_total, c_timed if c_timed >= 0 else c_calls
        else:
            calls = c_calls - p[2]
            errors, latency = c_errors - p[3], c_total - p[4]
            timed = c_timed - p[7] if c_timed >= 0 and p[7] >= 0 else calls
        a[0] += calls
        a[1] += errors
        a[2] += latency
        a[3] += timed
        a[4] += c_calls
        a[5] += c_errors
        if c_max > a[6]:  # noqa: PLR1730 (max() costs a call per pair)
            a[6] = c_max
        if calls > a[8]:
            a[7], a[8] = ps, calls
        if errors > a[10]:
            a[9], a[10] = ps, errors
    if run_pid >= 0 and a is not None:
        spans[run_pid].append(range(run_start, len(pairs)))

    rows = [row for pid, a in acc.items() if (row := _proc_row(pid, a, shown[pid] or "", procs, ctx))]
    rows.sort(key=lambda r: (-r.calls, r.pid))
    return rows, PairRows(pairs, spans, ctx)


def _proc_row(
    pid: int, a: list[Any], comm: str, procs: Mapping[int, ProcMeta], ctx: Context
) -> ProcRow | None:
    """The row of one process from its sums (``proc_totals``); None: exited with no calls left to show."""
    (
        calls,
        errors,
        latency,
        timed,
        calls_total,
        errors_total,
        max_ns,
        top,
        top_calls,
        failing,
        failing_errors,
    ) = a
    meta = procs.get(pid) or ProcMeta(pid=pid)  # not built eagerly: one per process
    if meta.exited and not calls:
        return None
    names = ctx.names
    top_errno = ""
    if failing_errors:
        err = _top_errno(ctx.errs_by_pair.get((pid, failing.nr)))
        if err:
            top_errno = f"{names.get(failing.nr) or syscall_name(failing.nr, names)}:{err}"
    interval_s = ctx.interval_s
    return _NEW_PROC_ROW((
        pid, comm, meta.user, meta.cmdline, calls, errors, calls_total, errors_total,
        None if not interval_s else calls / interval_s,  # rate(), inlined: once per process
        None if not interval_s else errors / interval_s,
        latency / timed if timed else None,
        max_ns,
        (names.get(top.nr) or syscall_name(top.nr, names)) if top_calls else "",
        top_errno,
        meta.exited,
    ))  # fmt: skip
