"""The process screen driven with the pilot: every collector's section, fed by a fake (no root, no BPF)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from bpftop.app import BpftopApp
from bpftop.panes.histogram import LatencyHistogram
from bpftop.panes.main import MainScreen
from bpftop.panes.process import SECTIONS, ProcessScreen
from bpftop.panes.process_tables import ProcessSyscallsPane
from bpftop.panes.stacks import StacksScreen
from bpftop.panes.table import TablePane
from bpftop.record.reader import Recording
from bpftop.record.replay import ReplaySource
from bpftop.record.writer import RecordingWriter
from tests.fakes import HOST
from tests.fakes_all import COLLECTORS, AllCollectorsSource
from tests.test_app_pilot import keys, started, text_of, wait_until

ALL_PANES = ("procs", "syscalls", "biolat", "runqlat", "tcp", "pmc", "stacks")


def make_app(source: AllCollectorsSource | ReplaySource, pane: str = "procs") -> BpftopApp:
    return BpftopApp(source, pane=pane, panes=ALL_PANES)  # type: ignore[arg-type]


def screen_lines(app: BpftopApp) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def section_text(screen: ProcessScreen, name: str) -> str:
    """Every line of text the section shows: its readouts, table cells and histogram title."""
    widget = screen.query_one(f"#{name}")
    parts = [str(s.content) for s in widget.query(Static) if s.display]
    if isinstance(widget, TablePane):
        table = widget.table
        parts += [" ".join(table.get_cell(k, c.key) for c in table.columns) for k in table.keys]
    parts += [h.render().plain for h in widget.query(LatencyHistogram)]
    return "\n".join(parts)


async def open_process(pilot: Pilot, pid: int) -> ProcessScreen:
    """From the procs pane (sorted by CPU %: 200, 100, 300, 400), Enter on ``pid``."""
    app = await started(pilot, frames=3)
    table = app.screen.query_one("#procs", TablePane).table
    await wait_until(pilot, lambda: table.keys[:2] == ["200", "100"])
    await pilot.press(*["down"] * table.keys.index(str(pid)), "enter")
    screen = app.screen
    assert isinstance(screen, ProcessScreen) and screen.pid == pid
    await wait_until(pilot, lambda: screen.data.seen == {"syscalls", *COLLECTORS})
    return screen


async def select(pilot: Pilot, screen: ProcessScreen, name: str) -> str:
    await pilot.press(str(list(SECTIONS).index(name) + 1))
    assert screen.section == name
    await pilot.pause()
    return section_text(screen, name)


async def test_every_section_shows_the_process_at_80x24() -> None:
    source = AllCollectorsSource()
    app = make_app(source)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_process(pilot, 100)
        await wait_until(pilot, lambda: source.focus_calls == [100])
        identity = text_of(screen.query_one("#identity", Static))
        assert "PID 100" in identity and "USER www-data" in identity and "running" in identity
        assert "CMD /usr/bin/nginx --serve" in identity
        assert "CGROUP /system.slice/docker-3f2a" in identity and "CONTAINER docker 3f2a9c1b7d4e" in identity
        overview = section_text(screen, "overview")
        for expected in (
            "20.0% on-CPU",
            "1000 calls/s",
            "20 err/s",
            "150 IO/s",
            "2 conns",
            "200.0ms/s",
            "epoll_wait",
        ):
            assert expected in overview, overview
        cpu = await select(pilot, screen, "cpu")
        assert "on-CPU 20.0%" in cpu and "off-CPU 70.0%" in cpu and "150/s voluntary" in cpu
        assert "nginx (100) run-queue wait, last interval: n=300" in cpu
        syscalls = screen.query_one(ProcessSyscallsPane)
        await select(pilot, screen, "syscalls")
        assert keys(syscalls) == ["read", "write"] and syscalls.table.has_focus
        await wait_until(
            pilot, lambda: "read, pid 100, last interval: n=600" in section_text(screen, "syscalls")
        )
        await select(pilot, screen, "disk")
        disk = screen.query_one("#disk", TablePane).table
        assert list(disk.keys) == ["vda write", "vda read"]
        cells = [disk.get_cell("vda read", c) for c in ("iops", "mbs", "avg")]
        assert cells == ["120", "0.49", "200us"]
        assert "all disks: 2.46 MB/s · 150 I/Os in the interval" in section_text(screen, "disk")
        tcp = await select(pilot, screen, "tcp")
        assert keys(screen.query_one("#tcp", TablePane)) == ["1", "2"]
        assert "10.0.0.9:51000" in tcp and "10.0.0.8:50999" in tcp  # live, and recently closed
        pmc = await select(pilot, screen, "pmc")
        assert "no PMU" in pmc and "200.0ms/s" in pmc and "300/s" in pmc
        stacks = await select(pilot, screen, "stacks")
        assert keys(screen.query_one("#stacks", TablePane))[:2] == ["epoll_wait", "ngx_http_handler"]
        assert "CPU stacks since start" in stacks
        await pilot.press("c")
        await wait_until(pilot, lambda: keys(screen.query_one("#stacks", TablePane))[0] == "schedule")
        await pilot.press("enter")  # the flame graph of the process
        await wait_until(pilot, lambda: isinstance(app.screen, StacksScreen))
        assert app.screen.pid == 100  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert app.screen is screen
        lines = screen_lines(app)
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert "[7 stacks]" in lines[5]
        assert ("visible_pane", "process") in source.options[-2:]  # pmc and off-CPU stacks count for it
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await wait_until(pilot, lambda: source.focus_calls == [100, 0])
        assert ("visible_pane", "procs") in source.options[-2:]  # the pane under it again


async def test_tab_and_shift_tab_switch_sections() -> None:
    app = make_app(AllCollectorsSource())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_process(pilot, 200)
        seen = [screen.section]
        for _ in SECTIONS:
            await pilot.press("tab")
            seen.append(screen.section)
        assert seen == [*SECTIONS, "overview"]
        await pilot.press("shift+tab")
        assert screen.section == "stacks"
        await pilot.press("2", "J", "K")  # the histogram scrolls, nothing breaks
        assert screen.section == "cpu"


async def test_a_collector_that_failed_or_is_not_loaded_says_why() -> None:
    source = AllCollectorsSource(failed=("pmc",), absent=("tcp",))
    app = make_app(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, frames=3)
        await pilot.press("down", "enter")
        screen = app.screen
        assert isinstance(screen, ProcessScreen) and screen.pid == 100
        await pilot.pause()
        tabs = text_of(screen.query_one("#sections", Static))
        assert "5 tcp(off)" in tabs and "6 pmc(off)" in tabs and "4 disk " in tabs
        overview = section_text(screen, "overview")
        assert "PMC      pmc collector not loaded: pmc: not supported here — see bpftop check" in overview
        assert "TCP      tcp collector not loaded (start without --pane" in overview
        assert "150 IO/s" in overview  # the others run
        assert "pmc collector not loaded: pmc: not supported here" in await select(pilot, screen, "pmc")
        assert "tcp collector not loaded" in await select(pilot, screen, "tcp")
        assert keys(screen.query_one("#tcp", TablePane)) == []
        assert "vda read" in await select(pilot, screen, "disk")


async def test_exited_process_keeps_its_last_data_in_every_section() -> None:
    source = AllCollectorsSource()
    app = make_app(source)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_process(pilot, 100)
        await select(pilot, screen, "syscalls")
        source.kill(100)
        gone_at_ns = (source.ticks + 3) * 1_000_000_000  # reported exited for two ticks, then gone
        await wait_until(pilot, lambda: app.derived is not None and app.derived.ts_ns > gone_at_ns)
        assert 100 not in app.derived.procs and "runqlat" in app.derived.views  # type: ignore[union-attr]
        identity = text_of(screen.query_one("#identity", Static))
        assert "STATE exited (last data " in identity and "nginx --serve" in identity
        assert keys(screen.query_one(ProcessSyscallsPane)) == ["read", "write"]
        assert "on-CPU 20.0%" in await select(pilot, screen, "cpu")
        await select(pilot, screen, "tcp")
        assert keys(screen.query_one("#tcp", TablePane)) == ["1", "2"]  # as last seen
        await select(pilot, screen, "disk")
        assert keys(screen.query_one("#disk", TablePane)) == ["vda write", "vda read"]
        assert "200.0ms/s" in await select(pilot, screen, "pmc")
        await select(pilot, screen, "stacks")
        assert "epoll_wait" in keys(screen.query_one("#stacks", TablePane))
        overview = await select(pilot, screen, "overview")
        assert "no " not in overview.replace("no stacks", ""), overview  # no section lost its data


async def test_richer_at_160x48() -> None:
    app = make_app(AllCollectorsSource())
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_process(pilot, 100)
        assert not screen.query_one("#pinned").display  # the overview section is on show
        overview = [" ".join(line.split()) for line in section_text(screen, "overview").splitlines()]
        for detail in (
            "read 600/s 0 err/s avg 1.02us max 4.1us",  # its busiest syscalls
            "32us-64us 300 100.0%",  # its run-queue histogram
            "vda read 120 IO/s 0.49 MB/s avg 200us",
            "443 > 10.0.0.9:51000 ESTAB TX 19.5K/s RX 4.9K/s retr 0 rtt 250us",
            "off-CPU 100.0% self 100.0% total schedule",
        ):
            assert any(line.startswith(detail) for line in overview), (detail, overview)
        await select(pilot, screen, "tcp")
        pinned = screen.query_one("#pinned", Static)
        assert pinned.display and "CPU      20.0% on-CPU" in text_of(pinned)
        table = screen.query_one("#tcp", TablePane).table
        assert [c.key for c in table.columns if c.width] == [
            "local", "lport", "remote", "state", "tx", "rx", "tx_total", "rx_total", "retrans", "rtt",
        ]  # fmt: skip
        lines = screen_lines(app)
        assert len(lines) == 48 and "10.0.0.1:443" in "\n".join(lines)


@pytest.mark.parametrize("pane", ["runqlat", "biolat", "tcp", "pmc"])
async def test_enter_on_a_process_row_opens_it_from_any_pane(pane: str) -> None:
    app = make_app(AllCollectorsSource(), pane=pane)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, frames=3)
        if pane == "biolat":
            await pilot.press("w")  # to the per-process table
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProcessScreen))
        assert app.screen.pid in (100, 200)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames of every collector; the process screen of pid 100 open from frame 10."""
    path = tmp_path_factory.mktemp("process") / "all.bpfrec"
    source = AllCollectorsSource(delay_s=1.0)
    writer = RecordingWriter(str(path), host=HOST, collectors=["syscalls", *COLLECTORS], delay_s=1.0)
    for index in range(30):
        if index == 10:
            source.set_focus(100)
        writer.append(source.tick())
    writer.close()
    return path


async def test_replay_shows_the_same_screen(recording: Path) -> None:
    source = ReplaySource(Recording(recording), playing=False)
    app = make_app(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, frames=1)
        await pilot.press("right_curly_bracket")  # to the end: the focus histograms were recorded
        await wait_until(pilot, lambda: app.derived is not None and app.derived.ts_ns == 30 * 1_000_000_000)
        table = app.screen.query_one("#procs", TablePane).table
        await pilot.press(*["down"] * table.keys.index("100"), "enter")
        screen = app.screen
        assert isinstance(screen, ProcessScreen) and screen.pid == 100
        await pilot.pause()
        assert "20.0% on-CPU" in section_text(screen, "overview") and "2 conns" in section_text(
            screen, "overview"
        )
        assert "CONTAINER docker 3f2a9c1b7d4e" in text_of(screen.query_one("#identity", Static))
        syscalls = await select(pilot, screen, "syscalls")
        assert "read, pid 100, last interval: n=600" in syscalls
        assert "on-CPU 20.0%" in await select(pilot, screen, "cpu")
        await pilot.press("escape", "left_curly_bracket")  # back to frame 1: no focus recorded there
        await wait_until(pilot, lambda: app.derived is not None and app.derived.ts_ns == 1_000_000_000)
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, ProcessScreen)
        syscalls = await select(pilot, screen, "syscalls")
        assert "not recorded" in syscalls


@pytest.mark.parametrize("section", ["overview", "cpu", "syscalls", "tcp", "pmc", "stacks"])
async def test_frames_repaint_the_process_screen_without_laying_out(section: str) -> None:
    """A frame repaints in place (a layout of the whole screen per tick was most of a frame's cost)."""
    app = make_app(AllCollectorsSource())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_process(pilot, 100)
        await select(pilot, screen, section)
        seen = app.frames_applied
        await wait_until(pilot, lambda: app.frames_applied >= seen + 3)  # histograms reach their height
        layouts: list[object] = []
        screen.screen_layout_refresh_signal.subscribe(app, layouts.append, immediate=True)
        seen = app.frames_applied
        await wait_until(pilot, lambda: app.frames_applied >= seen + 5)
        await pilot.pause()
        assert layouts == []
