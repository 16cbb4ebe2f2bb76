"""Frame sources fed from a recording: one for batch output, one for the dashboard.

Both hand out recorded frames; rates come from ``derive`` on consecutive
recorded frames, exactly as live, and per-process figures of a recording that
keeps per-process tables every few seconds from ``derive`` on the two frames
that hold them (``DetailFrames``). Neither needs root, BPF or libbpf.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bpftop.derive import Derived, derive
from bpftop.frame import CollectorStatus, Frame
from bpftop.record.attime import clock_text, frame_at
from bpftop.record.detail import detail_pair
from bpftop.record.errors import FrameDecodeError
from bpftop.record.reader import Recording
from bpftop.source import Interval, PlaybackState, ReplayControls, Source

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


class EndOfRecording(Exception):  # noqa: N818 - the end of the file, not an error
    """The batch source has handed out its last frame."""


class DetailFrames:
    """The per-process figures of frames whose tables were carried (see ``bpftop.record.detail``).

    ``prepare(index)`` (in the thread that decodes frames) finds and decodes
    the two uncarried frames frame ``index``'s per-process figures come from;
    ``derived(comm)`` derives them once per pair.
    """

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self._carried = recording.entries.carried
        self._any = any(self._carried)
        self._frames: dict[int, Frame | None] = {}
        self._pair: tuple[int | None, int] | None = None
        self._done: tuple[tuple[int | None, int, str], Derived] | None = None

    def observe(self, index: int, frame: Frame) -> None:
        """Keep an uncarried frame met in order (saves decoding it again)."""
        if self._any and not self._carried[index]:
            self._frames[index] = frame
            self._trim()

    def prepare(self, index: int) -> None:
        """Decode what the per-process figures of frame ``index`` need."""
        self._pair = detail_pair(self._carried, index) if self._any else None
        if self._pair is None:
            return
        for i in self._pair:
            if i is not None and i not in self._frames:
                try:
                    self._frames[i] = self.recording.frame(i)
                except FrameDecodeError:
                    self._frames[i] = None  # damaged: the figures stay those of the frame shown
        self._trim()

    def derived(self, comm: str = "") -> Derived | None:
        """``derive`` of the pair for the frame last prepared, None when not needed."""
        if self._pair is None:
            return None
        a, b = self._pair
        later = self._frames.get(b)
        if later is None:
            return None
        if self._done is not None and self._done[0] == (a, b, comm):
            return self._done[1]
        earlier = self._frames.get(a) if a is not None else None
        result = derive(earlier, later, comm)
        self._done = ((a, b, comm), result)
        return result

    def _trim(self) -> None:
        keep = set(self._pair or ()) | set(sorted(self._frames)[-2:])
        for i in [i for i in self._frames if i not in keep]:
            del self._frames[i]


class ReplayFrames(Source):
    """Every frame from ``start`` on, in order, one per ``tick`` (batch output).

    Args:
        recording: an open recording.
        start: index of the first frame handed out.
    """

    def __init__(self, recording: Recording, start: int = 0) -> None:
        self.recording = recording
        self.delay_s = recording.delay_s
        self._status: tuple[CollectorStatus, ...] = ()
        self._frames = recording.frames(start)
        self._detail = DetailFrames(recording)

    def tick(self) -> Frame:
        """The next recorded frame.

        Raises:
            EndOfRecording: there is none.
        """
        try:
            index, frame = next(self._frames)
        except StopIteration:
            raise EndOfRecording from None
        self._detail.observe(index, frame)
        self._detail.prepare(index)
        self._status = frame.status
        return frame

    @property
    def status(self) -> tuple[CollectorStatus, ...]:
        """Collector statuses as recorded in the frame ``tick`` returned last."""
        return self._status

    def advance(self, comm: str = "") -> Interval:
        """The next frame against the one before, with the per-process figures it takes."""
        interval = super().advance(comm)
        return Interval(interval.prev, interval.cur, self.detail(comm), interval.fresh)

    def detail(self, comm: str = "") -> Derived | None:
        """Per-process figures for the frame ``tick`` returned last (see ``DetailFrames``)."""
        return self._detail.derived(comm)

    def close(self) -> None:
        """The caller closes the recording."""


class ReplaySource(Source):
    """The dashboard's frame source in replay: a playback clock over a recording.

    ``tick`` returns the frame at the playback clock: the clock runs at
    ``speed`` times real time while playing and stops at the end. ``advance``
    says to derive each frame against ``frame_before()``, the frame recorded
    just before it, so rates are the recorded interval's whatever the speed.
    The controls (``replay``: this source itself) are called from the UI
    thread; ``tick`` (the only one to read frames from the file) from the
    app's worker thread.

    Args:
        recording: an open recording with at least one frame.
        start: index of the first frame shown.
        speed: initial speed.
        playing: start playing (else paused on ``start``).
        clock: seconds, monotonic (tests pass a fake).
    """

    def __init__(
        self,
        recording: Recording,
        *,
        start: int = 0,
        speed: float = 1.0,
        playing: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recording = recording
        self.delay_s = recording.delay_s
        self.speed = speed
        self.playing = playing
        self._entries = recording.entries
        self._index = min(max(0, start), len(self._entries) - 1)
        self._pos_ns = self._entries[self._index].ts_ns
        self._half_ns = int(recording.delay_s * 0.5e9)  # round the clock to the nearest frame
        self._clock = clock
        self._last_real: float | None = None
        self._before: Frame | None = None
        self._status: tuple[CollectorStatus, ...] = ()
        self._lock = threading.Lock()
        self._detail = DetailFrames(recording)

    @property
    def status(self) -> tuple[CollectorStatus, ...]:
        """Collector statuses as recorded in the frame shown."""
        return self._status

    @property
    def record_label(self) -> str:
        """``REPLAY ▶ 2x 14:03:22`` for the header."""
        state = self.state()
        return f"REPLAY {'▶' if state.playing else '⏸'} {state.speed:g}x {clock_text(state.wall)}"

    def state(self) -> PlaybackState:
        """Where the playback is."""
        with self._lock:
            first, last, shown = self._entries[0], self._entries[-1], self._entries[self._index]
            return PlaybackState(
                index=self._index,
                count=len(self._entries),
                wall=shown.wall,
                elapsed_s=(shown.ts_ns - first.ts_ns) / 1e9,
                duration_s=(last.ts_ns - first.ts_ns) / 1e9,
                speed=self.speed,
                playing=self.playing,
            )

    def tick(self) -> Frame:
        """The frame at the playback clock (the same object again if nothing moved).

        Raises:
            FrameDecodeError: the frame is damaged; playback pauses there.
        """
        with self._lock:
            now = self._clock()
            if self.playing and self._last_real is not None:
                self._pos_ns += int((now - self._last_real) * self.speed * 1e9)
                last = len(self._entries) - 1
                self._index = max(self._index, self.recording.index_at_ts(self._pos_ns + self._half_ns))
                if self._index >= last and self._pos_ns >= self._entries[last].ts_ns:
                    self._index, self.playing = last, False
            self._last_real = now
            index = self._index
        # Decoding (up to a key frame's worth of deltas after a seek) runs
        # outside the lock, so the UI thread's controls never wait for it.
        # The frames holding per-process tables come first: they are older,
        # so the decoding goes forward once.
        self._detail.prepare(index)
        try:
            before = self.recording.frame(index - 1) if index > 0 else None
        except FrameDecodeError:
            before = None  # a key frame after damage: shown like a first frame
        try:
            frame = self.recording.frame(index)
        except FrameDecodeError:
            with self._lock:
                self.playing = False
            raise
        self._before, self._status = before, frame.status
        return frame

    def advance(self, comm: str = "") -> Interval:
        """The frame at the playback clock against the one recorded before it (not the one shown before)."""
        interval = super().advance(comm)
        return Interval(self._before, interval.cur, self.detail(comm), interval.fresh)

    @property
    def replay(self) -> ReplayControls:
        """This source is its own playback controls."""
        return self

    @property
    def damage(self) -> tuple[str, ...]:
        """What of the recording was found damaged so far, one line each."""
        return tuple(damage.describe() for damage in self.recording.damage)

    def frame_before(self) -> Frame | None:
        """The frame recorded just before the one ``tick`` returned last."""
        return self._before

    def detail(self, comm: str = "") -> Derived | None:
        """Per-process figures for the frame ``tick`` returned last (see ``DetailFrames``)."""
        return self._detail.derived(comm)

    def close(self) -> None:
        """Close the recording."""
        self.recording.close()

    # -- controls (UI thread) ---------------------------------------------------

    def _move_to(self, index: int) -> None:
        self._index = min(max(0, index), len(self._entries) - 1)
        self._pos_ns = self._entries[self._index].ts_ns
        self._last_real = None

    def toggle(self) -> None:
        """Play or pause; playing from the last frame starts again from the first."""
        with self._lock:
            self.playing = not self.playing
            if self.playing and self._index == len(self._entries) - 1:
                self._move_to(0)
            self._last_real = None

    def step(self, frames: int) -> None:
        """Pause and move by ``frames`` frames."""
        with self._lock:
            self.playing = False
            self._move_to(self._index + frames)

    def jump(self, seconds: float) -> None:
        """Move by ``seconds`` of recorded time (keeps playing or paused)."""
        with self._lock:
            target = self._entries[self._index].ts_ns + int(seconds * 1e9)
            self._move_to(self.recording.index_at_ts(target + self._half_ns))

    def go_to(self, text: str) -> None:
        """Move to a time typed by the user (see ``attime.frame_at``).

        Raises:
            ValueError: the time cannot be read or is outside the recording.
        """
        index = frame_at(self.recording, text)
        with self._lock:
            self._move_to(index)

    def change_speed(self, direction: int) -> None:
        """Next speed in ``SPEEDS`` up (+1) or down (-1)."""
        with self._lock:
            if direction > 0:
                self.speed = min((s for s in SPEEDS if s > self.speed), default=SPEEDS[-1])
            else:
                self.speed = max((s for s in SPEEDS if s < self.speed), default=SPEEDS[0])
