"""Read a clang-built BPF object (ELF64, little-endian, relocatable) the way libbpf sees it.

Only what ``kernel_reqs.py`` needs, in pure Python so the check runs anywhere:
sections, symbols and relocations (ELF), each program's instructions (a
``FUNC`` symbol in an executable section other than ``.text``, which holds the
subprograms they call), the map definitions of ``.maps`` (through the
object's BTF) and which instructions carry CO-RE relocations (``.BTF.ext``).
Formats: the ELF gABI; Documentation/bpf/btf.rst and libbpf's
``btf_ext_header`` for ``.BTF.ext``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from bpftop.bpf.btfdata import ARRAY, DATASEC, PTR, Btf

SHT_SYMTAB, SHT_REL = 2, 9
SHF_EXECINSTR = 0x4
STT_FUNC = 2
INSN = struct.Struct("<BBhi")  # opcode, dst:4|src:4, off, imm
SYM = struct.Struct("<IBBHQQ")
REL = struct.Struct("<QQ")
SHDR = struct.Struct("<IIQQQQIIQQ")
BTF_EXT_HEADER = struct.Struct("<HBBIIIIIII")  # through core_relo_off/len


class ObjectError(ValueError):
    """The file is not a BPF object this reader understands."""


@dataclass(frozen=True)
class Insn:
    """One 8-byte BPF instruction slot (``ld_imm64`` takes two)."""

    opcode: int
    dst: int
    src: int
    off: int
    imm: int


@dataclass(frozen=True)
class Symbol:
    """An ELF symbol: name, section index (0: undefined), value, size, type."""

    name: str
    shndx: int
    value: int
    size: int
    type: int


@dataclass
class Section:
    """An ELF section, its bytes, and relocations by byte offset (to a symbol)."""

    index: int
    name: str
    flags: int
    data: bytes
    relocs: dict[int, Symbol] = field(default_factory=dict)

    def insns(self, start: int = 0, end: int | None = None) -> list[Insn]:
        """Decode the instruction slots in ``[start, end)``, counted in slots."""
        end = len(self.data) // 8 if end is None else end
        out = []
        for i in range(start, end):
            opcode, regs, off, imm = INSN.unpack_from(self.data, i * 8)
            out.append(Insn(opcode, regs & 0xF, regs >> 4, off, imm))
        return out


@dataclass(frozen=True)
class Program:
    """One program: its function symbol and the section holding it."""

    name: str
    section: Section
    start: int  # first instruction slot in the section
    count: int  # instruction slots


@dataclass(frozen=True)
class MapDef:
    """A map of ``.maps``: its name, ``type`` number and ``map_flags``."""

    name: str
    type: int
    flags: int


class BpfObject:
    """The parsed object: ``sections`` by name, ``programs``, ``maps``, ``btf``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = path.read_bytes()
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ObjectError(f"{path.name}: not a 64-bit little-endian ELF file")
        shoff = struct.unpack_from("<Q", data, 0x28)[0]
        shnum, shstrndx = struct.unpack_from("<HH", data, 0x3C)
        headers = [SHDR.unpack_from(data, shoff + i * SHDR.size) for i in range(shnum)]
        names_hdr = headers[shstrndx]
        names = data[names_hdr[4] : names_hdr[4] + names_hdr[5]]
        self.by_index: dict[int, Section] = {}
        for i, (name, sh_type, flags, _addr, offset, size, *_rest) in enumerate(headers):
            body = b"" if sh_type == 8 else data[offset : offset + size]  # SHT_NOBITS: .bss
            self.by_index[i] = Section(i, _cstr(names, name), flags, body)
        self.sections = {s.name: s for s in self.by_index.values()}
        self.symbols = self._symbols(data, headers)
        for sh_type, info, offset, size in ((h[1], h[7], h[4], h[5]) for h in headers):
            if sh_type == SHT_REL:
                target = self.by_index[info]
                for r in range(size // REL.size):
                    r_offset, r_info = REL.unpack_from(data, offset + r * REL.size)
                    target.relocs[r_offset] = self.symbols[r_info >> 32]
        btf = self.sections.get(".BTF")
        self.btf = Btf(btf.data) if btf else None
        self.programs = self._programs()

    def _symbols(self, data: bytes, headers: list[tuple[int, ...]]) -> list[Symbol]:
        symtab = next((h for h in headers if h[1] == SHT_SYMTAB), None)
        if symtab is None:
            raise ObjectError(f"{self.path.name}: no symbol table")
        strtab = headers[symtab[6]]
        strings = data[strtab[4] : strtab[4] + strtab[5]]
        out = []
        for i in range(symtab[5] // SYM.size):
            name, info, _other, shndx, value, size = SYM.unpack_from(data, symtab[4] + i * SYM.size)
            out.append(Symbol(_cstr(strings, name), shndx, value, size, info & 0xF))
        return out

    def _programs(self) -> list[Program]:
        progs = []
        for sym in self.symbols:
            section = self.by_index.get(sym.shndx)
            if sym.type != STT_FUNC or section is None or section.name == ".text":
                continue
            if section.flags & SHF_EXECINSTR:
                progs.append(Program(sym.name, section, sym.value // 8, sym.size // 8))
        return sorted(progs, key=lambda p: (p.section.index, p.start))

    def function_at(self, section: Section, slot: int) -> Symbol:
        """The ``FUNC`` symbol of ``section`` whose body holds instruction ``slot``."""
        for sym in self.symbols:
            inside = sym.value // 8 <= slot < (sym.value + sym.size) // 8
            if sym.type == STT_FUNC and sym.shndx == section.index and inside:
                return sym
        raise ObjectError(f"{self.path.name}: no function at {section.name}+{slot}")

    def maps(self) -> list[MapDef]:
        """The BTF-defined maps of ``.maps`` (``__uint(type, ...)`` is ``int (*type)[N]``)."""
        if self.btf is None:
            return []
        btf, out = self.btf, []
        for t in btf.types:
            if t.kind != DATASEC or t.name != ".maps":
                continue
            for var_id, _offset, _size in t.members:
                var = btf.types[var_id]
                fields = {n: tid for n, tid, _ in btf.types[btf.resolve(var.size_or_type)].members}
                map_type, flags = _uint(btf, fields.get("type")), _uint(btf, fields.get("map_flags"))
                out.append(MapDef(var.name, map_type, flags))
        return out

    def core_relo_slots(self) -> dict[str, set[int]]:
        """Instruction slots with a CO-RE relocation, by section name."""
        ext = self.sections.get(".BTF.ext")
        if ext is None or self.btf is None or len(ext.data) < BTF_EXT_HEADER.size:
            return {}
        _magic, _ver, _flags, hdr_len, *_info, core_off, core_len = BTF_EXT_HEADER.unpack_from(ext.data)
        if hdr_len < BTF_EXT_HEADER.size or not core_len:
            return {}
        pos = hdr_len + core_off
        end = pos + core_len
        rec_size = struct.unpack_from("<I", ext.data, pos)[0]
        pos += 4
        out: dict[str, set[int]] = {}
        while pos < end:
            name_off, count = struct.unpack_from("<II", ext.data, pos)
            pos += 8
            slots = out.setdefault(self.btf.name(name_off), set())
            for i in range(count):
                slots.add(struct.unpack_from("<I", ext.data, pos + i * rec_size)[0] // 8)
            pos += count * rec_size
        return out


def _uint(btf: Btf, type_id: int | None) -> int:
    """Value of a ``__uint(name, N)`` member: the element count of the array it points to."""
    if type_id is None:
        return 0
    ptr = btf.types[type_id]
    if ptr.kind != PTR:
        raise ObjectError(f"map field of BTF kind {ptr.kind}, expected a pointer")
    array = btf.types[ptr.size_or_type]
    if array.kind != ARRAY:
        raise ObjectError(f"map field points to BTF kind {array.kind}, expected an array")
    return array.extra[2]


def _cstr(table: bytes, offset: int) -> str:
    return table[offset : table.index(b"\0", offset)].decode()
