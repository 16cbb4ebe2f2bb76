"""The biolat pane: per (disk, op) latency table, its histogram, and I/O per process.

The top table has one row per disk and operation; the histogram under it is the
highlighted row's, of total, queue or device time (``t`` cycles); the table
below is biotop's, one row per (process, disk, op), and Enter on it opens the
process's screen. ``w`` moves the cursor between the two tables.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from bpftop.derive import Derived
from bpftop.derive.biolat import BiolatView, DiskOpRow, DiskRow, ProcIORow
from bpftop.fmt import fmt_mb, fmt_rate, fmt_ratio, format_ns
from bpftop.panes.header import Readout
from bpftop.panes.histogram import HISTOGRAM_BINDINGS, HistogramBox, LatencyHistogram
from bpftop.panes.keyed_table import Col, KeyedTable, rate_order
from bpftop.panes.messages import OpenProcess
from bpftop.panes.table import TablePane

TIMES = ("total", "queue", "device")
TIME_HELP = {"total": "insert → complete", "queue": "insert → issue", "device": "issue → complete"}
US = 1000  # the histograms' unit, in ns


def disk_summary(disk: DiskRow) -> str:
    """``vda 120 IO/s 0.48 MB/s avg 180us depth 0.02``."""
    depth = fmt_ratio(disk.queue_depth)
    return (
        f"{disk.disk} {fmt_rate(disk.iops)} IO/s {fmt_mb(disk.bytes_per_s)} MB/s "
        f"avg {format_ns(disk.avg_ns)} depth {depth}"
    )


def drops_text(view: BiolatView) -> str:
    """The non-zero drop counters (since start), or that there are none."""
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in view.drops.items() if v]
    return "drops since start: " + (" · ".join(parts) if parts else "none")


def _time_col(key: str, label: str, field: str) -> Col[DiskOpRow]:
    def value(r: DiskOpRow) -> float | None:
        return getattr(r.total, field)

    return Col(key, label, 8, lambda r: format_ns(value(r)), value)


COLUMNS: list[Col[DiskOpRow]] = [
    Col("disk", "DISK", 0, lambda r: r.disk, lambda r: r.disk, numeric=False),
    Col("op", "OP", 8, lambda r: r.op, lambda r: r.op, numeric=False),
    Col("iops", "IO/s", 7, lambda r: fmt_rate(r.iops), lambda r: rate_order(r.iops, r.ios)),
    Col("mbs", "MB/s", 8, lambda r: fmt_mb(r.bytes_per_s), lambda r: rate_order(r.bytes_per_s, r.bytes)),
    _time_col("avg", "AVG", "avg_ns"),
    _time_col("p50", "P50", "p50_ns"),
    _time_col("p90", "P90", "p90_ns"),
    _time_col("p99", "P99", "p99_ns"),
    _time_col("max", "MAX", "max_ns"),
]

PROC_COLUMNS: list[Col[ProcIORow]] = [
    Col("pid", "PID", 7, lambda r: str(r.pid), lambda r: r.pid),
    Col("command", "COMMAND", 0, lambda r: r.comm + " (exited)" * r.exited, lambda r: r.comm, numeric=False),
    Col("disk", "DISK", 9, lambda r: r.disk, lambda r: r.disk, numeric=False),
    Col("op", "OP", 8, lambda r: r.op, lambda r: r.op, numeric=False),
    Col("iops", "IO/s", 7, lambda r: fmt_rate(r.iops), lambda r: rate_order(r.iops, r.ios)),
    Col("mbs", "MB/s", 8, lambda r: fmt_mb(r.bytes_per_s), lambda r: rate_order(r.bytes_per_s, r.bytes)),
    Col("avg", "AVG", 8, lambda r: format_ns(r.avg_ns), lambda r: r.avg_ns),
]


def _proc_order(r: ProcIORow) -> tuple[float, int, int]:
    return (-rate_order(r.bytes_per_s, r.bytes), -r.ios, r.pid)


class DiskHistogram(LatencyHistogram):
    """A log2(us) histogram whose title has p50, p90, p99 and the maximum."""

    def title_line(self) -> str:
        """The title with count, p50, p90, p99 and max."""
        total = sum(self._slots)
        parts = [f"{self._title}: n={total}"]
        if total:
            parts += [f"p{q} {format_ns(self.percentile_ns(q))}" for q in (50, 90, 99)]
        if self._max_ns is not None:
            parts.append(f"max {format_ns(self._max_ns)}")
        return " · ".join(parts)


class DiskHistogramBox(HistogramBox):
    """The scrolling box, holding a DiskHistogram."""

    def compose(self) -> ComposeResult:
        """The histogram."""
        yield DiskHistogram()


class ProcIOTable(KeyedTable[ProcIORow]):
    """biotop's table; Enter opens the highlighted process."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Process", tooltip="open the highlighted process (biolat)"),
    ]


class BiolatPane(TablePane[DiskOpRow]):
    """Latency per disk and operation, its histogram, and I/O per process."""

    DEFAULT_CSS = """
    BiolatPane > KeyedTable { height: 1fr; min-height: 4; }
    BiolatPane > DiskHistogramBox { max-height: 40%; }
    BiolatPane > .disks, BiolatPane > .drops { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    BiolatPane.-failed > .disks, BiolatPane.-failed > .drops,
    BiolatPane.-failed > DiskHistogramBox, BiolatPane.-failed > ProcIOTable { display: none; }
    """
    BINDINGS = [
        *HISTOGRAM_BINDINGS,
        Binding("t", "cycle_time", "Time", tooltip="histogram of total, queue or device time (biolat)"),
        Binding("w", "switch_table", "Table", tooltip="move between the disk and process tables (biolat)"),
    ]
    COLUMNS = COLUMNS
    COLLECTOR = "biolat"
    DEFAULT_SORT = "iops"
    FILTER_HINT = "filter by disk or operation"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.time = "total"

    def compose_extra(self) -> ComposeResult:
        """Per-disk summary, drops, the histogram and the process table."""
        yield Readout("", classes="disks")
        yield Readout("", classes="drops")
        yield DiskHistogramBox()
        yield ProcIOTable(lambda r: [col.text(r) for col in PROC_COLUMNS])

    # Textual calls TablePane's on_mount and on_resize too (handlers run for
    # every class in the MRO), so these only add the process table's part.
    def on_mount(self) -> None:
        """Create the process table's columns."""
        procs = self.query_one(ProcIOTable)
        for col in PROC_COLUMNS:
            procs.add_column(col.key, col.label, col.width or 10, right=col.numeric)
        self._fit_proc_columns()

    def on_resize(self) -> None:
        """Give the process table's flexible column what the fixed ones leave."""
        self._fit_proc_columns()

    def _fit_proc_columns(self) -> None:
        procs = self.query_one(ProcIOTable)
        fixed = sum(c.width for c in PROC_COLUMNS)
        procs.set_column_width(
            "command", max(8, procs.size.width - procs.styles.scrollbar_size_vertical - fixed)
        )

    @property
    def view(self) -> BiolatView | None:
        """The biolat view of the last model, if any."""
        return self.derived.view("biolat") if self.derived else None

    def rows_of(self, derived: Derived) -> list[DiskOpRow] | None:
        """(disk, op) rows of the biolat view."""
        view: BiolatView | None = derived.view("biolat")
        return list(view.disk_ops) if view is not None else None

    def row_key(self, row: DiskOpRow) -> str:
        """``disk op``, e.g. ``vda read``."""
        return f"{row.disk} {row.op}"

    def matches(self, row: DiskOpRow, needle: str) -> bool:
        """Disk or operation contains the text."""
        return needle in self.row_key(row).lower()

    def summary_extra(self, derived: Derived) -> list[str]:
        """Requests in flight and where the submitter comes from."""
        view = self.view
        return [f"{view.in_flight} in flight", f"submitter: {view.attribution}"] if view else []

    def after_sync(self, derived: Derived | None) -> None:
        """Redraw the disk summary, drops, histogram and process table."""
        view = self.view
        self.query_one(".disks", Readout).show(" · ".join(map(disk_summary, view.disks)) if view else "")
        self.query_one(".drops", Readout).show(drops_text(view) if view else "")
        # Busiest first, as biotop; a process idle in this interval is left out.
        procs = sorted((r for r in view.procs if r.ios), key=_proc_order) if view else []
        self.query_one(ProcIOTable).sync([(f"{r.pid} {r.disk} {r.op}", r) for r in procs])
        self._show_histogram()

    def _show_histogram(self) -> None:
        view = self.view
        key = self.table.cursor_key
        row = next((r for r in view.disk_ops if self.row_key(r) == key), None) if view and key else None
        histogram = self.query_one(DiskHistogram)
        if row is None:
            histogram.show("latency", (), empty="select a disk and operation", unit_ns=US)
            return
        stats = row.times(self.time)
        title = f"{row.disk} {row.op}, {self.time} time ({TIME_HELP[self.time]}), last interval"
        histogram.show(title, stats.hist, stats.max_ns, empty="no I/O in this interval", unit_ns=US)

    def action_cycle_time(self) -> None:
        """Show total, then queue, then device time."""
        self.time = TIMES[(TIMES.index(self.time) + 1) % len(TIMES)]
        self._show_histogram()
        self.query_one(DiskHistogram).fit_height()

    def action_switch_table(self) -> None:
        """Move the focus to the other table."""
        procs = self.query_one(ProcIOTable)
        (self.table if procs.has_focus else procs).focus()

    @on(KeyedTable.RowHighlighted)
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        event.stop()
        if event.table is self.table:
            self._show_histogram()
            self.query_one(DiskHistogram).fit_height()

    @on(KeyedTable.RowSelected)
    def _open(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        if isinstance(event.table, ProcIOTable):
            self.post_message(OpenProcess(int(event.row_key.split()[0])))
