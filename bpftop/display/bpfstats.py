"""What the bpf pane, its detail screen and its batch section all show: the stats line, map entries."""

from __future__ import annotations

from bpftop.derive.bpfstats import BpfstatsView, MapStat

STATS_COST = "run-time statistics cost every BPF program ~10-20 ns per run while on"


def stats_line(view: BpfstatsView) -> str:
    """Whether run-time statistics are on, how, and what they cost."""
    if view.stats_method:
        return f"BPF stats on ({view.stats_method}): {STATS_COST}; CPU% is of one CPU"
    if view.stats_error:
        return f"BPF stats unavailable: {view.stats_error}"
    return (
        "BPF stats not turned on by bpftop (the bpf pane off screen, no --bpf-stats): "
        "run times show only if another tool turned them on"
    )


def entries_text(m: MapStat) -> str:
    """``123`` / ``≥1048576`` / ``-`` when the kind cannot be counted."""
    if m.entries < 0:
        return "-"
    return f"≥{m.entries}" if m.entries_capped else str(m.entries)
