"""Every way out ends the process in time, even with a thread stuck for good.

bpftop unwinds normally on q, Ctrl-C, SIGTERM, SIGHUP and a lost terminal: the
dashboard leaves Textual, the engine detaches its collectors. But a thread can
be stuck where nothing reaches it (a collector blocked in ``open()`` of a FIFO
a monitored process planted, holding the engine's lock), Textual's input
thread keeps the interpreter alive until it is told to stop, and a second
signal used to strike inside the first one's cleanup (issue 22: SIGTERM then a
hang-up left bpftop running for good with its programs attached). So:

- the first exit request (a signal, q, a lost terminal, ``main`` unwinding)
  arms a watchdog; later signals are the same request and never raise again;
- ``DEADLINE_S`` after it, the watchdog runs the undo steps registered with
  ``at_forced_exit`` (state that is not an fd: the bpf_stats sysctl on old
  kernels), puts the terminal back as best it can and ``os._exit``s. Every BPF
  program, link and map bpftop holds is an fd and nothing is pinned, so the
  kernel detaches them all as the process ends;
- the watchdog takes no lock a stuck thread could hold (no print, no logging,
  no engine lock): it is woken through a pipe, and the terminal restore runs
  in a thread it waits on for ``RESTORE_S`` at most;
- a thread that keeps the GIL would starve the watchdog too, so an interval
  timer, whose SIGALRM is left at its default action, ends the process from
  the kernel ``KILL_MARGIN_S`` after the deadline.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import signal
import sys
import termios
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

DEADLINE_S = 1.5
KILL_MARGIN_S = 0.4  # the kernel's SIGALRM: 1.9 s after the request, still inside the 2 s promise
RESTORE_S = 0.2
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What Textual turns on (alternate screen, hidden cursor, mouse, paste, focus
# and kitty key reports, no line wrap), turned off again.
TERMINAL_RESET = (
    b"\x1b[<u\x1b[?1000l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?2004l\x1b[?1004l\x1b[?7h\x1b[?25h\x1b[?1049l"
)
_FORCE = b"f"  # a byte on the wake pipe: end now, not at the deadline
_UNDO: list[Callable[[], None]] = []


def at_forced_exit(undo: Callable[[], None]) -> None:
    """Run ``undo`` before a forced exit (state an fd does not hold); it must take no lock."""
    if undo not in _UNDO:
        _UNDO.append(undo)


class ExitGuard:
    """Turns exit requests into one orderly unwinding, bounded by a watchdog.

    Args:
        deadline_s: how long the orderly unwinding may take after the first request.
        force_on_second: a second signal ends the process at once (``profile``:
            the first Ctrl-C still writes what was sampled).
        sigint_deadline_s: the deadline when the first request is SIGINT, if
            not ``deadline_s`` (``profile``: writing the stacks may take longer;
            whoever waits can press Ctrl-C again).
    """

    def __init__(
        self,
        deadline_s: float = DEADLINE_S,
        force_on_second: bool = False,
        sigint_deadline_s: float | None = None,
    ) -> None:
        self.deadline_s = deadline_s
        self.force_on_second = force_on_second
        self.sigint_deadline_s = sigint_deadline_s
        self._deadline_s = deadline_s  # the one the first request chose
        self.code: int | None = None
        self.forced_message = ""
        self._requests = itertools.count()  # next() is atomic: no lock a signal handler could deadlock on
        self._disarmed = False
        self._signalled = False
        self._on_signal: Callable[[int], None] | None = None
        self._tty: tuple[int, list[Any]] | None = None
        self._previous: dict[int, Any] = {}
        self._wake_r, self._wake_w = os.pipe()
        self._watchdog = threading.Thread(target=self._watch, name="bpftop-exit-watchdog", daemon=True)
        self._watchdog.start()  # now: starting a thread from a signal handler could deadlock

    @property
    def requested(self) -> bool:
        """Whether an exit was asked for."""
        return self.code is not None

    def install(self) -> None:
        """Handle SIGINT, SIGTERM and SIGHUP (main thread); keep the terminal's settings to restore."""
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the last resort below must kill
        fd = sys.__stdin__.fileno() if sys.__stdin__ is not None else -1
        try:
            self._tty = (fd, termios.tcgetattr(fd))
        except (OSError, termios.error, ValueError):  # not a terminal (batch, profile to a pipe)
            self._tty = None

    def on_signal(self, callback: Callable[[int], None] | None) -> None:
        """While the dashboard runs, a signal asks it to exit (``callback(code)``) instead of raising."""
        self._on_signal = callback

    def request(self, code: int) -> bool:
        """Ask to exit with ``code``; the first request arms the watchdog. True for the first."""
        if next(self._requests) or self._disarmed:
            return False
        self.code = code
        if code == 128 + signal.SIGINT and self.sigint_deadline_s is not None:
            self._deadline_s = self.sigint_deadline_s
        signal.setitimer(signal.ITIMER_REAL, self._deadline_s + KILL_MARGIN_S)
        os.write(self._wake_w, b"a")
        return True

    def settle(self) -> None:
        """``main`` has unwound: stand down unless a thread that would block the exit is left.

        A non-daemon thread still alive (Textual's input thread, a stuck one)
        would make the interpreter wait for it for good: the watchdog stays armed.
        """
        if self._disarmed:
            return
        others = [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
        if any(t.is_alive() for t in others):
            return
        self._disarmed = True
        signal.setitimer(signal.ITIMER_REAL, 0)
        os.write(self._wake_w, b"d")
        self._on_signal = None
        if self._signalled:  # more may come while the interpreter ends: they change nothing now
            return
        for signum, previous in self._previous.items():  # main() called in-process (tests)
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._signalled = True
        if self._disarmed:
            return
        code = 128 + signum
        first = self.request(code)
        if not first and self.force_on_second and frame is not None:
            os.write(self._wake_w, _FORCE)
            return
        if self._on_signal is not None:
            if first:
                self._on_signal(code)
            return
        # Raise once: a second signal must not strike inside the first one's
        # cleanup. bpf/log.py hands back (frame None) a raise that a libbpf
        # callback swallowed: that one is raised again.
        if first or frame is None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(self.code)

    def _watch(self) -> None:
        # Disarmed, the pipe stays open: a request racing settle() from another
        # thread must never write into a closed (or reused) fd number.
        if self._wait_for_deadline():
            self._force_exit()

    def _wait_for_deadline(self) -> bool:
        """Sleep until the first request, then until its deadline; False when disarmed first."""
        if os.read(self._wake_r, 1) == b"d":
            return False
        deadline = time.monotonic() + self._deadline_s
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self._wake_r], [], [], left)
            byte = os.read(self._wake_r, 1) if ready else b""
            if byte == b"d":
                return False
            if byte == _FORCE:
                break
        return not self._disarmed

    def _force_exit(self) -> None:
        for undo in list(_UNDO):
            with contextlib.suppress(BaseException):  # nothing may stop the exit
                undo()
        restore = threading.Thread(target=self._restore_terminal, daemon=True)
        restore.start()
        restore.join(RESTORE_S)  # a terminal nobody reads can block a write: never wait long
        os._exit(self.code if self.code is not None else 1)

    def _restore_terminal(self) -> None:
        """Leave the alternate screen, then put the terminal's settings back (fails fast if hung up)."""
        if self._tty is not None:
            fd, attrs = self._tty
            try:
                os.write(1 if os.isatty(1) else fd, TERMINAL_RESET)  # Textual draws on stdout
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
            except (OSError, termios.error):
                pass
        message = self.forced_message or "bpftop: a thread did not stop in time; exited without it\n"
        with contextlib.suppress(OSError):
            os.write(2, message.encode())
