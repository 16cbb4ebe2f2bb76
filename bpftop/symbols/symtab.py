"""One ELF symbol table indexed by address, for fast loading and lookups.

Only the addresses (``st_value``) become Python ints at load, with C-level
operations (``memoryview.tolist``, a keyed ``sorted``, ``map`` into arrays);
whether a symbol is a defined function, its size and its name are read from
the kept raw table when a lookup lands on it. A Python loop over a million
symbols would cost seconds; the sort is most of the load time. Names are
decoded and demangled on first use, once per name.
"""

from __future__ import annotations

import bisect
import struct
import sys
from array import array
from collections.abc import Callable

from bpftop.symbols.demangle import demangle

_STT_FUNC = 2
_STT_GNU_IFUNC = 10
_FUNC_TYPES = (_STT_FUNC, _STT_GNU_IFUNC)
_MAX_WALK = 64  # symbols looked at below an address
_MAX_ENCLOSING = 4  # functions that may enclose it
_BIND_RANK = {1: 0, 2: 1, 0: 2}  # STB_GLOBAL, STB_WEAK, STB_LOCAL

Hit = tuple[str, int]  # (demangled name, offset into the function)


class SymbolTable:
    """The symbols of one ``.symtab``/``.dynsym``, sorted by address.

    Args:
        raw: The table's bytes (entry 0 is the null symbol).
        sym: The struct of one entry (``Elf64_Sym`` or ``Elf32_Sym`` in the file's byte order).
        entsize: The entry size the section header states.
        strtab: The linked string table's bytes.
        section_ends: End address of each section by index: where a symbol
            without a size (hand-written assembly) may reach at most.
    """

    def __init__(self, raw: bytes, sym: struct.Struct, entsize: int, strtab: bytes,
                 section_ends: dict[int, int]) -> None:
        count = len(raw) // entsize
        self._is64 = sym.size == 24
        if self._is64 and entsize == 24 and sym.format.startswith("<") and sys.byteorder == "little":
            # st_value is the second of three u64 words per symbol.
            with memoryview(raw) as view, view.cast("Q") as words:
                values = words[1::3].tolist()
        else:
            index = 4 if self._is64 else 1
            values = [sym.unpack_from(raw, i * entsize)[index] for i in range(count)]
        order = sorted(range(count), key=values.__getitem__)
        # Materialized for a plain C bisect (a keyed one costs ~1 us more per
        # lookup), in arrays: a fifth of a list's memory, and the bisect
        # touches fewer cache lines (~40% faster with 20 binaries in use).
        self._starts = array("Q", map(values.__getitem__, order))
        self._order = array("I" if count < 1 << 32 else "Q", order)
        self._raw = raw
        self._sym = sym
        self._entsize = entsize
        self._strtab = strtab
        self._section_ends = section_ends
        self._names: dict[int, str] = {}  # by name offset
        self._aliases: dict[int, int] = {}  # sorted position -> name offset of the best alias
        # Lookups of addresses that only an unsized symbol covers ask here
        # first (the MiniDebugInfo's sized local functions are more precise).
        self.fallback: Callable[[int], Hit | None] | None = None

    def __len__(self) -> int:
        """Entries of the table (all kinds, the null entry included)."""
        return len(self._order)

    def _entry(self, pos: int) -> tuple[int, int, int, bool] | None:
        """(name offset, start, end, sized) of the symbol at sorted ``pos``.

        None unless it is a defined function: data, file, section and
        undefined symbols share the table.
        """
        fields = self._sym.unpack_from(self._raw, self._order[pos] * self._entsize)
        if self._is64:
            name, info, _other, shndx, value, size = fields
        else:
            name, value, size, info, _other, shndx = fields
        if (info & 0xF) not in _FUNC_TYPES or not shndx or not value:
            return None
        end = value + size if size else self._section_ends.get(shndx, value + 1)
        return name, value, end, bool(size)

    def _name(self, name_off: int) -> str:
        name = self._names.get(name_off)
        if name is None:
            raw = self._strtab[name_off:self._strtab.find(b"\0", name_off)]
            # A debug file's .symtab keeps symbol versions (fopen@@GLIBC_2.2.5).
            raw = raw.split(b"@", 1)[0] or raw
            name = self._names[name_off] = demangle(raw.decode(errors="replace"))
        return name

    def lookup(self, vaddr: int) -> Hit | None:
        """(demangled name, offset into the function) of a link-time address, or None."""
        pos = bisect.bisect_right(self._starts, vaddr) - 1
        if pos >= 0 and self._is64:
            # The common case inline: the nearest symbol is a sized function holding vaddr.
            name_off, info, _other, shndx, value, size = self._sym.unpack_from(
                self._raw, self._order[pos] * self._entsize)
            if vaddr < value + size and shndx and (info & 0xF) in _FUNC_TYPES:
                if pos and self._starts[pos - 1] == value:  # aliases: printf, _IO_printf
                    name_off = self._alias(pos)
                name = self._names.get(name_off)
                return (name if name is not None else self._name(name_off)), vaddr - value
        return self._walk_back(vaddr, pos)

    def _alias(self, pos: int) -> int:
        """The name offset of the best of the functions starting where ``pos`` does.

        Like perf: a global symbol over a weak over a local one, then the
        fewest leading underscores, then the shortest name.
        """
        best = self._aliases.get(pos)
        if best is None:
            start = self._starts[pos]
            ranked = []
            j = pos
            while j >= 0 and self._starts[j] == start:
                fields = self._sym.unpack_from(self._raw, self._order[j] * self._entsize)
                name_off, info = (fields[0], fields[1]) if self._is64 else (fields[0], fields[3])
                if (info & 0xF) in _FUNC_TYPES:
                    raw = self._strtab[name_off:self._strtab.find(b"\0", name_off)]
                    binding = _BIND_RANK.get(info >> 4, 3)
                    ranked.append((binding, len(raw) - len(raw.lstrip(b"_")), len(raw), name_off))
                j -= 1
            best = self._aliases[pos] = min(ranked)[3]
        return best

    def _walk_back(self, vaddr: int, pos: int) -> Hit | None:
        # Past symbols that are not functions (a few share text addresses),
        # aliases, and small functions a bigger one encloses (rare): the
        # nearest function holding the address wins.
        functions = 0
        for j in range(pos, max(pos - _MAX_WALK, -1), -1):
            entry = self._entry(j)
            if entry is None:
                continue
            name_off, start, end, sized = entry
            if vaddr < end and (sized or not functions):
                hit = self.fallback(vaddr) if not sized and self.fallback is not None else None
                last = bisect.bisect_right(self._starts, start) - 1
                if last and self._starts[last - 1] == start:
                    name_off = self._alias(last)
                return hit or (self._name(name_off), vaddr - start)
            functions += 1
            if functions >= _MAX_ENCLOSING:
                break
        return self.fallback(vaddr) if self.fallback is not None else None
