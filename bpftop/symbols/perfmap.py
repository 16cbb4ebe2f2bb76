"""JIT symbols from perf map files (``/tmp/perf-PID.map``).

Runtimes with a JIT (V8/node --perf-basic-prof, the JVM with perf-map-agent,
CPython 3.12 -X perf, LuaJIT, .NET) append one line per compiled function:
``START SIZE NAME`` with hex numbers. Code can be recompiled into an address
that held another function, so a later line for the same start wins. The
file grows while the process runs; it is re-read when an address misses and
the file has changed. A process in a container writes the file in its own
/tmp under its namespace pid.

The file is the process's to write, so it is hostile input to root: it is
opened inside the process's root without following any link (``safeopen``),
must be a regular file owned by the process's user, and is read under caps
on size, lines and name length; a cap trip is reported, never silent.
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path

from bpftop.symbols import safeopen
from bpftop.symbols.demangle import demangle

MAX_PERF_MAP_BYTES = 64 << 20  # /dev/zero as a perf map grew bpftop past 2.6 GB
MAX_PERF_MAP_LINES = 500_000  # 9 million short lines took 2.9 GB and 68 s
MAX_JIT_NAME_BYTES = 4096


class PerfMapText:
    """A parsed perf map: (starts, ends, names) sorted by start, and what the caps cut.

    Args:
        data: The file's bytes (split as bytes: a decoded copy of 64 MB would double the peak).
    """

    def __init__(self, data: bytes) -> None:
        by_start: dict[int, tuple[int, bytes]] = {}
        self.names_cut = 0
        # maxsplit bounds the list; what is left over lands in one last element.
        lines = data.split(b"\n", MAX_PERF_MAP_LINES)
        rest = lines.pop() if len(lines) > MAX_PERF_MAP_LINES else b""
        self.lines_over = rest.count(b"\n") + 1 if rest.strip() else 0
        for line in lines:
            parts = line.split(None, 2)
            if len(parts) < 3:
                continue
            try:
                start, size = int(parts[0], 16), int(parts[1], 16)
            except ValueError:
                continue
            name = parts[2].rstrip()
            if len(name) > MAX_JIT_NAME_BYTES:
                name = name[:MAX_JIT_NAME_BYTES]
                self.names_cut += 1
            by_start[start] = (start + size, name)
        del lines
        self.starts = sorted(by_start)
        self.ends = [by_start[s][0] for s in self.starts]
        self.names = [by_start[s][1].decode(errors="replace") for s in self.starts]


def parse_perf_map(text: str) -> tuple[list[int], list[int], list[str]]:
    """(starts, ends, names) sorted by start; malformed lines are skipped."""
    parsed = PerfMapText(text.encode())
    return parsed.starts, parsed.ends, parsed.names


class PerfMap:
    """The perf map of one process.

    Args:
        root: The directory the path is resolved in (``/proc/PID/root``, or ``/``).
        path: The file's path inside ``root`` (``/tmp/perf-N.map``).
        display: The path shown as the frames' module and in notes.
        owners: The uids a trustworthy file may belong to (None: any); a
            root-owned file only if everyone may read it (see ``safeopen.check_fd``).
    """

    def __init__(self, root: str | Path, path: str, display: str, owners: set[int] | None = None) -> None:
        self.root = root
        self.path = path
        self.display = display
        self.owners = owners
        self.problem = ""  # why the last refresh read nothing ("over 64 MB"), "" when it read the file
        self.capped = ""  # what the caps cut from the file last read
        self._version: tuple[int, int, int] | None = None
        # One tuple, swapped whole: refresh() runs in the loader thread while lookups go on.
        self._table: tuple[list[int], list[int], list[str], dict[int, str]] = ([], [], [], {})

    def refresh(self) -> bool:
        """Re-reads the file if it changed; False when it is missing, untrusted or over a cap."""
        try:
            fd = safeopen.open_in_root(self.root, self.path)
        except OSError as exc:
            self.problem = safeopen.reason(exc)
            return False
        try:
            st = safeopen.check_fd(fd, self.owners, MAX_PERF_MAP_BYTES)
            version = (st.st_ino, st.st_size, st.st_mtime_ns)
            if version != self._version:
                data = safeopen.read_capped(fd, MAX_PERF_MAP_BYTES)
                if data is None:  # grew past the cap since fstat
                    raise safeopen.UnsafeFileError(0, f"over {MAX_PERF_MAP_BYTES >> 20} MB")
                parsed = PerfMapText(data)
                self._table = (parsed.starts, parsed.ends, parsed.names, {})
                self._version = version
                cuts = []
                if parsed.lines_over:
                    cuts.append(f"only the first {MAX_PERF_MAP_LINES:,} lines read")
                if parsed.names_cut:
                    cuts.append(f"{parsed.names_cut} names cut at {MAX_JIT_NAME_BYTES} bytes")
                self.capped = f"perf map {self.display}: {', '.join(cuts)}" if cuts else ""
        except OSError as exc:
            self.problem = safeopen.reason(exc)
            self._table = ([], [], [], {})
            self._version = None
            return False
        finally:
            os.close(fd)
        self.problem = ""
        return True

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(name, offset into the function) of an address, or None."""
        starts, ends, names, demangled = self._table
        i = bisect.bisect_right(starts, addr) - 1
        if i < 0 or addr >= ends[i]:
            return None
        name = demangled.get(i)
        if name is None:
            name = demangled[i] = demangle(names[i])
        return name, addr - starts[i]
