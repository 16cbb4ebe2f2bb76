"""A deterministic frame source for UI tests: no root, no BPF.

Each tick is one virtual second (``ts_ns`` grows by 1e9), so per-second rates
equal the per-tick increments below, whatever the real refresh interval.
"""

from __future__ import annotations

import errno
import threading
from dataclasses import dataclass

from bpftop.collectors.syscalls import HIST_SLOTS, ProcSyscall, SyscallErrno, SyscallsSample, SyscallTotals
from bpftop.frame import CollectorStatus, Frame, HostInfo, ProcMeta
from bpftop.source import Source

NR = {"read": 0, "write": 1, "openat": 257, "futex": 202}


@dataclass(frozen=True)
class FakeProc:
    """A process and its calls per tick: name -> (calls, errors, errno, main latency slot).

    ``tail`` spreads a few calls over that many faster slots (a wide histogram).
    """

    pid: int
    user: str
    comm: str
    calls: dict[str, tuple[int, int, int, int]]
    tail: int = 0


# Chosen so every column sorts the processes differently.
PROCS = (
    FakeProc(100, "www-data", "nginx", {"read": (600, 0, 0, 10), "write": (400, 20, errno.EAGAIN, 12)}),
    FakeProc(200, "postgres", "postgres", {"openat": (300, 150, errno.ENOENT, 14), "read": (200, 0, 0, 9)}),
    FakeProc(300, "root", "bash", {"futex": (50, 0, 0, 20)}, tail=9),
    FakeProc(400, "root", "[kworker/0:1]", {"write": (10, 1, errno.EIO, 16)}),
)
HOST = HostInfo(hostname="testhost", kernel="6.8.0-test", machine="x86_64", ncpu=4, boot_time=1_000.0)
WALL0 = 1_000.0 + 3 * 86400 + 4 * 3600 + 5 * 60


class FakeSource(Source):
    """Frames with growing counters; records ``set_focus`` calls.

    Args:
        delay_s: initial refresh interval.
        failed: the syscalls collector "failed to load": no samples, an error status.
    """

    def __init__(self, delay_s: float = 0.05, failed: bool = False) -> None:
        self.delay_s = delay_s
        self.ticks = 0
        self.focus_calls: list[int] = []
        self.close_calls = 0
        self.focus_pid = 0
        self._focus_since = 0
        self._exit_tick: dict[int, int] = {}
        self._lock = threading.Lock()
        if failed:
            self._status: tuple[CollectorStatus, ...] = (
                CollectorStatus(
                    "syscalls",
                    False,
                    error="tracepoint raw_syscalls/sys_enter not found",
                    hint="mount tracefs at /sys/kernel/tracing",
                ),
            )
        else:
            self._status = (CollectorStatus("syscalls", True, method="tp_btf"),)

    @property
    def status(self) -> tuple[CollectorStatus, ...]:
        """The syscalls collector's, failed or not."""
        return self._status

    def kill(self, pid: int) -> None:
        """The process stops counting now; it is reported exited for 2 ticks, then gone."""
        with self._lock:
            self._exit_tick[pid] = self.ticks

    def set_focus(self, pid: int) -> None:
        """Record the call; focus counters start from the next tick."""
        with self._lock:
            self.focus_calls.append(pid)
            self.focus_pid = pid
            self._focus_since = self.ticks

    def close(self) -> None:
        """Count closes (the app and its caller may both close)."""
        self.close_calls += 1

    def _active_ticks(self, proc: FakeProc, since: int = 0) -> int:
        end = self._exit_tick.get(proc.pid, self.ticks)
        return max(0, min(end, self.ticks) - since)

    def _visible(self, proc: FakeProc) -> bool:
        died = self._exit_tick.get(proc.pid)
        return died is None or self.ticks <= died + 2

    def tick(self) -> Frame:
        """One more virtual second."""
        with self._lock:
            self.ticks += 1
            if not self.status[0].ok:
                return self._frame({}, {})
            procs = [p for p in PROCS if self._visible(p)]
            totals: dict[int, list[int]] = {}
            pairs, errnos = [], []
            for proc in procs:
                n = self._active_ticks(proc)
                for name, (calls, errors, err, slot) in proc.calls.items():
                    nr = NR[name]
                    pairs.append(
                        ProcSyscall(
                            proc.pid,
                            nr,
                            calls * n,
                            errors * n,
                            calls * n * (1 << slot),
                            1 << (slot + 2),
                            proc.comm,
                        )
                    )
                    if errors:
                        errnos.append(SyscallErrno(proc.pid, nr, err, errors * n))
                    self._add(totals, nr, calls * n, errors * n, slot, proc.tail)
            focus: dict[int, list[int]] = {}
            focused = next((p for p in procs if p.pid == self.focus_pid), None)
            if focused is not None:
                n = self._active_ticks(focused, self._focus_since)
                for name, (calls, errors, _, slot) in focused.calls.items():
                    self._add(focus, NR[name], calls * n, errors * n, slot, focused.tail)
            sample = SyscallsSample(
                ts_ns=self.ticks * 1_000_000_000,
                arch="x86_64",
                syscalls=self._totals(totals),
                procs=tuple(pairs),
                errnos=tuple(errnos),
                focus_pid=self.focus_pid,
                focus=self._totals(focus),
                unmatched_exits=3,
                evicted_procs=0,
            )
            metas = {
                p.pid: ProcMeta(
                    pid=p.pid,
                    ppid=1,
                    user=p.user,
                    name=p.comm,
                    cmdline=f"/usr/bin/{p.comm} --serve",
                    start_time=WALL0 - 60,
                    exited=p.pid in self._exit_tick,
                )
                for p in procs
            }
            return self._frame({"syscalls": sample}, metas)

    @staticmethod
    def _add(totals: dict[int, list[int]], nr: int, calls: int, errors: int, slot: int, tail: int) -> None:
        row = totals.setdefault(nr, [0, 0, 0, 0] + [0] * HIST_SLOTS)
        row[0] += calls
        row[1] += errors
        row[2] += calls * (1 << slot)
        row[3] = max(row[3], (1 << (slot + 2)) if calls else 0)
        # Spread each batch over neighbouring slots so histograms have a shape.
        spread = {slot - 1: calls // 4, slot + 1: calls // 8}
        spread |= {slot - k: calls // 50 for k in range(2, 2 + tail)}
        spread[slot] = calls - sum(spread.values())
        for index, count in spread.items():
            row[4 + index] += count

    @staticmethod
    def _totals(totals: dict[int, list[int]]) -> tuple[SyscallTotals, ...]:
        return tuple(
            SyscallTotals(nr, r[0], r[1], r[2], r[3], tuple(r[4:]))
            for nr, r in sorted(totals.items())
            if r[0]
        )

    def _frame(self, samples: dict[str, SyscallsSample], procs: dict[int, ProcMeta]) -> Frame:
        return Frame(
            ts_ns=self.ticks * 1_000_000_000,
            wall=WALL0 + self.ticks,
            samples=samples,
            procs=procs,
            status=self.status,
            host=HOST,
            delay_s=self.delay_s,
        )
