"""Where frames come from: one ``Source`` for live, recording-while-live and replay.

The engine (live), ``RecordingSource`` (the engine, recorded as it goes),
``ReplaySource`` (the dashboard's playback) and ``ReplayFrames`` (batch output
of a recording) are all a ``Source``, and the dashboard and batch output only
ever use what is declared here. What a source has nothing to do for (a replay
takes no focus, a live engine has no playback) is a default of the base, so
no caller probes a source with ``getattr`` or asks which kind it is:

- ``advance`` hands out what to derive: ``derive(prev, cur, comm, detail)``
  of the ``Interval``. Live, ``prev`` is the frame handed out before; a
  replay gives the frame recorded before ``cur``, and ``detail`` when its
  per-process tables were kept only every few seconds.
- ``replay`` is the playback's controls (``ReplayControls``), None when live;
  ``live`` says whether the kernel can be asked for on-demand detail (``query``).

A wrapper passes every member on through ``DelegatingSource``, which overrides
each one (``tests/test_source.py`` checks it does), so a member added here
cannot be silently missed behind ``--record``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bpftop.frame import CollectorStatus, Frame

if TYPE_CHECKING:  # derive is not imported at run time: the engine needs none of it
    from bpftop.derive import Derived


@dataclass(frozen=True)
class Interval:
    """What to derive after a tick: ``derive(prev, cur, comm, detail)``.

    Attributes:
        prev: the frame ``cur`` is derived against; None: the first (no rates).
        cur: the frame the tick returned.
        detail: per-process figures from the two latest frames that kept their
            tables (a recording that keeps them every few seconds), else None.
        fresh: ``cur`` is not the frame handed out last (a paused replay hands
            out the same one again: nothing to derive).
    """

    prev: Frame | None
    cur: Frame
    detail: Derived | None = None
    fresh: bool = True


@dataclass(frozen=True)
class PlaybackState:
    """Where the playback is, for the timeline.

    Attributes:
        index: frame shown (index into ``Recording.entries``).
        count: frames in the recording.
        wall: epoch seconds of the frame shown.
        elapsed_s: seconds since the first frame.
        duration_s: seconds from the first frame to the last.
        speed: playback speed (1: real time).
        playing: the clock is running.
    """

    index: int
    count: int
    wall: float
    elapsed_s: float
    duration_s: float
    speed: float
    playing: bool


class ReplayControls(Protocol):
    """A playback's controls: the replay keys and the timeline use these (UI thread)."""

    def state(self) -> PlaybackState:
        """Where the playback is."""

    @property
    def damage(self) -> tuple[str, ...]:
        """What of the recording was found damaged so far, one line each."""

    def toggle(self) -> None:
        """Play or pause."""

    def step(self, frames: int) -> None:
        """Pause and move by ``frames`` frames."""

    def jump(self, seconds: float) -> None:
        """Move by ``seconds`` of recorded time."""

    def go_to(self, text: str) -> None:
        """Move to a time typed by the user; raise ``ValueError`` if it cannot be read or is outside."""

    def change_speed(self, direction: int) -> None:
        """Next speed up (+1) or down (-1)."""


class Source(ABC):
    """Frames for the dashboard and batch output; ``tick`` and ``advance`` from one thread only.

    Attributes:
        delay_s: the refresh interval; the app sets it, and live frames are stamped with it.
    """

    delay_s: float
    _handed: Frame | None = None  # the frame advance() handed out last

    @property
    @abstractmethod
    def status(self) -> tuple[CollectorStatus, ...]:
        """Per collector, in order."""

    @abstractmethod
    def tick(self) -> Frame:
        """The next frame; may block on the kernel, so never from the event loop."""

    @abstractmethod
    def close(self) -> None:
        """Release everything; safe to call twice."""

    def advance(self, comm: str = "") -> Interval:
        """Tick, and say what to derive: here, the new frame against the one handed out before.

        Args:
            comm: the process-name filter ``derive`` gets (a replay's ``detail`` is derived with it).
        """
        cur = self.tick()
        prev, self._handed = self._handed, cur
        return Interval(prev, cur, fresh=cur is not prev)

    def set_focus(self, pid: int) -> None:
        """Track one process in detail (0: none); nothing to do by default."""

    def set_option(self, name: str, value: object) -> None:
        """Pass a setting (``visible_pane``, ``syscall_latency``) to the collectors; none by default."""

    @property
    def record_label(self) -> str:
        """``REC``, ``REC FAILED: why``, ``REPLAY ▶ 1x 14:03:22`` for the header; "" by default."""
        return ""

    @property
    def live(self) -> bool:
        """Whether the kernel is behind this source, so ``query`` can answer."""
        return False

    def query(self, collector: str, *args: object) -> object:
        """Ask one collector for on-demand detail (the bpf pane's Enter screens).

        Raises:
            LookupError: that collector is not running, or no kernel is behind this source.
        """
        raise LookupError(f"{collector}: no kernel to ask")

    @property
    def replay(self) -> ReplayControls | None:
        """The playback's controls; None when this is no replay."""
        return None


class DelegatingSource(Source):
    """A source that passes every member on to another (``inner``); subclasses add to some.

    Args:
        inner: the source wrapped.
    """

    def __init__(self, inner: Source) -> None:
        self.inner = inner

    @property
    def delay_s(self) -> float:
        """The inner source's refresh interval."""
        return self.inner.delay_s

    @delay_s.setter
    def delay_s(self, value: float) -> None:
        self.inner.delay_s = value

    @property
    def status(self) -> tuple[CollectorStatus, ...]:
        """The inner source's statuses."""
        return self.inner.status

    def tick(self) -> Frame:
        """The inner source's next frame."""
        return self.inner.tick()

    def close(self) -> None:
        """Close the inner source."""
        self.inner.close()

    def advance(self, comm: str = "") -> Interval:
        """What the inner source says to derive."""
        return self.inner.advance(comm)

    def set_focus(self, pid: int) -> None:
        """Pass on."""
        self.inner.set_focus(pid)

    def set_option(self, name: str, value: object) -> None:
        """Pass on."""
        self.inner.set_option(name, value)

    @property
    def record_label(self) -> str:
        """The inner source's label."""
        return self.inner.record_label

    @property
    def live(self) -> bool:
        """Whether the inner source is."""
        return self.inner.live

    def query(self, collector: str, *args: object) -> object:
        """Pass on."""
        return self.inner.query(collector, *args)

    @property
    def replay(self) -> ReplayControls | None:
        """The inner source's playback controls."""
        return self.inner.replay
