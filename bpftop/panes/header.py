"""Small widgets shared by every screen: the status header and the too-small notice."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static

from bpftop.derive import Derived
from bpftop.fmt import fmt_rate
from bpftop.frame import CollectorStatus

MIN_WIDTH = 80
MIN_HEIGHT = 24


def format_uptime(seconds: float) -> str:
    """``3d 04:05`` or ``04:05:09`` for a duration in seconds."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}"
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def format_delay(delay_s: float) -> str:
    """Refresh interval as ``1s``, ``0.25s``."""
    return f"{delay_s:g}s"


def status_text(status: CollectorStatus) -> str:
    """``syscalls: tp_btf`` or ``syscalls: FAILED`` (a word, not only a colour)."""
    return f"{status.name}: {status.method or 'ok'}" if status.ok else f"{status.name}: FAILED"


class Readout(Static):
    """Text whose height CSS fixes; ``show`` repaints it only when the text changed.

    ``Static.update`` lays the whole screen out again by default, which at one
    update per widget per tick was most of a frame's cost besides the table.
    """

    def show(self, content: RenderableType) -> None:
        """Display ``content`` (a ``str`` or a ``Text``) unless it is already shown."""
        if content != self.content:
            self.update(content, layout=False)


class StatusHeader(Readout):
    """Two lines: host, kernel, uptime, interval, pause; where you are and collector states.

    The screen sets ``location``; the rest follows the app's ``derived``,
    ``delay_s`` and ``paused`` reactives.
    """

    DEFAULT_CSS = """
    StatusHeader {
        height: 2; background: $panel; color: $foreground; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """
    location: reactive[str] = reactive("")

    def on_mount(self) -> None:
        """Follow the app's state."""
        for name in ("derived", "delay_s", "paused", "record_label"):
            self.watch(self.app, name, self._refresh_text, init=False)
        self._refresh_text()

    def watch_location(self) -> None:
        """Redraw when the screen changes the location text."""
        self._refresh_text()

    def _refresh_text(self) -> None:
        app = self.app
        derived: Derived | None = getattr(app, "derived", None)
        delay_s: float = getattr(app, "delay_s", 1.0)
        paused: bool = getattr(app, "paused", False)
        record_label: str = getattr(app, "record_label", "")  # REC, REC FAILED: why, REPLAY ...
        line1 = Text("bpftop", style="bold")
        if record_label:
            line1.append(" ")
            line1.append(record_label, style="bold reverse" if "FAILED" in record_label else "bold")
        if derived is not None:
            host = derived.host
            line1.append(f" {host.hostname} · {host.kernel}")
            if host.boot_time:
                line1.append(f" · up {format_uptime(derived.wall - host.boot_time)}")
        line1.append(f" · every {format_delay(delay_s)}")
        if paused:
            line1.append(" · ")
            line1.append("PAUSED", style="bold reverse")
        statuses: tuple[CollectorStatus, ...] = derived.status if derived else ()
        # A failure leads the line: at 80 columns the pane tabs fill it and its end is cut off.
        line2 = Text()
        for status in statuses:
            if not status.ok:
                line2.append(status_text(status), style="bold reverse")
                line2.append(" │ ")
        line2.append(self.location)
        working = [s for s in statuses if s.ok]
        if working:
            line2.append(" │ ")
            line2.append("  ".join(status_text(status) for status in working))
        view = derived.view("syscalls") if derived else None
        if view is not None:
            line2.append(f" │ {fmt_rate(view.calls_per_s)} sysc/s {fmt_rate(view.errors_per_s)} err/s")
        if derived is None:
            line2.append(" │ waiting for the first frame…")
        for line in (line1, line2):
            line.no_wrap = True
            line.overflow = "ellipsis"
        self.show(Text("\n").join([line1, line2]))


class TooSmallScreen(Screen[None]):
    """Replaces everything while the terminal is smaller than 80x24."""

    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; }
    TooSmallScreen Static { width: auto; text-style: bold; }
    """

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self._size_text = self.message(width, height)

    @staticmethod
    def message(width: int, height: int) -> str:
        """The notice for a terminal of ``width`` x ``height``."""
        return f"terminal too small: need {MIN_WIDTH}x{MIN_HEIGHT}, have {width}x{height}"

    def compose(self) -> ComposeResult:
        """The notice, centred."""
        with Middle(), Center():
            yield Static(self._size_text, id="too-small")

    def set_size(self, width: int, height: int) -> None:
        """Update the notice after another resize that is still too small."""
        self._size_text = self.message(width, height)
        if self.is_mounted:
            self.query_one("#too-small", Static).update(self._size_text)
