"""The main screen: the status header, one pane at a time, the key hints."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer

from bpftop.derive import Derived
from bpftop.panes.header import StatusHeader
from bpftop.panes.messages import PaneShown
from bpftop.panes.table import TablePane
from bpftop.registry import PANE_ORDER, PANES, resolve


def pane_class(name: str) -> type[TablePane]:
    """The widget class of pane ``name``, imported when the screen is composed (``--pane``: one)."""
    cls: type[TablePane] = resolve(PANES[name].pane_class)
    return cls


class MainScreen(Screen[None]):
    """The panes, one at a time, under the status header."""

    BINDINGS = [
        Binding("tab", "next_pane", "Pane", tooltip="next pane"),
        *(
            Binding(
                str(n),
                f"select_pane({n})",
                "Pane n",
                show=False,
                tooltip="pane by number (1 procs, 2 syscalls, …)",
            )
            for n in range(1, len(PANE_ORDER) + 1)
        ),
    ]

    DEFAULT_CSS = """
    MainScreen > ContentSwitcher { height: 1fr; }
    """

    def __init__(self, panes: tuple[str, ...], first: str, above_footer: Widget | None = None) -> None:
        super().__init__()
        self.panes = panes
        self.first = first
        self.above_footer = above_footer  # the replay timeline
        self._tables: list[TablePane] = []  # the panes, composed once

    def compose(self) -> ComposeResult:
        """Header, the pane switcher and the key hints."""
        yield StatusHeader()
        self._tables = [pane_class(name)(id=name) for name in self.panes]
        with ContentSwitcher(initial=self.first):
            yield from self._tables
        if self.above_footer is not None:
            yield self.above_footer
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        """Follow the app's frames and show the first pane."""
        self.watch(self.app, "derived", self._show, init=True)
        self.activate(self.first)

    @property
    def current(self) -> str:
        """Name of the pane on display."""
        return self.query_one(ContentSwitcher).current or self.first

    def _show(self, derived: Derived | None) -> None:
        # Not self.query(TablePane): matching every node's selectors took
        # 2.5 ms of each tick on the event loop, for panes that never change.
        for pane in self._tables:
            pane.show(derived)

    def on_screen_resume(self) -> None:
        """Render what arrived while another screen was on top."""
        self.query_one(f"#{self.current}", TablePane).refresh_view()

    def activate(self, name: str) -> None:
        """Show pane ``name`` and focus its table."""
        self.query_one(ContentSwitcher).current = name
        tabs = "  ".join(
            f"[{PANE_ORDER.index(p) + 1} {p}]" if p == name else f"{PANE_ORDER.index(p) + 1} {p}"
            for p in self.panes
        )
        self.query_one(StatusHeader).location = tabs
        pane = self.query_one(f"#{name}", TablePane)
        pane.refresh_view()
        pane.table.focus()
        # Collectors may care (the bpf collector keeps the kernel's BPF statistics on
        # only while its pane is shown); the app tells its source.
        self.post_message(PaneShown(name))

    def action_next_pane(self) -> None:
        """Cycle through the loaded panes."""
        index = self.panes.index(self.current)
        self.activate(self.panes[(index + 1) % len(self.panes)])

    def action_select_pane(self, number: int) -> None:
        """Show the pane with this number, or say why it cannot be shown."""
        name = PANE_ORDER[number - 1]  # the bindings stop at the last pane
        if name in self.panes:
            self.activate(name)
        else:
            self.notify(f"pane {name} is not loaded (started with --pane {self.current})")
