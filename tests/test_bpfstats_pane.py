"""The bpf pane driven with the pilot (no root, no BPF): tables, history, own rows, Enter screens."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Log

from bpftop.app import BpftopApp
from bpftop.collectors.bpfstats import BpfstatsSample
from bpftop.collectors.bpfstats_detail import MapContents, ProgramDetail
from bpftop.frame import CollectorStatus, Frame
from bpftop.panes.bpfstats import BpfstatsPane, MapTable
from bpftop.panes.bpfstats_detail import MapScreen, ProgramScreen
from bpftop.panes.header import Readout
from bpftop.record.source import RecordingSource
from bpftop.record.writer import RecordingWriter
from tests.fakes import HOST, FakeSource
from tests.test_bpfstats_units import bpf_map, prog

SIZE = (100, 30)


class FakeBpfSource(FakeSource):
    """Three programs (one bpftop's own, one busy) and two maps; answers detail queries."""

    live = True

    def __init__(self) -> None:
        super().__init__(delay_s=0.05)
        self.options: list[tuple[str, object]] = []
        self.queries: list[tuple[str, int]] = []

    def set_option(self, name: str, value: object) -> None:
        self.options.append((name, value))

    def query(self, collector: str, kind: str, obj_id: int) -> object:
        assert collector == "bpfstats"
        self.queries.append((kind, obj_id))
        if kind == "prog":
            plain = ("int p(void * ctx):", "   0: (b7) r0 = 0", "   1: (95) exit")
            linum = ("int p(void * ctx):", "; return 0; [file:p.c line_num:3 line_col:2]")
            return ProgramDetail(obj_id, "p", plain, linum, (), True)
        return MapContents(obj_id, "m", (('{"k": 1}', '{"v": 2}'),), True, False, False)

    def tick(self) -> Frame:
        frame = super().tick()
        n = self.ticks
        progs = (
            prog(10, 100 * n, 1_000 * n),
            prog(20, 5_000 * n, 50_000_000 * n, tag="bb"),  # 5% of a CPU, 10 us a run
            prog(30, 10 * n, 100 * n, own=True),
        )
        sample = BpfstatsSample(int(n * 1e9), progs, (bpf_map(7, 50), bpf_map(8, 10)), "BPF_ENABLE_STATS")
        return dataclasses.replace(
            frame,
            ts_ns=int(n * 1e9),
            samples={**frame.samples, "bpfstats": sample},
            status=(*frame.status, CollectorStatus("bpfstats", True, method="task_file iterator")),
        )


async def wait_until(pilot: Pilot, condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await pilot.pause(0.02)


async def started(pilot: Pilot) -> BpfstatsPane:
    app = pilot.app
    assert isinstance(app, BpftopApp)
    await wait_until(pilot, lambda: app.frames_applied >= 3)
    await pilot.pause()
    return app.screen.query_one("#bpf", BpfstatsPane)


def make_app(source: FakeBpfSource) -> BpftopApp:
    return BpftopApp(source, pane="bpf", panes=("procs", "bpf"))  # type: ignore[arg-type]


async def test_programs_by_cpu_maps_by_memory_and_stats_cost_said() -> None:
    source = FakeBpfSource()
    async with make_app(source).run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        assert pane.table.keys[0] == "20"  # the busiest first
        assert pane.table.get_cell("20", "cpu").strip() == "5.00"
        assert pane.table.get_cell("20", "avg").strip() == "10us"
        assert pane.table.get_cell("20", "events").strip() == "5000"
        assert pane.table.get_cell("30", "name").strip() == "* p30"
        assert sorted(pane.query_one(MapTable).keys) == ["7", "8"]
        stats = str(pane.query_one(".stats", Readout).content)
        assert "BPF stats on" in stats and "cost every BPF program" in stats and "one CPU" in stats
        assert ("visible_pane", "bpf") in source.options
        history = str(pane.query_one(".history", Readout).content)
        assert history.startswith("p20 (20)") and "CPU%" in history and "events/s" in history


async def test_o_hides_own_rows_and_w_moves_to_maps() -> None:
    async with make_app(FakeBpfSource()).run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        assert "30" in pane.table.keys
        await pilot.press("o")
        await pilot.pause()
        assert "30" not in pane.table.keys
        await pilot.press("w")
        assert pane.query_one(MapTable).has_focus
        maps = pane.query_one(MapTable)
        assert maps.keys == ["7", "8"]  # same memlock: by id
        await pilot.press("m", "m")  # -> OWNERS (a tie), then ID, largest first
        await pilot.pause()
        assert maps.keys == ["8", "7"]
        assert "ID▼" in maps.columns[0].label


async def test_enter_opens_program_and_map_screens() -> None:
    source = FakeBpfSource()
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProgramScreen))
        log = app.screen.query_one(Log)
        await wait_until(pilot, lambda: "(95) exit" in "\n".join(log.lines))
        assert source.queries == [("prog", 20)]
        await pilot.press("l")
        await wait_until(pilot, lambda: "line_num:3" in "\n".join(log.lines))
        await pilot.press("escape", "w", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MapScreen))
        log = app.screen.query_one(Log)
        await wait_until(pilot, lambda: 'key: {"k": 1}  value: {"v": 2}' in "\n".join(log.lines))


class ReplayLikeSource(FakeBpfSource):
    """The same frames from a source that cannot ask the kernel (as a replay)."""

    live = False


async def test_program_screen_says_a_replay_cannot_read_the_kernel() -> None:
    app = make_app(ReplayLikeSource())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProgramScreen))
        log = app.screen.query_one(Log)
        await wait_until(pilot, lambda: "not available in a replay" in "\n".join(log.lines))


async def test_program_screen_reads_through_the_recorder(tmp_path: Path) -> None:
    source = FakeBpfSource()
    writer = RecordingWriter(str(tmp_path / "r.bpfrec"), host=HOST, collectors=["bpfstats"], delay_s=0.05)
    app = make_app(RecordingSource(source, writer))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProgramScreen))
        log = app.screen.query_one(Log)
        await wait_until(pilot, lambda: "(95) exit" in "\n".join(log.lines))
    assert source.queries == [("prog", 20)]
    assert ("visible_pane", "bpf") in source.options  # settings pass through the recorder too
    # ... but for syscall timing: a replay of the recording may show any pane's latency.
    assert [v for k, v in source.options if k == "syscall_latency"] == []
