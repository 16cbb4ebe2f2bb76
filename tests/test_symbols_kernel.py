"""Kernel symbolization: /proc/kallsyms symbols, [bpf] programs, kptr_restrict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bpftop.symbols import Frame, Symbolizer
from bpftop.symbols.kallsyms import KernelSymbols

FAKE = """\
ffffffff81000000 T _stext
ffffffff81000000 T startup_64
ffffffff81000100 t helper_one
ffffffff81000180 D some_data
ffffffff81000200 W weak_fn
ffffffff81000300 T _etext
ffffffffc0001000 t mod_fn\t[mymod]
ffffffffc0001040 T mod_fn2\t[mymod]
ffffffffc0020000 t bpf_prog_0123456789abcdef_my_prog\t[bpf]
"""


def kallsyms_lines() -> list[tuple[int, str, str]]:
    rows = []
    for line in Path("/proc/kallsyms").read_text().splitlines():
        parts = line.split()
        rows.append((int(parts[0], 16), parts[1], parts[2]))
    return rows


def visible() -> bool:
    return any(addr for addr, _t, _n in kallsyms_lines()[:100])


def test_fake_kallsyms_text_modules_bpf_and_gaps(tmp_path: Path) -> None:
    path = tmp_path / "kallsyms"
    path.write_text(FAKE)
    frames = Symbolizer(kallsyms=path).kernel([
        0xFFFFFFFF81000104, 0xFFFFFFFF81000190, 0xFFFFFFFF81000200, 0xFFFFFFFF81000400,
        0xFFFFFFFFC0001044, 0xFFFFFFFFC0020010, 0x1000,
    ])
    assert frames == [
        Frame("helper_one", "[kernel]", 4, "kernel"),
        Frame("helper_one", "[kernel]", 0x90, "kernel"),  # data symbols are not text: skipped
        Frame("weak_fn", "[kernel]", 0, "kernel"),
        Frame("", "[kernel]", 0xFFFFFFFF81000400, "unknown"),  # past _etext: in no function
        Frame("mod_fn2", "[mymod]", 4, "kernel"),
        Frame("bpf_prog_0123456789abcdef_my_prog", "[bpf]", 0x10, "kernel"),
        Frame("", "[kernel]", 0x1000, "unknown"),
    ]
    assert frames[3].label() == "[kernel]+0xffffffff81000400"


def test_kptr_restrict_note_when_addresses_are_zero(tmp_path: Path) -> None:
    zeroed = tmp_path / "kallsyms"
    zeroed.write_text(re.sub(r"^[0-9a-f]+", "0" * 16, FAKE, flags=re.MULTILINE))
    level = tmp_path / "kptr_restrict"
    level.write_text("1\n")
    ks = KernelSymbols(zeroed, level)
    frame = ks.lookup([0xFFFFFFFF81000104])[0]
    assert frame == Frame("", "[kernel]", 0xFFFFFFFF81000104, "unknown")
    assert ks.hidden
    assert ks.note.startswith("kptr_restrict hides kernel addresses")
    assert "kernel.kptr_restrict=1" in ks.note
    sym = Symbolizer(kallsyms=zeroed)
    sym.kernel([1])
    assert any(n.startswith("kptr_restrict hides kernel addresses") for n in sym.notes)


def test_unreadable_kallsyms_is_a_note(tmp_path: Path) -> None:
    sym = Symbolizer(kallsyms=tmp_path / "missing")
    assert sym.kernel([0xFFFFFFFF81000000]) == [Frame("", "[kernel]", 0xFFFFFFFF81000000, "unknown")]
    assert any("cannot read" in n for n in sym.notes)


def test_real_kallsyms_known_symbol() -> None:
    if not visible():
        pytest.skip("kallsyms addresses hidden (kptr_restrict, not root)")
    addr = next(a for a, t, n in kallsyms_lines() if n == "do_sys_openat2" and t in "tT")
    sym = Symbolizer()
    assert sym.kernel([addr + 4, addr]) == [
        Frame("do_sys_openat2", "[kernel]", 4, "kernel"),
        Frame("do_sys_openat2", "[kernel]", 0, "kernel"),
    ]
    assert sym.notes == ()


@pytest.mark.bpf("syscalls")
def test_bpf_program_loaded_after_first_read() -> None:
    from bpftop.bpf.object import BpfObject

    if Path("/proc/sys/net/core/bpf_jit_kallsyms").read_text().strip() != "1":
        pytest.skip("net.core.bpf_jit_kallsyms=0: BPF programs are not in kallsyms")
    sym = Symbolizer(kernel_reload_s=0)
    sym.kernel([0xFFFFFFFF81000000])  # the table is read before the program exists
    with BpfObject.open("syscalls") as obj:
        assert obj.program_ids()
        names = ("_sys_enter_btf", "_sys_enter_raw", "_sys_enter_tp")
        ours = [(a, n) for a, _t, n in kallsyms_lines() if n.endswith(names)]
        assert ours, "the loaded program is not in /proc/kallsyms"
        # Other processes may load (and unload) the same program meanwhile;
        # ours is one of these and stays loaded while the object is open.
        frames = sym.kernel([addr + 8 for addr, _name in ours])
        assert any(f == Frame(name, "[bpf]", 8, "kernel") for f, (_a, name) in zip(frames, ours, strict=True))
        assert all(name.startswith("bpf_prog_") for _a, name in ours)


def test_real_kallsyms_every_50th_text_symbol() -> None:
    if not visible():
        pytest.skip("kallsyms addresses hidden (kptr_restrict, not root)")
    rows = [r for r in kallsyms_lines() if r[1] in "tT" and r[2] != "_etext"]
    names_at: dict[int, set[str]] = {}
    for addr, _t, name in rows:
        names_at.setdefault(addr, set()).add(name)
    sample = rows[::50]
    frames = Symbolizer().kernel([a + 1 for a, _t, _n in sample])
    for (addr, _t, _name), frame in zip(sample, frames, strict=True):
        # Aliases share an address; a symbol may also start right at addr + 1.
        ok = (frame.name in names_at[addr] and frame.offset == 1) or (
            frame.name in names_at.get(addr + 1, ()) and frame.offset == 0)
        assert ok or _name.startswith("bpf_"), (hex(addr), _name, frame)  # BPF text comes and goes


@pytest.mark.bpf("syscalls")
def test_bpf_text_is_reread_only_when_programs_change() -> None:
    # Every stack through a BPF program (bpftop's own sched_switch and profile
    # programs are on most) made the table re-read all of /proc/kallsyms
    # (~5 MB, 40 ms of CPU) every 5 s; 235 ms when a miss forced a full load
    # (issue 23). The set of loaded program ids is a cheap test of whether any came or went.
    from bpftop.bpf.object import BpfObject

    if Path("/proc/sys/net/core/bpf_jit_kallsyms").read_text().strip() != "1":
        pytest.skip("net.core.bpf_jit_kallsyms=0: BPF programs are not in kallsyms")
    with BpfObject.open("syscalls") as first:
        assert first.program_ids()
        ours = [a for a, _t, n in kallsyms_lines() if n.endswith("_sys_enter_btf")]
        sym = KernelSymbols(reload_interval_s=0)
        sym.lookup([ours[0] + 8])
        reads = sym.reads
        assert reads == 1  # the ids came with the first read: no second one for a BPF frame (~60 ms)
        for _ in range(5):  # other tests' and helpers' programs may come and go: allow one
            sym.lookup([ours[0] + 8])
        assert sym.reads <= reads + 1
        with BpfObject.open("syscalls"):  # a new program: read again, and it is named
            new = [a for a, _t, n in kallsyms_lines() if n.endswith("_sys_enter_btf") and a not in ours]
            frames = sym.lookup([a + 8 for a in new])
            assert any(f.module == "[bpf]" and f.offset == 8 for f in frames)
