"""Table building blocks: column specs, number formats and a table synchronised by key.

``KeyedTable.sync`` adds, removes and updates cells by row key instead of
rebuilding the table, so the cursor stays on the same row and nothing blinks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from bpftop.hist import format_ns

R = TypeVar("R")


def fmt_rate(value: float | None) -> str:
    """Compact per-second rate: ``-`` before the first interval, ``12.3k``, ``4.5M``."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if value < 10:
        return f"{value:.1f}"
    if value < 10_000:
        return f"{value:.0f}"
    if value < 1_000_000:
        return f"{value / 1e3:.1f}k"
    return f"{value / 1e6:.1f}M"


def rate_order(rate_per_s: float | None, count: int) -> float:
    """Sort key of a rate; the first frame has no interval, so its counts order it."""
    return float(count) if rate_per_s is None else rate_per_s


@dataclass(frozen=True)
class Col(Generic[R]):
    """One column of a table pane.

    Attributes:
        key: column key, stable across label changes.
        label: header text.
        width: cells, including the one-space gap before it; 0 takes the rest.
        text: what the cell shows for a row.
        sort: sort key of a row; None sorts lowest.
        numeric: right-justified, and sorted largest first by default.
    """

    key: str
    label: str
    width: int
    text: Callable[[R], str]
    sort: Callable[[R], Any]
    numeric: bool = True


def rate_col(key: str, label: str, width: int) -> Col[Any]:
    """A per-second rate column over a row's ``<key>_per_s`` rate and ``<key>`` count."""
    rate, count = attrgetter(f"{key}_per_s"), attrgetter(key)
    return Col(key, label, width, lambda r: fmt_rate(rate(r)), lambda r: rate_order(rate(r), count(r)))


def ns_col(key: str, label: str, width: int, field: str) -> Col[Any]:
    """A duration column over a row's nanosecond ``field``."""
    value = attrgetter(field)
    return Col(key, label, width, lambda r: format_ns(value(r)), value)


class KeyedTable(DataTable[Text]):
    """A row-cursor DataTable that is synchronised, not rebuilt.

    The first column shows each row's key (pid, syscall name); ``sync`` relies on
    that to put rows in the requested order with ``DataTable.sort``.

    Until the user moves the cursor it stays on the first row, so an untouched
    table always highlights the busiest entry; from the first move on, it
    follows its row's key (the same pid) through every update and re-sort.
    """

    DEFAULT_CSS = """
    KeyedTable { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }
    KeyedTable > .datatable--cursor { text-style: bold reverse; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", cell_padding=0, zebra_stripes=False)
        self.user_moved = False
        self._syncing = False

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        """Note a cursor move that ``sync`` did not make."""
        super().watch_cursor_coordinate(old, new)
        if old != new and not self._syncing:
            self.user_moved = True

    @property
    def cursor_key(self) -> str | None:
        """Key of the highlighted row, None when the table is empty."""
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def set_column_width(self, key: str, width: int) -> None:
        """Resize one column (the flexible one, when the terminal is resized)."""
        column = self.columns[ColumnKey(key)]
        if column.width == width:
            return
        column.width = width
        # DataTable recomputes its virtual size only when a cell changed; flag it
        # and drop cached renders, which do not key on the column width.
        self._require_update_dimensions = True
        self.notify_style_update()

    def sync(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Make the table show ``rows`` (key, cells), in that order.

        Rows whose key is gone are removed, new keys are added, and only cells
        whose content changed are updated.
        """
        self._syncing = True
        try:
            self._sync(rows)
        finally:
            self._syncing = False

    def _sync(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        cursor_key = self.cursor_key
        wanted = {key for key, _ in rows}
        for row_key in list(self.rows):
            if row_key.value not in wanted:
                self.remove_row(row_key)
        column_keys = [column.key for column in self.ordered_columns]
        for key, cells in rows:
            if key not in self.rows:
                self.add_row(*cells, key=key)
                continue
            for column_key, cell in zip(column_keys, cells, strict=True):
                if self.get_cell(key, column_key) != cell:
                    self.update_cell(key, column_key, cell)
        order = [key for key, _ in rows]
        if [row.key.value for row in self.ordered_rows] != order:
            rank = {key: index for index, key in enumerate(order)}
            self.sort(column_keys[0], key=lambda cell: rank[cell.plain])
        if not self.row_count:
            return
        if not self.user_moved:
            index = 0
        elif cursor_key in wanted:
            index = self.get_row_index(cursor_key)
        else:
            return  # its row is gone: stay at the same position
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False)
