"""The engine wrapped so that every frame it hands out is also recorded (``--record``)."""

from __future__ import annotations

from collections.abc import Callable

from bpftop.frame import Frame
from bpftop.record.writer import RecordingWriter
from bpftop.source import DelegatingSource, Interval, Source


class RecordingSource(DelegatingSource):
    """A source that also appends every frame it hands out to a recording.

    Wraps the engine for ``--record``: the TUI and batch output see the same
    frames, and a failed recording leaves them running. Everything else
    (focus, settings, queries) passes on to the engine (``DelegatingSource``).

    Args:
        source: the engine.
        writer: where frames go.
        report: called once with a message when recording stops early.
    """

    def __init__(
        self, source: Source, writer: RecordingWriter, report: Callable[[str], None] | None = None
    ) -> None:
        super().__init__(source)
        self.writer = writer
        self._report = report

    @property
    def record_label(self) -> str:
        """``REC`` or why recording stopped."""
        return self.writer.label

    def tick(self) -> Frame:
        """Sample, record, return the frame."""
        return self._record(self.inner.tick())

    def advance(self, comm: str = "") -> Interval:
        """Sample and record; derive as the engine says."""
        interval = self.inner.advance(comm)
        if interval.fresh:
            self._record(interval.cur)
        return interval

    def _record(self, frame: Frame) -> Frame:
        if self.writer.recording and not self.writer.append(frame) and self._report is not None:
            self._report(f"recording {self.writer.state}: {self.writer.message} ({self.writer.summary()})")
        return frame

    def set_option(self, name: str, value: object) -> None:
        """Pass on to the engine (e.g. which pane is shown).

        Not ``syscall_latency``: the screen at hand may show no latency, but a
        replay of the recording may show any pane, so syscalls stay timed.
        """
        if name != "syscall_latency":
            self.inner.set_option(name, value)

    def close(self) -> None:
        """Close the recording, then the engine."""
        self.writer.close()
        self.inner.close()
