"""A sortable, filterable table pane, the base of every table in bpftop.

A ``TablePane`` turns the derived model into rows, sorts and filters them in
Python and hands the result to ``KeyedTable.sync`` (rows updated in place by
key). It also shows a collector's load error in place of its table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from bpftop.derive import Derived
from bpftop.panes.header import Readout
from bpftop.panes.histogram import HistogramBox
from bpftop.panes.keyed_table import Col, KeyedTable, R
from bpftop.panes.messages import Dashboard


class TablePane(Vertical, Generic[R]):
    """Base of the table panes: sorting, reversing, filtering, collector errors.

    Subclasses set ``COLUMNS`` (the first one shows the row key), ``COLLECTOR``
    and ``DEFAULT_SORT``, implement ``rows_of`` and ``row_key``, and may override
    ``row_order``, ``matches``, ``summary_extra`` and ``after_sync``.
    """

    BINDINGS = [
        Binding("s", "sort(1)", "Sort", tooltip="sort by the next column"),
        Binding(">", "sort(1)", "Sort", show=False, tooltip="sort by the next column"),
        Binding("<", "sort(-1)", "Sort back", show=False, tooltip="sort by the previous column"),
        Binding("r", "reverse", "Reverse", tooltip="reverse the sort order"),
        Binding("/", "filter", "Filter", tooltip="filter rows (Enter keeps, Esc clears)"),
        Binding("escape", "close_filter", "Close filter", show=False, tooltip="clear and close the filter"),
    ]
    DEFAULT_CSS = """
    TablePane { height: 1fr; }
    TablePane > .pane-error { height: auto; padding: 1 2; text-style: bold; display: none; }
    TablePane.-failed > .pane-error { display: block; }
    TablePane.-failed > KeyedTable { display: none; }
    /* One line at any width: wrapped, the rest would be hidden below its height without a sign. */
    TablePane > .pane-summary { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    TablePane > Input { display: none; height: 1; }
    TablePane > Input.-open { display: block; }
    """
    COLUMNS: ClassVar[Sequence[Col[Any]]] = ()
    COLLECTOR: ClassVar[str]  # the collector whose load error the pane shows
    DEFAULT_SORT: ClassVar[str] = ""
    FILTER_HINT: ClassVar[str] = "filter"
    TABLE_CLASS: ClassVar[type[KeyedTable[Any]]] = KeyedTable

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.derived: Derived | None = None
        self.sort_index = next((i for i, c in enumerate(self.COLUMNS) if c.key == self.DEFAULT_SORT), 0)
        self.sort_reversed = False
        self.filter_text = ""
        self._typing_filter = False  # from `/` until Enter, Esc or the filter losing focus
        self._stale = True
        self._table: KeyedTable[R] = self.TABLE_CLASS(self._cells)

    def compose(self) -> ComposeResult:
        """Error notice, table, extras, summary line and the filter input."""
        yield Static("", classes="pane-error")
        yield self._table
        yield from self.compose_extra()
        yield Readout("", classes="pane-summary")
        yield Input(placeholder=f"/ {self.FILTER_HINT}", compact=True)

    def compose_extra(self) -> ComposeResult:
        """Widgets between the table and the summary line (none by default)."""
        yield from ()

    def on_mount(self) -> None:
        """Create the columns."""
        table = self.table
        for col in self.COLUMNS:
            table.add_column(col.key, self._label(col), col.width or 10, right=col.numeric)
        self._fit_columns()

    def on_resize(self) -> None:
        """Give the flexible column whatever the fixed ones leave."""
        self._fit_columns()

    def _fit_columns(self) -> None:
        table = self.table
        shown = [c for c in self.COLUMNS if self._shows(c)]
        fixed = sum(c.width for c in shown)
        room = max(8, table.size.width - table.styles.scrollbar_size_vertical - fixed)
        for col in self.COLUMNS:
            # A hidden column keeps its place with no cells, so cells stay in column order.
            width = (col.width or room) if col in shown else 0
            table.set_column_width(col.key, width)

    def _shows(self, col: Col[Any]) -> bool:
        """Whether the table is wide enough for the column (see ``Col.shown_from``)."""
        return col.shown_from <= self.table.size.width

    def shows_syscall_latency(self, width: int) -> bool:
        """Whether the pane shows syscall latency on a ``width``-cell screen (timing has a cost)."""
        return False

    @property
    def table(self) -> KeyedTable[R]:
        """The pane's table."""
        return self._table

    @property
    def sort_column(self) -> Col[Any]:
        """The column rows are sorted by."""
        return self.COLUMNS[self.sort_index]

    def _label(self, col: Col[Any]) -> str:
        if col is not self.sort_column:
            return col.label
        return col.label + ("▼" if self._descending() else "▲")

    def _cells(self, row: R) -> list[str]:
        return [col.text(row) for col in self.COLUMNS]

    def show(self, derived: Derived | None) -> None:
        """Take a new model; render now if visible, else when next shown."""
        self.derived = derived
        self._stale = True
        if self.display and self.screen.is_current:
            self.refresh_view()

    def refresh_view(self, force: bool = False) -> None:
        """Render the last model received, if it changed since the last render."""
        if not (self._stale or force) or not self.is_mounted:
            return
        self._stale = False
        derived = self.derived
        status = derived.status_of(self.COLLECTOR) if derived else None
        error = self.query_one(".pane-error", Static)
        failed = status is not None and not status.ok
        self.set_class(failed, "-failed")
        if status is not None and not status.ok:
            hint = f" — {status.hint}" if status.hint else ""
            message = Text(f"{self.COLLECTOR} collector not loaded: {status.error}{hint}")
            if message != error.content:  # its height may change: a layout, so not every tick
                error.update(message)
        rows = self.rows_of(derived) if derived is not None and not failed else None
        self._sync_rows(rows or [])
        self.query_one(".pane-summary", Readout).show(self._summary(derived, rows))
        self.after_sync(derived)

    def _sync_rows(self, rows: list[R]) -> None:
        needle = self.filter_text.lower()
        if needle:
            rows = [r for r in rows if self.matches(r, needle)]
        col = self.sort_column
        rows = sorted(rows, key=self.row_order)
        # A stable sort, even reversed, keeps ties in row_order.
        rows.sort(key=lambda r: _none_lowest(col.sort(r)), reverse=self._descending())
        self.table.sync([(self.row_key(r), r) for r in rows])

    def _summary(self, derived: Derived | None, rows: list[R] | None) -> str:
        if derived is None:
            loading = isinstance(self.app, Dashboard) and self.app.loading
            return "loading collectors…" if loading else "waiting for the first frame…"
        if rows is None:
            return "no data"
        shown = self.table.row_count
        parts = [f"{shown}/{len(rows)} rows" if self.filter_text else f"{len(rows)} rows"]
        parts.append(f"sort {self.sort_column.label} {'desc' if self._descending() else 'asc'}")
        if self.filter_text:
            parts.append(f"filter '{self.filter_text}'")
        parts.extend(self.summary_extra(derived))
        return " · ".join(parts)

    def _descending(self) -> bool:
        return self.sort_column.numeric != self.sort_reversed

    def _relabel(self) -> None:
        for col in self.COLUMNS:
            self.table.set_label(col.key, self._label(col))
        self.refresh_view(force=True)

    def action_sort(self, step: int) -> None:
        """Sort by the next (``step`` 1) or previous (-1) shown column, in its natural order."""
        count = len(self.COLUMNS)
        index = self.sort_index
        for _ in range(count):
            index = (index + step) % count
            if self._shows(self.COLUMNS[index]):
                break
        self.sort_index = index
        self.sort_reversed = False
        self._relabel()

    def action_reverse(self) -> None:
        """Reverse the sort order."""
        self.sort_reversed = not self.sort_reversed
        self._relabel()

    def action_filter(self) -> None:
        """Open the filter input (it takes the focus a moment later).

        Focus moves later (``call_later``): keys already queued behind ``/``
        reach the table first, and ``on_key`` hands them to the filter.
        """
        field = self.query_one(Input)
        field.add_class("-open")
        field.focus()
        self._typing_filter = True

    def on_key(self, event: events.Key) -> None:
        """``/`` and the keys typed right after it, however fast, go to the filter.

        Keys that come in one read (a paste, a fast typist, a laggy SSH link)
        are all handed to the table before ``/`` is acted on: they reach this
        pane in order, bubbling up from the table, so ``/`` opens the filter
        here at once and each printable key after it is the filter's, never a
        sort or a pane switch (issue 17), until Enter (keeps the filter), Esc
        (clears it) or the filter losing focus.
        """
        if event.key == "slash" and not self._typing_filter and self.table.has_focus:
            self.action_filter()  # the table's `/` (a flame graph's is its search)
        elif event.is_printable and event.character and self._typing_filter:
            self.query_one(Input).insert_text_at_cursor(event.character)
        else:
            return
        event.stop()
        event.prevent_default()

    @on(Input.Blurred)
    def _filter_left(self) -> None:
        self._typing_filter = False

    def action_close_filter(self) -> None:
        """Clear the filter and close its input."""
        self._typing_filter = False
        field = self.query_one(Input)
        field.remove_class("-open")
        field.value = ""
        self.filter_text = ""
        self.table.focus()
        self.refresh_view(force=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc only means something while a filter is open or set."""
        if action == "close_filter":
            return self.query_one(Input).has_class("-open") or bool(self.filter_text)
        return True

    @on(Input.Changed)
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        self.refresh_view(force=True)

    @on(Input.Submitted)
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._typing_filter = False
        if not self.filter_text:
            self.query_one(Input).remove_class("-open")
        self.table.focus()

    def action_scroll_histogram(self, step: int) -> None:
        """Scroll the pane's histogram (J/K, see HISTOGRAM_BINDINGS) while a table keeps the focus."""
        self.query_one(HistogramBox).scroll_lines(step)

    # Subclass hooks.
    def rows_of(self, derived: Derived) -> list[R] | None:
        """Rows of the model, None when the collector's view is missing."""
        raise NotImplementedError

    def row_key(self, row: R) -> str:
        """Stable key of a row; also the text of the first column."""
        raise NotImplementedError

    def row_order(self, row: R) -> Any:
        """Tie-breaker order, before the sort column is applied."""
        return self.row_key(row)

    def matches(self, row: R, needle: str) -> bool:
        """Whether a row matches the lower-cased filter text."""
        return needle in self.row_key(row).lower()

    def summary_extra(self, derived: Derived) -> list[str]:
        """Extra parts of the summary line."""
        return []

    def after_sync(self, derived: Derived | None) -> None:
        """Called after each render (e.g. to redraw a histogram)."""


def _none_lowest(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)
