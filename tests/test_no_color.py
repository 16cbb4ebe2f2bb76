"""NO_COLOR: no colour escapes at all, and the cursor still shows (reverse video)."""

from __future__ import annotations

import pytest
from rich.segment import Segment
from textual.color import Color

from bpftop.app import BpftopApp
from tests.fakes import FakeSource
from tests.test_app_pilot import SIZE, wait_until


def _screen_segments(app: BpftopApp) -> list[list[Segment]]:
    """The screen's lines after the app's output filters, as the terminal gets them."""
    update = app.screen._compositor.render_update(full=True)
    lines = []
    for line in update.strips:  # type: ignore[attr-defined]
        segments = [segment for strip in line for segment in strip]
        for line_filter in app._filters:
            segments = line_filter.apply(segments, Color(0, 0, 0))
        lines.append(segments)
    return lines


@pytest.mark.parametrize("no_color", [True, False])
async def test_no_color_sends_no_colours_and_keeps_the_cursor(
    monkeypatch: pytest.MonkeyPatch, no_color: bool
) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = BpftopApp(FakeSource(delay_s=0.1))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.frames_applied >= 2)
        await pilot.pause()
        lines = _screen_segments(app)
    styles = [seg.style for line in lines for seg in line if seg.style is not None and seg.text.strip()]
    coloured = [
        s for s in styles if (s.color and not s.color.is_default) or (s.bgcolor and not s.bgcolor.is_default)
    ]
    if no_color:
        assert not coloured, coloured[:3]
    else:
        assert coloured  # the control: colours are there without NO_COLOR
    # The cursor row is told apart without colour: reverse video on exactly one table row.
    reversed_rows = [
        line for line in lines if any(seg.style and seg.style.reverse and len(seg.text) > 20 for seg in line)
    ]
    assert len(reversed_rows) == 1
