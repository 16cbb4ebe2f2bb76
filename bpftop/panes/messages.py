"""Messages panes post to the app, and what they read of it (``Dashboard``).

Here rather than on the pane that first had them, so a pane never imports
another to say something (five panes post ``OpenProcess``), nor the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from textual.message import Message

if TYPE_CHECKING:
    from bpftop.derive import Derived
    from bpftop.source import ReplayControls


class OpenProcess(Message):
    """The user asked for one process's screen (Enter on a process's row)."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid


class PaneShown(Message):
    """A pane came on screen: the app tells its source (the collectors that count only while shown).

    ``over``: shown over the pane on screen (a process's stacks), which
    comes back with ``PaneLeft``.
    """

    def __init__(self, name: str, over: bool = False) -> None:
        super().__init__()
        self.name = name
        self.over = over


class PaneLeft(Message):
    """A pane shown ``over`` another left the screen: the one under it is shown again."""


@runtime_checkable
class Dashboard(Protocol):
    """What panes read of the app that runs them (``bpftop.app.BpftopApp``), typed.

    Panes never import the app (it imports them); they check ``self.app``
    against this instead of asking for attributes by name. In a test's bare
    app none of it exists, and panes show what they show without an app.
    """

    derived: Derived | None  # the frame on screen
    loading: bool  # collectors still loading: no frame yet
    replay: ReplayControls | None  # a replay's controls; None live
