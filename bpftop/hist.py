"""Log2 histograms: slot bounds, percentiles and labels.

Slot ``i`` counts values ``v`` with ``floor(log2(v)) == i`` (slot 0 also holds
0), i.e. ``[2**i, 2**(i+1))``; the last slot is open-ended. Percentiles are
interpolated linearly inside the slot where the rank falls, so they are exact to
within one slot, as with any log2 histogram.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import accumulate

from bpftop.fmt import format_ns


def slot_bounds(slot: int) -> tuple[int, int]:
    """Return ``[low, high)`` of a slot."""
    return (0 if slot == 0 else 1 << slot), 1 << (slot + 1)


def percentile(slots: Sequence[int], q: float) -> float | None:
    """Estimate the ``q``-th percentile (0..100), None when the histogram is empty."""
    return percentiles(slots, (q,))[0]


def percentiles(slots: Sequence[int], qs: Sequence[float]) -> tuple[float | None, ...]:
    """``percentile`` of each of ``qs``, summing the slots once."""
    total = sum(slots)
    if total <= 0:
        return tuple(None for _ in qs)
    # The first slot whose running count reaches the rank, found in C
    # (accumulate, bisect): derive takes two per process and syscall a refresh.
    running = list(accumulate(slots))
    out: list[float | None] = []
    for q in qs:
        rank = q / 100.0 * total
        # rank 0 (q=0) would stop on a leading empty slot: take the first non-empty one.
        i = bisect_left(running, rank) if rank > 0 else bisect_right(running, 0)
        if i == len(running):
            out.append(float(slot_bounds(len(slots) - 1)[1]))
            continue
        seen = running[i - 1] if i else 0
        low, high = slot_bounds(i)
        out.append(low + (high - low) * max(0.0, rank - seen) / slots[i])
    return tuple(out)


def median_slot(slots: Sequence[int]) -> int | None:
    """Index of the slot holding the median, None when empty."""
    total = sum(slots)
    if total <= 0:
        return None
    seen = 0
    for i, n in enumerate(slots):
        seen += n
        if seen * 2 >= total:
            return i
    return len(slots) - 1


def delta(cur: Sequence[int], prev: Sequence[int] | None) -> tuple[int, ...]:
    """Slot-wise difference; a slot that went down means the source restarted."""
    if prev is None or len(prev) != len(cur):
        return tuple(cur)
    # map/min run in C: a refresh takes hundreds of these (one per process),
    # and generator expressions made this the worker's top cost.
    diff = tuple(map(operator.sub, cur, prev))
    return diff if not diff or min(diff) >= 0 else tuple(cur)


def slot_label(slot: int, last: bool = False, unit_ns: int = 1) -> str:
    """Label of a slot's range, e.g. ``4.19ms-8.39ms``; the last is ``>= low``.

    ``unit_ns`` is the histogram's unit: 1 for log2(ns), 1000 for log2(us).
    """
    low, high = slot_bounds(slot)
    low, high = low * unit_ns, high * unit_ns
    return f">= {format_ns(low)}" if last else f"{format_ns(low)}-{format_ns(high)}"
