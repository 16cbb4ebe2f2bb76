"""The exit guard on its own: the watchdog and its last resort end a process that does not unwind.

Each case runs a small Python program that installs the guard, asks to exit
and then gets stuck the way bpftop could: its unwinding blocked for good, or a
thread holding the GIL so no Python code (the watchdog's included) runs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import scaled

from bpftop.exiting import DEADLINE_S, KILL_MARGIN_S

REPO = Path(__file__).resolve().parent.parent
EXIT_BOUND_S = 2.0

PRELUDE = """
import signal, sys, threading, time
from bpftop.exiting import ExitGuard, at_forced_exit
guard = ExitGuard()
guard.install()
at_forced_exit(lambda: open(sys.argv[1], "w").write("undone"))
"""


def _run(body: str, marker: Path, signals: list[int]) -> tuple[subprocess.CompletedProcess[str], float]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + body, str(marker)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    first = time.monotonic()
    for signum in signals:
        proc.send_signal(signum)
        time.sleep(0.05)
    try:
        out, err = proc.communicate(timeout=scaled(EXIT_BOUND_S + 3))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    took = time.monotonic() - first
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), took


def test_unwinding_stuck_for_good_is_ended_after_the_deadline(tmp_path: Path) -> None:
    # SIGTERM raises SystemExit once; its cleanup then blocks for good (a stuck
    # close); a hang-up after it changes nothing. The watchdog undoes and exits.
    body = """
try:
    print("ready", flush=True)
    threading.Event().wait()
finally:
    threading.Event().wait()
"""
    marker = tmp_path / "undo"
    done, took = _run(body, marker, [signal.SIGTERM, signal.SIGHUP])
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert DEADLINE_S - 0.1 < took < scaled(EXIT_BOUND_S)
    assert marker.read_text() == "undone"
    assert "did not stop in time" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_thread_holding_the_gil_is_ended_by_the_kernel(tmp_path: Path) -> None:
    # A regular expression that backtracks for ages never lets go of the GIL:
    # the watchdog cannot run, so the interval timer's SIGALRM (default action) ends it.
    body = """
import re
guard.request(0)
print("ready", flush=True)
re.match(r"(a+)+$", "a" * 64 + "b")
"""
    done, took = _run(body, tmp_path / "undo", [])
    assert done.returncode == -signal.SIGALRM, done.stderr
    assert DEADLINE_S + KILL_MARGIN_S - 0.1 < took < scaled(EXIT_BOUND_S)


def test_an_orderly_exit_stands_the_watchdog_down(tmp_path: Path) -> None:
    # main unwound in time: no forced exit later, no undo, the code is main's own.
    body = """
guard.request(3)
print("ready", flush=True)
guard.settle()
time.sleep(DEADLINE + 0.5)
sys.exit(4)
""".replace("DEADLINE", repr(DEADLINE_S + KILL_MARGIN_S))
    marker = tmp_path / "undo"
    done, _ = _run(body, marker, [])
    assert done.returncode == 4, done.stderr
    assert not marker.exists()
