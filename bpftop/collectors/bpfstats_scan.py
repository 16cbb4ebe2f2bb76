"""One refresh of the programs and maps tables, with what never changes cached by id.

A program's type, name, tag, sizes, map ids and memlock are fixed once it is
loaded, and a map's shape once it is created, so only new ids cost the full
info (and, for a 15-character name that may be cut, a BTF lookup). Every
refresh still reads each program's info for its run-time statistics: one
open-by-id, one ``BPF_OBJ_GET_INFO_BY_FD``, one close. Map entry counts cost
batch lookups, so each map is counted again every ``RECOUNT_NS`` (a new one
at once), within a time budget per refresh (``COUNT_BUDGET_NS``), oldest count
first; a map not counted this time keeps its last count. Counting every map
every second was ~1.4 ms of a batch tick (issue 23).
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

from bpftop.bpf import proginfo
from bpftop.bpf.btfdata import Btf, BtfError
from bpftop.bpf.errors import BpfError
from bpftop.bpf.mapread import EntryCounter
from bpftop.bpf.maps import possible_cpus

ENTRY_CAP = 1 << 20  # stop counting a map here; shown as "≥"
COUNT_BUDGET_NS = 5_000_000
RECOUNT_NS = 5_000_000_000


class ProgStatic(NamedTuple):
    """The parts of a program's info that never change."""

    info: proginfo.ProgInfo
    name: str
    map_ids: tuple[int, ...]
    memlock_bytes: int


class MapState(NamedTuple):
    """A map's fixed info, its memlock, and its last entry count (-1: unknown)."""

    info: proginfo.MapInfo
    memlock_bytes: int
    entries: int
    counted_ns: int


class Scanner:
    """Reads both tables; not thread-safe (the engine's tick owns it)."""

    def __init__(self) -> None:
        self.reader = proginfo.InfoReader()
        self.counter = EntryCounter()
        self.ncpu = possible_cpus()
        self.progs: dict[int, ProgStatic] = {}
        self.maps: dict[int, MapState] = {}
        self._func_names: dict[tuple[int, int], str] = {}

    def programs(self) -> list[tuple[ProgStatic, proginfo.ProgInfo]]:
        """Every program's fixed part and current info (with run-time statistics)."""
        out = []
        ids = proginfo.prog_ids()
        for prog_id in ids:
            fd = proginfo.open_prog(prog_id)
            if fd is None:
                continue
            try:
                info = self.reader.prog(fd)
                static = self.progs.get(prog_id)
                if static is None:
                    static = self.progs[prog_id] = self._static(fd, info)
            except BpfError:
                continue  # unloaded between the id walk and the info call
            finally:
                os.close(fd)
            out.append((static, info))
        for gone in self.progs.keys() - set(ids):
            del self.progs[gone]
        return out

    def _static(self, fd: int, info: proginfo.ProgInfo) -> ProgStatic:
        name = info.name
        if len(name) == proginfo.OBJ_NAME_LEN - 1 and info.btf_id and info.nr_func_info:
            name = self._full_name(fd, info.btf_id) or name
        map_ids = self.reader.prog_map_ids(fd, info.nr_map_ids)
        return ProgStatic(info, name, map_ids, proginfo.memlock(fd))

    def _full_name(self, fd: int, btf_id: int) -> str:
        """The main function's name from BTF: the kernel cuts program names to 15 bytes."""
        type_id = self.reader.first_func_type(fd)
        key = (btf_id, type_id)
        if len(self._func_names) > 4096:  # programs come and go; names are cheap to reread
            self._func_names.clear()
        if key not in self._func_names:
            try:
                btf = Btf(proginfo.btf_blob(btf_id))
                self._func_names[key] = btf.types[type_id].name if type_id < len(btf.types) else ""
            except (BpfError, BtfError):
                self._func_names[key] = ""
        return self._func_names[key]

    def map_table(self) -> list[MapState]:
        """Every map's fixed info and entry count (refreshed within the time budget)."""
        ids = proginfo.map_ids()
        for gone in self.maps.keys() - set(ids):
            del self.maps[gone]
        for map_id in ids:
            if map_id in self.maps:
                continue
            fd = proginfo.open_map(map_id)
            if fd is None:
                continue
            try:
                info = self.reader.map(fd)
                entries = info.max_entries if info.type in proginfo.ARRAY_MAP_TYPES else -1
                self.maps[map_id] = MapState(info, proginfo.memlock(fd), entries, 0)
            except BpfError:
                continue
            finally:
                os.close(fd)
        self._count_some()
        return [self.maps[i] for i in ids if i in self.maps]

    def _count_some(self) -> None:
        """Count entries of hash-like maps, least recently counted first, within the budget."""
        start = time.monotonic_ns()
        due = start - RECOUNT_NS
        oldest_first = sorted(
            (
                s
                for s in self.maps.values()
                if s.info.type in proginfo.HASH_MAP_TYPES and (not s.counted_ns or s.counted_ns <= due)
            ),
            key=lambda s: s.counted_ns,
        )
        for state in oldest_first:
            now = time.monotonic_ns()
            if now - start > COUNT_BUDGET_NS:
                break
            info = state.info
            fd = proginfo.open_map(info.id)
            if fd is None:
                continue
            try:
                stride = proginfo.value_stride(info, self.ncpu)
                entries = self.counter.count(fd, info.key_size, stride, ENTRY_CAP)
            except BpfError:
                entries = -1
            finally:
                os.close(fd)
            self.maps[info.id] = state._replace(entries=entries, counted_ns=time.monotonic_ns())
