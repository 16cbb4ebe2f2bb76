"""The dashboard driven with Textual's pilot, fed by a fake source (no root, no BPF)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, Input, Static

from bpftop.app import BpftopApp, FrameReady
from bpftop.derive import derive
from bpftop.panes.header import StatusHeader, TooSmallScreen
from bpftop.panes.help import HelpScreen
from bpftop.panes.histogram import HistogramBox, LatencyHistogram
from bpftop.panes.main import MainScreen
from bpftop.panes.messages import OpenProcess
from bpftop.panes.process import ProcessScreen, ProcessSyscallsPane
from bpftop.panes.syscalls import SyscallsPane
from bpftop.panes.table import TablePane
from tests.fakes import FakeSource

SIZE = (80, 24)


async def wait_until(pilot: Pilot, condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await pilot.pause(0.02)


async def started(pilot: Pilot, frames: int = 2) -> BpftopApp:
    """Wait until rates exist (two frames)."""
    app = pilot.app
    assert isinstance(app, BpftopApp)
    await wait_until(pilot, lambda: app.frames_applied >= frames)
    await pilot.pause()
    return app


def pane(app: BpftopApp, name: str = "procs") -> TablePane:
    return app.screen.query_one(f"#{name}", TablePane)


def keys(table_pane: TablePane) -> list[str]:
    return list(table_pane.table.keys)


def text_of(widget: Static) -> str:
    return str(widget.content)


def header_text(app: BpftopApp) -> str:
    return text_of(app.screen.query_one(StatusHeader))


def make_app(source: FakeSource | None = None, **kwargs: object) -> BpftopApp:
    return BpftopApp(source or FakeSource(delay_s=0.1), **kwargs)  # type: ignore[arg-type]


async def test_q_quits_and_closes_source_once() -> None:
    source = FakeSource(delay_s=0.1)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert source.close_calls == 1
    app.close_source()  # the caller closing again is harmless
    assert source.close_calls == 1


async def test_help_lists_keys_and_closes() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for closer in ("escape", "q", "question_mark"):
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            text = text_of(app.screen.query_one(Static))
            for expected in ("quit", "sort by the next column", "space/p", "1/2/3", "filter rows", "+", "-"):
                assert expected in text
            await pilot.press(closer)
            assert isinstance(app.screen, MainScreen)
        assert app.is_running


async def test_help_lists_the_shown_panes_own_keys_first() -> None:
    app = make_app(panes=("procs", "bpf"), pane="bpf")
    async with app.run_test(size=(100, 60)) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        text = text_of(app.screen.query_one(Static))
        assert text.startswith("this pane")
        pane_keys = text.split("\n\n")[0]
        for expected in ("w ", "move between the programs and maps tables", "o ", "m "):
            assert expected in pane_keys
        assert "Scroll Left" not in text  # Textual's own scroll keys stay out


async def test_tab_and_numbers_switch_panes() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        switcher = app.screen.query_one(ContentSwitcher)
        assert switcher.current == "procs"
        await pilot.press("tab")
        assert switcher.current == "syscalls"
        assert "[2 syscalls]" in header_text(app)
        await pilot.press("tab")
        assert switcher.current == "procs"
        await pilot.press("2")
        assert switcher.current == "syscalls"
        assert keys(pane(app, "syscalls"))[:2] == ["read", "write"]
        await pilot.press("1")
        assert switcher.current == "procs"
        await pilot.press("5")  # tcp: not implemented, a notice and no change
        assert switcher.current == "procs"


async def test_single_pane_start() -> None:
    app = make_app(pane="syscalls", panes=("syscalls",))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.screen.query_one(ContentSwitcher).current == "syscalls"
        await pilot.press("1")
        await pilot.press("tab")
        assert app.screen.query_one(ContentSwitcher).current == "syscalls"


async def test_sort_keys_change_row_order() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        procs = pane(app)
        assert keys(procs) == ["100", "200", "300", "400"]  # SYSC/s, largest first
        await pilot.press("s")  # ERR/s
        assert procs.sort_column.key == "errors"
        assert keys(procs) == ["200", "100", "400", "300"]
        assert procs.table.cursor_key == "200"  # an untouched cursor stays on the top row
        await pilot.press("less_than_sign")  # back to SYSC/s
        assert keys(procs) == ["100", "200", "300", "400"]
        await pilot.press("less_than_sign")  # COMMAND, A to Z
        assert keys(procs) == ["400", "300", "100", "200"]
        await pilot.press("greater_than_sign")
        assert procs.sort_column.key == "calls"
        assert [c.label for c in procs.table.columns if c.key == "calls"] == ["SYSC/s▼"]


async def test_r_reverses_and_cursor_follows_pid() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        procs = pane(app)
        await pilot.press("down")
        assert procs.table.cursor_key == "200"
        await pilot.press("r")
        assert keys(procs) == ["400", "300", "200", "100"]
        assert procs.table.cursor_key == "200"
        await wait_until(pilot, lambda: app.frames_applied >= 4)
        assert procs.table.cursor_key == "200"


async def test_keys_typed_in_a_burst_after_slash_all_go_to_the_filter() -> None:
    # Issue 17: "/7318" pasted (or typed over a laggy SSH) arrives as one read:
    # the keys after "/" were queued before the filter took focus, and went
    # to the table (panes 7, 3, 1, 8). Post them all before any is handled.
    from textual import events

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        procs = pane(app)
        shown = app.screen.current  # type: ignore[attr-defined]
        for key, char in (("slash", "/"), *((c, c) for c in "7318")):
            app.post_message(events.Key(key, char))
        await pilot.pause()
        assert procs.query_one(Input).value == "7318"
        assert app.screen.current == shown  # type: ignore[attr-defined]


async def test_filter_opens_filters_and_closes() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        procs = pane(app)
        field = procs.query_one(Input)
        assert not field.display
        await pilot.press("slash")
        assert field.display and field.has_focus
        await pilot.press(*"post")
        assert keys(procs) == ["200"]
        await pilot.press("escape")
        assert not field.display
        assert keys(procs) == ["100", "200", "300", "400"]
        await pilot.press("slash", *"root")  # user
        assert keys(procs) == ["300", "400"]
        await pilot.press("enter")  # keep the filter, back to the table
        assert procs.table.has_focus
        await wait_until(pilot, lambda: app.frames_applied >= 4)
        assert keys(procs) == ["300", "400"]
        assert "filter 'root'" in text_of(procs.query_one(".pane-summary", Static))
        await pilot.press("escape")
        assert len(keys(procs)) == 4


async def test_pause_stops_applying_frames() -> None:
    source = FakeSource(delay_s=0.1)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for key in ("space", "p"):
            await pilot.press(key)
            assert app.paused
            assert "PAUSED" in header_text(app)
            frozen, ticks = app.derived, source.ticks
            await wait_until(pilot, lambda ticks=ticks: source.ticks >= ticks + 3)
            assert app.derived is frozen
            await pilot.press(key)
            assert not app.paused
            assert app.derived is not frozen  # the newest frame at once
            assert "PAUSED" not in header_text(app)


async def test_plus_minus_change_interval() -> None:
    source = FakeSource(delay_s=0.1)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert "every 0.1s" in header_text(app)
        await pilot.press("minus")
        assert app.delay_s == pytest.approx(0.2)
        assert source.delay_s == pytest.approx(0.2)
        assert "every 0.2s" in header_text(app)
        await pilot.press("minus", "minus")
        assert app.delay_s == pytest.approx(0.5)
        await pilot.press("plus")
        assert app.delay_s == pytest.approx(0.25)
        assert "every 0.25s" in header_text(app)
        await pilot.press("plus", "plus", "plus", "plus")
        assert app.delay_s == pytest.approx(0.05)  # the lower bound, as -d's (issue 17: one range)


async def test_delay_is_bounded() -> None:
    app = make_app(FakeSource(delay_s=0.01))
    assert app.delay_s == pytest.approx(0.05)
    app = make_app(FakeSource(), delay_s=60.0)  # in -d's range: kept (the keys once stopped at 10 s)
    assert app.delay_s == pytest.approx(60.0)
    app = make_app(FakeSource(), delay_s=7200.0)
    assert app.delay_s == pytest.approx(3600.0)


async def test_enter_opens_process_screen_and_focuses() -> None:
    source = FakeSource(delay_s=0.1)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, ProcessScreen)
        screen = app.screen
        assert screen.pid == 100
        await wait_until(pilot, lambda: source.focus_calls == [100])
        identity = text_of(screen.query_one("#identity", Static))
        assert "PID 100" in identity and "www-data" in identity and "running" in identity
        assert "/usr/bin/nginx --serve" in identity
        await pilot.press("3")  # the syscalls section
        table_pane = screen.query_one(ProcessSyscallsPane)
        assert keys(table_pane) == ["read", "write"]
        histogram = table_pane.query_one(LatencyHistogram)
        await wait_until(pilot, lambda: "read, pid 100" in histogram.title_line())
        await wait_until(pilot, lambda: "n=600" in histogram.title_line())
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await wait_until(pilot, lambda: source.focus_calls == [100, 0])


async def test_exited_process_stays_on_its_screen() -> None:
    source = FakeSource(delay_s=0.1)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("down", "down", "enter")
        screen = app.screen
        assert isinstance(screen, ProcessScreen) and screen.pid == 300
        source.kill(300)
        identity = screen.query_one("#identity", Static)
        await wait_until(pilot, lambda: "exited" in text_of(identity))
        gone_at_ns = (source.ticks + 3) * 1_000_000_000  # reported exited for two ticks, then gone
        await wait_until(pilot, lambda: app.derived is not None and app.derived.ts_ns > gone_at_ns)
        assert 300 not in app.derived.procs
        assert "exited" in text_of(identity)
        await pilot.press("3")  # the syscalls section, not shown when the process exited
        assert keys(screen.query_one(ProcessSyscallsPane)) == ["futex"]  # its last data


async def test_rows_updated_in_place() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        table = pane(app).table
        counts = set()
        seen = app.frames_applied
        while app.frames_applied < seen + 4:
            counts.add(table.row_count)
            await pilot.pause(0.01)
        assert counts == {4}
        assert pane(app).table is table
        assert table.get_cell("100", "calls") == "1000"
        assert table.get_cell("200", "errno") == "openat:ENOENT"


@pytest.mark.parametrize("pane_name", ["procs", "syscalls"])
async def test_frames_repaint_without_laying_out(pane_name: str) -> None:
    """A frame repaints in place: a layout of the whole screen per tick was most of its cost."""
    source = FakeSource(delay_s=0.1)
    app = make_app(source, pane=pane_name)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, frames=3)
        layouts: list[object] = []
        app.screen.screen_layout_refresh_signal.subscribe(app, layouts.append, immediate=True)
        source.kill(400)  # a process exits: rows and summaries change, sizes do not
        seen = app.frames_applied
        await wait_until(pilot, lambda: app.frames_applied >= seen + 5)
        await pilot.pause()
        assert layouts == []
        if pane_name == "procs":
            assert keys(pane(app)) == ["100", "200", "300"]
            assert text_of(pane(app).query_one(".pane-summary", Static)).startswith("3 rows")


async def test_syscalls_pane_histogram_and_drops() -> None:
    app = make_app(pane="syscalls")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        syscalls = app.screen.query_one(SyscallsPane)
        histogram = syscalls.query_one(LatencyHistogram)
        assert histogram.title_line().startswith("read, last interval: n=800")
        rendered = str(histogram.render())
        assert "512ns-1.02us" in rendered and "█" in rendered and "%" in rendered
        await pilot.press("down")
        assert histogram.title_line().startswith("write, last interval: n=410")
        assert "unmatched exits 3" in text_of(syscalls.query_one(".drops", Static))
        await pilot.press("slash", *"op")
        assert keys(syscalls) == ["openat"]


async def test_j_k_scroll_a_tall_histogram() -> None:
    app = make_app(pane="syscalls")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        syscalls = app.screen.query_one(SyscallsPane)
        await pilot.press("down", "down", "down")
        box = syscalls.query_one(HistogramBox)
        histogram = box.query_one(LatencyHistogram)
        assert histogram.title_line().startswith("futex")
        await pilot.pause()
        assert box.max_scroll_y > 0  # 12 slots do not fit in half the pane
        await pilot.press("J")
        assert box.scroll_y > 0
        await pilot.press("K")
        assert box.scroll_y == 0
        assert syscalls.table.has_focus


async def test_too_small_terminal() -> None:
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        notice = app.screen.query_one("#too-small", Static)
        assert text_of(notice) == "terminal too small: need 80x24, have 60x20"
        await pilot.press("question_mark")  # keys other than q do nothing meanwhile
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.resize_terminal(79, 30)
        assert text_of(notice) == "terminal too small: need 80x24, have 79x30"
        await pilot.resize_terminal(80, 24)
        assert isinstance(app.screen, MainScreen)
        await started(pilot)
        assert keys(pane(app)) == ["100", "200", "300", "400"]


async def test_failed_collector_shows_error_in_pane() -> None:
    app = make_app(FakeSource(delay_s=0.1, failed=True))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, frames=1)
        for name in ("procs", "syscalls"):
            await pilot.press("tab")
            error = pane(app, name).query_one(".pane-error", Static)
            assert error.display and not pane(app, name).table.display
            assert text_of(error) == (
                "syscalls collector not loaded: tracepoint raw_syscalls/sys_enter not found"
                " — mount tracefs at /sys/kernel/tracing"
            )
        assert "syscalls: FAILED" in header_text(app)


async def test_no_color_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    assert app.no_color
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("space")
        assert "PAUSED" in header_text(app)  # a word, not a colour


def test_frame_ready_replaces_only_frames() -> None:
    source = FakeSource()
    derived = derive(None, source.tick())
    assert FrameReady(derived).can_replace(FrameReady(derived))
    assert not FrameReady(derived).can_replace(OpenProcess(1))


async def test_only_the_shown_panes_views_are_derived() -> None:
    # Deriving every collector's view each tick for panes nobody looks at cost
    # CPU for nothing (issue 23): the sampling thread derives the views the pane on
    # screen and the header need; another pane's are derived when it is shown.
    from tests.fakes_all import AllCollectorsSource

    app = BpftopApp(AllCollectorsSource(), panes=("procs", "syscalls", "stacks"))
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, 3)
        views = app.derived.views  # type: ignore[union-attr]
        assert {"syscalls", "runqlat", "stacks"} <= set(views)
        done = views.derived()  # type: ignore[attr-defined]
        assert {"syscalls", "runqlat"} <= done and "stacks" not in done
        await pilot.press("8")  # the stacks pane
        await wait_until(pilot, lambda: "stacks" in app.derived.views.derived())  # type: ignore[union-attr]
        assert pane(app, "stacks").table.row_count > 0


async def test_layout_is_drawn_while_the_collectors_load() -> None:
    # Loading the BPF objects took 3.6-8.6 s on a loaded machine before anything
    # was drawn (issue 23): the sampling thread now opens them after the first frame.
    import threading

    loaded = threading.Event()
    opened: list[str] = []

    def opener() -> bool:
        opened.append(threading.current_thread().name)
        loaded.wait(10)
        return True

    app = BpftopApp(FakeSource(), opener=opener)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: opened)
        await pilot.pause()
        assert opened != [threading.main_thread().name]
        assert app.frames_applied == 0
        assert "loading collectors" in str(pane(app).query_one(".pane-summary", Static).render())
        loaded.set()
        await started(pilot, 1)


async def test_nothing_loaded_ends_the_app() -> None:
    app = BpftopApp(FakeSource(), opener=lambda: False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.nothing_running)
    assert app.return_code == 1 and app.frames_applied == 0


async def test_the_rest_loads_after_the_first_frame() -> None:
    # The shown pane's collectors load first and their rows are drawn; the others
    # (the stacks collector reads every binary's symbols on its first tick) after.
    import threading

    rest_called = threading.Event()
    ticks_before_rest: list[int] = []
    source = FakeSource()

    def rest() -> None:
        ticks_before_rest.append(source.ticks)
        rest_called.set()

    app = BpftopApp(source, opener=lambda: True, open_rest=rest)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, rest_called.is_set)
        await started(pilot, 2)
    assert ticks_before_rest == [1]  # once, right after the first frame


async def test_syscalls_are_timed_only_while_latency_is_on_screen() -> None:
    # Timing a syscall costs a second BPF program on every call (issue 24): the
    # app asks for it only where latency shows: the syscalls pane, a process's
    # screen, and the procs pane from 100 columns (SYS LAT).
    from tests.fakes_all import AllCollectorsSource

    source = AllCollectorsSource()

    def told() -> object:
        return next((v for k, v in reversed(source.options) if k == "syscall_latency"), None)

    app = BpftopApp(source, panes=("procs", "syscalls"))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, 1)
        assert told() is False
        await pilot.press("2")
        await wait_until(pilot, lambda: told() is True)
        await pilot.press("1")
        await wait_until(pilot, lambda: told() is False)
        await pilot.resize_terminal(120, 30)
        await wait_until(pilot, lambda: told() is True)
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: told() is False)
        await pilot.press("enter")  # a process's screen shows its syscalls' latency
        await wait_until(pilot, lambda: told() is True)
        await pilot.press("escape")
        await wait_until(pilot, lambda: told() is False)
    assert [v for k, v in source.options if k == "syscall_latency"] == [
        False,
        True,
        False,
        True,
        False,
        True,
        False,
    ]
