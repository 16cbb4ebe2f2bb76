"""Syscall counts, errors and latency per process and per syscall.

Kernel side: ``bpftop/c/syscalls.bpf.c``. This module turns its maps into a
``SyscallsSample`` of cumulative counters; rates are computed in
``bpftop.derive.syscalls``.

Accounting rules (also in docs/architecture.md): a syscall is counted when it
returns, so ``exit``/``exit_group`` (which never return) are not counted. It is
timed only while a pane on screen shows latency (``syscall_latency``): timing
costs a second program per syscall. Calls returning while timing is off, and
those in flight when timing started (unmatched exits), are counted, not timed:
latency figures divide by the timed calls (the histogram's). A result in
``[-4095, -1]`` is an error with errno ``-ret``.
"""

from __future__ import annotations

import platform
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from operator import add, itemgetter
from typing import Any, ClassVar, NamedTuple

from bpftop.collectors.base import Collector, Evictions, Filters, header_defines, pid_comms, tuple_maker

DEFS = header_defines("syscalls.h")
HIST_SLOTS = DEFS["SYSCALLS_HIST_SLOTS"]
MAX_NR = DEFS["SYSCALLS_MAX_NR"]
HIST_FIELDS = 4 + HIST_SLOTS  # calls, errors, total_ns, max_ns, slots...
PROC_KEY = struct.Struct("<II")
# timed_calls, counted_calls, errors, total_ns, max_ns, comm
PROC_VAL = struct.Struct(f"<QQQQQ{DEFS['SYSCALLS_COMM_LEN']}s")
ENTER_HOOK = "sys_enter"  # the timing half
ERRNO_KEY = struct.Struct("<IIII")
U64 = struct.Struct("<Q")


class SyscallTotals(NamedTuple):
    """Cumulative figures of one syscall number, all processes (or the focus one).

    ``total_ns``, ``max_ns`` and ``hist`` are those of the timed calls, as
    many as the histogram holds (``calls`` counts every call).
    """

    nr: int
    calls: int
    errors: int
    total_ns: int
    max_ns: int
    hist: tuple[int, ...]  # log2(ns) slots, see bpftop.hist


class ProcSyscall(NamedTuple):
    """Cumulative figures of one (process, syscall) pair.

    ``total_ns`` and ``max_ns`` are those of the ``timed`` calls out of
    ``calls``; -1: every call was timed (recordings from before timing could
    be off).
    """

    pid: int
    nr: int
    calls: int
    errors: int
    total_ns: int
    max_ns: int
    comm: str
    timed: int = -1


class SyscallErrno(NamedTuple):
    """How many times a process's syscall failed with one errno."""

    pid: int
    nr: int
    errno: int
    failures: int


@dataclass(frozen=True)
class SyscallsSample:
    """The syscalls collector's state at ``ts_ns`` (CLOCK_MONOTONIC).

    Attributes:
        arch: ``platform.machine()`` of the traced host: syscall numbers are per arch.
        syscalls: per syscall number, those called at least once.
        procs: per (pid, syscall) pair still held by the kernel's LRU map.
        errnos: per (pid, syscall, errno).
        focus_pid: the process whose per-syscall histograms are in ``focus`` (0: none).
        focus: per syscall, only ``focus_pid``, counted since it became the focus.
        unmatched_exits: returns whose entry bpftop never saw (in flight at start).
        out_of_range: syscalls numbered beyond the histogram table (x32/compat).
        evicted_procs: (pid, syscall) pairs pushed out of the full LRU map.
        lost_procs: events not counted per process because the map update failed.
        evicted_errnos: (pid, syscall, errno) triples pushed out.
        lost_errnos: error events whose errno could not be recorded.
    """

    # Per-process tables a recording may keep only every few seconds (see
    # bpftop.record.detail); everything else is recorded every frame.
    DETAIL: ClassVar[tuple[str, ...]] = ("procs",)

    ts_ns: int
    arch: str
    syscalls: tuple[SyscallTotals, ...]
    procs: tuple[ProcSyscall, ...]
    errnos: tuple[SyscallErrno, ...]
    focus_pid: int = 0
    focus: tuple[SyscallTotals, ...] = ()
    unmatched_exits: int = 0
    out_of_range: int = 0
    evicted_procs: int = 0
    lost_procs: int = 0
    evicted_errnos: int = 0
    lost_errnos: int = 0


_NEW_PAIR = tuple_maker(ProcSyscall)
_PROC_WORDS = PROC_VAL.size // 8  # timed, counted, errors, total_ns, max_ns, then the comm's words
_COMM_WORDS = struct.Struct(f"={DEFS['SYSCALLS_COMM_LEN'] // 8}Q")  # native order, as in the map
_PID = itemgetter(0)
_NEW_ERRNO = tuple_maker(SyscallErrno)
_NO_SLOTS = (0,) * HIST_SLOTS
_ZERO_SLOTS = bytes(8 * HIST_SLOTS)


def decode_hists(values: bytes, count: int, ncpu: int) -> tuple[SyscallTotals, ...]:
    """Fold the per-CPU ``hists`` array dump into totals of syscalls ever called."""
    fields = HIST_FIELDS
    words = memoryview(values).cast("Q")
    stride = ncpu * fields
    # Slicing and zip/map/sum run in C: the table has ~500 numbers x ncpu x
    # 40 fields, and folding it with generator expressions cost ~5 ms a refresh.
    calls_by_cpu = words[::fields]  # calls of each (nr, cpu), nr-major
    out = []
    for nr in range(count):
        calls = sum(calls_by_cpu[nr * ncpu : (nr + 1) * ncpu])
        if not calls:
            continue
        base = nr * stride
        per_cpu = [words[base + c * fields : base + (c + 1) * fields] for c in range(ncpu)]
        max_ns = max(row[3] for row in per_cpu)
        # Untimed syscalls (timing is off while no pane shows latency) have
        # empty slots: compare their bytes (memcmp) instead of summing them.
        timed = [row for row in per_cpu if row[4:].tobytes() != _ZERO_SLOTS]
        slots = tuple(map(sum, zip(*(row[4:] for row in timed), strict=True))) if timed else _NO_SLOTS
        errors, total_ns = sum(row[1] for row in per_cpu), sum(row[2] for row in per_cpu)
        out.append(SyscallTotals(nr, calls, errors, total_ns, max_ns, slots))
    return tuple(out)


def decode_procs(keys: bytes, values: bytes) -> tuple[ProcSyscall, ...]:
    """Decode the ``procs`` LRU hash dump, sorted by key (see ``sorted_rows``).

    Column by column, in C: strided views of the dump's words, zipped into
    rows (0.6 ms for 1,300 pairs, against 0.75 for a loop over unpacked
    tuples; most of the rest is the sort). A process's name repeats in each
    of its pairs: each distinct one is decoded once.
    """
    k = memoryview(keys).cast("I")  # native order, as the kernel wrote them
    v = memoryview(values).cast("Q")
    w = _PROC_WORDS
    timed = v[0::w]
    raw = list(zip(*(v[5 + i :: w] for i in range(_COMM_WORDS.size // 8)), strict=True))  # the comm's words
    names = {words: _comm(words) for words in set(raw)}
    calls = map(add, timed, v[1::w])
    comms = map(names.__getitem__, raw)
    columns = zip(k[0::2], k[1::2], calls, v[2::w], v[3::w], v[4::w], comms, timed, strict=True)
    # Sorted as plain tuples (the sort's fast path), then made rows.
    return tuple(map(_NEW_PAIR, sorted(columns)))


def _comm(words: tuple[int, ...]) -> str:
    return _COMM_WORDS.pack(*words).split(b"\0", 1)[0].decode("utf-8", "replace")


def decode_errnos(keys: bytes, values: bytes) -> tuple[SyscallErrno, ...]:
    """Decode the ``errnos`` LRU hash dump, sorted by key."""
    new = _NEW_ERRNO
    pairs = zip(ERRNO_KEY.iter_unpack(keys), U64.iter_unpack(values), strict=True)
    rows = [new((pid, nr, err, count)) for (pid, nr, err, _), (count,) in pairs]
    rows.sort()  # by key: see sorted_rows
    return tuple(rows)


class SyscallsCollector(Collector):
    """Loads ``syscalls.bpf.o`` and samples its maps."""

    name = "syscalls"
    # (tracepoint category, name) of every hook, for `bpftop check`.
    hooks = (("raw_syscalls", "sys_enter"), ("raw_syscalls", "sys_exit"))

    def __init__(self) -> None:
        self.method = ""
        self.tried: dict[str, str] = {}
        self._obj: Any = None
        self._focus_pid = 0
        self._timing = 0  # the generation the kernel side times with; 0: not timing
        self._generation = 0
        self._want_timing = True
        self._last: SyscallsSample | None = None
        # Keys bpftop deleted itself, so they are not counted as LRU evictions.
        self._deleted_procs = 0
        self._evictions = Evictions()
        self._deleted_errnos = 0

    def open(self, filters: Filters) -> None:
        """Load and attach, trying tp_btf, raw_tp, then tracepoint."""
        from bpftop.bpf.object import BpfObject

        self._obj = BpfObject.open("syscalls", rodata=filters.rodata())
        self.method = self._obj.method
        self.tried = self._obj.tried
        self._check_layout()
        self._timing = 0
        self._apply_timing()

    def set_option(self, name: str, value: object) -> None:
        """``syscall_latency``: time syscalls (True, the default) or only count them.

        The app turns it off while no pane on screen shows latency: sys_enter
        is then detached, and each syscall costs one program, not two. Stored
        here, done at the next ``sample`` (the sampling thread; the UI never
        waits for a link).
        """
        if name == "syscall_latency":
            self._want_timing = bool(value)

    @property
    def timing(self) -> bool:
        """Whether syscalls are timed now (sys_enter attached)."""
        return bool(self._timing)

    def _apply_timing(self) -> None:
        obj = self._obj
        if self._want_timing and not self._timing:
            obj.attach([ENTER_HOOK])  # entries first, then exits look for them
            self._generation = self._generation % 0xFFFF_FFFF + 1
            self._timing = self._generation
            obj.set_global("timing", self._timing)
        elif not self._want_timing and (self._timing or obj.attached_to(ENTER_HOOK)):
            obj.set_global("timing", 0)
            obj.detach([ENTER_HOOK])
            self._timing = 0

    def _check_layout(self) -> None:
        sizes = {"hists": 8 * HIST_FIELDS, "procs": PROC_VAL.size, "errnos": U64.size}
        for name, size in sizes.items():
            actual = self._obj.map(name).value_size
            if actual != size:
                raise RuntimeError(f"syscalls.h and the collector disagree on {name}: {actual} != {size}")

    def set_focus(self, pid: int) -> None:
        """Start per-syscall histograms for one process (0 stops); counted from now."""
        if pid == self._focus_pid or self._obj is None:
            return
        self._obj.set_global("focus_tgid", 0)
        focus = self._obj.map("focus_hists")
        zero = bytes(focus.value_stride)
        for nr in range(focus.max_entries):
            focus.update(nr.to_bytes(4, "little"), zero)
        self._obj.set_global("focus_tgid", pid)
        self._focus_pid = pid

    def forget(self, pids: set[int]) -> None:
        """Drop the kernel's entries of processes that have exited (and were shown).

        Without this, dead processes fill the LRU maps until evicted and every
        refresh pays to read and derive them.
        """
        last = self._last
        if not pids or last is None or self._obj is None:
            return
        proc_keys = [PROC_KEY.pack(p.pid, p.nr) for p in last.procs if p.pid in pids]
        errno_keys = [ERRNO_KEY.pack(e.pid, e.nr, e.errno, 0) for e in last.errnos if e.pid in pids]
        self._deleted_procs += self._obj.map("procs").delete(proc_keys)
        self._deleted_errnos += self._obj.map("errnos").delete(errno_keys)

    def sample(self) -> SyscallsSample:
        """Read every map once (batch lookups) and return cumulative counters."""
        obj = self._obj
        if self._want_timing != bool(self._timing):
            self._apply_timing()
        ts_ns = time.monotonic_ns()
        counters = obj.map("counters").dump()  # before the maps: see Evictions
        c = [sum(row) for row in _percpu_u64(counters.values, counters.count, counters.ncpu)]
        hists = obj.map("hists").dump()
        procs_dump = obj.map("procs").dump()
        errnos_dump = obj.map("errnos").dump()
        focus: tuple[SyscallTotals, ...] = ()
        if self._focus_pid:
            fd = obj.map("focus_hists").dump()
            focus = decode_hists(fd.values, fd.count, fd.ncpu)
        self._last = SyscallsSample(
            ts_ns=ts_ns,
            arch=platform.machine(),
            syscalls=decode_hists(hists.values, hists.count, hists.ncpu),
            procs=decode_procs(procs_dump.keys, procs_dump.values),
            errnos=decode_errnos(errnos_dump.keys, errnos_dump.values),
            focus_pid=self._focus_pid,
            focus=focus,
            unmatched_exits=c[DEFS["SC_UNMATCHED_EXITS"]],
            out_of_range=c[DEFS["SC_OUT_OF_RANGE"]],
            evicted_procs=self._evictions(
                "procs", c[DEFS["SC_PROC_INSERTS"]], procs_dump.count, self._deleted_procs
            ),
            lost_procs=c[DEFS["SC_PROC_LOST"]],
            evicted_errnos=self._evictions(
                "errnos", c[DEFS["SC_ERRNO_INSERTS"]], errnos_dump.count, self._deleted_errnos
            ),
            lost_errnos=c[DEFS["SC_ERRNO_LOST"]],
        )
        return self._last

    def pids(self, sample: SyscallsSample) -> set[int]:
        """Pids of the per-process table."""
        return set(map(_PID, sample.procs))  # in C: ~1,300 pairs a refresh

    def comms(self, sample: SyscallsSample) -> Mapping[int, str]:
        """The kernel's name of each process of the per-process table."""
        return pid_comms(sample.procs)

    def close(self) -> None:
        """Detach and free; safe to call twice."""
        if self._obj is not None:
            self._obj.close()
            self._obj = None


def _percpu_u64(values: bytes, count: int, ncpu: int) -> list[list[int]]:
    words = memoryview(values).cast("Q")
    return [list(words[i * ncpu : (i + 1) * ncpu]) for i in range(count)]
