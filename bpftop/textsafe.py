"""Names other processes chose, made safe for text outputs (terminal, batch text, folded stacks).

A process names itself (``comm``, up to 15 bytes of anything but NUL) and its
symbols (an ELF string table, a perf map) as it likes: escape sequences that
retitle or clear root's terminal, a newline that starts a line of its own
(``* * * * * root ...`` in a folded profile that lands in ``/etc/cron.d``),
bidi overrides that reorder what is shown. Every text output passes names
through here; JSON needs nothing (``json.dumps`` escapes every control
character) and keeps names exactly as they were.

The mapping, the same in the dashboard, ``bpftop -b`` and ``bpftop profile``:
every character Python calls non-printable (C0 and C1 controls, DEL, format
characters such as bidi overrides, line and paragraph separators, lone
surrogates from undecodable bytes, unassigned code points) becomes ``?``;
the plain space stays. Folded stacks also need ``;`` (the frame separator)
and whitespace (``flamegraph.pl`` takes the number after the last blank as
the count, and a second number before it as a differential count): ``;``
becomes ``:``, as in ``stackcollapse-perf.pl``, and every whitespace
character, the space included, becomes ``_``.
"""

from __future__ import annotations

_FOLDED = str.maketrans({";": ":", " ": "_"})


def _replace(text: str, whitespace: str) -> str:
    """Non-printable characters as ``?``, or as ``whitespace`` when they are whitespace and it is given."""
    return "".join(
        c if c.isprintable() else whitespace if whitespace and c.isspace() else "?" for c in text
    )


def printable(text: str) -> str:
    """``text`` with each non-printable character as ``?`` (the space stays)."""
    return text if text.isprintable() else _replace(text, "")


def folded_name(text: str) -> str:
    """A process or frame name for a folded stack line: no ``;``, no whitespace, printable."""
    text = text.translate(_FOLDED)
    return text if text.isprintable() else _replace(text, "_")
