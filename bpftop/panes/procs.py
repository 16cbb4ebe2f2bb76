"""The procs pane: one row per process, from the syscalls, runqlat and biolat collectors.

Sorted by CPU % once the runqlat collector's figures arrive (unless the user
picked a sort), like top; by syscalls per second without them.
"""

from __future__ import annotations

from dataclasses import replace
from operator import attrgetter

from textual import on
from textual.binding import Binding

from bpftop.derive import Derived
from bpftop.derive.procs import ProcsRow, hardware_pmc, joined_rows
from bpftop.derive.syscalls import SyscallsView
from bpftop.fmt import fmt_bytes, fmt_pct, fmt_ratio
from bpftop.panes.keyed_table import Col, KeyedTable, ns_col, rate_col, rate_order
from bpftop.panes.messages import OpenProcess
from bpftop.panes.table import TablePane


class ProcTable(KeyedTable[ProcsRow]):
    """The process table; Enter drills down into the highlighted process."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Process", tooltip="open the highlighted process (procs)"),
    ]


def _command(row: ProcsRow) -> str:
    return f"{row.comm} (exited)" if row.exited else row.comm


def _cpu(row: ProcsRow) -> str:
    return fmt_pct(row.cpu_pct)


def _disk(row: ProcsRow) -> str:
    return fmt_bytes(row.disk_bytes_per_s) if row.disk_ios_total else "-"


def _name_col(key: str, label: str, width: int, field: str, shown_from: int) -> Col[ProcsRow]:
    name = attrgetter(field)
    return Col(key, label, width, name, name, numeric=False, shown_from=shown_from)


def _disk_order(row: ProcsRow) -> tuple[float, int]:
    # A process with no I/O this interval but some before ranks above one with none ever.
    return rate_order(row.disk_bytes_per_s, row.disk_bytes), row.disk_ios_total


def _net(row: ProcsRow) -> str:
    total = row.net_sent_bytes + row.net_recv_bytes
    if row.net_sent_per_s is None or row.net_recv_per_s is None:
        return fmt_bytes(total) if total else "-"  # the first frame: no interval yet
    return fmt_bytes(row.net_sent_per_s + row.net_recv_per_s)


def _net_order(row: ProcsRow) -> float:
    if row.net_sent_per_s is None or row.net_recv_per_s is None:
        return float(row.net_sent_bytes + row.net_recv_bytes)
    return row.net_sent_per_s + row.net_recv_per_s


# 80 columns show the figures of every collector and leave COMMAND ~21 cells;
# the syscalls view's details come in from 100 (TOP ERRNO from 120).
WIDE, WIDER = 100, 120
COLUMNS: list[Col[ProcsRow]] = [
    Col("pid", "PID", 7, lambda r: str(r.pid), lambda r: r.pid),
    Col("user", "USER", 9, lambda r: r.user, lambda r: r.user.lower(), numeric=False),
    Col("cpu", "CPU%", 6, _cpu, lambda r: rate_order(r.cpu_pct, r.on_cpu_ns)),
    ns_col("rq", "RQ AVG", 7, "rq_avg_ns"),
    Col("command", "COMMAND", 0, _command, lambda r: r.comm.lower(), numeric=False),
    rate_col("calls", "SYSC/s", 7),
    rate_col("errors", "ERR/s", 6),
    Col("disk", "DISK/s", 8, _disk, _disk_order),
    ns_col("io_lat", "IO LAT", 8, "disk_avg_ns"),
    # TCP sent + received (tcp collector); from 90 cells, so COMMAND keeps 20 at 80.
    Col("net", "NET/s", 8, _net, _net_order, shown_from=90),
    # Only with hardware counters (pmc): ProcsPane._shows hides it otherwise.
    Col("ipc", "IPC", 6, lambda r: fmt_ratio(r.ipc), attrgetter("ipc")),
    _name_col("top", "TOP SYSCALL", 12, "top_syscall", WIDE),
    replace(ns_col("avg", "SYS LAT", 8, "avg_ns"), shown_from=WIDE),
    _name_col("errno", "TOP ERRNO", 10, "top_errno", WIDER),
]


class ProcsPane(TablePane[ProcsRow]):
    """Per-process CPU %, run-queue wait, syscall and error rates, disk I/O; Enter opens a process."""

    COLUMNS = COLUMNS
    TABLE_CLASS = ProcTable
    COLLECTOR = "syscalls"  # the first of its collectors: its load error takes the table's place
    DEFAULT_SORT = "calls"
    FILTER_HINT = "filter by command, user or pid"
    _sort_chosen = False  # the user sorted or reversed: no switch to CPU %
    _ipc_shown = False

    def rows_of(self, derived: Derived) -> list[ProcsRow] | None:
        """Processes of the syscalls, runqlat and biolat views, joined by pid."""
        if "runqlat" in derived.views and not self._sort_chosen and self.sort_column.key != "cpu":
            self.sort_index = next(i for i, c in enumerate(self.COLUMNS) if c.key == "cpu")
            for col in self.COLUMNS:
                self.table.set_label(col.key, self._label(col))
        if (hardware_pmc(derived) is not None) != self._ipc_shown:  # hardware counters came or went
            self._ipc_shown = not self._ipc_shown
            self._fit_columns()
        return joined_rows(derived)

    def shows_syscall_latency(self, width: int) -> bool:
        """From ``WIDE`` cells, where SYS LAT comes in."""
        return width >= WIDE

    def _shows(self, col: Col[ProcsRow]) -> bool:
        """The IPC column only when the pmc collector counts hardware events."""
        if col.key == "ipc":
            return self._ipc_shown
        return super()._shows(col)

    def action_sort(self, step: int) -> None:
        """Sort by another column; from now on the user's choice stays."""
        self._sort_chosen = True
        super().action_sort(step)

    def action_reverse(self) -> None:
        """Reverse the sort order; from now on the user's choice stays."""
        self._sort_chosen = True
        super().action_reverse()

    def row_key(self, row: ProcsRow) -> str:
        """The pid."""
        return str(row.pid)

    def row_order(self, row: ProcsRow) -> int:
        """Ties go by pid."""
        return row.pid

    def matches(self, row: ProcsRow, needle: str) -> bool:
        """Command name, command line, user or pid contains the text."""
        return any(needle in s.lower() for s in (row.comm, row.cmdline, row.user, str(row.pid)))

    def summary_extra(self, derived: Derived) -> list[str]:
        """Per-process entries the kernel could not keep."""
        view: SyscallsView | None = derived.views.get("syscalls")
        if view is None:
            return []
        lost = view.drops.get("evicted_procs", 0) + view.drops.get("lost_procs", 0)
        return [f"drops: {lost} proc entries evicted/lost"] if lost else []

    @on(KeyedTable.RowSelected)
    def _open(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.post_message(OpenProcess(int(event.row_key)))
