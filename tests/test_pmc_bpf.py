"""The pmc collector against real workloads: the software path end to end (root, BPF).

This machine has no PMU, so the collector falls back to software events:
taken from the scheduler accounting runqlat's part does (``from_sched``, the
default where that part loads), or read through the per-CPU perf event
arrays at sched_switch, as hardware counters are (``from_sched=False``).
Tests that hold for both run on both. The hardware path's arithmetic is
tested on recorded values in test_pmc_derive.py; the scheduler path's
exactness against getrusage in test_pmc_sched_bpf.py.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from bpftop.bpf import pmu
from bpftop.collectors.base import Filters
from bpftop.collectors.pmc import PmcCollector, PmcSample
from bpftop.derive.pmc import PmcView, derive_pmc
from tests.sched_workloads import busy_ns
from tests.workloads import up_to_three_runs

pytestmark = pytest.mark.bpf
ROOT = Path(__file__).resolve().parent.parent
PAGES = 3000
# CPU 1, as it always was, where the machine has it; a 1-vCPU guest has only CPU 0.
HOG_CPU = min(os.sched_getaffinity(0) - {0}, default=0)
HOG = """
import os, sys
os.sched_setaffinity(0, {int(sys.argv[1])})
# Win the CPU from the machine's other work: nice counts within a session's
# autogroup, so take a session of our own and raise its weight.
os.setsid()
try:
    with open("/proc/self/autogroup", "w") as f:
        f.write("-20")
except OSError:
    pass
os.setpriority(os.PRIO_PROCESS, 0, -20)
print("ready", flush=True)
while True:
    pass
"""
TOUCHER = """
import mmap, sys
pages = int(sys.argv[1])
buf = mmap.mmap(-1, pages * mmap.PAGESIZE)
buf.madvise(mmap.MADV_NOHUGEPAGE)  # one fault per 4 KiB page, even with THP "always"
print("ready", flush=True)
sys.stdin.readline()
for i in range(pages):
    buf[i * mmap.PAGESIZE] = 1  # first touch of each page: one fault
print("done", flush=True)
sys.stdin.readline()
"""



def no_pmu() -> None:
    if pmu.core_pmus():
        pytest.skip("this machine exposes a PMU: the no-PMU path does not apply")


@pytest.fixture(params=[True, False], ids=["from_sched", "perf_reads"])
def collector(request: pytest.FixtureRequest) -> Iterator[PmcCollector]:
    c = PmcCollector(event_names=(), from_sched=request.param)
    c.open(Filters())
    assert c.from_sched is request.param  # this kernel loads runqlat's part
    yield c
    c.close()


@pytest.fixture
def reading() -> Iterator[PmcCollector]:
    """The path that reads the events at each switch (hardware counters take it)."""
    c = PmcCollector(event_names=(), from_sched=False)
    c.open(Filters())
    yield c
    c.close()


def spawn(script: str, *args: object) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def view(c: PmcCollector, prev: PmcSample) -> tuple[PmcView, PmcSample]:
    cur = c.sample()
    return derive_pmc(prev, cur, (cur.ts_ns - prev.ts_ns) / 1e9, {}), cur


def schedstat_ns(pid: int) -> int:
    """The kernel's own on-CPU time of a process (se.sum_exec_runtime of its one thread)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def test_no_pmu_falls_back_to_software_counters(collector: PmcCollector) -> None:
    no_pmu()
    sample = collector.sample()
    assert not sample.hardware
    assert sample.notice == f"{pmu.NO_PMU}: showing software counters"
    assert [e.name for e in sample.events] == list(pmu.DEFAULT_SOFTWARE)
    assert {u.name for u in sample.unavailable} == set(pmu.DEFAULT_HARDWARE)
    assert all(u.reason == pmu.NO_PMU for u in sample.unavailable)
    assert collector.detail == sample.notice


@up_to_three_runs
def test_cpu_hog_task_clock_is_one_second_per_second(collector: PmcCollector) -> None:
    hog = spawn(HOG, HOG_CPU)
    try:
        time.sleep(0.2)
        before, on_cpu_before = collector.sample(), schedstat_ns(hog.pid)
        time.sleep(2.0)
        v, _ = view(collector, before)
        on_cpu = schedstat_ns(hog.pid) - on_cpu_before
    finally:
        hog.kill()
        hog.wait()
    row = v.by_pid[hog.pid]
    clock = row.figures[0]
    assert v.events[0].name == "task-clock"
    assert clock.per_s == pytest.approx(1e9, rel=0.10), (row, on_cpu)  # 1 s of CPU per second
    assert clock.raw == pytest.approx(on_cpu, rel=0.05), (clock.raw, on_cpu)  # the kernel agrees
    assert row.cpu_pct == pytest.approx(100.0, rel=0.10)


@up_to_three_runs
def test_per_cpu_task_clock_is_busy_time_within_a_second_per_second(collector: PmcCollector) -> None:
    # A per-CPU clock event counts ~1 s/s on every CPU, idle or not: the rows
    # show busy time, the idle task's taken out (issue 16: 2 CPUs read 3.7 s/s).
    first, stat_before = known_cpus(collector), busy_ns()
    time.sleep(1.0)
    v, cur = view(collector, first)
    stat_busy_ns = busy_ns() - stat_before
    ncpu = len(v.cpus)
    assert v.events[0].name == "task-clock"
    for row in v.cpus:
        assert row.figures[0].per_s is not None and row.figures[0].per_s <= 1.05e9, row
        assert row.cpu_pct is not None and row.cpu_pct <= 105, row
    assert v.total is not None and v.total.figures[0].per_s <= ncpu * 1.05e9
    assert v.total.figures[0].raw == sum(r.figures[0].raw for r in v.cpus)
    # And it is the kernel's own account of busy time (/proc/stat, in ticks).
    # It read 276 ms busy against 0 in CI: the VM hides its pid 1's threads
    # switching to idle, and each such idle stint was lost (unseen_end).
    idle_ms = [(y.idle[0] - x.idle[0]) // 1_000_000 for x, y in zip(first.cpus, cur.cpus, strict=True)]
    assert v.total.figures[0].raw == pytest.approx(stat_busy_ns, abs=0.05e9, rel=0.1), idle_ms


def known_cpus(collector: PmcCollector) -> PmcSample:
    """A sample once every CPU has switched since the load (the fence runs in a thread)."""
    deadline = time.monotonic() + 2.0
    sample = collector.sample()
    while not all(c.idle for c in sample.cpus):
        assert time.monotonic() < deadline, "a CPU never switched"
        time.sleep(0.01)
        sample = collector.sample()
    return sample


@up_to_three_runs
def test_counting_pauses_while_no_pane_shows_it(reading: PmcCollector) -> None:
    """Paused: a hog's task-clock stands still; resumed: its CPU time again, nothing spanning the pause."""
    collector = reading
    hog = spawn(HOG, HOG_CPU)
    try:
        time.sleep(0.2)
        collector.set_option("visible_pane", "syscalls")  # no counters on screen
        before = collector.sample()
        time.sleep(1.0)
        paused, _ = view(collector, before)
        collector.set_option("visible_pane", "pmc")
        before = collector.sample()
        on_cpu = schedstat_ns(hog.pid)
        time.sleep(1.0)
        resumed, sample = view(collector, before)
        on_cpu = schedstat_ns(hog.pid) - on_cpu
    finally:
        hog.kill()
        hog.wait()
    assert before.paused is False and sample.paused is False
    held = paused.by_pid.get(hog.pid)
    assert held is None or held.figures[0].raw < 0.05e9, held  # at most a switch in flight
    clock = resumed.by_pid[hog.pid].figures[0]
    # Against the kernel's own account of the hog's CPU time (a loaded machine,
    # or a one-vCPU guest, gives it less than 1 s/s), and not 2 s: the pause is
    # not added.
    assert clock.raw == pytest.approx(on_cpu, rel=0.10), (clock, on_cpu)
    assert clock.per_s < 1.1e9, clock


@up_to_three_runs
def test_touching_new_pages_counts_page_faults(collector: PmcCollector) -> None:
    toucher = spawn(TOUCHER, PAGES)
    try:
        assert toucher.stdin is not None and toucher.stdout is not None
        before = collector.sample()
        toucher.stdin.write("go\n")
        toucher.stdin.flush()
        assert toucher.stdout.readline().strip() == "done"
        time.sleep(0.05)  # its next switch-out, or the running stint, carries the count
        v, _ = view(collector, before)
    finally:
        toucher.kill()
        toucher.wait()
    faults = v.by_pid[toucher.pid].figures[
        v.events.index(next(e for e in v.events if e.name == "page-faults"))
    ]
    assert PAGES <= faults.raw < 3 * PAGES, faults


def test_pid_filter_keeps_only_that_process() -> None:
    hog = spawn(HOG, 0)
    c = PmcCollector(event_names=())
    try:
        c.open(Filters(pid=hog.pid))
        # A hog alone on its CPU since before the programs attached may not
        # switch for seconds, and the programs learn who runs at a switch:
        # make it switch out and back in once.
        os.kill(hog.pid, signal.SIGSTOP)
        time.sleep(0.05)
        os.kill(hog.pid, signal.SIGCONT)
        first = c.sample()
        time.sleep(0.5)
        v, _ = view(c, first)
        assert set(v.by_pid) <= {hog.pid}
        assert hog.pid in v.by_pid
    finally:
        c.close()
        hog.kill()
        hog.wait()


def test_hardware_only_events_fall_back_and_say_why() -> None:
    no_pmu()
    c = PmcCollector(event_names=("instructions", "r01c2"))
    try:
        c.open(Filters())
        s = c.sample()
    finally:
        c.close()
    assert not s.hardware and s.notice.startswith(pmu.NO_PMU)
    assert [u.name for u in s.unavailable] == ["instructions", "r01c2"]


def test_batch_and_json_say_no_pmu() -> None:
    no_pmu()
    from bpftop.batch import to_json
    from bpftop.batch.common import Rows
    from bpftop.batch.pmc import text_section
    from bpftop.derive import derive
    from bpftop.engine import Engine

    engine = Engine(["pmc"], Filters())
    try:
        engine.open()
        first = engine.tick()
        time.sleep(0.2)
        d = derive(first, engine.tick())
    finally:
        engine.close()
    record = to_json(d, "pmc")
    assert record["pmc"]["hardware"] is False
    assert pmu.NO_PMU in record["pmc"]["notice"]
    out = io.StringIO()
    console = Console(file=out, width=200)
    for part in text_section(d.views["pmc"], "pmc", Rows(5)):
        console.print(part)
    assert f"PMC: {pmu.NO_PMU}: showing software counters" in out.getvalue()
    assert "TASKCLK/s" in out.getvalue()


def test_check_reports_no_pmu() -> None:
    no_pmu()
    result = subprocess.run(
        [sys.executable, "-m", "bpftop", "check"], capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={"COLUMNS": "300", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )  # fmt: skip
    assert "no PMU exposed to this machine — common in VMs and cloud guests" in result.stdout
    assert "collector pmc" in result.stdout and "software counters" in result.stdout
    assert result.returncode == 0


def test_bad_pmc_events_exit_with_the_reason() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bpftop", "--pane", "pmc", "--once", "--pmc-events", "cycles,nonsense"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "--pmc-events: unknown event 'nonsense'" in result.stderr


def test_refused_perf_events_fail_only_the_pmc_pane(monkeypatch: pytest.MonkeyPatch) -> None:
    """perf_event_paranoid or a seccomp filter refusing every event: the pane says why, others run."""
    from bpftop.bpf import perf
    from bpftop.engine import Engine

    def refuse(spec: perf.PerfEventSpec) -> dict[int, int]:
        raise perf.PerfEventError(f"open perf event {spec.name} on cpu 0", 13, hardware=pmu.is_hardware(spec))

    monkeypatch.setattr(perf, "open_per_cpu", refuse)
    engine = Engine(["runqlat", "pmc"], Filters())
    try:
        runqlat, pmc = engine.open()
        frame = engine.tick()
    finally:
        engine.close()
    assert runqlat.ok and "runqlat" in frame.samples
    assert not pmc.ok and "pmc" not in frame.samples
    assert pmc.error.startswith("open perf event cycles on cpu 0: EACCES")  # the first refusal
    assert "perf_event_paranoid" in pmc.hint


def test_scheduler_accounting_is_not_read_while_no_pane_shows_it() -> None:
    # The counting goes on in runqlat's accounting; a hidden pane saves the
    # read. Since-start counters stand (never go down), rows come back on show.
    c = PmcCollector(event_names=(), from_sched=True)
    c.open(Filters())
    try:
        assert c.from_sched
        shown = c.sample()
        assert shown.procs and shown.cpus and not shown.paused
        c.set_option("visible_pane", "procs")  # no hardware counters: no IPC column to feed
        hidden = c.sample()
        assert hidden.unread and hidden.procs == () and hidden.cpus == ()
        assert hidden.switches == shown.switches and hidden.events == shown.events
        c.set_option("visible_pane", "pmc")
        back = c.sample()
        assert back.procs and back.cpus and not back.unread
        view = derive_pmc(hidden, back, (back.ts_ns - hidden.ts_ns) / 1e9, {})
        assert view.procs and all(r.figures[0].per_s is None for r in view.procs)  # rates a tick later
    finally:
        c.close()
