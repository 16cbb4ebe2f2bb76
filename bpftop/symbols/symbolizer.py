"""The Symbolizer: kernel and user addresses to Frames, with per-process state.

Call :meth:`Symbolizer.user` soon after sampling: once a process has exited
its maps and ``map_files`` are gone, and only what was read while it lived
(kept until :meth:`Symbolizer.forget`) can still name its frames.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from bpftop.symbols.binaries import Binary, BinaryCache
from bpftop.symbols.elf import ElfError, ElfSymbols
from bpftop.symbols.frame import KIND_JIT, KIND_USER, UNKNOWN_MODULE, Frame, unknown
from bpftop.symbols.kallsyms import KernelSymbols
from bpftop.symbols.perfmap import PerfMap
from bpftop.symbols.procmaps import Mapping, ProcessMaps, file_candidates, ns_pid, read_maps, stat_key

MAPS_TTL_S = 1.0  # re-read a process's maps at most this often unless an address misses
MAX_MEMO = 65536  # frames remembered per process
MAX_NOTES = 8


class _FileMapping:
    """A file mapping resolved to its binary, with the load bias of the segment it maps.

    Within the PT_LOAD segment that holds the mapping's file offset, the
    link-time address is ``addr - bias``; other addresses go through the
    segment table (a mapping may span segments).
    """

    __slots__ = ("bias", "binary", "hi", "lo", "m")

    def __init__(self, m: Mapping, binary: Binary | None) -> None:
        self.m = m
        self.binary = binary
        self.lo = self.hi = self.bias = 0
        # The segment the mapping's file range overlaps (the kernel maps whole
        # pages, so the mapping may start up to a page before the segment).
        segs = binary.elf.segments if binary is not None else ()
        size = m.end - m.start
        seg = next((g for g in segs if g.offset < m.offset + size and m.offset < g.offset + g.filesz), None)
        if seg is not None:
            self.bias = m.start - m.offset + seg.offset - seg.vaddr
            self.lo = seg.offset - m.offset + m.start
            self.hi = self.lo + seg.filesz

    def frame(self, addr: int) -> Frame:
        m, binary = self.m, self.binary
        if binary is None:
            return unknown(m.path, addr - m.start + m.offset)
        if self.lo <= addr < self.hi:
            vaddr = addr - self.bias
        else:
            other = binary.vaddr_of(addr - m.start + m.offset)
            if other is None:
                return unknown(m.path, addr - m.start + m.offset)
            vaddr = other
        hit = binary.lookup(vaddr)
        return Frame(hit[0], m.path, hit[1], KIND_USER) if hit else unknown(m.path, vaddr)


class _Process:
    """What is known about one process: maps, resolved binaries, perf map, memo."""

    def __init__(self, maps: ProcessMaps) -> None:
        self.maps = maps
        self.read_at = time.monotonic()
        self.files: list[_FileMapping | None] = [None] * len(maps.mappings)  # by mapping index
        self.perf_map: PerfMap | None = None
        self.perf_map_checked_at: float | None = None  # a JIT may write its map later
        self.memo: dict[int, Frame] = {}


class Symbolizer:
    """Turns kernel and user addresses into Frames; never raises for bad input.

    Used from one worker thread; no locks. All ``/proc`` access goes through
    ``proc`` so tests can point it elsewhere.

    Args:
        proc: The procfs root.
        kallsyms: The kallsyms file (tests pass a copy with zeroed addresses).
        maps_ttl_s: How long a process's maps are trusted before a re-read.
        kernel_reload_s: Minimum time between kallsyms re-reads after a miss
            (BPF programs and modules come and go).
    """

    def __init__(self, proc: str | Path = "/proc", kallsyms: str | Path | None = None,
                 maps_ttl_s: float = MAPS_TTL_S, kernel_reload_s: float = 5.0) -> None:
        self._proc_root = Path(proc)
        self._kernel = KernelSymbols(kallsyms or self._proc_root / "kallsyms",
                                     self._proc_root / "sys/kernel/kptr_restrict", kernel_reload_s)
        self._maps_ttl_s = maps_ttl_s
        self._procs: dict[int, _Process] = {}
        self._binaries = BinaryCache()
        self._vdso: Binary | bool | None = False  # False: not read yet
        self._notes: dict[str, None] = {}

    # -- kernel ---------------------------------------------------------------

    def kernel(self, addrs: Sequence[int]) -> list[Frame]:
        """Symbolizes kernel addresses; one Frame per address, same order."""
        try:
            return self._kernel.lookup(addrs)
        except Exception as exc:  # never break a stack: a bug here costs names only
            self._note(f"kernel symbolization failed: {type(exc).__name__}: {exc}")
            return [unknown("[kernel]", a) for a in addrs]

    # -- user -----------------------------------------------------------------

    def user(self, pid: int, addrs: Sequence[int]) -> list[Frame]:
        """Symbolizes user addresses of a process; one Frame per address, same order."""
        try:
            proc = self._process(pid)
            if proc is None:
                return [unknown(UNKNOWN_MODULE, a) for a in addrs]
            if len(proc.memo) >= MAX_MEMO:
                proc.memo.clear()
            out = []
            refreshed = False
            memo, index, files = proc.memo, proc.maps.index, proc.files
            for addr in addrs:
                frame = memo.get(addr)
                if frame is None:
                    i = index(addr)
                    resolved = files[i] if i >= 0 else None
                    if resolved is not None:  # the hot path: a file mapping seen before
                        frame = resolved.frame(addr)
                    else:
                        if i < 0 and not refreshed:
                            # A library dlopen()ed or code mapped since the last read.
                            refreshed = True
                            proc = self._reread(pid, proc)
                            memo, index, files = proc.memo, proc.maps.index, proc.files
                            i = index(addr)
                        frame = self._frame(pid, proc, i, addr)
                    memo[addr] = frame
                out.append(frame)
            return out
        except Exception as exc:  # never break a stack: a bug here costs names only
            self._note(f"user symbolization failed: {type(exc).__name__}: {exc}")
            return [unknown(UNKNOWN_MODULE, a) for a in addrs]

    def forget(self, pids: Iterable[int]) -> None:
        """Drops per-process state of exited pids (parsed binaries stay cached)."""
        for pid in pids:
            self._procs.pop(pid, None)

    @property
    def notes(self) -> tuple[str, ...]:
        """Human-readable notes on what could not be symbolized and why."""
        kernel = (self._kernel.note,) if self._kernel.note else ()
        return kernel + tuple(self._notes)

    def _note(self, text: str) -> None:
        if len(self._notes) < MAX_NOTES:
            self._notes[text] = None

    def _process(self, pid: int) -> _Process | None:
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = _Process(ProcessMaps(read_maps(self._proc_root, pid)))
            except OSError:
                return None
            self._procs[pid] = proc
        elif time.monotonic() - proc.read_at >= self._maps_ttl_s:
            proc = self._reread(pid, proc)
        return proc

    def _reread(self, pid: int, proc: _Process) -> _Process:
        """Fresh maps; what was learnt stays when nothing changed or the process is gone."""
        try:
            text = read_maps(self._proc_root, pid)
        except OSError:  # exited: keep what was read while it lived
            return proc
        proc.read_at = time.monotonic()
        if text == proc.maps.text:
            return proc
        fresh = _Process(ProcessMaps(text))  # exec or mmap changes: old frames may lie
        known = {f.m: f for f in proc.files if f is not None}
        fresh.files = [known.get(m) for m in fresh.maps.mappings]
        fresh.perf_map, fresh.perf_map_checked_at = proc.perf_map, proc.perf_map_checked_at
        self._procs[pid] = fresh
        return fresh

    def _frame(self, pid: int, proc: _Process, i: int, addr: int) -> Frame:
        if i < 0:
            return self._jit_frame(pid, proc, addr) or unknown(UNKNOWN_MODULE, addr)
        resolved = proc.files[i]
        if resolved is not None:
            return resolved.frame(addr)
        m = proc.maps.mappings[i]
        if m.is_file:
            resolved = proc.files[i] = _FileMapping(m, self._binary(pid, m))
            return resolved.frame(addr)
        # The vDSO, or anonymous executable memory (memfd, [anon:...]): JIT code.
        frame = self._vdso_frame(m, addr) if m.path == "[vdso]" else self._jit_frame(pid, proc, addr)
        return frame or unknown(m.path or "[anon]", addr - m.start)

    def _vdso_frame(self, m: Mapping, addr: int) -> Frame | None:
        vdso = self._vdso_binary()
        vaddr = vdso.vaddr_of(addr - m.start) if vdso else None
        hit = vdso.lookup(vaddr) if vdso and vaddr is not None else None
        return Frame(hit[0], m.path, hit[1], KIND_USER) if hit else None

    def _binary(self, pid: int, m: Mapping) -> Binary | None:
        binary: Binary | None = None
        errors = []
        for path, exact in file_candidates(self._proc_root, pid, m):
            try:
                st = os.stat(path)
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror}")
                continue
            if not exact and st.st_ino != m.inode:
                errors.append(f"{path}: replaced since it was mapped")
                continue
            roots = [self._proc_root / str(pid) / "root", Path("/")]
            binary, why = self._binaries.get(stat_key(st), path, m.path, roots)
            if binary is not None:
                break
            errors.append(why)
        if binary is None and errors:
            self._note(f"cannot read {m.path} of pid {pid}: {'; '.join(e for e in errors if e)}")
        return binary

    def _jit_frame(self, pid: int, proc: _Process, addr: int) -> Frame | None:
        now = time.monotonic()
        if proc.perf_map is None and (proc.perf_map_checked_at is None
                                      or now - proc.perf_map_checked_at >= self._maps_ttl_s):
            proc.perf_map_checked_at = now
            proc.perf_map = self._find_perf_map(pid)
        if proc.perf_map is None:
            return None
        hit = proc.perf_map.lookup(addr)
        if hit is None and proc.perf_map.refresh():
            hit = proc.perf_map.lookup(addr)
        return Frame(hit[0], proc.perf_map.display, hit[1], KIND_JIT) if hit else None

    def _find_perf_map(self, pid: int) -> PerfMap | None:
        """The process's perf map: in its own /tmp under its namespace pid (containers), or ours."""
        try:
            # /tmp is anyone's: like perf, trust only a map owned by the process's user or root.
            owners = {0, os.stat(self._proc_root / str(pid)).st_uid}
        except OSError:
            return None
        nspid = ns_pid(self._proc_root, pid)
        inside = self._proc_root / str(pid) / "root" / f"tmp/perf-{nspid}.map"
        for path in (inside, Path(f"/tmp/perf-{pid}.map")):
            pm = PerfMap(path, f"/tmp/perf-{nspid}.map", owners)
            if pm.refresh():
                return pm
        return None

    def _vdso_binary(self) -> Binary | None:
        """The vDSO image, read from this process: the kernel maps the same one into all."""
        if self._vdso is False:
            self._vdso = None
            try:
                maps = ProcessMaps(read_maps(self._proc_root, os.getpid()))
                m = next(x for x in maps.mappings if x.path == "[vdso]")
                with open(self._proc_root / str(os.getpid()) / "mem", "rb") as f:
                    f.seek(m.start)
                    self._vdso = Binary(ElfSymbols(f.read(m.end - m.start)))
            except (OSError, StopIteration, ElfError, ValueError):
                pass
        return self._vdso if isinstance(self._vdso, Binary) else None
