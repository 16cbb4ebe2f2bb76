"""``bpftop record``, ``bpftop replay`` and ``--record`` from the command line.

Unmarked tests need no root. ``bpf`` tests record real sessions with a known
workload and compare the replay with the live output.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import workloads

from bpftop import cli, engine
from bpftop.commands.options import parse_duration, parse_size
from bpftop.record.reader import Recording
from tests.test_record_compat import FIXTURE

ROOT = Path(__file__).resolve().parent.parent
BPFTOP = [sys.executable, "-m", "bpftop"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BPFTOP, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_sizes_and_durations() -> None:
    assert parse_size("100M") == 100_000_000 and parse_size("1.5g") == 1_500_000_000
    assert parse_size("500k") == 500_000 and parse_size("65536") == 65536
    assert parse_duration("90") == 90 and parse_duration("5m") == 300 and parse_duration("1h30m") == 5400
    for bad_size in ("", "10x", "1k"):
        with pytest.raises(Exception, match=r"size|at least"):
            parse_size(bad_size)
    for bad_duration in ("", "0", "soon"):
        with pytest.raises(Exception, match="duration"):
            parse_duration(bad_duration)


def test_replay_of_a_missing_or_foreign_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "text").write_text("not a recording\n")
    for name in ("missing", "text"):
        proc = run("replay", str(tmp_path / name), "--json", "-b")
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("bpftop: ")
        assert "Traceback" not in proc.stderr


def test_replay_of_a_damaged_file_says_where_it_stopped(tmp_path: Path) -> None:
    data = FIXTURE.read_bytes()
    path = tmp_path / "torn"
    path.write_bytes(data[:-10])
    proc = run("replay", str(path), "--json", "-b")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 6  # 7 whole frames, 6 intervals
    assert "stopped at byte" in proc.stderr and "(frame 7)" in proc.stderr and "truncated" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_replay_at_a_bad_time_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay", str(FIXTURE), "--once", "--at", "25:00"]) == 2
    assert "not a time of day" in capsys.readouterr().err
    assert cli.main(["replay", str(FIXTURE), "--once", "--at", "+3600"]) == 2
    assert "lasts 00:07" in capsys.readouterr().err


def test_record_refuses_to_overwrite_before_loading_anything(tmp_path: Path) -> None:
    path = tmp_path / "rec"
    path.write_text("precious")
    proc = run("record", str(path), "--duration", "1")
    assert proc.returncode == 1 and "exists; add --force" in proc.stderr
    assert path.read_text() == "precious"
    with pytest.raises(SystemExit, match="exists; add --force"):
        cli.main(["--once", "--record", str(path)])


def test_record_with_nothing_to_sample_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        engine, "privilege_problem", lambda: "not root: loading BPF programs needs privileges"
    )
    assert cli.main(["--once", "--record", str(tmp_path / "a")]) == 1
    assert cli.main(["record", str(tmp_path / "b"), "--duration", "1"]) == 1
    assert "not root" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


BLOCK_BPF = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "cffi" or name == "bpftop.bpf" or name.startswith("bpftop.bpf."):
            raise ImportError("no libbpf here: " + name)
sys.meta_path.insert(0, Block())
from bpftop import cli
import bpftop.app, bpftop.record.replay  # the dashboard's replay path too
rc = cli.main(sys.argv[1:])
leaked = [m for m in sys.modules if m.split(".")[0] == "cffi" or m.startswith("bpftop.bpf")]
assert not leaked, leaked
sys.exit(rc)
"""


def test_replay_needs_neither_libbpf_nor_cffi() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_BPF, "replay", str(FIXTURE), "--json", "-b"],
        cwd="/",
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 7


def _wait_for(proc: subprocess.Popen[str], needle: str, timeout: float = 20.0) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if needle in line:
            return seen
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no {needle!r} from {proc.args}: {seen}")


@pytest.mark.kernel_independent
@pytest.mark.bpf("syscalls")
def test_real_session_replays_to_the_live_numbers(tmp_path: Path, workload_exe: Path) -> None:
    n = 123_457
    headless, watched = tmp_path / "headless.bpfrec", tmp_path / "watched.bpfrec"
    with workloads.start("getppid", n, exe=workload_exe) as wl:
        pid = str(wl.pid)
        live = subprocess.Popen(
            [*BPFTOP, "-b", "--json", "-d", "0.3", "--pane", "syscalls", "-p", pid, "--record", str(watched)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        rec = subprocess.Popen(
            [*BPFTOP, "record", str(headless), "-d", "0.3", "--pane", "syscalls", "-p", pid],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert live.stdout is not None
            first = live.stdout.readline()
            assert first.startswith("{")  # attached and sampling
            _wait_for(rec, "recording to")
            time.sleep(0.7)  # at least one frame each before the calls
            wl.run()
            time.sleep(1.0)  # at least two frames after
        finally:
            rec.send_signal(signal.SIGTERM)
            live.send_signal(signal.SIGINT)
            _, rec_err = rec.communicate(timeout=20)
            live_out, live_err = live.communicate(timeout=20)
    assert rec.returncode == 0, rec_err
    assert live.returncode == 0, live_err
    assert "Traceback" not in rec_err + live_err
    reported = int(rec_err.split("recorded ")[1].split(" frames")[0])
    with Recording(headless) as recording:
        assert len(recording) == reported and recording.damage == []

    # The headless recording: exactly n getppid calls for that pid.
    replayed = run("replay", str(headless), "--json", "-b")
    assert replayed.returncode == 0, replayed.stderr
    assert workloads.getppid_calls(workloads.json_lines(replayed.stdout)) == (n, n)

    # The watched one: replay prints what the live run printed, line for line.
    live_lines = [first.rstrip("\n"), *live_out.splitlines()]
    replayed = run("replay", str(watched), "--json", "-b", "--pane", "syscalls")
    assert replayed.stdout.splitlines()[: len(live_lines)] == live_lines
    assert workloads.getppid_calls(workloads.json_lines(replayed.stdout)) == (n, n)


@pytest.mark.kernel_independent
@pytest.mark.bpf("syscalls")
def test_per_process_figures_every_second_add_up_in_replay(tmp_path: Path, workload_exe: Path) -> None:
    """``--detail 1`` at ``-d 0.25``: per-process windows of ~1 s chain without gaps or double counts."""
    n = 54_321
    path = tmp_path / "detail.bpfrec"
    with workloads.start("getppid", n, exe=workload_exe) as wl:
        rec = subprocess.Popen(
            [
                *BPFTOP,
                "record",
                str(path),
                "-d",
                "0.25",
                "--detail",
                "1",
                "--pane",
                "syscalls",
                "-p",
                str(wl.pid),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(rec, "recording to")
            time.sleep(0.6)
            wl.run()
            time.sleep(2.5)  # past the next uncarried frame
        finally:
            rec.send_signal(signal.SIGTERM)
            _, err = rec.communicate(timeout=20)
    assert rec.returncode == 0, err
    assert "per-process tables every 1 s" in err
    with Recording(path) as recording:
        assert recording.header["detail_every_s"] == 1.0
        carried = [e.carried for e in recording.entries]
    assert carried.count(False) >= 4 and carried.count(True) >= 8
    replayed = run("replay", str(path), "--json", "-b")
    assert replayed.returncode == 0, replayed.stderr
    lines = workloads.json_lines(replayed.stdout)
    assert workloads.getppid_calls(lines) == (n, n)  # system-wide figures: every frame, as live
    windows: dict[int, tuple[int, float | None, float | None]] = {}  # total at b -> (calls, per s, detail_s)
    for line in lines:
        row = next((p for p in line["syscalls"]["procs"] if p["pid"] == wl.pid), None)  # type: ignore[index]
        if row is None:
            continue  # before its first syscall, or carried from a frame before it
        windows.setdefault(
            row["syscalls_total"], (row["syscalls"], row["syscalls_per_s"], line.get("detail_s"))
        )
    totals = sorted(windows)
    assert totals[-1] >= n and sum(calls for calls, _, _ in windows.values()) == totals[-1]
    for before, after in itertools.pairwise(totals):
        calls, per_s, detail_s = windows[after]
        assert calls == after - before and detail_s is not None and 0.9 <= detail_s <= 1.3
        assert per_s == pytest.approx(calls / detail_s, rel=0.01, abs=0.1)


@pytest.mark.kernel_independent
@pytest.mark.bpf("syscalls")
def test_sigkill_leaves_every_complete_frame_replayable(tmp_path: Path) -> None:
    path = tmp_path / "killed.bpfrec"
    rec = subprocess.Popen(
        [*BPFTOP, "record", str(path), "-d", "0.05", "--pane", "syscalls"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(rec, "recording to")
    time.sleep(1.5)
    rec.kill()
    rec.wait(timeout=10)
    with Recording(path) as recording:
        frames = len(recording)
        assert frames >= 5
        assert all("truncated" in d.reason and d.resumed_at is None for d in recording.damage)
        assert len(list(recording.frames())) == frames
    proc = run("replay", str(path), "--json", "-b")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert len(proc.stdout.splitlines()) == frames - 1


@pytest.mark.kernel_independent
@pytest.mark.bpf("syscalls")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_recording_after_a_last_whole_frame(tmp_path: Path, sig: signal.Signals) -> None:
    path = tmp_path / "stopped.bpfrec"
    rec = subprocess.Popen(
        [*BPFTOP, "record", str(path), "-d", "2", "--pane", "syscalls"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(rec, "recording to")
    time.sleep(0.5)  # between the first and second scheduled frames
    stopped_at = time.time()
    rec.send_signal(sig)
    _, err = rec.communicate(timeout=20)
    assert rec.returncode == 0 and "Traceback" not in err
    with Recording(path) as recording:
        assert len(recording) == 2 and recording.damage == []
        assert abs(recording.entries[-1].wall - stopped_at) < 1.0  # the last frame is the moment it stopped
    assert "recorded 2 frames" in err
