"""The syscalls pane: one row per syscall, and the selected one's latency histogram."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult

from bpftop.derive import Derived
from bpftop.derive.syscalls import SyscallRow, SyscallsView
from bpftop.panes.header import Readout
from bpftop.panes.histogram import HISTOGRAM_BINDINGS, HistogramBox, LatencyHistogram
from bpftop.panes.keyed_table import Col, KeyedTable, ns_col, rate_col
from bpftop.panes.table import TablePane

DROP_NAMES = {
    "unmatched_exits": "unmatched exits",
    "out_of_range": "out of range",
    "evicted_procs": "evicted procs",
    "lost_procs": "lost procs",
    "evicted_errnos": "evicted errnos",
    "lost_errnos": "lost errnos",
}


def top_errno(row: SyscallRow) -> str:
    """Most frequent errno over the interval, with its count."""
    if not row.errnos:
        return ""
    name, count = row.errnos[0]
    return f"{name} {count}"


def drops_text(view: SyscallsView) -> str:
    """The non-zero drop counters (since start), or that there are none."""
    parts = [f"{DROP_NAMES.get(k, k)} {v}" for k, v in view.drops.items() if v]
    return "drops since start: " + (" · ".join(parts) if parts else "none")


COLUMNS: list[Col[SyscallRow]] = [
    Col("name", "SYSCALL", 16, lambda r: r.name, lambda r: r.name, numeric=False),
    rate_col("calls", "CALLS/s", 9),
    rate_col("errors", "ERR/s", 8),
    ns_col("avg", "AVG", 8, "avg_ns"),
    ns_col("p50", "P50", 8, "p50_ns"),
    ns_col("p99", "P99", 8, "p99_ns"),
    ns_col("max", "MAX", 8, "max_ns"),
    Col("errno", "TOP ERRNO", 0, top_errno, lambda r: r.errnos[0][0] if r.errnos else "", numeric=False),
]


class SyscallsPane(TablePane[SyscallRow]):
    """Calls, errors and latency per syscall; MAX is since bpftop started."""

    DEFAULT_CSS = """
    SyscallsPane > KeyedTable { min-height: 6; }
    SyscallsPane > .drops { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    SyscallsPane.-failed > .drops, SyscallsPane.-failed > HistogramBox { display: none; }
    """
    BINDINGS = [*HISTOGRAM_BINDINGS]
    COLUMNS = COLUMNS
    COLLECTOR = "syscalls"
    DEFAULT_SORT = "calls"
    FILTER_HINT = "filter by syscall name"

    def shows_syscall_latency(self, width: int) -> bool:
        """Always: its AVG, P50, P99 and MAX columns and the histogram."""
        return True

    def compose_extra(self) -> ComposeResult:
        """Drop counters and the histogram under the table."""
        yield Readout("", classes="drops")
        yield HistogramBox()

    def rows_of(self, derived: Derived) -> list[SyscallRow] | None:
        """Syscalls of the syscalls view."""
        view: SyscallsView | None = derived.view("syscalls")
        return list(view.syscalls) if view is not None else None

    def row_key(self, row: SyscallRow) -> str:
        """The syscall name (unique per architecture)."""
        return row.name

    def after_sync(self, derived: Derived | None) -> None:
        """Redraw the drop counters and the selected syscall's histogram."""
        view: SyscallsView | None = derived.view("syscalls") if derived else None
        self.query_one(".drops", Readout).show(drops_text(view) if view else "")
        self._show_histogram()

    def _show_histogram(self) -> None:
        view: SyscallsView | None = self.derived.view("syscalls") if self.derived else None
        histogram = self.query_one(LatencyHistogram)
        key = self.table.cursor_key
        row = next((r for r in view.syscalls if r.name == key), None) if view and key else None
        if row is None:
            histogram.show("latency", (), empty="select a syscall")
            return
        histogram.show(f"{row.name}, last interval", row.hist, row.max_ns)

    @on(KeyedTable.RowHighlighted)
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        event.stop()
        self._show_histogram()
        self.query_one(LatencyHistogram).fit_height()
