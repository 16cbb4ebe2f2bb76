"""A log2 latency histogram drawn with block characters, readable without colour."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.widget import Widget

from bpftop import hist
from bpftop.fmt import format_ns

EIGHTHS = " ▏▎▍▌▋▊▉"
FULL = "█"
LABEL_W = 15
COUNT_W = 8
SHARE_W = 6
# For the pane that owns a HistogramBox: the table keeps the focus, so the box
# scrolls by these keys rather than by the cursor keys.
HISTOGRAM_BINDINGS: list[BindingType] = [
    Binding(
        "J", "scroll_histogram(1)", "", show=False, tooltip="scroll the latency histogram (J down, K up)"
    ),
    Binding(
        "K", "scroll_histogram(-1)", "", show=False, tooltip="scroll the latency histogram (J down, K up)"
    ),
]


def bar(fraction: float, width: int) -> str:
    """A horizontal bar ``fraction`` (0..1) of ``width`` cells, in eighths of a cell.

    A non-zero fraction always gets at least a sliver, so a rare slot stays visible.
    """
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    if fraction > 0 and eighths == 0:
        eighths = 1
    full, rest = divmod(eighths, 8)
    return FULL * full + (EIGHTHS[rest] if rest else "")


def histogram_lines(slots: Sequence[int], width: int, unit_ns: int = 1) -> list[str]:
    """One line per slot from the first to the last non-zero one.

    Each line: range label, count, share of the total and a bar scaled to the
    fullest slot. ``unit_ns`` is the slots' unit (1000 for log2(us) slots).
    """
    used = [i for i, n in enumerate(slots) if n]
    if not used:
        return []
    total = sum(slots)
    peak = max(slots)
    bar_w = max(4, width - LABEL_W - COUNT_W - SHARE_W - 3)
    lines = []
    for slot in range(used[0], used[-1] + 1):
        n = slots[slot]
        label = hist.slot_label(slot, last=slot == len(slots) - 1, unit_ns=unit_ns)
        share = f"{100 * n / total:.1f}%"
        lines.append(f"{label:>{LABEL_W}} {n:>{COUNT_W}} {share:>{SHARE_W}} {bar(n / peak, bar_w)}")
    return lines


class LatencyHistogram(Widget):
    """One log2 latency histogram, its count and percentiles in the title line."""

    DEFAULT_CSS = """
    LatencyHistogram { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._title = ""
        self._slots: tuple[int, ...] = ()
        self._max_ns: int | None = None
        self._empty = "no data"
        self._unit_ns = 1  # of the slots: 1000 for log2(us) histograms
        self._height = 0  # lines reserved for the histogram shown

    def show(
        self,
        title: str,
        slots: Sequence[int],
        max_ns: int | None = None,
        empty: str = "no calls in this interval",
        unit_ns: int = 1,
    ) -> None:
        """Display ``slots`` under ``title``; ``max_ns`` is printed as the maximum.

        Args:
            title: what the histogram is of, e.g. ``read, last interval``.
            slots: log2(ns) slot counts, see ``bpftop.hist``.
            max_ns: the maximum to print (since start), None to omit it.
            empty: the text shown when every slot is zero.
            unit_ns: the slots' unit: 1 for log2(ns), 1000 for log2(us).
        """
        new = (title, tuple(slots), max_ns, empty)
        if new == (self._title, self._slots, self._max_ns, self._empty) and unit_ns == self._unit_ns:
            return
        self._title, self._slots, self._max_ns, self._empty = new
        self._unit_ns = unit_ns
        # The slots in use wander from tick to tick (and an untouched cursor
        # from syscall to syscall), and a new height means a layout, which
        # re-arranges and repaints the pane: so the height only grows, until
        # the user picks another row (``fit_height``), and the table stays put.
        height = max(self._height, self.line_count)
        self.refresh(layout=height != self._height)
        self._height = height

    def fit_height(self) -> None:
        """Take the height of what is shown now, not the tallest one before."""
        if self._height != self.line_count:
            self._height = self.line_count
            self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """The reserved height, without rendering to measure it."""
        return self._height or self.line_count

    @property
    def line_count(self) -> int:
        """Lines the histogram takes: its title and one per slot (or the notice)."""
        used = [i for i, n in enumerate(self._slots) if n]
        return 1 + (used[-1] - used[0] + 1 if used else 1)

    def title_line(self) -> str:
        """The title with count, p50, p99 and max."""
        total = sum(self._slots)
        parts = [f"{self._title}: n={total}"]
        if total:
            parts += [
                f"p50 {format_ns(self.percentile_ns(50))}",
                f"p99 {format_ns(self.percentile_ns(99))}",
            ]
        if self._max_ns is not None:
            parts.append(f"max {format_ns(self._max_ns)}")
        return " · ".join(parts)

    def percentile_ns(self, q: float) -> float | None:
        """The ``q``-th percentile of what is shown, in ns."""
        value = hist.percentile(self._slots, q)
        return None if value is None else value * self._unit_ns

    def render(self) -> Text:
        """Title line, then one bar per slot (or the empty notice)."""
        width = max(self.content_size.width, 40)
        lines = histogram_lines(self._slots, width, self._unit_ns) or [f"  ({self._empty})"]
        text = Text(self.title_line(), style="bold", no_wrap=True, overflow="ellipsis")
        for line in lines:
            text.append("\n" + line)
        return text


class HistogramBox(VerticalScroll, can_focus=False):
    """A LatencyHistogram that scrolls when it has more slots than lines."""

    DEFAULT_CSS = """
    HistogramBox { height: auto; max-height: 50%; scrollbar-size-vertical: 1; }
    """

    def compose(self) -> ComposeResult:
        """The histogram."""
        yield LatencyHistogram()

    def scroll_lines(self, step: int) -> None:
        """Scroll a few lines down (step 1) or up (-1)."""
        self.scroll_relative(y=3 * step, animate=False)
