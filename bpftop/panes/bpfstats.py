"""The bpf pane: every BPF program's cost, every map's fill level, and who holds them.

Top: programs (average run time in the interval, events/s, CPU % where 100% is
one CPU, recursion misses), sortable and filterable; under it the selected
program's history of CPU %, events/s and average run time; below, the maps
(``w`` moves there, ``m`` sorts them by the next column). ``o`` hides
bpftop's own programs and maps. Enter opens a program's instructions or a
map's contents (``panes/bpfstats_detail.py``).

While this pane is on screen the kernel's BPF statistics are on, which costs
every program a little: the line under the history says so.
"""

from __future__ import annotations

from collections import deque

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from bpftop.derive import Derived
from bpftop.derive.bpfstats import BpfstatsView, MapStat, ProgStat
from bpftop.display.bpfstats import entries_text, stats_line
from bpftop.fmt import fmt_bytes, fmt_pct, fmt_rate, format_ns
from bpftop.panes.header import Readout
from bpftop.panes.keyed_table import Col, KeyedTable, rate_order
from bpftop.panes.table import TablePane

HISTORY = 60  # frames of history per program
SPARK = "▁▂▃▄▅▆▇█"


def _name(row: ProgStat | MapStat) -> str:
    # The mark leads: a long name is cut to the column's width, and the mark with it.
    return ("* " if row.own else "") + row.name


PROG_COLUMNS: list[Col[ProgStat]] = [
    Col("id", "ID", 7, lambda r: str(r.id), lambda r: r.id),
    Col("type", "TYPE", 12, lambda r: r.type, lambda r: r.type, numeric=False),
    Col("name", "NAME", 0, _name, lambda r: r.name.lower(), numeric=False),
    Col("avg", "AVG", 8, lambda r: format_ns(r.avg_ns), lambda r: r.avg_ns),
    Col(
        "events",
        "EVENTS/s",
        9,
        lambda r: fmt_rate(r.events_per_s),
        lambda r: rate_order(r.events_per_s, r.runs),
    ),
    Col("cpu", "CPU%", 7, lambda r: fmt_pct(r.cpu_pct, 2), lambda r: rate_order(r.cpu_pct, r.run_time_ns)),
    Col("misses", "MISS", 6, lambda r: str(r.recursion_misses), lambda r: r.recursion_misses, shown_from=90),
    Col(
        "avg_total",
        "AVG ALL",
        8,
        lambda r: format_ns(r.avg_total_ns),
        lambda r: r.avg_total_ns,
        shown_from=100,
    ),
    Col("xlated", "XLATED", 7, lambda r: fmt_bytes(r.xlated_bytes), lambda r: r.xlated_bytes, shown_from=110),
    Col("owners", "OWNERS", 18, lambda r: r.owners, lambda r: r.owners, numeric=False, shown_from=80),
]
MAP_COLUMNS: list[Col[MapStat]] = [
    Col("id", "ID", 7, lambda r: str(r.id), lambda r: r.id),
    Col("type", "TYPE", 15, lambda r: r.type, lambda r: r.type, numeric=False),
    Col("name", "NAME", 0, _name, lambda r: r.name.lower(), numeric=False),
    # Sizes from 100 columns: below that they pushed OWNERS off the screen (ENTRIES and FILL% stay).
    Col("key", "KEY", 5, lambda r: str(r.key_size), lambda r: r.key_size, shown_from=100),
    Col("value", "VALUE", 6, lambda r: str(r.value_size), lambda r: r.value_size, shown_from=100),
    Col("max", "MAX", 8, lambda r: str(r.max_entries), lambda r: r.max_entries, shown_from=100),
    Col("entries", "ENTRIES", 8, entries_text, lambda r: r.entries),
    Col("fill", "FILL%", 6, lambda r: fmt_pct(r.fill_pct, 0), lambda r: r.fill_pct),
    Col("memlock", "MEMLOCK", 9, lambda r: fmt_bytes(r.memlock_bytes), lambda r: r.memlock_bytes),
    Col("owners", "OWNERS", 18, lambda r: r.owners, lambda r: r.owners, numeric=False),
]
MAP_SORT = "memlock"


def _none_lowest(value: object) -> tuple[int, object]:
    return (0, 0) if value is None else (1, value)


def sparkline(values: list[float | None], width: int) -> str:
    """The last ``width`` values as block characters scaled to their maximum."""
    shown = list(values[-width:])
    peak = max((v for v in shown if v is not None), default=0.0)
    return "".join(
        " "
        if v is None
        else SPARK[min(len(SPARK) - 1, int(v / peak * (len(SPARK) - 1)))]
        if peak
        else SPARK[0]
        for v in shown
    )


def history_text(
    prog: ProgStat | None, history: list[tuple[float | None, float | None, float | None]]
) -> str:
    """Three lines: CPU %, events/s and average run time of one program over the last frames."""
    if prog is None:
        return "select a program for its history"
    cpu, events, avg = ([h[i] for h in history] for i in range(3))
    return (
        f"{prog.name} ({prog.id}) · last {len(history)} frames\n"
        f"CPU%     {fmt_pct(prog.cpu_pct, 2):>9} {sparkline(cpu, HISTORY)}\n"
        f"events/s {fmt_rate(prog.events_per_s):>9} {sparkline(events, HISTORY)}\n"
        f"avg      {format_ns(prog.avg_ns):>9} {sparkline(avg, HISTORY)}"
    )


class ProgTable(KeyedTable[ProgStat]):
    """Programs; Enter opens the highlighted one's instructions."""

    BINDINGS = [Binding("enter", "select_cursor", "Program", tooltip="show the program's instructions (bpf)")]


class MapTable(KeyedTable[MapStat]):
    """Maps; Enter opens the highlighted one's contents."""

    BINDINGS = [Binding("enter", "select_cursor", "Map", tooltip="show the map's contents (bpf)")]


class BpfstatsPane(TablePane[ProgStat]):
    """Programs with their run-time cost, a history chart, and the maps."""

    DEFAULT_CSS = """
    BpfstatsPane > ProgTable { height: 1fr; min-height: 5; }
    BpfstatsPane > MapTable { height: 1fr; min-height: 4; }
    BpfstatsPane > .stats { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    BpfstatsPane > .history { height: 4; }
    BpfstatsPane.-failed > .stats, BpfstatsPane.-failed > .history,
    BpfstatsPane.-failed > MapTable { display: none; }
    """
    BINDINGS = [
        Binding("w", "switch_table", "Table", tooltip="move between the programs and maps tables (bpf)"),
        Binding("o", "toggle_own", "Hide own", tooltip="hide or show bpftop's own programs and maps (bpf)"),
        Binding("m", "sort_maps", "Sort maps", tooltip="sort the maps table by its next column (bpf)"),
    ]
    COLUMNS = PROG_COLUMNS
    COLLECTOR = "bpfstats"
    DEFAULT_SORT = "cpu"
    FILTER_HINT = "filter by name, type, id or owner"
    TABLE_CLASS = ProgTable

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hide_own = False
        self.history: dict[int, deque[tuple[float | None, float | None, float | None]]] = {}
        self._history_ts = 0
        self.map_sort = next(i for i, c in enumerate(MAP_COLUMNS) if c.key == MAP_SORT)

    def compose_extra(self) -> ComposeResult:
        """Statistics line, history chart and the maps table."""
        yield Readout("", classes="history")
        yield Readout("", classes="stats")
        yield MapTable(lambda r: [col.text(r) for col in MAP_COLUMNS])

    def on_mount(self) -> None:
        """Create the maps table's columns."""
        maps = self.query_one(MapTable)
        for col in MAP_COLUMNS:
            maps.add_column(col.key, col.label, col.width or 10, right=col.numeric)
        self._label_maps()
        self._fit_map_columns()

    def _label_maps(self) -> None:
        maps = self.query_one(MapTable)
        for i, col in enumerate(MAP_COLUMNS):
            maps.set_label(col.key, col.label + (("▼" if col.numeric else "▲") if i == self.map_sort else ""))

    def on_resize(self) -> None:
        """Give the maps table's name column what the fixed ones leave."""
        self._fit_map_columns()

    def _fit_map_columns(self) -> None:
        maps = self.query_one(MapTable)
        shown = [c for c in MAP_COLUMNS if c.shown_from <= maps.size.width]
        fixed = sum(c.width for c in shown)
        for col in MAP_COLUMNS:  # a hidden column keeps its place with no cells
            if col.width:
                maps.set_column_width(col.key, col.width if col in shown else 0)
        maps.set_column_width("name", max(8, maps.size.width - maps.styles.scrollbar_size_vertical - fixed))

    @property
    def view(self) -> BpfstatsView | None:
        """The bpfstats view of the last model, if any."""
        return self.derived.view("bpfstats") if self.derived else None

    def rows_of(self, derived: Derived) -> list[ProgStat] | None:
        """Programs, without bpftop's own when hidden."""
        view: BpfstatsView | None = derived.view("bpfstats")
        if view is None:
            return None
        self._record_history(derived, view)
        return [p for p in view.progs if not (self.hide_own and p.own)]

    def _record_history(self, derived: Derived, view: BpfstatsView) -> None:
        if derived.ts_ns == self._history_ts:
            return
        self._history_ts = derived.ts_ns
        for p in view.progs:
            self.history.setdefault(p.id, deque(maxlen=HISTORY)).append((p.cpu_pct, p.events_per_s, p.avg_ns))
        for gone in self.history.keys() - view.by_id.keys():
            del self.history[gone]

    def row_key(self, row: ProgStat) -> str:
        """The program id."""
        return str(row.id)

    def row_order(self, row: ProgStat) -> int:
        """Ties go by id."""
        return row.id

    def matches(self, row: ProgStat | MapStat, needle: str) -> bool:
        """Name, type, id or an owner contains the text."""
        return any(needle in s.lower() for s in (row.name, row.type, str(row.id), row.owners))

    def summary_extra(self, derived: Derived) -> list[str]:
        """Totals, and what this refresh cost."""
        view = self.view
        if view is None:
            return []
        return [
            f"total CPU {fmt_pct(view.cpu_pct_total, 2)}% · {fmt_rate(view.events_per_s_total)} events/s",
            f"{len(view.maps)} maps · * bpftop's own{' (hidden, o)' if self.hide_own else ' (o hides)'}",
            f"refresh {view.scan_ms:.1f} ms",
        ]

    def after_sync(self, derived: Derived | None) -> None:
        """Statistics line, history of the selected program, maps table."""
        view = self.view
        self.query_one(".stats", Readout).show(stats_line(view) if view else "")
        self._show_history()
        maps = [m for m in view.maps if not (self.hide_own and m.own)] if view else []
        needle = self.filter_text.lower()
        if needle:
            maps = [m for m in maps if self.matches(m, needle)]
        col = MAP_COLUMNS[self.map_sort]
        maps.sort(key=lambda m: m.id)
        maps.sort(key=lambda m: _none_lowest(col.sort(m)), reverse=col.numeric)
        self.query_one(MapTable).sync([(str(m.id), m) for m in maps])

    def _show_history(self) -> None:
        view = self.view
        key = self.table.cursor_key
        prog = view.by_id.get(int(key)) if view and key else None
        history = list(self.history.get(prog.id, ())) if prog else []
        self.query_one(".history", Readout).show(history_text(prog, history))

    def action_switch_table(self) -> None:
        """Move the focus to the other table."""
        maps = self.query_one(MapTable)
        (self.table if maps.has_focus else maps).focus()

    def action_sort_maps(self) -> None:
        """Sort the maps by the next column (numbers largest first, text A-Z)."""
        width = self.query_one(MapTable).size.width
        for _ in MAP_COLUMNS:  # the next column shown at this width
            self.map_sort = (self.map_sort + 1) % len(MAP_COLUMNS)
            if MAP_COLUMNS[self.map_sort].shown_from <= width:
                break
        self._label_maps()
        self.refresh_view(force=True)

    def action_toggle_own(self) -> None:
        """Hide or show bpftop's own programs and maps."""
        self.hide_own = not self.hide_own
        self.refresh_view(force=True)

    @on(KeyedTable.RowHighlighted)
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        event.stop()
        if event.table is self.table:
            self._show_history()

    @on(KeyedTable.RowSelected)
    def _open(self, event: KeyedTable.RowSelected) -> None:
        from bpftop.panes.bpfstats_detail import MapScreen, ProgramScreen

        event.stop()
        if isinstance(event.table, MapTable):
            self.app.push_screen(MapScreen(int(event.row_key)))
        else:
            self.app.push_screen(ProgramScreen(int(event.row_key)))
