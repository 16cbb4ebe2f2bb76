"""Route libbpf's messages to Python logging, never to the terminal.

libbpf prints to stderr by default, which would scribble over the TUI. The
callback formats each message with the C library's ``vsnprintf`` and keeps the
last warnings so errors can quote them.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

logger = logging.getLogger("bpftop.libbpf")
# Without it, an application that configures no logging would get libbpf's
# warnings on stderr anyway, through logging.lastResort.
logger.addHandler(logging.NullHandler())

_recent: collections.deque[str] = collections.deque(maxlen=64)
_recent_lock = threading.Lock()
_callback: Any = None  # keep the cffi callback alive for the life of the process


def install(lib: Any, libc: Any) -> None:
    """Register the print callback with libbpf (called once, by ``_ffi.lib``)."""
    global _callback
    from bpftop.bpf._ffi import ffi

    buf_size = 4096

    @ffi.callback("int(enum libbpf_print_level, const char *, void *)")
    def _print(level: int, fmt: Any, args: Any) -> int:
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
