"""Write a recording: a key frame every two minutes (sooner when deltas are heavy), deltas in between.

Per-process tables go in every frame while the recording stays within its
budget, less often on a busy machine (``bpftop.record.detail``).

Once the file is open, writing never raises: a failed write (disk full,
read-only file system, I/O error) truncates the torn record away, stops the
recording and says why in ``message``, so the dashboard that feeds it runs
on. ``--max-size`` stops recording before the record that would cross it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from typing import Any

from bpftop import __version__
from bpftop.frame import Frame, HostInfo
from bpftop.outfile import DEFAULT_MODE, OutputFileError, create_output
from bpftop.record.codec import encode_frame, oversized
from bpftop.record.columns import split_body
from bpftop.record.container import (
    COMPRESSIONS,
    DELTA,
    HEADER,
    KEY,
    MAGIC,
    PRIMED,
    FramePrefix,
    compress,
    frame_payload,
    header_payload,
    record_bytes,
)
from bpftop.record.detail import BUDGET_BYTES_PER_HOUR, DetailPolicy, carry
from bpftop.record.errors import RecordingError

# A key frame costs a whole frame; deltas cost what moved. Two minutes between
# key frames keeps a quiet machine's recording small (they are most of it)...
KEY_EVERY_FRAMES = 120  # bounds the deltas a seek decodes, whatever the interval
KEY_EVERY_S = 120.0
# ...and so does the work in them: decoding runs at ~125-150 ns per body byte,
# so 768 kB of deltas since the key frame keep a seek's decoding near 100 ms.
KEY_EVERY_DELTA_BYTES = 768_000


def format_size(size: int) -> str:
    """``512 B``, ``3.2 MB`` (decimal units, like ``--max-size``)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _create(path: str, force: bool, mode: int) -> int:
    """The recording's fd: no link followed, never another user's file (bpftop/outfile.py)."""
    try:
        return create_output(path, force=force, mode=mode)
    except OutputFileError as exc:
        raise RecordingError(str(exc)) from None


class RecordingWriter:
    """Appends frames to a new recording file.

    Args:
        path: the file to create.
        host: the machine recorded (goes into the header).
        collectors: collector stems asked for.
        delay_s: the refresh interval at the start.
        force: overwrite an existing file (a regular file of ours only).
        mode: the file's permission bits (0600 by default).
        max_size: stop before the file would exceed this many bytes (0: no limit).
        compression: ``zlib`` (default), ``lzma`` or ``none``.
        detail_s: per-process tables every this many seconds (``delay_s`` or
            less: every frame); 0 (default): as often as ``budget`` allows.
        budget: bytes per hour the adaptive detail interval aims at.

    Raises:
        RecordingError: the file cannot be created or its header written.

    Attributes:
        state: ``recording``, ``stopped`` (max size), ``failed`` or ``closed``.
        message: why it is not recording any more.
        frames: frames written.
        fresh_frames: those with their own per-process tables (the rest carry them).
        size: bytes in the file.
    """

    def __init__(
        self,
        path: str,
        *,
        host: HostInfo,
        collectors: list[str],
        delay_s: float,
        force: bool = False,
        mode: int = DEFAULT_MODE,
        max_size: int = 0,
        compression: str = "zlib",
        key_every_frames: int = KEY_EVERY_FRAMES,
        key_every_s: float = KEY_EVERY_S,
        detail_s: float = 0.0,
        budget: int = BUDGET_BYTES_PER_HOUR,
    ) -> None:
        self.path = path
        self.detail = DetailPolicy(delay_s, detail_s, budget)
        self._fresh: Frame | None = None  # the last frame written with its own per-process tables
        self.max_size = max_size
        self.key_every_frames = key_every_frames
        self.key_every_ns = int(key_every_s * 1e9)
        self._compression = COMPRESSIONS[compression]
        self.state = "recording"
        self.message = ""
        self.frames = 0
        self.fresh_frames = 0  # frames with their own per-process tables
        self._first_ts_ns = self._last_ts_ns = 0
        self.size = 0
        self._prev: Frame | None = None
        self._prev_skeleton = b""
        self._key_ts_ns = 0
        self._since_key = 0
        self._delta_bytes = 0
        self._lock = threading.Lock()
        self._fd = _create(path, force, mode)
        header: dict[str, Any] = {
            "bpftop": __version__,
            "start_wall": time.time(),
            "host": dataclasses.asdict(host),
            "collectors": collectors,
            "delay_s": delay_s,
            "compression": compression,
            "key_every_frames": key_every_frames,
            "key_every_s": key_every_s,
            **self.detail.describe(),
        }
        try:
            self._write(MAGIC + record_bytes(HEADER, header_payload(header)))
        except OSError as exc:
            os.close(self._fd)
            raise RecordingError(f"cannot write {path}: {exc.strerror}") from None

    @property
    def recording(self) -> bool:
        """Still accepting frames."""
        return self.state == "recording"

    @property
    def label(self) -> str:
        """For the dashboard header: ``REC``, ``REC FAILED: ...``, ``REC STOPPED: ...``."""
        if self.state == "recording":
            return "REC"
        if self.state == "closed":
            return ""
        return f"REC {self.state.upper()}: {self.message}"

    def summary(self) -> str:
        """What was recorded, for the end of a session."""
        text = f"{self.frames} frames, {format_size(self.size)} in {self.path}"
        if 0 < self.fresh_frames < self.frames:
            span_s = (self._last_ts_ns - self._first_ts_ns) / 1e9
            every = span_s / max(1, self.fresh_frames - 1)
            text += f" (per-process tables every {every:.0f} s on average; --detail)"
        return text

    def append(self, frame: Frame) -> bool:
        """Write one frame; False when it was not written (see ``state``)."""
        with self._lock:
            if self.state != "recording":
                return False
            prev = self._prev
            key = (
                prev is None
                or self._since_key >= self.key_every_frames
                or frame.ts_ns - self._key_ts_ns >= self.key_every_ns
                or self._delta_bytes >= KEY_EVERY_DELTA_BYTES
            )
            self.detail.delay_s = frame.delay_s or self.detail.delay_s
            fresh = self._fresh is None or self.detail.fresh(frame.ts_ns)
            if not fresh:
                assert self._fresh is not None
                frame = carry(frame, self._fresh)
            try:
                body = encode_frame(frame, None if key else prev)
            except Exception as exc:  # a value the format cannot hold must not stop the dashboard
                return self._stop("failed", f"cannot encode a frame: {exc}")
            too_big = oversized(body)
            if too_big:  # readers refuse such a frame: stop with the reason rather than write it
                return self._stop("failed", too_big)
            number = self.frames
            method = self._compression | (PRIMED if self._compression == 1 and not key else 0)
            prefix = FramePrefix(
                number, number if key else number - 1, frame.ts_ns, frame.wall, method, carried=not fresh
            )
            packed = compress(body, method, self._prev_skeleton)
            record = record_bytes(KEY if key else DELTA, frame_payload(prefix, packed))
            if self.max_size and self.size + len(record) > self.max_size:
                return self._stop("stopped", f"reached --max-size {format_size(self.max_size)}")
            try:
                self._write(record)
                if key:
                    os.fdatasync(self._fd)  # once a minute: survive a power cut up to here
            except OSError as exc:
                return self._stop("failed", exc.strerror or str(exc))
            self._prev, self._prev_skeleton = frame, split_body(body)[0]
            if fresh:
                self._fresh = frame
                self.fresh_frames += 1
            if not self.frames:
                self._first_ts_ns = frame.ts_ns
            self._last_ts_ns = frame.ts_ns
            self.detail.wrote(frame.ts_ns, len(record), fresh=fresh, key=key)
            self.frames += 1
            if key:
                self._key_ts_ns, self._since_key, self._delta_bytes = frame.ts_ns, 1, 0
            else:
                self._since_key += 1
                self._delta_bytes += len(body)
            return True

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            with contextlib.suppress(OSError):  # a torn record "never existed"
                os.ftruncate(self._fd, self.size)
            raise
        self.size += len(data)

    def _stop(self, state: str, message: str) -> bool:
        self.state, self.message = state, message
        return False

    def close(self) -> None:
        """Flush to disk and close; safe to call twice."""
        with self._lock:
            if self._fd < 0:
                return
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            if self.state == "recording":
                self.state = "closed"
