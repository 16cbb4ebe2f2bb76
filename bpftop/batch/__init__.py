"""Non-interactive output: text tables like ``top -b``, or one JSON object per interval.

JSON keys carry their units (``_ns``, ``_per_s``, ``_bytes``); each figure comes
as the interval's raw count, its rate, and the cumulative count since attach.
"""

from __future__ import annotations

import importlib
import json
import time
from datetime import datetime, timezone
from typing import Any, TextIO

from rich.console import Console
from rich.text import Text

from bpftop.batch import procs
from bpftop.batch.common import DEFAULT_ROWS, Rows, num
from bpftop.derive import Derived
from bpftop.heap import settle_gc
from bpftop.registry import STEMS
from bpftop.source import Source
from bpftop.textsafe import printable


class SafeConsole(Console):
    """A rich console for names processes chose: no markup, no emoji codes, no control characters.

    Every string a table cell, title or line holds reaches the output through
    ``render_str``, so this one place covers every section: a ``comm`` of
    ``[/]`` no longer crashes the output (rich markup), ``:smile:`` stays text,
    and escape sequences become ``?`` (bpftop.textsafe).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        """Render ``text`` as plain text with its non-printable characters as ``?``."""
        return super().render_str(printable(text), **kwargs)


def _section(stem: str, pane: str | None) -> Any:
    """The batch module of ``stem`` (registry.Stem.section), None when ``pane``'s output leaves it out.

    The joined ``procs`` section (bpftop.batch.procs) follows the collectors' sections.
    """
    entry = STEMS[stem]
    return importlib.import_module(entry.section) if pane is None or pane in entry.batch_panes else None


def to_json(d: Derived, pane: str | None, rows: Rows = DEFAULT_ROWS) -> dict[str, Any]:
    """One JSON record for an interval; ``rows`` says which processes its tables list."""
    record: dict[str, Any] = {
        "time": datetime.fromtimestamp(d.wall, timezone.utc).isoformat(timespec="milliseconds"),
        "interval_s": num(d.interval_s, 3),
        "host": {"hostname": d.host.hostname, "kernel": d.host.kernel, "machine": d.host.machine},
        "collectors": [{"name": s.name, "ok": s.ok, "method": s.method, "error": s.error} for s in d.status],
    }
    if d.detail_s is not None:  # a replay whose per-process figures span more than the interval
        record["detail_s"] = num(d.detail_s, 3)
    for stem, view in d.views.items():
        section = _section(stem, pane)
        if section is not None:
            record[stem] = section.json_section(view, pane, rows)
    if pane in (None, *procs.PANES):
        joined = procs.json_section(d, rows)
        if joined is not None:
            record["procs"], record["procs_omitted"] = joined
    return record


def text_tables(d: Derived, pane: str | None, rows: Rows = DEFAULT_ROWS) -> list[Any]:
    """Renderables for one interval: a summary line then the pane tables (``rows`` as in to_json)."""
    when = datetime.fromtimestamp(d.wall).strftime("%H:%M:%S")
    interval = f"{d.interval_s:.2f}s" if d.interval_s else "-"
    detail = f", per-process over {d.detail_s:.0f}s" if d.detail_s is not None else ""
    parts: list[Any] = [f"bpftop - {when} {d.host.hostname} {d.host.kernel}, interval {interval}{detail}"]
    for st in d.status:
        if not st.ok:
            parts.append(f"{st.name}: not loaded: {st.error}" + (f" ({st.hint})" if st.hint else ""))
    for stem, view in d.views.items():
        section = _section(stem, pane)
        if section is not None:
            parts.extend(section.text_section(view, pane, rows))
    if pane in (None, *procs.PANES):
        parts.extend(procs.text_section(d, rows))
    return parts


def run_batch(
    source: Source,
    *,
    iterations: int,
    delay_s: float,
    pane: str | None,
    as_json: bool,
    comm: str = "",
    out: TextIO | None = None,
    rows: Rows = DEFAULT_ROWS,
) -> None:
    """Print ``iterations`` intervals of ``delay_s`` from ``source`` (an Engine or a replay).

    ``rows`` says which processes the per-process tables list (``--rows``, ``--all-rows``).
    """
    from bpftop.derive import derive

    console = SafeConsole(file=out, soft_wrap=False, width=None if out is None else 160)
    source.advance(comm)  # the first frame has no rates: nothing to print
    next_at = time.monotonic()
    for i in range(iterations):
        if i == 1:
            settle_gc()  # start-up is over (bpftop.heap)
        next_at += delay_s
        time.sleep(max(0.0, next_at - time.monotonic()))
        step = source.advance(comm)
        # A tick that overran its interval (the first loads symbol tables)
        # moves the schedule: the next interval is -d long, as top -b's,
        # not shortened to catch up (issue 16: 3.5 s, then 1.35 and 0.65 s).
        next_at = max(next_at, time.monotonic())
        d = derive(step.prev, step.cur, comm, step.detail)
        if as_json:
            line = json.dumps(to_json(d, pane, rows), separators=(",", ":"))
            if out is None:
                print(line, flush=True)
            else:
                out.write(line + "\n")
        else:
            for part in text_tables(d, pane, rows):
                console.print(part)
            console.print()
