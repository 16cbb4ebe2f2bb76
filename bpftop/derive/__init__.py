"""Turn two frames into the model the panes and batch output show.

``derive(prev, cur)`` is the only place with rate maths: live and replay both
call it, so a replay shows the numbers the live session showed.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from bpftop.frame import CollectorStatus, Frame, HostInfo, ProcMeta
from bpftop.registry import STEMS

if TYPE_CHECKING:  # the views' modules import this one; at run time a view is any object
    from bpftop.derive.biolat import BiolatView
    from bpftop.derive.bpfstats import BpfstatsView
    from bpftop.derive.pmc import PmcView
    from bpftop.derive.runqlat import RunqlatView
    from bpftop.derive.stacks import StacksView
    from bpftop.derive.syscalls import SyscallsView
    from bpftop.derive.tcp import TcpView


@dataclass(frozen=True)
class Derived:
    """What the UI renders for one tick.

    Attributes:
        ts_ns: monotonic time of the current frame.
        wall: epoch seconds of the current frame.
        interval_s: seconds since the previous frame, None on the first frame.
        host: machine the data comes from.
        status: per collector.
        procs: process metadata by pid.
        views: collector stem -> its derived view (e.g. ``SyscallsView``), each
            derived when first asked for (see ``LazyViews``).
        delay_s: refresh interval in force.
        detail_s: seconds the per-process figures span when they come from
            other frames than the rest (a recording that keeps per-process
            tables every few seconds), None when they span ``interval_s``.
        joins: what a pane builds from several views (the procs pane's rows),
            made once per frame, by the sampling thread first (``Pane.prepare``).
    """

    ts_ns: int
    wall: float
    interval_s: float | None
    host: HostInfo
    status: tuple[CollectorStatus, ...]
    procs: dict[int, ProcMeta]
    views: Mapping[str, Any] = field(default_factory=dict)
    delay_s: float = 1.0
    detail_s: float | None = None
    joins: dict[str, Any] = field(default_factory=dict, compare=False)

    def status_of(self, name: str) -> CollectorStatus | None:
        """Status of one collector, None if it was not asked for."""
        return next((s for s in self.status if s.name == name), None)

    # One typed accessor for every view (issue 21, move 5): callers no longer
    # re-type ``views[...]`` by hand, and a misspelt stem fails mypy.
    @overload
    def view(self, stem: Literal["syscalls"]) -> SyscallsView | None: ...
    @overload
    def view(self, stem: Literal["runqlat"]) -> RunqlatView | None: ...
    @overload
    def view(self, stem: Literal["biolat"]) -> BiolatView | None: ...
    @overload
    def view(self, stem: Literal["tcp"]) -> TcpView | None: ...
    @overload
    def view(self, stem: Literal["pmc"]) -> PmcView | None: ...
    @overload
    def view(self, stem: Literal["bpfstats"]) -> BpfstatsView | None: ...
    @overload
    def view(self, stem: Literal["stacks"]) -> StacksView | None: ...

    def view(self, stem: str) -> Any:
        """The view of collector ``stem`` (derived now if it was not yet), None when the frame has none."""
        return self.views.get(stem)


class LazyViews(Mapping[str, Any]):
    """Collector stem -> view, each view derived the first time it is read.

    The dashboard shows one pane: deriving the stacks and bpf views every tick
    for a hidden pane cost CPU for nothing (issue 23). The sampling thread
    derives what the pane on screen needs (``warm``); the rest only if read.
    Thread-safe: the UI and the sampling thread may both read.
    """

    def __init__(
        self, makers: dict[str, Callable[[], Any]], samples: Mapping[str, Any] | None = None
    ) -> None:
        self._makers = makers
        self._samples = samples or {}
        self._views: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getitem__(self, stem: str) -> Any:
        try:
            return self._views[stem]
        except KeyError:
            make = self._makers[stem]  # KeyError: no such view
        with self._lock:
            if stem not in self._views:
                try:
                    self._views[stem] = make()
                except KeyError as exc:  # not "no such view" to Mapping.get
                    raise RuntimeError(f"deriving {stem}: KeyError {exc}") from exc
            return self._views[stem]

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)

    def __contains__(self, stem: object) -> bool:
        return stem in self._makers

    def warm(self, stems: Iterable[str]) -> None:
        """Derive these views now (the sampling thread, off the event loop)."""
        for stem in stems:
            if stem in self._makers:
                self[stem]

    def sample(self, stem: str) -> Any:
        """The current sample a view would be derived from (None: no such view), not deriving it."""
        return self._samples.get(stem) if stem in self._makers else None

    def derived(self) -> frozenset[str]:
        """Stems whose views were derived so far."""
        return frozenset(self._views)


T = TypeVar("T")


class Once(Generic[T]):
    """A value built the first time it is asked for, once, from any thread.

    For the parts of a view only some panes show (per-process histograms and
    percentiles, per-syscall rows): while no pane on screen reads them they
    are never built (issue 23). Equal when the values are.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build: Callable[[], T] | None = build
        self._value: T | None = None
        self._lock = threading.Lock()  # the UI and the sampling thread may both ask

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Once) and self.get() == other.get()

    __hash__ = None  # type: ignore[assignment]  # filled in once, like a list

    def __repr__(self) -> str:
        return f"Once({'built' if self._build is None else 'not built'})"

    def get(self) -> T:
        """The value, built now if it was not yet."""
        with self._lock:
            if self._build is not None:
                self._value, self._build = self._build(), None
            return self._value  # type: ignore[return-value]  # set above


K = TypeVar("K")


class LazyRows(Mapping[K, T]):
    """A view's full rows by key, each built on first lookup and kept.

    The full rows (histograms, percentiles, scaled counters) are most of a
    view's cost (issue 23): panes and batch output build the rows they show,
    a process's screen the one it shows. Two threads building the same row
    at once build equal rows: no lock needed.

    Args:
        keys: the view's rows, in its order (a dict or a sequence).
        build: makes the row of one key.
    """

    def __init__(self, keys: Collection[K], build: Callable[[K], T]) -> None:
        self._keys = keys
        self._make = build
        self._built: dict[K, T] = {}

    def __getitem__(self, key: K) -> T:
        try:
            return self._built[key]
        except KeyError:
            if key not in self._keys:
                raise
        row = self._built[key] = self._make(key)
        return row

    def __iter__(self) -> Iterator[K]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __repr__(self) -> str:
        return f"LazyRows({len(self._built)} of {len(self._keys)} built)"


def counter_delta(cur: int, prev: int | None) -> int:
    """Interval count of a cumulative counter; a decrease means it restarted from 0."""
    if prev is None or cur < prev:
        return cur
    return cur - prev


def rate(count: int, interval_s: float | None) -> float | None:
    """Per-second rate, None when there is no interval yet."""
    if not interval_s:
        return None
    return count / interval_s


def derive(prev: Frame | None, cur: Frame, comm: str = "", detail: Derived | None = None) -> Derived:
    """Compute rates and percentiles between two frames.

    Args:
        prev: the previous frame, None for the first one.
        cur: the current frame.
        comm: regular expression on process names (user-space part of the filters).
        detail: where the per-process figures come from when ``cur``'s
            per-process tables are not those of its own tick (a recording
            that keeps them every few seconds; see ``bpftop.record.detail``):
            ``derive`` of the two frames that hold them. Each view's ``DETAIL``
            fields are taken from it.
    """
    interval_s = (cur.ts_ns - prev.ts_ns) / 1e9 if prev is not None and cur.ts_ns > prev.ts_ns else None
    comm_re = re.compile(comm) if comm else None
    makers: dict[str, Callable[[], Any]] = {}
    for stem, sample in cur.samples.items():
        if stem not in STEMS:
            continue  # a recording from a newer bpftop: show what this one knows
        prev_sample = prev.samples.get(stem) if prev is not None else None
        samples = (prev_sample, sample)
        makers[stem] = _maker(stem, samples, interval_s, cur.procs, comm_re=comm_re, detail=detail)
    views = LazyViews(makers, cur.samples)
    return Derived(
        ts_ns=cur.ts_ns,
        wall=cur.wall,
        interval_s=interval_s,
        host=cur.host,
        status=cur.status,
        procs=dict(cur.procs),
        views=views,
        delay_s=cur.delay_s,
        detail_s=detail.interval_s if detail is not None else None,
    )


def _maker(
    stem: str,
    samples: tuple[Any, Any],
    interval_s: float | None,
    procs: Mapping[int, ProcMeta],
    *,
    comm_re: re.Pattern[str] | None,
    detail: Derived | None,
) -> Callable[[], Any]:
    def make() -> Any:
        module = importlib.import_module(STEMS[stem].deriver)
        view = module.derive_view(*samples, interval_s, procs, comm_re)
        return view if detail is None else _with_detail(view, detail.views.get(stem))

    return make


def _with_detail(view: Any, source: Any) -> Any:
    """``view`` with its per-process fields from ``source`` (same type), else as it is."""
    names = getattr(type(view), "DETAIL", ())
    if not names or type(source) is not type(view):
        return view
    return dataclasses.replace(view, **{name: getattr(source, name) for name in names})
