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

import contextlib
import os
import select
import selectors
import sys
import termios
import threading
from codecs import getincrementaldecoder
from collections.abc import Callable
from typing import Any

from textual.drivers.linux_driver import LinuxDriver

try:  # Textual's own parser, to run its input loop without the 0.1 s poll (see WakingEvent)
    from textual._parser import ParseError
    from textual._xterm_parser import XTermParser
except ImportError:  # another Textual: its own loop, polling
    XTermParser = None  # type: ignore[assignment,misc]


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


class WakingEvent(threading.Event):
    """Textual's input ``exit_event``, which also wakes the input thread's ``select`` when set.

    Textual's input thread polls every 0.1 s to see that event (and to time
    out a lone Escape): ten wake-ups a second with nothing to do, ~5% of the
    dashboard's CPU at 300 processes. Set through this event, a pipe wakes it,
    so it can sleep until input comes, it is told to stop, or the parser waits
    for the rest of an escape sequence.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def set(self) -> None:
        """Set the event and wake the thread waiting on ``fd``."""
        super().set()
        with contextlib.suppress(OSError):  # the pipe is full (already woken) or closed
            os.write(self._write_fd, b"\0")

    def drain(self) -> None:
        """Empty the pipe (the waiting thread has woken)."""
        with contextlib.suppress(OSError):
            os.read(self.fd, 4096)

    def close(self) -> None:
        """Close the pipe."""
        for fd in (self.fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class HangupAwareDriver(LinuxDriver):
    """Textual's Linux driver, told to stop using a terminal that is gone.

    Textual's input thread reads until the app stops it: on a hung-up terminal
    every read returns end-of-file at once and it spins (20% CPU for minutes in
    issue 22), and a read that fails with EIO makes it panic with a traceback.
    Its writer thread dies on EIO, after which writes fill its queue and block
    whoever writes, the event loop included.
    """

    terminal_gone = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exit_event: threading.Event = WakingEvent() if XTermParser is not None else self.exit_event

    def close(self) -> None:
        """Textual's clean-up, and the input thread's wake-up pipe."""
        super().close()
        thread = self._key_thread
        if isinstance(self.exit_event, WakingEvent) and (thread is None or not thread.is_alive()):
            self.exit_event.close()  # else the thread still reads: the pipe goes with the process

    def input_lost(self) -> None:
        """The terminal is gone: the input thread ends at its next turn, writes are dropped."""
        self.terminal_gone = True
        self.exit_event.set()  # what Textual's own disable_input() sets; it then skips its join

    def run_input_thread(self) -> None:
        """Textual's loop, ended quietly when a read fails because the terminal went."""
        try:
            if isinstance(self.exit_event, WakingEvent):
                self._read_input(self.exit_event)
            else:
                super().run_input_thread()
        except OSError:
            if not terminal_lost(self.fileno):
                raise
            self.input_lost()

    def _read_input(self, wake: WakingEvent) -> None:
        """Textual's input loop (``LinuxDriver.run_input_thread``), asleep while there is nothing to do."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(wake.fd, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def handle(ready: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            for key, _ in ready:
                if key.fd == wake.fd:
                    wake.drain()
                    continue
                data = decode(os.read(self.fileno, 4096), final=final)
                for event in parser.feed(data) if data else ():
                    self.process_message(event)
            for event in parser.tick():  # a lone Escape, once its sequence timed out
                self.process_message(event)

        try:
            while not wake.is_set():
                # Textual's parser times out an escape sequence in tick(): poll only while one is open.
                waiting = getattr(parser, "_timeout_time", 0) is not None
                handle(selector.select(0.1 if waiting else None))
            selector.unregister(self.fileno)
            handle(selector.select(0.1), final=True)
        finally:
            selector.close()
            with contextlib.suppress(EOFError, ParseError):
                for _ in parser.feed(""):
                    pass

    def write(self, data: str) -> None:
        """Queue ``data`` for the terminal, unless it is gone."""
        if not self.terminal_gone:
            super().write(data)
