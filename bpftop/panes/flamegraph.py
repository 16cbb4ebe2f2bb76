"""A terminal flame graph: an icicle (root at the top), keyboard driven.

Width is a frame's share of the samples (or off-CPU time) of the frame zoomed
into; hue says what kind of code a frame is (user yellow, kernel orange-red,
JIT green, unknown grey, processes purple) and the shade follows a hash of its
name, so a function keeps its colour between refreshes. Every box starts with
a marker, so boxes stay apart without colour (NO_COLOR): ``▏`` normally,
``▶`` on the selected frame (also shown reversed) and ``*`` on search matches
(also underlined); a box one column wide is only its colour.
"""

from __future__ import annotations

import colorsys
import zlib
from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from bpftop.derive.stacks import FlameNode

HUES = {"u": 0.12, "k": 0.03, "j": 0.33, "p": 0.78, "r": 0.0}  # 0..1; "?" and others: grey
MARK, MARK_SELECTED, MARK_MATCH = "▏", "▶", "*"


class Span(NamedTuple):
    """A node laid out on one row: its first column and width."""

    x: int
    width: int
    node: FlameNode


def node_style(node: FlameNode) -> Style:
    """Background by kind and name hash, black text."""
    shade = (zlib.crc32(node.name.encode()) % 1000) / 1000
    hue = HUES.get(node.kind)
    if hue is None or node.kind == "r":
        r, g, b = colorsys.hls_to_rgb(0.0, 0.55 + 0.15 * shade, 0.0)
    else:
        r, g, b = colorsys.hls_to_rgb(hue + 0.04 * shade, 0.45 + 0.2 * shade, 0.75)
    return Style(color="black", bgcolor=f"rgb({int(r * 255)},{int(g * 255)},{int(b * 255)})")


def layout(root: FlameNode, width: int) -> list[list[Span]]:
    """Rows of spans under ``root`` (row 0 is ``root`` itself, full width).

    A child gets the columns its cumulative share rounds to, so siblings
    tile their parent exactly; children narrower than one column are left out.
    """
    rows: list[list[Span]] = []
    if width <= 0 or root.value <= 0:
        return rows
    level = [Span(0, width, root)]
    scale = width / root.value
    while level:
        rows.append(level)
        nxt: list[Span] = []
        for span in level:
            done = 0
            start = span.x
            for child in span.node.sorted_children():
                x0 = start + round(done * scale)
                done += child.value
                x1 = start + round(done * scale)
                if x1 - x0 >= 1:
                    nxt.append(Span(x0, min(x1, span.x + span.width) - x0, child))
        level = [s for s in nxt if s.width > 0]
    return rows


class FlameGraph(Widget, can_focus=True):
    """The icicle. ``set_tree`` gives it data; zoom and selection survive refreshes by path."""

    DEFAULT_CSS = """
    FlameGraph { height: 1fr; min-height: 4; }
    FlameGraph:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("up", "move('up')", "Parent", show=False, tooltip="select the parent frame (flame graph)"),
        Binding(
            "down", "move('down')", "Child", show=False, tooltip="select the heaviest child (flame graph)"
        ),
        Binding(
            "left", "move('left')", "Left", show=False, tooltip="previous frame on this row (flame graph)"
        ),
        Binding(
            "right", "move('right')", "Right", show=False, tooltip="next frame on this row (flame graph)"
        ),
        Binding("enter", "zoom_in", "Zoom", tooltip="zoom into the selected frame (flame graph)"),
        Binding("escape", "zoom_out", "Zoom out", tooltip="zoom out one level (flame graph)"),
        Binding("/", "search", "Search", tooltip="highlight frames by name, with their share (flame graph)"),
    ]

    class SelectionChanged(Message):
        """The selected frame, zoom or search changed (the pane redraws its status line)."""

    class SearchRequested(Message):
        """``/`` was pressed: the pane opens its search field."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.root = FlameNode("all", "r")
        self.zoom = self.root
        self.selected = self.root
        self.search = ""
        self._rows: list[list[Span]] = []
        self._top = 0  # first row shown
        self._width = 0

    # Data and state.
    def set_tree(self, root: FlameNode) -> None:
        """Show a new tree, keeping the zoom and selection where their paths still exist."""
        zoom_path, sel_path = self.zoom.path(), self.selected.path()
        self.root = root
        self.zoom = self._deepest(root, zoom_path)
        self.selected = self._deepest(root, sel_path)
        if not self._under_zoom(self.selected):
            self.selected = self.zoom
        self._relayout()

    @staticmethod
    def _deepest(root: FlameNode, path: tuple[str, ...]) -> FlameNode:
        node = root
        for name in path:
            child = node.children.get(name)
            if child is None:
                break
            node = child
        return node

    def _under_zoom(self, node: FlameNode) -> bool:
        n: FlameNode | None = node
        while n is not None:
            if n is self.zoom:
                return True
            n = n.parent
        return False

    def set_search(self, needle: str) -> None:
        """Highlight frames whose name contains ``needle`` (case-insensitive); "" clears."""
        self.search = needle.lower()
        self.refresh()
        self.post_message(self.SelectionChanged())

    def matches(self, node: FlameNode) -> bool:
        """Whether the search highlights ``node``."""
        return bool(self.search) and self.search in node.name.lower()

    def _relayout(self) -> None:
        self._width = self.size.width
        self._rows = layout(self.zoom, self._width)
        if not any(s.node is self.selected for row in self._rows for s in row):
            self.selected = self.zoom
        self._follow()
        self.refresh()
        self.post_message(self.SelectionChanged())

    def on_resize(self) -> None:
        """Lay out again for the new width."""
        self._relayout()

    def _row_of(self, node: FlameNode) -> int:
        depth, n = 0, node
        while n is not self.zoom and n.parent is not None:
            depth += 1
            n = n.parent
        return depth

    def _follow(self) -> None:
        """Scroll so the selected row is visible."""
        height = max(1, self.size.height)
        row = self._row_of(self.selected)
        if row < self._top:
            self._top = row
        elif row >= self._top + height:
            self._top = row - height + 1
        self._top = max(0, min(self._top, max(0, len(self._rows) - height)))

    # Keys.
    def action_move(self, direction: str) -> None:
        """Move the selection: up to the parent, down to the heaviest child, along the row."""
        node = self.selected
        if direction == "up" and node is not self.zoom and node.parent is not None:
            self.selected = node.parent
        elif direction == "down":
            row = self._row_of(node) + 1
            shown = [s.node for s in self._rows[row]] if row < len(self._rows) else []
            child = next((c for c in node.sorted_children() if c in shown), None)
            if child is not None:
                self.selected = child
        elif direction in ("left", "right"):
            spans = self._rows[self._row_of(node)] if self._rows else []
            index = next((i for i, s in enumerate(spans) if s.node is node), None)
            step = -1 if direction == "left" else 1
            if index is not None and 0 <= index + step < len(spans):
                self.selected = spans[index + step].node
        self._follow()
        self.refresh()
        self.post_message(self.SelectionChanged())

    def action_search(self) -> None:
        """Ask the pane for the search field."""
        self.post_message(self.SearchRequested())

    def action_zoom_in(self) -> None:
        """Make the selected frame the full width."""
        self.zoom = self.selected
        self._top = 0
        self._relayout()

    def action_zoom_out(self) -> None:
        """Zoom out one level, keeping the selection."""
        if self.zoom.parent is not None:
            self.zoom = self.zoom.parent
            self._relayout()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc zooms out only when zoomed in; otherwise it goes to the screen (back)."""
        if action == "zoom_out":
            return self.zoom.parent is not None
        return True

    # Drawing.
    def render_line(self, y: int) -> Strip:
        """One row of the icicle."""
        width = self.size.width
        index = y + self._top
        if index >= len(self._rows):
            if index == 0:
                return Strip([Segment("no stacks yet".ljust(width)[:width])])
            return Strip.blank(width)
        segments: list[Segment] = []
        x = 0
        for span in self._rows[index]:
            if span.x > x:
                segments.append(Segment(" " * (span.x - x)))
            segments.append(self._box(span))
            x = span.x + span.width
        if x < width:
            segments.append(Segment(" " * (width - x)))
        return Strip(segments, width)

    def _box(self, span: Span) -> Segment:
        node = span.node
        style = node_style(node)
        mark = MARK
        if node is self.selected:
            mark = MARK_SELECTED
            style += Style(reverse=True, bold=True)
        elif self.matches(node):
            mark = MARK_MATCH
            style += Style(underline=True, bold=True, bgcolor="magenta")
        if span.width == 1 and mark == MARK:
            return Segment(" ", style)  # a sliver: colour only, or markers would be all one sees
        text = (mark + node.name)[: span.width].ljust(span.width)
        return Segment(text, style)
