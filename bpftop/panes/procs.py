"""The procs pane: one row per process, from the syscalls, runqlat and biolat collectors.

Sorted by CPU % once the runqlat collector's figures arrive (unless the user
picked a sort), like top; by syscalls per second without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.binding import Binding

from bpftop.derive import Derived
from bpftop.derive.procs import ProcsRow, hardware_pmc, joined_rows
from bpftop.display.procs import COLUMNS, WIDE
from bpftop.panes.keyed_table import Col, KeyedTable
from bpftop.panes.messages import OpenProcess
from bpftop.panes.table import TablePane

if TYPE_CHECKING:
    from bpftop.derive.syscalls import SyscallsView


class ProcTable(KeyedTable[ProcsRow]):
    """The process table; Enter drills down into the highlighted process."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Process", tooltip="open the highlighted process (procs)"),
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
        view: SyscallsView | None = derived.view("syscalls")
        if view is None:
            return []
        lost = view.drops.get("evicted_procs", 0) + view.drops.get("lost_procs", 0)
        return [f"drops: {lost} proc entries evicted/lost"] if lost else []

    @on(KeyedTable.RowSelected)
    def _open(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.post_message(OpenProcess(int(event.row_key)))
