"""Messages more than one pane posts to the app.

Here rather than on the pane that first had them, so a pane never imports
another to say something (five panes post ``OpenProcess``).
"""

from __future__ import annotations

from textual.message import Message


class OpenProcess(Message):
    """The user asked for one process's screen (Enter on a process's row)."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
