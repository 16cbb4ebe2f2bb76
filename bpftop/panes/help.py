"""The help screen: every key, generated from the bindings that implement it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# The tables' own cursor keys, listed for completeness; never bound from here.
CURSOR_BINDINGS: list[BindingType] = [
    Binding("up,down,pageup,pagedown", "", "", key_display="↑↓ PgUp PgDn", tooltip="move the cursor"),
    Binding("home,end", "", "", key_display="Home End", tooltip="first or last row"),
]


def key_lines(
    bindings: Iterable[BindingType], key_display: Callable[[Binding], str]
) -> list[tuple[str, str]]:
    """(keys, explanation) pairs; bindings with the same meaning share a line.

    Args:
        bindings: a widget's ``BINDINGS``.
        key_display: how the app shows a key (``App.get_key_display``).
    """
    merged: dict[tuple[str, str], list[str]] = {}
    for binding in Binding.make_bindings(bindings):
        what = binding.tooltip or binding.description
        if not what:
            continue
        keys = merged.setdefault((binding.description, what), [])
        shown = key_display(binding)
        if shown not in keys:
            keys.append(shown)
    return [("/".join(keys), what) for (_, what), keys in merged.items()]


class HelpScreen(ModalScreen[None]):
    """Lists every key by where it works; Esc, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,?", "close", "Close", tooltip="close this help"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; height: auto; max-height: 90%;
        border: round $primary; padding: 0 1; background: $surface;
    }
    """

    def __init__(self, sections: Sequence[tuple[str, Sequence[BindingType]]]) -> None:
        """Build the help from named groups of bindings.

        Args:
            sections: (where the keys work, their bindings), in display order.
        """
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        """One block of keys per section."""
        text = Text()
        for index, (title, bindings) in enumerate(self._sections):
            if index:
                text.append("\n")
            text.append(f"{title}\n", style="bold underline")
            for keys, what in key_lines(bindings, self.app.get_key_display):
                text.append(f"  {keys:<16}", style="bold")
                text.append(f"{what}\n")
        with VerticalScroll() as scroll:
            scroll.border_title = "bpftop keys"
            text.rstrip()
            yield Static(text)

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
