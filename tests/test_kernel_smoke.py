"""What a new user runs first, on whatever kernel this is (root, real BPF).

These are the checks that `make test-kernels` cares most about on Debian's
6.1 and 6.12 booted under qemu: every collector loads (the PMU fallback counts
as loaded), ``bpftop -b --json`` counts a known syscall workload exactly, every
pane runs on its own in batch mode, and a short recording replays.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import workloads

from bpftop import engine, registry
from bpftop.record.reader import Recording, RecordingError

ROOT = Path(__file__).resolve().parent.parent
BPFTOP = [sys.executable, "-m", "bpftop"]
ALL_COLLECTORS = list(engine.COLLECTORS)


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BPFTOP, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _frames(path: Path) -> int:
    """Whole frames in a recording that is still being written (0 before its header)."""
    try:
        with Recording(path) as recording:
            return len(recording)
    except (OSError, RecordingError):  # not created yet, or its header not yet written
        return 0


def _first_line(proc: subprocess.Popen[str]) -> str:
    """The first JSON line: everything is attached and reading."""
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    assert line.startswith("{"), proc.stderr.read()
    return line


@pytest.mark.bpf
def test_check_loads_every_collector() -> None:
    out = _run("check")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(ALL_COLLECTORS)} of {len(ALL_COLLECTORS)} collectors can run" in out.stdout, out.stdout


@pytest.mark.bpf
def test_batch_json_loads_everything_and_counts_exactly(workload_exe: Path) -> None:
    n = 54_321
    with workloads.start("getppid", n, exe=workload_exe) as wl:
        proc = subprocess.Popen(
            [*BPFTOP, "-b", "--json", "-d", "0.5", "-p", str(wl.pid)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            lines = [json.loads(_first_line(proc))]
            wl.run()
            # Read intervals until the calls are all counted and one more has
            # passed (a tick can take seconds in an emulated guest), not for a set time.
            deadline = time.monotonic() + 120
            while workloads.getppid_calls(lines[:-1])[1] < n and time.monotonic() < deadline:
                lines.append(json.loads(proc.stdout.readline()))
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    statuses = {c["name"]: c for c in lines[-1]["collectors"]}  # type: ignore[attr-defined]
    assert sorted(statuses) == sorted(ALL_COLLECTORS)
    failed = {name: c["error"] for name, c in statuses.items() if not c["ok"]}
    assert not failed, failed
    assert workloads.getppid_calls(lines) == (n, n)  # the pid filter is applied in the kernel


@pytest.mark.bpf
@pytest.mark.parametrize("pane", sorted(registry.PANES))
def test_each_pane_runs_alone_in_batch(pane: str) -> None:
    out = _run("-b", "-n", "2", "-d", "0.5", "--pane", pane)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout.strip()


@pytest.mark.bpf
def test_short_record_replays(tmp_path: Path) -> None:
    path = tmp_path / "smoke.bpfrec"
    rec = subprocess.Popen(
        [*BPFTOP, "record", str(path), "-d", "0.25"], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    try:
        # Until three frames are on disk: ~1 s on a host, longer in an emulated guest.
        deadline = time.monotonic() + 180
        while _frames(path) < 3 and rec.poll() is None and time.monotonic() < deadline:
            time.sleep(0.25)
    finally:
        rec.send_signal(signal.SIGTERM)
        _, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err
    frames = int(err.split("recorded ")[1].split(" frames")[0])
    assert frames >= 3, err
    replayed = _run("replay", str(path), "-b", "--json")
    assert replayed.returncode == 0, replayed.stderr
    lines = workloads.json_lines(replayed.stdout)
    assert len(lines) == frames - 1
    assert {c["name"] for c in lines[-1]["collectors"] if c["ok"]} == set(ALL_COLLECTORS)  # type: ignore[attr-defined]
