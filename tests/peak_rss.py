"""A child process's own peak RSS, for tests that bound bpftop's memory.

``wait4``'s ``ru_maxrss`` for a child started straight from pytest is at least
pytest's own peak: Linux keeps, across ``exec``, the high-water RSS of the
memory the process had before (``exec_mmap`` calls ``setmax_mm_hiwater_rss``),
and subprocess's vfork child has the parent's memory. Late in a full run
pytest holds ~330 MB, so every such child "peaked" at that. A child forked by
a small launcher inherits only the launcher's ~10 MB: ``Measured`` starts the
command through one, which reports the peak ``wait4`` gives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import Any

# argv: fd to report on, then the command. Exits as the command did.
_LAUNCHER = """
import os, signal, sys
fd = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    os.close(fd)
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, lambda s, _f: os.kill(pid, s))
_, status, usage = os.wait4(pid, 0)
os.write(fd, str(usage.ru_maxrss).encode())
if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
os._exit(os.waitstatus_to_exitcode(status))
"""


class Measured:
    """``argv`` run through the launcher, in its own process group.

    Args:
        argv: the command.
        **popen: passed to ``subprocess.Popen`` (stdout, stderr, cwd, env...).
    """

    def __init__(self, argv: list[str], **popen: Any) -> None:
        read, write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(write), *argv],
                pass_fds=(write,),
                start_new_session=True,  # kill() reaches the command too
                **popen,
            )
        finally:
            os.close(write)
        self._read = read
        self.peak_kb = 0

    @property
    def pid(self) -> int:
        """The launcher's pid (the command's process group)."""
        return self.proc.pid

    def poll(self) -> int | None:
        """The exit code once the command has ended, else None."""
        return None if self.proc.poll() is None else self._finish()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the command; its exit code (``-N``: killed by signal N)."""
        self.proc.wait(timeout)
        return self._finish()

    def kill(self) -> None:
        """SIGKILL the command and the launcher."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def _finish(self) -> int:
        if self._read >= 0:
            report = os.read(self._read, 64)
            os.close(self._read)
            self._read = -1
            self.peak_kb = int(report) if report else 0
        return self.proc.returncode
