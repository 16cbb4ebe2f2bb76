"""A frame: everything bpftop knows at one tick, as plain serialisable data.

Collectors produce samples of cumulative counters; the engine bundles them, with
process metadata and collector status, into one ``Frame`` per tick. Frames are
what a recording stores and what ``derive`` turns into the model panes show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProcMeta:
    """What bpftop knows of a process, kept so replays show names of dead processes."""

    pid: int
    ppid: int = 0
    user: str = ""
    name: str = ""
    cmdline: str = ""
    start_time: float = 0.0  # epoch seconds
    exited: bool = False
    cgroup: str = ""  # cgroup v2 path ("0::" line of /proc/PID/cgroup); "" if unknown
    container: str = ""  # "docker 3f2a9c1b7d4e", "k8s pod …" guessed from the cgroup path


@dataclass(frozen=True)
class CollectorStatus:
    """Whether a collector runs, how it attached, or why it could not.

    Attributes:
        name: collector stem (``syscalls``).
        ok: loaded and attached.
        method: attach family in use (``tp_btf``, ``raw_tp``, ``tracepoint``).
        error: one-line reason when not ok.
        hint: how to fix it, when known.
    """

    name: str
    ok: bool
    method: str = ""
    error: str = ""
    hint: str = ""


@dataclass(frozen=True)
class HostInfo:
    """The machine a frame comes from (replays may run elsewhere)."""

    hostname: str = ""
    kernel: str = ""
    machine: str = ""
    ncpu: int = 0
    boot_time: float = 0.0


@dataclass(frozen=True)
class Frame:
    """One tick.

    Attributes:
        ts_ns: CLOCK_MONOTONIC when the tick was taken.
        wall: epoch seconds of the same instant, for display.
        samples: collector stem -> its sample (a frozen dataclass).
        procs: pid -> metadata for every pid the samples mention.
        status: one entry per collector asked for.
        host: where the frame was taken.
        delay_s: the refresh interval in force.
    """

    ts_ns: int
    wall: float
    samples: Mapping[str, Any] = field(default_factory=dict)
    procs: Mapping[int, ProcMeta] = field(default_factory=dict)
    status: tuple[CollectorStatus, ...] = ()
    host: HostInfo = field(default_factory=HostInfo)
    delay_s: float = 1.0
