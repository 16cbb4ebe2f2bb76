"""``/proc/PID/maps`` parsing and the paths through which a mapped file can be opened.

A process's binaries are not always at the path its maps show: a container
has its own root (``/proc/PID/root`` leads there), a binary may have been
deleted (maps add `` (deleted)``) or replaced by a new file at the same path
(an upgrade). ``/proc/PID/map_files/START-END`` opens exactly the mapped
file in all three cases, but needs CAP_SYS_ADMIN (CAP_CHECKPOINT_RESTORE
since 5.9) and a live process; the root path is the fallback, accepted only
when its inode is the one the maps name.
"""

from __future__ import annotations

import bisect
import os
from array import array
from pathlib import Path
from typing import NamedTuple

DELETED = " (deleted)"


class Mapping(NamedTuple):
    """One line of ``/proc/PID/maps``."""

    start: int
    end: int
    offset: int  # file offset of ``start``
    dev: str  # "major:minor" in hex, as the kernel prints it
    inode: int
    path: str  # as the process sees it, with " (deleted)" when unlinked; "" for anonymous
    executable: bool

    @property
    def is_file(self) -> bool:
        """True for a mapping of a regular file (not anonymous, [heap], [vdso] ...)."""
        return self.path.startswith("/") and self.inode != 0

    @property
    def deleted(self) -> bool:
        """True when the mapped file has been unlinked."""
        return self.path.endswith(DELETED)


def parse_maps(text: str) -> list[Mapping]:
    """Parses the text of a maps file into mappings sorted by start address."""
    out = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        lo, _, hi = parts[0].partition("-")
        try:
            out.append(Mapping(int(lo, 16), int(hi, 16), int(parts[2], 16), parts[3], int(parts[4]),
                               parts[5].strip() if len(parts) > 5 else "", "x" in parts[1]))
        except ValueError:
            continue
    out.sort()
    return out


class ProcessMaps:
    """The mappings of one process with bisect lookups.

    Args:
        text: The maps file's text (kept so a re-read can tell nothing changed).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.mappings = parse_maps(text)
        self._starts = array("Q", [m.start for m in self.mappings])

    def index(self, addr: int) -> int:
        """The index in ``mappings`` of the mapping containing ``addr``, or -1."""
        i = bisect.bisect_right(self._starts, addr) - 1
        return i if i >= 0 and addr < self.mappings[i].end else -1

    def find(self, addr: int) -> Mapping | None:
        """The mapping containing ``addr``, or None."""
        i = self.index(addr)
        return self.mappings[i] if i >= 0 else None


def read_maps(proc: Path, pid: int) -> str:
    """The text of ``/proc/PID/maps``.

    Raises:
        OSError: the process is gone or not readable.
    """
    return (proc / str(pid) / "maps").read_text(errors="replace")


def file_candidates(proc: Path, pid: int, m: Mapping) -> list[tuple[Path | None, str, bool]]:
    """Where the file behind a mapping may be opened, best first.

    Returns:
        (root, path, exact) triples: ``path`` is resolved inside ``root``
        without following links (``safeopen.open_in_root``), or, when root is
        None, opened as is (a ``map_files`` link, which the kernel made and
        which must be followed). ``exact`` is False when the path may hold
        another file than the mapped one and its inode must be checked.
    """
    base = proc / str(pid)
    map_file = str(base / "map_files" / f"{m.start:x}-{m.end:x}")
    out: list[tuple[Path | None, str, bool]] = [(None, map_file, True)]
    if not m.deleted:
        out.append((base / "root", m.path, False))
        out.append((Path("/"), m.path, False))
    return out


def ns_pid(proc: Path, pid: int) -> int:
    """The pid of a process inside its own (innermost) pid namespace; ``pid`` when unknown."""
    try:
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return pid
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            fields = line.split()[1:]
            return int(fields[-1]) if fields else pid
    return pid


def stat_key(st: os.stat_result) -> tuple[int, int, int]:
    """The cache key of a file: (device, inode, mtime in ns)."""
    return (st.st_dev, st.st_ino, st.st_mtime_ns)
