"""One process's screen: identity, its syscalls and their latency histograms.

The app asks the collectors to focus on the process while this screen is open
(``source.set_focus``); the focus histograms count from that moment, and
``view.focus_pid`` says which process they belong to. A process that exits
stays on screen, marked exited, with the last figures bpftop saw.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from bpftop.derive import Derived
from bpftop.derive.syscalls import ProcSyscallRow, SyscallsView
from bpftop.frame import ProcMeta
from bpftop.panes.header import Readout, StatusHeader
from bpftop.panes.histogram import HISTOGRAM_BINDINGS, HistogramBox, LatencyHistogram
from bpftop.panes.keyed_table import Col, KeyedTable, ns_col, rate_col
from bpftop.panes.table import TablePane

COLUMNS: list[Col[ProcSyscallRow]] = [
    Col("name", "SYSCALL", 16, lambda r: r.name, lambda r: r.name, numeric=False),
    rate_col("calls", "CALLS/s", 9),
    rate_col("errors", "ERR/s", 8),
    ns_col("avg", "AVG", 8, "avg_ns"),
    ns_col("max", "MAX", 8, "max_ns"),
    Col("errno", "TOP ERRNO", 0, lambda r: r.top_errno, lambda r: r.top_errno, numeric=False),
]


class ProcessSyscallsPane(TablePane[ProcSyscallRow]):
    """The syscalls of one process, and the focus histogram of the selected one."""

    DEFAULT_CSS = """
    ProcessSyscallsPane > KeyedTable { min-height: 5; }
    ProcessSyscallsPane.-failed > HistogramBox { display: none; }
    """
    BINDINGS = [*HISTOGRAM_BINDINGS]
    COLUMNS = COLUMNS
    DEFAULT_SORT = "calls"
    FILTER_HINT = "filter by syscall name"

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.last_rows: tuple[ProcSyscallRow, ...] = ()

    def compose_extra(self) -> ComposeResult:
        """The focus histogram under the table."""
        yield HistogramBox()

    def rows_of(self, derived: Derived) -> list[ProcSyscallRow] | None:
        """This process's rows; the last ones seen once it is gone."""
        view: SyscallsView | None = derived.views.get("syscalls")
        if view is None:
            return None
        rows = view.by_pid.get(self.pid)
        if rows is not None:
            self.last_rows = rows
        return list(self.last_rows)

    def row_key(self, row: ProcSyscallRow) -> str:
        """The syscall name."""
        return row.name

    def after_sync(self, derived: Derived | None) -> None:
        """Redraw the histogram of the selected syscall."""
        self._show_histogram()

    def _show_histogram(self) -> None:
        histogram = self.query_one(LatencyHistogram)
        view: SyscallsView | None = self.derived.views.get("syscalls") if self.derived else None
        key = self.table.cursor_key
        if view is None or key is None:
            histogram.show("latency", (), empty="select a syscall")
            return
        if view.focus_pid != self.pid:
            histogram.show(key, (), empty=f"starting per-syscall latency for pid {self.pid}…")
            return
        row = next((r for r in view.focus if r.name == key), None)
        if row is None:
            histogram.show(key, (), empty="no calls since this screen opened")
            return
        histogram.show(f"{key}, pid {self.pid}, last interval", row.hist, row.max_ns)

    @on(KeyedTable.RowHighlighted)
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        event.stop()
        self._show_histogram()
        self.query_one(LatencyHistogram).fit_height()


def identity_text(pid: int, meta: ProcMeta | None, exited: bool) -> Text:
    """Two lines: pid, ppid, user, start time and state; then the command line."""
    meta = meta or ProcMeta(pid=pid)
    started = (
        datetime.fromtimestamp(meta.start_time).strftime("%Y-%m-%d %H:%M:%S") if meta.start_time else "?"
    )
    text = Text(f"PID {pid}  PPID {meta.ppid or '?'}  USER {meta.user or '?'}  STARTED {started}  STATE ")
    text.append("exited" if exited else "running", style="bold reverse" if exited else "bold")
    text.append(f"\nCMD {meta.cmdline or meta.name or '?'}")
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


class ProcessScreen(Screen[None]):
    """Everything bpftop knows about one process; Esc goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="back to the panes (process screen)"),
        Binding("f", "stacks", "Stacks", tooltip="flame graphs of the process, CPU and off-CPU (process)"),
    ]
    DEFAULT_CSS = """
    ProcessScreen > #identity { height: 2; margin-bottom: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.meta: ProcMeta | None = None
        self.exited = False

    def compose(self) -> ComposeResult:
        """Header, identity, the syscall pane and the key hints."""
        yield StatusHeader()
        yield Readout("", id="identity")
        yield ProcessSyscallsPane(self.pid)
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        """Follow the app's frames."""
        self.query_one(StatusHeader).location = f"process {self.pid} │ Esc back"
        self.watch(self.app, "derived", self._show, init=True)

    def on_screen_resume(self) -> None:
        """Catch up with frames that arrived while another screen was on top."""
        self.query_one(ProcessSyscallsPane).refresh_view()

    def _show(self, derived: Derived | None) -> None:
        if derived is not None:
            meta = derived.procs.get(self.pid)
            if meta is not None:
                self.meta = meta
            self.exited = meta is None or meta.exited
        self.query_one("#identity", Readout).show(identity_text(self.pid, self.meta, self.exited))
        self.query_one(ProcessSyscallsPane).show(derived)

    def action_stacks(self) -> None:
        """Open this process's stacks (CPU and off-CPU flame graphs)."""
        from bpftop.panes.stacks import StacksScreen

        self.app.push_screen(StacksScreen(self.pid))

    def action_back(self) -> None:
        """Return to the panes."""
        self.dismiss(None)
