"""Is there a terminal to draw on, and is it still there?

The dashboard needs a terminal on stdin and stdout. When an SSH session drops,
the kernel hangs the terminal up: normally bpftop gets SIGHUP and unwinds, but
a process that misses it (another process group, a signal lost in a race)
would find every read of stdin returning end-of-file at once — and Textual's
input thread then loops on it at 100% CPU. So the app also watches the
terminal (``HangupWatch``), stops Textual's input and output on it
(``HangupAwareDriver``) and exits when it is gone.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
from collections.abc import Callable

from textual.drivers.linux_driver import LinuxDriver


def terminal_problem() -> str | None:
    """Why the dashboard cannot start here, or None when stdin and stdout are terminals."""
    for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout)):
        try:
            ok = stream is not None and os.isatty(stream.fileno())
        except (OSError, ValueError):  # closed, or replaced by an object without a fd
            ok = False
        if not ok:
            return (
                f"{name} is not a terminal: the dashboard needs one."
                " Use -b/--once (text) or --json for pipes and files, or `ssh -t` for a remote command"
            )
    return None


def terminal_lost(fd: int) -> bool:
    """True when ``fd`` is no longer a usable terminal (hung up, closed, revoked)."""
    try:
        termios.tcgetattr(fd)
    except (OSError, termios.error):
        return True
    return False


class HangupWatch:
    """A thread asleep in ``poll()`` until the terminal hangs up; then ``on_lost()``, once.

    ``poll()`` with no events asked for reports only POLLHUP, POLLERR and
    POLLNVAL, and a hung-up terminal reports POLLHUP at once (closing a pty's
    master hangs up its slave), so the thread costs nothing while it waits and
    reacts within microseconds, not at the next poll of the app. ``tcgetattr``
    is checked every ``check_s`` too, for a terminal lost some other way.
    """

    def __init__(self, fd: int, on_lost: Callable[[], None], check_s: float = 0.5) -> None:
        self.fd = fd
        self._on_lost = on_lost
        self._check_ms = int(check_s * 1000)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bpftop-hangup-watch", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (within ``check_s``); never waits for the thread."""
        self._stop.set()

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.fd, 0)
        while not self._stop.is_set():
            if poller.poll(self._check_ms) or terminal_lost(self.fd):
                if not self._stop.is_set():
                    self._on_lost()
                return


class HangupAwareDriver(LinuxDriver):
    """Textual's Linux driver, told to stop using a terminal that is gone.

    Textual's input thread reads until the app stops it: on a hung-up terminal
    every read returns end-of-file at once and it spins (20% CPU for minutes in
    issue 22), and a read that fails with EIO makes it panic with a traceback.
    Its writer thread dies on EIO, after which writes fill its queue and block
    whoever writes, the event loop included.
    """

    terminal_gone = False

    def input_lost(self) -> None:
        """The terminal is gone: the input thread ends at its next turn, writes are dropped."""
        self.terminal_gone = True
        self.exit_event.set()  # what Textual's own disable_input() sets; it then skips its join

    def run_input_thread(self) -> None:
        """Textual's loop, ended quietly when a read fails because the terminal went."""
        try:
            super().run_input_thread()
        except OSError:
            if not terminal_lost(self.fileno):
                raise
            self.input_lost()

    def write(self, data: str) -> None:
        """Queue ``data`` for the terminal, unless it is gone."""
        if not self.terminal_gone:
            super().write(data)
