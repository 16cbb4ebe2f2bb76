"""CPU profile and off-CPU time by stack, symbolized soon after sampling.

Kernel side: ``bpftop/c/profile.bpf.c`` (a cpu-clock perf event per CPU,
``freq_hz`` samples a second) and ``bpftop/c/offcpu.bpf.c`` (sched_switch);
both in ``stacks.bpf.h``'s maps, read by ``stacks_reader.StackReader``.

A sample holds, per (process, stack), the samples or blocks and the off-CPU
time since attach, with the stack as symbol names (root first: user frames,
then kernel frames), so a recording replays stacks of processes long gone.
Each half loads on its own: a machine without perf events still gets off-CPU
stacks, and the sample says why the other half is missing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from bpftop.collectors.base import Collector, Filters
from bpftop.collectors.stacks_reader import COUNTER_NAMES, StackReader

STACKS_PANE = "stacks"  # off-CPU stacks are taken while this pane is on screen (or asked for)
DEFAULT_FREQ_HZ = 49  # off the beat of 50 and 100 Hz timers, as perf and bcc's profile
DEFAULT_MIN_BLOCK_NS = 1000
MAX_ROWS = 20000  # distinct (process, stack) kept per kind; more fold into one row
OVERFLOW_FRAME = "[more stacks than bpftop keeps]"
# The pid of rows summing the stacks of processes that have exited, by name
# and stack: a machine that starts processes all day would otherwise keep
# every short-lived process's stacks apart until MAX_ROWS, and every refresh
# (and every key frame of a recording) would carry them.
EXITED_PID = -1
FREQ_OPTION = "stacks_freq_hz"  # set_option before open: `--freq` of the dashboard and `record`


class StackCount(NamedTuple):
    """One stack of one process, cumulative since attach.

    Attributes:
        pid: process (tgid); ``EXITED_PID`` for the summed stacks of exited
            processes of that name.
        comm: its name when sampled.
        frames: function names, root first: user frames then kernel frames.
        kinds: one letter per frame: ``k`` kernel, ``u`` user, ``j`` JIT, ``?`` unknown.
        events: CPU samples, or off-CPU blocks.
        total_ns: off-CPU time; 0 for CPU samples.
    """

    pid: int
    comm: str
    frames: tuple[str, ...]
    kinds: str
    events: int
    total_ns: int


# A row is one stack of one process (the record codec's key; see record/types.py).
StackCount.RECORD_KEY = ("pid", "comm", "frames")  # type: ignore[attr-defined]


class StackLosses(NamedTuple):
    """Cumulative counters of one object (stacks.h ``ST_*``)."""

    events: int = 0
    idle: int = 0
    user_collided: int = 0
    user_missing: int = 0
    kern_collided: int = 0
    kern_missing: int = 0
    keys_lost: int = 0
    threads_lost: int = 0
    short: int = 0
    stale: int = 0
    overflow: int = 0  # stacks folded into OVERFLOW_FRAME here


@dataclass(frozen=True)
class StacksSample:
    """The stacks collector's state at ``ts_ns`` (CLOCK_MONOTONIC).

    Attributes:
        freq_hz: CPU samples per second per CPU.
        min_block_ns: off-CPU blocks shorter than this are not counted.
        cpu: CPU samples by stack; () when the profile is not running.
        off: off-CPU blocks and time by stack; () when not running.
        cpu_losses: the profile's counters.
        off_losses: the off-CPU counters.
        cpu_error: why the CPU profile is not running ("" when it is).
        off_error: why off-CPU is not running.
        notes: the symbolizer's notes (e.g. kptr_restrict hides kernel addresses).
        off_paused: off-CPU stacks are not being taken now (no one is looking at
            them); their counts stand still until the stacks pane is shown.
        cpu_paused: the CPU profile is not sampling now, likewise.
        cpu_while_shown: the CPU profile was paused at times: its counts cover
            the time stacks were on screen, not all since start.
        off_while_shown: the same of off-CPU stacks.
    """

    # Per-process tables a recording may keep only every few seconds (see
    # bpftop.record.detail); everything else is recorded every frame.
    DETAIL: ClassVar[tuple[str, ...]] = ("cpu", "off")

    ts_ns: int
    freq_hz: int
    min_block_ns: int
    cpu: tuple[StackCount, ...]
    off: tuple[StackCount, ...]
    cpu_losses: StackLosses = field(default_factory=StackLosses)
    off_losses: StackLosses = field(default_factory=StackLosses)
    cpu_error: str = ""
    off_error: str = ""
    notes: tuple[str, ...] = ()
    off_paused: bool = False
    cpu_paused: bool = False
    cpu_while_shown: bool = False
    off_while_shown: bool = False


class _Totals:
    """Cumulative counts by (pid, comm, frames), bounded by MAX_ROWS.

    Rows are kept as the StackCounts a sample holds, so a tick costs only the
    stacks that moved, not every stack since start.
    """

    def __init__(self) -> None:
        self.rows: dict[tuple[int, str, tuple[str, ...]], StackCount] = {}
        self.overflow = 0
        self._snapshot: tuple[StackCount, ...] = ()
        self._pids: dict[int, list[tuple[int, str, tuple[str, ...]]]] = {}  # pid -> its keys

    def add(self, pid: int, comm: str, resolved: tuple[tuple[str, ...], str], count: int, ns: int) -> None:
        frames, kinds = resolved
        key = (pid, comm, frames)
        row = self.rows.get(key)
        if row is None and len(self.rows) >= MAX_ROWS:
            self.overflow += count
            key = (pid, comm, (OVERFLOW_FRAME,))
            row = self.rows.get(key)
            kinds = "?"
        if row is None:
            self.rows[key] = StackCount(pid, comm, key[2], kinds, count, ns)
            self._pids.setdefault(pid, []).append(key)
        else:
            self.rows[key] = StackCount(pid, comm, key[2], row.kinds, row.events + count, row.total_ns + ns)
        self._snapshot = ()

    def fold(self, pids: set[int]) -> None:
        """Add the rows of exited ``pids`` to their name's ``EXITED_PID`` rows."""
        for pid in pids & self._pids.keys():
            for key in self._pids.pop(pid):
                row = self.rows.pop(key)
                folded = (EXITED_PID, row.comm, row.frames)
                old = self.rows.get(folded)
                if old is None:
                    self.rows[folded] = row._replace(pid=EXITED_PID)
                    self._pids.setdefault(EXITED_PID, []).append(folded)
                else:
                    self.rows[folded] = old._replace(
                        events=old.events + row.events, total_ns=old.total_ns + row.total_ns
                    )
            self._snapshot = ()

    def snapshot(self) -> tuple[StackCount, ...]:
        if len(self._snapshot) != len(self.rows) or not self._snapshot:
            self._snapshot = tuple(self.rows.values())
        return self._snapshot


class StacksCollector(Collector):
    """Loads profile.bpf.o and offcpu.bpf.o and turns their maps into ``StacksSample``s."""

    name = "stacks"
    hooks = (("sched", "sched_switch"),)

    def __init__(
        self,
        freq_hz: int | None = None,
        min_block_ns: int | None = None,
        *,
        cpu: bool = True,
        off_cpu: bool = True,
    ) -> None:
        self.freq_hz = freq_hz or DEFAULT_FREQ_HZ
        self.min_block_ns = DEFAULT_MIN_BLOCK_NS if min_block_ns is None else min_block_ns
        self.method = ""
        self.tried: dict[str, str] = {}
        self._want = {"cpu": cpu, "off": off_cpu}
        self._readers: dict[str, StackReader] = {}
        self._errors = {"cpu": "" if cpu else "not asked for", "off": "" if off_cpu else "not asked for"}
        self._totals = {"cpu": _Totals(), "off": _Totals()}
        self._fds: dict[int, int] = {}
        self._sym: Any = None
        self._active: set[int] = set()
        self._known: set[int] = set()
        self._paused = {"cpu": False, "off": False}
        self._while_shown = {"cpu": False, "off": False}  # paused at some time
        self._visible: object = None  # the pane on screen, once told (before open too)

    def open(self, filters: Filters) -> None:
        """Load what can be loaded; raise only when neither half can run."""
        from bpftop.bpf.errors import BpfError
        from bpftop.symbols import Symbolizer

        self._sym = Symbolizer()
        rodata = filters.rodata() | {"self_tgid": os.getpid()}
        failures: list[BpfError | OSError] = []
        for kind, opener in (("cpu", self._open_profile), ("off", self._open_offcpu)):
            if not self._want[kind]:
                continue
            try:
                opener(rodata)
            except (BpfError, OSError) as exc:
                hint = getattr(exc, "hint", "")
                self._errors[kind] = str(exc) + (f" — {hint}" if hint else "")
                failures.append(exc)
        if not self._readers:
            self.close()
            raise failures[0] if failures else ValueError("stacks: nothing asked for")
        self.method = "+".join("perf_event" if k == "cpu" else r.obj.method for k, r in self._readers.items())
        # Told before open that another pane shows: drop what was taken since
        # attach, so no symbol table loads for it.
        for kind, reader in self._readers.items():
            if self._paused_for(kind, self._visible):
                if not self._paused[kind]:
                    self._pause(kind, True)
                reader.discard()

    def _open_profile(self, rodata: dict[str, int]) -> None:
        from bpftop.bpf import perf
        from bpftop.bpf.object import BpfObject

        obj = BpfObject.open("profile", rodata=rodata)
        try:
            spec = perf.PerfEventSpec(
                perf.PERF_TYPE_SOFTWARE,
                perf.PERF_COUNT_SW_CPU_CLOCK,
                "cpu-clock",
                sample_freq=self.freq_hz,
                read_times=False,
            )
            self._fds = perf.open_per_cpu(spec)
            for fd in self._fds.values():
                obj.attach_perf_event("do_sample", fd)
            if self._paused_for("cpu", self._visible):
                # Told before open that another pane shows. libbpf enables an
                # event as it attaches; a sample or two may land before this.
                self._pause("cpu", True)
            reader = StackReader(obj, self._sym)
            reader.check_layout()
        except BaseException:
            obj.close()
            perf.close_fds(self._fds.values())
            self._fds = {}
            raise
        self._readers["cpu"] = reader

    def _open_offcpu(self, rodata: dict[str, int]) -> None:
        from bpftop.bpf.object import BpfObject

        obj = BpfObject.open("offcpu", rodata=rodata | {"min_block_ns": self.min_block_ns})
        self.tried = obj.tried
        reader = StackReader(obj, self._sym)
        try:
            reader.check_layout()
        except BaseException:
            obj.close()
            raise
        self._readers["off"] = reader

    def set_option(self, name: str, value: object) -> None:
        """``visible_pane``: stacks are taken only while it is ``stacks`` or ``process``.

        Off-CPU stacks not for ``*`` either (batch output or a recording of
        every pane): taking two stacks at every context switch costs more than
        everything else bpftop does together, so it takes asking for (``--pane
        stacks``). The CPU profile runs for ``*``; on another pane it stops,
        and with it its interrupts, stack walks and the symbol tables it
        loads (25 MB and 5 ms a tick at 300 processes, for a pane not shown).
        Until told which pane is shown (``bpftop profile`` never says) both run.

        ``stacks_freq_hz`` (``FREQ_OPTION``): CPU samples a second per CPU;
        heeded only before ``open`` (the engine gives options before and after).
        """
        if name == FREQ_OPTION:
            if not self._readers and isinstance(value, int) and value > 0:
                self.freq_hz = value
            return
        if name != "visible_pane":
            return
        self._visible = value
        for kind in self._readers:
            paused = self._paused_for(kind, value)
            if paused != self._paused[kind]:
                self._pause(kind, paused)

    @staticmethod
    def _paused_for(kind: str, visible: object) -> bool:
        """Whether ``kind`` stops while ``visible`` is on screen (None: not told yet, both run)."""
        if visible is None or visible in (STACKS_PANE, "process"):  # "process": a process screen
            return False
        return kind == "off" or visible != "*"

    def _pause(self, kind: str, paused: bool) -> None:
        from bpftop.bpf import perf

        if kind == "off":
            self._readers["off"].pause(paused)
        else:
            perf.set_enabled(self._fds.values(), not paused)
        self._paused[kind] = paused
        self._while_shown[kind] |= paused

    def sample(self, settle: bool = False) -> StacksSample:
        """Read and empty the count maps, symbolize new stacks, return the totals.

        Args:
            settle: the last read before closing (``bpftop profile``): wait for
                symbol loads and add every held-back count.
        """
        losses = {}
        self._active = set()
        for kind, reader in self._readers.items():
            counters = reader.counters()
            totals = self._totals[kind]
            for raw, resolved in reader.read(counters.get("keys_lost", 0), settle):
                totals.add(raw.tgid, raw.comm, resolved, raw.events, raw.total_ns)
                self._active.add(raw.tgid)
            losses[kind] = StackLosses(*(counters.get(n, 0) for n in COUNTER_NAMES))._replace(
                overflow=totals.overflow
            )
        return StacksSample(
            ts_ns=time.monotonic_ns(),
            freq_hz=self.freq_hz,
            min_block_ns=self.min_block_ns,
            cpu=self._totals["cpu"].snapshot(),
            off=self._totals["off"].snapshot(),
            cpu_losses=losses.get("cpu", StackLosses()),
            off_losses=losses.get("off", StackLosses()),
            cpu_error=self._errors["cpu"],
            off_error=self._errors["off"],
            off_paused=self._paused["off"],
            cpu_paused=self._paused["cpu"],
            cpu_while_shown=self._while_shown["cpu"],
            off_while_shown=self._while_shown["off"],
            notes=tuple(self._sym.notes) if self._sym is not None else (),
        )

    def pids(self, sample: StacksSample) -> set[int]:
        """Pids with stacks in this tick's reads.

        Not every pid since start: names come with the stacks, and looking up
        thousands of long-gone pids every tick would cost more than they tell.
        Pids stay in until the engine reports them exited (``forget``), so the
        symbolizer's state of every process it saw is dropped in time.
        """
        self._known |= self._active
        return self._known | self._active

    def forget(self, pids: set[int]) -> None:
        """Drop symbolizer state of exited processes; their counts stay, by name (``EXITED_PID``)."""
        self._known -= pids
        for totals in self._totals.values():
            totals.fold(pids)
        for reader in self._readers.values():
            reader.forget(pids)
        if self._sym is not None:
            self._sym.forget(pids)

    def close(self) -> None:
        """Detach and free; safe to call twice."""
        from bpftop.bpf import perf

        readers, self._readers = self._readers, {}
        for reader in readers.values():
            reader.obj.close()
        perf.close_fds(self._fds.values())
        self._fds = {}
