"""A table synchronised by key and drawn line by line: the table of every pane.

``KeyedTable.sync`` replaces the rows by key instead of rebuilding the widget,
so the cursor stays on the same row and nothing blinks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

# Column specs live in bpftop.display (batch tables use them too); panes import them here.
from bpftop.display import Col, R, ns_col, rate_col, rate_order
from bpftop.textsafe import printable

__all__ = ["Col", "Column", "KeyedTable", "R", "fit", "ns_col", "rate_col", "rate_order"]


@dataclass
class Column:
    """A column of a ``KeyedTable``: ``width`` cells, including a one-space gap before it."""

    key: str
    label: str
    width: int
    right: bool


def fit(text: str, width: int, right: bool = False) -> str:
    """``text`` in exactly ``width`` cells: cut with an ellipsis, else padded."""
    text = printable(text)  # a process may name itself with escape sequences
    length = len(text) if text.isascii() else cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 0 else ""
    pad = " " * (width - length)
    return pad + text if right else text + pad


class RowMessage(Message):
    """About one row of a ``KeyedTable``, by key."""

    def __init__(self, table: KeyedTable[Any], row_key: str) -> None:
        super().__init__()
        self.table = table
        self.row_key = row_key

    @property
    def control(self) -> KeyedTable[Any]:
        """The table."""
        return self.table


class KeyedTable(ScrollView, Generic[R], can_focus=True):
    """A row-cursor table synchronised by key, drawn line by line.

    Textual's DataTable re-renders every visible cell through Rich whenever any
    cell changes (its render caches all key on one update counter): ~35 ms a
    frame at 80x24 with 300 processes. This table keeps the rows the pane gives
    it, formats only those on screen and draws each line as one segment, so a
    frame costs what is on screen, not what is in the table.

    Until the user moves the cursor it stays on the first row, so an untouched
    table always highlights the busiest entry; from the first move on, it
    follows its row's key (the same pid) through every update and re-sort.

    Args:
        cells: a row's cell texts, one per column.
    """

    BINDINGS = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "first", "First", show=False),
        Binding("end,ctrl+end", "last", "Last", show=False),
    ]
    COMPONENT_CLASSES = {"keyed-table--header", "keyed-table--cursor"}
    DEFAULT_CSS = """
    KeyedTable {
        height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1;
        background: $surface; color: $foreground;
    }
    KeyedTable > .keyed-table--header { text-style: bold; background: $panel; }
    KeyedTable > .keyed-table--cursor { text-style: bold reverse; }
    """

    class RowHighlighted(RowMessage):
        """The user moved the cursor to the row ``row_key``."""

    class RowSelected(RowMessage):
        """Enter (or a click on the highlighted row) chose the row ``row_key``."""

    def __init__(self, cells: Callable[[R], Sequence[str]], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cells_of = cells
        self.columns: list[Column] = []
        self.cursor_row = 0
        self.user_moved = False
        self._keys: list[str] = []
        self._rows: dict[str, R] = {}
        self._lines: dict[str, tuple[R, str]] = {}  # key -> (row, its line) for rows drawn
        self._styles = (Style(), Style(), Style())  # header, row, cursor: set by render_lines
        self._drawn: dict[int, tuple[str, bool] | None] = {}  # screen line -> what it shows

    def add_column(self, key: str, label: str, width: int, right: bool = False) -> None:
        """Append a column; ``right`` justifies its cells and label to the right."""
        self.columns.append(Column(key, label, width, right))
        self._changed_columns()

    def set_column_width(self, key: str, width: int) -> None:
        """Resize one column (the flexible one, when the terminal is resized)."""
        column = self._column(key)
        if column.width != width:
            column.width = width
            self._changed_columns()

    def set_label(self, key: str, label: str) -> None:
        """Change a column's header text (the sort arrow)."""
        column = self._column(key)
        if column.label != label:
            column.label = label
            self.refresh()

    def _column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def _changed_columns(self) -> None:
        self._lines.clear()
        self._resize_virtual()
        self.refresh()

    def _resize_virtual(self) -> None:
        size = Size(sum(c.width for c in self.columns), len(self._keys) + 1)
        if size == self.virtual_size:
            return
        # Setting virtual_size lays the whole screen out, and processes come and
        # go every tick; only a scrollbar appearing or going needs the layout.
        needs_bar = size.height > self.container_size.height
        if not self.container_size or needs_bar != self.show_vertical_scrollbar:
            self.virtual_size = size
            return
        self.set_reactive(KeyedTable.virtual_size, size)
        if needs_bar:
            self.vertical_scrollbar.window_virtual_size = size.height
        self.scroll_y = min(self.scroll_y, self.max_scroll_y)

    @property
    def keys(self) -> list[str]:
        """Row keys, top to bottom."""
        return self._keys

    @property
    def row_count(self) -> int:
        """Number of rows."""
        return len(self._keys)

    @property
    def cursor_key(self) -> str | None:
        """Key of the highlighted row, None when the table is empty."""
        return self._keys[self.cursor_row] if self._keys else None

    def get_cell(self, key: str, column_key: str) -> str:
        """The text of one cell."""
        index = next(i for i, c in enumerate(self.columns) if c.key == column_key)
        return self._cells_of(self._rows[key])[index]

    def sync(self, rows: Sequence[tuple[str, R]]) -> None:
        """Show ``rows`` (key, row), in that order; the cursor keeps to its key."""
        cursor_key = self.cursor_key
        self._keys = [key for key, _ in rows]
        self._rows = dict(rows)
        if len(self._lines) > 2 * len(self._rows):
            self._lines = {k: v for k, v in self._lines.items() if k in self._rows}
        self._resize_virtual()
        if not self.user_moved or not self._keys:
            index = 0
        elif cursor_key in self._rows:
            index = self._keys.index(cursor_key)
        else:
            index = min(self.cursor_row, len(self._keys) - 1)  # its row is gone: stay put
        if index != self.cursor_row:
            self.cursor_row = index
            self._scroll_to_cursor()
        self._refresh_changed()

    def _shown(self, y: int) -> tuple[str, bool] | None:
        """Screen line ``y`` (under the header): the row's text and whether it has the cursor."""
        index = y - 1 + self.scroll_offset.y
        if index >= len(self._keys):
            return None
        return self._line(self._keys[index]), index == self.cursor_row

    def _refresh_changed(self) -> None:
        # Textual re-styles and re-composites every dirty line, and most rows of
        # a quiet machine read the same from one tick to the next: mark only
        # the lines that differ from what render_line last drew there.
        dirty = [y for y in range(1, self.size.height) if self._drawn.get(y, False) != self._shown(y)]
        if dirty:
            width = self.size.width
            self.refresh(*(Region(0, y, width, 1) for y in dirty))

    def _line(self, key: str) -> str:
        row = self._rows[key]
        drawn = self._lines.get(key)
        if drawn is not None and drawn[0] is row:
            return drawn[1]
        line = self._join(self._cells_of(row))
        self._lines[key] = (row, line)
        return line

    def _join(self, texts: Sequence[str]) -> str:
        return "".join(
            fit(text if c.right or not index else " " + text, c.width, c.right)
            for index, (c, text) in enumerate(zip(self.columns, texts, strict=True))
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        """Work out the styles once per repaint, not once per line."""
        base = self.rich_style
        self._styles = (
            base + self.get_component_rich_style("keyed-table--header"),
            base,
            base + self.get_component_rich_style("keyed-table--cursor"),
        )
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        """The header on the first line, then the rows scrolled into view."""
        width = self.size.width
        header_style, row_style, cursor_style = self._styles
        if y == 0:
            header = self._join([c.label for c in self.columns])
            return Strip([Segment(set_cell_size(header, width), header_style)], width)
        shown = self._drawn[y] = self._shown(y)
        if shown is None:
            return Strip.blank(width, row_style)
        text, cursor = shown
        return Strip([Segment(set_cell_size(text, width), cursor_style if cursor else row_style)], width)

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + self._page:
            self.scroll_to(y=self.cursor_row - self._page + 1, animate=False)

    def move_cursor(self, row: int) -> None:
        """Highlight row number ``row`` (clamped), scroll it into view; a user's move."""
        self.user_moved = True
        row = max(0, min(row, len(self._keys) - 1))
        if row == self.cursor_row or not self._keys:
            return
        self.cursor_row = row
        self._scroll_to_cursor()
        self._refresh_changed()
        self.post_message(self.RowHighlighted(self, self._keys[row]))

    def action_cursor_up(self) -> None:
        """One row up."""
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        """One row down."""
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        """One screenful up."""
        self.scroll_relative(y=-self._page, animate=False)
        self.move_cursor(self.cursor_row - self._page)

    def action_page_down(self) -> None:
        """One screenful down."""
        self.scroll_relative(y=self._page, animate=False)
        self.move_cursor(self.cursor_row + self._page)

    def action_first(self) -> None:
        """The first row."""
        self.move_cursor(0)

    def action_last(self) -> None:
        """The last row."""
        self.move_cursor(len(self._keys) - 1)

    def action_select_cursor(self) -> None:
        """Choose the highlighted row."""
        if self._keys:
            self.post_message(self.RowSelected(self, self._keys[self.cursor_row]))

    def on_click(self, event: events.Click) -> None:
        """A click highlights its row; a click on the highlighted row chooses it."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = offset.y - 1 + self.scroll_offset.y
        if row < len(self._keys):
            event.stop()
            if row == self.cursor_row:
                self.action_select_cursor()
            else:
                self.move_cursor(row)
