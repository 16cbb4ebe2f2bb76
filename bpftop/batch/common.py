"""JSON numbers and histograms shared by the batch sections (text goes through bpftop.fmt)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

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


T = TypeVar("T")


@dataclass(frozen=True)
class Rows:
    """Which rows of a per-process table batch output lists: bounded output (issue 23).

    Processes with nothing in the interval are left out, and at most ``limit``
    rows are listed, busiest first (``--rows``); ``--all-rows`` lists every
    process. JSON says how many were left out, and why (``procs_omitted``).

    Attributes:
        limit: rows per table, None for no limit.
        idle: list processes with nothing in the interval too.
    """

    limit: int | None = 20
    idle: bool = False

    def pick(self, rows: Iterable[T], active: Callable[[T], object]) -> tuple[list[T], dict[str, int]]:
        """The rows to list, in the order given, and the counts left out: ``idle`` and over ``rows``."""
        listed: list[T] = []
        idle = over = 0
        limit = self.limit
        for row in rows:
            if not self.idle and not active(row):
                idle += 1
            elif limit is not None and len(listed) >= limit:
                over += 1
            else:
                listed.append(row)
        return listed, {"idle": idle, "rows": over}


DEFAULT_ROWS = Rows()
ALL_ROWS = Rows(limit=None, idle=True)
