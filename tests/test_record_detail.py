"""Per-process tables every few seconds (bpftop.record.detail): what is carried, what replay shows."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bpftop.derive import derive
from bpftop.frame import Frame
from bpftop.record.detail import MAX_EVERY_S, DetailPolicy, detail_fields, detail_pair
from bpftop.record.reader import Recording
from bpftop.record.replay import ReplayFrames, ReplaySource
from bpftop.record.writer import RecordingWriter
from tests.fakes import HOST
from tests.fakes_all import AllCollectorsSource

S = 1_000_000_000
CARRYING = ("syscalls", "runqlat", "pmc", "biolat", "stacks")


def live_frames(n: int) -> list[Frame]:
    """``n`` frames a virtual second apart; pid 300 exits after the 7th."""
    source = AllCollectorsSource(delay_s=1.0)
    frames = [source.tick() for _ in range(7)]
    source.kill(300)
    return frames + [source.tick() for _ in range(n - 7)]


def write(path: Path, frames: list[Frame], **kwargs: object) -> RecordingWriter:
    writer = RecordingWriter(str(path), host=HOST, collectors=list(frames[0].samples), delay_s=1.0, **kwargs)  # type: ignore[arg-type]
    for frame in frames:
        assert writer.append(frame)
    writer.close()
    return writer


@pytest.mark.parametrize(
    ("flags", "index", "pair"),
    [
        ("FFF", 2, None),  # every frame holds its tables: derive as live
        ("F", 0, None),
        ("FccF", 2, (None, 0)),  # carried from the first frame: no earlier one
        ("FccFcc", 3, (0, 3)),  # uncarried after carried ones: figures over 3 frames
        ("FccFcc", 5, (0, 3)),
        ("FccFccF", 6, (3, 6)),
    ],
)
def test_detail_pair(flags: str, index: int, pair: tuple[int | None, int] | None) -> None:
    assert detail_pair([c == "c" for c in flags], index) == pair


def test_every_sample_with_per_process_tables_names_them() -> None:
    frame = live_frames(8)[-1]
    assert {stem for stem, s in frame.samples.items() if detail_fields(s)} == set(CARRYING)
    for sample in frame.samples.values():
        for name in detail_fields(sample):
            assert isinstance(getattr(sample, name), tuple), name


def test_a_fixed_interval_carries_the_per_process_tables_of_the_last_uncarried_frame(tmp_path: Path) -> None:
    frames = live_frames(13)
    write(tmp_path / "r.bpfrec", frames, detail_s=5.0)
    with Recording(tmp_path / "r.bpfrec") as rec:
        assert rec.header["detail_every_s"] == 5.0 and rec.header["version"] == 2
        assert "".join("c" if e.carried else "F" for e in rec.entries) == "FccccFccccFcc"
        decoded = [f for _, f in rec.frames()]
    for i, (got, live) in enumerate(zip(decoded, frames, strict=True)):
        fresh = frames[i - i % 5]
        assert got.procs == live.procs and got.ts_ns == live.ts_ns
        for stem, sample in got.samples.items():
            names = detail_fields(sample)
            for name in names:
                assert getattr(sample, name) == getattr(fresh.samples[stem], name), (i, stem, name)
            rest = {f.name for f in dataclasses.fields(sample)} - set(names)
            assert {f: getattr(sample, f) for f in rest} == {f: getattr(live.samples[stem], f) for f in rest}


def test_replay_shows_per_process_figures_over_the_detail_interval(tmp_path: Path) -> None:
    frames = live_frames(13)
    write(tmp_path / "r.bpfrec", frames, detail_s=5.0)
    with Recording(tmp_path / "r.bpfrec") as rec:
        source = ReplayFrames(rec)
        prev = source.tick()
        for i in range(1, len(frames)):
            cur = source.tick()
            got = derive(prev, cur, detail=source.detail())
            prev = cur
            system = derive(frames[i - 1], frames[i])  # what the live dashboard showed
            b = i - i % 5
            per_process = derive(frames[b - 5], frames[b]) if b >= 5 else None
            assert got.detail_s == (5.0 if per_process else None) and got.interval_s == 1.0
            for stem, view in got.views.items():
                names = getattr(type(view), "DETAIL", ())
                for f in dataclasses.fields(view):
                    if f.name not in names:
                        assert getattr(view, f.name) == getattr(system.views[stem], f.name), (i, stem, f.name)
                    elif per_process is not None:
                        assert getattr(view, f.name) == getattr(per_process.views[stem], f.name), (i, stem)
            if per_process is not None and i < 7:  # before pid 300 exits, every rate is steady
                for pid, row in system.views["runqlat"].by_pid.items():
                    other = got.views["runqlat"].by_pid[pid]
                    assert (other.cpu_pct, other.vol_per_s) == (row.cpu_pct, row.vol_per_s)
                rates = {(p.pid, p.calls_per_s, p.errors_per_s) for p in system.views["syscalls"].procs}
                assert {(p.pid, p.calls_per_s, p.errors_per_s) for p in got.views["syscalls"].procs} == rates


def test_the_dashboard_replay_source_gives_the_same_after_a_seek(tmp_path: Path) -> None:
    frames = live_frames(13)
    write(tmp_path / "r.bpfrec", frames, detail_s=5.0)
    with Recording(tmp_path / "r.bpfrec") as rec:
        source = ReplaySource(rec, start=12, playing=False)
        frame = source.tick()
        got = derive(source.frame_before(), frame, detail=source.detail())
    want = derive(frames[5], frames[10]).views["pmc"].by_pid
    assert got.views["pmc"].by_pid == want and got.detail_s == 5.0


def test_batch_replay_reports_per_process_rates_on_carried_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bpftop import cli

    write(tmp_path / "r.bpfrec", live_frames(13), detail_s=5.0)
    assert cli.main(["replay", str(tmp_path / "r.bpfrec"), "--json", "-b"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Frame 12 is carried from frame 10, whose figures span frames 5 to 10.
    loop = next(p for p in lines[-1]["syscalls"]["procs"] if p["pid"] == 100)
    live = derive(live_frames(13)[4], live_frames(13)[5]).views["syscalls"].procs
    assert loop["syscalls_per_s"] == next(p.calls_per_s for p in live if p.pid == 100) > 0


def test_the_adaptive_interval_stays_at_every_frame_within_the_budget(tmp_path: Path) -> None:
    writer = write(tmp_path / "r.bpfrec", live_frames(30))
    with Recording(tmp_path / "r.bpfrec") as rec:
        assert not any(e.carried for e in rec.entries) and rec.header["detail_every_s"] == 0.0
    assert writer.detail.interval_s == 1.0


def test_the_adaptive_interval_stretches_to_meet_a_small_budget(tmp_path: Path) -> None:
    frames = live_frames(120)
    budget = 2_000_000  # bytes per hour: these frames cost 3.6 MB with every table, 1.3 MB without
    writer = write(tmp_path / "r.bpfrec", frames, budget=budget)
    full = write(tmp_path / "full.bpfrec", frames, detail_s=1.0)
    assert 2.0 < writer.detail.interval_s <= MAX_EVERY_S
    with Recording(tmp_path / "r.bpfrec") as rec:
        fresh = [e.ts_ns for e in rec.entries if not e.carried]
    assert len(fresh) < len(frames) / 2
    # Past the first minute (the averages settle), the file grows within the budget.
    late = [e for e in Recording(tmp_path / "r.bpfrec").entries if e.ts_ns > frames[60].ts_ns]
    per_hour = sum(e.length for e in late) / ((late[-1].ts_ns - late[0].ts_ns) / S) * 3600
    assert per_hour <= budget < full.size / len(frames) * 3600


def test_the_policy_bounds_the_interval() -> None:
    policy = DetailPolicy(delay_s=1.0, budget_bytes_per_hour=1)
    for t in range(5):
        policy.wrote(t * S, 100_000, fresh=t % 2 == 0, key=t == 0)
    assert policy.interval_s == MAX_EVERY_S
    fixed = DetailPolicy(delay_s=2.0, every_s=10.0)
    assert fixed.fresh(0) and fixed.interval_s == 10.0
    fixed.wrote(0, 10, fresh=True, key=True)
    assert not fixed.fresh(8 * S) and fixed.fresh(9 * S)  # half a refresh early: ticks drift
