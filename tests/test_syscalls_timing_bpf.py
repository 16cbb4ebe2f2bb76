"""Counting without timing (issue 24): sys_enter detached, counts still exact.

While no pane on screen shows syscall latency, the syscalls collector
detaches its sys_enter program and sys_exit only counts. These tests run the
real BPF object: the counts must stay exact across the switch, nothing is
timed while off, and an entry left from an earlier timing period never times
a later call.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import workloads

from bpftop.collectors.base import Filters
from bpftop.collectors.syscalls import ProcSyscall, SyscallsCollector, SyscallsSample
from bpftop.collectors.syscalls_table import syscall_number, table_for
from bpftop.derive import derive
from bpftop.frame import Frame

pytestmark = pytest.mark.bpf

TABLE = table_for()
GETPPID = syscall_number("getppid", TABLE)
READ = syscall_number("read", TABLE)
N = 10_000


@pytest.fixture
def collector() -> Iterator[SyscallsCollector]:
    c = SyscallsCollector()
    c.open(Filters())
    yield c
    c.close()


def entry(sample: SyscallsSample, pid: int, nr: int) -> ProcSyscall:
    return next(p for p in sample.procs if p.pid == pid and p.nr == nr)


def frame(sample: SyscallsSample) -> Frame:
    return Frame(ts_ns=sample.ts_ns, wall=time.time(), samples={"syscalls": sample})


def test_counting_only_is_exact_and_times_nothing(collector: SyscallsCollector, workload_exe: Path) -> None:
    collector.set_option("syscall_latency", False)
    with workloads.start("getppid", N, exe=workload_exe) as wl:
        before = collector.sample()  # applies it: sys_enter detached
        assert not collector.timing
        wl.run()
        after = collector.sample()
    got = entry(after, wl.pid, GETPPID)
    assert (got.calls, got.errors, got.timed, got.total_ns, got.max_ns) == (N, 0, 0, 0, 0)
    view = derive(frame(before), frame(after)).views["syscalls"]
    row = next(r for r in view.by_pid[wl.pid] if r.nr == GETPPID)
    assert (row.calls, row.avg_ns) == (N, None)  # no latency rather than 0 ns
    totals = next(r for r in view.syscalls if r.nr == GETPPID)
    assert totals.calls >= N and sum(totals.hist) < N  # other processes' calls were not timed either


def test_timing_again_times_every_call(collector: SyscallsCollector, workload_exe: Path) -> None:
    collector.set_option("syscall_latency", False)
    collector.sample()
    collector.set_option("syscall_latency", True)
    with workloads.start("getppid", N, exe=workload_exe) as wl:
        before = collector.sample()
        assert collector.timing
        wl.run()
        after = collector.sample()
    got = entry(after, wl.pid, GETPPID)
    assert (got.calls, got.timed) == (N, N)
    row = next(
        r for r in derive(frame(before), frame(after)).views["syscalls"].by_pid[wl.pid] if r.nr == GETPPID
    )
    assert row.avg_ns is not None and 0 < row.avg_ns < 1e6


def _blocked_in_read(pid: int) -> bool:
    """In read(0, ...): /proc/PID/syscall gives the number, then the arguments."""
    fields = Path(f"/proc/{pid}/syscall").read_text().split()
    return fields[:2] == [str(READ), "0x0"]


def _wait_blocked(pid: int) -> None:
    deadline = time.monotonic() + 10
    while not _blocked_in_read(pid):
        assert time.monotonic() < deadline, "the child never blocked in read"
        time.sleep(0.01)


def test_an_entry_from_an_earlier_period_never_times_a_call(collector: SyscallsCollector) -> None:
    # A read entered while timing (generation 1) returns while timing is off, so
    # its entry is never consumed; the next read enters while sys_enter is
    # detached and returns once timing is on again. Matched with the old entry
    # it would be timed from the first read's start (seconds): the generation
    # in each entry keeps it unmatched, counted but not timed.
    child = subprocess.Popen(
        [sys.executable, "-c", "import os; os.write(1, b'ready\\n'); os.read(0, 1); os.read(0, 1)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == b"ready\n"  # done starting: no more reads but ours
        _wait_blocked(child.pid)  # first read, entered while timing
        collector.sample()
        collector.set_option("syscall_latency", False)
        collector.sample()
        child.stdin.write(b"x")
        child.stdin.flush()
        time.sleep(0.3)
        _wait_blocked(child.pid)  # second read, entered with sys_enter detached
        collector.set_option("syscall_latency", True)
        before = collector.sample()
        time.sleep(0.3)
        child.stdin.write(b"y")
        child.stdin.flush()
        assert child.wait(10) == 0
        after = collector.sample()
    finally:
        child.kill()
        child.wait()
    b, a = entry(before, child.pid, READ), entry(after, child.pid, READ)
    assert a.calls - b.calls == 1  # counted
    assert a.timed == b.timed and a.max_ns < 0.2e9  # not timed, no 0.6 s latency
    assert after.unmatched_exits > before.unmatched_exits


def test_told_before_loading_it_is_not_timing_once_open() -> None:
    # `bpftop -b` of every pane: the engine passes syscall_latency=False
    # before the collector opens, so sys_enter is detached as the load ends,
    # not at the first sample (the option used to arrive after open, and the
    # whole first interval was timed).
    from bpftop.collectors.syscalls import ENTER_HOOK
    from bpftop.engine import Engine

    engine = Engine(["syscalls"], Filters())
    engine.set_option("syscall_latency", False)
    try:
        engine.open()
        collector = engine._collectors["syscalls"]
        assert isinstance(collector, SyscallsCollector)
        assert not collector.timing and not collector._obj.attached_to(ENTER_HOOK)
    finally:
        engine.close()
