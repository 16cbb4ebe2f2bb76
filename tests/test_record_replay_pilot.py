"""The dashboard replaying a recording, driven with the pilot (no root, no BPF)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from bpftop.app import BpftopApp
from bpftop.derive import derive
from bpftop.frame import Frame
from bpftop.panes.help import HelpScreen
from bpftop.panes.timeline import GoToScreen, Timeline
from bpftop.record.reader import Recording
from bpftop.record.replay import ReplaySource
from bpftop.record.writer import RecordingWriter
from tests.fakes import HOST, FakeSource
from tests.test_app_pilot import SIZE, header_text, keys, pane, text_of, wait_until

FRAMES = 200


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def recording_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 FakeSource frames, one virtual second apart."""
    path = tmp_path_factory.mktemp("replay") / "fake.bpfrec"
    source = FakeSource(delay_s=1.0)
    writer = RecordingWriter(str(path), host=HOST, collectors=["syscalls"], delay_s=1.0)
    for _ in range(FRAMES):
        writer.append(source.tick())
    writer.close()
    return path


def replay_app(path: Path, **kwargs: object) -> tuple[BpftopApp, ReplaySource, FakeClock]:
    clock = FakeClock()
    source = ReplaySource(Recording(path), clock=clock, **kwargs)  # type: ignore[arg-type]
    return BpftopApp(source), source, clock


async def shows(pilot: object, app: BpftopApp, index: int) -> None:
    """Wait until the app shows recorded frame ``index``."""
    assert app.replay is not None
    entry = app.replay.recording.entries[index]
    await wait_until(pilot, lambda: app.derived is not None and app.derived.ts_ns == entry.ts_ns)  # type: ignore[arg-type]


def timeline(app: BpftopApp) -> str:
    return text_of(app.screen.query_one(Timeline))


async def test_replay_keys_move_the_playback(recording_path: Path) -> None:
    app, source, _ = replay_app(recording_path, playing=False)
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, app, 0)
        assert "frame 1/200" in timeline(app) and "⏸ 1x" in timeline(app)
        assert "REPLAY ⏸ 1x" in header_text(app) and "testhost" in header_text(app)
        await pilot.press("right_square_bracket")
        await shows(pilot, app, 1)
        assert "frame 2/200" in timeline(app)
        await pilot.press("left_square_bracket", "left_square_bracket")  # not before the first
        await shows(pilot, app, 0)
        await pilot.press("right_curly_bracket")
        await shows(pilot, app, 60)
        assert "01:00/03:19" in timeline(app)
        await pilot.press("left_curly_bracket")
        await shows(pilot, app, 0)
        await pilot.press("greater_than_sign", "greater_than_sign")
        assert source.speed == 4.0 and "⏸ 4x" in timeline(app)
        await pilot.press("less_than_sign")
        assert source.speed == 2.0
        await pilot.press("g")
        assert isinstance(app.screen, GoToScreen)
        await pilot.press(*"+30", "enter")
        await shows(pilot, app, 30)
        await pilot.press("g", *"99:99", "enter")  # not a time: a notice, no move
        await pilot.pause()
        assert source.state().index == 30
        await pilot.press("g", "escape")
        assert not isinstance(app.screen, GoToScreen)


async def test_space_plays_at_the_chosen_speed_and_stops_at_the_end(recording_path: Path) -> None:
    app, source, clock = replay_app(recording_path, playing=False, start=190)
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, app, 190)
        await pilot.press("space")
        assert source.playing and "▶" in timeline(app)
        clock.now += 3.0  # three seconds of real time at 1x
        await shows(pilot, app, 193)
        await pilot.press("greater_than_sign")  # 2x
        clock.now += 2.0
        await shows(pilot, app, 197)
        clock.now += 60.0
        await shows(pilot, app, 199)
        await wait_until(pilot, lambda: not source.playing)  # paused at the end
        await pilot.press("space")  # from the end, play starts again from the top
        await shows(pilot, app, 0)


async def test_replayed_frames_derive_like_live(recording_path: Path) -> None:
    app, _, _ = replay_app(recording_path, playing=False, start=50)
    with Recording(recording_path) as rec:
        expected = derive(rec.frame(49), rec.frame(50))
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, app, 50)
        assert app.derived == expected
        assert app.derived is not None and app.derived.interval_s == 1.0  # never the gap of a seek
        assert keys(pane(app)) == ["100", "200", "300", "400"]


async def test_sorting_and_typing_still_work_in_replay(recording_path: Path) -> None:
    app, source, _ = replay_app(recording_path, playing=False, start=10)
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, app, 10)
        procs = pane(app)
        await pilot.press("s")
        assert procs.sort_column.key == "errors"  # `s` sorts; `<` `>` are the speed here
        await pilot.press("slash", *"a<b>")
        field = procs.query_one(Input)
        assert field.value == "a<b>" and source.speed == 1.0  # typed, not a speed change
        await pilot.press("escape")


async def test_help_explains_replay_keys(recording_path: Path) -> None:
    app, _, _ = replay_app(recording_path, playing=False)
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, app, 0)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = text_of(app.screen.query_one(Static))
        for expected in ("replay", "play or pause", "previous frame", "forward one minute", "go to a time"):
            assert expected in text
        assert "slower playback (sort tables with s and r)" in text


async def test_footer_says_space_plays_in_replay_and_pauses_live(recording_path: Path) -> None:
    def space_label(app: BpftopApp) -> str:
        return next(b.binding.description for b in app.active_bindings.values() if b.binding.key == "space")

    app, _, _ = replay_app(recording_path, playing=False)
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, app, 0)
        assert space_label(app) == "Play/Pause"
    live = BpftopApp(FakeSource(delay_s=0.1))
    async with live.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: live.frames_applied >= 1)
        assert space_label(live) == "Pause"


async def test_live_dashboard_has_no_replay_keys() -> None:
    app = BpftopApp(FakeSource(delay_s=0.1))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.frames_applied >= 2)
        assert not app.screen.query(Timeline)
        await pilot.press("g", "right_square_bracket")
        assert not isinstance(app.screen, GoToScreen)
        assert "REPLAY" not in header_text(app)


async def test_a_damaged_frame_is_reported_and_playback_pauses(recording_path: Path, tmp_path: Path) -> None:
    data = bytearray(recording_path.read_bytes())
    with Recording(recording_path) as rec:
        offset = rec.entries[5].offset
    data[offset + 40] ^= 0xFF
    damaged = tmp_path / "damaged.bpfrec"
    damaged.write_bytes(bytes(data))
    app, source, _ = replay_app(damaged, playing=False)
    notes: list[str] = []
    app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign,assignment]
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, app, 0)
        assert any("skipped 115 frame(s) at byte" in n for n in notes)
        assert len(source.recording) == FRAMES - 115


def test_frame_before_is_the_recorded_predecessor(recording_path: Path) -> None:
    clock = FakeClock()
    source = ReplaySource(Recording(recording_path), clock=clock, start=5, playing=False)
    frame = source.tick()
    before = source.frame_before()
    assert isinstance(frame, Frame) and before is not None
    assert before.ts_ns == frame.ts_ns - 1_000_000_000
    assert source.tick() is frame  # paused: the same frame, nothing to derive again
    source.close()


async def test_header_says_rec_then_why_recording_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from bpftop.record import writer as writer_mod
    from bpftop.record.source import RecordingSource

    engine = FakeSource(delay_s=0.1)
    writer = RecordingWriter(str(tmp_path / "rec"), host=HOST, collectors=["syscalls"], delay_s=0.1)
    app = BpftopApp(RecordingSource(engine, writer))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.frames_applied >= 2)
        assert "bpftop REC " in header_text(app)

        def full(fd: int, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(writer_mod.os, "write", full)
        applied = app.frames_applied
        await wait_until(pilot, lambda: app.frames_applied >= applied + 2)  # the dashboard goes on
        assert "REC FAILED: No space left on device" in header_text(app)
    assert writer.frames >= 2
    with Recording(tmp_path / "rec") as rec:
        assert len(rec) == writer.frames and rec.damage == []


async def test_per_process_figures_of_a_carried_recording_span_the_detail_interval(tmp_path: Path) -> None:
    from tests.fakes_all import AllCollectorsSource

    path = tmp_path / "detail.bpfrec"
    source = AllCollectorsSource(delay_s=1.0)
    live = [source.tick() for _ in range(20)]
    writer = RecordingWriter(
        str(path), host=HOST, collectors=list(live[0].samples), delay_s=1.0, detail_s=5.0
    )
    for frame in live:
        writer.append(frame)
    writer.close()
    app, _, _ = replay_app(path, playing=False, start=13)  # carried from frame 10
    async with app.run_test(size=SIZE) as pilot:
        await shows(pilot, app, 13)
        assert "procs/5s" in timeline(app)
        assert app.derived is not None and app.derived.detail_s == 5.0
        # The procs pane shows what the live one did: the fake's rates are steady.
        shown = derive(live[12], live[13])
        assert app.derived.views["runqlat"].by_pid.keys() == shown.views["runqlat"].by_pid.keys()
        for pid, row in shown.views["runqlat"].by_pid.items():
            assert app.derived.views["runqlat"].by_pid[pid].cpu_pct == row.cpu_pct > 0
        assert {"100", "200", "300"} <= set(keys(pane(app)))
