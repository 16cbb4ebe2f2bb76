"""The symbol table index (``bpftop.symbols.symtab``) against a plain Python sort.

``sorted_functions`` builds the index without a Python loop over symbols
(strided slices, whole-table big ints, a float sort); here every layout,
byte order, entry padding and value range is checked against the obvious
per-symbol reference, and the paths for high addresses and corrupt spans.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_symbols_elf import write_elf

from bpftop.symbols.elf import ElfError, ElfSymbols
from bpftop.symbols.symtab import sorted_functions

STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE, STT_GNU_IFUNC = 0, 1, 2, 3, 4, 10
SHN_UNDEF, SHN_ABS = 0, 0xFFF1

# (st_info type, st_shndx, st_value) of one entry
Entry = tuple[int, int, int]


def pack_table(entries: list[Entry], *, is64: bool, little: bool, pad: int) -> tuple[bytes, int]:
    """A symbol table of ``entries`` (after the null entry), each padded by ``pad`` bytes."""
    sym = struct.Struct(("<" if little else ">") + ("IBBHQQ" if is64 else "IIIBBH"))
    out = [bytes(sym.size + pad)]
    for i, (kind, shndx, value) in enumerate(entries, 1):
        info = (1 << 4) | kind
        fields = (i, info, 0, shndx, value, 16) if is64 else (i, value, 16, info, 0, shndx)
        out.append(sym.pack(*fields) + b"\xa5" * pad)  # padding must be ignored
    return b"".join(out), sym.size + pad


def reference(entries: list[Entry]) -> tuple[list[int], list[int]]:
    """(starts, indexes) by a per-symbol Python sort: what the index must hold."""
    functions = sorted((value, i) for i, (kind, shndx, value) in enumerate(entries, 1)
                       if kind in (STT_FUNC, STT_GNU_IFUNC) and shndx != SHN_UNDEF)
    return [v for v, _ in functions], [i for _, i in functions]


def check(entries: list[Entry], *, is64: bool = True, little: bool = True, pad: int = 0) -> None:
    raw, entsize = pack_table(entries, is64=is64, little=little, pad=pad)
    starts, order = sorted_functions(raw, len(entries) + 1, entsize, is64, little)
    assert (list(starts), list(order)) == reference(entries)


KINDS = st.sampled_from([STT_FUNC, STT_FUNC, STT_FUNC, STT_GNU_IFUNC, STT_OBJECT, STT_NOTYPE,
                         STT_SECTION, STT_FILE])
SHNDX = st.sampled_from([1, 1, 1, 2, 0x1234, SHN_UNDEF, SHN_ABS])


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(st.tuples(KINDS, SHNDX, st.integers(0, 0x7FFF_FFFF)), max_size=300),
       layout=st.sampled_from([(True, True), (True, False), (False, True), (False, False)]),
       pad=st.sampled_from([0, 0, 8, 3]))
def test_matches_a_plain_sort(entries: list[Entry], layout: tuple[bool, bool], pad: int) -> None:
    is64, little = layout
    check(entries, is64=is64, little=little, pad=pad)


@settings(max_examples=60, deadline=None)
@given(low=st.integers(0, 2**64 - 2**33), spread=st.integers(0, 2**31),
       offsets=st.lists(st.tuples(KINDS, SHNDX, st.integers(0, 2**31)), min_size=1, max_size=200),
       junk=st.integers(0, 2**64 - 1))
def test_high_addresses_are_rebased(low: int, spread: int, offsets: list[Entry], junk: int) -> None:
    # A kernel image's text sits at 0xffffffff8...: far above 2**32, yet spans little.
    entries = [(kind, shndx, low + off % (spread + 1)) for kind, shndx, off in offsets]
    entries.append((STT_OBJECT, SHN_ABS, junk))  # other symbols' values never count
    for little in (True, False):
        check(entries, little=little)


def test_duplicates_keep_table_order_and_every_alias() -> None:
    entries = [(STT_FUNC, 1, 0x40)] * 5 + [(STT_FUNC, 1, 0x10), (STT_OBJECT, 1, 0x10)] * 3
    check(entries)


def test_no_function_at_all() -> None:
    check([(STT_OBJECT, 1, 0x10), (STT_FUNC, SHN_UNDEF, 0)])


def test_many_entries_use_every_index_bit() -> None:
    # 70,000 entries: indexes need 17 bits, past the two bytes a shortcut might assume.
    entries = [(STT_FUNC, 1, (i * 7919) % 70_001 * 16) for i in range(70_000)]
    check(entries)


def test_function_span_too_wide_is_a_clear_error() -> None:
    entries = [(STT_FUNC, 1, 0x1000), (STT_FUNC, 1, 1 << 60)]
    with pytest.raises(ValueError, match="span"):
        check(entries)


def test_wide_span_in_a_file_is_an_elf_error(tmp_path: Path) -> None:
    path = write_elf(tmp_path / "x", [("low", 0, 0x10), ("high", 1 << 60, 0x10)])
    with pytest.raises(ElfError, match="span"):
        ElfSymbols.from_path(path)


def test_short_entry_size_is_an_elf_error(tmp_path: Path) -> None:
    data = bytearray(write_elf(tmp_path / "x", [("f", 0, 0x10)]).read_bytes())
    shoff, shentsize = struct.unpack_from("<Q", data, 0x28)[0], 64
    symtab = shoff + 2 * shentsize  # sections: null, .text, .symtab
    assert struct.unpack_from("<I", data, symtab + 4)[0] == 2  # SHT_SYMTAB
    struct.pack_into("<Q", data, symtab + 56, 16)  # sh_entsize: 16 < sizeof(Elf64_Sym)
    path = tmp_path / "short"
    path.write_bytes(bytes(data))
    with pytest.raises(ElfError, match="entries of 16 bytes"):
        ElfSymbols.from_path(path)


def test_kernel_addresses_look_up(tmp_path: Path) -> None:
    base = 0xFFFF_FFFF_8100_0000 - 0x1000  # write_elf puts .text at base + 0x1000
    path = write_elf(tmp_path / "vmlinux", [("start_kernel", 0x100, 0x40), ("schedule", 0x10, 0x20)],
                     base=base)
    elf = ElfSymbols.from_path(path)
    assert elf.lookup(0xFFFF_FFFF_8100_0105) == ("start_kernel", 5)
    assert elf.lookup(0xFFFF_FFFF_8100_0010) == ("schedule", 0)
    assert elf.lookup(0xFFFF_FFFF_8100_0031) is None  # past schedule's end
    assert elf.lookup(0x1000) is None  # below every function
