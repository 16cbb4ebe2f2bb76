"""One process's screen: its identity, and a section per collector.

Under the identity lines, one section at a time, like htop's tabs (numbers,
Tab and Shift-Tab switch): an overview with a line per collector, then CPU
(runqlat), syscalls, disk I/O (biolat), TCP, PMC and stacks; a terminal of 40
lines or more also keeps the overview above the sections, and the overview
has a few rows of each collector. The app asks the
collectors to focus on the process while this screen is open
(``source.set_focus``: the syscalls collector counts per-syscall latency
histograms for that pid in the kernel). Everything comes from the derived
views (see ``process_model.follow``), so replay works the same; a process that
exits stays on screen, marked exited, with the last figures bpftop saw.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer

from bpftop.derive import Derived
from bpftop.frame import ProcMeta
from bpftop.panes.header import Readout, StatusHeader
from bpftop.panes.histogram import HistogramBox
from bpftop.panes.process_detail import TALL
from bpftop.panes.process_model import COLLECTOR_OF, ProcessData, follow
from bpftop.panes.process_sections import CpuSection, OverviewSection, PmcSection, overview_text
from bpftop.panes.process_tables import (
    ProcessDiskPane,
    ProcessStacksPane,
    ProcessSyscallsPane,
    ProcessTcpPane,
)
from bpftop.panes.table import TablePane

__all__ = ["SECTIONS", "ProcessScreen", "ProcessSyscallsPane", "identity_text"]

SECTIONS: dict[str, type[Widget]] = {
    "overview": OverviewSection,
    "cpu": CpuSection,
    "syscalls": ProcessSyscallsPane,
    "disk": ProcessDiskPane,
    "tcp": ProcessTcpPane,
    "pmc": PmcSection,
    "stacks": ProcessStacksPane,
}


def identity_text(pid: int, meta: ProcMeta | None, exited: bool, last_wall: float = 0.0) -> Text:
    """Three lines: pid, ppid, user, start time and state; the command line; cgroup and container.

    An exited process says when bpftop last saw it running (``last_wall``, epoch seconds).
    """
    meta = meta or ProcMeta(pid=pid)
    started = (
        datetime.fromtimestamp(meta.start_time).strftime("%Y-%m-%d %H:%M:%S") if meta.start_time else "?"
    )
    text = Text(f"PID {pid}  PPID {meta.ppid or '?'}  USER {meta.user or '?'}  STARTED {started}  STATE ")
    text.append("exited" if exited else "running", style="bold reverse" if exited else "bold")
    if exited and last_wall:
        text.append(f" (last data {datetime.fromtimestamp(last_wall).strftime('%H:%M:%S')})")
    text.append(f"\nCMD {meta.cmdline or meta.name or '?'}")
    container = f"  CONTAINER {meta.container}" if meta.container else ""
    text.append(f"\nCGROUP {meta.cgroup or '?'}{container}")
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def tabs_text(current: str, data: ProcessData, derived: Derived | None) -> Text:
    """``[1 overview]  2 cpu  3 syscalls …``; a section whose collector is not running says ``(off)``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for number, name in enumerate(SECTIONS, start=1):
        collector = COLLECTOR_OF.get(name)
        status = derived.status_of(collector) if derived is not None and collector else None
        off = derived is not None and collector is not None and (status is None or not status.ok)
        label = f"{number} {name}{'(off)' if off else ''}"
        text.append("  " if number > 1 else "")
        text.append(
            f"[{label}]" if name == current else label, style="bold reverse" if name == current else ""
        )
    return text


class ProcessScreen(Screen[None]):
    """Everything bpftop knows about one process; Esc goes back."""

    # ``select`` gives the keyboard to the section's table; not to a hidden one.
    AUTO_FOCUS = ""

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="back to the panes (process screen)"),
        Binding("f", "stacks", "Stacks", tooltip="flame graphs of the process, CPU and off-CPU (process)"),
        Binding("tab", "next_section(1)", "Section", tooltip="next section (process screen)"),
        Binding("shift+tab", "next_section(-1)", "", show=False, tooltip="previous section (process screen)"),
        *(
            Binding(
                str(n),
                f"select_section({n})",
                "",
                show=False,
                tooltip="section by number (1 overview, 2 cpu, 3 syscalls, …) (process screen)",
            )
            for n in range(1, len(SECTIONS) + 1)
        ),
        Binding("J", "scroll_section(1)", "", show=False, tooltip="scroll the section (process screen)"),
        Binding("K", "scroll_section(-1)", "", show=False, tooltip="scroll the section (process screen)"),
    ]
    DEFAULT_CSS = """
    ProcessScreen > #identity { height: 3; text-wrap: nowrap; text-overflow: ellipsis; }
    ProcessScreen > #sections { height: 1; background: $panel; }
    ProcessScreen > #pinned {
        height: 6; display: none; margin-bottom: 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    ProcessScreen.-tall > #pinned { display: block; }
    ProcessScreen.-tall.-overview > #pinned { display: none; }  /* the same lines below */
    ProcessScreen > ContentSwitcher { height: 1fr; }
    ProcessScreen ContentSwitcher > * { height: 1fr; }
    """

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.data = ProcessData(pid=pid)
        self.section = "overview"
        self.derived: Derived | None = None

    @property
    def meta(self) -> ProcMeta | None:
        """The process's metadata, the last seen."""
        return self.data.meta

    @property
    def exited(self) -> bool:
        """Whether it exited (or left the frames)."""
        return self.data.exited

    def compose(self) -> ComposeResult:
        """Header, identity, section tabs, the sections and the key hints."""
        yield StatusHeader()
        yield Readout("", id="identity")
        yield Readout("", id="pinned")
        yield Readout("", id="sections")
        with ContentSwitcher(initial=self.section):
            for name, cls in SECTIONS.items():
                yield cls(id=name)
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        """Follow the app's frames."""
        self.set_class(self.section == "overview", "-overview")
        self.query_one(StatusHeader).location = f"process {self.pid} │ Esc back"
        self.watch(self.app, "derived", self._show, init=True)

    def on_resize(self) -> None:
        """Keep the overview above the sections when there is room."""
        self.set_class(self.size.height >= TALL, "-tall")

    def on_screen_resume(self) -> None:
        """Catch up with frames that arrived while another screen was on top."""
        self._current_widget().refresh_view()  # type: ignore[attr-defined]

    def _current_widget(self) -> Widget:
        return self.query_one(f"#{self.section}")

    def _show(self, derived: Derived | None) -> None:
        self.derived = derived
        self.data = follow(self.data, self.pid, derived)
        self.query_one("#identity", Readout).show(
            identity_text(self.pid, self.data.meta, self.data.exited, self.data.last_wall)
        )
        self.query_one("#sections", Readout).show(tabs_text(self.section, self.data, derived))
        if self.has_class("-tall") and self.section != "overview":
            self.query_one("#pinned", Readout).show(overview_text(self.data, derived))
        for section in self.query_one(ContentSwitcher).children:
            section.data = self.data  # type: ignore[attr-defined]
            section.show(derived)  # type: ignore[attr-defined]

    def select(self, name: str) -> None:
        """Show section ``name`` and give its table the keyboard."""
        self.section = name
        self.set_class(name == "overview", "-overview")
        self.query_one(ContentSwitcher).current = name
        self.query_one("#sections", Readout).show(tabs_text(name, self.data, self.derived))
        widget = self._current_widget()
        widget.refresh_view()  # type: ignore[attr-defined]
        if isinstance(widget, TablePane):
            widget.table.focus()
        else:
            self.set_focus(None)

    def action_next_section(self, step: int) -> None:
        """The next (1) or previous (-1) section."""
        names = list(SECTIONS)
        self.select(names[(names.index(self.section) + step) % len(names)])

    def action_select_section(self, number: int) -> None:
        """The section with this number."""
        self.select(list(SECTIONS)[number - 1])

    def action_scroll_section(self, step: int) -> None:
        """Scroll the section's histogram, if it has one."""
        boxes = self._current_widget().query(HistogramBox)
        if boxes:
            boxes.first().scroll_lines(step)

    def action_stacks(self) -> None:
        """Open this process's stacks (CPU and off-CPU flame graphs)."""
        from bpftop.panes.stacks import StacksScreen

        self.app.push_screen(StacksScreen(self.pid))

    def action_back(self) -> None:
        """Return to the panes."""
        self.dismiss(None)
