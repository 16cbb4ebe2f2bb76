"""Command-line value checks shared by ``bpftop``, ``record``, ``replay`` and ``profile``.

Each checker turns a bad value into one line, ``bpftop: error: argument -p/--pid:
...``, and exit status 2, before anything is loaded: a value the kernel side
cannot take (a negative pid, a uid past 32 bits, NaN) must not reach cffi,
where it became "can't convert negative int to unsigned" in every pane.
"""

from __future__ import annotations

import argparse
import math
import os
import pwd
import stat
import sys
from typing import NoReturn

PID_MAX_LIMIT = 4_194_304  # the kernel's ceiling for pid_max (include/linux/threads.h, 64-bit)
UID_MAX = 2**32 - 2  # (uid_t)-1 means "no uid" to the kernel
MAX_MIN_BLOCK_US = 3_600_000_000.0  # an hour: longer blocks are rare enough to keep them all


class OneLineParser(argparse.ArgumentParser):
    """``argparse`` with its errors on one line (the usage is what ``--help`` is for)."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE`` and exit with status 2."""
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _number(text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def pid(text: str) -> int:
    """``-p``: a process that exists now (0 is the default, every process).

    One that exits later, while watched, keeps its last figures; one that
    does not exist at start was a typo, not something to watch for nothing.
    """
    value = int(_number(text, int))
    if not 1 <= value <= PID_MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{text}: process ids are 1 to {PID_MAX_LIMIT}")
    if not os.path.exists(f"/proc/{value}"):
        raise argparse.ArgumentTypeError(f"no process {value}")
    return value


def uid(text: str) -> int:
    """``-u``: a user name, or a uid that fits the kernel's 32 bits."""
    if text.isdigit():
        value = int(text)
        if value > UID_MAX:
            raise argparse.ArgumentTypeError(f"{text}: user ids are 0 to {UID_MAX}")
        return value
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise argparse.ArgumentTypeError(f"no such user: {text}") from None


def iterations(text: str) -> int:
    """``-n``: how many intervals; leaving it out means until interrupted."""
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 1 (leave -n out to run until interrupted)")
    return value


DELAY_MIN_S, DELAY_MAX_S = 0.05, 3600.0  # -d and the +/- keys alike


def delay(text: str) -> float:
    """``-d``: the refresh interval in seconds, within the range the ``+``/``-`` keys step through."""
    value = _number(text, float)
    if not DELAY_MIN_S <= value <= DELAY_MAX_S:
        raise argparse.ArgumentTypeError(
            f"{text}: the refresh interval is {DELAY_MIN_S} to {DELAY_MAX_S:.0f} seconds"
        )
    return value


def rows(text: str) -> int:
    """``--rows``: processes listed per table in batch output."""
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 1 (--all-rows lists every process)")
    return value


def freq(text: str) -> int:
    """``--freq``: CPU samples a second per CPU."""
    value = int(_number(text, int))
    if not 1 <= value <= 10000:
        raise argparse.ArgumentTypeError("sampling frequency must be between 1 and 10000 Hz")
    return value


def duration_s(text: str) -> float:
    """``profile --duration``: positive seconds (not NaN, which sampled for no time at all)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: the duration must be positive")
    return value


def min_block_us(text: str) -> float:
    """``--min-block-us``: 0 to an hour in microseconds."""
    value = _number(text, float)
    if not 0 <= value <= MAX_MIN_BLOCK_US:
        raise argparse.ArgumentTypeError(f"{text}: expected 0 to {MAX_MIN_BLOCK_US:.0f} microseconds")
    return value


def cgroup(text: str) -> str:
    """``--cgroup``: a cgroup v2 directory (its inode number is the id the kernel filters on)."""
    try:
        st = os.stat(text)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc.strerror}") from None
    # cgroup.controllers exists in every cgroup v2 directory and in no v1 one;
    # any other file's inode number would silently match no task at all.
    if not stat.S_ISDIR(st.st_mode) or not os.path.exists(os.path.join(text, "cgroup.controllers")):
        raise argparse.ArgumentTypeError(f"{text}: not a cgroup v2 directory (one under a cgroup2 mount)")
    return text
