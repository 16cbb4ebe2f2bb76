"""Function symbols of an ELF file, read directly with mmap + struct.

Only what symbolization needs: the PT_LOAD segments (to turn a file offset
into the link-time virtual address, which is how load bias is undone for
executables, PIE and shared libraries alike), the function symbols of
``.symtab`` (or ``.dynsym`` when the file is stripped), the build id and the
``.gnu_debuglink`` name (to find separate debug files), and
``.gnu_debugdata`` (Fedora's "MiniDebugInfo": an xz-compressed ELF holding a
``.symtab`` of the local functions a stripped binary lacks).

The symbol table itself is indexed by ``symtab.SymbolTable``.
"""

from __future__ import annotations

import lzma
import mmap
import os
import stat
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bpftop.symbols.symtab import SymbolTable

_MAGIC = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_PT_LOAD = 1
_PF_X = 1
_SHT_SYMTAB = 2
_SHT_NOTE = 7
_SHT_NOBITS = 8
_SHT_DYNSYM = 11
_NT_GNU_BUILD_ID = 3
_SHN_XINDEX = 0xFFFF
# Caps on what a hostile file can make bpftop do. Real binaries stay far
# below: a few dozen sections, Chromium's .symtab ~1.5M symbols, Fedora's
# MiniDebugInfo a few MB. A file over a cap is read without the part that
# trips it, and the trip is reported (``ElfSymbols.capped``), never silent.
MAX_SECTIONS = 32768  # 60,000 sections with unterminated names took 35-120 s
MAX_SYMBOLS = 2_000_000
MAX_STRTAB_BYTES = 64 << 20
MAX_DEBUGDATA_BYTES = 32 << 20  # decompressed .gnu_debugdata: an 87 kB xz bomb made 1.1 GB
MAX_XZ_MEMORY_BYTES = 128 << 20  # xz -9 needs 65 MB to decompress
MAX_NOTES = 64  # notes looked at for the build id
_DEBUG_SECTIONS = (b".gnu_debuglink\0", b".gnu_debugdata\0")


class ElfError(ValueError):
    """The file is not an ELF file this reader understands."""


@dataclass(frozen=True)
class Segment:
    """A PT_LOAD program header: file range [offset, offset+filesz) maps to vaddr."""

    offset: int
    vaddr: int
    filesz: int
    memsz: int
    executable: bool


class _Layout:
    """struct formats for one ELF class and byte order."""

    def __init__(self, is64: bool, little: bool) -> None:
        end = "<" if little else ">"
        self.is64 = is64
        self.little = little
        if is64:
            self.ehdr = struct.Struct(end + "16xHHIQQQIHHHHHH")
            self.shdr = struct.Struct(end + "IIQQQQIIQQ")
            self.phdr = struct.Struct(end + "IIQQQQQQ")
            self.sym = struct.Struct(end + "IBBHQQ")
        else:
            self.ehdr = struct.Struct(end + "16xHHIIIIIHHHHHH")
            self.shdr = struct.Struct(end + "IIIIIIIIII")
            self.phdr = struct.Struct(end + "IIIIIIII")
            self.sym = struct.Struct(end + "IIIBBH")
        self.note = struct.Struct(end + "III")


def _check_range(data: bytes | mmap.mmap, offset: int, size: int, what: str) -> None:
    if offset < 0 or size < 0 or offset + size > len(data):
        raise ElfError(f"{what} past the end of the file")


def _align4(n: int) -> int:
    return (n + 3) & ~3


class ElfSymbols:
    """The function symbols and load segments of one ELF image.

    Build from a path (:meth:`from_path`) or bytes. Lookups take a link-time
    virtual address; :meth:`vaddr_of` turns a file offset into one.

    Attributes:
        segments: PT_LOAD segments, in file order.
        build_id: The GNU build id as hex, "" when absent.
        debuglink: The ``.gnu_debuglink`` file name, "" when absent.
        debuglink_crc: The CRC32 of the debug file the debuglink names (None without one).
        has_symtab: True when a full ``.symtab`` (not only ``.dynsym``) was read.
        capped: One line per cap this file tripped (what was left unread and why).
    """

    def __init__(self, data: bytes | mmap.mmap, fd: int | None = None, *, nested: bool = True) -> None:
        """Parses an ELF image held in memory.

        Args:
            data: The image.
            nested: Whether ``.gnu_debugdata`` is read (not inside a
                MiniDebugInfo image itself: no xz inside xz).
            fd: The open file ``data`` maps, if any: the symbol and string
                tables are copied out with ``pread`` (~25% faster than from
                the mapping, which page-faults on every 64 KiB).

        Raises:
            ElfError: not an ELF file, or truncated or corrupt.
        """
        if len(data) < 64 or data[:4] != _MAGIC:
            raise ElfError("not an ELF file")
        self._fd = fd
        self._nested = nested
        self.capped: list[str] = []
        try:
            self._parse(data)
        except (struct.error, IndexError, OverflowError, ValueError) as exc:
            raise ElfError(f"truncated or corrupt ELF: {exc}") from exc
        finally:
            self._fd = None  # the caller closes it

    def _parse(self, data: bytes | mmap.mmap) -> None:
        lay = _Layout(data[4] == _ELFCLASS64, data[5] == _ELFDATA2LSB)
        (_type, _machine, _version, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum,
         shentsize, shnum, shstrndx) = lay.ehdr.unpack_from(data, 0)
        self.segments = self._read_segments(data, lay, phoff, phentsize, phnum)
        self.build_id = ""
        self.debuglink = ""
        self.debuglink_crc: int | None = None
        self.has_symtab = False
        self.minidebug: ElfSymbols | None = None
        self._symbols: SymbolTable | None = None
        self._section_ends: dict[int, int] = {}
        if shoff and shentsize:
            self._read_sections(data, lay, (shoff, shentsize, shnum), shstrndx)
        if self._symbols is not None and self.minidebug is not None:
            self._symbols.fallback = self.minidebug.lookup

    @classmethod
    def from_path(cls, path: str | Path) -> ElfSymbols:
        """Reads a trusted file (tests, benchmarks); monitored processes' files go through :meth:`from_fd`.

        Raises:
            OSError: the file cannot be opened or mapped, or is not a regular file.
            ElfError: the file is not ELF or is truncated.
        """
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            return cls.from_fd(fd)
        finally:
            os.close(fd)

    @classmethod
    def from_fd(cls, fd: int) -> ElfSymbols:
        """Reads an opened regular file (the caller checked it with ``safeopen.check_fd``).

        Raises:
            OSError: the file cannot be mapped.
            ElfError: the file is not ELF, is empty or is truncated.
        """
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # mmap of a device could map anything
            raise ElfError("not a regular file")
        if not st.st_size:
            raise ElfError("empty file")
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as data:
            return cls(data, fd)

    @staticmethod
    def _read_segments(data: bytes | mmap.mmap, lay: _Layout, phoff: int, phentsize: int,
                       phnum: int) -> tuple[Segment, ...]:
        segs = []
        _check_range(data, phoff, phnum * phentsize, "program headers")
        for i in range(phnum if phentsize else 0):
            f = lay.phdr.unpack_from(data, phoff + i * phentsize)
            if lay.is64:
                p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _align = f
            else:
                p_type, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, p_flags, _align = f
            if p_type == _PT_LOAD:
                segs.append(Segment(p_offset, p_vaddr, p_filesz, p_memsz, bool(p_flags & _PF_X)))
        return tuple(segs)

    def _read_sections(self, data: bytes | mmap.mmap, lay: _Layout, headers: tuple[int, int, int],
                       shstrndx: int) -> None:
        shoff, shentsize, shnum = headers
        first = lay.shdr.unpack_from(data, shoff)
        if shnum == 0:  # more than 0xff00 sections: the count is in section 0
            shnum = first[5]
        if shstrndx == _SHN_XINDEX:
            shstrndx = first[6]
        if shnum > MAX_SECTIONS:
            self.capped.append(f"{shnum} sections, over the cap of {MAX_SECTIONS}: sections ignored")
            return
        _check_range(data, shoff, shnum * shentsize, "section headers")
        # (name, type, offset, size, link, entsize) of every section; the end
        # address of each, by index, for symbols without a size
        sections = []
        for i in range(shnum):
            name, stype, _fl, addr, offset, size, link, _info, _al, entsize = lay.shdr.unpack_from(
                data, shoff + i * shentsize)
            sections.append((name, stype, offset, size, link, entsize))
            self._section_ends[i] = addr + size
        shstr = sections[shstrndx] if shstrndx < len(sections) else None

        def is_debug_section(name_off: int) -> bytes:
            # A bounded compare, never a search for the terminator: a name
            # without one made every section scan to the end of the file.
            if shstr is None or name_off >= shstr[3]:
                return b""
            start = shstr[2] + name_off
            name = bytes(data[start:start + 15])
            return name[:-1] if name in _DEBUG_SECTIONS else b""

        tables = {_SHT_SYMTAB: -1, _SHT_DYNSYM: -1}
        for idx, (name, stype, offset, size, _link, _entsize) in enumerate(sections):
            if stype in tables:
                tables[stype] = idx
            elif stype == _SHT_NOTE and not self.build_id:
                self.build_id = self._parse_build_id(data, lay, offset, size)
            elif stype != _SHT_NOBITS and shstr is not None:
                sname = is_debug_section(name)
                if sname:  # never copy .text just to look
                    _check_range(data, offset, size, sname.decode())
                    self._read_debug_section(sname, data[offset:offset + size], lay)
        self._load_tables(data, lay, sections, tables)

    def _load_tables(self, data: bytes | mmap.mmap, lay: _Layout, sections: Sequence[tuple[int, ...]],
                     tables: dict[int, int]) -> None:
        """Indexes ``.symtab``, else ``.dynsym`` (tables: section index by type, -1 when absent)."""
        for stype in (_SHT_SYMTAB, _SHT_DYNSYM):
            idx = tables[stype]
            if idx < 0:
                continue
            _n, _t, offset, size, link, entsize = sections[idx]
            strtab = sections[link] if link < len(sections) else None
            if strtab is None or not size:
                continue
            if self._load_symbols(data, lay, (offset, size, entsize or lay.sym.size), (strtab[2], strtab[3])):
                self.has_symtab = stype == _SHT_SYMTAB
                break

    def _read_debug_section(self, name: bytes, content: bytes, lay: _Layout) -> None:
        if name == b".gnu_debuglink":
            self._read_debuglink(bytes(content), lay)
        elif name == b".gnu_debugdata" and self._nested:
            self.minidebug = None
            image = self._decompress(bytes(content))
            if image is not None:
                try:
                    self.minidebug = ElfSymbols(image, nested=False)
                except ElfError:
                    return
                self.capped += [f".gnu_debugdata: {c}" for c in self.minidebug.capped]

    def _read_debuglink(self, content: bytes, lay: _Layout) -> None:
        """The file name, NUL, padding to 4 bytes, the debug file's CRC32 in the file's byte order."""
        name, nul, _ = content.partition(b"\0")
        crc_at = _align4(len(name) + 1)
        if not nul or not name or crc_at + 4 > len(content):
            return
        # A name, never a path: gdb looks for it in fixed directories only.
        self.debuglink = name[:255].decode(errors="replace")
        self.debuglink_crc = int.from_bytes(content[crc_at:crc_at + 4], "little" if lay.little else "big")

    def _decompress(self, content: bytes) -> bytes | None:
        """The xz stream, or None when corrupt or when it would exceed MAX_DEBUGDATA_BYTES."""
        decomp = lzma.LZMADecompressor(memlimit=MAX_XZ_MEMORY_BYTES)  # a header can claim a 1.5 GB dictionary
        try:
            # max_length bounds what one call returns; one byte more says "over the cap".
            image = decomp.decompress(content, max_length=MAX_DEBUGDATA_BYTES + 1)
        except lzma.LZMAError:
            return None
        if len(image) > MAX_DEBUGDATA_BYTES:
            self.capped.append(f".gnu_debugdata decompresses to over {MAX_DEBUGDATA_BYTES >> 20} MB: ignored")
            return None
        return image if decomp.eof else None  # a truncated stream

    @staticmethod
    def _parse_build_id(data: bytes | mmap.mmap, lay: _Layout, offset: int, size: int) -> str:
        pos, end = offset, offset + size
        for _ in range(MAX_NOTES):
            if pos + 12 > end:
                break
            namesz, descsz, ntype = lay.note.unpack_from(data, pos)
            name_at = pos + 12
            desc_at = name_at + _align4(namesz)
            if ntype == _NT_GNU_BUILD_ID and bytes(data[name_at:name_at + namesz]) == b"GNU\0":
                return bytes(data[desc_at:desc_at + descsz]).hex()
            pos = desc_at + _align4(descsz)
        return ""

    def _load_symbols(self, data: bytes | mmap.mmap, lay: _Layout, table: tuple[int, int, int],
                      strings: tuple[int, int]) -> bool:
        """Indexes one symbol table; False when it holds no symbol.

        Args:
            data: The file.
            lay: Its struct formats.
            table: (offset, size, entry size) of the symbol table.
            strings: (offset, size) of its string table.
        """
        offset, size, entsize = table
        str_offset, str_size = strings
        _check_range(data, offset, size, "symbol table")
        _check_range(data, str_offset, str_size, "string table")
        if entsize < lay.sym.size:
            raise ElfError(f"symbol table entries of {entsize} bytes, under {lay.sym.size}")
        count = size // entsize
        if count <= 1:  # entry 0 is always the null symbol
            return False
        if count > MAX_SYMBOLS:
            self.capped.append(f"symbol table of {count} entries, over the cap of {MAX_SYMBOLS}: ignored")
            return False
        if str_size > MAX_STRTAB_BYTES:
            self.capped.append(f"string table of {str_size >> 20} MB, over the cap of "
                               f"{MAX_STRTAB_BYTES >> 20} MB: symbols ignored")
            return False
        self._symbols = SymbolTable(self._copy(data, offset, count * entsize), lay.sym, entsize,
                                    self._copy(data, str_offset, str_size), self._section_ends)
        return True

    def _copy(self, data: bytes | mmap.mmap, offset: int, size: int) -> bytes:
        if self._fd is None:
            return bytes(data[offset:offset + size])
        copied = os.pread(self._fd, size, offset)
        if len(copied) != size:  # the file shrank under the mapping
            raise ElfError("file truncated while reading")
        return copied

    def names_cut(self) -> int:
        """Names cut by the symbol table's length cap so far (the MiniDebugInfo's included)."""
        own = self._symbols.names_cut if self._symbols is not None else 0
        return own + (self.minidebug.names_cut() if self.minidebug is not None else 0)

    def __len__(self) -> int:
        """Entries of the symbol table in use (all kinds, the null entry included)."""
        return len(self._symbols) if self._symbols is not None else 0

    def segment_of(self, file_offset: int) -> Segment | None:
        """The PT_LOAD segment holding a file offset, or None."""
        for seg in self.segments:
            if seg.offset <= file_offset < seg.offset + max(seg.filesz, 1):
                return seg
        return None

    def vaddr_of(self, file_offset: int) -> int | None:
        """The link-time virtual address of a file offset, None outside every PT_LOAD."""
        seg = self.segment_of(file_offset)
        return None if seg is None else file_offset - seg.offset + seg.vaddr

    def lookup(self, vaddr: int) -> tuple[str, int] | None:
        """(demangled name, offset into the function) of a link-time virtual address, or None."""
        if self._symbols is not None:
            return self._symbols.lookup(vaddr)
        return self.minidebug.lookup(vaddr) if self.minidebug is not None else None
