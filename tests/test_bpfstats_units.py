"""The bpf pane's pure parts (no root): derive, batch, owners from a fake /proc,
the statistics switch's sysctl fallback, and the disassembler on crafted code."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from bpftop.batch.bpfstats import json_section, text_section
from bpftop.batch.common import Rows
from bpftop.bpf import bpfstats_enable
from bpftop.bpf.bpfstats_enable import StatsEnabler
from bpftop.bpf.disasm import Disassembler, Kallsyms, dump_xlated
from bpftop.collectors.bpfstats import BpfstatsSample, MapRow, ProgRow
from bpftop.collectors.bpfstats_owners import OwnerScanner
from bpftop.derive.bpfstats import derive_view


def prog(
    pid: int, run_cnt: int, run_time_ns: int, *, misses: int = 0, tag: str = "aa", own: bool = False
) -> ProgRow:
    return ProgRow(
        id=pid, type="tracing", name=f"p{pid}", tag=tag, loaded_at=100.0, uid=0, xlated_bytes=80,
        jited_bytes=60, memlock_bytes=4096, map_ids=(7,), btf_id=3, verified_insns=10, gpl=True,
        run_time_ns=run_time_ns, run_cnt=run_cnt, recursion_misses=misses,
        owners=((42, "tool"),), own=own,
    )  # fmt: skip


def bpf_map(map_id: int, entries: int, max_entries: int = 100) -> MapRow:
    return MapRow(
        id=map_id, type="hash", name=f"m{map_id}", flags=0, key_size=4, value_size=8,
        max_entries=max_entries, entries=entries, entries_capped=False, memlock_bytes=8192,
        btf_id=0, owners=((42, "tool"),), own=False,
    )  # fmt: skip


def sample(ts_s: float, progs: tuple[ProgRow, ...], maps: tuple[MapRow, ...] = ()) -> BpfstatsSample:
    return BpfstatsSample(int(ts_s * 1e9), progs, maps, stats_method="BPF_ENABLE_STATS")


@pytest.mark.parametrize(
    ("before", "after", "interval_s", "expect"),
    [
        # runs, time: 1000 runs of 500 ns in 2 s -> 500/s, avg 500 ns, CPU 0.025 %
        ((10, 5_000), (1010, 505_000), 2.0, (1000, 500.0, 500.0, 0.025)),
        # no run in the interval: no average, zero rates
        ((10, 5_000), (10, 5_000), 1.0, (0, None, 0.0, 0.0)),
        # reloaded under the same id (counters restarted): the new totals are the interval
        ((5000, 9_000_000), (20, 40_000), 1.0, (20, 2000.0, 20.0, 0.004)),
    ],
)
def test_program_rates(before, after, interval_s, expect) -> None:
    prev = sample(0, (prog(1, *before),))
    cur = sample(interval_s, (prog(1, *after),))
    view = derive_view(prev, cur, interval_s, {}, None)
    p = view.by_id[1]
    runs, avg, per_s, cpu = expect
    assert (p.runs, p.avg_ns, p.events_per_s) == (runs, avg, per_s)
    assert p.cpu_pct == pytest.approx(cpu)
    assert p.avg_total_ns == pytest.approx(after[1] / after[0])


def test_rates_span_the_samples_own_interval() -> None:
    # A hidden bpf pane rescans only every few seconds (the collector hands the same
    # sample back in between): rates must be over the samples' times, not the frame's.
    prev = sample(5, (prog(1, 10, 5_000),))
    cur = sample(15, (prog(1, 1010, 505_000),))
    p = derive_view(prev, cur, 1.0, {}, None).by_id[1]
    assert (p.runs, p.events_per_s, p.cpu_pct) == (1000, 100.0, pytest.approx(0.005))
    again = derive_view(cur, cur, 1.0, {}, None).by_id[1]
    assert again.events_per_s is None and again.cpu_pct is None  # no new scan: no interval


def test_first_frame_and_new_programs_have_no_rates() -> None:
    view = derive_view(None, sample(1, (prog(1, 10, 1000),)), None, {}, None)
    assert view.by_id[1].events_per_s is None and view.by_id[1].runs == 10
    prev = sample(0, ())
    view = derive_view(prev, sample(1, (prog(2, 10, 1000),)), 1.0, {}, None)
    assert view.by_id[2].cpu_pct is None  # loaded during the interval: its totals are not a rate


def test_maps_fill_users_and_comm_filter() -> None:
    import re

    cur = sample(1, (prog(1, 1, 1), prog(2, 1, 1)), (bpf_map(7, 25), bpf_map(8, -1)))
    view = derive_view(None, cur, None, {}, None)
    assert view.maps_by_id[7].fill_pct == 25.0 and view.maps_by_id[7].prog_ids == (1, 2)
    assert view.maps_by_id[8].fill_pct is None
    assert view.progs[0].owners == "tool(42)"
    assert derive_view(None, cur, None, {}, re.compile("nomatch")).progs == ()
    assert len(derive_view(None, cur, None, {}, re.compile("^p2$")).progs) == 1


def test_batch_json_and_text() -> None:
    view = derive_view(
        sample(0, (prog(1, 0, 0),)),
        sample(1, (prog(1, 100, 20_000, own=True),), (bpf_map(7, 3),)),
        1.0,
        {},
        None,
    )
    record = json_section(view, "bpf")
    json.dumps(record)
    assert record["stats"] == "BPF_ENABLE_STATS"
    first = record["progs"][0]
    assert (first["runs"], first["events_per_s"], first["avg_run_ns"], first["own"]) == (
        100,
        100.0,
        200.0,
        True,
    )
    assert record["maps"][0]["entries"] == 3 and record["maps"][0]["fill_pct"] == 3.0
    texts = [str(part) for part in text_section(view, "bpf", Rows(10)) if isinstance(part, str)]
    assert texts[0].startswith("BPF stats on (BPF_ENABLE_STATS)") and "CPU% is of one CPU" in texts[0]


def test_owners_from_a_fake_proc(tmp_path: Path) -> None:
    tree = {
        10: {"3": ("anon_inode:bpf-prog", "prog_id:\t77\n"), "4": ("anon_inode:bpf-map", "map_id:\t5\n")},
        11: {"0": ("/dev/null", ""), "9": ("anon_inode:bpf_link", "link_id:\t1\nprog_id:\t77\n")},
    }
    for pid, fds in tree.items():
        (tmp_path / str(pid) / "fd").mkdir(parents=True)
        (tmp_path / str(pid) / "fdinfo").mkdir()
        (tmp_path / str(pid) / "comm").write_text(f"c{pid}\n")
        for fd, (target, info) in fds.items():
            os.symlink(target, tmp_path / str(pid) / "fd" / fd)
            (tmp_path / str(pid) / "fdinfo" / fd).write_text(info)
    owners = OwnerScanner(str(tmp_path)).scan()
    assert owners.progs == {77: {10, 11}}
    assert owners.maps == {5: {10}}
    assert owners.comms == {10: "c10", 11: "c11"}


class _NoStatsLib:
    def bpf_enable_stats(self, _type: int) -> int:
        return -22  # EINVAL: a kernel before 5.8


def test_sysctl_fallback_is_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bpfstats_enable, "lib", _NoStatsLib)
    sysctl = tmp_path / "bpf_stats_enabled"
    sysctl.write_text("0\n")
    stats = StatsEnabler(sysctl)
    assert stats.enable() and stats.method == "sysctl"
    assert sysctl.read_text() == "1\n"
    stats.disable()
    assert sysctl.read_text() == "0\n" and not stats.enabled
    sysctl.write_text("1\n")  # someone else turned them on: leave it so
    assert stats.enable() and stats.method == "already on"
    stats.disable()
    assert sysctl.read_text() == "1\n"


def test_sysctl_fallback_failure_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bpfstats_enable, "lib", _NoStatsLib)
    stats = StatsEnabler(tmp_path / "missing")
    assert not stats.enable()
    assert "BPF_ENABLE_STATS failed" in stats.error and "missing" in stats.error


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


@pytest.mark.parametrize(
    ("words", "text"),
    [
        ((0x18, 1, 0, 0, 0x55667788), "(18) r1 = 0x1122334455667788"),
        ((0x18, 2, 1, 0, 33), "(18) r2 = map[id:33]"),
        ((0x18, 3, 2, 0, 34), "(18) r3 = map[id:34][0]+16"),
        ((0xDB, 1, 2, -8, 0x01), "(db) r2 = atomic64_fetch_add((u64 *)(r1 -8), r2)"),
        ((0xC3, 1, 2, 4, 0x00), "(c3) lock *(u32 *)(r1 +4) += r2"),
        ((0xDB, 1, 3, 0, 0xF1), "(db) r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r3)"),
        ((0x16, 1, 0, -3, -1), "(16) if w1 == 0xffffffff goto pc-3"),
        ((0x5D, 1, 2, 7, 0), "(5d) if r1 != r2 goto pc+7"),
        ((0x06, 0, 0, 0, 40), "(06) gotol pc+40"),
        ((0xBF, 1, 2, 8, 0), "(bf) r1 = (s8)r2"),
        ((0xBF, 0, 0, -1, 0), "(bf) r0 = &(void __percpu *)(r0)"),
        ((0x3F, 1, 2, 1, 0), "(3f) r1 s/= r2"),
        ((0xD7, 1, 0, 0, 16), "(d7) r1 = bswap16 r1"),
        ((0xDC, 1, 0, 0, 32), "(dc) r1 = be32 r1"),
        ((0x91, 1, 2, 2, 0), "(91) r1 = *(s8 *)(r2 +2)"),
        ((0x84, 3, 0, 0, 0), "(84) w3 = -w3"),
        ((0x85, 0, 0, 0, 1), "(85) call bpf_map_lookup_elem#1"),
        ((0x95, 0, 0, 0, 0), "(95) exit"),
    ],
)
def test_instruction_text(words: tuple[int, int, int, int, int], text: str) -> None:
    code, dst, src, off, imm = words
    next_imm = {0x55667788: 0x11223344, 34: 16}.get(imm, 0) if code == 0x18 else 0
    assert Disassembler(None).insn(code, (src << 4) | dst, off, imm, next_imm) == text


def test_helper_named_from_kallsyms_and_numbered_lines(tmp_path: Path) -> None:
    kallsyms = tmp_path / "kallsyms"
    kallsyms.write_text("ffffffff81000000 T __bpf_call_base\nffffffff81000100 T bpf_ktime_get_ns\n")
    code = insn(0x85, imm=0x100) + insn(0x18, 1, imm=5) + insn(0, imm=1) + insn(0x95)
    lines = dump_xlated(code, ksyms=Kallsyms(kallsyms))
    assert lines == ["   0: (85) call bpf_ktime_get_ns#256", "   1: (18) r1 = 0x100000005", "   3: (95) exit"]


def test_no_rates_until_both_readings_had_statistics_on() -> None:
    # The kernel counts runs only while statistics are on: the interval in
    # which they came on counted part of it (issue 16: 239 events/s, then 80k/s).
    off = BpfstatsSample(0, (prog(1, 0, 0),), (), stats_method="")
    on = sample(1.0, (prog(1, 239, 50_000),))
    later = sample(2.0, (prog(1, 80_239, 16_050_000),))
    first = derive_view(off, on, 1.0, {}, None).by_id[1]
    assert (first.events_per_s, first.avg_ns, first.cpu_pct) == (None, None, None)
    assert first.run_cnt_total == 239  # what the kernel counted so far stays shown
    second = derive_view(on, later, 1.0, {}, None).by_id[1]
    assert second.events_per_s == 80_000.0 and second.avg_ns == 200.0
