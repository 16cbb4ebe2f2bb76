"""CPU and off-CPU stacks: the flame graph tree, top functions and interval rates.

The flame graph shows totals since bpftop started (at 49 Hz one interval holds
too few samples to read), rooted at ``all`` with one child per process. A
CPU stack's value is its sample count; an off-CPU stack's is nanoseconds off
CPU. A function's *self* share counts the stacks it ends; its *total* share
counts every stack it is in, once however often it recurses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

from bpftop.collectors.stacks import EXITED_PID, StackCount, StackLosses, StacksSample
from bpftop.derive import Derived, counter_delta, rate
from bpftop.frame import ProcMeta
from bpftop.textsafe import folded_name

MODES = ("cpu", "off")
ROOT = "all"
SMALLER = "[smaller stacks]"
MAX_TREE_ROWS = 4000


class StackRow(NamedTuple):
    """One stack of one process, as the pane and exports use it."""

    pid: int
    comm: str
    frames: tuple[str, ...]  # root first: user then kernel
    kinds: str  # per frame: k kernel, u user, j JIT, ? unknown
    value: int  # samples (cpu) or ns off CPU (off), since start
    events: int  # samples, or blocks


class FunctionRow(NamedTuple):
    """A function's share of a profile, in percent of all samples (or time)."""

    name: str
    kind: str
    self_pct: float
    total_pct: float
    self_value: int
    total_value: int


class FlameNode:
    """A node of the flame graph: one frame under a given path.

    A plain class with slots: a tree has one node per distinct path, tens of
    thousands for a busy machine, rebuilt every refresh.

    Attributes:
        name: the frame (or ``comm (pid)``, or ``all``).
        kind: k, u, j, ?, p (a process) or r (the root).
        value: samples (or ns) of every stack through this node.
        self_value: of the stacks ending here.
        parent: None for the root.
        children: by name.
    """

    __slots__ = ("children", "kind", "name", "parent", "self_value", "value")

    def __init__(self, name: str, kind: str, parent: FlameNode | None = None) -> None:
        self.name = name
        self.kind = kind
        self.value = 0
        self.self_value = 0
        self.parent = parent
        self.children: dict[str, FlameNode] = {}

    def path(self) -> tuple[str, ...]:
        """Names from the root's child down to this node."""
        names: list[str] = []
        node: FlameNode | None = self
        while node is not None and node.parent is not None:
            names.append(node.name)
            node = node.parent
        return tuple(reversed(names))

    def sorted_children(self) -> list[FlameNode]:
        """Children, heaviest first (ties by name), the drawing order."""
        return sorted(self.children.values(), key=lambda n: (-n.value, n.name))

    def find(self, path: Sequence[str]) -> FlameNode | None:
        """The descendant at ``path`` (from this node), None if gone."""
        node: FlameNode | None = self
        for name in path:
            node = node.children.get(name) if node is not None else None
        return node


@dataclass(frozen=True)
class StacksView:
    """Everything the stacks pane, batch output and exports show.

    Attributes:
        cpu: CPU stacks, heaviest first.
        off: off-CPU stacks, heaviest first.
        freq_hz: CPU sampling frequency.
        min_block_ns: shortest off-CPU block counted.
        cpu_samples_per_s: samples counted per second over the interval.
        off_ns_per_s: off-CPU time counted per second of the interval.
        drops: loss counters since start, by ``cpu_``/``off_`` name.
        cpu_error: why the CPU profile is not running.
        off_error: why off-CPU is not running.
        notes: the symbolizer's notes.
        off_paused: off-CPU stacks were not being taken (stacks off screen).
        cpu_paused: nor was the CPU profile.
        cpu_while_shown: the CPU profile covers only the time stacks were on screen.
        off_while_shown: so do the off-CPU stacks.
    """

    # Fields derived from the sample's DETAIL tables (see bpftop.derive.derive).
    DETAIL: ClassVar[tuple[str, ...]] = ("cpu", "off", "off_ns_per_s")

    cpu: tuple[StackRow, ...]
    off: tuple[StackRow, ...]
    freq_hz: int
    min_block_ns: int
    cpu_samples_per_s: float | None = None
    off_ns_per_s: float | None = None
    drops: Mapping[str, int] = field(default_factory=dict)
    cpu_error: str = ""
    off_error: str = ""
    notes: tuple[str, ...] = ()
    off_paused: bool = False
    cpu_paused: bool = False
    cpu_while_shown: bool = False
    off_while_shown: bool = False

    def rows(self, mode: str, pid: int = 0) -> tuple[StackRow, ...]:
        """The stacks of ``mode`` (``cpu`` or ``off``), of one process when ``pid``."""
        rows = self.cpu if mode == "cpu" else self.off
        return tuple(r for r in rows if r.pid == pid) if pid else rows


def _rows(
    stacks: Iterable[StackCount], off: bool, procs: Mapping[int, ProcMeta], comm_re: re.Pattern[str] | None
) -> tuple[StackRow, ...]:
    rows = []
    for s in stacks:
        meta = procs.get(s.pid)
        comm = s.comm or (meta.name if meta else "")
        if comm_re and not comm_re.search(comm):
            continue
        rows.append(StackRow(s.pid, comm, s.frames, s.kinds, s.total_ns if off else s.events, s.events))
    rows.sort(key=lambda r: (-r.value, r.pid, r.frames))
    return tuple(rows)


def _drops(prefix: str, losses: StackLosses) -> dict[str, int]:
    skip = {"events", "idle", "short"}
    return {f"{prefix}_{k}": v for k, v in losses._asdict().items() if k not in skip}


def derive_stacks(
    prev: StacksSample | None,
    cur: StacksSample,
    interval_s: float | None,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None = None,
) -> StacksView:
    """Derive the stacks view (``prev`` None on the first tick)."""
    cpu_events = counter_delta(cur.cpu_losses.events, prev.cpu_losses.events if prev else None)
    off_ns = sum(s.total_ns for s in cur.off) - (sum(s.total_ns for s in prev.off) if prev else 0)
    return StacksView(
        cpu=_rows(cur.cpu, False, procs, comm_re),
        off=_rows(cur.off, True, procs, comm_re),
        freq_hz=cur.freq_hz,
        min_block_ns=cur.min_block_ns,
        cpu_samples_per_s=rate(cpu_events, interval_s) if prev else None,
        off_ns_per_s=rate(max(0, off_ns), interval_s) if prev else None,
        drops=_drops("cpu", cur.cpu_losses) | _drops("off", cur.off_losses),
        cpu_error=cur.cpu_error,
        off_error=cur.off_error,
        notes=cur.notes,
        off_paused=cur.off_paused,
        cpu_paused=cur.cpu_paused,
        cpu_while_shown=cur.cpu_while_shown,
        off_while_shown=cur.off_while_shown,
    )


derive_view = derive_stacks


def flame_tree(derived: Derived, mode: str, pid: int = 0) -> FlameNode:
    """The flame graph of the frame's ``mode`` stacks (one process's with ``pid``), built once per frame.

    Up to 4,000 stacks a tick: the sampling thread builds the stacks pane's
    (``flame_trees``, registry ``Pane.prepare``), so the event loop only
    draws; a process's stacks screen builds its own on first use.
    """
    key = f"flame:{mode}:{pid}"
    tree: FlameNode | None = derived.joins.get(key)
    if tree is None:
        view: StacksView | None = derived.view("stacks")
        rows = view.rows(mode, pid) if view is not None else ()
        tree = derived.joins[key] = build_tree(rows, by_process=not pid)
    return tree


def flame_trees(derived: Derived) -> None:
    """Build both modes' system-wide flame graphs of a frame (the sampling thread, before the pane)."""
    for mode in ("cpu", "off"):
        flame_tree(derived, mode)


def build_tree(rows: Sequence[StackRow], by_process: bool = True, limit: int = MAX_TREE_ROWS) -> FlameNode:
    """The flame graph tree of ``rows``: ``all`` → process → frames, root first.

    Only the ``limit`` heaviest stacks get their own paths (a tree of every
    stack of a busy machine takes seconds to build); the rest are summed into
    one ``[smaller stacks]`` child of the root, so shares stay true.
    """
    root = FlameNode(ROOT, "r")
    if len(rows) > limit:
        rest = sorted(rows, key=lambda r: -r.value)[limit:]
        rows = sorted(rows, key=lambda r: -r.value)[:limit]
        other = sum(r.value for r in rest if r.value > 0)
        if other:
            node = root.children[SMALLER] = FlameNode(SMALLER, "?", parent=root)
            node.value = node.self_value = root.value = other
    for r in rows:
        if r.value <= 0:
            continue
        root.value += r.value
        node = root
        if by_process:
            label = f"{r.comm} ({'exited' if r.pid == EXITED_PID else r.pid})"
            node = root.children.get(label) or root.children.setdefault(
                label, FlameNode(label, "p", parent=root)
            )
            node.value += r.value
        for name, kind in zip(r.frames, r.kinds, strict=False):
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = FlameNode(name, kind, parent=node)
            child.value += r.value
            node = child
        node.self_value += r.value
    return root


def top_functions(rows: Iterable[StackRow]) -> list[FunctionRow]:
    """Every function with its self and total share, heaviest total first."""
    self_v: dict[str, int] = {}
    total_v: dict[str, int] = {}
    kinds: dict[str, str] = {}
    grand = 0
    for r in rows:
        grand += r.value
        if r.frames:
            leaf = r.frames[-1]
            self_v[leaf] = self_v.get(leaf, 0) + r.value
        for name, kind in zip(r.frames, r.kinds, strict=False):
            kinds.setdefault(name, kind)
        for name in set(r.frames):
            total_v[name] = total_v.get(name, 0) + r.value
    if not grand:
        return []
    out = [
        FunctionRow(
            n, kinds.get(n, "?"), 100.0 * self_v.get(n, 0) / grand, 100.0 * t / grand, self_v.get(n, 0), t
        )
        for n, t in total_v.items()
    ]
    out.sort(key=lambda f: (-f.total_value, -f.self_value, f.name))
    return out


def match_share(node: FlameNode, needle: str) -> float:
    """Percent of ``node``'s value under frames whose name contains ``needle``.

    Case-insensitive; each sample counts once even when matches nest.
    """
    if not node.value or not needle:
        return 0.0
    needle = needle.lower()

    def matched(n: FlameNode) -> int:
        if needle in n.name.lower():
            return n.value
        return sum(matched(c) for c in n.children.values())

    return 100.0 * matched(node) / node.value


# Folded lines by (comm, frames): batch output folds every stack since start
# each tick, most of them the same as the tick before (issue 23).
MAX_FOLDED_MEMO = 50_000
_FOLDED_MEMO: dict[tuple[str | None, tuple[str, ...]], str] = {}


def folded_lines(rows: Iterable[StackRow], with_process: bool = True) -> list[str]:
    """Brendan Gregg's folded format, ``comm;frame;frame value``, one line per stack.

    Identical stacks (of processes with the same name) are merged. Names are
    the processes' own: ``;`` becomes ``:``, whitespace ``_`` and other
    non-printable characters ``?`` (``bpftop.textsafe.folded_name``), so a
    name can neither add a frame, a line nor a count.
    """
    merged: dict[str, int] = {}
    memo = _FOLDED_MEMO
    if len(memo) > MAX_FOLDED_MEMO:
        memo.clear()
    for r in rows:
        key = (r.comm if with_process else None, r.frames)
        line = memo.get(key)
        if line is None:
            frames = [folded_name(f) for f in r.frames] or ["[no stack]"]
            comm = folded_name(r.comm)
            if with_process:
                frames.insert(0, comm or f"pid {r.pid}")
            line = ";".join(frames)
            if comm or not with_process:  # "pid N" is not the comm's line
                memo[key] = line
        merged[line] = merged.get(line, 0) + r.value
    return [f"{k} {v}" for k, v in sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])) if v > 0]
