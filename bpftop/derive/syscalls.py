"""Rates, percentiles and per-process roll-ups of the syscalls collector."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

from bpftop import hist
from bpftop.collectors.syscalls import SyscallsSample, SyscallTotals
from bpftop.collectors.syscalls_table import syscall_name, table_for
from bpftop.derive import Once, counter_delta, rate
from bpftop.derive.syscalls_pairs import Context, ProcRow, ProcSyscallRow, errno_name, proc_totals
from bpftop.frame import ProcMeta

__all__ = ["ProcRow", "ProcSyscallRow", "SyscallRow", "SyscallsView", "derive_syscalls", "errno_name"]


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


Tables = tuple[tuple[SyscallRow, ...], tuple[SyscallRow, ...]]  # (syscalls, focus)


@dataclass(frozen=True)
class SyscallsView:
    """Everything the syscall panes and batch output show.

    ``syscalls`` and ``focus`` (rows per syscall, with percentiles) are built
    when first read: the procs pane and the header show neither.
    """

    # Fields derived from the sample's DETAIL tables (see bpftop.derive.derive).
    DETAIL: ClassVar[tuple[str, ...]] = ("procs", "by_pid")

    tables: Once[Tables]
    procs: tuple[ProcRow, ...]
    by_pid: Mapping[int, tuple[ProcSyscallRow, ...]]
    focus_pid: int
    calls_per_s: float | None
    errors_per_s: float | None
    drops: Mapping[str, int] = field(default_factory=dict)

    @cached_property
    def syscalls(self) -> tuple[SyscallRow, ...]:
        """Every syscall called so far, most calls this interval first."""
        return self.tables.get()[0]

    @cached_property
    def focus(self) -> tuple[SyscallRow, ...]:
        """Per syscall, only ``focus_pid`` (since it became the focus)."""
        return self.tables.get()[1]


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


def _totals(cur: tuple[SyscallTotals, ...], prev: tuple[SyscallTotals, ...]) -> tuple[int, int]:
    """Calls and errors of every syscall over the interval, as the rows would sum them."""
    before = {s.nr: s for s in prev}
    calls = errors = 0
    for s in cur:
        p = before.get(s.nr)
        calls += counter_delta(s.calls, p.calls if p else None)
        errors += counter_delta(s.errors, p.errors if p else None)
    return calls, errors


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
    # Interval errno counts by (pid, nr).
    errs_by_pair: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    for e in cur.errnos:
        errs_by_pair[(e.pid, e.nr)][e.errno] = counter_delta(
            e.failures, prev_errnos.get((e.pid, e.nr, e.errno))
        )

    prev_pairs = {(p.pid, p.nr): p for p in prev.procs} if prev else {}
    ctx = Context(prev_pairs, interval_s, names, errs_by_pair)
    proc_rows, by_pid = proc_totals(cur.procs, ctx, procs, comm_re)

    def tables() -> Tables:
        errs_by_nr: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for (_, nr), counts in errs_by_pair.items():
            for err, n in counts.items():
                errs_by_nr[nr][err] += n
        syscalls = _syscall_rows(cur.syscalls, prev.syscalls if prev else None, interval_s, names, errs_by_nr)
        same_focus = prev is not None and prev.focus_pid == cur.focus_pid
        focus = _syscall_rows(cur.focus, prev.focus if same_focus and prev else None, interval_s, names, {})
        return tuple(sorted(syscalls, key=lambda r: (-r.calls, r.nr))), focus

    total_calls, total_errors = _totals(cur.syscalls, prev.syscalls if prev else ())
    return SyscallsView(
        tables=Once(tables),
        procs=tuple(proc_rows),
        by_pid=by_pid,
        focus_pid=cur.focus_pid,
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
