"""One ELF symbol table indexed by address, for fast loading and lookups.

Only the defined functions are indexed: their addresses and table indexes,
sorted by address, in two arrays. Size, binding and name are read from the
kept raw table when a lookup lands on a function; names are decoded and
demangled on first use, once per name.

Loading never loops over symbols in Python (a loop over a million symbols
costs seconds). The fields are gathered with strided ``bytes`` slices and
combined as whole-table big ints, one 64-bit lane per symbol: a function's
lane is the bit pattern of the double ``2**52 + (address << k | index)``,
any other symbol's a tiny double. One ``struct.unpack`` yields the keys; a
plain sort of floats orders them (the fastest sort CPython has: ~25% faster
than a keyed sort of ints, twice as fast as multi-digit int keys), about
half the load time; ``struct.pack`` and byte masks split the functions'
keys back into the two arrays. 1,000,000 symbols in random order load in
~0.4 s, a sort of as many shuffled ints takes ~0.3 s.
"""

from __future__ import annotations

import bisect
import struct
import sys
from array import array
from collections.abc import Callable
from itertools import compress

from bpftop.symbols.demangle import demangle

_STT_FUNC = 2
_STT_GNU_IFUNC = 10
_FUNC_TYPES = (_STT_FUNC, _STT_GNU_IFUNC)
_MAX_WALK = 64  # functions looked at below an address
_MAX_ENCLOSING = 4  # functions that may enclose it
# Longer names are cut (and counted): an unterminated one would otherwise run
# to the end of the string table, tens of MB, for every symbol pointing into it.
MAX_NAME_BYTES = 4096
_BIND_RANK = {1: 0, 2: 1, 0: 2}  # STB_GLOBAL, STB_WEAK, STB_LOCAL
_IS_FUNCTION = bytes(int((info & 0xF) in _FUNC_TYPES) for info in range(256))  # by st_info
_NONZERO = bytes(int(b != 0) for b in range(256))
_U64 = (1 << 64) - 1
_MANTISSA_BITS = 52
_TWO_POW_52 = 0x433 << 52  # the bits of the double 2.0**52: 2**52 + m is exact for m < 2**52
_TOP_EXPONENT_BYTE = bytes([0x00, 0x43]) + bytes(254)  # by mask byte: ~2**-1020 or 2**52

Hit = tuple[str, int]  # (demangled name, offset into the function)


def _value_lanes(raw: bytes, count: int, entsize: int, field: tuple[int, int], little: bool) -> bytes:
    """The field (offset, width) of every entry, as 64-bit little-endian lanes."""
    at, width = field
    if width == 8 and little and entsize % 8 == 0 and at % 8 == 0:
        with memoryview(raw) as view, view.cast("Q") as words:
            return words[at // 8::entsize // 8].tobytes()  # copied as stored: no byte order
    lanes = bytearray(8 * count)
    end = count * entsize
    for byte in range(width):
        lanes[(byte if little else width - 1 - byte)::8] = raw[at + byte:end:entsize]
    return bytes(lanes)


def _below(lanes: bytes, bits: int) -> bool:
    """Whether every little-endian 64-bit lane is below ``2**bits``."""
    top = bits // 8
    return (all(lanes[byte::8].count(0) == len(lanes) // 8 for byte in range(top + 1, 8))
            and not lanes[top::8].translate(None, bytes(range(1 << bits % 8))))


def _head_lanes(count: int, mask: bytes) -> int:
    """The lanes i for i = 0 .. count-1, under the exponent bits of 2**52 where ``mask`` is 1.

    Where ``mask`` is 0 the top byte is 0: the key is a double below
    2**-1000, before every function's. Built from repeated byte runs.
    """
    lanes = bytearray(_TWO_POW_52.to_bytes(8, "little") * count)
    lanes[7::8] = mask.translate(_TOP_EXPONENT_BYTE)
    block = 1  # byte j of i is (i >> 8j) & 0xFF: runs of 256**j equal bytes
    for byte in range(6):
        if block >= count:
            break
        blocks = -(-count // block)
        runs = b"".join(bytes([b & 0xFF]) * block for b in range(min(blocks, 256)))
        lanes[byte::8] = (runs * -(-blocks // 256))[:count]
        block <<= 8
    return int.from_bytes(lanes, "little")


def _lanes_of(mask: bytes) -> int:
    """1 in the lane of each entry whose ``mask`` byte is 1."""
    lanes = bytearray(8 * len(mask))
    lanes[::8] = mask
    return int.from_bytes(lanes, "little")


def _keep_bits(lanes: bytearray, low: int, high: int) -> None:
    """Clears every bit outside ``[low, high)`` of each little-endian 64-bit lane, in place."""
    count = len(lanes) // 8
    for byte in range(8):
        first, last = max(low - 8 * byte, 0), min(high - 8 * byte, 8)
        if last <= first:
            lanes[byte::8] = bytes(count)
        elif (first, last) != (0, 8):
            keep = ((1 << last) - 1) & ~((1 << first) - 1)
            lanes[byte::8] = lanes[byte::8].translate(bytes(b & keep for b in range(256)))


def _fill(out: array, lanes: bytes | bytearray) -> array:
    """Fills ``out`` with the low ``itemsize`` bytes of each little-endian 64-bit lane."""
    if out.itemsize == 8:
        narrow = lanes
    else:
        narrow = bytearray(out.itemsize * (len(lanes) // 8))
        for byte in range(out.itemsize):
            narrow[byte::out.itemsize] = lanes[byte::8]
    with memoryview(out) as view, view.cast("B") as target:
        target[:] = narrow
    if sys.byteorder == "big":
        out.byteswap()
    return out


def sorted_functions(raw: bytes, count: int, entsize: int, is64: bool,
                     little: bool) -> tuple[array, array]:
    """(start addresses, table indexes) of the defined functions, sorted by address.

    Args:
        raw: The symbol table, ``count`` entries of ``entsize`` bytes.
        count: Entries of the table.
        entsize: Bytes per entry (at least the size of ``Elf32_Sym``/``Elf64_Sym``).
        is64: ``Elf64_Sym`` entries, else ``Elf32_Sym``.
        little: The file's byte order.

    Raises:
        ValueError: the functions' addresses span more than fits next to an
            index in a double's 52-bit mantissa (4 GiB for a million symbols):
            no real binary, a corrupt one.
    """
    value_at, width, info_at, shndx_at = (8, 8, 4, 6) if is64 else (4, 4, 12, 14)
    end = count * entsize
    defined = (int.from_bytes(raw[shndx_at:end:entsize].translate(_NONZERO), "little")
               | int.from_bytes(raw[shndx_at + 1:end:entsize].translate(_NONZERO), "little"))
    mask = (int.from_bytes(raw[info_at:end:entsize].translate(_IS_FUNCTION), "little")
            & defined).to_bytes(count, "little")
    functions = mask.count(1)
    # The results first, below the temporaries in the heap: once those are
    # freed, malloc can give their memory back (else ~40 MB for a million).
    starts_out = array("Q", [0]) * functions
    order_out = array("I" if count < 1 << 32 else "Q", [0]) * functions
    shift = count.bit_length()
    room = _MANTISSA_BITS - shift
    value_bytes = _value_lanes(raw, count, entsize, (value_at, width), little)
    values = int.from_bytes(value_bytes, "little")
    base = 0
    if not _below(value_bytes, room):
        # High addresses (a kernel image) or other symbols' big values (SHN_ABS):
        # only functions count, relative to the lowest.
        function_lanes = _lanes_of(mask)
        values &= function_lanes * _U64
        base = min(compress(struct.unpack(f"<{count}Q", values.to_bytes(8 * count, "little")), mask),
                   default=0)
        values -= base * function_lanes
        if not _below(values.to_bytes(8 * count, "little"), room):
            raise ValueError(f"function addresses span 2**{room} bytes or more")
    keys = (values << shift) | _head_lanes(count, mask)
    del values, value_bytes
    unpacked = struct.unpack(f"<{count}d", keys.to_bytes(8 * count, "little"))
    del keys
    ordered = sorted(unpacked)
    del ordered[:count - functions]  # the other symbols' tiny keys
    # The way back: float bits to lanes, split into address and index.
    packed = struct.pack(f"<{functions}d", *ordered)
    del ordered, unpacked  # the tuple last: it frees the floats in memory order, 2x faster
    indexes = bytearray(packed)
    _keep_bits(indexes, 0, shift)
    starts = bytearray(packed)
    _keep_bits(starts, shift, _MANTISSA_BITS)  # no index bits left to shift into the lane below
    start_lanes = int.from_bytes(starts, "little") >> shift
    if base:
        start_lanes += base * _lanes_of(b"\1" * functions)
    return _fill(starts_out, start_lanes.to_bytes(8 * functions, "little")), _fill(order_out, indexes)


class SymbolTable:
    """The functions of one ``.symtab``/``.dynsym``, sorted by address.

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
        self._count = len(raw) // entsize
        self._is64 = sym.size == 24
        # Arrays for a plain C bisect (a keyed one costs ~1 us more per lookup):
        # a fifth of a list's memory, and the bisect touches fewer cache lines
        # (~40% faster with 20 binaries in use).
        self._starts, self._order = sorted_functions(raw, self._count, entsize, self._is64,
                                                     sym.format.startswith("<"))
        self._raw = raw
        self._sym = sym
        self._entsize = entsize
        self._strtab = strtab
        self._section_ends = section_ends
        self._names: dict[int, str] = {}  # by name offset
        self._aliases: dict[int, int] = {}  # sorted position -> name offset of the best alias
        self.names_cut = 0  # names longer than MAX_NAME_BYTES (or unterminated), cut
        # Lookups of addresses that only an unsized symbol covers ask here
        # first (the MiniDebugInfo's sized local functions are more precise).
        self.fallback: Callable[[int], Hit | None] | None = None

    def __len__(self) -> int:
        """Entries of the table (all kinds, the null entry included)."""
        return self._count

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

    def _raw_name(self, name_off: int) -> tuple[bytes, bool]:
        """The name's bytes, and whether it was cut (too long, or no terminator)."""
        end = self._strtab.find(b"\0", name_off, name_off + MAX_NAME_BYTES)
        if end >= 0:
            return self._strtab[name_off:end], False
        return self._strtab[name_off:name_off + MAX_NAME_BYTES], name_off < len(self._strtab)

    def _name(self, name_off: int) -> str:
        name = self._names.get(name_off)
        if name is None:
            raw, cut = self._raw_name(name_off)
            self.names_cut += cut
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
                    raw = self._raw_name(name_off)[0]
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
