"""``bpftop profile`` ends in time whatever ends it, even with a read stuck for good (root).

The first Ctrl-C ends the sampling and still writes what was sampled; the
last read after it may take ``FINAL_READ_S`` at most. A second signal ends
the process at once. SIGTERM and SIGHUP end it without writing, within the
dashboard's 2 s. Each run profiles the whole machine under CPU load, with the
stacks collector stuck for good (blocked in ``open()`` of a FIFO) from its
third read on, so every read after Ctrl-C would block too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import scaled
from exit_harness import ROOT, blocked_on_fifo, bpf_ids_held, cpu_load, leaked, stuck_main

from bpftop.commands.profile import FINAL_READ_S

EXIT_BOUND_S = 2.0
STUCK_PROFILE = stuck_main("bpftop.collectors.stacks:StacksCollector")


class StuckProfile:
    """``bpftop profile`` for a minute, its stacks collector stuck from the third read on."""

    def __init__(self, fifo: Path) -> None:
        argv = ["-c", STUCK_PROFILE, str(fifo), "profile", "--duration", "60", "--freq", "99"]
        self.proc = subprocess.Popen(
            [sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stderr is not None
        started = self.proc.stderr.readline()
        assert "sampling for" in started, started + self.proc.stderr.read()
        self.held = bpf_ids_held(self.proc.pid)
        deadline = time.monotonic() + scaled(15)
        while not blocked_on_fifo(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert blocked_on_fifo(self.proc.pid), "the stacks collector never got stuck"

    def strike(self, signals: list[tuple[float, int]]) -> float:
        """Send each signal at its offset (s); wait for the end; how long it took after the last."""
        first = time.monotonic()
        for offset_s, signum in signals:
            time.sleep(max(0.0, first + offset_s - time.monotonic()))
            self.proc.send_signal(signum)
        last = time.monotonic()
        try:
            self.proc.wait(timeout=max(0.0, first + scaled(EXIT_BOUND_S) - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"bpftop profile still running {EXIT_BOUND_S} s after {signals}")
        assert time.monotonic() - first < scaled(EXIT_BOUND_S)
        return time.monotonic() - last

    def output(self) -> tuple[str, str]:
        """Standard output and error, once ended."""
        out, err = self.proc.communicate()
        assert "Traceback" not in err
        return out, err

    def stop(self) -> None:
        """Kill it if the test failed before it ended."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def profile(tmp_path: Path) -> Iterator[StuckProfile]:
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    with cpu_load():
        run = StuckProfile(fifo)
        try:
            yield run
        finally:
            run.stop()


@pytest.mark.kernel_independent
@pytest.mark.bpf("stacks")
def test_ctrl_c_writes_what_was_sampled_though_the_last_read_is_stuck(profile: StuckProfile) -> None:
    # Before: the read after Ctrl-C blocked in open() again, and profile never ended.
    profile.strike([(0, signal.SIGINT)])
    out, err = profile.output()
    assert profile.proc.returncode == 0, err
    folded = out.splitlines()
    assert folded, err
    assert all(line.rsplit(" ", 1)[1].isdigit() for line in folded), folded[:3]
    assert "the last read did not end within" in err
    assert not leaked(profile.held, scaled(3))


@pytest.mark.kernel_independent
@pytest.mark.bpf("stacks")
def test_second_ctrl_c_ends_at_once(profile: StuckProfile) -> None:
    # The first Ctrl-C gives the last read FINAL_READ_S; the second does not wait for it.
    took = profile.strike([(0, signal.SIGINT), (0.2, signal.SIGINT)])
    assert took < scaled(FINAL_READ_S - 0.2) / 2, f"{took:.2f} s after the second Ctrl-C"
    out, _ = profile.output()
    assert profile.proc.returncode == 128 + signal.SIGINT
    assert out == ""  # forced: nothing half-written
    assert not leaked(profile.held, scaled(3))


@pytest.mark.kernel_independent
@pytest.mark.bpf("stacks")
@pytest.mark.parametrize(
    "signals",
    [
        [(0, signal.SIGTERM)],
        [(0, signal.SIGHUP), (0.05, signal.SIGTERM)],
        [(0, signal.SIGTERM), (1.0, signal.SIGHUP)],
    ],
    ids=["TERM", "HUP,TERM", "TERM,HUP 1 s later"],
)
def test_sigterm_and_sighup_end_it_without_writing(
    profile: StuckProfile, signals: list[tuple[float, int]]
) -> None:
    profile.strike(signals)
    out, _ = profile.output()
    sent = {signum for _, signum in signals}
    # Exited with the first signal's code; or ended by a later one that came
    # as the interpreter finished (Python puts the default handlers back).
    assert profile.proc.returncode == 128 + signals[0][1] or -profile.proc.returncode in sent
    assert out == ""
    assert not leaked(profile.held, scaled(3))
