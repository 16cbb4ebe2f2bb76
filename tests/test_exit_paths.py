"""Every way out of the dashboard ends bpftop within 2 s with nothing left attached (root).

The exits that went wrong (issue 22) did so under load and in combination: a
SIGTERM, then the hang-up of the SSH session a second later, left bpftop
running for good with its programs attached and Textual's input thread
spinning on end-of-file. Each scenario below runs the real dashboard on its own
pseudo-terminal under CPU load, strikes in order, and checks the process is
gone within 2 s of the first strike (``scaled``: only a machine that says it
runs slower gets more), that every BPF program, map and link it held is gone
from the kernel, that nothing of its session lives on, and that no traceback
was printed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import scaled
from exit_harness import (
    Dashboard,
    blocked_on_fifo,
    bpf_ids_held,
    cpu_load,
    leaked,
    session_members,
    start_batch,
    stuck_main,
)

EXIT_BOUND_S = 2.0
# The footer: the app is up (attached before that), and its sampling thread
# started. Not a table's "N rows": partial redraws can split it in the stream.
DRAWN = b"Quit"
STUCK_MAIN = stuck_main("bpftop.collectors.syscalls:SyscallsCollector")


KEYS = {"q": b"q", "ctrl-c": b"\x03", "f10": b"\x1b[21~"}


def _strike(dash: Dashboard, action: str) -> None:
    if action == "hangup":
        dash.hang_up()
    elif action in KEYS:
        dash.type(KEYS[action])
    elif dash.poll() is None:  # a signal to a reaped pid could hit a stranger
        os.kill(dash.pid, getattr(signal, f"SIG{action}"))


def _run(argv: list[str], strikes: list[tuple[float, str]], stuck: Path | None = None) -> None:
    """Start the dashboard, strike at the given offsets (s), and check how it ended."""
    dash = Dashboard(argv)
    try:
        dash.wait_for(DRAWN, scaled(30))
        time.sleep(scaled(0.5))  # a tick or two
        held = bpf_ids_held(dash.pid)
        assert held["prog"], "bpftop holds no BPF program: nothing to check"
        if stuck is not None:
            deadline = time.monotonic() + scaled(10)
            while not blocked_on_fifo(dash.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert blocked_on_fifo(dash.pid), "the collector never got stuck"
        first = time.monotonic()
        for offset_s, action in strikes:
            time.sleep(max(0.0, first + offset_s - time.monotonic()))
            _strike(dash, action)
        bound_s = scaled(EXIT_BOUND_S)
        status = dash.wait(max(0.0, first + bound_s - time.monotonic()))
        took = time.monotonic() - first
        assert status is not None, f"bpftop still running {took:.1f} s after {strikes}"
        assert took < bound_s, f"bpftop took {took:.1f} s to end after {strikes}"
        # Python puts the default handlers back as it finalizes: a signal
        # striking then ends it by that signal, which is fine. Any other one
        # (SIGSEGV, SIGABRT) is a crash.
        sent = {getattr(signal, f"SIG{a}") for _, a in strikes if a.isupper()} | {signal.SIGHUP}
        assert os.WIFEXITED(status) or os.WTERMSIG(status) in sent, f"killed by {os.WTERMSIG(status)}"
        assert not session_members(dash.pid), "a process of bpftop's session lives on"
        assert not leaked(held, scaled(3)), "BPF objects bpftop held are still loaded"
        assert "Traceback" not in dash.text()
    finally:
        dash.kill()


SCENARIOS = {
    "SIGTERM, hang-up 1 s later": [(0, "TERM"), (1.0, "hangup")],
    "hang-up, SIGTERM": [(0, "hangup"), (0.2, "TERM")],
    "SIGHUP, SIGTERM": [(0, "HUP"), (0.05, "TERM")],
    "two SIGINTs": [(0, "INT"), (0.1, "INT")],
    "SIGTERM, SIGTERM, SIGHUP": [(0, "TERM"), (0.02, "TERM"), (0.3, "HUP")],
    "q, hang-up": [(0, "q"), (0.1, "hangup")],
    "Ctrl-C key, SIGTERM": [(0, "ctrl-c"), (0.05, "TERM")],
    "Ctrl-C key": [(0, "ctrl-c")],  # htop's quit keys; Textual's own only says "press q"
    "F10 key": [(0, "f10")],
}


@pytest.mark.kernel_independent
@pytest.mark.bpf("syscalls")
@pytest.mark.parametrize("strikes", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_dashboard_exits_detached_whatever_ends_it(strikes: list[tuple[float, str]]) -> None:
    with cpu_load():
        _run(["-m", "bpftop", "--pane", "syscalls", "-d", "0.3"], strikes)


@pytest.mark.kernel_independent
@pytest.mark.bpf("syscalls")
@pytest.mark.parametrize("trial", range(4))
def test_sigterm_then_hangup_repeatedly_under_load(trial: int) -> None:
    # The reported case: 3 of 6 such runs never ended. All collectors, as by default.
    with cpu_load():
        _run(["-m", "bpftop", "-d", "0.5"], SCENARIOS["SIGTERM, hang-up 1 s later"])


@pytest.mark.kernel_independent
@pytest.mark.bpf("syscalls")
@pytest.mark.parametrize("strikes", [[(0, "TERM")], [(0, "q")], [(0, "hangup")], [(0, "INT"), (0.5, "HUP")]])
def test_dashboard_exits_even_with_a_collector_stuck(
    strikes: list[tuple[float, str]], tmp_path: Path
) -> None:
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    with cpu_load():
        _run(["-c", STUCK_MAIN, str(fifo), "--pane", "syscalls", "-d", "0.3"], strikes, stuck=fifo)


def _signal_batch(proc: subprocess.Popen[str], signals: list[int], apart_s: float) -> None:
    """Send ``signals`` ``apart_s`` apart; check bpftop -b ended in time, quietly, detached."""
    held = bpf_ids_held(proc.pid)
    first = time.monotonic()
    for signum in signals:
        proc.send_signal(signum)
        time.sleep(apart_s)
    try:
        proc.wait(timeout=max(0.0, first + scaled(EXIT_BOUND_S) - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"bpftop -b still running {EXIT_BOUND_S} s after {signals}")
    assert time.monotonic() - first < scaled(EXIT_BOUND_S)
    assert proc.stderr is not None
    assert "Traceback" not in proc.stderr.read()
    # Exited; or, when a later signal came as the interpreter was ending
    # after the cleanup (Python puts the default handlers back), ended by it.
    assert proc.returncode >= 0 or -proc.returncode in signals, proc.returncode
    assert not leaked(held, scaled(3))


@pytest.mark.kernel_independent
@pytest.mark.bpf("syscalls")
@pytest.mark.parametrize(
    "signals",
    [
        [signal.SIGINT, signal.SIGINT],
        [signal.SIGTERM, signal.SIGHUP],
        [signal.SIGHUP, signal.SIGINT, signal.SIGTERM],
    ],
    ids=["INT,INT", "TERM,HUP", "HUP,INT,TERM"],
)
@pytest.mark.parametrize("apart_s", [0.0, 0.01, 0.03, 0.06])
def test_batch_exits_quietly_on_signals_in_a_row(signals: list[int], apart_s: float) -> None:
    # A second signal used to strike inside the first one's cleanup (which
    # takes tens of ms): a KeyboardInterrupt traceback, or a half-closed engine.
    with cpu_load():
        _signal_batch(start_batch(), signals, apart_s)


@pytest.mark.kernel_independent
@pytest.mark.bpf("syscalls")
@pytest.mark.parametrize(
    "signals", [[signal.SIGTERM], [signal.SIGINT, signal.SIGHUP]], ids=["TERM", "INT,HUP"]
)
def test_batch_exits_with_a_collector_stuck(signals: list[int], tmp_path: Path) -> None:
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    with cpu_load():
        proc = start_batch(("-c", STUCK_MAIN, str(fifo)))
        try:
            deadline = time.monotonic() + scaled(10)
            while not blocked_on_fifo(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert blocked_on_fifo(proc.pid), "the collector never got stuck"
            _signal_batch(proc, signals, 0.3)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
