"""Route libbpf's messages to Python logging, never to the terminal.

libbpf prints to stderr by default, which would scribble over the TUI. The
callback formats each message with the C library's ``vsnprintf`` and keeps the
last warnings so errors can quote them.

Signals and the callback: Python runs signal handlers between bytecodes, so
Ctrl-C (KeyboardInterrupt) or SIGTERM/SIGHUP (bpftop's handler raises
SystemExit) can strike while libbpf runs this callback in the main thread,
which it does for every message while an object loads. cffi prints an
exception raised in a callback and drops it: ``bpftop -b`` then ran on after
Ctrl-C (seen under load). ``defer_signals`` makes such a signal wait until
libbpf has returned; ``raise_pending`` (the engine calls it around its work)
then acts on it.
"""

from __future__ import annotations

import collections
import logging
import signal
import threading
from types import FrameType
from typing import Any

logger = logging.getLogger("bpftop.libbpf")
# Without it, an application that configures no logging would get libbpf's
# warnings on stderr anyway, through logging.lastResort.
logger.addHandler(logging.NullHandler())

_recent: collections.deque[str] = collections.deque(maxlen=64)
_recent_lock = threading.Lock()
_callback: Any = None  # keep the cffi callback alive for the life of the process
_MAIN = threading.main_thread().ident
_in_callback = [False]  # the main thread is running the print callback
_pending: list[int] = []  # signals that struck there
_handlers: dict[int, Any] = {}  # the handlers defer_signals wrapped


def defer_signals(*signals: int) -> None:
    """Wrap the current handlers of ``signals`` so they never run inside the callback (main thread)."""
    for signum in signals:
        handler = signal.getsignal(signum)
        if callable(handler) and handler is not _deferring:
            _handlers[signum] = handler
            signal.signal(signum, _deferring)


def _deferring(signum: int, frame: FrameType | None) -> None:
    if _in_callback[0]:
        _pending.append(signum)
        return
    _handlers[signum](signum, frame)


def raise_pending() -> None:
    """Run the handler of a signal deferred from the callback (main thread only)."""
    if _pending and threading.get_ident() == _MAIN:
        signum = _pending[0]
        _pending.clear()
        _handlers[signum](signum, None)


def _on_error(exc_type: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> int:
    """Keep the signal whose handler raised as the callback began (cffi's ``onerror``).

    That is before the callback marked itself; ``raise_pending`` acts on it later.
    """
    code = getattr(exc, "code", None)
    if exc_type is KeyboardInterrupt and signal.SIGINT in _handlers:
        _pending.append(signal.SIGINT)
    elif exc_type is SystemExit and isinstance(code, int) and code - 128 in _handlers:
        _pending.append(code - 128)
    else:
        logger.debug("libbpf print callback failed: %r", exc)
    return 0


def install(lib: Any, libc: Any) -> None:
    """Register the print callback with libbpf (called once, by ``_ffi.lib``)."""
    global _callback
    from bpftop.bpf._ffi import ffi

    buf_size = 4096

    @ffi.callback("int(enum libbpf_print_level, const char *, void *)", onerror=_on_error)
    def _print(level: int, fmt: Any, args: Any) -> int:
        main = threading.get_ident() == _MAIN
        if main:
            _in_callback[0] = True
        try:
            buf = ffi.new("char[]", buf_size)
            libc.vsnprintf(buf, buf_size, fmt, args)
            text = ffi.string(buf).decode("utf-8", "replace").rstrip()
            if level == 0:  # LIBBPF_WARN
                with _recent_lock:
                    _recent.append(text)
                logger.warning("%s", text)
            elif level == 1:
                logger.info("%s", text)
            else:
                logger.debug("%s", text)
        finally:
            if main:
                _in_callback[0] = False
        return 0

    _callback = _print
    lib.libbpf_set_print(_print)


def take_recent(max_lines: int = 3) -> str:
    """Return and clear libbpf's latest warnings, joined on one line."""
    with _recent_lock:
        lines = [line for line in _recent if line.strip()]
        _recent.clear()
    # The verifier log can be hundreds of lines; its end carries the reason.
    return " | ".join(lines[-max_lines:])


def clear() -> None:
    """Forget earlier warnings before a new operation."""
    with _recent_lock:
        _recent.clear()
