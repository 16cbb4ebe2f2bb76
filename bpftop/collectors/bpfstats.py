"""Every BPF program and map on the machine: what they cost and who holds them.

No BPF of its own: programs and maps are enumerated by id through
``bpftop.bpf.proginfo`` (``bpftool prog/map show``), owners come from
a task_file iterator (``c/bpfstats.bpf.c``; a ``/proc/*/fd`` scan where the
kernel has none, see ``bpfstats_owners``), and run-time statistics are the
kernel's own (``run_time_ns``, ``run_cnt``, ``recursion_misses``), which it
keeps only while statistics are on (``bpftop.bpf.bpfstats_enable``): while
the ``bpf`` pane is on screen, or always with ``--bpf-stats``. The sample
holds cumulative counters; ``bpftop.derive.bpfstats`` turns them into
average run time, events/s and CPU %.

On demand (Enter in the pane) ``query`` returns a program's translated
instructions disassembled as ``bpftool prog dump xlated`` prints them, or a
map's contents (``bpfstats_detail``); those are not part of the recording.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from bpftop.collectors.base import Collector, Filters
from bpftop.privileges import CAP_SYS_ADMIN, effective_caps

# bpftop.bpf (and so cffi) is imported inside the methods: the sample types
# above must load without libbpf, for replays on any machine.

STATS_PANE = "bpf"
# While no pane shows the tables (the bpf pane hidden, not batch or a recording),
# they are rescanned this often rather than every tick: the scan costs ~5 ms
# of CPU with 300 processes, a tenth of the dashboard's tick (issue 23).
HIDDEN_RESCAN_S = 10.0
logger = logging.getLogger(__name__)


class NeedsSysAdminError(Exception):
    """Listing other programs and maps was refused for want of CAP_SYS_ADMIN."""

    # The kernel asks CAP_SYS_ADMIN (not CAP_BPF) of BPF_PROG_GET_NEXT_ID,
    # BPF_MAP_GET_NEXT_ID and BPF_*_GET_FD_BY_ID: CAP_BPF with CAP_PERFMON load
    # bpftop's own programs, but cannot look at anyone else's.
    hint = (
        "the bpf pane lists every program and map (BPF_*_GET_NEXT_ID, BPF_*_GET_FD_BY_ID), "
        "which needs CAP_SYS_ADMIN: CAP_BPF and CAP_PERFMON are not enough; run as root"
    )


class ProgRow(NamedTuple):
    """One loaded program; the run figures are cumulative since it was loaded."""

    id: int
    type: str
    name: str
    tag: str
    loaded_at: float  # epoch seconds
    uid: int
    xlated_bytes: int
    jited_bytes: int
    memlock_bytes: int
    map_ids: tuple[int, ...]
    btf_id: int
    verified_insns: int
    gpl: bool
    run_time_ns: int
    run_cnt: int
    recursion_misses: int
    owners: tuple[tuple[int, str], ...]  # (pid, comm)
    own: bool  # loaded by this bpftop


class MapRow(NamedTuple):
    """One map. ``entries`` is -1 when its kind cannot be counted."""

    id: int
    type: str
    name: str
    flags: int
    key_size: int
    value_size: int
    max_entries: int
    entries: int
    entries_capped: bool
    memlock_bytes: int
    btf_id: int
    owners: tuple[tuple[int, str], ...]
    own: bool


@dataclass(frozen=True)
class BpfstatsSample:
    """Both tables at ``ts_ns`` (CLOCK_MONOTONIC).

    Attributes:
        progs: every program, by id.
        maps: every map, by id.
        stats_method: how run-time statistics are on (``BPF_ENABLE_STATS``,
            ``sysctl``, ``already on``), empty when off.
        stats_error: why they could not be turned on.
        scan_ns: what this refresh cost bpftop.
    """

    ts_ns: int
    progs: tuple[ProgRow, ...]
    maps: tuple[MapRow, ...]
    stats_method: str = ""
    stats_error: str = ""
    scan_ns: int = 0


def _boottime_offset_s() -> float:
    """Epoch seconds at boot, to date load times (the kernel gives CLOCK_BOOTTIME)."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def _owners(ids: set[int] | None, comms: dict[int, str]) -> tuple[tuple[int, str], ...]:
    return tuple((pid, comms.get(pid, "")) for pid in sorted(ids or ()))


class BpfstatsCollector(Collector):
    """The ``bpf`` pane's source."""

    name = "bpfstats"
    method = "task_file iterator"

    def __init__(self) -> None:
        from bpftop.bpf.bpfstats_enable import StatsEnabler

        self.stats = StatsEnabler()
        self._visible_pane = ""
        self._forced = False
        self._scanner: Any = None
        self._owners: Any = None
        self._filters = Filters()
        self._self_pid = os.getpid()
        # Taken once: recomputed per sample it would jitter, and derive matches
        # a program across samples by (id, tag, load time).
        self._boot_s = _boottime_offset_s()
        self._last: BpfstatsSample | None = None

    def open(self, filters: Filters) -> None:
        """Check that programs can be enumerated (needs CAP_SYS_ADMIN)."""
        from bpftop.bpf.errors import BpfError
        from bpftop.bpf.proginfo import check_listable
        from bpftop.collectors import bpfstats_owners
        from bpftop.collectors.bpfstats_scan import Scanner

        try:
            check_listable()
        except BpfError as exc:
            if exc.errno == errno.EPERM and not effective_caps() & (1 << CAP_SYS_ADMIN):
                raise NeedsSysAdminError(str(exc)) from None
            raise
        self._filters = filters
        self._scanner = Scanner()
        try:
            self._owners = bpfstats_owners.IterOwners()
        except (BpfError, OSError) as exc:
            # Before 5.8, or without BTF: the slower /proc walk, a slice per refresh.
            logger.info("bpfstats: no task_file iterator (%s); scanning /proc", exc)
            self._owners = bpfstats_owners.OwnerScanner()
            self.method = "/proc/*/fd scan"

    def set_option(self, name: str, value: object) -> None:
        """``visible_pane``: stats on while it is ``bpf``; ``bpf_stats``: on.

        Output of every pane (``*``: ``-b``, ``record``) does not turn them
        on: they cost every BPF program on the machine, ours on each context
        switch and syscall included, so they take asking for (``--pane bpf``
        or ``--bpf-stats``), as off-CPU stacks do.
        """
        if name == "visible_pane":
            self._visible_pane = str(value)
        elif name == "bpf_stats":
            self._forced = bool(value)

    def _apply_stats(self) -> None:
        if self._forced or self._visible_pane == STATS_PANE:
            if not self.stats.enabled and not self.stats.error:
                self.stats.enable()
        elif self.stats.enabled:
            self.stats.disable()

    def sample(self) -> BpfstatsSample:
        """Read both tables once."""
        from bpftop.bpf import proginfo
        from bpftop.collectors.bpfstats_scan import ENTRY_CAP

        started = time.monotonic_ns()
        self._apply_stats()
        last = self._last
        shown = self._forced or self._visible_pane in (STATS_PANE, "*")
        if not shown and last is not None and started - last.ts_ns < HIDDEN_RESCAN_S * 1e9:
            return last
        scanner = self._scanner
        progs = scanner.programs()
        maps = scanner.map_table()
        owners = self._owners.scan()
        me = self._self_pid
        boot_s = self._boot_s
        prog_rows = tuple(
            ProgRow(
                id=i.id,
                type=proginfo.type_name(proginfo.PROG_TYPES, i.type),
                name=s.name,
                tag=i.tag,
                loaded_at=boot_s + i.load_time_ns / 1e9,
                uid=i.uid,
                xlated_bytes=i.xlated_len,
                jited_bytes=i.jited_len,
                memlock_bytes=s.memlock_bytes,
                map_ids=s.map_ids,
                btf_id=i.btf_id,
                verified_insns=i.verified_insns,
                gpl=i.gpl,
                run_time_ns=i.run_time_ns,
                run_cnt=i.run_cnt,
                recursion_misses=i.recursion_misses,
                owners=_owners(owners.progs.get(i.id), owners.comms),
                own=me in owners.progs.get(i.id, ()),
            )
            for s, i in progs
        )
        map_rows = tuple(
            MapRow(
                id=m.info.id,
                type=proginfo.type_name(proginfo.MAP_TYPES, m.info.type),
                name=m.info.name,
                flags=m.info.flags,
                key_size=m.info.key_size,
                value_size=m.info.value_size,
                max_entries=m.info.max_entries,
                entries=m.entries,
                entries_capped=m.entries >= ENTRY_CAP,
                memlock_bytes=m.memlock_bytes,
                btf_id=m.info.btf_id,
                owners=_owners(owners.maps.get(m.info.id), owners.comms),
                own=me in owners.maps.get(m.info.id, ()),
            )
            for m in maps
        )
        pid, uid = self._filters.pid, self._filters.uid
        if pid:  # --pid: the programs and maps that process holds
            prog_rows = tuple(p for p in prog_rows if any(o == pid for o, _ in p.owners))
            map_rows = tuple(m for m in map_rows if any(o == pid for o, _ in m.owners))
        if uid is not None:  # --user: the programs that user loaded
            prog_rows = tuple(p for p in prog_rows if p.uid == uid)
        self._last = BpfstatsSample(
            ts_ns=time.monotonic_ns(),
            progs=prog_rows,
            maps=map_rows,
            stats_method=self.stats.method,
            stats_error=self.stats.error,
            scan_ns=time.monotonic_ns() - started,
        )
        return self._last

    def pids(self, sample: BpfstatsSample) -> set[int]:
        """Owners of programs and maps."""
        progs = {pid for row in sample.progs for pid, _ in row.owners}
        return progs | {pid for row in sample.maps for pid, _ in row.owners}

    def query(self, kind: str, obj_id: int) -> Any:
        """``("prog", id)``: its disassembly; ``("map", id)``: its contents."""
        from bpftop.collectors import bpfstats_detail

        if kind == "prog":
            return bpfstats_detail.program_detail(obj_id)
        if kind == "map":
            return bpfstats_detail.map_contents(obj_id)
        raise ValueError(f"unknown query {kind!r}")

    def close(self) -> None:
        """Turn statistics off again (or restore the sysctl)."""
        self.stats.disable()
        self._scanner = None
        close = getattr(self._owners, "close", None)  # the iterator holds a link and a program
        if close is not None:
            close()
        self._owners = None
