"""The Symbolizer: kernel and user addresses to Frames, with per-process state.

Call :meth:`Symbolizer.user` soon after sampling: once a process has exited
its maps and ``map_files`` are gone, and only what was read while it lived
(kept until :meth:`Symbolizer.forget`) can still name its frames.

Files are read in a ``Loader`` thread, never on the caller's: ``user`` waits
for them only until its deadline and returns ``pending`` frames (the raw
address) for what is not loaded yet. Every cap a hostile file trips, and every
file refused, ends up in :attr:`Symbolizer.notes`.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from bpftop.symbols import safeopen
from bpftop.symbols.binaries import Binary, BinaryCache
from bpftop.symbols.elf import ElfError, ElfSymbols
from bpftop.symbols.frame import KIND_JIT, KIND_PENDING, KIND_USER, UNKNOWN_MODULE, Frame, unknown
from bpftop.symbols.kallsyms import KernelSymbols
from bpftop.symbols.loader import PENDING, Loader
from bpftop.symbols.perfmap import PerfMap
from bpftop.symbols.procmaps import Mapping, ProcessMaps, file_candidates, ns_pid, read_maps

MAPS_TTL_S = 1.0  # re-read a process's maps at most this often unless an address misses
MAX_MEMO = 65536  # frames remembered per process
MAX_NOTES = 8
MAX_CAP_NOTES = 16  # distinct cap trips shown; the rest are counted
LOAD_WAIT_S = 2.0  # how long user() waits for files by default (callers on a clock pass a deadline)


def _printable(text: str) -> str:
    """Notes name files a process chose: no control character of theirs reaches a terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


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
        self.perf_map_refreshed_at = 0.0
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
        load_wait_s: How long :meth:`user` waits for files when no deadline is given.
        load_budget_s: How long one file may take to load before it is given up.
    """

    def __init__(self, proc: str | Path = "/proc", kallsyms: str | Path | None = None,
                 maps_ttl_s: float = MAPS_TTL_S, kernel_reload_s: float = 5.0, *,
                 load_wait_s: float = LOAD_WAIT_S, load_budget_s: float = 10.0) -> None:
        self._proc_root = Path(proc)
        self._kernel = KernelSymbols(kallsyms or self._proc_root / "kallsyms",
                                     self._proc_root / "sys/kernel/kptr_restrict", kernel_reload_s)
        self._maps_ttl_s = maps_ttl_s
        self._procs: dict[int, _Process] = {}
        self._binaries = BinaryCache()
        self._vdso: Binary | bool | None = False  # False: not read yet
        self._notes: dict[str, None] = {}
        self._caps: dict[str, None] = {}  # cap trips and refused files, shown before other notes
        self._caps_more = 0  # cap trips beyond MAX_CAP_NOTES
        self._loader = Loader(load_budget_s)
        self._load_wait_s = load_wait_s
        self._deadline = 0.0
        self._used: dict[int, tuple[str, Binary]] = {}  # binaries named frames: their cut-name counts

    # -- kernel ---------------------------------------------------------------

    def kernel(self, addrs: Sequence[int]) -> list[Frame]:
        """Symbolizes kernel addresses; one Frame per address, same order."""
        try:
            return self._kernel.lookup(addrs)
        except Exception as exc:  # never break a stack: a bug here costs names only
            self._note(f"kernel symbolization failed: {type(exc).__name__}: {exc}")
            return [unknown("[kernel]", a) for a in addrs]

    # -- user -----------------------------------------------------------------

    def user(self, pid: int, addrs: Sequence[int], deadline: float | None = None) -> list[Frame]:
        """Symbolizes user addresses of a process; one Frame per address, same order.

        Args:
            pid: The process.
            addrs: Its user addresses.
            deadline: ``time.monotonic()`` after which files still loading give
                ``pending`` frames (default: ``load_wait_s`` from now). One
                deadline for all of a tick's calls bounds the tick.
        """
        self._deadline = time.monotonic() + self._load_wait_s if deadline is None else deadline
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
                    if frame.kind == KIND_PENDING:  # named on a later call
                        out.append(frame)
                        continue
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
        """Human-readable notes on what could not be symbolized and why; cap trips first."""
        kernel = (self._kernel.note,) if self._kernel.note else ()
        caps = tuple(self._caps) + tuple(self._loader.failures)
        if self._caps_more:
            caps += (f"symbols: {self._caps_more} more files refused or capped",)
        cut = [(path, binary.names_cut()) for path, binary in self._used.values()]
        caps += tuple(f"symbols: {n} names in {path} cut at 4096 bytes" for path, n in cut if n)
        return kernel + caps + tuple(self._notes)

    def _note(self, text: str) -> None:
        if len(self._notes) < MAX_NOTES:
            self._notes[_printable(text)] = None

    def _cap_note(self, text: str) -> None:
        """A cap tripped or a hostile file refused: always counted, shown up to MAX_CAP_NOTES."""
        text = _printable(text)
        if text in self._caps:
            return
        if len(self._caps) < MAX_CAP_NOTES:
            self._caps[text] = None
        else:
            self._caps_more += 1

    def _pending(self, m: Mapping | None, addr: int) -> Frame:
        if m is None:
            return Frame("", UNKNOWN_MODULE, addr, KIND_PENDING)
        if m.is_file:
            return Frame("", m.path, addr - m.start + m.offset, KIND_PENDING)
        return Frame("", m.path or "[anon]", addr - m.start, KIND_PENDING)

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
            return self._jit_frame(pid, proc, None, addr) or unknown(UNKNOWN_MODULE, addr)
        resolved = proc.files[i]
        if resolved is not None:
            return resolved.frame(addr)
        m = proc.maps.mappings[i]
        if m.is_file:
            loaded = self._loader.result(("binary", pid, m), lambda: self._load_binary(pid, m),
                                         self._deadline, f"{m.path} of pid {pid}")
            if loaded is PENDING:
                return self._pending(m, addr)
            binary, errors, capped = loaded or (None, [], [])
            for line in capped:
                self._cap_note(f"symbols: {m.path} of pid {pid}: {line}")
            if binary is None and errors:
                self._note(f"cannot read {m.path} of pid {pid}: {'; '.join(e for e in errors if e)}")
            if binary is not None and len(self._used) < 1024:
                self._used[id(binary)] = (m.path, binary)
            resolved = proc.files[i] = _FileMapping(m, binary)
            return resolved.frame(addr)
        # The vDSO, or anonymous executable memory (memfd, [anon:...]): JIT code.
        frame = self._vdso_frame(m, addr) if m.path == "[vdso]" else self._jit_frame(pid, proc, m, addr)
        return frame or unknown(m.path or "[anon]", addr - m.start)

    def _vdso_frame(self, m: Mapping, addr: int) -> Frame | None:
        vdso = self._vdso_binary()
        vaddr = vdso.vaddr_of(addr - m.start) if vdso else None
        hit = vdso.lookup(vaddr) if vdso and vaddr is not None else None
        return Frame(hit[0], m.path, hit[1], KIND_USER) if hit else None

    def _load_binary(self, pid: int, m: Mapping) -> tuple[Binary | None, list[str], list[str]]:
        """In the loader thread: (binary, why each path failed, caps it tripped)."""
        binary: Binary | None = None
        errors = []
        try:
            owners = {0, os.stat(self._proc_root / str(pid)).st_uid}
        except OSError:
            owners = {0}
        roots = [self._proc_root / str(pid) / "root", Path("/")]
        for root, path, exact in file_candidates(self._proc_root, pid, m):
            shown = path if root is None else f"{root}{path}"
            try:
                fd = safeopen.open_direct(path) if root is None else safeopen.open_in_root(root, path)
            except OSError as exc:
                errors.append(f"{shown}: {safeopen.reason(exc)}")
                continue
            try:
                st = safeopen.check_fd(fd)
                if not exact and st.st_ino != m.inode:
                    errors.append(f"{shown}: replaced since it was mapped")
                    continue
                binary, why = self._binaries.get(fd, st, m.path, roots, owners | {st.st_uid})
            except OSError as exc:
                errors.append(f"{shown}: {exc.strerror}")
                continue
            finally:
                os.close(fd)
            if binary is not None:
                break
            errors.append(why)
        capped = [] if binary is None else binary.capped()
        return binary, errors, capped

    def _jit_frame(self, pid: int, proc: _Process, m: Mapping | None, addr: int) -> Frame | None:
        now = time.monotonic()
        if proc.perf_map is None:
            if proc.perf_map_checked_at is not None and now - proc.perf_map_checked_at < self._maps_ttl_s:
                return None
            found = self._loader.result(("perf map", pid), lambda: self._find_perf_map(pid), self._deadline,
                                        f"perf map of pid {pid}")
            if found is PENDING:
                return self._pending(m, addr)
            proc.perf_map_checked_at = now
            proc.perf_map, problems = found or (None, [])
            for problem in problems:  # a perf map that exists but is refused: say why
                self._cap_note(f"perf map of pid {pid} ignored: {problem}")
            if proc.perf_map is None:
                return None
            if proc.perf_map.capped:
                self._cap_note(f"symbols: pid {pid}: {proc.perf_map.capped}")
        perf_map = proc.perf_map
        hit = perf_map.lookup(addr)
        if hit is None and now - proc.perf_map_refreshed_at >= self._maps_ttl_s:
            # A JIT appends as it compiles; re-read at most once a second, in the loader.
            fresh = self._loader.result(("perf map refresh", pid), perf_map.refresh, self._deadline,
                                        f"perf map of pid {pid}")
            if fresh is PENDING:
                return self._pending(m, addr)
            proc.perf_map_refreshed_at = now
            if perf_map.problem:
                self._cap_note(f"perf map of pid {pid} ignored: {perf_map.problem}")
            elif perf_map.capped:
                self._cap_note(f"symbols: pid {pid}: {perf_map.capped}")
            hit = perf_map.lookup(addr)
        return Frame(hit[0], perf_map.display, hit[1], KIND_JIT) if hit else None

    def _find_perf_map(self, pid: int) -> tuple[PerfMap | None, list[str]]:
        """In the loader thread: the process's perf map and why others were refused.

        It is in the process's own /tmp under its namespace pid, or in ours.
        /tmp is anyone's: trust only a map owned by the process's user (or
        root's, if everyone may read it anyway).
        """
        try:
            uid = os.stat(self._proc_root / str(pid)).st_uid
        except OSError:
            return None, []
        nspid = ns_pid(self._proc_root, pid)
        display = f"/tmp/perf-{nspid}.map"
        problems = []
        places = ((self._proc_root / str(pid) / "root", display), (Path("/"), f"/tmp/perf-{pid}.map"))
        for root, path in places:
            pm = PerfMap(root, path, display, {uid})
            if pm.refresh():
                return pm, []
            if pm.problem != os.strerror(errno.ENOENT):  # most processes have none
                problems.append(pm.problem)
        return None, problems[:1]

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
