"""Golden-file snapshots of every pane and the process screen (no root, no BPF).

Each case replays ``tests/snapshot_data.py``'s recording, steps frame by frame
to a fixed frame (so rates and the bpf pane's history are defined), and
compares the screen with ``tests/snapshots/<case>.txt``: the text of every
cell, then each row's styles as runs of a letter (``a78 d2``: 78 cells of
style ``a``, then 2 of ``d``) with a legend naming each letter's bold, reverse,
underline and colours. 80x24 and 160x48, in colour and with ``NO_COLOR``.

Regenerate after an intended change (then review ``git diff tests/snapshots``)::

    make snapshots          # or: BPFTOP_UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py
"""

from __future__ import annotations

import difflib
import itertools
import os
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.color import Color

from bpftop.app import BpftopApp
from bpftop.panes import process as process_screen
from bpftop.panes.keyed_table import KeyedTable
from bpftop.panes.process import ProcessScreen
from bpftop.record.reader import Recording
from bpftop.record.replay import ReplaySource
from bpftop.registry import PANE_ORDER
from tests.snapshot_data import PROCESS_PID, SHOWN, write_recording
from tests.test_app_pilot import wait_until

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("BPFTOP_UPDATE_SNAPSHOTS") == "1"
SIZES = ((80, 24), (160, 48))
# Style classes by first appearance on the screen: readable in a diff, one per cell.
LETTERS = string.ascii_lowercase + string.ascii_uppercase + string.digits + "#$%&*+=@"
FAILED = "tcp"  # the collector that "did not load" in the failure snapshots
# The process screen's sections, each on its number key (just the screen when it has none).
PROCESS_SECTIONS: tuple[str, ...] = tuple(getattr(process_screen, "SECTIONS", ())) or ("",)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times on screen (replay clock, process start) in UTC whatever the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The recording with every collector, and one where ``FAILED`` did not load."""
    folder = tmp_path_factory.mktemp("snapshots")
    return {
        "": write_recording(folder / "all.bpfrec"),
        FAILED: write_recording(folder / "failed.bpfrec", failed=FAILED),
    }


def screen_lines(app: BpftopApp) -> list[list[Segment]]:
    """The screen's lines after the app's output filters (NO_COLOR's), as the terminal gets them."""
    update = app.screen._compositor.render_update(full=True)
    lines = []
    for line in update.strips:  # type: ignore[union-attr]
        segments = [segment for strip in line for segment in strip if not segment.control]
        for line_filter in app._filters:
            segments = line_filter.apply(segments, Color(0, 0, 0))
        lines.append(segments)
    return lines


def _colour(color: object) -> str:
    if color is None or getattr(color, "is_default", True):
        return ""
    return str(color.get_truecolor().hex)  # type: ignore[attr-defined]


def style_name(style: Style | None) -> str:
    """``bold reverse fg=#e0e0e0 bg=#121212``; ``plain`` when nothing is set."""
    if style is None:
        return "plain"
    words = [
        attr for attr in ("bold", "dim", "italic", "underline", "reverse", "strike") if getattr(style, attr)
    ]
    fg, bg = _colour(style.color), _colour(style.bgcolor)
    words += [f"fg={fg}"] * bool(fg) + [f"bg={bg}"] * bool(bg)
    return " ".join(words) or "plain"


@dataclass
class Screen:
    """A rendered screen: text rows, a style class per cell, and what each class means."""

    text: list[str]
    styles: list[str]
    legend: dict[str, str]  # letter -> style name

    @classmethod
    def of(cls, lines: list[list[Segment]]) -> Screen:
        """Cells of ``lines``; a wide character's second column repeats its class."""
        letters: dict[str, str] = {}
        text, styles = [], []
        for segments in lines:
            row_text, row_styles = [], []
            for segment in segments:
                name = style_name(segment.style)
                letter = letters.setdefault(name, LETTERS[len(letters) % len(LETTERS)])
                row_text.append(segment.text)
                row_styles.append(letter * segment.cell_length)
            text.append("".join(row_text))
            styles.append("".join(row_styles))
        return cls(text, styles, {letter: name for name, letter in letters.items()})

    def cells(self, row: int) -> list[str]:
        """Style names of every cell of ``row``."""
        return [self.legend[letter] for letter in self.styles[row]]

    def render(self, title: str) -> str:
        """The golden file's content."""
        out = [f"# {title}", "# regenerate: make snapshots (BPFTOP_UPDATE_SNAPSHOTS=1)", "--- text"]
        out += [f"|{row}|" for row in self.text]
        out += ["--- styles (row: runs of letter and cell count, see legend)"]
        out += [f"{y:2d}: {runs(row)}" for y, row in enumerate(self.styles)]
        out += ["--- legend"] + [f"{letter} {name}" for letter, name in self.legend.items()]
        return "\n".join(out) + "\n"


def runs(row: str) -> str:
    """``aaab`` -> ``a3 b1``."""
    out = []
    for letter, group in itertools.groupby(row):
        out.append(f"{letter}{len(list(group))}")
    return " ".join(out)


@dataclass(frozen=True)
class TableArea:
    """Where a table is on the screen: its header row, its cursor row (None: no rows)."""

    x: int
    y: int
    width: int
    height: int
    cursor_y: int | None


def table_areas(app: BpftopApp) -> list[TableArea]:
    """Every table visible on the current screen."""
    areas = []
    for table in app.screen.query(KeyedTable):
        region = table.region
        if not region.width or not region.height:
            continue
        cursor_y = region.y + 1 + table.cursor_row - table.scroll_offset.y if table.row_count else None
        areas.append(TableArea(region.x, region.y, region.width, region.height, cursor_y))
    return areas


def showing(app: BpftopApp, ts_ns: int) -> Callable[[], bool]:
    """True once the app shows the frame taken at ``ts_ns``."""
    return lambda: app.derived is not None and app.derived.ts_ns == ts_ns


async def render_case(
    recording: Path, pane: str, size: tuple[int, int]
) -> tuple[BpftopApp, Screen, list[TableArea]]:
    """Replay ``recording`` on ``pane`` stepped to ``SHOWN``.

    ``process-<section>``: Enter on the top process, then the section's number key.
    """
    source = ReplaySource(Recording(recording), playing=False, clock=lambda: 0.0)
    process, _, section = pane.partition("-") if pane.startswith("process") else ("", "", "")
    app = BpftopApp(source, pane="procs" if process else pane, panes=PANE_ORDER)
    async with app.run_test(size=size) as pilot:
        for index in range(SHOWN + 1):
            if index:
                await pilot.press("right_square_bracket")
            await wait_until(pilot, showing(app, source.recording.entries[index].ts_ns))
        await pilot.pause()
        if process:
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ProcessScreen))
            assert isinstance(app.screen, ProcessScreen) and app.screen.pid == PROCESS_PID
            if section:
                await pilot.press(str(PROCESS_SECTIONS.index(section) + 1))
                await wait_until(pilot, lambda: getattr(app.screen, "section", section) == section)
        await pilot.pause()
        await pilot.pause()
        screen = Screen.of(screen_lines(app))
        areas = table_areas(app)
    return app, screen, areas


def compare(name: str, title: str, screen: Screen) -> None:
    """Compare with the golden file (or rewrite it with BPFTOP_UPDATE_SNAPSHOTS=1)."""
    path = SNAPSHOTS / f"{name}.txt"
    actual = screen.render(title)
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        if not path.exists() or path.read_text() != actual:
            path.write_text(actual)
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}; create it with `make snapshots` and review it", pytrace=False)
    expected = path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"{path.name} (golden)",
                f"{path.name} (now)",
                n=1,
            )
        )
        pytest.fail(
            f"{name}: the screen differs from {path}.\n{diff}\n"
            "If the change is intended: `make snapshots` (BPFTOP_UPDATE_SNAPSHOTS=1), then review git diff.",
            pytrace=False,
        )


CASES = [(p, "") for p in PANE_ORDER] + [("-".join(("process", s)).strip("-"), "") for s in PROCESS_SECTIONS]
CASES += [(FAILED, FAILED)]


@pytest.mark.parametrize("no_color", [False, True], ids=["color", "nocolor"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize(("pane", "failed"), CASES, ids=[p + ("-failed" if f else "") for p, f in CASES])
async def test_snapshot(
    recordings: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    pane: str,
    failed: str,
    size: tuple[int, int],
    no_color: bool,
) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    _, screen, areas = await render_case(recordings[failed], pane, size)
    mode = "nocolor" if no_color else "color"
    name = f"{pane}{'-failed' if failed else ''}-{size[0]}x{size[1]}-{mode}"
    what = f"pane {pane}"
    if pane.startswith("process"):
        what = f"process screen of pid {PROCESS_PID}" + (f", section {pane[8:]}" if pane[8:] else "")
    failure = f", collector {failed} failed to load" if failed else ""
    compare(name, f"bpftop snapshot: {what}{failure}, {size[0]}x{size[1]}, {mode}", screen)
    assert len(screen.text) == size[1] and all(len(row) == size[0] for row in screen.styles)
    if no_color:
        coloured = [name for name in screen.legend.values() if "fg=" in name or "bg=" in name]
        assert not coloured, f"NO_COLOR but colours on screen: {coloured}"
        assert_not_by_colour_alone(screen, areas, pane, failed)


def _all(cells: list[str], word: str) -> bool:
    return bool(cells) and all(word in cell.split() for cell in cells)


def assert_not_by_colour_alone(screen: Screen, areas: list[TableArea], pane: str, failed: str) -> None:
    """Without colour, what colour marks still shows: by reverse, bold or a word."""
    assert areas or pane in ("stacks", failed) or pane.startswith("process"), "no table on screen"
    for area in areas:
        span = slice(area.x, area.x + area.width - 1)  # the last column may be a scroll bar
        assert _all(screen.cells(area.y)[span], "bold"), f"table header at row {area.y} is not bold"
        reversed_rows = [
            y
            for y in range(area.y + 1, area.y + area.height)
            if any("reverse" in cell.split() for cell in screen.cells(y)[span])
        ]
        if area.cursor_y is None:
            assert not reversed_rows
            continue
        # The cursor: reverse video across the table's whole width, on that row only.
        assert reversed_rows == [area.cursor_y], (area, reversed_rows)
        assert _all(screen.cells(area.cursor_y)[span], "reverse"), (
            f"cursor row {area.cursor_y} partly reversed"
        )
    text = "\n".join(screen.text)
    if pane == "stacks":  # the selected frame of the flame graph: a marker and reverse video
        row = next(y for y, line in enumerate(screen.text) if "▶" in line)
        x = screen.text[row].index("▶")
        assert "reverse" in screen.cells(row)[x].split()
    if failed:  # the failed collector: a word in the header, reversed; its pane says why
        assert f"{failed}: FAILED" in text
        row = next(y for y, line in enumerate(screen.text) if f"{failed}: FAILED" in line)
        x = screen.text[row].index(f"{failed}: FAILED")
        assert _all(screen.cells(row)[x : x + len(failed) + 8], "reverse")
    if pane in ("procs", "runqlat", "pmc") and not failed:  # the exited process says so in words
        assert "(e" in text and "make" in text


def case_names() -> set[str]:
    """The golden file of every case above."""
    modes = ("color", "nocolor")
    return {
        f"{pane}{'-failed' if failed else ''}-{w}x{h}-{mode}.txt"
        for pane, failed in CASES
        for w, h in SIZES
        for mode in modes
    }


def test_no_stale_golden_files() -> None:
    stale = sorted(p.name for p in SNAPSHOTS.glob("*.txt") if p.name not in case_names())
    if UPDATE:
        for name in stale:
            (SNAPSHOTS / name).unlink()
        return
    assert not stale, f"golden files of no case: {stale}; `make snapshots` removes them"
