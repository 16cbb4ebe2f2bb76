"""Symbolization pieces without live processes: frames, demangling, maps, perf maps, caches."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from test_symbols_elf import FUNCS, write_elf

from bpftop.symbols import Frame, Symbolizer, demangle
from bpftop.symbols.binaries import BinaryCache, find_debug
from bpftop.symbols.elf import ElfSymbols
from bpftop.symbols.perfmap import PerfMap, parse_perf_map
from bpftop.symbols.procmaps import ProcessMaps, file_candidates, ns_pid, parse_maps


def test_frame_label() -> None:
    assert Frame("main", "/bin/x", 3, "user").label() == "main"
    assert Frame("", "/usr/lib/libc.so.6", 0x1F, "unknown").label() == "libc.so.6+0x1f"
    assert Frame("", "[kernel]", 0x10, "unknown").label() == "[kernel]+0x10"


@pytest.mark.parametrize(("mangled", "plain"), [
    ("_ZN2ns6Widget7computeEid", "ns::Widget::compute(int, double)"),
    ("_ZNSt6vectorIiSaIiEE9push_backERKi", "std::vector<int, std::allocator<int>>::push_back(int const&)"),
    ("_ZN3std2rt10lang_start17h0123456789abcdefE", "std::rt::lang_start"),  # Rust legacy: hash dropped
    ("_RNvNtCs1234_7mycrate6module8function", "mycrate::module::function"),  # Rust v0
    ("main", "main"),
    ("_Znot_really_mangled", "_Znot_really_mangled"),
])
def test_demangle(mangled: str, plain: str) -> None:
    if not demangle.available():
        pytest.fail("pydemumble is a dependency (pyproject.toml); pip install -e .")
    assert demangle.demangle(mangled) == plain


def test_demangle_missing_library_keeps_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demangle, "_demangle", None)
    assert demangle.demangle("_ZN2ns6Widget7computeEid") == "_ZN2ns6Widget7computeEid"

    def broken(name: str) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(demangle, "_demangle", broken)
    assert demangle.demangle("_ZN2ns6Widget7computeEid") == "_ZN2ns6Widget7computeEid"


MAPS = """\
55d0c0a00000-55d0c0a28000 r--p 00000000 08:01 1234                       /usr/bin/my app
55d0c0a28000-55d0c0b00000 r-xp 00028000 08:01 1234                       /usr/bin/my app
7f0000000000-7f0000001000 rwxp 00000000 00:00 0
7f0000100000-7f0000200000 r-xp 00001000 00:2a 99                         /tmp/gone (deleted)
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
garbage line
"""


def test_parse_maps() -> None:
    maps = ProcessMaps(MAPS)
    assert len(maps.mappings) == 5
    exe = maps.find(0x55D0C0A28010)
    assert exe is not None and exe.path == "/usr/bin/my app" and exe.offset == 0x28000 and exe.executable
    assert exe.is_file and not exe.deleted
    anon = maps.find(0x7F0000000010)
    assert anon is not None and anon.path == "" and not anon.is_file
    gone = maps.find(0x7F0000100000)
    assert gone is not None and gone.deleted and gone.is_file
    assert maps.find(0x1000) is None and maps.index(0x7FFD00002000) == -1
    # A deleted file can only be opened through map_files; others also via the process's root.
    proc = Path("/proc")
    assert file_candidates(proc, 7, gone) == [(None, "/proc/7/map_files/7f0000100000-7f0000200000", True)]
    # Paths as the process sees them, resolved inside its root (then ours) without following links.
    assert file_candidates(proc, 7, exe)[1:] == [
        (Path("/proc/7/root"), "/usr/bin/my app", False), (Path("/"), "/usr/bin/my app", False)]
    assert parse_maps("") == []


def test_ns_pid(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "status").write_text("Name:\tx\nNSpid:\t42\t7\n")
    assert ns_pid(tmp_path, 42) == 7
    assert ns_pid(tmp_path, 43) == 43
    assert ns_pid(Path("/proc"), os.getpid()) == os.getpid()


def test_perf_map_parsing_and_growth(tmp_path: Path) -> None:
    text = "1000 10 first\nzz 10 bad\n2000 8 second one\n1000 20 recompiled\n\n"
    starts, ends, names = parse_perf_map(text)
    assert starts == [0x1000, 0x2000] and ends == [0x1020, 0x2008] and names == ["recompiled", "second one"]
    path = tmp_path / "perf-1.map"
    path.write_text("1000 10 first\n")
    pm = PerfMap(tmp_path, "perf-1.map", "/tmp/perf-1.map")
    assert pm.refresh() and pm.lookup(0x1004) == ("first", 4) and pm.lookup(0x3000) is None
    with path.open("a") as f:  # the JIT appends while the process runs
        f.write("3000 40 _ZN2ns6Widget7computeEid\n")
    assert pm.refresh() and pm.lookup(0x3001) == ("ns::Widget::compute(int, double)", 1)
    assert not PerfMap(tmp_path, "missing", "x").refresh()
    path.chmod(0o600)
    other = PerfMap(tmp_path, "perf-1.map", "x", owners={path.stat().st_uid + 1})
    assert not other.refresh() and other.problem.startswith("owned by uid")  # someone else's file


def test_binary_cache_parses_once_per_identity(tmp_path: Path) -> None:
    path = write_elf(tmp_path / "lib", FUNCS)
    cache = BinaryCache(max_entries=2)

    def get(file: Path, shown: str) -> tuple[object, str]:
        fd = os.open(file, os.O_RDONLY)
        try:
            return cache.get(fd, os.fstat(fd), shown, [])
        finally:
            os.close(fd)

    first, why = get(path, str(path))
    assert first is not None and why == ""
    assert get(path, str(path))[0] is first and cache.loads == 1
    bad = tmp_path / "bad"
    bad.write_bytes(b"junk" * 20)
    binary, why = get(bad, "/x/bad")
    assert binary is None and why == "/x/bad: not an ELF file"
    assert get(bad, "/x/bad")[0] is None and cache.loads == 2  # failures cached too
    other = tmp_path / "other"
    other.write_bytes(b"junk" * 20)
    get(other, "/x/other")
    st = path.stat()
    assert (st.st_dev, st.st_ino, st.st_mtime_ns) not in cache._entries  # LRU bound


def test_debug_file_found_by_build_id_and_debuglink(tmp_path: Path) -> None:
    root = tmp_path / "root"
    link = b"app.debug\0\0\0" + b"\0" * 4
    stripped = write_elf(tmp_path / "app", [("exported", 0, 0x10)], table=".dynsym", build_id=b"\x12\x34\x56",
                         extra={".gnu_debuglink": link})
    elf = ElfSymbols.from_path(stripped)
    assert find_debug(elf, "/usr/bin/app", [root]) is None
    by_id = root / "usr/lib/debug/.build-id/12/3456.debug"
    by_id.parent.mkdir(parents=True)
    write_elf(by_id, [("exported", 0, 0x10), ("static_helper", 0x40, 0x20)], build_id=b"\x12\x34\x56")
    debug = find_debug(elf, "/usr/bin/app", [root])
    assert debug is not None and debug.lookup(0x1045) == ("static_helper", 5)
    by_id.unlink()
    other_build = root / "usr/bin/.debug/app.debug"
    other_build.parent.mkdir(parents=True)
    write_elf(other_build, [("static_helper", 0x40, 0x20)], build_id=b"\x99")
    assert find_debug(elf, "/usr/bin/app", [root]) is None  # a debuglink from another build is refused
    write_elf(other_build, [("static_helper", 0x40, 0x20)], build_id=b"\x12\x34\x56")
    assert find_debug(elf, "/usr/bin/app", [root]) is None  # the debuglink's CRC (0) is not this file's
    link = b"app.debug\0\0\0" + struct.pack("<I", zlib.crc32(other_build.read_bytes()))
    write_elf(stripped, [("exported", 0, 0x10)], table=".dynsym", build_id=b"\x12\x34\x56",
              extra={".gnu_debuglink": link})
    assert find_debug(ElfSymbols.from_path(stripped), "/usr/bin/app", [root]) is not None


def test_fake_proc_root(tmp_path: Path) -> None:
    """Everything under one injectable /proc: maps, the binary through map_files, kallsyms."""
    lib = write_elf(tmp_path / "lib.so", FUNCS)
    proc = tmp_path / "proc"
    (proc / "9" / "map_files").mkdir(parents=True)
    (proc / "9" / "map_files" / "7f0000000000-7f0000020000").symlink_to(lib)
    ino = lib.stat().st_ino
    (proc / "9" / "maps").write_text(f"7f0000000000-7f0000020000 r-xp 00000000 00:2a {ino} /opt/lib.so\n")
    (proc / "kallsyms").write_text("ffffffff81000000 T _stext\nffffffff81000010 T do_thing\n")
    sym = Symbolizer(proc=proc)
    assert sym.user(9, [0x7F0000001044, 0x7F0000000010]) == [
        Frame("beta", "/opt/lib.so", 4, "user"),
        Frame("", "/opt/lib.so", 0x10, "unknown"),  # in the file, before .text: module + address
    ]
    assert sym.kernel([0xFFFFFFFF81000012]) == [Frame("do_thing", "[kernel]", 2, "kernel")]
    assert sym.notes == ()
    (proc / "9" / "map_files" / "7f0000000000-7f0000020000").unlink()
    fresh = Symbolizer(proc=proc)
    assert fresh.user(9, [0x7F0000001044]) == [Frame("", "/opt/lib.so", 0x1044, "unknown")]
    assert any("cannot read /opt/lib.so of pid 9" in n for n in fresh.notes)


def test_rust_binary_if_rustc(tmp_path: Path) -> None:
    rustc = shutil.which("rustc") or str(Path.home() / ".cargo/bin/rustc")
    if not os.access(rustc, os.X_OK):
        pytest.skip("rustc not installed (optional: Rust names are covered by test_demangle)")
    src = tmp_path / "app.rs"
    src.write_text("#[inline(never)] pub fn crunch(x: u64) -> u64 { x.wrapping_mul(31) ^ 7 }\n"
                   "fn main() { let f = std::hint::black_box(crunch as fn(u64) -> u64);\n"
                   "            println!(\"{}\", f(3)); }\n")
    exe = tmp_path / "app"
    subprocess.run([rustc, "-O", "-C", "symbol-mangling-version=v0", "-o", str(exe), str(src)], check=True,
                   capture_output=True)
    elf = ElfSymbols.from_path(exe)
    nm = subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    addr = next(int(line.split()[0], 16) for line in nm.splitlines() if line.endswith("6crunch"))
    hit = elf.lookup(addr + 1)
    assert hit is not None and hit[0] == "app::crunch" and hit[1] == 1
