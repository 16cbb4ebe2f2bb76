"""The index of a recording, built in one pass that hostile bytes cannot slow down.

A recording may come from another machine, so every length and every record
start in it is the attacker's. The scan reads the file once, in 1 MB blocks
(each record's CRC is computed block by block, so a record never has to be
in memory whole), and keeps per frame ~37 bytes in flat arrays (not an
object per frame: a file of millions of tiny frames stays a compact index).

After damage, the scan looks for the next record whose CRC holds. That
search is where a crafted file could make the reader quadratic: every byte
pair that looks like a record start claims a length, and checking each
claim's CRC from scratch costs that length. So candidates are found by a
regular expression (sync bytes, a frame type and a length under the cap, in
C, not byte by byte), must be plausible (the next frame number, a base that
fits, a known compression) before any CRC is computed, and the CRCs of false
starts share one budget of twice the file's size: past it, reading stops
there and says why. Total work is O(file size) whatever the bytes.
"""

from __future__ import annotations

import os
import re
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from bpftop.record.container import CARRIED, DELTA, FRAME_PREFIX, KEY, MAX_PAYLOAD, PRIMED, RECORD, SYNC

TORN = "truncated record (the recorder stopped in the middle of a write)"
_BLOCK = 1 << 20
_VALID_METHODS = frozenset({0, 1, 2, 1 | PRIMED})
# A record start worth a closer look: sync, a frame type, a length whose top
# byte (little-endian: the last) keeps it under MAX_PAYLOAD.
_CANDIDATE = re.compile(
    re.escape(SYNC)
    + rb"["
    + re.escape(KEY + DELTA)
    + rb"]...[\x00-"
    + re.escape(bytes([MAX_PAYLOAD >> 24]))
    + rb"]",
    re.DOTALL,
)
_FALSE_START_MIN_BUDGET = 64 << 20


@dataclass(frozen=True)
class FrameEntry:
    """Where one frame is, from the index.

    Attributes:
        number: frame number in the recording.
        offset: byte offset of its record.
        length: payload length.
        key: a key frame (decodes alone); otherwise a delta on the previous frame.
        ts_ns: CLOCK_MONOTONIC on the recording host.
        wall: epoch seconds.
        carried: its per-process tables are those of the last frame not carried
            (a recording that keeps them every few seconds; see RecordingWriter).
    """

    number: int
    offset: int
    length: int
    key: bool
    ts_ns: int
    wall: float
    carried: bool = False


class FrameIndex(Sequence[FrameEntry]):
    """The usable frames, in order, in flat arrays; ``FrameEntry`` objects are made on access.

    Attributes:
        ts_ns, wall: each frame's time (for bisecting).
        carried: each frame's carried flag (0 or 1).
        keys: indexes of the key frames.
    """

    def __init__(self) -> None:
        self.number = array("Q")
        self.offset = array("Q")
        self.length = array("Q")
        self.ts_ns = array("q")
        self.wall = array("d")
        self.key = bytearray()
        self.carried = bytearray()
        self.keys = array("Q")

    def add(
        self, number: int, offset: int, length: int, *, key: bool, ts_ns: int, wall: float, carried: bool
    ) -> None:
        """Add a frame at the end (the fields of ``FrameEntry``)."""
        if key:
            self.keys.append(len(self.key))
        self.number.append(number)
        self.offset.append(offset)
        self.length.append(length)
        self.ts_ns.append(ts_ns)
        self.wall.append(wall)
        self.key.append(key)
        self.carried.append(carried)

    def __len__(self) -> int:
        return len(self.key)

    @overload
    def __getitem__(self, index: int) -> FrameEntry: ...
    @overload
    def __getitem__(self, index: slice) -> list[FrameEntry]: ...
    def __getitem__(self, index: int | slice) -> FrameEntry | list[FrameEntry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("frame index out of range")
        return FrameEntry(
            self.number[index],
            self.offset[index],
            self.length[index],
            bool(self.key[index]),
            self.ts_ns[index],
            self.wall[index],
            bool(self.carried[index]),
        )

    def __iter__(self) -> Iterator[FrameEntry]:
        return (self[i] for i in range(len(self)))


class Scanner:
    """Reads records from a file descriptor through a 1 MB window.

    Args:
        fd: the open recording.
        size: its size when opened (what was appended since is not read).
    """

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self._window = b""
        self._window_at = 0
        self.false_start_budget = self._budget_total = max(_FALSE_START_MIN_BUDGET, 2 * size)

    def _bytes(self, offset: int, count: int) -> memoryview:
        """``count`` (at most a block) bytes at ``offset``; fewer at the end of the file."""
        start = offset - self._window_at
        if start < 0 or start + count > len(self._window):
            self._window = os.pread(self.fd, max(_BLOCK, count), offset)
            self._window_at, start = offset, 0
        return memoryview(self._window)[start : start + count]

    def record(self, offset: int, *, limit: int = MAX_PAYLOAD) -> tuple[bytes, int, bytes] | str:
        """``(type, payload length, its first bytes)`` of the record at ``offset``, or what is wrong."""
        head = self._bytes(offset, RECORD.size)
        if len(head) < RECORD.size:
            return TORN
        sync, kind, length, crc = RECORD.unpack(head)
        problem = (
            "bad record marker"
            if sync != SYNC
            else f"bad record length {length}"
            if length > limit
            else TORN
            if offset + RECORD.size + length > self.size
            else ""
        )
        if problem:
            return problem
        start = offset - self._window_at + RECORD.size
        if start + length <= len(self._window):  # the usual case: all of it in the window
            view = memoryview(self._window)
            if zlib.crc32(view[start : start + length], zlib.crc32(head[2:7])) != crc:
                return "CRC mismatch"
            return kind, length, bytes(view[start : start + min(length, FRAME_PREFIX.size)])
        return self._checked(offset, kind, length, crc)

    def _checked(self, offset: int, kind: bytes, length: int, crc: int) -> tuple[bytes, int, bytes] | str:
        running = zlib.crc32(self._bytes(offset + 2, 5))  # the type and the length
        start = offset + RECORD.size
        first = bytes(self._bytes(start, min(length, FRAME_PREFIX.size)))
        position, end = start, start + length
        while position < end:
            # A long payload goes block by block, past the window: never whole in memory.
            step = min(_BLOCK, end - position)
            block = self._bytes(position, step) if step < _BLOCK else os.pread(self.fd, step, position)
            if len(block) < step:
                return TORN  # the file shrank since it was opened
            running = zlib.crc32(block, running)
            position += step
        return (kind, length, first) if running == crc else "CRC mismatch"

    def resync(self, start: int, plausible: Callable[[bytes, bytes], bool]) -> tuple[int | None, str]:
        """The next record at or after ``start`` whose CRC holds and that ``plausible(type, prefix)`` accepts.

        Returns:
            (its offset, "") or (None, why the search ended without one).
        """
        position = start
        while position < self.size:
            window = self._bytes(position, _BLOCK)
            for match in _CANDIDATE.finditer(window):
                if match.start() + RECORD.size > len(window):
                    continue  # found again at the start of the next window
                at = position + match.start()
                _, kind, length, crc = RECORD.unpack_from(window, match.start())
                if at + RECORD.size + length > self.size or length < FRAME_PREFIX.size:
                    continue
                prefix = bytes(self._bytes(at + RECORD.size, FRAME_PREFIX.size))
                if not plausible(kind, prefix):
                    continue
                if length > self.false_start_budget:
                    return None, (
                        f"gave up looking for the next record after checking "
                        f"{self._budget_total >> 20} MB of false record starts"
                    )
                # (The check may move the window; `window` keeps the block it came from.)
                if isinstance(self._checked(at, kind, length, crc), tuple):
                    return at, ""
                self.false_start_budget -= length
            # Matches may straddle blocks: the next block starts where a record header could still fit.
            position += max(1, len(window) - RECORD.size + 1)
        return None, ""


def plausible_frame(kind: bytes, prefix: bytes, last_number: int) -> bool:
    """Whether a frame record with this prefix could follow frame ``last_number`` (cheap: no CRC)."""
    if len(prefix) < FRAME_PREFIX.size:
        return False
    number, base, _, _, method = FRAME_PREFIX.unpack(prefix)
    if number <= last_number or (method & ~CARRIED) not in _VALID_METHODS:
        return False
    return base == number if kind == KEY else base < number
