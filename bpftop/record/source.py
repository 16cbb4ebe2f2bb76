"""The engine wrapped so that every frame it hands out is also recorded (``--record``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bpftop.frame import CollectorStatus, Frame
from bpftop.record.writer import RecordingWriter


class RecordingSource:
    """A frame source that also appends every frame it hands out to a recording.

    Wraps the engine for ``--record``: the TUI and batch output see the same
    frames, and a failed recording leaves them running.

    Args:
        source: the engine (anything with ``tick``, ``status``, ``delay_s``).
        writer: where frames go.
        report: called once with a message when recording stops early.
    """

    def __init__(
        self, source: Any, writer: RecordingWriter, report: Callable[[str], None] | None = None
    ) -> None:
        self.source = source
        self.writer = writer
        self._report = report

    @property
    def delay_s(self) -> float:
        """The engine's refresh interval."""
        return float(self.source.delay_s)

    @delay_s.setter
    def delay_s(self, value: float) -> None:
        self.source.delay_s = value

    @property
    def status(self) -> tuple[CollectorStatus, ...]:
        """The engine's collector statuses."""
        return tuple(self.source.status)

    @property
    def record_label(self) -> str:
        """``REC`` or why recording stopped."""
        return self.writer.label

    def tick(self) -> Frame:
        """Sample, record, return the frame."""
        frame: Frame = self.source.tick()
        if self.writer.recording and not self.writer.append(frame) and self._report is not None:
            self._report(f"recording {self.writer.state}: {self.writer.message} ({self.writer.summary()})")
        return frame

    def set_focus(self, pid: int) -> None:
        """Pass on to the engine."""
        self.source.set_focus(pid)

    def query(self, collector: str, *args: object) -> object:
        """Pass on to the engine: on-demand detail is not recorded."""
        return self.source.query(collector, *args)

    def set_option(self, name: str, value: object) -> None:
        """Pass on to the engine (e.g. which pane is shown), if it takes settings.

        Not ``syscall_latency``: the screen at hand may show no latency, but a
        replay of the recording may show any pane, so syscalls stay timed.
        """
        if name == "syscall_latency":
            return
        set_option = getattr(self.source, "set_option", None)
        if set_option is not None:
            set_option(name, value)

    def close(self) -> None:
        """Close the recording, then the engine."""
        self.writer.close()
        self.source.close()
