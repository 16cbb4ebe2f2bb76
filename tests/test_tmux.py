"""The real bpftop in a real terminal: tmux at 80x24 (root)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import scaled

ROOT = Path(__file__).resolve().parent.parent
SESSION = f"bpftop-test-{os.getpid()}"


def _require(tool: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None)
    if path is None:
        if os.environ.get("BPFTOP_REQUIRE_BPF") == "1":
            pytest.fail(f"{tool} is not installed; CI must install it")
        pytest.skip(f"{tool} not installed")
    return path


def _prog_ids(bpftool: str) -> set[int]:
    out = subprocess.run([bpftool, "prog", "show", "-j"], capture_output=True, text=True, check=True).stdout
    return {p["id"] for p in json.loads(out or "[]")}


def _screen() -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", SESSION], capture_output=True, text=True, check=False
    ).stdout


def _wait_for(predicate, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen()
        if predicate(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"timed out; screen was:\n{screen}")


def _session_alive() -> bool:
    return (
        subprocess.run(["tmux", "has-session", "-t", SESSION], capture_output=True, check=False).returncode
        == 0
    )


def _keys(*keys: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", SESSION, *keys], check=True)


def _fits(screen: str) -> str:
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines), screen
    return screen


def _process_screen_and_panes() -> None:
    """Enter on the top process of procs opens its screen; its sections, then the panes, switch."""
    _keys("Enter")
    screen = _wait_for(lambda s: "[1 overview]" in s and "CMD " in s and "STACKS " in s, scaled(10))
    assert "STATE running" in screen or "STATE exited" in screen
    for label in ("CPU ", "SYSCALLS ", "DISK ", "TCP ", "PMC "):
        assert any(line.startswith(label) for line in screen.splitlines()), screen
    _keys("2")
    _fits(_wait_for(lambda s: "[2 cpu]" in s and "run-queue" in s, scaled(10)))
    _keys("3")
    _fits(_wait_for(lambda s: "[3 syscalls]" in s and "SYSCALL " in s, scaled(10)))
    _keys("Tab")
    _fits(_wait_for(lambda s: "[4 disk]" in s and "DISK " in s, scaled(10)))
    _keys("Tab")
    _fits(_wait_for(lambda s: "[5 tcp]" in s and "recently closed" in s, scaled(10)))
    _keys("Escape")
    _fits(_wait_for(lambda s: "[1 procs]" in s and "SYSC/s" in s, scaled(10)))
    _keys("Tab")
    _fits(_wait_for(lambda s: "[2 syscalls]" in s, scaled(10)))
    _keys("4")
    _fits(_wait_for(lambda s: "[4 runqlat]" in s and "RQ AVG" in s, scaled(10)))


@pytest.mark.kernel_independent
@pytest.mark.bpf
def test_real_tui_at_80x24_fills_and_quits_cleanly():
    _require("tmux")
    bpftool = _require("bpftool")
    before = _prog_ids(bpftool)
    cmd = f"cd {ROOT} && TERM=xterm-256color {sys.executable} -m bpftop -d 0.5"
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24", cmd], check=True)
    try:
        # The procs pane fills: its header, then a row for bpftop itself (a python process
        # that makes syscalls every refresh).
        screen = _wait_for(lambda s: "SYSC/s" in s and "python" in s, scaled(20))
        assert len(screen.splitlines()) <= 24
        assert all(len(line) <= 80 for line in screen.splitlines())
        during = _prog_ids(bpftool) - before
        assert during, "bpftop loaded no BPF program"
        _process_screen_and_panes()
        subprocess.run(["tmux", "send-keys", "-t", SESSION, "q"], check=True)
        deadline = time.monotonic() + scaled(10)
        while _session_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _session_alive(), "bpftop did not exit on q"
        # The kernel frees detached tracing programs after an RCU grace period.
        deadline = time.monotonic() + scaled(5)
        while during & _prog_ids(bpftool) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (during & _prog_ids(bpftool)), "BPF programs left loaded after exit"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True, check=False)
