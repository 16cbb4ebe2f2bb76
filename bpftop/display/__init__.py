"""What a derived view looks like as text, shared by its pane and its batch section.

A field shown both live and by ``bpftop -b`` is defined once here: its
column (label, cell text, sort key; the width and ``shown_from`` only the
panes use) and the summary lines both print. Modules are named by stem
(``display/procs.py``). Numbers go through ``bpftop.fmt``.

The layer sits between the model and its two outputs: it imports the model
(``bpftop.derive``) and ``bpftop.fmt``, never ``bpftop.panes``,
``bpftop.batch`` or Textual, so the panes and batch import it and never
each other (tests/test_layers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, TypeVar

from bpftop.fmt import fmt_rate, format_ns

R = TypeVar("R")


def rate_order(rate_per_s: float | None, count: int) -> float:
    """Sort key of a rate; the first frame has no interval, so its counts order it."""
    return float(count) if rate_per_s is None else rate_per_s


@dataclass(frozen=True)
class Col(Generic[R]):
    """One column of a table pane, and of the batch table showing the same rows.

    Attributes:
        key: column key, stable across label changes.
        label: header text.
        width: cells, including the one-space gap before it; 0 takes the rest.
        text: what the cell shows for a row.
        sort: sort key of a row; None sorts lowest.
        numeric: right-justified, and sorted largest first by default.
        shown_from: the narrowest table (cells) that shows the column; 0 always.
    """

    key: str
    label: str
    width: int
    text: Callable[[R], str]
    sort: Callable[[R], Any]
    numeric: bool = True
    shown_from: int = 0


def rate_col(key: str, label: str, width: int) -> Col[Any]:
    """A per-second rate column over a row's ``<key>_per_s`` rate and ``<key>`` count."""
    rate, count = attrgetter(f"{key}_per_s"), attrgetter(key)
    return Col(key, label, width, lambda r: fmt_rate(rate(r)), lambda r: rate_order(rate(r), count(r)))


def ns_col(key: str, label: str, width: int, field: str) -> Col[Any]:
    """A duration column over a row's nanosecond ``field``."""
    value = attrgetter(field)
    return Col(key, label, width, lambda r: format_ns(value(r)), value)
