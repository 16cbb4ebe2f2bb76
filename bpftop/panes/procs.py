"""The procs pane: one row per process, from the syscalls collector for now."""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from bpftop.derive import Derived
from bpftop.derive.syscalls import ProcRow, SyscallsView
from bpftop.panes.keyed_table import Col, KeyedTable, ns_col, rate_col
from bpftop.panes.table import TablePane


class ProcTable(KeyedTable):
    """The process table; Enter drills down into the highlighted process."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Process", tooltip="open the highlighted process (procs)"),
    ]


def _command(row: ProcRow) -> str:
    return f"{row.comm} (exited)" if row.exited else row.comm


COLUMNS: list[Col[ProcRow]] = [
    Col("pid", "PID", 7, lambda r: str(r.pid), lambda r: r.pid),
    Col("user", "USER", 9, lambda r: r.user, lambda r: r.user.lower(), numeric=False),
    Col("command", "COMMAND", 0, _command, lambda r: r.comm.lower(), numeric=False),
    rate_col("calls", "SYSC/s", 8),
    rate_col("errors", "ERR/s", 7),
    Col("top", "TOP SYSCALL", 13, lambda r: r.top_syscall, lambda r: r.top_syscall, numeric=False),
    ns_col("avg", "AVG LAT", 8, "avg_ns"),
    Col("errno", "TOP ERRNO", 14, lambda r: r.top_errno, lambda r: r.top_errno, numeric=False),
]


class ProcsPane(TablePane[ProcRow]):
    """Per-process syscall rates, errors and latency; Enter opens a process."""

    COLUMNS = COLUMNS
    TABLE_CLASS = ProcTable
    DEFAULT_SORT = "calls"
    FILTER_HINT = "filter by command, user or pid"

    class OpenProcess(Message):
        """The user asked for one process's screen."""

        def __init__(self, pid: int) -> None:
            super().__init__()
            self.pid = pid

    def rows_of(self, derived: Derived) -> list[ProcRow] | None:
        """Processes of the syscalls view."""
        view: SyscallsView | None = derived.views.get("syscalls")
        return list(view.procs) if view is not None else None

    def row_key(self, row: ProcRow) -> str:
        """The pid."""
        return str(row.pid)

    def row_order(self, row: ProcRow) -> int:
        """Ties go by pid."""
        return row.pid

    def matches(self, row: ProcRow, needle: str) -> bool:
        """Command name, command line, user or pid contains the text."""
        return any(needle in s.lower() for s in (row.comm, row.cmdline, row.user, str(row.pid)))

    def summary_extra(self, derived: Derived) -> list[str]:
        """Per-process entries the kernel could not keep."""
        view: SyscallsView | None = derived.views.get("syscalls")
        if view is None:
            return []
        lost = view.drops.get("evicted_procs", 0) + view.drops.get("lost_procs", 0)
        return [f"drops: {lost} proc entries evicted/lost"] if lost else []

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.OpenProcess(int(event.row_key.value)))
