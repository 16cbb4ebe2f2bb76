"""Run the real bpftop on a pseudo-terminal and check what its exit leaves behind.

What bpftop holds is read from ``/proc/PID/fdinfo`` while it runs (every BPF
program, map and link fd names its kernel id), so other BPF users on the
machine (other test runs, a qemu guest) never count as leaks: after the exit,
each of those ids must be gone from the kernel.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("prog", "map", "link")


def bpf_ids_held(pid: int) -> dict[str, set[int]]:
    """Kernel ids of the BPF programs, maps and links process ``pid`` has fds on."""
    held: dict[str, set[int]] = {kind: set() for kind in KINDS}
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    for entry in fdinfo.iterdir():
        try:
            text = entry.read_text()
        except OSError:  # closed meanwhile
            continue
        for line in text.splitlines():
            key, _, value = line.partition(":")
            kind = key.removesuffix("_id")
            if kind in KINDS and key.endswith("_id") and value.strip().isdigit():
                held[kind].add(int(value))
    return held


def bpf_ids_loaded() -> dict[str, set[int]]:
    """Kernel ids of every BPF program, map and link on the machine (bpftool)."""
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not Path(bpftool).exists():
        if os.environ.get("BPFTOP_REQUIRE_BPF") == "1":
            pytest.fail("bpftool is not installed; CI must install it")
        pytest.skip("bpftool not installed")
    loaded = {}
    for kind in KINDS:
        out = subprocess.run([bpftool, kind, "show", "-j"], capture_output=True, text=True, check=True)
        loaded[kind] = {item["id"] for item in json.loads(out.stdout or "[]")}
    return loaded


def leaked(held: dict[str, set[int]], timeout_s: float) -> dict[str, set[int]]:
    """The ids of ``held`` still loaded after ``timeout_s`` (the kernel frees maps a little later)."""
    deadline = time.monotonic() + timeout_s
    while True:
        loaded = bpf_ids_loaded()
        left = {kind: held[kind] & loaded[kind] for kind in KINDS if held[kind] & loaded[kind]}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def session_members(sid: int) -> list[int]:
    """Pids of the live (not zombie) processes in session ``sid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


class Dashboard:
    """bpftop (or ``python -c CODE``) on a fresh 80x24 pty, as a login session's leader.

    The screen is drained continuously, as a terminal emulator would, so a
    full pty buffer never blocks bpftop's output unless a test wants it to.
    """

    def __init__(self, argv: list[str]) -> None:
        pid, master = pty.fork()
        if pid == 0:  # child: the session leader of the new terminal, like a login shell's job
            os.chdir(ROOT)
            os.environ["TERM"] = "xterm-256color"
            os.execv(sys.executable, [sys.executable, *argv])
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.pid, self.master = pid, master
        self.output = bytearray()
        self.status: int | None = None
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            with self._lock:
                master = self.master
            if master < 0:
                return
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                if ready:
                    data = os.read(master, 65536)
                    if not data:
                        return
                    self.output += data
            except (OSError, ValueError):  # closed by hang_up(), or EIO once the child is gone
                return

    def wait_for(self, needle: bytes, timeout_s: float) -> None:
        """Wait until ``needle`` was drawn (the first frame: attached and sampling)."""
        deadline = time.monotonic() + timeout_s
        while needle not in self.output and time.monotonic() < deadline and self.poll() is None:
            time.sleep(0.05)
        assert needle in self.output, bytes(self.output[-800:])

    def type(self, keys: bytes) -> None:
        """Type on the terminal."""
        os.write(self.master, keys)

    def hang_up(self) -> None:
        """Close the terminal's master side: the SSH connection drops."""
        with self._lock:
            master, self.master = self.master, -1
        if master >= 0:
            os.close(master)

    def poll(self) -> int | None:
        """The wait status once the process has ended (reaped), else None."""
        if self.status is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.status = status
        return self.status

    def wait(self, timeout_s: float) -> int | None:
        """The wait status, or None if still running after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.status

    def text(self) -> str:
        """Everything drawn so far, as text."""
        return self.output.decode("utf-8", "replace")

    def kill(self) -> None:
        """SIGKILL it (and anything left in its session) if still there; close the terminal."""
        for pid in [self.pid, *session_members(self.pid)] if self.poll() is None else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        if self.status is None:
            os.waitpid(self.pid, 0)
        self.hang_up()


@contextlib.contextmanager
def cpu_load(workers: int = 2) -> Iterator[None]:
    """Busy loops on every CPU: the exits that went wrong did so under load."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def blocked_on_fifo(pid: int) -> bool:
    """True when a thread of ``pid`` waits in open() for a FIFO's writer."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            if (task / "wchan").read_text() in ("wait_for_partner", "fifo_open"):
                return True
    return False


def stuck_main(collector: str) -> str:
    """``python -c`` code: bpftop's ``main`` with ``collector`` stuck for good from its third read on.

    ``collector`` is ``module:Class``. The read blocks in ``open()`` of the
    FIFO named by ``argv[1]`` (no writer ever comes), as a perf map planted as
    a FIFO once made the stacks collector do (issue 22); in the dashboard it
    holds the engine's lock. The rest of argv is bpftop's.
    """
    module, cls = collector.split(":")
    return f"""
import sys
from {module} import {cls} as stuck
real_sample, calls = stuck.sample, [0]
def sample(self, *args, **kwargs):
    calls[0] += 1
    if calls[0] >= 3:
        open(sys.argv[1]).read()
    return real_sample(self, *args, **kwargs)
stuck.sample = sample
from bpftop.cli import main
sys.exit(main(sys.argv[2:]))
"""


def start_batch(prefix: tuple[str, ...] = ("-m", "bpftop")) -> subprocess.Popen[str]:
    """``bpftop -b --json`` with every collector (a long cleanup), once it has read its first interval.

    Args:
        prefix: what the interpreter runs (``-m bpftop``, or ``-c`` a script that makes a collector stick).
    """
    proc = subprocess.Popen(
        [sys.executable, *prefix, "-b", "--json", "-d", "0.2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the first interval: attached and reading
    assert line.startswith("{"), proc.stderr.read() if proc.stderr else line
    return proc
