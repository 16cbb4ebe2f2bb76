"""Which processes hold each BPF program and map.

The kernel tells, through a task_file iterator (``c/bpfstats.bpf.c``, Linux
>= 5.8): one record per BPF fd of every process, for well under a
millisecond. Without it (older kernels, no BTF) the fallback scans
``/proc/*/fd`` a slice per refresh (``OwnerScanner``).

A process owns a program when it holds an fd of it (``anon_inode:bpf-prog``)
or of a link to it (``anon_inode:bpf_link``, whose fdinfo names the program);
it owns a map through an ``anon_inode:bpf-map`` fd. Only those fds' fdinfo is
read, so the cost is one ``readlink`` per open fd on the machine plus one
small read per BPF fd. Threads share their process's fd table, so only
thread-group leaders (``/proc/<pid>``) are scanned. ``proc`` is injectable so
tests can build a fake tree.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bpftop.collectors.base import header_defines

DEFS = header_defines("bpfstats.h")
ENTRY = struct.Struct(f"<III{DEFS['BPFSTATS_COMM_LEN']}s")  # struct owner_entry

_KINDS = {
    "anon_inode:bpf-prog": b"prog_id:",
    "anon_inode:bpf_link": b"prog_id:",
    "anon_inode:bpf-map": b"map_id:",
}


@dataclass
class Owners:
    """Result of one scan: object id -> owning pids, and the owners' names."""

    progs: dict[int, set[int]] = field(default_factory=dict)
    maps: dict[int, set[int]] = field(default_factory=dict)
    comms: dict[int, str] = field(default_factory=dict)


def _fd_object(fdinfo: str, prefix: bytes) -> int | None:
    try:
        with open(fdinfo, "rb") as f:
            for line in f:
                if line.startswith(prefix):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass  # the fd closed, or the process exited, while we looked
    return None


def scan(proc: str = "/proc") -> Owners:
    """Owners of every program and map, from the fds of every process (one full pass)."""
    return OwnerScanner(proc, budget_ns=0).scan()


def _pid_objects(proc: str, pid: int) -> tuple[tuple[bool, int], ...] | None:
    """``(is_map, id)`` of every BPF fd of ``pid``; None when it cannot be read (exited)."""
    fd_dir = f"{proc}/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return None  # exited, or a kernel thread's fd table we may not read
    found = []
    for fd in fds:
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        prefix = _KINDS.get(target)
        if prefix is None:
            continue
        obj = _fd_object(f"{proc}/{pid}/fdinfo/{fd}", prefix)
        if obj is not None:
            found.append((prefix == b"map_id:", obj))
    return tuple(found)


class OwnerScanner:
    """Scans ``/proc`` a slice at a time and keeps what each process held.

    One ``readlink`` per fd of every process is too slow to repeat each
    refresh on a busy machine (about 10 us per fd in Python), so each call
    rescans bpftop itself, processes not seen before, then the others, least
    recently scanned first, until ``budget_ns`` is spent (0: everything). A
    change of owner is therefore seen within a few refreshes; processes
    that exited drop out at once.
    """

    def __init__(self, proc: str = "/proc", budget_ns: int = 8_000_000) -> None:
        self.proc = proc
        self.budget_ns = budget_ns
        self._held: dict[int, tuple[tuple[bool, int], ...]] = {}
        self._scanned: dict[int, int] = {}  # pid -> monotonic ns of its last scan
        self._comms: dict[int, str] = {}
        self._self = os.getpid()

    def scan(self) -> Owners:
        """Rescan what the budget allows and return every known owner."""
        start = time.monotonic_ns()
        try:
            pids = {int(e.name) for e in os.scandir(self.proc) if e.name.isdigit()}
        except OSError:
            pids = set()
        for gone in self._held.keys() - pids:
            self._held.pop(gone, None)
            self._scanned.pop(gone, None)
            self._comms.pop(gone, None)
        order = sorted(pids, key=lambda p: (p != self._self, self._scanned.get(p, -1)))
        first = not self._scanned
        for pid in order:
            now = time.monotonic_ns()
            if self.budget_ns and not first and pid != self._self and now - start > self.budget_ns:
                break
            held = _pid_objects(self.proc, pid)
            self._scanned[pid] = now
            if held:
                self._held[pid] = held
                if pid not in self._comms:
                    self._comms[pid] = _comm(self.proc, pid)
            else:
                self._held.pop(pid, None)
        out = Owners()
        for pid, held in self._held.items():
            for is_map, obj in held:
                (out.maps if is_map else out.progs).setdefault(obj, set()).add(pid)
            out.comms[pid] = self._comms.get(pid, "")
        return out


def _comm(proc: str, pid: int) -> str:
    try:
        return Path(f"{proc}/{pid}/comm").read_text().rstrip("\n")
    except OSError:
        return ""


class IterOwners:
    """Owners from the kernel's task_file iterator: one read per refresh."""

    def __init__(self) -> None:
        from bpftop.bpf.iterread import BpfIterator

        self._iter: Any = BpfIterator("bpfstats")

    def scan(self) -> Owners:
        """Run the iterator once."""
        out = Owners()
        map_kind = DEFS["BPFSTATS_OBJ_MAP"]
        for pid, obj, kind, comm in ENTRY.iter_unpack(self._iter.read_all()):
            (out.maps if kind == map_kind else out.progs).setdefault(obj, set()).add(pid)
            if pid not in out.comms:
                out.comms[pid] = comm.split(b"\0", 1)[0].decode(errors="replace")
        return out

    def close(self) -> None:
        """Detach the iterator."""
        self._iter.close()
