"""Route libbpf's messages to Python logging, never to the terminal.

libbpf prints to stderr by default, which would scribble over the TUI. The
callback prints each message whole into a C memory stream (a failed load's
message carries the verifier's whole log, megabytes at times), keeps the last
warnings so errors can quote them, and keeps each verifier log apart: errors
show the reason found at its end (``bpf/verifier.py``), ``bpftop check -v``
the whole log.

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
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from bpftop.bpf import verifier
from bpftop.bpf.verifier import VerifierLog

logger = logging.getLogger("bpftop.libbpf")
# Without it, an application that configures no logging would get libbpf's
# warnings on stderr anyway, through logging.lastResort.
logger.addHandler(logging.NullHandler())

_recent: collections.deque[str] = collections.deque(maxlen=64)
_recent_lock = threading.Lock()
_load_logs: list[VerifierLog] = []  # failed loads since clear()
_collecting: list[list[VerifierLog]] = []  # the lists of open collect_load_logs() blocks
FALLBACK_BYTES = 4096
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

    @ffi.callback("int(enum libbpf_print_level, const char *, void *)", onerror=_on_error)
    def _print(level: int, fmt: Any, args: Any) -> int:
        main = threading.get_ident() == _MAIN
        if main:
            _in_callback[0] = True
        try:
            text = _format(ffi, libc, fmt, args).rstrip()
            load_log = verifier.parse_libbpf_message(text) if level == 0 else None
            if load_log is not None:
                _keep(load_log)
                logger.warning("%s", load_log.rejection())
                logger.info("verifier log of %s:\n%s", load_log.program, load_log.text)
            elif level == 0:  # LIBBPF_WARN
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


def _format(ffi: Any, libc: Any, fmt: Any, args: Any) -> str:
    """Print one libbpf message, whole.

    The va_list can be walked only once, so a buffer found too short could not
    be printed into again, and no size fits all: libbpf's verifier log buffer
    starts at 16 MiB and doubles while the kernel says it is too small. A
    memory stream grows as ``vfprintf`` writes: a short message (most of them)
    costs a small allocation, a long one its length.
    """
    buf_ptr, size = ffi.new("char **"), ffi.new("size_t *")
    stream = libc.open_memstream(buf_ptr, size)
    if stream == ffi.NULL:  # out of memory: a cut message is better than none
        buf = ffi.new("char[]", FALLBACK_BYTES)
        libc.vsnprintf(buf, FALLBACK_BYTES, fmt, args)
        return ffi.string(buf).decode("utf-8", "replace")
    libc.vfprintf(stream, fmt, args)
    libc.fclose(stream)  # sets buf_ptr and size
    try:
        return ffi.unpack(buf_ptr[0], size[0]).decode("utf-8", "replace")
    finally:
        libc.free(buf_ptr[0])


def _keep(load_log: VerifierLog) -> None:
    with _recent_lock:
        _load_logs.append(load_log)
        for collected in _collecting:
            collected.append(load_log)


def take_recent(max_lines: int = 3) -> str:
    """Return and clear the last lines of libbpf's latest warnings, joined on one line."""
    with _recent_lock:
        # Lines, not messages: a message can be long (the BTF load log), and
        # its end carries the reason. Verifier logs are kept apart (take_load_logs).
        lines = [line for text in _recent for line in text.splitlines() if line.strip()]
        _recent.clear()
    return " | ".join(lines[-max_lines:])


def take_load_logs() -> tuple[VerifierLog, ...]:
    """Return and clear the verifier logs of the loads that failed since ``clear()``."""
    with _recent_lock:
        logs = tuple(_load_logs)
        _load_logs.clear()
    return logs


@contextlib.contextmanager
def collect_load_logs() -> Iterator[list[VerifierLog]]:
    """Gather the verifier log of every load that fails inside the block (``bpftop check -v``).

    Unlike ``take_load_logs``, it also sees the failures an object fell back
    from, whose errors were reduced to text.
    """
    collected: list[VerifierLog] = []
    with _recent_lock:
        _collecting.append(collected)
    try:
        yield collected
    finally:
        with _recent_lock:
            _collecting.remove(collected)


def clear() -> None:
    """Forget earlier warnings and verifier logs before a new operation."""
    with _recent_lock:
        _recent.clear()
        _load_logs.clear()
