"""The stacks model without BPF: map decoding, totals, flame tree, top functions, search share."""

from __future__ import annotations

import errno
import struct

import pytest

from bpftop.collectors import stacks as stacks_mod
from bpftop.collectors.stacks import StackCount, StackLosses, StacksSample, _Totals
from bpftop.collectors.stacks_frames import lookup_addrs, lost_frame, resolve_frames
from bpftop.collectors.stacks_reader import KEY, VAL, decode_counts, decode_stack
from bpftop.derive.stacks import StackRow, build_tree, derive_stacks, folded_lines, match_share, top_functions
from bpftop.frame import ProcMeta
from bpftop.symbols import Frame


def row(frames: str, value: int, pid: int = 1, comm: str = "app", kinds: str = "") -> StackRow:
    names = tuple(frames.split(";")) if frames else ()
    return StackRow(pid, comm, names, kinds or "u" * len(names), value, value)


ROWS = [
    row("main;spin_hot", 60),
    row("main;spin_cold;lib_spin", 20),
    row("main;spin_hot;memcpy", 15),
    row("main;recurse;recurse;recurse", 5),
]


def test_decode_counts_and_stacks() -> None:
    keys = KEY.pack(42, 7, -errno.EFAULT, 0, b"spin\0") + KEY.pack(43, -1, 9, 0, b"kworker/0:1")
    values = VAL.pack(5, 0) + VAL.pack(1, 1234)
    rows = decode_counts(keys, values)
    assert [(r.tgid, r.user_stack_id, r.kern_stack_id, r.comm, r.events, r.total_ns) for r in rows] == [
        (42, 7, -14, "spin", 5, 0),
        (43, -1, 9, "kworker/0:1", 1, 1234),
    ]
    value = struct.pack("<4Q", 0x1000, 0x2000, 0, 0) + bytes(8 * 123)
    assert decode_stack(value) == [0x1000, 0x2000]
    assert decode_stack(struct.pack("<2Q", 1, 2)) == [1, 2]  # a full stack has no zero
    assert lookup_addrs([0x1000, 0x2000, 0x3000]) == [0x1000, 0x1FFF, 0x2FFF]


def test_resolve_frames_root_first_and_tracing_frames_trimmed() -> None:
    leaf_first = [
        Frame("bpf_prog_abc_sched_switch_btf", "[bpf]", 0, "jit"),
        Frame("bpf_trace_run4", "[kernel]", 0, "kernel"),
        Frame("__traceiter_sched_switch", "[kernel]", 0, "kernel"),
        Frame("__schedule", "[kernel]", 0, "kernel"),
        Frame("", "/usr/bin/app", 0x40, "unknown"),
        Frame("do_nanosleep", "[kernel]", 0, "kernel"),
    ]
    frames, kinds = resolve_frames(leaf_first, kernel=True)
    assert frames == ("do_nanosleep", "app+0x40", "__schedule")
    assert kinds == "k?k"
    # User stacks keep every frame, unknown ones as module+offset.
    frames, kinds = resolve_frames(leaf_first[:2])
    assert frames == ("bpf_trace_run4", "bpf_prog_abc_sched_switch_btf") and kinds == "kj"
    # Addresses outside any file lose their meaningless offsets (and stop making stacks distinct).
    junk = [Frame("", "[unknown]", 0x696A383967, "unknown"), Frame("", "[heap]", 0xDE2DF, "unknown")]
    assert resolve_frames([*junk, Frame("", "[kernel]", 0xFFFF0010, "unknown")])[0] == (
        "[kernel]+0xffff0010",
        "[heap]",
        "[unknown]",
    )
    assert lost_frame(-errno.EEXIST, "user") == (("[user stack collided]",), "?")
    assert lost_frame(-errno.ENOMEM, "kernel") == (("[kernel stack missing]",), "?")


def test_totals_accumulate_and_fold_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stacks_mod, "MAX_ROWS", 2)
    totals = _Totals()
    totals.add(1, "a", (("main", "f"), "uu"), 3, 0)
    totals.add(1, "a", (("main", "f"), "uu"), 2, 10)
    totals.add(2, "b", (("main",), "u"), 1, 0)
    totals.add(3, "c", (("main", "g"), "uu"), 4, 0)  # a third distinct stack: folded
    snap = {(s.pid, s.frames): (s.events, s.total_ns) for s in totals.snapshot()}
    assert snap[(1, ("main", "f"))] == (5, 10)
    assert snap[(3, (stacks_mod.OVERFLOW_FRAME,))] == (4, 0)
    assert totals.overflow == 4


def test_exited_processes_stacks_are_summed_by_name() -> None:
    totals = _Totals()
    for pid in (10, 11, 12):  # three short-lived shells, the same stacks
        totals.add(pid, "sh", (("main", "wait4"), "uk"), 2, 100)
        totals.add(pid, "sh", (("main", "read"), "uk"), 1, 50)
    totals.add(20, "app", (("main", "wait4"), "uk"), 5, 500)
    totals.fold({10, 11})
    totals.fold({12, 99})  # 99: never seen
    snap = {(s.pid, s.comm, s.frames): (s.events, s.total_ns) for s in totals.snapshot()}
    exited = stacks_mod.EXITED_PID
    assert snap == {
        (20, "app", ("main", "wait4")): (5, 500),
        (exited, "sh", ("main", "wait4")): (6, 300),
        (exited, "sh", ("main", "read")): (3, 150),
    }
    totals.add(10, "sh", (("main", "wait4"), "uk"), 1, 7)  # a new process with a reused pid
    totals.fold({10})
    assert {s.frames: s.events for s in totals.snapshot() if s.pid == exited}[("main", "wait4")] == 7
    tree = build_tree(derive_stacks(None, StacksSample(1, 49, 1000, (), totals.snapshot()), None, {}).off)
    assert tree.children["sh (exited)"].value == 300 + 150 + 7


def test_build_tree_values_and_self() -> None:
    root = build_tree(ROWS)
    assert root.value == 100
    proc = root.children["app (1)"]
    main = proc.children["main"]
    assert main.value == 100 and main.self_value == 0
    hot = main.children["spin_hot"]
    assert (hot.value, hot.self_value) == (75, 60)
    assert [c.name for c in main.sorted_children()] == ["spin_hot", "spin_cold", "recurse"]
    assert main.find(("spin_cold", "lib_spin")) is not None
    assert hot.children["memcpy"].path() == ("app (1)", "main", "spin_hot", "memcpy")
    assert "main" in build_tree(ROWS, by_process=False).children


def test_top_functions_self_and_total_count_recursion_once() -> None:
    top = {f.name: f for f in top_functions(ROWS)}
    assert top["main"].total_pct == pytest.approx(100.0) and top["main"].self_pct == 0
    assert top["spin_hot"].total_pct == pytest.approx(75.0)
    assert top["spin_hot"].self_pct == pytest.approx(60.0)
    assert top["recurse"].total_pct == pytest.approx(5.0)  # three frames deep, counted once
    assert top["recurse"].self_pct == pytest.approx(5.0)
    assert next(iter(top)) == "main"  # heaviest total first
    assert top_functions([]) == []


def test_match_share_counts_nested_matches_once() -> None:
    root = build_tree(ROWS)
    assert match_share(root, "SPIN") == pytest.approx(95.0)  # spin_hot 75 + spin_cold 20
    assert match_share(root, "memcpy") == pytest.approx(15.0)
    assert match_share(root, "nothing") == 0.0
    assert match_share(root, "") == 0.0


def test_folded_lines_merge_and_escape() -> None:
    rows = [*ROWS, row("main;spin_hot", 1, pid=2), row("a;b", 3, comm="x;y"), row("", 2, comm="idle")]
    lines = folded_lines(rows)
    assert "app;main;spin_hot 61" in lines  # two processes of the same name merge
    assert "x:y;a;b 3" in lines
    assert "idle;[no stack] 2" in lines
    assert lines[0] == "app;main;spin_hot 61"
    assert folded_lines(rows) == lines  # folded again from the memo (issue 23): the same
    nameless = [row("a", 1, comm="", pid=7), row("a", 1, comm="", pid=8), row("a", 1, comm=" ", pid=9)]
    for _ in range(2):
        assert sorted(folded_lines(nameless)) == ["_;a 1", "pid 7;a 1", "pid 8;a 1"]
    assert folded_lines(nameless, with_process=False) == ["a 3"]


def sample(n: int, error: str = "") -> StacksSample:
    return StacksSample(
        ts_ns=n * 10**9,
        freq_hz=49,
        min_block_ns=1000,
        cpu=(StackCount(1, "app", ("main", "spin"), "uu", 49 * n, 0),),
        off=(StackCount(1, "", ("main", "nanosleep"), "uk", n, n * 500_000_000),),
        cpu_losses=StackLosses(events=98 * n, user_collided=n),
        off_error=error,
    )


def test_derive_view_values_rates_and_drops() -> None:
    procs = {1: ProcMeta(1, name="app-from-proc")}
    view = derive_stacks(sample(1), sample(3), 2.0, procs)
    assert view.rows("cpu") == (StackRow(1, "app", ("main", "spin"), "uu", 147, 147),)
    off = view.rows("off")[0]
    assert (off.comm, off.value, off.events) == ("app-from-proc", 1_500_000_000, 3)
    assert view.cpu_samples_per_s == pytest.approx(98.0)
    assert view.off_ns_per_s == pytest.approx(500_000_000)
    assert view.drops["cpu_user_collided"] == 3 and "cpu_events" not in view.drops
    assert view.rows("cpu", pid=2) == ()
    first = derive_stacks(None, sample(1, error="no perf events"), None, procs)
    assert first.cpu_samples_per_s is None and first.off_error == "no perf events"
    import re

    assert derive_stacks(None, sample(1), None, procs, re.compile("^zzz")).cpu == ()


def test_tree_keeps_the_heaviest_stacks_and_sums_the_rest() -> None:
    rows = [row(f"main;f{i}", 100 - i) for i in range(10)]
    root = build_tree(rows, by_process=False, limit=3)
    assert root.value == sum(r.value for r in rows)
    assert set(root.children["main"].children) == {"f0", "f1", "f2"}
    assert root.children["[smaller stacks]"].value == sum(100 - i for i in range(3, 10))


def test_freq_option_reaches_the_collector() -> None:
    """``--freq`` travels as an engine option, heeded before open; no module-wide setting."""
    from bpftop.cli import build_parser
    from bpftop.collectors.pmc import PmcCollector
    from bpftop.commands.options import collector_options

    args = build_parser().parse_args(["--freq", "99", "--pmc-events", "cycles,task-clock"])
    options = collector_options(args)
    assert options == {"stacks_freq_hz": 99, "pmc_events": ("cycles", "task-clock")}
    stacks, pmc = stacks_mod.StacksCollector(), PmcCollector()
    for name, value in options.items():
        stacks.set_option(name, value)
        pmc.set_option(name, value)
    assert stacks.freq_hz == 99
    assert pmc._names == ("cycles", "task-clock")
    assert stacks_mod.StacksCollector().freq_hz == stacks_mod.DEFAULT_FREQ_HZ  # nothing left behind
    assert collector_options(build_parser().parse_args([])) == {}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--freq", "0"])


def test_batch_says_off_cpu_stacks_were_not_taken_and_how_to_get_them() -> None:
    """Batch output of every pane leaves off-CPU stacks out: an empty table would read as 'none'."""
    import io

    from rich.console import Console

    from bpftop.batch.common import Rows
    from bpftop.batch.stacks import OFF_PAUSED, json_section, text_section

    view = derive_stacks(None, StacksSample(1, 49, 1000, (), (), off_paused=True), None, {})
    out = io.StringIO()
    for part in text_section(view, None, Rows(5)):
        Console(file=out, width=200).print(part)
    assert f"Off-CPU stacks: {OFF_PAUSED}" in out.getvalue()
    assert "--pane stacks" in OFF_PAUSED
    record = json_section(view, None)
    assert record["off"]["paused"] is True and record["cpu"]["paused"] is False
