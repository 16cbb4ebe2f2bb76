"""Read a recording: pure Python, no root, no BPF, no libbpf.

Opening a file reads it once from end to end, checking every record's CRC and
noting each frame's offset and time (the index: no footer is needed, so a
file whose recorder was killed reads up to its last whole frame). Damage - a
torn last record, a flipped byte - is skipped: reading resumes at the next
record whose CRC holds, and deltas that lost their base are dropped until the
next key frame. Each skipped stretch is listed in ``damage``. Only a file that
cannot be read at all raises ``RecordingError``.

The file is another machine's, so nothing in it is trusted: the scan
(``scan.py``) is O(size) whatever the bytes, the index costs ~37 bytes per
frame, a frame's payload is read only when it is decoded and is at most
``MAX_PAYLOAD``, and decoding is bounded by the body's own size (``codec.py``).
"""

from __future__ import annotations

import bisect
import dataclasses
import os
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

from bpftop.frame import Frame, HostInfo
from bpftop.record.codec import decode_frame
from bpftop.record.columns import split_body
from bpftop.record.container import (
    CARRIED,
    DELTA,
    FRAME_PREFIX,
    HEADER,
    KEY,
    MAGIC,
    MAX_HEADER,
    RECORD,
    decompress,
    open_recording,
    parse_header,
    parse_prefix,
    record_crc_ok,
)
from bpftop.record.errors import Damage, FrameDecodeError, RecordingError
from bpftop.record.scan import FrameEntry, FrameIndex, Scanner, plausible_frame

__all__ = ["MAX_LISTED", "FrameEntry", "Recording"]

# Damaged stretches listed one by one; past that they are only counted
# (``damage_unlisted``): a crafted file can hold millions of them.
MAX_LISTED = 50


class Recording:
    """An open recording.

    Args:
        path: the file (a symbolic link is followed: the user named it).

    Raises:
        RecordingError: the file cannot be opened, is not a regular file or
            not a recording, or its header is damaged or from a newer format
            version.

    Attributes:
        header: the header (format version, bpftop version, host, start time,
            collectors, interval).
        entries: the usable frames, in order.
        damage: stretches skipped, in file order (the first ``MAX_LISTED``).
        damage_unlisted: how many more stretches were skipped.
        unknown_types: types in the file this bpftop does not know (dropped).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd, self.size = open_recording(self.path)
        self.entries = FrameIndex()
        self.damage: list[Damage] = []
        self.damage_unlisted = 0
        self.unknown_types: set[str] = set()
        self._pending: dict[str, Any] | None = None
        self._last = -1  # number of the last frame indexed
        self._decode_failed: set[int] = set()  # offsets of frames that did not decode
        self._recent: list[tuple[int, Frame, bytes]] = []  # index, frame, its skeleton
        try:
            self._scanner = Scanner(self._fd, self.size)
            self.header, position = self._read_header()
            self._scan(position)
        except BaseException:
            os.close(self._fd)
            raise
        self._scanner = Scanner(self._fd, 0)  # drop the scan's window

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.entries)

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @property
    def host(self) -> HostInfo:
        """The recorded machine, from the header."""
        raw = self.header.get("host")
        known = {f.name for f in fields(HostInfo)}
        values = {k: v for k, v in raw.items() if k in known} if isinstance(raw, dict) else {}
        try:
            return HostInfo(**values)
        except TypeError:
            return HostInfo()

    @property
    def delay_s(self) -> float:
        """The refresh interval when recording started."""
        value = self.header.get("delay_s")
        return float(value) if isinstance(value, (int, float)) and value > 0 else 1.0

    def _read_header(self) -> tuple[dict[str, Any], int]:
        if os.pread(self._fd, len(MAGIC), 0) != MAGIC:
            raise RecordingError(f"{self.path} is not a bpftop recording (bad magic)")
        record = self._scanner.record(len(MAGIC), limit=MAX_HEADER)
        if isinstance(record, str) or record[0] != HEADER:
            problem = record if isinstance(record, str) else "first record is not the header"
            raise RecordingError(f"{self.path}: damaged header at byte {len(MAGIC)}: {problem}")
        payload = os.pread(self._fd, record[1], len(MAGIC) + RECORD.size)
        return parse_header(payload), len(MAGIC) + RECORD.size + record[1]

    def _scan(self, position: int) -> None:
        scanner = self._scanner
        while position < self.size:
            record = scanner.record(position)
            if isinstance(record, str):
                self._damaged(position, record)
                resume, why = scanner.resync(position + 1, self._plausible)
                if resume is None:
                    if why and self._pending is not None:
                        self._pending["reason"] += f"; {why}"
                    break
                position = resume
                continue
            kind, length, first = record
            if kind in (KEY, DELTA):
                self._add(position, kind == KEY, length, first)
            position += RECORD.size + length
        self._settle(None, None)

    def _plausible(self, kind: bytes, prefix: bytes) -> bool:
        return plausible_frame(kind, prefix, self._last)

    def _damaged(self, offset: int, reason: str) -> None:
        if self._pending is None:
            self._pending = {"offset": offset, "frame": self._last + 1, "reason": reason}

    def _add(self, offset: int, key: bool, length: int, first: bytes) -> None:
        last = self._last
        if len(first) < FRAME_PREFIX.size:
            self._damaged(offset, "frame record too short")
            return
        number, base, ts_ns, wall, method = FRAME_PREFIX.unpack(first)
        # A delta is usable only on the frame just before it: after a lost
        # frame, deltas are dropped until the next key frame.
        if not (number > last and (key or (base == last and number == last + 1))):
            self._damaged(offset, f"frame {number} out of sequence")
            return
        if self._pending is not None:
            self._settle(number, offset)
        self._last = number
        self.entries.add(
            number, offset, length, key=key, ts_ns=ts_ns, wall=wall, carried=bool(method & CARRIED)
        )

    def _settle(self, next_number: int | None, next_offset: int | None) -> None:
        """Close the pending damage: reading resumed at this frame (None: it never did)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        lost = None if next_number is None else next_number - pending["frame"]
        self._note(Damage(**pending, resumed_at=next_offset, frames_lost=lost))

    def _note(self, damage: Damage) -> None:
        if len(self.damage) < MAX_LISTED:
            self.damage.append(damage)
        else:
            self.damage_unlisted += 1

    # -- decoding -------------------------------------------------------------

    def frame(self, index: int) -> Frame:
        """Frame number ``index`` of ``entries``, decoded (from its key frame on).

        Raises:
            IndexError: no such frame.
            FrameDecodeError: the frame, or a delta it builds on, is malformed.
        """
        if not 0 <= index < len(self.entries):
            raise IndexError(f"frame index {index} out of range (0..{len(self.entries) - 1})")
        for cached_index, cached, _ in self._recent:
            if cached_index == index:
                return cached
        keys = self.entries.keys
        key = keys[bisect.bisect_right(keys, index) - 1] if keys else 0
        start, frame, skeleton = key, None, b""
        for cached_index, cached, cached_skeleton in self._recent:
            if key <= cached_index < index and cached_index >= start:
                start, frame, skeleton = cached_index + 1, cached, cached_skeleton
        for i in range(start, index + 1):
            frame, skeleton = self._decode(i, frame, skeleton)
            self._recent = [*self._recent[-2:], (i, frame, skeleton)]
        assert frame is not None
        return frame

    def _decode(self, index: int, prev: Frame | None, prev_skeleton: bytes) -> tuple[Frame, bytes]:
        entry = self.entries[index]
        try:
            payload = memoryview(self._payload(entry))
            prefix = parse_prefix(payload)
            assert prefix is not None
            body = decompress(payload[FRAME_PREFIX.size :], prefix.compression, prev_skeleton)
            frame, unknown = decode_frame(body, None if entry.key else prev)
        except Exception as exc:  # any malformed content: the format's own error instead
            raise FrameDecodeError(
                f"{type(exc).__name__}: {exc}", offset=entry.offset, frame=entry.number
            ) from exc
        self.unknown_types |= unknown
        return frame, split_body(body)[0]

    def _payload(self, entry: FrameEntry) -> bytes:
        """The payload of an indexed frame (at most MAX_PAYLOAD: the scan checked)."""
        data = os.pread(self._fd, RECORD.size + entry.length, entry.offset)
        if len(data) != RECORD.size + entry.length:
            raise ValueError("record changed since the file was opened")
        _, kind, _, crc = RECORD.unpack_from(data)
        payload = data[RECORD.size :]
        if not record_crc_ok(kind, crc, payload):
            raise ValueError("record changed since the file was opened")
        return payload

    def frames(self, start: int = 0) -> Iterator[tuple[int, Frame]]:
        """(index, frame) from ``start`` to the end; undecodable stretches are skipped and noted."""
        index = start
        while 0 <= index < len(self.entries):
            try:
                frame = self.frame(index)
            except FrameDecodeError as exc:
                index = self._skip_to_key(index, str(exc))
                continue
            yield index, frame
            index += 1

    def _skip_to_key(self, index: int, reason: str) -> int:
        keys = self.entries.keys
        position = bisect.bisect_right(keys, index)
        resume = keys[position] if position < len(keys) else len(self.entries)
        entry = self.entries[index]
        if entry.offset in self._decode_failed:
            return resume
        self._decode_failed.add(entry.offset)
        after = self.entries[resume] if resume < len(self.entries) else None
        damage = Damage(
            offset=entry.offset,
            frame=entry.number,
            reason=reason,
            resumed_at=after.offset if after else None,
            frames_lost=after.number - entry.number if after else None,
        )
        last = self.damage[-1] if self.damage else None
        if last is not None and last.resumed_at == entry.offset and last.offset in self._decode_failed:
            # Frames failing one after another (a crafted file): one stretch, not one line each.
            both = damage.frames_lost is not None and last.frames_lost is not None
            lost = (damage.frames_lost or 0) + (last.frames_lost or 0) if both else None
            self.damage[-1] = dataclasses.replace(last, resumed_at=damage.resumed_at, frames_lost=lost)
            return resume
        self._note(damage)
        self.damage.sort(key=lambda d: d.offset)
        return resume

    def index_at_ts(self, ts_ns: int) -> int:
        """The last frame taken at or before ``ts_ns`` (the first if none)."""
        return max(0, bisect.bisect_right(self.entries.ts_ns, ts_ns) - 1)

    def index_at_wall(self, wall: float) -> int:
        """The last frame taken at or before epoch second ``wall`` (the first if none)."""
        return max(0, bisect.bisect_right(self.entries.wall, wall) - 1)
