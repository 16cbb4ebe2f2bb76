"""What every collector provides, and the settings they share."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T", bound=tuple[Any, ...])  # NamedTuple rows
C_DIR = Path(__file__).resolve().parent.parent / "c"
_DEFINE = re.compile(r"^#define\s+(\w+)\s+(\d+)\b", re.MULTILINE)


@dataclass(frozen=True)
class Filters:
    """Filters given on the command line; applied in the kernel where possible.

    Attributes:
        pid: only this process (tgid); 0 for all.
        uid: only this user id; None for all.
        cgroup_id: only tasks in this cgroup v2 (its directory inode); 0 for all.
        comm: regular expression on the process name, applied in user space.
    """

    pid: int = 0
    uid: int | None = None
    cgroup_id: int = 0
    comm: str = ""

    def rodata(self) -> dict[str, int]:
        """The ``const volatile`` settings every bpftop program understands."""
        values = {"targ_tgid": self.pid, "targ_cgroup_id": self.cgroup_id}
        if self.uid is not None:
            values |= {"filter_uid": 1, "targ_uid": self.uid}
        return values


def header_defines(header: str) -> dict[str, int]:
    """Read the numeric ``#define``s of a shared header, e.g. ``syscalls.h``.

    The header is the one source of truth for sizes shared by both sides.
    """
    return {k: int(v) for k, v in _DEFINE.findall((C_DIR / header).read_text())}


def tuple_maker(cls: type[T]) -> Callable[[tuple[Any, ...]], T]:
    """A constructor of NamedTuple ``cls`` from one tuple of all its fields, in order.

    A NamedTuple's own constructor runs a Python-level ``__new__`` (and keyword
    arguments cost more): ~3x ``tuple.__new__``, paid for each process or
    (process, syscall) pair every refresh. Defaults are not applied: the tuple
    must hold every field.
    """
    return cast(Callable[[tuple[Any, ...]], T], partial(tuple.__new__, cls))


def pid_comms(rows: Sequence[Any]) -> dict[int, str]:
    """Each pid's comm, from NamedTuple rows with ``pid`` and ``comm`` fields, folded in C.

    A Python loop over a refresh's ~1,300 (process, syscall) pairs cost ~0.4 ms.
    """
    if not rows:
        return {}
    fields = rows[0]._fields
    pids, names = itemgetter(fields.index("pid")), itemgetter(fields.index("comm"))
    return dict(zip(map(pids, rows), map(names, rows), strict=True))


def sorted_rows(rows: Iterable[T]) -> tuple[T, ...]:
    """Rows in key order (their leading fields), not the kernel's hash order.

    A hash map's iteration order shifts whenever keys come and go; recordings
    store each row's change against the row at the same place in the previous
    frame, so a stable order keeps moved rows from being stored again (a third
    of a busy recording's size). Keys are unique, so ties never reach later
    fields.
    """
    return tuple(sorted(rows))


class Evictions:
    """Since-start evictions of LRU maps: keys inserted, less those live, less those bpftop deleted.

    Read the insert counters *before* dumping the maps: an insert between the
    two then leaves a key in the dump that the counter missed (too low, made
    up at the next read), never an eviction that did not happen (read after,
    a key inserted meanwhile counted as evicted, then not: 0, 1, 0). The
    figure never goes down, as a since-start counter must not.
    """

    def __init__(self) -> None:
        """No evictions shown yet."""
        self._shown: dict[str, int] = {}

    def __call__(self, name: str, inserts: int, live: int, deleted: int) -> int:
        """Evictions of map ``name`` so far."""
        shown = max(self._shown.get(name, 0), inserts - live - deleted)
        self._shown[name] = shown
        return shown


class Collector(ABC):
    """A source of samples. ``open`` may raise; the engine then shows why.

    The engine calls every member on every collector: what a collector has
    nothing to do for (``set_focus``, ``forget``, ``set_option``, ``query``)
    is a no-op here, so a collector overrides only what it acts on.

    Attributes:
        name: the collector's stem (``registry.STEMS``).
        method: the hook family that loaded (``tp_btf``, ...), "" until open.
    """

    name: str
    method: str

    @abstractmethod
    def open(self, filters: Filters) -> None:
        """Load and attach; raise ``BpfError`` (or ``OSError``) with the reason."""

    @abstractmethod
    def sample(self) -> Any:
        """Return a frozen dataclass of cumulative counters, stamped with CLOCK_MONOTONIC."""

    @abstractmethod
    def pids(self, sample: Any) -> set[int]:
        """Pids the sample mentions, for process metadata."""

    def comms(self, sample: Any) -> Mapping[int, str]:
        """The kernel's name (comm) of each process the sample names one for; none by default.

        ``ProcInfo`` compares them with what it read from ``/proc`` to catch a
        reused pid or an exec.
        """
        return {}

    @abstractmethod
    def close(self) -> None:
        """Detach and free everything; safe to call twice."""

    def set_focus(self, pid: int) -> None:
        """Track one process in detail (0: none); most keep per-process figures anyway."""

    def forget(self, pids: set[int]) -> None:
        """Drop the kernel's entries of processes that have exited; nothing kept per process here."""

    def set_option(self, name: str, value: object) -> None:
        """Take a setting (``visible_pane``, ``syscall_latency``, ...); this one takes none.

        Called from the UI thread: store it and act at the next ``sample``.
        """

    def query(self, *args: Any, **kwargs: Any) -> Any:
        """On-demand detail (the bpf pane's Enter screens).

        Raises:
            LookupError: this collector answers no queries.
        """
        raise LookupError(f"{self.name} answers no queries")
