"""The stacks pane and its flame graph, driven with the pilot at 80x24 (no root, no BPF)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from bpftop.app import BpftopApp
from bpftop.collectors.stacks import StackCount, StackLosses, StacksSample
from bpftop.derive.stacks import FlameNode, StackRow, build_tree
from bpftop.frame import CollectorStatus, Frame, ProcMeta
from bpftop.panes.flamegraph import MARK_MATCH, MARK_SELECTED, FlameGraph, layout
from bpftop.panes.header import Readout
from bpftop.panes.process import ProcessScreen
from bpftop.panes.stacks import StacksPane, StacksScreen
from tests.fakes import FakeSource

SIZE = (80, 24)
CPU = (  # per tick
    (500, "spin", ("main", "spin_hot"), "uu", 30),
    (500, "spin", ("main", "spin_cold", "lib_spin"), "uuu", 10),
    (501, "sh", ("main", "read", "entry_SYSCALL_64", "ksys_read"), "uukk", 10),
)
OFF = ((500, "spin", ("main", "nanosleep", "do_nanosleep", "schedule"), "uukk", 100_000_000),)


class FakeStacksSource(FakeSource):
    """FakeSource's frames plus a stacks sample (or its load error)."""

    def __init__(self, failed: bool = False, while_shown: bool = False) -> None:
        super().__init__(delay_s=0.05)
        self.failed_stacks = failed
        self.while_shown = while_shown  # the profile paused at times (another pane was shown)

    def tick(self) -> Frame:
        frame = super().tick()
        n = self.ticks
        if self.failed_stacks:
            status = CollectorStatus("stacks", False, error="perf_event_open: EACCES", hint="run as root")
            return dataclasses.replace(frame, status=(*frame.status, status))
        sample = StacksSample(
            ts_ns=n * 10**9,
            freq_hz=49,
            min_block_ns=1000,
            cpu=tuple(StackCount(p, c, f, k, v * n, 0) for p, c, f, k, v in CPU),
            off=tuple(StackCount(p, c, f, k, n, ns * n) for p, c, f, k, ns in OFF),
            cpu_losses=StackLosses(events=50 * n, user_collided=2),
            cpu_while_shown=self.while_shown,
            off_while_shown=self.while_shown,
        )
        procs = dict(frame.procs) | {500: ProcMeta(500, user="root", name="spin", cmdline="./spin")}
        return dataclasses.replace(
            frame,
            samples={**frame.samples, "stacks": sample},
            procs=procs,
            status=(*frame.status, CollectorStatus("stacks", True, method="perf_event+tp_btf")),
        )


async def wait_until(pilot: Pilot, condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await pilot.pause(0.02)


def make_app(source: FakeStacksSource | None = None) -> BpftopApp:
    return BpftopApp(source or FakeStacksSource(), pane="stacks", panes=("procs", "stacks"))  # type: ignore[arg-type]


async def started(pilot: Pilot) -> StacksPane:
    app = pilot.app
    assert isinstance(app, BpftopApp)
    await wait_until(pilot, lambda: app.frames_applied >= 2)
    await pilot.pause()
    return app.screen.query_one(StacksPane)


def lines(flame: FlameGraph) -> list[str]:
    return [flame.render_line(y).text for y in range(flame.size.height)]


def title(pane: StacksPane) -> str:
    return str(pane.query_one(".flame-title", Readout).content)


def test_layout_tiles_children_by_share() -> None:
    rows = [StackRow(1, "a", ("main", "hot"), "uu", 75, 75), StackRow(1, "a", ("main", "cold"), "uu", 25, 25)]
    main = build_tree(rows, by_process=False).children["main"]
    spans = layout(main, 80)
    assert [(s.x, s.width, s.node.name) for s in spans[1]] == [(0, 60, "hot"), (60, 20, "cold")]
    assert layout(FlameNode("all", "r"), 80) == []
    tiny = [*rows, StackRow(1, "a", ("main", "rare"), "uu", 1, 1)]
    assert "rare" not in [s.node.name for s in layout(build_tree(tiny, False).children["main"], 40)[1]]


async def test_icicle_at_80x24_with_top_functions() -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        flame = pane.flame
        assert flame.has_focus
        text = lines(flame)
        assert text[0].startswith(MARK_SELECTED + "all")  # the root, selected, full width
        assert "spin (500)" in text[1] and "sh (501)" in text[1]
        assert "spin_hot" in text[3] and "spin_cold" in text[3]
        assert title(pane).startswith("CPU stacks since start") and "49 Hz" in title(pane)
        assert pane.table.keys[0] == "main"  # heaviest total first
        assert pane.table.get_cell("spin_hot", "total").strip() == "60.0"
        assert pane.table.get_cell("spin_hot", "self").strip() == "60.0"
        assert pane.table.get_cell("ksys_read", "kind").strip() == "kernel"
        assert "user collided 2" in str(pane.query_one(".pane-summary", Readout).content)


async def test_title_says_the_counts_cover_only_the_time_on_screen() -> None:
    # Stacks are sampled only while shown in the dashboard: "since start" would mislead.
    async with make_app(FakeStacksSource(while_shown=True)).run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        assert title(pane).startswith("CPU stacks while on screen")
        await pilot.press("c")
        await wait_until(pilot, lambda: title(pane).startswith("off-CPU stacks while on screen"))


async def test_the_flame_graph_is_built_off_the_event_loop() -> None:
    # Up to 4,000 stacks a tick: the sampling thread builds both modes' trees
    # (registry Pane.prepare); the pane only shows them (issue 21, move 5).
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        derived = app.derived
        assert derived is not None and {"flame:cpu:0", "flame:off:0"} <= derived.joins.keys()
        assert pane.flame.root is derived.joins["flame:cpu:0"]


async def test_arrows_enter_and_escape_zoom() -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        flame = pane.flame
        await pilot.press("down", "down", "down")
        assert flame.selected.name == "spin_hot"
        await pilot.press("right")
        assert flame.selected.name == "spin_cold"
        assert "spin_cold [user] 20.0%" in str(pane.query_one(".flame-selected", Readout).content)
        await pilot.press("enter")
        assert flame.zoom.name == "spin_cold"
        assert lines(flame)[0].startswith(MARK_SELECTED + "spin_cold")
        assert "lib_spin" in lines(flame)[1]
        assert "zoom spin (500) > main > spin_cold" in title(pane)
        await pilot.press("up")  # the zoomed frame is the top: up stays
        assert flame.selected.name == "spin_cold"
        await pause_for_ticks(pilot, 2)  # refreshes keep zoom and selection
        assert flame.zoom.name == "spin_cold" and flame.selected.name == "spin_cold"
        await pilot.press("escape")
        assert flame.zoom.name == "main"
        await pilot.press("escape", "escape", "escape")
        assert flame.zoom.name == "all"
        assert isinstance(pilot.app.screen, type(pane.screen))  # Esc at the root does not leave


async def pause_for_ticks(pilot: Pilot, n: int) -> None:
    app = pilot.app
    assert isinstance(app, BpftopApp)
    target = app.frames_applied + n
    await wait_until(pilot, lambda: app.frames_applied >= target)
    await pilot.pause()


async def test_search_highlights_and_shows_the_share() -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        await pilot.press("/")
        await pilot.press(*"spin_")
        await pilot.press("enter")
        assert pane.flame.search == "spin_"
        assert pane.flame.has_focus
        assert "'spin_' 80.0%" in title(pane)  # spin_hot 60 + spin_cold 20 of 100
        assert any(MARK_MATCH + "spin_hot" in line for line in lines(pane.flame))
        assert pane.table.row_count > 1  # the table filter was not touched
        await pilot.press("escape")
        assert pane.flame.search == "" and "'spin_'" not in title(pane)


async def test_switch_to_off_cpu_and_table_enter_searches() -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        await pilot.press("c")
        assert title(pane).startswith("off-CPU stacks") and "blocks" in title(pane)
        assert "do_nanosleep" in pane.table.keys
        assert any("nanosleep" in line for line in lines(pane.flame))
        await pilot.press("t")
        assert pane.table.has_focus
        pane.table.move_cursor(pane.table.keys.index("do_nanosleep"))
        await pilot.press("enter")
        assert pane.flame.search == "do_nanosleep" and pane.flame.has_focus
        assert "100.0%" in title(pane)


async def test_no_color_marks_selection_and_matches_with_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        assert pilot.app.no_color
        pane.flame.set_search("lib")
        await pilot.press("down")
        text = lines(pane.flame)
        assert text[1].startswith(MARK_SELECTED + "spin (500)")
        assert any(MARK_MATCH + "lib_spin" in line for line in text)
        assert all("▏" in line for line in text[2:4])  # boxes are separated without colour


async def test_failed_collector_shows_why() -> None:
    async with make_app(FakeStacksSource(failed=True)).run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        assert pane.has_class("-failed")
        assert "EACCES" in str(pane.query_one(".pane-error").render())


async def test_process_screen_opens_its_stacks() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.push_screen(ProcessScreen(500))
        await pilot.pause()
        under = app.shown_pane
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, StacksScreen))
        await wait_until(pilot, lambda: app.shown_pane == "stacks")  # off-CPU stacks are taken now
        pane = app.screen.query_one(StacksPane)
        await pause_for_ticks(pilot, 1)
        assert "of pid 500" in title(pane)
        assert pane.flame.root.children and "spin (500)" not in pane.flame.root.children  # no process level
        assert "sh" not in " ".join(lines(pane.flame)) and "spin_hot" in " ".join(lines(pane.flame))
        await pilot.press("escape")
        assert isinstance(app.screen, ProcessScreen)
        await wait_until(pilot, lambda: app.shown_pane == under)  # and the pane under comes back
        assert under


def test_stacks_frames_record_and_replay_unchanged() -> None:
    """A recording keeps symbolized stacks: frames round-trip through the codec, delta-encoded."""
    from bpftop.record.codec import decode_frame, encode_frame

    source = FakeStacksSource()
    frames = [source.tick() for _ in range(3)]
    prev_in: Frame | None = None
    prev_out: Frame | None = None
    for frame in frames:
        body = encode_frame(frame, prev_in)
        decoded, _ = decode_frame(body, prev_out)
        assert decoded.samples["stacks"] == frame.samples["stacks"]
        prev_in, prev_out = frame, decoded


async def test_process_stacks_without_the_collector_say_why() -> None:
    app = BpftopApp(FakeSource(), pane="procs", panes=("procs",))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.frames_applied >= 2)
        app.push_screen(StacksScreen(100))
        await wait_until(pilot, lambda: isinstance(app.screen, StacksScreen))
        await pause_for_ticks(pilot, 1)
        assert "stacks collector is not loaded" in title(app.screen.query_one(StacksPane))
