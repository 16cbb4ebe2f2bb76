"""The runqlat pane: who waits for a CPU, and for how long.

One row per process (on-CPU %, run-queue wait avg/p99/max, voluntary and
involuntary switches per second, off-CPU %); under it the run-queue histogram,
system-wide until the user picks a process, then that process's (``h`` goes
back to the system's). Enter opens the process's screen.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from bpftop.derive import Derived
from bpftop.derive.runqlat import RunqlatView, SchedRow, SystemSched
from bpftop.fmt import fmt_pct, fmt_rate, format_ns
from bpftop.panes.header import Readout
from bpftop.panes.histogram import HISTOGRAM_BINDINGS, HistogramBox, LatencyHistogram
from bpftop.panes.keyed_table import Col, KeyedTable, ns_col, rate_order
from bpftop.panes.messages import OpenProcess
from bpftop.panes.table import TablePane

US = 1000  # the histograms' unit, in ns


def system_text(s: SystemSched) -> str:
    """``CPU busy 37.5% · idle 81% 44% · run queue 310/s p50 12us p99 3.1ms max 4.2ms``."""
    idle = " ".join("-" if p is None else f"{fmt_pct(p, 0)}%" for p in s.idle_pct)
    return (
        f"CPU busy {fmt_pct(s.busy_pct)}% · idle {idle} · run queue {fmt_rate(s.rq_per_s)}/s "
        f"p50 {format_ns(s.rq_p50_ns)} p99 {format_ns(s.rq_p99_ns)} "
        f"max {format_ns(s.rq_max_ns)}"
    )


def drops_text(view: RunqlatView) -> str:
    """The non-zero drop counters (since start), or that there are none."""
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in view.drops.items() if v]
    return "drops since start: " + (" · ".join(parts) if parts else "none")


def _command(row: SchedRow) -> str:
    return row.comm + (" [k]" if row.kthread else "") + (" (exited)" if row.exited else "")


def _pct_col(key: str, label: str, width: int, field: str, count: str) -> Col[SchedRow]:
    def order(r: SchedRow) -> float:
        return rate_order(getattr(r, field), getattr(r, count))

    return Col(key, label, width, lambda r: fmt_pct(getattr(r, field)), order)


def _switch_col(key: str, label: str, width: int) -> Col[SchedRow]:
    def order(r: SchedRow) -> float:
        return rate_order(getattr(r, f"{key}_per_s"), getattr(r, f"{key}_switches"))

    return Col(key, label, width, lambda r: fmt_rate(getattr(r, f"{key}_per_s")), order)


COLUMNS: list[Col[SchedRow]] = [
    Col("pid", "PID", 7, lambda r: str(r.pid), lambda r: r.pid),
    Col("user", "USER", 9, lambda r: r.user, lambda r: r.user.lower(), numeric=False),
    Col("command", "COMMAND", 0, _command, lambda r: r.comm.lower(), numeric=False),
    _pct_col("cpu", "CPU%", 6, "cpu_pct", "on_cpu_ns"),
    ns_col("rq_avg", "RQ AVG", 8, "rq_avg_ns"),
    ns_col("rq_p99", "RQ P99", 8, "rq_p99_ns"),
    ns_col("rq_max", "RQ MAX", 8, "rq_max_ns"),
    _switch_col("vol", "VOL/s", 7),
    _switch_col("invol", "INVOL/s", 8),
    _pct_col("off", "OFF-CPU%", 9, "off_cpu_pct", "off_blocked_ns"),
]


class SchedTable(KeyedTable[SchedRow]):
    """The process table; Enter drills down into the highlighted process."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Process", tooltip="open the highlighted process (runqlat)"),
    ]


class RunqlatPane(TablePane[SchedRow]):
    """On-CPU and run-queue figures per process, and a run-queue histogram."""

    DEFAULT_CSS = """
    RunqlatPane > KeyedTable { min-height: 6; }
    RunqlatPane > .system, RunqlatPane > .drops { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    RunqlatPane > HistogramBox { max-height: 40%; }
    RunqlatPane.-failed > .system, RunqlatPane.-failed > .drops,
    RunqlatPane.-failed > HistogramBox { display: none; }
    """
    BINDINGS = [
        *HISTOGRAM_BINDINGS,
        Binding("h", "system_histogram", "System hist", tooltip="show the system-wide histogram (runqlat)"),
    ]
    COLUMNS = COLUMNS
    COLLECTOR = "runqlat"
    DEFAULT_SORT = "cpu"
    FILTER_HINT = "filter by command, user or pid"
    TABLE_CLASS = SchedTable

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.show_process = False  # the highlighted process's histogram, not the system's

    def compose_extra(self) -> ComposeResult:
        """System figures, drop counters and the histogram under the table."""
        yield Readout("", classes="system")
        yield Readout("", classes="drops")
        yield HistogramBox()

    @property
    def view(self) -> RunqlatView | None:
        """The runqlat view of the last model, if any."""
        return self.derived.view("runqlat") if self.derived else None

    def rows_of(self, derived: Derived) -> list[SchedRow] | None:
        """Processes of the runqlat view."""
        view: RunqlatView | None = derived.view("runqlat")
        return list(view.procs) if view is not None else None

    def row_key(self, row: SchedRow) -> str:
        """The pid."""
        return str(row.pid)

    def row_order(self, row: SchedRow) -> int:
        """Ties go by pid."""
        return row.pid

    def matches(self, row: SchedRow, needle: str) -> bool:
        """Command name, command line, user or pid contains the text."""
        return any(needle in s.lower() for s in (row.comm, row.cmdline, row.user, str(row.pid)))

    def after_sync(self, derived: Derived | None) -> None:
        """Redraw the system line, drop counters and the histogram."""
        view = self.view
        self.query_one(".system", Readout).show(system_text(view.system) if view else "")
        self.query_one(".drops", Readout).show(drops_text(view) if view else "")
        self._show_histogram()

    def _show_histogram(self) -> None:
        view = self.view
        histogram = self.query_one(LatencyHistogram)
        if view is None:
            histogram.show("run-queue wait", (), empty="no data", unit_ns=US)
            return
        key = self.table.cursor_key if self.show_process else None
        row = view.by_pid.get(int(key)) if key else None
        if row is None:
            s = view.system
            histogram.show("run-queue wait, all processes, last interval", s.hist, s.rq_max_ns, unit_ns=US)
        elif not row.hist and row.rq_count:
            histogram.show(
                f"{row.comm} ({row.pid}) run-queue wait", (), empty="no histogram kept", unit_ns=US
            )
        else:
            title = f"{row.comm} ({row.pid}) run-queue wait, last interval"
            histogram.show(title, row.hist, row.rq_max_ns, empty="no wait in this interval", unit_ns=US)

    def action_system_histogram(self) -> None:
        """Show the system-wide histogram until another process is picked."""
        self.show_process = False
        self._show_histogram()
        self.query_one(LatencyHistogram).fit_height()

    @on(KeyedTable.RowHighlighted)
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        event.stop()
        self.show_process = True
        self._show_histogram()
        self.query_one(LatencyHistogram).fit_height()

    @on(KeyedTable.RowSelected)
    def _open(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.post_message(OpenProcess(int(event.row_key)))
