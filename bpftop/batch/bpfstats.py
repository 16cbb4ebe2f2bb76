"""Batch text and JSON of the bpfstats collector (pane ``bpf``): programs and maps."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bpftop.batch.common import DEFAULT_ROWS, Rows, num
from bpftop.derive.bpfstats import BpfstatsView, MapStat, ProgStat
from bpftop.display.bpfstats import entries_text, stats_line
from bpftop.fmt import fmt_bytes, fmt_pct, fmt_rate, format_ns

LEFT = {"TYPE", "NAME", "OWNERS"}


def _prog_json(p: ProgStat) -> dict[str, Any]:
    return {
        "id": p.id,
        "type": p.type,
        "name": p.name,
        "tag": p.tag,
        "own": p.own,
        "owners": p.owners,
        "loaded_at_epoch_s": p.loaded_at,
        "uid": p.uid,
        "xlated_bytes": p.xlated_bytes,
        "jited_bytes": p.jited_bytes,
        "memlock_bytes": p.memlock_bytes,
        "map_ids": list(p.map_ids),
        "btf_id": p.btf_id,
        "verified_insns": p.verified_insns,
        "runs": p.runs,
        "runs_total": p.run_cnt_total,
        "run_time_ns": p.run_time_ns,
        "run_time_total_ns": p.run_time_total_ns,
        "avg_run_ns": num(p.avg_ns),
        "avg_run_total_ns": num(p.avg_total_ns),
        "events_per_s": num(p.events_per_s),
        "cpu_pct": num(p.cpu_pct, 3),
        "recursion_misses": p.recursion_misses,
        "recursion_misses_total": p.recursion_misses_total,
    }


def _map_json(m: MapStat) -> dict[str, Any]:
    return {
        "id": m.id,
        "type": m.type,
        "name": m.name,
        "flags": m.flags,
        "key_size_bytes": m.key_size,
        "value_size_bytes": m.value_size,
        "max_entries": m.max_entries,
        "entries": None if m.entries < 0 else m.entries,
        "entries_capped": m.entries_capped,
        "fill_pct": num(m.fill_pct),
        "memlock_bytes": m.memlock_bytes,
        "btf_id": m.btf_id,
        "owners": m.owners,
        "own": m.own,
        "prog_ids": list(m.prog_ids),
    }


def json_section(view: BpfstatsView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> dict[str, Any]:
    """The ``bpfstats`` part of a JSON record: both tables."""
    return {
        "stats": view.stats_method or "off",
        "stats_error": view.stats_error,
        "cpu_pct_total": num(view.cpu_pct_total, 3),
        "events_per_s_total": num(view.events_per_s_total),
        "progs": [_prog_json(p) for p in view.progs],
        "maps": [_map_json(m) for m in view.maps],
    }


def _table(columns: tuple[str, ...]) -> Table:
    t = Table(box=None, pad_edge=False, header_style="bold")
    for col in columns:
        # Narrow terminals shorten names and owners, never the figures.
        width = None if col in ("NAME", "OWNERS") else {"ID": 6, "TYPE": 10, "AVG": 7}.get(col, len(col))
        t.add_column(col, justify="left" if col in LEFT else "right", no_wrap=True, min_width=width)
    return t


def text_section(view: BpfstatsView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> list[Any]:
    """The statistics line, the programs table (by CPU %) and the maps table."""
    limit = rows.limit
    parts: list[Any] = [stats_line(view)]
    progs = sorted(view.progs, key=lambda p: (p.cpu_pct or 0.0, p.run_cnt_total), reverse=True)
    t = _table(("ID", "TYPE", "NAME", "AVG", "EVENTS/s", "CPU%", "MISSES", "XLATED", "OWNERS"))
    for p in progs[:limit]:
        t.add_row(
            str(p.id),
            p.type,
            p.name + (" *" if p.own else ""),
            format_ns(p.avg_ns),
            fmt_rate(p.events_per_s),
            fmt_pct(p.cpu_pct, 2),
            str(p.recursion_misses),
            fmt_bytes(p.xlated_bytes),
            p.owners,
        )
    parts.append(t)
    maps = sorted(view.maps, key=lambda m: m.memlock_bytes, reverse=True)
    t = _table(("ID", "TYPE", "NAME", "KEY", "VALUE", "MAX", "ENTRIES", "FILL%", "MEMLOCK", "OWNERS"))
    for m in maps[:limit]:
        t.add_row(
            str(m.id),
            m.type,
            m.name + (" *" if m.own else ""),
            str(m.key_size),
            str(m.value_size),
            str(m.max_entries),
            entries_text(m),
            fmt_pct(m.fill_pct, 0),
            fmt_bytes(m.memlock_bytes),
            m.owners,
        )
    parts.append(t)
    parts.append("* loaded by this bpftop")
    return parts
