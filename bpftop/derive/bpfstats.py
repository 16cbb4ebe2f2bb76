"""Rates of the bpf pane: each program's average run time, events/s and CPU %.

The kernel counts, per program, runs (``run_cnt``) and their total time
(``run_time_ns``) only while BPF statistics are on; both are cumulative since
load. Over an interval: events/s = runs / interval, average = time / runs,
CPU % = time / interval (100% = one CPU busy running the program). Overall
average = cumulative time / cumulative runs. A program reloaded with a
reused id restarts its counters, which ``counter_delta`` handles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from bpftop.collectors.bpfstats import BpfstatsSample, MapRow, ProgRow
from bpftop.derive import counter_delta, rate
from bpftop.frame import ProcMeta


class ProgStat(NamedTuple):
    """One program with its interval figures (None before the first interval)."""

    id: int
    type: str
    name: str
    tag: str
    owners: str  # "bpftop(123), tool(456)"
    own: bool
    loaded_at: float
    uid: int
    xlated_bytes: int
    jited_bytes: int
    memlock_bytes: int
    map_ids: tuple[int, ...]
    btf_id: int
    verified_insns: int
    run_cnt_total: int
    run_time_total_ns: int
    avg_total_ns: float | None
    runs: int  # in the interval (cumulative on the first frame)
    run_time_ns: int
    avg_ns: float | None
    events_per_s: float | None
    cpu_pct: float | None
    recursion_misses: int
    recursion_misses_total: int


class MapStat(NamedTuple):
    """One map; ``entries`` -1 when it cannot be counted, ``fill_pct`` then None."""

    id: int
    type: str
    name: str
    flags: int
    key_size: int
    value_size: int
    max_entries: int
    entries: int
    entries_capped: bool
    fill_pct: float | None
    memlock_bytes: int
    btf_id: int
    owners: str
    own: bool
    prog_ids: tuple[int, ...]  # programs that use it


@dataclass(frozen=True)
class BpfstatsView:
    """The programs and maps tables and how statistics are collected."""

    progs: tuple[ProgStat, ...]
    maps: tuple[MapStat, ...]
    stats_method: str
    stats_error: str
    scan_ms: float
    cpu_pct_total: float | None
    events_per_s_total: float | None
    by_id: dict[int, ProgStat] = field(default_factory=dict)
    maps_by_id: dict[int, MapStat] = field(default_factory=dict)


def owners_text(owners: tuple[tuple[int, str], ...]) -> str:
    """``comm(pid)`` of each owner, comma-separated."""
    return ", ".join(f"{comm}({pid})" for pid, comm in owners)


def _prog(cur: ProgRow, prev: ProgRow | None, interval_s: float | None) -> ProgStat:
    same = prev is not None and prev.tag == cur.tag and prev.loaded_at == cur.loaded_at
    runs = counter_delta(cur.run_cnt, prev.run_cnt if same and prev else None)
    time_ns = counter_delta(cur.run_time_ns, prev.run_time_ns if same and prev else None)
    misses = counter_delta(cur.recursion_misses, prev.recursion_misses if same and prev else None)
    has_interval = interval_s is not None and same
    return ProgStat(
        id=cur.id,
        type=cur.type,
        name=cur.name,
        tag=cur.tag,
        owners=owners_text(cur.owners),
        own=cur.own,
        loaded_at=cur.loaded_at,
        uid=cur.uid,
        xlated_bytes=cur.xlated_bytes,
        jited_bytes=cur.jited_bytes,
        memlock_bytes=cur.memlock_bytes,
        map_ids=cur.map_ids,
        btf_id=cur.btf_id,
        verified_insns=cur.verified_insns,
        run_cnt_total=cur.run_cnt,
        run_time_total_ns=cur.run_time_ns,
        avg_total_ns=cur.run_time_ns / cur.run_cnt if cur.run_cnt else None,
        runs=runs,
        run_time_ns=time_ns,
        avg_ns=time_ns / runs if runs and has_interval else None,
        events_per_s=rate(runs, interval_s) if has_interval else None,
        cpu_pct=100.0 * time_ns / (interval_s * 1e9) if has_interval and interval_s else None,
        recursion_misses=misses,
        recursion_misses_total=cur.recursion_misses,
    )


def _map(row: MapRow, users: dict[int, list[int]]) -> MapStat:
    counted = row.entries >= 0 and row.max_entries > 0
    return MapStat(
        id=row.id,
        type=row.type,
        name=row.name,
        flags=row.flags,
        key_size=row.key_size,
        value_size=row.value_size,
        max_entries=row.max_entries,
        entries=row.entries,
        entries_capped=row.entries_capped,
        fill_pct=100.0 * row.entries / row.max_entries if counted else None,
        memlock_bytes=row.memlock_bytes,
        btf_id=row.btf_id,
        owners=owners_text(row.owners),
        own=row.own,
        prog_ids=tuple(users.get(row.id, ())),
    )


def _matches(owners: tuple[tuple[int, str], ...], name: str, comm_re: re.Pattern[str]) -> bool:
    return bool(comm_re.search(name)) or any(comm_re.search(comm) for _, comm in owners)


def derive_view(
    prev: BpfstatsSample | None,
    cur: BpfstatsSample,
    interval_s: float | None,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None,
) -> BpfstatsView:
    """Interval figures of every program; maps with fill level and users.

    ``--comm`` keeps the programs and maps whose name or an owner's name matches.
    """
    # Rates span the samples' own times: while the bpf pane is hidden the
    # collector rescans only every few seconds and hands the same sample back.
    if prev is cur:
        interval_s = None
    elif prev is not None and prev.ts_ns and cur.ts_ns > prev.ts_ns:
        interval_s = (cur.ts_ns - prev.ts_ns) / 1e9
    if prev is None or not (prev.stats_method and cur.stats_method):
        # The kernel counts runs only while statistics are on: an interval in
        # which they came on (the bpf pane just shown) counted part of it
        # (239 events/s, then 80k/s: issue 16). No rate until both ends had them.
        interval_s = None
    before = {p.id: p for p in prev.progs} if prev is not None else {}
    progs = [p for p in cur.progs if comm_re is None or _matches(p.owners, p.name, comm_re)]
    stats = tuple(_prog(p, before.get(p.id), interval_s) for p in progs)
    users: dict[int, list[int]] = {}
    for p in cur.progs:
        for map_id in p.map_ids:
            users.setdefault(map_id, []).append(p.id)
    maps = tuple(_map(m, users) for m in cur.maps if comm_re is None or _matches(m.owners, m.name, comm_re))
    cpu = [s.cpu_pct for s in stats if s.cpu_pct is not None]
    events = [s.events_per_s for s in stats if s.events_per_s is not None]
    return BpfstatsView(
        progs=stats,
        maps=maps,
        stats_method=cur.stats_method,
        stats_error=cur.stats_error,
        scan_ms=cur.scan_ns / 1e6,
        cpu_pct_total=sum(cpu) if cpu else None,
        events_per_s_total=sum(events) if events else None,
        by_id={s.id: s for s in stats},
        maps_by_id={m.id: m for m in maps},
    )
