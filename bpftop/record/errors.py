"""The one exception type a recording raises, and how damage is described."""

from __future__ import annotations

from dataclasses import dataclass


class RecordingError(Exception):
    """A recording cannot be written, or cannot be read at all.

    Damage inside an otherwise readable file is not an exception: the reader
    skips it and lists it in ``Recording.damage``. A frame that fails to decode
    raises ``FrameDecodeError``, a subclass, when asked for directly.
    """


class FrameDecodeError(RecordingError):
    """One frame record passed its CRC but could not be decoded.

    Attributes:
        offset: byte offset of the record in the file.
        frame: the frame's number.
    """

    def __init__(self, message: str, *, offset: int, frame: int) -> None:
        super().__init__(f"frame {frame} at byte {offset}: {message}")
        self.offset = offset
        self.frame = frame


class UnknownTypeError(Exception):
    """A type name in the file that this bpftop does not know (internal)."""


@dataclass(frozen=True)
class Damage:
    """A stretch of the file that could not be used.

    Attributes:
        offset: byte offset where the damage starts.
        frame: number of the first frame lost.
        reason: what was wrong (``CRC mismatch``, ``truncated record``).
        resumed_at: byte offset where reading resumed, None if it stopped there.
        frames_lost: how many frames were lost, None when reading stopped.
    """

    offset: int
    frame: int
    reason: str
    resumed_at: int | None = None
    frames_lost: int | None = None

    def describe(self) -> str:
        """One line for the user."""
        where = f"at byte {self.offset} (frame {self.frame})"
        if self.resumed_at is None:
            return f"stopped {where}: {self.reason}"
        return (
            f"skipped {self.frames_lost} frame(s) {where}: {self.reason}; resumed at byte {self.resumed_at}"
        )
