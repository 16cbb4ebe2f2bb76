"""Times in a recording as people type them: ``14:03:22``, an ISO time, ``+90``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the dashboard's timeline imports this module: not the reader (~18 ms)
    from bpftop.record.reader import Recording

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?$")
_OFFSET = re.compile(r"^([+-]?)(\d+(?:\.\d*)?)s?$")
AT_HELP = (
    "HH:MM[:SS] (wall clock of the recording), an ISO time, +SECONDS from the start or -SECONDS from the end"
)


def clock_text(wall: float) -> str:
    """``14:03:22`` in this machine's local time zone."""
    return datetime.fromtimestamp(wall).strftime("%H:%M:%S")


def duration_text(seconds: float) -> str:
    """``1:02:03`` or ``02:03``."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def frame_at(recording: Recording, text: str) -> int:
    """The index of the frame shown at ``text`` (the last one taken at or before it).

    Raises:
        ValueError: a time that cannot be read, or that lies outside the recording.
    """
    entries = recording.entries
    if not entries:
        raise ValueError("the recording has no frame")
    first, last = entries[0], entries[-1]
    text = text.strip()
    offset = _OFFSET.match(text)
    if offset:
        seconds = float(offset.group(2))
        if seconds * 1e9 > last.ts_ns - first.ts_ns + 1e9:
            raise ValueError(f"{text}: the recording lasts {duration_text((last.ts_ns - first.ts_ns) / 1e9)}")
        if offset.group(1) == "-":
            return recording.index_at_ts(last.ts_ns - int(seconds * 1e9))
        return recording.index_at_ts(first.ts_ns + int(seconds * 1e9))
    wall = _wall_of(text, first.wall, last.wall)
    if not first.wall - 1 <= wall <= last.wall + 1:
        raise ValueError(
            f"{text} is outside the recording ({clock_text(first.wall)} to {clock_text(last.wall)}, "
            f"{datetime.fromtimestamp(first.wall):%Y-%m-%d})"
        )
    return recording.index_at_wall(wall + 1e-6)


def _wall_of(text: str, start: float, end: float) -> float:
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes = int(clock.group(1)), int(clock.group(2))
        seconds = int(clock.group(3) or 0) + float(clock.group(4) or 0)
        if hours > 23 or minutes > 59 or seconds >= 60:
            raise ValueError(f"{text}: not a time of day")
        day = datetime.fromtimestamp(start).replace(hour=0, minute=0, second=0, microsecond=0)
        # The first such time of day at or after the start (a recording may span midnight).
        for days in range(int((end - start) // 86400) + 2):
            moment = day + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            if moment.timestamp() >= start - 1:
                return moment.timestamp()
        return moment.timestamp()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r}: expected {AT_HELP}") from None
    return moment.timestamp()
