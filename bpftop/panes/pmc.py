"""The pmc pane: cycles, instructions, IPC and cache misses per process or per CPU.

The columns follow what is counted: the hardware set (CYCLES, INSTR, CREF,
CMISS per second, IPC, MISS%) or, on a machine without a PMU, the software
fallback (task-clock, page faults, context switches, migrations, CPU %), with
the reason on the line above the table. ``c`` switches between processes and
CPUs; Enter on a process opens its screen. Figures scaled for multiplexing are
marked ``*``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from bpftop.derive import Derived
from bpftop.derive.pmc import PmcRow, PmcView
from bpftop.display.pmc import fmt_figure, headline, label
from bpftop.fmt import fmt_ratio
from bpftop.panes.header import Readout
from bpftop.panes.keyed_table import Col, KeyedTable
from bpftop.panes.messages import OpenProcess
from bpftop.panes.table import TablePane

SLOTS = 6  # event columns, as many as the kernel's counter arrays


def _value(i: int) -> Any:
    def sort(r: PmcRow) -> float | None:
        if i >= len(r.figures):
            return None
        f = r.figures[i]
        return f.per_s if f.per_s is not None else f.value

    return sort


def _event_col(i: int) -> Col[PmcRow]:
    # Label and cells depend on the view's events: PmcPane._relabel_events, _cells.
    return Col(f"ev{i}", f"EV{i}", 11, lambda r: "", _value(i))


def _per_s(text: str) -> str:
    """``2.2M*`` -> ``2.2M/s*``: the scaled mark stays last."""
    return text[:-1] + "/s*" if text.endswith("*") else text + "/s"


def _command(r: PmcRow) -> str:
    if r.is_cpu:
        return ""
    return r.comm + (" [k]" if r.kthread else "") + (" (exited)" if r.exited else "")


COLUMNS: list[Col[PmcRow]] = [
    Col("key", "PID", 7, lambda r: f"cpu{r.key}" if r.is_cpu else str(r.key), lambda r: r.key),
    Col("user", "USER", 9, lambda r: r.user, lambda r: r.user.lower(), numeric=False, shown_from=90),
    *(_event_col(i) for i in range(SLOTS)),
    Col("ipc", "IPC", 6, lambda r: fmt_ratio(r.ipc), lambda r: r.ipc),
    Col("miss", "MISS%", 7, lambda r: fmt_ratio(r.miss_pct, 1), lambda r: r.miss_pct),
    Col("cpu", "CPU%", 7, lambda r: fmt_ratio(r.cpu_pct, 1), lambda r: r.cpu_pct),
    Col("command", "COMMAND", 0, _command, lambda r: r.comm.lower(), numeric=False),
]


class PmcTable(KeyedTable[PmcRow]):
    """The process (or CPU) table; Enter drills down into the highlighted process."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Process", tooltip="open the highlighted process (pmc)"),
    ]
    per_cpu = False  # CPU rows: Enter has no process to open, and the footer does not offer it

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Enter opens a process: only while the rows are processes (issue 17)."""
        if action == "select_cursor" and self.per_cpu:
            return False
        return super().check_action(action, parameters)


class PmcPane(TablePane[PmcRow]):
    """Counter rates per process or per CPU, with why hardware counters are missing."""

    DEFAULT_CSS = """
    PmcPane > .pmc-notice { height: auto; max-height: 4; }
    PmcPane > .pmc-total { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    PmcPane.-failed > .pmc-notice, PmcPane.-failed > .pmc-total { display: none; }
    """
    BINDINGS = [Binding("c", "toggle_cpus", "CPUs/procs", tooltip="per-CPU or per-process rows (pmc)")]
    COLUMNS = COLUMNS
    COLLECTOR = "pmc"
    DEFAULT_SORT = "ev0"
    FILTER_HINT = "filter by command, user or pid"
    TABLE_CLASS = PmcTable

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.per_cpu = False
        self._events: tuple[Any, ...] | None = None
        self._hardware = False

    def compose_extra(self) -> ComposeResult:
        """What is counted and why, and the all-CPU totals."""
        yield Readout("", classes="pmc-notice")
        yield Readout("", classes="pmc-total")

    @property
    def view(self) -> PmcView | None:
        """The pmc view of the last model, if any."""
        return self.derived.view("pmc") if self.derived else None

    def rows_of(self, derived: Derived) -> list[PmcRow] | None:
        """Processes, or CPUs after ``c``."""
        view: PmcView | None = derived.view("pmc")
        if view is None:
            return None
        self._relabel_events(view)
        return list(view.cpus if self.per_cpu else view.procs)

    def _relabel_events(self, view: PmcView) -> None:
        if view.events == self._events and view.hardware == self._hardware:
            return
        self._events, self._hardware = view.events, view.hardware
        for col in self.COLUMNS:
            self.table.set_label(col.key, self._label(col))
        self._fit_columns()

    def _title(self, col: Col[Any]) -> str:
        """Event columns take their event's name; the key column says PID or CPU."""
        if col.key.startswith("ev"):
            i, events = int(col.key[2:]), self._events or ()
            return label(events[i].name, 7) + "/s" if i < len(events) else ""
        if col.key == "key" and self.per_cpu:
            return "CPU"
        return col.label

    @property
    def sort_column(self) -> Col[Any]:
        """The column rows are sorted by, with the title on display."""
        col = self.COLUMNS[self.sort_index]
        return replace(col, label=self._title(col))

    def _label(self, col: Col[Any]) -> str:
        if col.key != self.COLUMNS[self.sort_index].key:
            return self._title(col)
        return self._title(col) + ("▼" if self._descending() else "▲")

    def _cells(self, row: PmcRow) -> list[str]:
        names = [e.name for e in self._events or ()]
        cells = []
        for col in self.COLUMNS:
            if col.key.startswith("ev"):
                i = int(col.key[2:])
                ok = i < len(names) and i < len(row.figures)
                cells.append(fmt_figure(names[i], row.figures[i], per_s=True) if ok else "")
            else:
                cells.append(col.text(row))
        return cells

    def _shows(self, col: Col[Any]) -> bool:
        """Event slots with no event, and IPC/MISS% without hardware counters, stay hidden."""
        if col.key.startswith("ev"):
            return int(col.key[2:]) < len(self._events or ())
        if col.key in ("ipc", "miss"):
            return self._hardware
        if col.key == "user" and self.per_cpu:
            return False
        if col.key == "cpu":  # on-CPU % needs a clock event
            return any(e.type == 1 and e.config in (0, 1) for e in self._events or ())
        return super()._shows(col)

    def row_key(self, row: PmcRow) -> str:
        """The pid, or ``cpuN``."""
        return f"cpu{row.key}" if row.is_cpu else str(row.key)

    def row_order(self, row: PmcRow) -> int:
        """Ties go by pid or CPU number."""
        return row.key

    def matches(self, row: PmcRow, needle: str) -> bool:
        """Command name, command line, user or pid contains the text."""
        return any(needle in s.lower() for s in (row.comm, row.cmdline, row.user, self.row_key(row)))

    def after_sync(self, derived: Derived | None) -> None:
        """The headline (fallback reason) and the all-CPU line."""
        view = self.view
        notice = "\n".join(headline(view)) if view else ""
        readout = self.query_one(".pmc-notice", Readout)
        if notice.count("\n") != str(readout.content).count("\n"):
            readout.update(notice)  # its height changes: a layout, so only then
        else:
            readout.show(notice)
        total = view.total if view else None
        text = ""
        if view is not None and total is not None:
            parts = [
                f"{label(e.name)} {_per_s(fmt_figure(e.name, f, True))}"
                for e, f in zip(view.events, total.figures, strict=True)
            ]
            if view.hardware:  # first: at 80 columns the end of the line is cut off
                parts.insert(0, f"IPC {fmt_ratio(total.ipc)} · miss {fmt_ratio(total.miss_pct, 1)}%")
            text = "all CPUs: " + " · ".join(parts)
        self.query_one(".pmc-total", Readout).show(text)

    def action_toggle_cpus(self) -> None:
        """Show per-CPU rows instead of processes, or back."""
        self.per_cpu = not self.per_cpu
        table = self.query_one(PmcTable)
        table.per_cpu = self.per_cpu
        table.refresh_bindings()  # the footer's Enter comes and goes with it
        self.table.set_label("key", self._label(self.COLUMNS[0]))
        self._fit_columns()
        self.refresh_view(force=True)

    @on(KeyedTable.RowSelected)
    def _open(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        if event.row_key.isdigit():  # a process, not a CPU
            self.post_message(OpenProcess(int(event.row_key)))
