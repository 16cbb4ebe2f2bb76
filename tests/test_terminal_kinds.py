"""16-colour terminals, the Linux console and screen: the screen still tells everything apart.

In process: Textual's colour system forced to ``standard`` (16 colours), every
colour on screen is reduced as Rich reduces it for such a terminal, and the
text must stay visible (foreground != background) and the cursor row must
still stand out. In a pseudo-terminal: the real ``bpftop replay`` under
``TERM=linux`` and ``TERM=screen`` (which Rich maps to 16 colours) draws,
sends no 256-colour or truecolor escapes, and quits on ``q``.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import textual.constants
from rich.color import ColorSystem
from rich.style import Style

from bpftop.app import BpftopApp
from bpftop.record.reader import Recording
from bpftop.record.replay import ReplaySource
from bpftop.registry import PANE_ORDER
from tests.snapshot_data import SHOWN, write_recording
from tests.test_app_pilot import wait_until
from tests.test_snapshots import screen_lines, table_areas

ROOT = Path(__file__).resolve().parent.parent
SGR = re.compile(rb"\x1b\[([0-9;:]*)m")
COLOUR_CODES = {*range(30, 39), *range(40, 49), *range(90, 98), *range(100, 108)}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The snapshot tests' recording (every collector)."""
    return write_recording(tmp_path_factory.mktemp("kinds") / "all.bpfrec")


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _cell_colours(style: Style | None) -> tuple[str, str]:
    """(foreground, background) as a 16-colour terminal shows them, reverse video applied."""
    fg = bg = "default"
    if style is not None:
        if style.color is not None and not style.color.is_default:
            fg = str(style.color.downgrade(ColorSystem.STANDARD).number)
        if style.bgcolor is not None and not style.bgcolor.is_default:
            bg = str(style.bgcolor.downgrade(ColorSystem.STANDARD).number)
        if style.reverse:
            fg, bg = bg, fg
    return fg, bg


@pytest.mark.parametrize("pane", PANE_ORDER)
async def test_16_colours_keep_text_visible_and_the_cursor_distinct(
    monkeypatch: pytest.MonkeyPatch, recording: Path, utc: None, pane: str
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "standard")
    source = ReplaySource(Recording(recording), start=SHOWN, playing=False, clock=lambda: 0.0)
    app = BpftopApp(source, pane=pane, panes=PANE_ORDER)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.frames_applied >= 1)
        await pilot.pause()
        await pilot.pause()
        assert app.console.color_system == "standard"
        lines = screen_lines(app)
        areas = table_areas(app)
    invisible = []
    rows: list[list[tuple[str, str]]] = []
    for y, segments in enumerate(lines):
        row = []
        for segment in segments:
            colours = _cell_colours(segment.style)
            row += [colours] * segment.cell_length
            fg, bg = colours
            if segment.text.strip() and fg == bg and fg != "default":
                invisible.append((y, segment.text))
        rows.append(row)
    assert not invisible, f"text in the same colour as its background in 16 colours: {invisible[:5]}"
    assert areas or pane == "stacks"
    for area in areas:
        assert area.cursor_y is not None
        cursor = rows[area.cursor_y][area.x : area.x + area.width - 1]
        for y in range(area.y + 1, area.y + area.height):
            if y != area.cursor_y:
                other = rows[y][area.x : area.x + area.width - 1]
                assert other != cursor, f"{pane}: row {y} looks like the cursor row {area.cursor_y}"
        header = rows[area.y][area.x : area.x + area.width - 1]
        assert header != cursor


def _spawn(recording: Path, env: dict[str, str]) -> tuple[int, int]:
    """``bpftop replay`` on a fresh 80x24 pseudo-terminal with ``env``."""
    pid, master = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        argv = [sys.executable, "-m", "bpftop", "replay", str(recording), "--paused"]
        os.execve(sys.executable, argv, env)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    return pid, master


def _read(master: int, until: bytes, timeout_s: float, out: bytearray) -> None:
    deadline = time.monotonic() + timeout_s
    while until not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child is gone (EIO)
                return
            if not chunk:
                return
            out += chunk


def _colour_params(output: bytes) -> list[list[str]]:
    """The parameters of every SGR sequence that sets a colour."""
    found = []
    for match in SGR.finditer(output):
        params = re.split(r"[;:]", match.group(1).decode())
        # 39 and 49 restore the terminal's default colours: not a colour.
        if any(p.isdigit() and int(p) in COLOUR_CODES for p in params):
            found.append(params)
    return found


@pytest.mark.parametrize(
    ("term", "no_color"),
    [("linux", False), ("screen", False), ("linux", True)],
    ids=["linux", "screen", "linux-nocolor"],
)
def test_real_dashboard_on_16_colour_terminals(recording: Path, term: str, no_color: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "NO_COLOR", "TEXTUAL_COLOR_SYSTEM")}
    env |= {"TERM": term, "TZ": "UTC", "PYTHONPATH": str(ROOT)}
    if no_color:
        env["NO_COLOR"] = "1"
    pid, master = _spawn(recording, env)
    out = bytearray()
    status: int | None = None
    try:
        _read(master, b"frame 1/6", 30, out)
        assert b"frame 1/6" in out, bytes(out[-800:])  # the timeline is drawn: the whole screen is up
        _read(master, b"\x00never", 0.3, out)  # the rest of the first screen
        assert b"PID" in out and b"python3" in out
        colours = _colour_params(bytes(out))
        extended = [p for p in colours if "38" in p or "48" in p]
        assert not extended, f"TERM={term}: 256-colour or truecolor escapes {extended[:3]}"
        if no_color:
            assert not colours, f"NO_COLOR: colour escapes {colours[:3]}"
        else:
            assert colours  # the control: 16 colours are used
        os.write(master, b"q")
        deadline = time.monotonic() + 10
        while status is None and time.monotonic() < deadline:
            _read(master, b"\x00never", 0.1, out)
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = wait_status
        assert status is not None, "bpftop did not quit on q"
        assert os.waitstatus_to_exitcode(status) == 0, bytes(out[-800:])
    finally:
        os.close(master)
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
