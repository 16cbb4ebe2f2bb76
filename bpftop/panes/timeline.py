"""Replay: the timeline under the panes, the go-to-time prompt and the replay keys.

The keys are bound on the app (they work on every screen) and run
``BpftopApp.action_replay``. In replay, ``<`` and ``>`` set the speed instead of
sorting (tables still sort with ``s`` and reverse with ``r``), except while a
text input has the focus.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from bpftop.panes.header import Readout
from bpftop.panes.messages import Dashboard
from bpftop.record.attime import AT_HELP, duration_text
from bpftop.source import ReplayControls

REPLAY_BINDINGS: list[BindingType] = [
    Binding("[", "replay('step', -1)", "Back", show=False, tooltip="replay: previous frame (pauses)"),
    Binding("]", "replay('step', 1)", "Step", show=False, tooltip="replay: next frame (pauses)"),
    Binding("{", "replay('jump', -60)", "-1min", show=False, tooltip="replay: back one minute"),
    Binding("}", "replay('jump', 60)", "+1min", show=False, tooltip="replay: forward one minute"),
    Binding("g", "replay('goto')", "Go to", tooltip="replay: go to a time (HH:MM:SS, ISO, +SECONDS)"),
    Binding(
        "<",
        "replay('speed', -1)",
        "Slower",
        show=False,
        priority=True,
        tooltip="replay: slower playback (sort tables with s and r)",
    ),
    Binding(
        ">", "replay('speed', 1)", "Faster", show=False, priority=True, tooltip="replay: faster playback"
    ),
]
# For the help screen: what space means in replay (the binding itself is the app's pause key).
REPLAY_HELP: list[BindingType] = [
    Binding("space,p", "", "Play", tooltip="replay: play or pause the playback"),
    *REPLAY_BINDINGS,
]


def timeline_text(source: ReplayControls, width: int, detail_s: float | None = None) -> Text:
    """``▶ 2x  2024-05-01 14:03:22  ━━━━╸────  12:34/1:00:00  frame 754/3600``.

    ``detail_s``: per-process figures span that many seconds here (a recording
    that kept per-process tables every few seconds): ``procs/14s`` follows.
    """
    state = source.state()
    when = datetime.fromtimestamp(state.wall).strftime("%Y-%m-%d %H:%M:%S")
    left = f" {'▶' if state.playing else '⏸'} {state.speed:g}x  {when}  "
    right = (
        f"  {duration_text(state.elapsed_s)}/{duration_text(state.duration_s)}"
        f"  frame {state.index + 1}/{state.count} "
    )
    if detail_s is not None:
        right += f" procs/{detail_s:.0f}s "
    room = max(0, width - len(left) - len(right))
    share = state.index / (state.count - 1) if state.count > 1 else 1.0
    done = round(room * share)
    text = Text(left, style="bold")
    text.append("━" * done, style="bold")
    text.append("─" * (room - done), style="dim")
    text.append(right)
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


class Timeline(Readout):
    """One line above the key hints: play state, speed, wall-clock time, position."""

    DEFAULT_CSS = """
    Timeline { height: 1; background: $panel; color: $foreground; }
    """

    def __init__(self, source: ReplayControls) -> None:
        super().__init__("", id="timeline")
        self.source = source

    def on_mount(self) -> None:
        """Follow the frames and the replay controls; say what of the file was damaged."""
        for name in ("derived", "record_label"):
            self.watch(self.app, name, self.refresh_state, init=False)
        self.refresh_state()
        for damage in self.source.damage:
            self.app.notify(damage, title="recording damaged", severity="warning", timeout=15)

    def on_resize(self) -> None:
        """The bar fills the width."""
        self.refresh_state()

    def refresh_state(self) -> None:
        """Redraw from the playback state."""
        derived = self.app.derived if isinstance(self.app, Dashboard) else None
        detail_s = derived.detail_s if derived is not None else None
        self.show(timeline_text(self.source, self.size.width or 80, detail_s))


class GoToScreen(ModalScreen[str]):
    """Asks for a time; Enter goes there, Esc cancels (dismisses with "")."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="close without moving")]
    DEFAULT_CSS = """
    GoToScreen { align: center bottom; }
    GoToScreen > Vertical {
        width: 76; height: auto; border: round $primary; background: $surface; padding: 0 1;
        margin-bottom: 2;
    }
    GoToScreen Input { width: 100%; }
    """

    def compose(self) -> ComposeResult:
        """The prompt and its input."""
        with Vertical() as box:
            box.border_title = "go to"
            yield Static(AT_HELP)
            yield Input(placeholder="14:03:22", id="goto-time", compact=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Go there."""
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        """Close without moving."""
        self.dismiss("")


def replay_command(app: Any, source: ReplayControls, command: str, amount: float) -> None:
    """What a replay key does: ``play``, ``step`` N frames, ``jump`` N s, ``speed`` ±1, ``goto``.

    Args:
        app: the ``BpftopApp``; its ``replay_moved`` shows the move at once.
        source: the playback.
        command: the action's first parameter.
        amount: its second.
    """
    if command == "goto":

        def go_to(text: str | None) -> None:
            if not text:
                return
            try:
                source.go_to(text)
            except ValueError as exc:
                app.notify(str(exc), title="go to", severity="error", markup=False)
                return
            app.replay_moved()

        app.push_screen(GoToScreen(), callback=go_to)
        return
    if command == "play":
        source.toggle()
    elif command == "step":
        source.step(int(amount))
    elif command == "jump":
        source.jump(amount)
    elif command == "speed":
        source.change_speed(int(amount))
    app.replay_moved()
