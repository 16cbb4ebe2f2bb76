"""Run a full-screen tool (bpftop, htop, top, btop) in a detached tmux session and watch it.

Shared by the dashboard benchmarks: the tool runs in a real terminal (tmux,
80x24 by default, TERM=xterm-256color), ``exec``'d so the pane's pid is the
tool itself and its CPU time and RSS can be read from /proc.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# A tmux server of our own: other users of tmux (tests, other benchmarks) may
# kill theirs, and a server exits with its last session, racing the next start.
TMUX = ["tmux", "-L", f"bpftop-bench-{os.getpid()}"]


def bpftop_command(args: str = "", python: str = "", repo: str = "") -> str:
    """The shell command running bpftop with ``args`` from ``repo`` (default: this checkout)."""
    repo = repo or str(REPO)
    python = python or str(REPO / ".venv" / "bin" / "python")
    if not os.access(python, os.X_OK):
        python = sys.executable
    return f"cd {shlex.quote(repo)} && exec {shlex.quote(python)} -m bpftop {args}"


def btop_home() -> Path:
    """A HOME whose btop config refreshes every 1 s (its default is 2 s)."""
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"bpftop-bench-btop-{os.getpid()}"
    conf = home / ".config" / "btop"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "btop.conf").write_text('update_ms = 1000\nshown_boxes = "cpu mem net proc"\n')
    return home


PEERS = {
    "htop": "exec htop -d 10",
    "top": "exec top -d 1",
    "btop": "",  # filled in by peer_command (needs its HOME)
}


def peer_command(name: str) -> str | None:
    """The shell command for peer ``name``; None when it is not installed."""
    if shutil.which(name) is None:
        return None
    if name == "btop":
        return f"HOME={shlex.quote(str(btop_home()))} exec btop"
    return PEERS[name]


@contextmanager
def session(command: str, width: int = 80, height: int = 24) -> Iterator[int]:
    """Start ``command`` in a new tmux session; yield the pid of its pane; kill the session after."""
    name = f"bpftop-bench-{os.getpid()}-{time.monotonic_ns()}"
    for attempt in range(5):  # the server may be exiting after the last session went
        started = subprocess.run(
            [*TMUX, "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
             f"export TERM=xterm-256color; {command}"],
            check=attempt == 4,
        )  # fmt: skip
        if started.returncode == 0:
            break
        time.sleep(0.5)
    try:
        out = subprocess.run(
            [*TMUX, "list-panes", "-t", name, "-F", "#{pane_pid}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        yield int(out.stdout.split()[0])
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", name], capture_output=True, check=False)


def screen(name: str) -> str:
    """The visible text of a tmux pane (``name``: a session or pane target)."""
    out = subprocess.run(
        [*TMUX, "capture-pane", "-p", "-t", name], capture_output=True, text=True, check=False
    )
    return out.stdout


def pane_text(pane_pid: int) -> str:
    """The visible text of the tmux pane whose process is ``pane_pid``."""
    panes = subprocess.run(
        [*TMUX, "list-panes", "-a", "-F", "#{pane_pid} #{pane_id}"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    for line in panes.split("\n"):
        if line.startswith(f"{pane_pid} "):
            return screen(name=line.split()[1])
    return ""
