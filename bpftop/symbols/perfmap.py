"""JIT symbols from perf map files (``/tmp/perf-PID.map``).

Runtimes with a JIT (V8/node --perf-basic-prof, the JVM with perf-map-agent,
CPython 3.12 -X perf, LuaJIT, .NET) append one line per compiled function:
``START SIZE NAME`` with hex numbers. Code can be recompiled into an address
that held another function, so a later line for the same start wins. The
file grows while the process runs; it is re-read when an address misses and
the file has changed. A process in a container writes the file in its own
/tmp under its namespace pid.
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path

from bpftop.symbols.demangle import demangle


def parse_perf_map(text: str) -> tuple[list[int], list[int], list[str]]:
    """(starts, ends, names) sorted by start; malformed lines are skipped."""
    by_start: dict[int, tuple[int, str]] = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3:
            continue
        try:
            start, size = int(parts[0], 16), int(parts[1], 16)
        except ValueError:
            continue
        by_start[start] = (start + size, parts[2])
    starts = sorted(by_start)
    return starts, [by_start[s][0] for s in starts], [by_start[s][1] for s in starts]


class PerfMap:
    """The perf map of one process.

    Args:
        path: Where the file is opened from (e.g. ``/proc/PID/root/tmp/perf-N.map``).
        display: The path shown as the frames' module (``/tmp/perf-N.map``).
        owners: The uids a trustworthy file may belong to (None: any).
    """

    def __init__(self, path: Path, display: str, owners: set[int] | None = None) -> None:
        self.path = path
        self.display = display
        self.owners = owners
        self._version: tuple[int, int] | None = None
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._names: list[str] = []
        self._demangled: dict[int, str] = {}

    def refresh(self) -> bool:
        """Re-reads the file if its size or mtime changed; False when it is missing or untrusted."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        if self.owners is not None and st.st_uid not in self.owners:
            return False
        version = (st.st_size, st.st_mtime_ns)
        if version != self._version:
            try:
                text = self.path.read_text(errors="replace")
            except OSError:
                return False
            self._starts, self._ends, self._names = parse_perf_map(text)
            self._demangled.clear()
            self._version = version
        return True

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(name, offset into the function) of an address, or None."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0 or addr >= self._ends[i]:
            return None
        name = self._demangled.get(i)
        if name is None:
            name = self._demangled[i] = demangle(self._names[i])
        return name, addr - self._starts[i]
