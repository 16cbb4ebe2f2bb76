"""The stacks pane: where time goes, on the CPU or off it, as a flame graph.

Above, the flame graph of every stack since start (``c`` switches CPU ↔
off-CPU); below, the top functions with their self and total shares. The
flame graph has the keyboard: arrows move, Enter zooms in, Esc zooms out,
``/`` searches; ``t`` moves the keyboard to the table and back, where Enter
searches the flame graph for the function. The process screen opens the
same pane for one process (``StacksScreen``).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from bpftop.derive import Derived
from bpftop.derive.stacks import FunctionRow, StacksView, build_tree, flame_tree, match_share, top_functions
from bpftop.fmt import fmt_pct, format_ns
from bpftop.panes.flamegraph import FlameGraph
from bpftop.panes.header import Readout, StatusHeader
from bpftop.panes.keyed_table import Col, KeyedTable
from bpftop.panes.messages import PaneLeft, PaneShown
from bpftop.panes.table import TablePane

MAX_FUNCTIONS = 300
KIND_NAMES = {"k": "kernel", "u": "user", "j": "JIT", "p": "process", "r": "", "?": "unknown"}
MODE_NAMES = {"cpu": "CPU", "off": "off-CPU"}

COLUMNS: list[Col[FunctionRow]] = [
    Col("name", "FUNCTION", 0, lambda r: r.name, lambda r: r.name.lower(), numeric=False),
    Col("kind", "KIND", 8, lambda r: KIND_NAMES.get(r.kind, "?"), lambda r: r.kind, numeric=False),
    Col("self", "SELF%", 7, lambda r: fmt_pct(r.self_pct), lambda r: r.self_value),
    Col("total", "TOTAL%", 7, lambda r: fmt_pct(r.total_pct), lambda r: r.total_value),
]


def format_value(value: int, mode: str) -> str:
    """Samples, or off-CPU time in readable units."""
    return f"{value} samples" if mode == "cpu" else format_ns(value)


class FunctionsTable(KeyedTable[FunctionRow]):
    """Top functions; focus goes to the flame graph unless the user chose the table (``t``)."""

    BINDINGS = [Binding("enter", "select_cursor", "Search", tooltip="search the flame graph for it (stacks)")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redirect: FlameGraph | None = None

    def focus(self, scroll_visible: bool = True) -> Any:
        """Focus the flame graph instead while ``redirect`` is set."""
        if self.redirect is not None:
            return self.redirect.focus(scroll_visible)
        return super().focus(scroll_visible)


class StacksPane(TablePane[FunctionRow]):
    """Flame graph and top functions of the stacks collector (all processes, or ``pid``)."""

    DEFAULT_CSS = """
    StacksPane > FunctionsTable { height: 8; min-height: 4; }
    StacksPane > .flame-title, StacksPane > .flame-selected { height: 1; }
    StacksPane.-failed > FlameGraph, StacksPane.-failed > .flame-title,
    StacksPane.-failed > .flame-selected { display: none; }
    """
    BINDINGS = [
        Binding("c", "switch_mode", "CPU/off-CPU", tooltip="switch between CPU and off-CPU stacks"),
        Binding("t", "switch_focus", "Table", tooltip="move the keyboard between flame graph and table"),
        Binding("escape", "close_filter", "Close", show=False, tooltip="clear the search or filter"),
    ]
    COLUMNS = COLUMNS
    COLLECTOR = "stacks"
    DEFAULT_SORT = "total"
    FILTER_HINT = "filter functions"
    TABLE_CLASS = FunctionsTable

    def __init__(self, *, pid: int = 0, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pid = pid
        self.mode = "cpu"
        self.flame = FlameGraph()
        self.functions: FunctionsTable = self._table  # type: ignore[assignment]
        self.functions.redirect = self.flame

    def compose(self) -> ComposeResult:
        """Error notice, flame graph, its status lines, table, summary, filter and search."""
        yield Static("", classes="pane-error")
        yield Readout("", classes="flame-title")
        yield self.flame
        yield Readout("", classes="flame-selected")
        yield self._table
        yield Readout("", classes="pane-summary")
        yield Input(placeholder=f"/ {self.FILTER_HINT}", compact=True)
        yield Input(placeholder="/ search frames (Enter keeps, Esc clears)", compact=True, id="flame-search")

    @property
    def view(self) -> StacksView | None:
        """The stacks view of the last model, if any."""
        return self.derived.view("stacks") if self.derived else None

    def rows_of(self, derived: Derived) -> list[FunctionRow] | None:
        """Top functions of the mode shown."""
        view: StacksView | None = derived.view("stacks")
        if view is None:
            return None
        return top_functions(view.rows(self.mode, self.pid))[:MAX_FUNCTIONS]

    def row_key(self, row: FunctionRow) -> str:
        """The function name."""
        return row.name

    def summary_extra(self, derived: Derived) -> list[str]:
        """Losses since start, when any."""
        view = self.view
        if view is None:
            return []
        lost = {k.split("_", 1)[1]: v for k, v in view.drops.items() if v and k.startswith(self.mode)}
        text = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in lost.items())
        parts = [f"lost: {text}"] if lost else []
        return parts + list(view.notes)

    def after_sync(self, derived: Derived | None) -> None:
        """Rebuild the flame graph from the stacks of the mode shown."""
        if derived is None:
            self.flame.set_tree(build_tree((), by_process=not self.pid))
        else:  # built by the sampling thread for the pane on screen (bpftop.derive.stacks.flame_trees)
            self.flame.set_tree(flame_tree(derived, self.mode, self.pid))
        self._titles()

    def _titles(self) -> None:
        view = self.view
        if view is None:
            while_shown = False
        else:
            while_shown = view.cpu_while_shown if self.mode == "cpu" else view.off_while_shown
        title = f"{MODE_NAMES[self.mode]} stacks " + ("while on screen" if while_shown else "since start")
        if self.pid:
            title += f" of pid {self.pid}"
        error = (view.cpu_error if self.mode == "cpu" else view.off_error) if view else ""
        if error:
            title += f" — not running: {error}"
        elif view is not None:
            title += f" · {format_value(self.flame.root.value, self.mode)}"
            title += f" · {view.freq_hz} Hz" if self.mode == "cpu" else f" · blocks ≥ {view.min_block_ns} ns"
            if view.off_paused if self.mode == "off" else view.cpu_paused:  # a replay of other panes' time
                title += " · paused: taken only while stacks are on screen or asked for (--pane stacks)"
        elif self.derived is not None and self.derived.status_of(self.COLLECTOR) is None:
            title += " — the stacks collector is not loaded (start without --pane, or with --pane stacks)"
        zoom = self.flame.zoom
        if zoom.parent is not None:
            title += " · zoom " + " > ".join(zoom.path()[-3:])
        if self.flame.search:
            title += f" · '{self.flame.search}' {match_share(self.flame.zoom, self.flame.search):.1f}%"
        self.query_one(".flame-title", Readout).show(Text(title + " · c switch"))
        sel, total = self.flame.selected, self.flame.zoom.value
        info = ""
        if sel.value and total:
            kind = f" [{KIND_NAMES[sel.kind]}]" if KIND_NAMES.get(sel.kind) else ""
            info = (
                f"{sel.name}{kind} {100 * sel.value / total:.1f}% "
                f"({format_value(sel.value, self.mode)}) · self {100 * sel.self_value / total:.1f}%"
            )
        self.query_one(".flame-selected", Readout).show(Text(info))

    @on(FlameGraph.SelectionChanged)
    def _selection(self, event: FlameGraph.SelectionChanged) -> None:
        event.stop()
        if self.is_mounted:
            self._titles()

    @on(FlameGraph.SearchRequested)
    def _open_search(self, event: FlameGraph.SearchRequested) -> None:
        event.stop()
        field = self.query_one("#flame-search", Input)
        field.add_class("-open")
        field.focus()

    @on(Input.Changed, "#flame-search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        event.prevent_default()  # not the table filter of TablePane
        self.flame.set_search(event.value.strip())

    @on(Input.Submitted, "#flame-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.prevent_default()
        self.query_one("#flame-search", Input).remove_class("-open")
        self.flame.focus()

    @on(KeyedTable.RowSelected)
    def _function_chosen(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.flame.set_search(event.row_key)
        self.functions.redirect = self.flame
        self.flame.focus()

    def action_switch_mode(self) -> None:
        """CPU ↔ off-CPU."""
        self.mode = "off" if self.mode == "cpu" else "cpu"
        self.refresh_view(force=True)

    def action_switch_focus(self) -> None:
        """Give the keyboard to the table, or back to the flame graph."""
        if self.flame.has_focus:
            self.functions.redirect = None
            self.functions.focus()
        else:
            self.functions.redirect = self.flame
            self.flame.focus()

    def action_close_filter(self) -> None:
        """Esc: close the frame search first, then the table filter."""
        field = self.query_one("#flame-search", Input)
        if field.has_class("-open") or self.flame.search:
            field.remove_class("-open")
            field.value = ""
            self.flame.set_search("")
            self.flame.focus()
            return
        super().action_close_filter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc means something while a search or filter is open or set."""
        if action == "close_filter" and (
            self.query_one("#flame-search", Input).has_class("-open") or self.flame.search
        ):
            return True
        return super().check_action(action, parameters)


class StacksScreen(Screen[None]):
    """One process's stacks, opened from the process screen; Esc goes back."""

    BINDINGS = [Binding("escape", "back", "Back", tooltip="back (stacks of a process)")]

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid

    def compose(self) -> ComposeResult:
        """Header, the stacks pane of the process and the key hints."""
        yield StatusHeader()
        yield StacksPane(pid=self.pid)
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        """Follow the app's frames."""
        self.query_one(StatusHeader).location = f"stacks of process {self.pid} │ Esc back"
        self.watch(self.app, "derived", self._show, init=True)
        self.query_one(StacksPane).flame.focus()
        # Off-CPU stacks are taken while stacks are on screen; the pane under comes back after.
        self.post_message(PaneShown("stacks", over=True))

    def on_unmount(self) -> None:
        """Let the collectors know stacks are off screen again."""
        self.app.post_message(PaneLeft())  # the app's: this screen is going

    def _show(self, derived: Derived | None) -> None:
        self.query_one(StacksPane).show(derived)

    def action_back(self) -> None:
        """Return to the process screen."""
        self.dismiss(None)
