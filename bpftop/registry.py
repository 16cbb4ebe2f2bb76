"""Every capability bpftop has, in one place: the collectors by stem, and the panes.

A stem names one capability in every layer: ``c/<stem>.bpf.c`` and
``c/<stem>.h``, ``collectors/<stem>.py``, ``derive/<stem>.py`` (its
``derive_view``), ``batch/<stem>.py`` (its text and JSON sections) and, most
often, ``panes/<stem>.py``; samples, views and statuses are keyed by it, and
a recording names its sample classes by it (``record/types.py``). The engine,
``derive``, batch output, the panes, the cli and ``kernels`` all read their
tables from here.

This module imports nothing from bpftop: classes are named as
``"module:Class"`` and imported when first used (``resolve``), so every layer
can read it without importing another, and start-up imports only what it runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stem:
    """One collector and what the layers above build on it.

    Attributes:
        name: the stem, e.g. ``runqlat``.
        collector_class: its ``Collector`` class in ``bpftop.collectors.<name>``.
        objects: the BPF objects (``c/<object>.bpf.o``) it loads; the
            collector fails only when every one of them fails.
        batch_panes: the panes whose batch output (``--pane``) includes its
            section; every pane's output (no ``--pane``) always does.
        fallback_objects: those of ``objects`` it runs without, so they
            never explain its failure.
    """

    name: str
    collector_class: str
    objects: tuple[str, ...]
    batch_panes: tuple[str, ...]
    fallback_objects: tuple[str, ...] = ()

    @property
    def collector(self) -> str:
        """Its collector class, ``"bpftop.collectors.<name>:<Class>"``."""
        return f"bpftop.collectors.{self.name}:{self.collector_class}"

    @property
    def deriver(self) -> str:
        """Module whose ``derive_view(prev, cur, interval_s, procs, comm_re)`` makes its view."""
        return f"bpftop.derive.{self.name}"

    @property
    def section(self) -> str:
        """Module with its ``json_section(view, pane)`` and ``text_section(view, pane, limit)``."""
        return f"bpftop.batch.{self.name}"


@dataclass(frozen=True)
class Pane:
    """One pane of the dashboard.

    Attributes:
        name: its ``--pane`` name and widget id.
        pane_class: its ``TablePane`` class, ``"module:Class"``.
        collectors: the stems it needs; ``--pane`` loads only those.
        views: the views derived while it is on screen (the header shows the
            syscalls totals); a screen that is no pane (a process's) derives
            every view.
        prepare: ``"module:function"`` of the derived frame that builds what
            the pane joins from its views, called off the event loop while
            it is on screen; "" when the pane reads its view as it is.
    """

    name: str
    pane_class: str
    collectors: tuple[str, ...]
    views: tuple[str, ...]
    prepare: str = ""


# In the order collectors open and their statuses are listed (`bpftop check`, JSON).
STEMS: dict[str, Stem] = {
    s.name: s
    for s in (
        Stem("syscalls", "SyscallsCollector", ("syscalls",), ("procs", "syscalls")),
        Stem("runqlat", "RunqlatCollector", ("sched",), ("runqlat",)),
        Stem("biolat", "BiolatCollector", ("biolat",), ("biolat",)),
        # tcp waits for a send or close to name the owner of an accepted
        # connection when tcp_owner cannot load.
        Stem("tcp", "TcpCollector", ("tcp", "tcp_owner"), ("tcp",), fallback_objects=("tcp_owner",)),
        Stem("pmc", "PmcCollector", ("sched",), ("pmc",)),
        # bpfstats scans /proc when its task_file iterator cannot load.
        Stem("bpfstats", "BpfstatsCollector", ("bpfstats",), ("bpf",), fallback_objects=("bpfstats",)),
        Stem("stacks", "StacksCollector", ("profile", "offcpu"), ("stacks",)),
    )
}

# In key order: `1`..`8` select them.
PANES: dict[str, Pane] = {
    p.name: p
    for p in (
        Pane(
            "procs",
            "bpftop.panes.procs:ProcsPane",
            ("syscalls", "runqlat", "biolat", "tcp", "pmc"),
            ("syscalls", "runqlat", "biolat", "tcp"),  # and pmc with hardware counters (IPC)
            prepare="bpftop.derive.procs:joined_rows",
        ),
        Pane("syscalls", "bpftop.panes.syscalls:SyscallsPane", ("syscalls",), ("syscalls",)),
        Pane("biolat", "bpftop.panes.biolat:BiolatPane", ("biolat",), ("syscalls", "biolat")),
        Pane("runqlat", "bpftop.panes.runqlat:RunqlatPane", ("runqlat",), ("syscalls", "runqlat")),
        Pane("tcp", "bpftop.panes.tcp:TcpPane", ("tcp",), ("syscalls", "tcp")),
        Pane("pmc", "bpftop.panes.pmc:PmcPane", ("pmc",), ("syscalls", "pmc")),
        Pane("bpf", "bpftop.panes.bpfstats:BpfstatsPane", ("bpfstats",), ("syscalls", "bpfstats")),
        Pane(
            "stacks",
            "bpftop.panes.stacks:StacksPane",
            ("stacks",),
            ("syscalls", "stacks"),
            prepare="bpftop.derive.stacks:flame_trees",
        ),
    )
}
PANE_ORDER: tuple[str, ...] = tuple(PANES)


def resolve(path: str) -> Any:
    """The object a ``"module:Attr"`` path names, importing its module."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def collectors_for(panes: list[str]) -> list[str]:
    """Collector stems needed by ``panes``, in the order they open."""
    wanted = {c for p in panes for c in PANES[p].collectors}
    return [c for c in STEMS if c in wanted]
