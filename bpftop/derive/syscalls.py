"""Rates, percentiles and per-process roll-ups of the syscalls collector."""

from __future__ import annotations

import errno as errno_mod
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

from bpftop import hist
from bpftop.collectors.syscalls import SyscallsSample, SyscallTotals
from bpftop.collectors.syscalls_table import syscall_name, table_for
from bpftop.derive import counter_delta, rate
from bpftop.frame import ProcMeta


@dataclass(frozen=True)
class SyscallRow:
    """One syscall over the interval (cumulative on the first frame)."""

    nr: int
    name: str
    calls: int
    errors: int
    calls_total: int
    errors_total: int
    calls_per_s: float | None
    errors_per_s: float | None
    latency_ns: int
    avg_ns: float | None
    p50_ns: float | None
    p99_ns: float | None
    max_ns: int  # since bpftop started: a cumulative maximum has no interval form
    hist: tuple[int, ...]
    hist_total: tuple[int, ...]
    errnos: tuple[tuple[str, int], ...] = ()  # (name, interval count), most first


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


@dataclass(frozen=True)
class SyscallsView:
    """Everything the syscall panes and batch output show."""

    # Fields derived from the sample's DETAIL tables (see bpftop.derive.derive).
    DETAIL: ClassVar[tuple[str, ...]] = ("procs", "by_pid")

    syscalls: tuple[SyscallRow, ...]
    procs: tuple[ProcRow, ...]
    by_pid: Mapping[int, tuple[ProcSyscallRow, ...]]
    focus_pid: int
    focus: tuple[SyscallRow, ...]
    calls_per_s: float | None
    errors_per_s: float | None
    drops: Mapping[str, int] = field(default_factory=dict)


def errno_name(err: int) -> str:
    """``EBADF`` for 9; the number for unknown values."""
    return errno_mod.errorcode.get(err, str(err))


def _at_most(value: float | None, limit: int) -> float | None:
    return None if value is None else min(value, float(limit))


def _syscall_rows(
    cur: tuple[SyscallTotals, ...],
    prev: tuple[SyscallTotals, ...] | None,
    interval_s: float | None,
    names: dict[int, str],
    errnos: Mapping[int, dict[int, int]],
) -> tuple[SyscallRow, ...]:
    before = {s.nr: s for s in prev or ()}
    rows = []
    for s in cur:
        p = before.get(s.nr)
        calls = counter_delta(s.calls, p.calls if p else None)
        latency = counter_delta(s.total_ns, p.total_ns if p else None)
        slots = hist.delta(s.hist, p.hist if p else None)
        timed = sum(slots)  # the calls timed: latency_ns is theirs
        by_err = sorted(errnos.get(s.nr, {}).items(), key=lambda kv: -kv[1])
        p50, p99 = hist.percentiles(slots, (50, 99))
        rows.append(
            SyscallRow(
                nr=s.nr,
                name=syscall_name(s.nr, names),
                calls=calls,
                errors=counter_delta(s.errors, p.errors if p else None),
                calls_total=s.calls,
                errors_total=s.errors,
                calls_per_s=rate(calls, interval_s),
                errors_per_s=rate(counter_delta(s.errors, p.errors if p else None), interval_s),
                latency_ns=latency,
                avg_ns=latency / timed if timed else None,
                # Interpolation inside a log2 slot can overshoot the true maximum.
                p50_ns=_at_most(p50, s.max_ns),
                p99_ns=_at_most(p99, s.max_ns),
                max_ns=s.max_ns,
                hist=slots,
                hist_total=s.hist,
                errnos=tuple((errno_name(e), n) for e, n in by_err if n),
            )
        )
    return tuple(rows)


def _pair_rows(
    prev: SyscallsSample | None,
    cur: SyscallsSample,
    interval_s: float | None,
    *,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None,
    names: dict[int, str],
    errs_by_pair: Mapping[tuple[int, int], dict[int, int]],
) -> tuple[dict[int, list[ProcSyscallRow]], dict[int, str | None]]:
    """Rows per (pid, syscall), grouped by pid, and each pid's name (None: filtered out)."""
    prev_pairs = {(p.pid, p.nr): p for p in prev.procs} if prev else {}
    by_pid: dict[int, list[ProcSyscallRow]] = defaultdict(list)
    comms: dict[int, str | None] = {}  # None: filtered out by --comm
    per_s = 1.0 / interval_s if interval_s else None
    # The hot loop of a refresh (one pass per (pid, syscall) pair): deltas are
    # inlined and names cached; see counter_delta for the rule.
    for ps in cur.procs:
        pid = ps.pid
        comm = comms.get(pid, "")
        if comm == "":
            meta = procs.get(pid)
            comm = meta.name if meta and meta.name else ps.comm
            if comm_re and not comm_re.search(comm):
                comm = None
            comms[pid] = comm
        if comm is None:
            continue
        p = prev_pairs.get((pid, ps.nr))
        # timed < 0: a recording from before timing could be off, every call timed.
        if p is None or ps.calls < p.calls:
            calls, errors, latency = ps.calls, ps.errors, ps.total_ns
            timed = ps.timed if ps.timed >= 0 else ps.calls
        else:
            calls, errors, latency = ps.calls - p.calls, ps.errors - p.errors, ps.total_ns - p.total_ns
            timed = ps.timed - p.timed if ps.timed >= 0 and p.timed >= 0 else calls
        top_errno = ""
        if errors:
            errs = errs_by_pair.get((pid, ps.nr))
            if errs and any(n > 0 for n in errs.values()):
                top_errno = errno_name(max(errs, key=errs.__getitem__))
        by_pid[pid].append(
            ProcSyscallRow(
                pid,
                ps.nr,
                names.get(ps.nr) or syscall_name(ps.nr, names),
                calls,
                errors,
                ps.calls,
                ps.errors,
                None if per_s is None else calls * per_s,
                None if per_s is None else errors * per_s,
                latency,
                latency / timed if timed > 0 else None,
                ps.max_ns,
                top_errno,
                timed,
            )
        )

    return by_pid, comms


def derive_syscalls(
    prev: SyscallsSample | None,
    cur: SyscallsSample,
    interval_s: float | None,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None = None,
) -> SyscallsView:
    """Derive the syscalls view from two samples (``prev`` None on the first tick)."""
    names = table_for(cur.arch)
    prev_errnos = {(e.pid, e.nr, e.errno): e.failures for e in prev.errnos} if prev else {}
    # Interval errno counts, by (pid, nr) and by nr.
    errs_by_pair: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    errs_by_nr: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for e in cur.errnos:
        n = counter_delta(e.failures, prev_errnos.get((e.pid, e.nr, e.errno)))
        errs_by_pair[(e.pid, e.nr)][e.errno] = n or 0
        errs_by_nr[e.nr][e.errno] += n

    by_pid, comms = _pair_rows(
        prev, cur, interval_s, procs=procs, comm_re=comm_re, names=names, errs_by_pair=errs_by_pair
    )
    proc_rows = []
    for pid, rows in by_pid.items():
        meta = procs.get(pid) or ProcMeta(pid=pid)  # not built eagerly: one per process
        calls = errors = latency = timed = calls_total = errors_total = max_ns = 0
        top = failing = rows[0]
        for r in rows:  # one pass: this runs once per (pid, syscall) pair
            calls += r.calls
            errors += r.errors
            latency += r.latency_ns
            timed += r.timed
            calls_total += r.calls_total
            errors_total += r.errors_total
            max_ns = max(max_ns, r.max_ns)
            if r.calls > top.calls:
                top = r
            if r.errors > failing.errors:
                failing = r
        if meta.exited and not calls:
            continue
        proc_rows.append(
            ProcRow(
                pid=pid,
                comm=comms[pid] or "",
                user=meta.user,
                cmdline=meta.cmdline,
                calls=calls,
                errors=errors,
                calls_total=calls_total,
                errors_total=errors_total,
                calls_per_s=rate(calls, interval_s),
                errors_per_s=rate(errors, interval_s),
                avg_ns=latency / timed if timed else None,
                max_ns=max_ns,
                top_syscall=top.name if top.calls else "",
                top_errno=f"{failing.name}:{failing.top_errno}"
                if failing.errors and failing.top_errno
                else "",
                exited=meta.exited,
            )
        )
    proc_rows.sort(key=lambda r: (-r.calls, r.pid))

    syscalls = _syscall_rows(cur.syscalls, prev.syscalls if prev else None, interval_s, names, errs_by_nr)
    same_focus = prev is not None and prev.focus_pid == cur.focus_pid
    focus = _syscall_rows(cur.focus, prev.focus if same_focus and prev else None, interval_s, names, {})
    total_calls = sum(r.calls for r in syscalls)
    total_errors = sum(r.errors for r in syscalls)
    return SyscallsView(
        syscalls=tuple(sorted(syscalls, key=lambda r: (-r.calls, r.nr))),
        procs=tuple(proc_rows),
        by_pid={pid: tuple(rows) for pid, rows in by_pid.items()},
        focus_pid=cur.focus_pid,
        focus=focus,
        calls_per_s=rate(total_calls, interval_s),
        errors_per_s=rate(total_errors, interval_s),
        drops={
            "unmatched_exits": cur.unmatched_exits,
            "out_of_range": cur.out_of_range,
            "evicted_procs": cur.evicted_procs,
            "lost_procs": cur.lost_procs,
            "evicted_errnos": cur.evicted_errnos,
            "lost_errnos": cur.lost_errnos,
        },
    )


derive_view = derive_syscalls
