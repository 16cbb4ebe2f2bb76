#!/usr/bin/env python3
"""Benchmark the syscalls collector against the design's targets (needs root).

1. Kernel cost per syscall: a getppid loop (``tests/workloads.py``) pinned to
   one CPU, with (a) nothing attached, (b) empty programs on the same tp_btf
   hooks (the floor), (c) bpftop's syscalls collector, (d) libbpf-tools
   ``syscount -L``. Configurations are interleaved round by round so drift in
   the machine hits all of them alike; each figure is the median of the rounds.
   Target: bpftop's added cost <= syscount's.
2. bpftop's own CPU at a 1 s refresh (Engine.tick + derive) while ``--procs``
   background processes make syscalls. Target: <= 2% of one core.
3. Time from creating the Engine to the first frame with data. Target: <= 1 s.

Usage:
    sudo python benchmarks/bench_syscalls.py [--quick] [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import workloads  # noqa: E402 - after the path set-up above
from common import compile_empty  # noqa: E402

from bpftop.bpf.object import BpfObject  # noqa: E402
from bpftop.collectors.base import Filters  # noqa: E402
from bpftop.collectors.syscalls import SyscallsCollector  # noqa: E402
from bpftop.derive import derive  # noqa: E402
from bpftop.engine import Engine  # noqa: E402

SYSCOUNT = "/usr/sbin/syscount"
Attach = Callable[[], AbstractContextManager[object]]


@contextmanager
def empty_programs(obj: Path) -> Iterator[object]:
    with BpfObject.open("empty_syscalls", path=obj, methods=("tp_btf",)) as bpf:
        yield bpf


@contextmanager
def bpftop_collector() -> Iterator[object]:
    collector = SyscallsCollector()
    collector.open(Filters())
    try:
        yield collector
    finally:
        collector.close()


@contextmanager
def syscount() -> Iterator[object]:
    # It prints its banner right after attaching; stdbuf gets it to us now.
    proc = subprocess.Popen(
        ["stdbuf", "-oL", SYSCOUNT, "-L"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    if not banner.startswith("Tracing"):
        proc.kill()
        sys.exit(f"syscount did not start: {banner!r} {proc.communicate()[1]!r}")
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def loop_ns(exe: Path, calls: int, cpu: int) -> float:
    """ns per getppid, timed by the workload itself around its loop."""
    with workloads.start("getppid", calls, cpu=cpu, exe=exe) as wl:
        return wl.run(timeout_s=120)


def bench_overhead(exe: Path, empty_obj: Path, calls: int, rounds: int, cpu: int) -> None:
    configs: dict[str, Attach] = {
        "(a) nothing attached": nullcontext,
        "(b) empty tp_btf programs": lambda: empty_programs(empty_obj),
        "(c) bpftop syscalls (tp_btf)": bpftop_collector,
        "(d) libbpf-tools syscount -L": syscount,
    }
    if not os.path.exists(SYSCOUNT):
        del configs["(d) libbpf-tools syscount -L"]
    results: dict[str, list[float]] = {name: [] for name in configs}
    loop_ns(exe, calls // 10, cpu)  # warm the caches and the CPU frequency
    for r in range(rounds):
        for name, attach in configs.items():
            with attach():
                results[name].append(loop_ns(exe, calls, cpu))
        print(f"  round {r + 1}/{rounds}: " + "  ".join(f"{v[-1]:.1f}" for v in results.values()))
    median = {name: statistics.median(v) for name, v in results.items()}
    base = median["(a) nothing attached"]
    print(f"\ngetppid x {calls:,} on CPU {cpu}, median of {rounds} rounds (min-max in brackets)")
    print(f"{'configuration':32} {'ns/call':>9} {'added ns':>9}   spread")
    for name, ns in median.items():
        added = "-" if ns == base else f"{ns - base:9.1f}"
        spread = f"[{min(results[name]):.1f}-{max(results[name]):.1f}]"
        print(f"{name:32} {ns:9.1f} {added:>9}   {spread}")
    floor = median["(b) empty tp_btf programs"] - base
    ours = median["(c) bpftop syscalls (tp_btf)"] - base
    print(f"\nfloor (empty programs) added:   {floor:.1f} ns/call")
    print(f"bpftop added above the floor:   {ours - floor:.1f} ns/call")
    if "(d) libbpf-tools syscount -L" in median:
        theirs = median["(d) libbpf-tools syscount -L"] - base
        verdict = "OK" if ours <= theirs else "OVER TARGET"
        print(f"bpftop added / syscount added:  {ours / theirs:.2f}  (target <= 1.0: {verdict})")


def start_background(exe: Path, count: int) -> list[workloads.Workload]:
    """``count`` processes each sleeping 10 ms in a loop: ~100 syscalls/s each."""
    procs = [workloads.start("nanosleep", 10**9, exe=exe) for _ in range(count)]
    for wl in procs:
        wl.go()
    return procs


def stop_background(procs: list[workloads.Workload]) -> None:
    for wl in procs:
        wl.proc.kill()
    for wl in procs:
        wl.proc.wait()


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def bench_tui(seconds: float) -> None:
    """CPU of the real TUI (ticking, deriving and rendering) in tmux at 80x24."""
    if not shutil.which("tmux"):
        print("\nTUI: tmux not installed, skipped")
        return
    session = f"bpftop-bench-{os.getpid()}"
    cmd = f"cd {REPO} && TERM=xterm-256color {sys.executable} -m bpftop -d 1"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd], check=True)
    try:
        pid = int(
            subprocess.run(
                ["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[0]
        )
        time.sleep(3.0)  # start-up and the first full metadata read
        t0, c0 = time.perf_counter(), _cpu_ticks(pid)
        time.sleep(seconds)
        t1, c1 = time.perf_counter(), _cpu_ticks(pid)
        rss_mb = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    share = 100 * (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0)
    verdict = "OK" if share <= 2.0 else "OVER TARGET"
    print(f"\nTUI: real bpftop in tmux 80x24, 1 s refresh, {t1 - t0:.0f} s")
    print(f"  bpftop CPU:                    {share:.2f}% of one core  (target <= 2%: {verdict})")
    print(f"  RSS:                           {rss_mb:.0f} MB  (target <= 150 MB)")


def bench_dashboard(exe: Path, seconds: float, background: int) -> None:
    extra = start_background(exe, background)
    try:
        t0 = time.perf_counter()
        engine = Engine(["syscalls"], Filters(), delay_s=1.0)
        status = engine.open()
        if not all(s.ok for s in status):
            sys.exit(f"engine did not open: {status}")
        frame = engine.tick()
        while not frame.samples["syscalls"].procs:
            time.sleep(0.005)
            frame = engine.tick()
        derive(None, frame)
        first_frame_s = time.perf_counter() - t0

        # The first full tick reads metadata of every process at once; it is
        # reported apart, and the CPU window measures the steady state.
        time.sleep(1.0)
        t = time.perf_counter()
        prev = engine.tick()
        derive(frame, prev)
        warmup_ms = (time.perf_counter() - t) * 1e3

        tick_ms: list[float] = []
        cpu0, wall0 = os.times(), time.perf_counter()
        deadline = wall0
        while time.perf_counter() - wall0 < seconds:
            deadline += 1.0
            time.sleep(max(0.0, deadline - time.perf_counter()))
            t = time.perf_counter()
            cur = engine.tick()
            derive(prev, cur)
            tick_ms.append((time.perf_counter() - t) * 1e3)
            prev = cur
        cpu1, wall1 = os.times(), time.perf_counter()
        pairs = len(prev.samples["syscalls"].procs)
        nproc = sum(name.isdigit() for name in os.listdir("/proc"))
        engine.close()
    finally:
        stop_background(extra)
    cpu_s = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    share = 100 * cpu_s / (wall1 - wall0)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    median_ms, max_ms = statistics.median(tick_ms), max(tick_ms)
    print(f"\ndashboard: Engine(syscalls) at 1 s refresh for {wall1 - wall0:.1f} s")
    print(f"  background processes:          {background} ({nproc} processes on the machine)")
    print(f"  (pid, syscall) pairs per tick: {pairs}, processes per tick: {len(prev.procs)}")
    print(f"  first full tick + derive:      {warmup_ms:.1f} ms (metadata of every process)")
    print(f"  tick + derive, steady:         median {median_ms:.1f} ms, max {max_ms:.1f} ms")
    verdict = "OK" if share <= 2.0 else "OVER TARGET"
    print(f"  bpftop CPU:                    {share:.2f}% of one core  (target <= 2%: {verdict})")
    print(f"  peak RSS of this process:      {rss_mb:.0f} MB  (target <= 150 MB)")
    verdict = "OK" if first_frame_s <= 1.0 else "OVER TARGET"
    print(f"  Engine() to first frame:       {first_frame_s * 1e3:.0f} ms  (target <= 1 s: {verdict})")
    extra = start_background(exe, background)
    try:
        bench_tui(seconds)
    finally:
        stop_background(extra)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s dashboard run, 3 rounds")
    parser.add_argument("--calls", type=int, default=2_000_000, help="getppid calls per run")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 5, 3 with --quick)")
    parser.add_argument("--procs", type=int, default=300, help="background processes for the CPU test")
    parser.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1, help="CPU for the loop")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark loads BPF programs")
    rounds = args.rounds or (3 if args.quick else 5)
    exe = workloads.build()
    print(f"bpftop syscalls benchmark: kernel {platform.release()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        bench_overhead(exe, compile_empty("empty_syscalls", Path(tmp)), args.calls, rounds, args.cpu)
    bench_dashboard(exe, 10.0 if args.quick else 30.0, args.procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
