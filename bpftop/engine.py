"""Run the collectors and assemble one ``Frame`` per tick.

Each collector opens independently: one that fails (missing tracepoint, no
PMU, not root) gets a status saying why, and the others run on. ``tick`` does
every BPF read; the TUI calls it from a worker thread, never the event loop.

``close`` never waits long for a tick: a collector can be stuck in a read for
good (a FIFO planted where a file was expected), holding the lock. Closing
its objects under it would free memory the stuck thread still uses, so they
are left to the process's exit, which detaches them (every BPF object is an
fd; see ``bpftop/exiting.py``).
"""

from __future__ import annotations

import os
import platform
import socket
import threading
import time
from collections.abc import Callable, Iterable

from bpftop.collectors.base import Collector, Filters
from bpftop.frame import CollectorStatus, Frame, HostInfo
from bpftop.privileges import NOT_ROOT_HINT, privilege_problem
from bpftop.procinfo import ProcInfo
from bpftop.registry import STEMS, resolve
from bpftop.source import Source


def _factory(path: str) -> Callable[[], Collector]:
    def make() -> Collector:
        collector: Collector = resolve(path)()  # imported only when opened: start-up time
        return collector

    return make


# Collector stem -> a function that builds its collector, in the order they open.
COLLECTORS: dict[str, Callable[[], Collector]] = {s.name: _factory(s.collector) for s in STEMS.values()}
CLOSE_WAIT_S = 0.5  # how long close() waits for a tick in progress


def host_info() -> HostInfo:
    """Describe this machine."""
    return HostInfo(
        hostname=socket.gethostname(),
        kernel=platform.release(),
        machine=platform.machine(),
        ncpu=os.cpu_count() or 0,
        boot_time=boot_time(),
    )


def boot_time(stat: str = "/proc/stat") -> float:
    """When the machine booted, in epoch seconds (``btime``, as psutil reads it); 0.0 when unknown.

    Read here rather than with psutil: importing psutil took ~30 ms of the
    dashboard's first frame (issue 23); the sampling thread imports it later.
    """
    try:
        with open(stat, "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


class Engine(Source):
    """The live source: owns the collectors. Thread-safe: ``tick`` and ``close`` share a lock."""

    def __init__(self, names: list[str], filters: Filters, delay_s: float = 1.0) -> None:
        self.filters = filters
        self.delay_s = delay_s
        self.host = host_info()
        self._names = names
        self._collectors: dict[str, Collector] = {}
        self._status: dict[str, CollectorStatus] = {}
        self._procinfo = ProcInfo()
        self._lock = threading.Lock()
        self._closed = False
        self.stuck = False  # close() found a tick that did not end
        self._options: dict[str, object] = {}  # set_option: settings collectors read at their next tick

    @property
    def status(self) -> tuple[CollectorStatus, ...]:
        """Status of every collector asked for, in order."""
        return tuple(self._status[n] for n in self._names if n in self._status)

    def open(self, only: Iterable[str] | None = None) -> tuple[CollectorStatus, ...]:
        """Open every collector (or those in ``only``) not opened yet; failures become statuses.

        The dashboard calls it from its sampling thread while the layout is on
        screen; ``close`` (on quit) may come meanwhile: each collector opens
        under the lock, and none opens once the engine is closed.
        """
        from bpftop.bpf.log import raise_pending  # not at import: replay runs without bpftop.bpf

        problem = privilege_problem()
        wanted = set(self._names if only is None else only)
        for name in self._names:
            if name not in wanted or name in self._status:
                continue
            raise_pending()  # a signal that struck while libbpf logged a load (bpf/log.py)
            if problem:
                self._status[name] = CollectorStatus(name, False, error=problem, hint=NOT_ROOT_HINT)
                continue
            with self._lock:
                if self._closed:
                    break
                self._open_one(name)
        raise_pending()
        return self.status

    def _open_one(self, name: str) -> None:
        collector = COLLECTORS[name]()
        # Before open as well as after: a collector that only stores an option
        # (syscalls' syscall_latency) then loads as asked, not timing calls
        # until its first sample says otherwise; others act on it once open.
        for option, value in self._options.items():
            collector.set_option(option, value)
        try:
            collector.open(self.filters)
        except Exception as exc:  # any failure must stay in its pane
            collector.close()
            hint = getattr(exc, "hint", "")
            self._status[name] = CollectorStatus(name, False, error=str(exc), hint=hint)
            return
        self._collectors[name] = collector
        for option, value in self._options.items():
            collector.set_option(option, value)
        self._status[name] = CollectorStatus(name, True, method=collector.method)

    @property
    def live(self) -> bool:
        """The kernel is behind the engine: ``query`` can answer."""
        return True

    @property
    def any_running(self) -> bool:
        """True if at least one collector is attached."""
        return bool(self._collectors)

    def set_focus(self, pid: int) -> None:
        """Ask the collectors to track one process in detail (those that can)."""
        with self._lock:
            for collector in self._collectors.values():
                collector.set_focus(pid)

    def set_option(self, name: str, value: object) -> None:
        """Pass a setting (``visible_pane``, ``bpf_stats``) to the collectors that take one.

        No lock: collectors only store it and act at their next tick, so the UI never waits.
        """
        self._options[name] = value
        for collector in list(self._collectors.values()):
            collector.set_option(name, value)

    def query(self, collector: str, *args: object) -> object:
        """Ask one running collector for on-demand detail (the bpf pane's Enter screens).

        Raises:
            LookupError: when that collector is not running.
        """
        with self._lock:
            running = self._collectors.get(collector)
            if running is None:
                raise LookupError(f"{collector} is not running")
            return running.query(*args)

    def tick(self) -> Frame:
        """Sample every running collector once and return the frame."""
        from bpftop.bpf.log import raise_pending

        raise_pending()
        with self._lock:
            try:
                return self._tick_locked()
            finally:
                if self._closed:  # close() gave up waiting for this tick: detach now it has ended
                    self._close_collectors()

    def _tick_locked(self) -> Frame:
        if self._closed:  # a tick after close() gave up: sample nothing (one read may be stuck)
            self._close_collectors()
        wall = time.time()
        ts_ns = time.monotonic_ns()
        samples = {}
        pids: set[int] = set()
        comms: dict[int, str] = {}
        for name, collector in list(self._collectors.items()):
            try:
                sample = collector.sample()
            except Exception as exc:  # a failing read must not stop the others
                self._status[name] = CollectorStatus(name, False, error=f"read failed: {exc}")
                collector.close()
                del self._collectors[name]
                continue
            samples[name] = sample
            pids |= collector.pids(sample)
            comms = {**collector.comms(sample), **comms}  # the first collector's name stands
        procs = self._procinfo.lookup(pids, comms)
        # Exited processes appear in this frame with their last counts, then
        # their kernel entries go, so dead pids do not pile up in the maps.
        exited = {pid for pid, meta in procs.items() if meta.exited}
        if exited:
            for collector in self._collectors.values():
                collector.forget(exited)
        return Frame(
            ts_ns=ts_ns,
            wall=wall,
            samples=samples,
            procs=procs,
            status=self.status,
            host=self.host,
            delay_s=self.delay_s,
        )

    def close(self) -> None:
        """Detach every collector; idempotent, and waits ``CLOSE_WAIT_S`` at most for a tick."""
        if self._closed:
            return
        self._closed = True  # before the lock: a second close must not wait again
        if not self._lock.acquire(timeout=CLOSE_WAIT_S):
            self.stuck = True
            return
        try:
            self._close_collectors()
        finally:
            self._lock.release()

    def _close_collectors(self) -> None:
        """Detach them all (lock held)."""
        collectors = list(self._collectors.values())
        self._collectors.clear()
        for collector in collectors:
            try:
                collector.close()
            except Exception:  # one failing close must not keep the others attached
                continue
