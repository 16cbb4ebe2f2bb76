"""A fuzzer that knows the formats: ELF files and perf maps built from their parts.

Random mutation of real binaries (3,000 files) never found the decompression
bomb or the unterminated section names, because it rarely makes a valid
structure around the bad field. These strategies build ELF headers, section
tables, symbol tables, notes, debuglinks and xz sections field by field, with
each field either sane or hostile, so the parser gets past its first checks.

Every input must parse or raise ``ElfError`` (nothing else), within a time
and a memory budget (tracemalloc peak); the whole file runs in well under a
minute (``max_examples`` below).
"""

from __future__ import annotations

import lzma
import struct
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftop.symbols import elf as elfmod
from bpftop.symbols.binaries import _debug_candidates, debuglink_name_ok
from bpftop.symbols.elf import ElfError, ElfSymbols
from bpftop.symbols.perfmap import MAX_JIT_NAME_BYTES, MAX_PERF_MAP_LINES, PerfMap, PerfMapText

SECONDS_PER_INPUT = 2.0  # the worst legitimate case here parses in ~0.1 s
PEAK_BYTES = 96 << 20  # a 32 MB MiniDebugInfo cap, plus its copy and the parse
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])
# One xz stream of 40 MB of zeros (~6 kB): over the 32 MB cap, built once.
XZ_BOMB = lzma.compress(bytes(40 << 20), preset=0)

u8, u16, u32 = (st.integers(0, (1 << n) - 1) for n in (8, 16, 32))
u64 = st.one_of(st.integers(0, 1 << 20), st.integers(0, (1 << 64) - 1))
SECTION_NAMES = [b".symtab", b".strtab", b".dynsym", b".dynstr", b".gnu_debuglink", b".gnu_debugdata",
                 b".note.gnu.build-id", b".text", b".gnu_debuglin", b""]


def within_budget(parse: Callable[[], Any]) -> Any:
    """Runs ``parse`` and fails the example if it takes too long or allocates too much."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        return parse()
    finally:
        seconds = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert seconds < SECONDS_PER_INPUT, f"one input took {seconds:.1f} s"
        assert peak < PEAK_BYTES, f"one input peaked at {peak >> 20} MB"


@st.composite
def symbols(draw: st.DrawFn, is64: bool, e: str, strtab_size: int) -> bytes:
    """A symbol table: functions, objects, aliases, names in and past the string table."""
    fmt = struct.Struct(e + ("IBBHQQ" if is64 else "IIIBBH"))
    value = st.one_of(st.integers(0x1000, 0x3000), u64 if is64 else u32)
    out = [bytes(fmt.size)]
    for _ in range(draw(st.integers(0, 40))):
        name = draw(st.one_of(st.integers(0, max(strtab_size, 1)), u32))
        sane_info = st.sampled_from([0x12, 0x22, 0x02, 0x11, 0x1A, 0x10])
        info = draw(sane_info) if draw(st.booleans()) else draw(u8)
        shndx = draw(st.sampled_from([0, 1, 2, 0xFFF1, 0xFFFF]))
        size = draw(st.one_of(st.integers(0, 0x100), u64 if is64 else u32))
        v = draw(value) & ((1 << (64 if is64 else 32)) - 1)
        size &= (1 << (64 if is64 else 32)) - 1
        fields = (name, info, 0, shndx, v, size) if is64 else (name, v, size, info, 0, shndx)
        out.append(fmt.pack(*fields))
    return b"".join(out)


@st.composite
def section_data(draw: st.DrawFn, name: bytes, is64: bool, e: str) -> tuple[int, bytes, int, int]:
    """(type, contents, link, entsize) for a section of this name, sane or hostile."""
    if name in (b".symtab", b".dynsym"):
        data = draw(symbols(is64, e, 64))
        return (2 if name == b".symtab" else 11), data, draw(st.sampled_from([2, 3, 0, 999])), \
            draw(st.sampled_from([24 if is64 else 16, 0, 8, 64]))
    if name in (b".strtab", b".dynstr"):
        words = draw(st.lists(st.binary(min_size=0, max_size=20), max_size=10))
        tail = draw(st.sampled_from([b"", b"unterminated" * 50, b"x" * (MAX_JIT_NAME_BYTES + 10)]))
        return 3, b"\0" + b"\0".join(words) + b"\0" + tail, 0, 0
    if name == b".gnu_debuglink":
        hostile = st.sampled_from([b"app.debug", b"/etc/shadow", b"../../etc/shadow", b".", b".."])
        link = draw(st.one_of(hostile, st.binary(max_size=300)))
        pad = draw(st.sampled_from([b"\0\0\0\0", b"\0", b""]))
        return 1, link + pad + draw(st.binary(min_size=0, max_size=4)), 0, 0
    if name == b".gnu_debugdata":
        inner = draw(st.sampled_from([b"", b"\x7fELF" + bytes(60)]))
        choice = draw(st.sampled_from(["bomb", "bombs", "small", "truncated", "junk", "twice"]))
        small = lzma.compress(inner or b"\x7fELF\x02\x01" + bytes(58))
        # "bombs": 160 MB in four concatenated streams (lzma.decompress reads them all).
        contents = {"bomb": XZ_BOMB, "bombs": XZ_BOMB * 4, "small": small, "truncated": small[:-8],
                    "junk": draw(st.binary(max_size=64)), "twice": small + small}
        return 1, contents[choice], 0, 0
    if name == b".note.gnu.build-id":
        notes = b""
        for _ in range(draw(st.integers(0, 4))):
            namesz = draw(st.sampled_from([4, 0, 3, 1 << 30]))
            descsz = draw(st.sampled_from([20, 0, 1 << 31]))
            header = struct.pack(e + "III", namesz, descsz, draw(st.sampled_from([3, 1])))
            notes += header + b"GNU\0" + bytes(20)
        return 7, notes, 0, 0
    return draw(st.sampled_from([1, 8, 3, 0])), draw(st.binary(max_size=64)), 0, 0


@st.composite
def elf_files(draw: st.DrawFn) -> bytes:
    """A whole ELF file: header, one PT_LOAD, sections laid out after it, some fields lying."""
    is64, little = draw(st.booleans()), draw(st.booleans())
    e = "<" if little else ">"
    ehdr = struct.Struct(e + ("16sHHIQQQIHHHHHH" if is64 else "16sHHIIIIIHHHHHH"))
    phdr = struct.Struct(e + ("IIQQQQQQ" if is64 else "IIIIIIII"))
    shdr = struct.Struct(e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII"))
    names = draw(st.lists(st.sampled_from(SECTION_NAMES), min_size=0, max_size=8))
    sections = [(n, *draw(section_data(n, is64, e))) for n in names]
    shstr = b"\0" + b"".join(n + b"\0" for n in names) + b".shstrtab\0"
    sections.append((b".shstrtab", 3, shstr, 0, 0))
    body = bytearray(ehdr.size + phdr.size)
    headers = [bytes(shdr.size)]
    name_at = 1
    for name, stype, data, link, entsize in sections:
        offset = len(body)
        body += data
        size = draw(st.sampled_from([len(data)] * 6 + [0, len(data) + 1, 1 << 40]))
        size &= (1 << (64 if is64 else 32)) - 1
        off = offset if draw(st.integers(0, 9)) else draw(u32)
        fields = (name_at, stype, 0, 0x1000, off, size, link, 0, 1, entsize)
        headers.append(shdr.pack(*fields))
        name_at += len(name) + 1
    shoff = len(body)
    count = len(headers)
    shnum = draw(st.sampled_from([count] * 6 + [0, count + 5, 0xFFFF]))
    shstrndx = draw(st.sampled_from([count - 1] * 6 + [0, 0xFFFF, count + 3]))
    body += b"".join(headers)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if little else 2, 1]) + bytes(9)
    phoff = ehdr.size if draw(st.integers(0, 9)) else draw(u32)
    struct.pack_into(ehdr.format, body, 0, ident, 3, 62, 1, 0, phoff, shoff, 0, ehdr.size, phdr.size,
                     draw(st.sampled_from([1, 0, 0xFFFF])), shdr.size, shnum & 0xFFFF, shstrndx & 0xFFFF)
    load = (1, 5, 0, 0, 0, 0x10000, 0x10000, 0x1000) if is64 else (1, 0, 0, 0, 0x10000, 0x10000, 5, 0x1000)
    struct.pack_into(phdr.format, body, ehdr.size, *load)
    return bytes(body)


@FUZZ
@given(elf_files(), st.lists(st.integers(0, 0x20000), max_size=8))
def test_elf_reader_survives_built_files(image: bytes, addrs: list[int]) -> None:
    def parse() -> None:
        try:
            sym = ElfSymbols(image)
        except ElfError:
            return
        for addr in addrs:
            hit = sym.lookup(addr)
            assert hit is None or (isinstance(hit[0], str) and hit[1] >= 0)
            sym.vaddr_of(addr)
        assert sym.names_cut() >= 0 and all(isinstance(c, str) for c in sym.capped)
        if sym.debuglink and debuglink_name_ok(sym.debuglink):
            for path, _ in _debug_candidates(sym, "/usr/bin/app"):
                assert ".." not in path.split("/") and not path.startswith("/")

    within_budget(parse)


def test_xz_bomb_trips_the_cap_alone() -> None:
    """The fuzzer's bomb really is over the cap (else its examples would prove nothing)."""
    assert len(XZ_BOMB) < 64 << 10 and elfmod.MAX_DEBUGDATA_BYTES < 40 << 20


@FUZZ
@given(st.text(max_size=300))
def test_debuglink_names_are_file_names(name: str) -> None:
    ok = debuglink_name_ok(name)
    assert ok == (bool(name) and "/" not in name and "\0" not in name and name not in (".", ".."))


PERF_LINE = st.one_of(
    st.builds(lambda a, s, n: f"{a:x} {s:x} {n}".encode(), u64, u64, st.text(min_size=1, max_size=30)),
    st.builds(lambda a, n: f"{a:x} 10 ".encode() + b"N" * n, u32, st.integers(1, 3 * MAX_JIT_NAME_BYTES)),
    st.binary(max_size=40),
    st.sampled_from([b"", b"   ", b"zz 10 bad", b"10 zz bad", b"10 10", b"-1 10 neg", b"0x10 0x10 hex"]),
)


@FUZZ
@given(st.lists(PERF_LINE, max_size=60), st.booleans(), st.lists(u64, max_size=8))
def test_perf_map_parser_survives_built_files(lines: list[bytes], newline: bool, addrs: list[int]) -> None:
    data = b"\n".join(lines) + (b"\n" if newline else b"")
    parsed = within_budget(lambda: PerfMapText(data))
    assert parsed.starts == sorted(set(parsed.starts))
    assert len(parsed.starts) == len(parsed.ends) == len(parsed.names)
    assert all(len(n.encode(errors="surrogateescape")) <= 3 * MAX_JIT_NAME_BYTES for n in parsed.names)
    assert parsed.lines_over == 0  # under the line cap


def test_perf_map_line_cap_counts_what_it_cuts(tmp_path: Path) -> None:
    (tmp_path / "perf-1.map").write_bytes(b"1000 10 a\n" * (MAX_PERF_MAP_LINES + 7))
    pm = PerfMap(tmp_path, "perf-1.map", "/tmp/perf-1.map")
    assert pm.refresh() and pm.lookup(0x1004) == ("a", 4)
    assert pm.capped == f"perf map /tmp/perf-1.map: only the first {MAX_PERF_MAP_LINES:,} lines read"


@pytest.mark.parametrize("sections", [60_000, 30_000])
def test_many_sections_with_unterminated_names(sections: int) -> None:
    """Over the cap: refused and said; under it: still fast, names compared in bounded time."""
    e = struct.Struct("<IIQQQQIIQQ")
    shoff = 64
    names_at = shoff + 64 * sections
    image = bytearray(64) + bytes(64) + e.pack(0, 3, 0, 0, names_at, 1 << 20, 0, 0, 1, 0)
    image += e.pack(0, 1, 0, 0, 0, 16, 0, 0, 1, 0) * (sections - 2) + b"A" * (1 << 20)
    struct.pack_into("<16sHHIQQQIHHHHHH", image, 0, b"\x7fELF\x02\x01\x01" + bytes(9), 3, 62, 1, 0, 0,
                     shoff, 0, 64, 56, 0, 64, sections, 1)
    sym = within_budget(lambda: ElfSymbols(bytes(image)))
    over = sections > elfmod.MAX_SECTIONS
    assert sym.capped == ([f"{sections} sections, over the cap of {elfmod.MAX_SECTIONS}: sections ignored"]
                          if over else [])
