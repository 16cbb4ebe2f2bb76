"""Is there a terminal to draw on, and is it still there?

The dashboard needs a terminal on stdin and stdout. When an SSH session drops,
the kernel hangs the terminal up: normally bpftop gets SIGHUP and unwinds, but
a process that misses it (another process group, a signal lost in a race)
would find every read of stdin returning end-of-file at once — and Textual's
input thread then loops on it at 100% CPU. So the app also polls the terminal
(``tcgetattr`` fails with EIO on a hung-up terminal) and exits when it is gone.
"""

from __future__ import annotations

import os
import sys
import termios


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
