"""Per-process syscall figures: one lean pass for the procs table, a process's rows when asked.

The kernel keeps one entry per (process, syscall) pair: thousands a refresh
on a busy machine. The procs pane needs one row per process (``ProcRow``),
and only a process's screen needs that process's rows per syscall
(``ProcSyscallRow``). So ``proc_totals`` sums each process's pairs in one
pass over plain numbers, and ``pair_rows`` builds a process's rows the first
time they are looked up (issue 23: building every pair's row each refresh
was most of the syscalls view's cost).
"""

from __future__ import annotations

import errno as errno_mod
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from bpftop.collectors.base import tuple_maker
from bpftop.collectors.syscalls import ProcSyscall
from bpftop.collectors.syscalls_table import syscall_name
from bpftop.derive import LazyRows, rate
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
    """The errno counted most this interval, "" when none was."""
    if not errs:
        return ""
    top = max(errs, key=errs.__getitem__) if len(errs) > 1 else next(iter(errs))
    return errno_name(top) if errs[top] > 0 else ""


class Context(NamedTuple):
    """What turning pairs into rows needs besides the two samples' pairs."""

    prev: Mapping[Pair, ProcSyscall]
    interval_s: float | None
    names: dict[int, str]
    errs_by_pair: Mapping[Pair, dict[int, int]]


def _pair_row(ps: ProcSyscall, ctx: Context) -> ProcSyscallRow:
    """One pair's row over the interval."""
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


def pair_rows(
    pairs: tuple[ProcSyscall, ...], spans: dict[int, list[range]], ctx: Context
) -> LazyRows[int, tuple[ProcSyscallRow, ...]]:
    """Each shown process's rows per syscall, built on first lookup and kept.

    Args:
        pairs: the current sample's pairs.
        spans: per shown process, its pairs' index ranges in ``pairs``.
        ctx: the previous pairs, interval, names and errno counts.
    """

    def build(pid: int) -> tuple[ProcSyscallRow, ...]:
        return tuple(_pair_row(pairs[i], ctx) for span in spans[pid] for i in span)

    return LazyRows(spans, build)


_NEW_PROC_ROW = tuple_maker(ProcRow)


def proc_totals(
    pairs: tuple[ProcSyscall, ...],
    ctx: Context,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None,
) -> tuple[list[ProcRow], LazyRows[int, tuple[ProcSyscallRow, ...]]]:
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
    # The current run's sums live in locals (a list's items cost ~3x as much
    # to add to), folded into acc when the pid changes.
    run_pid, run_start, keep = -1, 0, False
    calls_s = errors_s = latency_s = timed_s = 0  # interval sums
    calls_t = errors_t = max_s = top_calls = fail_errors = 0  # totals, maximum, top pairs' counts
    top = fail = None
    for i, ps in enumerate(pairs):
        pid, nr, c_calls, c_errors, c_total, c_max, comm, c_timed = ps
        if pid != run_pid:
            if keep:
                run = [calls_s, errors_s, latency_s, timed_s, calls_t, errors_t, max_s]
                _fold(acc, spans, run_pid, range(run_start, i), [*run, top, top_calls, fail, fail_errors])
            run_pid, run_start = pid, i
            if pid not in shown:
                meta = procs.get(pid)
                name = meta.name if meta and meta.name else comm
                shown[pid] = None if comm_re and not comm_re.search(name) else name
            keep = shown[pid] is not None
            calls_s = errors_s = latency_s = timed_s = 0
            calls_t = errors_t = max_s = top_calls = fail_errors = 0
            top = fail = ps
        if not keep:
            continue
        # _deltas inlined: this runs once per pair.
        p = prev_get((pid, nr))
        if p is None or c_calls < p[2]:
            calls, errors, latency, timed = c_calls, c_errors, c_total, c_timed if c_timed >= 0 else c_calls
        else:
            calls = c_calls - p[2]
            errors, latency = c_errors - p[3], c_total - p[4]
            timed = c_timed - p[7] if c_timed >= 0 and p[7] >= 0 else calls
        calls_s += calls
        errors_s += errors
        latency_s += latency
        timed_s += timed
        calls_t += c_calls
        errors_t += c_errors
        if c_max > max_s:  # noqa: PLR1730 (max() costs a call per pair)
            max_s = c_max
        if calls > top_calls:
            top, top_calls = ps, calls
        if errors > fail_errors:
            fail, fail_errors = ps, errors
    if keep:
        run = [calls_s, errors_s, latency_s, timed_s, calls_t, errors_t, max_s]
        _fold(acc, spans, run_pid, range(run_start, len(pairs)), [*run, top, top_calls, fail, fail_errors])

    rows = [row for pid, a in acc.items() if (row := _proc_row(pid, a, shown[pid] or "", procs, ctx))]
    rows.sort(key=lambda r: (-r.calls, r.pid))
    return rows, pair_rows(pairs, spans, ctx)


def _fold(
    acc: dict[int, list[Any]], spans: dict[int, list[range]], pid: int, span: range, run: list[Any]
) -> None:
    """Add one run of a process's pairs to its sums (a recording's pairs may come in several runs)."""
    spans.setdefault(pid, []).append(span)
    a = acc.get(pid)
    if a is None:
        acc[pid] = run
        return
    for k in range(6):
        a[k] += run[k]
    a[6] = max(a[6], run[6])
    if run[8] > a[8]:
        a[7], a[8] = run[7], run[8]
    if run[10] > a[10]:
        a[9], a[10] = run[9], run[10]


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
