"""Batch text and JSON of the stacks collector (pane ``stacks``).

JSON carries, per mode (``cpu``: samples; ``off``: nanoseconds off CPU), the
heaviest stacks in folded form and the top functions, all since start.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bpftop.batch.common import DEFAULT_ROWS, Rows, num
from bpftop.derive.stacks import StacksView, folded_lines, top_functions
from bpftop.fmt import fmt_pct

UNITS = {"cpu": "samples", "off": "ns"}
# Batch output of every pane leaves off-CPU stacks out: say so, and how to get them.
OFF_PAUSED = "not taken: they cost every context switch two stack walks; --pane stacks takes them"
# A recording made in the dashboard samples the CPU profile only while stacks are on screen.
CPU_PAUSED = "not taken: the CPU profile samples only while stacks are on screen"


def _mode_json(view: StacksView, mode: str, limit: int) -> dict[str, Any]:
    rows = view.rows(mode)
    return {
        "unit": UNITS[mode],
        "total": sum(r.value for r in rows),
        "error": view.cpu_error if mode == "cpu" else view.off_error,
        "paused": view.off_paused if mode == "off" else view.cpu_paused,  # not taken: see OFF_PAUSED
        "folded": folded_lines(rows)[:limit],
        "top_functions": [
            {"name": f.name, "kind": f.kind, "self_pct": num(f.self_pct, 2), "total_pct": num(f.total_pct, 2)}
            for f in top_functions(rows)[:limit]
        ],
    }


def json_section(
    view: StacksView, pane: str | None, rows: Rows = DEFAULT_ROWS, limit: int = 50
) -> dict[str, Any]:
    """The ``stacks`` part of a JSON record: the ``limit`` heaviest stacks and functions of each mode."""
    return {
        "freq_hz": view.freq_hz,
        "min_block_ns": view.min_block_ns,
        "cpu_samples_per_s": num(view.cpu_samples_per_s),
        "off_cpu_ns_per_s": num(view.off_ns_per_s, 0),
        "drops": dict(view.drops),
        "notes": list(view.notes),
        "cpu": _mode_json(view, "cpu", limit),
        "off": _mode_json(view, "off", limit),
    }


def text_section(view: StacksView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> list[Any]:
    """Top functions on and off the CPU since start."""
    parts: list[Any] = []
    drops = {k: v for k, v in view.drops.items() if v}
    if drops:
        parts.append("Stacks lost: " + ", ".join(f"{k}={v}" for k, v in drops.items()))
    parts.extend(view.notes)
    for mode, title in (("cpu", f"CPU stacks ({view.freq_hz} Hz)"), ("off", "Off-CPU stacks")):
        error = view.cpu_error if mode == "cpu" else view.off_error
        if error:
            parts.append(f"{title}: not running: {error}")
            continue
        if view.off_paused if mode == "off" else view.cpu_paused:
            parts.append(f"{title}: {OFF_PAUSED if mode == 'off' else CPU_PAUSED}")
            continue
        t = Table(box=None, pad_edge=False, header_style="bold", title=title, title_justify="left")
        for col in ("SELF%", "TOTAL%", "KIND", "FUNCTION"):
            # Narrow terminals shorten the function name, never the figures.
            left = col in ("KIND", "FUNCTION")
            t.add_column(col, justify="left" if left else "right", no_wrap=True, min_width=len(col) + 1)
        for f in top_functions(view.rows(mode))[: rows.limit]:
            t.add_row(fmt_pct(f.self_pct), fmt_pct(f.total_pct), f.kind, f.name)
        parts.append(t)
    return parts
