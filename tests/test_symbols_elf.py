"""The ELF reader on synthetic files (every class and byte order) and on gcc's output.

``write_elf`` is also the benchmark's generator (benchmarks/bench_symbols.py).
"""

from __future__ import annotations

import lzma
import random
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
import workloads

from bpftop.symbols.elf import ElfError, ElfSymbols

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOTE, SHT_DYNSYM = 1, 2, 3, 7, 11
STT_OBJECT, STT_FUNC = 1, 2
TEXT_OFFSET = 0x1000


def write_elf(path: Path, funcs: Sequence[tuple[str, int, int]], *, text_size: int = 0x10000,
              base: int = 0, is64: bool = True, little: bool = True, table: str = ".symtab",
              build_id: bytes = b"", extra: dict[str, bytes] | None = None, shuffle: bool = True,
              seed: int = 1) -> Path:
    """Write an ELF file whose .text spans [base+0x1000, +text_size) at file offset 0x1000.

    Args:
        funcs: (name, offset into .text, size) of each function symbol.
        base: Link-time address of file offset 0 (0: PIE/shared library).
        table: ".symtab" or ".dynsym".
        extra: More sections by name (PROGBITS), e.g. .gnu_debuglink.
        shuffle: Store the symbols in random order, as linkers do not sort them.
    """
    e = "<" if little else ">"
    syms = [(name, base + TEXT_OFFSET + off, size, STT_FUNC) for name, off, size in funcs]
    syms.append(("some_data_object", base + TEXT_OFFSET, 64, STT_OBJECT))  # never a function
    if shuffle:
        random.Random(seed).shuffle(syms)
    strtab = bytearray(b"\0")
    packed = []
    sym_fmt = struct.Struct(e + ("IBBHQQ" if is64 else "IIIBBH"))
    packed.append(b"\0" * sym_fmt.size)
    for name, value, size, kind in syms:
        name_off = len(strtab)
        strtab += name.encode() + b"\0"
        info = (1 << 4) | kind  # STB_GLOBAL
        fields = (name_off, info, 0, 1, value, size) if is64 else (name_off, value, size, info, 0, 1)
        packed.append(sym_fmt.pack(*fields))
    symtab = b"".join(packed)
    note = b""
    if build_id:
        note = struct.pack(e + "III", 4, len(build_id), 3) + b"GNU\0" + build_id
    sections: list[tuple[str, int, bytes, int, int]] = [  # name, type, data, link, entsize
        (table, SHT_DYNSYM if table == ".dynsym" else SHT_SYMTAB, symtab, 2, sym_fmt.size),
        (".strtab" if table == ".symtab" else ".dynstr", SHT_STRTAB, bytes(strtab), 0, 0),
    ]
    if note:
        sections.append((".note.gnu.build-id", SHT_NOTE, note, 0, 0))
    for name, data in (extra or {}).items():
        sections.append((name, SHT_PROGBITS, data, 0, 0))
    shstr = bytearray(b"\0.text\0")
    names = []
    for name, *_ in sections:
        names.append(len(shstr))
        shstr += name.encode() + b"\0"
    names.append(len(shstr))
    shstr += b".shstrtab\0"
    sections.append((".shstrtab", SHT_STRTAB, bytes(shstr), 0, 0))
    ehdr = struct.Struct(e + ("16sHHIQQQIHHHHHH" if is64 else "16sHHIIIIIHHHHHH"))
    phdr = struct.Struct(e + ("IIQQQQQQ" if is64 else "IIIIIIII"))
    shdr = struct.Struct(e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII"))
    text_end = TEXT_OFFSET + text_size
    with path.open("wb") as f:
        f.seek(ehdr.size + phdr.size)
        f.seek(TEXT_OFFSET)
        chunk = b"\xcc" * (1 << 20)
        left = text_size
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        offsets = []
        for _name, _type, data, _link, _ent in sections:
            offsets.append(f.tell())
            f.write(data)
            f.write(b"\0" * (-f.tell() % 8))
        shoff = f.tell()
        headers = [shdr.pack(*([0] * 10)),
                   shdr.pack(1, SHT_PROGBITS, 6, base + TEXT_OFFSET, TEXT_OFFSET, text_size, 0, 0, 16, 0)]
        for i, (_name, stype, data, link, ent) in enumerate(sections):
            link_idx = link + 1 if link else 0  # section indexes: 0 null, 1 .text, then ours
            headers.append(shdr.pack(names[i], stype, 0, 0, offsets[i], len(data), link_idx, 0, 8, ent))
        f.write(b"".join(headers))
        ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if little else 2, 1]) + b"\0" * 9
        etype = 3 if base == 0 else 2
        f.seek(0)
        f.write(ehdr.pack(ident, etype, 62, 1, base + TEXT_OFFSET, ehdr.size, shoff, 0, ehdr.size,
                          phdr.size, 1, shdr.size, len(headers), len(headers) - 1))
        if is64:
            f.write(phdr.pack(1, 5, 0, base, base, text_end, text_end, 0x1000))
        else:
            f.write(phdr.pack(1, 0, base, base, text_end, text_end, 5, 0x1000))
    return path


FUNCS = [
    ("alpha", 0x0, 0x40),
    ("beta", 0x40, 0x20),
    ("_ZN2ns5gammaEv@@LIB_1.0", 0x80, 0x10),  # debug files keep symbol versions
    ("asm_stub", 0x100, 0),  # no size, like hand-written assembly
]


@pytest.mark.parametrize("is64", [True, False], ids=["elf64", "elf32"])
@pytest.mark.parametrize("little", [True, False], ids=["le", "be"])
@pytest.mark.parametrize("base", [0, 0x400000], ids=["pie", "exec"])
def test_synthetic_lookup(tmp_path: Path, is64: bool, little: bool, base: int) -> None:
    elf = ElfSymbols.from_path(write_elf(tmp_path / "x", FUNCS, is64=is64, little=little, base=base,
                                         build_id=b"\xab\xcd\xef\x01"))
    assert len(elf) == len(FUNCS) + 2 and elf.has_symtab  # + the null entry and a data object
    assert elf.build_id == "abcdef01"
    text = base + 0x1000
    assert elf.vaddr_of(0x1044) == text + 0x44
    assert elf.vaddr_of(0x1000 + 0x10000) is None  # past every PT_LOAD
    assert elf.lookup(text + 0x44) == ("beta", 4)
    assert elf.lookup(text) == ("alpha", 0)
    assert elf.lookup(text + 0x3F) == ("alpha", 0x3F)
    assert elf.lookup(text + 0x60) is None  # between beta's end and gamma
    assert elf.lookup(text + 0x85) == ("ns::gamma()", 5)  # version suffix dropped
    assert elf.lookup(text + 0x180) == ("asm_stub", 0x80)  # size 0: up to the next symbol
    assert elf.lookup(text - 1) is None


def test_dynsym_only_and_debuglink(tmp_path: Path) -> None:
    link = b"x.debug\0\0\0\0\0" + struct.pack("<I", 0x1234)
    path = write_elf(tmp_path / "x", FUNCS, table=".dynsym", extra={".gnu_debuglink": link})
    elf = ElfSymbols.from_path(path)
    assert not elf.has_symtab and len(elf) == len(FUNCS) + 2
    assert elf.debuglink == "x.debug"


def test_minidebuginfo_supplies_local_functions(tmp_path: Path) -> None:
    inner = write_elf(tmp_path / "inner", [("local_helper", 0x200, 0x30)])
    packed = lzma.compress(inner.read_bytes(), format=lzma.FORMAT_XZ)
    path = write_elf(tmp_path / "x", FUNCS, table=".dynsym", extra={".gnu_debugdata": packed})
    elf = ElfSymbols.from_path(path)
    assert elf.lookup(0x1210) == ("local_helper", 0x10)
    assert elf.lookup(0x1004) == ("alpha", 4)


BAD = [b"", b"not an elf file at all" * 4, b"\x7fELF" + b"\x02\x01\x01" + b"\xff" * 80]


@pytest.mark.parametrize("content", BAD)
def test_bad_files_raise_elf_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises((ElfError, ValueError)):
        ElfSymbols.from_path(path)


def test_truncated_file(tmp_path: Path) -> None:
    good = write_elf(tmp_path / "x", FUNCS).read_bytes()
    path = tmp_path / "cut"
    path.write_bytes(good[: len(good) - 100])  # section headers cut off
    with pytest.raises(ElfError):
        ElfSymbols.from_path(path)


def test_every_nm_function_of_a_gcc_binary(tmp_path: Path) -> None:
    exe = workloads.build()
    nm = subprocess.run(["nm", "--defined-only", str(exe)], capture_output=True, text=True, check=True)
    out = nm.stdout
    funcs = {int(a, 16): n for a, t, n in (line.split() for line in out.splitlines()) if t in "tT"}
    elf = ElfSymbols.from_path(exe)
    for addr, name in funcs.items():
        hit = elf.lookup(addr)
        assert hit is not None and hit[1] == 0, (name, hit)


def test_aliases_pick_the_plainest_name(tmp_path: Path) -> None:
    funcs = [("_IO_printf", 0x0, 0x20), ("printf", 0x0, 0x20), ("__printf_internal_long", 0x0, 0x20)]
    for seed in range(12):  # whatever order the table holds them (and a data object there) in
        elf = ElfSymbols.from_path(write_elf(tmp_path / f"x{seed}", funcs, seed=seed))
        assert elf.lookup(0x1004) == ("printf", 4)
