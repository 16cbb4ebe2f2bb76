"""Read a recording: pure Python, no root, no BPF, no libbpf.

Opening a file reads it once from end to end, checking every record's CRC and
noting each frame's offset and time (the index: no footer is needed, so a
file whose recorder was killed reads up to its last whole frame). Damage - a
torn last record, a flipped byte - is skipped: reading resumes at the next
record whose CRC holds, and deltas that lost their base are dropped until the
next key frame. Each skipped stretch is listed in ``damage``. Only a file that
cannot be read at all raises ``RecordingError``.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any, BinaryIO

from bpftop.frame import Frame, HostInfo
from bpftop.record.codec import decode_frame
from bpftop.record.columns import split_body
from bpftop.record.container import (
    DELTA,
    FRAME_PREFIX,
    HEADER,
    KEY,
    MAGIC,
    MAX_PAYLOAD,
    RECORD,
    SYNC,
    decompress,
    parse_header,
    parse_prefix,
    record_crc_ok,
)
from bpftop.record.errors import Damage, FrameDecodeError, RecordingError

_TORN = "truncated record (the recorder stopped in the middle of a write)"
_CHUNK = 1 << 20


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


class Recording:
    """An open recording.

    Args:
        path: the file.

    Raises:
        RecordingError: the file cannot be opened, is not a recording, or its
            header is damaged or from a newer format version.

    Attributes:
        header: the header (format version, bpftop version, host, start time,
            collectors, interval).
        entries: the usable frames, in order.
        damage: stretches skipped, in file order.
        unknown_types: types in the file this bpftop does not know (dropped).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            self.size = os.fstat(self._file.fileno()).st_size
        except OSError as exc:
            raise RecordingError(f"cannot open {self.path}: {exc.strerror}") from None
        self.entries: list[FrameEntry] = []
        self.damage: list[Damage] = []
        self.unknown_types: set[str] = set()
        self._pending: dict[str, Any] | None = None
        self._recent: list[tuple[int, Frame, bytes]] = []  # index, frame, its skeleton
        try:
            self.header, position = self._read_header()
            self._scan(position)
        except BaseException:
            self._file.close()
            raise
        self._ts = [e.ts_ns for e in self.entries]
        self._walls = [e.wall for e in self.entries]
        self._keys = [i for i, e in enumerate(self.entries) if e.key]

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.entries)

    def close(self) -> None:
        """Close the file."""
        self._file.close()

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

    def _read(self, offset: int, size: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(size)

    def _read_header(self) -> tuple[dict[str, Any], int]:
        if self._read(0, len(MAGIC)) != MAGIC:
            raise RecordingError(f"{self.path} is not a bpftop recording (bad magic)")
        record = self._record_at(len(MAGIC))
        if isinstance(record, str) or record[0] != HEADER:
            problem = record if isinstance(record, str) else "first record is not the header"
            raise RecordingError(f"{self.path}: damaged header at byte {len(MAGIC)}: {problem}")
        return parse_header(record[1]), len(MAGIC) + RECORD.size + len(record[1])

    def _record_at(self, offset: int) -> tuple[bytes, bytes] | str:
        """(type, payload) of the record at ``offset``, or what is wrong with it."""
        head = self._read(offset, RECORD.size)
        if len(head) < RECORD.size:
            return _TORN
        sync, kind, length, crc = RECORD.unpack(head)
        if sync != SYNC:
            return "bad record marker"
        if length > MAX_PAYLOAD:
            return f"bad record length {length}"
        if offset + RECORD.size + length > self.size:
            return _TORN
        payload = self._file.read(length)
        if not record_crc_ok(kind, crc, payload):
            return "CRC mismatch"
        return kind, payload

    def _scan(self, position: int) -> None:
        while position < self.size:
            record = self._record_at(position)
            if isinstance(record, str):
                self._damaged(position, record)
                resume = self._resync(position + 1)
                if resume is None:
                    break
                position = resume
                continue
            kind, payload = record
            if kind in (KEY, DELTA):
                self._add(position, kind == KEY, payload)
            position += RECORD.size + len(payload)
        self._settle(None, None)

    def _resync(self, start: int) -> int | None:
        """The offset of the next record whose CRC holds, at or after ``start``."""
        position = start
        while position < self.size:
            chunk = self._read(position, _CHUNK + len(SYNC))
            found = chunk.find(SYNC)
            while found >= 0:
                if not isinstance(self._record_at(position + found), str):
                    return position + found
                found = chunk.find(SYNC, found + 1)
            position += _CHUNK
        return None

    def _damaged(self, offset: int, reason: str) -> None:
        first_lost = self.entries[-1].number + 1 if self.entries else 0
        if self._pending is None:
            self._pending = {"offset": offset, "frame": first_lost, "reason": reason}

    def _add(self, offset: int, key: bool, payload: bytes) -> None:
        prefix = parse_prefix(payload)
        last = self.entries[-1].number if self.entries else -1
        # A delta is usable only on the frame just before it: after a lost
        # frame, deltas are dropped until the next key frame.
        usable = prefix is not None and prefix.number > last
        if usable and prefix is not None and not key:
            usable = prefix.base == last and prefix.number == last + 1
        if prefix is None or not usable:
            if self._pending is None:
                why = "frame record too short" if prefix is None else f"frame {prefix.number} out of sequence"
                self._pending = {"offset": offset, "frame": last + 1, "reason": why}
            return
        self._settle(prefix.number, offset)
        self.entries.append(
            FrameEntry(prefix.number, offset, len(payload), key, prefix.ts_ns, prefix.wall, prefix.carried)
        )

    def _settle(self, next_number: int | None, next_offset: int | None) -> None:
        """Close the pending damage: reading resumed at this frame (None: it never did)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        lost = None if next_number is None else next_number - pending["frame"]
        self.damage.append(Damage(**pending, resumed_at=next_offset, frames_lost=lost))

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
        key = self._keys[bisect.bisect_right(self._keys, index) - 1] if self._keys else 0
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
            record = self._record_at(entry.offset)
            if isinstance(record, str):
                raise ValueError(f"{record} (the file changed since it was opened?)")
            payload = memoryview(record[1])
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
        position = bisect.bisect_right(self._keys, index)
        resume = self._keys[position] if position < len(self._keys) else len(self.entries)
        entry = self.entries[index]
        if not any(d.offset == entry.offset for d in self.damage):
            after = self.entries[resume] if resume < len(self.entries) else None
            self.damage.append(
                Damage(
                    offset=entry.offset,
                    frame=entry.number,
                    reason=reason,
                    resumed_at=after.offset if after else None,
                    frames_lost=after.number - entry.number if after else None,
                )
            )
            self.damage.sort(key=lambda d: d.offset)
        return resume

    def index_at_ts(self, ts_ns: int) -> int:
        """The last frame taken at or before ``ts_ns`` (the first if none)."""
        return max(0, bisect.bisect_right(self._ts, ts_ns) - 1)

    def index_at_wall(self, wall: float) -> int:
        """The last frame taken at or before epoch second ``wall`` (the first if none)."""
        return max(0, bisect.bisect_right(self._walls, wall) - 1)
