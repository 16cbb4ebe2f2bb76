"""Kernel symbols from ``/proc/kallsyms``: core kernel, modules and BPF programs.

Each line is ``ADDRESS TYPE NAME [MODULE]``; only text symbols (``t``/``T``,
weak ``w``/``W``) can be on a stack. kallsyms gives no sizes, so a symbol
ends where the next one starts, at ``_etext`` for the last one of the core
kernel, and after at most ``MAX_FUNCTION_BYTES``.

BPF programs appear as ``bpf_prog_<tag>_<name> [bpf]`` (trampolines and
dispatchers as ``bpf_trampoline_*``/``bpf_dispatcher_*``) when
``net.core.bpf_jit_kallsyms=1`` (the default when the JIT is always on).
They come and go, and a new program is packed next to old ones (or into the
hole a freed one left), where a stale table would name it after its
neighbour. So BPF symbols live in their own small table, refreshed whenever
a lookup lands in or near BPF text, the table is older than
``reload_interval_s`` and the set of loaded program ids changed since (the
refresh reads all of kallsyms, ~40 ms of CPU, and bpftop's own programs are
on most stacks); it parses only the ``[bpf]`` lines. The big table (core
kernel and modules) is re-read only when an address above the core kernel
text stays a miss after that, once per such address.

With ``kernel.kptr_restrict`` (1 without CAP_SYSLOG, or 2) every address reads
as zero and nothing can be symbolized, which :attr:`KernelSymbols.note` says.
"""

from __future__ import annotations

import bisect
import re
import time
from array import array
from collections.abc import Sequence
from pathlib import Path

from bpftop.symbols.frame import KIND_KERNEL, Frame, unknown

KALLSYMS = "/proc/kallsyms"
KPTR_RESTRICT = "/proc/sys/kernel/kptr_restrict"
_TEXT_LINE = re.compile(rb"^([0-9a-f]+) [tTwW] (\S+)(?:\t\[(\S+)\])?$", re.MULTILINE)
_BPF_SUFFIX = b"\t[bpf]"
_ETEXT_LINE = re.compile(rb"^([0-9a-f]+) \S _etext$", re.MULTILINE)
# No kernel function is this long; past it an address is not in the symbol
# before it (e.g. beyond the last symbol of the last module).
MAX_FUNCTION_BYTES = 1 << 20
# Addresses still missed after a full read, not worth another (bounded: past
# this many the set starts afresh, which costs one more read).
MAX_DEAD_ADDRESSES = 4096
KERNEL_MODULE = "[kernel]"
BPF_MODULE = "[bpf]"


def _bpf_rows(data: bytes) -> list[tuple[int, bytes, str]]:
    """The ``[bpf]`` text symbols; kallsyms lists them after the kernel's and modules'."""
    first = data.find(_BPF_SUFFIX)
    if first < 0:
        return []
    rows = []
    for line in data[data.rfind(b"\n", 0, first) + 1:].split(b"\n"):
        if line.endswith(_BPF_SUFFIX):
            addr, kind, name = line[: -len(_BPF_SUFFIX)].split()
            if kind in b"tTwW":
                rows.append((int(addr, 16), name, "bpf"))
    return rows


class _Table:
    """Sorted symbols with an upper bound for each one's end."""

    def __init__(self, rows: list[tuple[int, bytes, str]], caps: Sequence[int] = ()) -> None:
        rows.sort()
        name_at = array("I", [0])
        for r in rows:
            name_at.append(name_at[-1] + len(r[1]) + 1)
        self._build(array("Q", [r[0] for r in rows]), b"\n".join(r[1] for r in rows) + b"\n",
                    name_at, [r[2] for r in rows], caps)  # fmt: skip

    @classmethod
    def from_spans(
        cls, data: bytes, starts: array, spans: array, modules: list[str], caps: Sequence[int] = ()
    ) -> _Table:
        """The table of symbols whose names are ``data[spans[2i]:spans[2i+1]]``, in any order.

        For the big table: a tuple and a bytes object per symbol, 121,000 of
        each, peaked at ~35 MB while loading, and much of it stayed resident
        as free memory (issue 23); this holds arrays and one blob.
        """
        order = sorted(range(len(starts)), key=starts.__getitem__)
        view = memoryview(data)
        blob, name_at = bytearray(), array("I", [0])
        for i in order:
            blob += view[spans[2 * i] : spans[2 * i + 1]]
            blob += b"\n"
            name_at.append(len(blob))
        table = cls.__new__(cls)
        table._build(array("Q", [starts[i] for i in order]), bytes(blob), name_at,
                     [modules[i] for i in order], caps)  # fmt: skip
        return table

    def _build(
        self, starts: array, names: bytes, name_at: array, modules: list[str], caps: Sequence[int]
    ) -> None:
        # Arrays, not lists of ints: 121,000 symbols hold 2 MB instead of 10 (issue 23).
        self.starts = starts
        # The names in one blob, decoded when a frame is made: 121,000 str objects held 9 MB.
        self._names = names
        self._name_at = name_at
        self.modules = modules
        # A symbol ends where the next starts (aliases share a start, and
        # bisect lands on the last of them), after MAX_FUNCTION_BYTES at the
        # latest, or at the first start in ``caps`` (_etext, the other table)
        # above it.
        ends = starts[1:]
        if starts:
            ends.append((1 << 64) - 1)
        for i, start in enumerate(starts):
            ends[i] = min(ends[i], start + MAX_FUNCTION_BYTES)
        self.ends = ends
        caps = sorted(caps)
        if len(caps) <= len(self.starts):
            for cap in caps:
                i = bisect.bisect_left(self.starts, cap) - 1
                if i >= 0 and self.ends[i] > cap:
                    self.ends[i] = cap
        else:
            for i, start in enumerate(self.starts):
                k = bisect.bisect_right(caps, start)
                if k < len(caps) and self.ends[i] > caps[k]:
                    self.ends[i] = caps[k]

    def find(self, addr: int) -> int:
        i = bisect.bisect_right(self.starts, addr) - 1
        return i if i >= 0 and addr < self.ends[i] else -1

    def frame(self, i: int, addr: int) -> Frame:
        module = self.modules[i]
        name = self._names[self._name_at[i] : self._name_at[i + 1] - 1].decode(errors="replace")
        return Frame(name, f"[{module}]" if module != KERNEL_MODULE else module,
                     addr - self.starts[i], KIND_KERNEL)


class KernelSymbols:
    """Kernel text symbols with bisect lookups.

    Args:
        path: The kallsyms file; tests pass a copy (e.g. with zeroed addresses).
        kptr_restrict_path: Where to read kptr_restrict for the note.
        reload_interval_s: Minimum time between re-reads (BPF table, or all after a miss).
    """

    def __init__(
        self,
        path: str | Path = KALLSYMS,
        kptr_restrict_path: str | Path = KPTR_RESTRICT,
        reload_interval_s: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self.kptr_restrict_path = Path(kptr_restrict_path)
        self.reload_interval_s = reload_interval_s
        self.note = ""
        self.reads = 0  # how often the file was read, for tests and benchmarks
        self._main = _Table([])
        self._bpf = _Table([])
        self._loaded_at: float | None = None
        self._bpf_at = 0.0
        self._hidden = False
        self._etext = 0
        self._bpf_low = 0  # lowest address of BPF or module text: where refreshes may help
        # Loaded BPF program ids at the last BPF refresh; only the real kallsyms
        # lists this kernel's programs (tests pass fake files).
        self._bpf_ids: tuple[int, ...] | None = None
        self._watch_ids = self.path == Path(KALLSYMS)
        self._dead: set[int] = set()

    def _read(self) -> bytes | None:
        self.reads += 1
        try:
            with self.path.open("rb") as f:
                return f.read()
        except OSError as exc:
            self.note = f"cannot read {self.path}: {exc.strerror or exc}; kernel frames stay unnamed"
            return None

    def load(self) -> None:
        """(Re)reads every symbol; an unreadable file leaves an empty table and a note."""
        self._loaded_at = self._bpf_at = time.monotonic()
        # The programs this read lists: without them the first BPF address
        # seen later re-read all 120,000 lines again (~60 ms). Taken before the
        # read, so a program loaded in between only costs one refresh.
        self._programs_changed()
        data = self._read()
        if data is None:
            self._main, self._bpf = _Table([]), _Table([])
            return
        # A regex over the whole file is ~5x faster than splitting 120k lines.
        # One str per module, shared by its symbols (not 121,000 copies: 7 MB).
        # Columns, not a tuple per symbol (see _Table.from_spans).
        modules: dict[bytes | None, str] = {None: KERNEL_MODULE}
        starts, spans, mods = array("Q"), array("I"), []
        bpf: list[tuple[int, bytes, str]] = []
        seen = addressed = False
        for m in _TEXT_LINE.finditer(data):
            name_from, name_to = m.span(2)
            if name_to - name_from == len(b"_etext") and data.startswith(b"_etext", name_from):
                continue
            seen = True
            addr = int(m.group(1), 16)
            if not addr:
                continue
            addressed = True
            raw = m.group(3)
            module = modules.get(raw) or modules.setdefault(raw, raw.decode(errors="replace"))
            if module == "bpf":
                bpf.append((addr, data[name_from:name_to], module))
            else:
                starts.append(addr)
                spans.extend((name_from, name_to))
                mods.append(module)
        self._hidden = seen and not addressed
        self.note = self._hidden_note() if self._hidden else ""
        end = _ETEXT_LINE.search(data)
        self._etext = int(end.group(1), 16) if end else 0
        self._main = _Table.from_spans(data, starts, spans, mods, [self._etext] if self._etext else [])
        self._set_bpf(bpf)

    def _set_bpf(self, rows: list[tuple[int, bytes, str]]) -> None:
        self._bpf = _Table(rows, self._main.starts)
        self._bpf_low = min([*self._bpf.starts, self._etext or 1 << 64])

    def _programs_changed(self) -> bool:
        """Whether BPF programs came or went since the last refresh (True when unknown)."""
        if not self._watch_ids:
            return True
        try:
            from bpftop.bpf.proginfo import prog_ids

            ids = tuple(prog_ids())  # needs CAP_SYS_ADMIN; without it, refresh by time alone
        except Exception:
            return True
        changed, self._bpf_ids = ids != self._bpf_ids, ids
        return changed

    def _refresh_bpf(self) -> None:
        self._bpf_at = time.monotonic()
        data = self._read()
        if data is not None:
            self._set_bpf(_bpf_rows(data))

    def _hidden_note(self) -> str:
        try:
            level = self.kptr_restrict_path.read_text().strip()
        except OSError:
            level = "?"
        return (
            f"kptr_restrict hides kernel addresses: {self.path} lists every address as 0 "
            f"(kernel.kptr_restrict={level}); kernel frames show as [kernel]+address. "
            "Run as root with CAP_SYSLOG, or set sysctl kernel.kptr_restrict=0"
        )

    @property
    def hidden(self) -> bool:
        """True when kptr_restrict zeroed every address."""
        return self._hidden

    def __len__(self) -> int:
        return len(self._main.starts) + len(self._bpf.starts)

    def _due(self, since: float) -> bool:
        return not self._hidden and time.monotonic() - since >= self.reload_interval_s

    def _resolve(self, addrs: Sequence[int]) -> list[Frame | None]:
        out: list[Frame | None] = []
        for addr in addrs:
            i = self._bpf.find(addr)
            if i >= 0:
                out.append(self._bpf.frame(i, addr))
                continue
            i = self._main.find(addr)
            out.append(self._main.frame(i, addr) if i >= 0 else None)
        return out

    def lookup(self, addrs: Sequence[int]) -> list[Frame]:
        """One Frame per address, in order; a miss is ``[kernel]+address`` (kind unknown)."""
        if self._loaded_at is None:
            self.load()
        frames = self._resolve(addrs)
        # Addresses above the core kernel text: BPF programs (or modules)
        # may have come or gone since the last read.
        pairs = list(zip(addrs, frames, strict=True))
        high = any(a >= self._bpf_low and (f is None or f.module == BPF_MODULE) for a, f in pairs)
        if high and self._due(self._bpf_at):
            if self._programs_changed():
                self._refresh_bpf()
                frames = self._resolve(addrs)
            else:
                self._bpf_at = time.monotonic()
        assert self._loaded_at is not None
        dead = self._dead
        missed = [a for a, f in zip(addrs, frames, strict=True) if f is None and a > self._etext]
        if any(a not in dead for a in missed) and self._due(self._loaded_at):
            self.load()  # a module loaded since
            frames = self._resolve(addrs)
            if len(dead) > MAX_DEAD_ADDRESSES:
                dead.clear()
            dead.update(a for a, f in zip(addrs, frames, strict=True) if f is None and a > self._etext)
        return [f if f is not None else unknown(KERNEL_MODULE, a) for a, f in zip(addrs, frames, strict=True)]
