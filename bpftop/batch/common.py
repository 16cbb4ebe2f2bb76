"""JSON numbers and histograms shared by the batch sections (text goes through bpftop.fmt)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bpftop import hist


def num(value: float | None, digits: int = 1) -> float | None:
    """Round for JSON, keeping None."""
    return None if value is None else round(value, digits)


def hist_json(interval: Sequence[int], total: Sequence[int] = (), unit: str = "ns") -> list[dict[str, Any]]:
    """Non-empty log2 slots with bounds in ``unit`` and interval counts.

    ``count_total`` is added when cumulative counts are given. The last slot is
    open-ended (``high_<unit>`` null).
    """
    out: list[dict[str, Any]] = []
    last = len(interval) - 1
    for slot, count in enumerate(interval):
        count_total = total[slot] if total else None
        if not count and not count_total:
            continue
        low, high = hist.slot_bounds(slot)
        entry: dict[str, Any] = {
            "slot": slot,
            f"low_{unit}": low,
            f"high_{unit}": None if slot == last else high,
            "count": count,
        }
        if total:
            entry["count_total"] = count_total
        out.append(entry)
    return out
