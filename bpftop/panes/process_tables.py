"""The process screen's table sections: syscalls, disk I/O, TCP connections, top functions.

Each is a ``TablePane`` whose rows come from the screen's ``ProcessData``
(set in ``data`` before ``show``), not from the views directly, so an exited
process keeps its last rows in every section, shown or not.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from bpftop.derive import Derived
from bpftop.derive.biolat import ProcIORow
from bpftop.derive.stacks import FunctionRow, top_functions
from bpftop.derive.syscalls import ProcSyscallRow
from bpftop.derive.tcp import ConnRow
from bpftop.fmt import fmt_bytes, fmt_mb
from bpftop.panes import stacks, tcp
from bpftop.panes.biolat import PROC_COLUMNS
from bpftop.panes.header import Readout
from bpftop.panes.histogram import HISTOGRAM_BINDINGS, HistogramBox, LatencyHistogram
from bpftop.panes.keyed_table import Col, KeyedTable, ns_col, rate_col
from bpftop.panes.messages import Dashboard
from bpftop.panes.process_model import ProcessData
from bpftop.panes.process_sections import disk_line, tcp_line, unavailable
from bpftop.panes.table import TablePane

CLOSED_SHOWN = 3


class ProcessTablePane(TablePane[Any]):
    """A table section: rows from ``data``; a collector that is not loaded says so."""

    DEFAULT_CSS = """
    ProcessTablePane > .section-line { height: 1; }
    ProcessTablePane.-failed > .section-line { display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: ProcessData | None = None

    def after_sync(self, derived: Derived | None) -> None:
        """Say why there is nothing when the collector was not started at all."""
        status = derived.status_of(self.COLLECTOR) if derived else None
        if derived is not None and status is None:
            self.query_one(".pane-summary", Readout).show(unavailable(derived, self.COLLECTOR))


SYSCALL_COLUMNS: list[Col[ProcSyscallRow]] = [
    Col("name", "SYSCALL", 16, lambda r: r.name, lambda r: r.name, numeric=False),
    rate_col("calls", "CALLS/s", 9),
    rate_col("errors", "ERR/s", 8),
    ns_col("avg", "AVG", 8, "avg_ns"),
    ns_col("max", "MAX", 8, "max_ns"),
    Col("errno", "TOP ERRNO", 0, lambda r: r.top_errno, lambda r: r.top_errno, numeric=False),
]


class ProcessSyscallsPane(ProcessTablePane):
    """The syscalls of one process, and the focus histogram of the selected one."""

    DEFAULT_CSS = """
    ProcessSyscallsPane > KeyedTable { min-height: 5; }
    ProcessSyscallsPane.-failed > HistogramBox { display: none; }
    """
    BINDINGS = [*HISTOGRAM_BINDINGS]
    COLUMNS = SYSCALL_COLUMNS
    COLLECTOR = "syscalls"
    DEFAULT_SORT = "calls"
    FILTER_HINT = "filter by syscall name"

    def compose_extra(self) -> ComposeResult:
        """The focus histogram under the table."""
        yield HistogramBox()

    def rows_of(self, derived: Derived) -> list[ProcSyscallRow] | None:
        """This process's rows; the last ones seen once it is gone."""
        if "syscalls" not in derived.views or self.data is None:
            return None
        return list(self.data.syscalls)

    def row_key(self, row: ProcSyscallRow) -> str:
        """The syscall name."""
        return str(row.name)

    def after_sync(self, derived: Derived | None) -> None:
        """Redraw the histogram of the selected syscall."""
        super().after_sync(derived)
        self._show_histogram()

    def _show_histogram(self) -> None:
        histogram = self.query_one(LatencyHistogram)
        data, key = self.data, self.table.cursor_key
        if data is None or key is None:
            histogram.show("latency", (), empty="select a syscall")
            return
        if not data.focus_on:
            if isinstance(self.app, Dashboard) and self.app.replay is not None:
                empty = f"not recorded: pid {data.pid}'s screen was not open while recording"
            else:
                empty = f"starting per-syscall latency for pid {data.pid}…"
            histogram.show(key, (), empty=empty)
            return
        row = next((r for r in data.focus if r.name == key), None)
        if row is None:
            histogram.show(key, (), empty="no calls since this screen opened")
            return
        histogram.show(f"{key}, pid {data.pid}, last interval", row.hist, row.max_ns)

    @on(KeyedTable.RowHighlighted)
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        event.stop()
        self._show_histogram()
        self.query_one(LatencyHistogram).fit_height()


# biolat's process table without PID and COMMAND: all rows are this process's.
DISK_COLUMNS: list[Col[ProcIORow]] = [
    Col("disk", "DISK", 0, lambda r: r.disk, lambda r: r.disk, numeric=False),
    *(c for c in PROC_COLUMNS if c.key not in ("pid", "command", "disk")),
    Col("total", "BYTES", 9, lambda r: fmt_bytes(r.bytes_total), lambda r: r.bytes_total),
]


class ProcessDiskPane(ProcessTablePane):
    """Its disk I/O per disk and operation: IOPS, throughput, average latency."""

    COLUMNS = DISK_COLUMNS
    COLLECTOR = "biolat"
    DEFAULT_SORT = "mbs"
    FILTER_HINT = "filter by disk or operation"

    def compose_extra(self) -> ComposeResult:
        """Its totals."""
        yield Readout("", classes="section-line")

    def rows_of(self, derived: Derived) -> list[ProcIORow] | None:
        """Its (disk, op) rows."""
        if "biolat" not in derived.views or self.data is None:
            return None
        return list(self.data.disk)

    def row_key(self, row: ProcIORow) -> str:
        """``disk op``."""
        return f"{row.disk} {row.op}"

    def after_sync(self, derived: Derived | None) -> None:
        """Its totals over every disk."""
        super().after_sync(derived)
        total = self.data.disk_total if self.data else None
        text = ""
        if total is not None:
            text = f"all disks: {fmt_mb(total.bytes_per_s)} MB/s · {total.ios} I/Os in the interval"
        elif self.data is not None and "biolat" in (derived.views if derived else {}):
            text = disk_line(self.data)
        self.query_one(".section-line", Readout).show(text)


CONN_COLUMNS: list[Col[ConnRow]] = [c for c in tcp.COLUMNS if c.key not in ("pid", "command")]


class ProcessTcpPane(ProcessTablePane):
    """Its live TCP connections, its totals and its recently closed connections."""

    DEFAULT_CSS = f"""
    ProcessTcpPane > KeyedTable {{ min-height: 4; }}
    ProcessTcpPane > .closed {{ height: {CLOSED_SHOWN + 1}; }}
    ProcessTcpPane.-failed > .closed {{ display: none; }}
    """
    COLUMNS = CONN_COLUMNS
    COLLECTOR = "tcp"
    DEFAULT_SORT = "tx"
    FILTER_HINT = "filter by port or address"

    def compose_extra(self) -> ComposeResult:
        """Totals and closed connections."""
        yield Readout("", classes="section-line")
        yield Readout("", classes="closed")

    def rows_of(self, derived: Derived) -> list[ConnRow] | None:
        """Its live connections."""
        if "tcp" not in derived.views or self.data is None:
            return None
        return list(self.data.conns)

    def row_key(self, row: ConnRow) -> str:
        """The connection id."""
        return str(row.id)

    def row_order(self, row: ConnRow) -> int:
        """Oldest first."""
        return int(row.id)

    def matches(self, row: ConnRow, needle: str) -> bool:
        """Port or address contains the text."""
        return any(needle in s.lower() for s in tcp.searchable(row))

    def after_sync(self, derived: Derived | None) -> None:
        """Totals and the last closed connections."""
        super().after_sync(derived)
        data = self.data
        if data is None or derived is None or "tcp" not in derived.views:
            self.query_one(".section-line", Readout).show("")
            self.query_one(".closed", Readout).show("")
            return
        self.query_one(".section-line", Readout).show(tcp_line(data))
        lines = [tcp.closed_line(c) for c in data.closed[:CLOSED_SHOWN]]
        text = Text("recently closed:" + ("\n" + "\n".join(lines) if lines else " none"))
        text.no_wrap = True
        text.overflow = "ellipsis"
        self.query_one(".closed", Readout).show(text)


class ProcessFunctionsTable(KeyedTable[FunctionRow]):
    """Its top functions; Enter opens the flame graph."""

    BINDINGS = [Binding("enter", "select_cursor", "Flame graph", tooltip="open the flame graph (process)")]


class ProcessStacksPane(ProcessTablePane):
    """Its top functions on the CPU or off it (``c``); Enter or ``f`` opens the flame graph."""

    BINDINGS = [Binding("c", "switch_mode", "CPU/off-CPU", tooltip="switch between CPU and off-CPU stacks")]
    COLUMNS = stacks.COLUMNS
    COLLECTOR = "stacks"
    DEFAULT_SORT = "self"
    FILTER_HINT = "filter functions"
    TABLE_CLASS = ProcessFunctionsTable

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = "cpu"

    def compose_extra(self) -> ComposeResult:
        """What is shown."""
        yield Readout("", classes="section-line")

    def rows_of(self, derived: Derived) -> list[FunctionRow] | None:
        """Its functions, by self share."""
        if "stacks" not in derived.views or self.data is None:
            return None
        rows = self.data.cpu_stacks if self.mode == "cpu" else self.data.off_stacks
        return top_functions(rows)[: stacks.MAX_FUNCTIONS]

    def row_key(self, row: FunctionRow) -> str:
        """The function name."""
        return str(row.name)

    def after_sync(self, derived: Derived | None) -> None:
        """What the table is of, and whether it runs."""
        super().after_sync(derived)
        data = self.data
        view = data.stacks_view if data else None
        text = ""
        if data is not None and view is not None:
            rows = data.cpu_stacks if self.mode == "cpu" else data.off_stacks
            error = view.cpu_error if self.mode == "cpu" else view.off_error
            value = stacks.format_value(sum(r.value for r in rows), self.mode)
            text = f"{stacks.MODE_NAMES[self.mode]} stacks since start · {value}"
            text += f" — not running: {error}" if error else ""
            text += " · c switch · f/Enter flame graph"
        self.query_one(".section-line", Readout).show(text)

    def action_switch_mode(self) -> None:
        """CPU ↔ off-CPU."""
        self.mode = "off" if self.mode == "cpu" else "cpu"
        self.refresh_view(force=True)

    @on(KeyedTable.RowSelected)
    def _open_flame(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.app.call_later(self.screen.run_action, "stacks")
