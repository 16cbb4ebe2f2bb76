"""Number and histogram formatting shared by the batch sections."""

from __future__ import annotations

from bpftop import hist


def num(value: float | None, digits: int = 1) -> float | None:
    """Round for JSON, keeping None."""
    return None if value is None else round(value, digits)


def hist_json(interval: tuple[int, ...], total: tuple[int, ...]) -> list[dict[str, int | None]]:
    """Non-empty log2(ns) slots with bounds, interval and cumulative counts."""
    out: list[dict[str, int | None]] = []
    last = len(total) - 1
    for slot, count_total in enumerate(total):
        if not count_total:
            continue
        low, high = hist.slot_bounds(slot)
        out.append(
            {
                "slot": slot,
                "low_ns": low,
                "high_ns": None if slot == last else high,
                "count": interval[slot],
                "count_total": count_total,
            }
        )
    return out


def fmt_rate(value: float | None) -> str:
    """A rate for a text table: ``-`` before the first interval."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
