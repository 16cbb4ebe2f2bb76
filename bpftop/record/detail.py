"""Per-process tables every few seconds: how recordings stay within a budget.

What a recording costs per second is set by what changes: on a machine where
hundreds of processes each make a few syscalls, sleep and get scheduled every
second, each process's latency sums, on-CPU time and counters move every
frame, and their nanosecond increments do not compress below about two bytes
each. At a 1 s interval that is 40-50 MB per hour, whatever the encoding.

So the recorder keeps system-wide data (per-syscall, per-disk and per-CPU
figures, histograms, TCP, BPF programs) in every frame, and the per-process
tables (each sample class's ``DETAIL`` fields) in a frame only every *detail
interval*; frames in between are *carried*: they hold the tables of the last
frame that was not (a flag in the frame prefix says so, and the encoder
stores nothing for them). Replay derives per-process figures between two
consecutive uncarried frames, so they are true averages over the detail
interval, computed by the same ``derive`` as live (see ``detail_pair``).

The interval is fixed (``every_s``) or adaptive: by default, per-process
tables go in every frame while the recording stays within its budget (10 MB
per hour), and the interval stretches, up to ``MAX_EVERY_S``, as far as a busy
machine needs. The adaptive interval is the cost of one uncarried frame (what
it adds over a carried one) over what the budget leaves per second once
carried frames and key frames are paid for, both measured as the recording
goes (moving averages).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, cast

from bpftop.frame import Frame

BUDGET_BYTES_PER_HOUR = 10_000_000
MAX_EVERY_S = 60.0
AIM = 0.85  # of the budget: headroom for the averages' lag and for bursts
_SMOOTH = 0.2  # weight of the newest measure in the moving averages


def detail_fields(sample: Any) -> tuple[str, ...]:
    """The sample's per-process tables (its class's ``DETAIL``), () if none."""
    return tuple(getattr(type(sample), "DETAIL", ()))


def carry(frame: Frame, fresh: Frame) -> Frame:
    """``frame`` with the per-process tables of ``fresh`` (a carried frame).

    A sample that ``fresh`` lacks, or has as another type, keeps its own.
    """
    samples: dict[str, Any] = dict(frame.samples)
    for stem, sample in frame.samples.items():
        old = fresh.samples.get(stem)
        names = detail_fields(sample)
        if names and type(old) is type(sample):
            kept = {name: getattr(old, name) for name in names}
            samples[stem] = dataclasses.replace(cast(Any, sample), **kept)
    return dataclasses.replace(frame, samples=samples)


class DetailPolicy:
    """Decides, frame by frame, whether the per-process tables are recorded.

    Args:
        delay_s: the refresh interval (the shortest detail interval).
        every_s: a fixed detail interval (``delay_s`` or less: every frame);
            0 for the adaptive one.
        budget_bytes_per_hour: what the adaptive interval aims at.
    """

    def __init__(
        self, delay_s: float, every_s: float = 0.0, budget_bytes_per_hour: int = BUDGET_BYTES_PER_HOUR
    ) -> None:
        self.delay_s = delay_s
        self.every_s = every_s
        self.budget_per_s = budget_bytes_per_hour / 3600.0
        self.interval_s = every_s or delay_s
        self._fresh_ts_ns: int | None = None
        self._last_ts_ns: int | None = None
        self._base_per_s: float | None = None  # carried frames, bytes per second
        self._fresh_extra: float | None = None  # what an uncarried frame adds
        self._key_extra: float | None = None  # what key frames add, per second
        self._key_ts_ns: int | None = None

    def describe(self) -> dict[str, Any]:
        """For the recording's header."""
        return {"detail_every_s": self.every_s, "budget_bytes_per_hour": round(self.budget_per_s * 3600)}

    def fresh(self, ts_ns: int) -> bool:
        """Should the frame at ``ts_ns`` hold its own per-process tables?"""
        if self._fresh_ts_ns is None:
            return True
        # Half a refresh of slack: ticks drift by milliseconds around their period.
        return ts_ns - self._fresh_ts_ns >= (self.interval_s - self.delay_s / 2) * 1e9

    def wrote(self, ts_ns: int, nbytes: int, *, fresh: bool, key: bool) -> None:
        """Account for a frame written; adapts the interval (unless fixed)."""
        dt_s = (ts_ns - self._last_ts_ns) / 1e9 if self._last_ts_ns is not None else self.delay_s
        dt_s = max(dt_s, 1e-3)
        self._last_ts_ns = ts_ns
        if fresh:
            self._fresh_ts_ns = ts_ns
        base = self._base_per_s if self._base_per_s is not None else 0.0
        if key:
            # A key frame's excess, spread over the time since the one before.
            if self._key_ts_ns is not None:
                since_s = max(dt_s, (ts_ns - self._key_ts_ns) / 1e9)
                self._key_extra = _average(self._key_extra, max(0.0, nbytes - base * dt_s) / since_s)
            self._key_ts_ns = ts_ns
        elif fresh:
            self._fresh_extra = _average(self._fresh_extra, max(0.0, nbytes - base * dt_s))
        else:
            self._base_per_s = _average(self._base_per_s, nbytes / dt_s)
        if not self.every_s:
            self.interval_s = self._adaptive()

    def _adaptive(self) -> float:
        if self._fresh_extra is None:
            return self.delay_s
        longest = max(self.delay_s, MAX_EVERY_S)
        spare = self.budget_per_s * AIM - (self._base_per_s or 0.0) - (self._key_extra or 0.0)
        if spare <= 0:  # carried and key frames alone fill the budget
            return longest
        return min(max(self.delay_s, self._fresh_extra / spare), longest)


def _average(old: float | None, new: float) -> float:
    return new if old is None else old + _SMOOTH * (new - old)


def detail_pair(carried: Sequence[int], index: int) -> tuple[int | None, int] | None:
    """Which frames the per-process figures of frame ``index`` come from.

    Args:
        carried: each frame's flag (0 or 1), in order (``FrameIndex.carried``).
        index: the frame shown.

    Returns:
        None when frame ``index`` and the one before it both hold their own
        tables (``derive`` of the two is right as it is); else ``(a, b)``: the
        last uncarried frame ``b`` at or before ``index`` and the uncarried
        frame before ``b`` (None if there is none: ``b`` is the first).
    """
    if not carried[index] and (index == 0 or not carried[index - 1]):
        return None
    b = index
    while b > 0 and carried[b]:
        b -= 1
    a = b - 1
    while a >= 0 and carried[a]:
        a -= 1
    return (a if a >= 0 else None), b
