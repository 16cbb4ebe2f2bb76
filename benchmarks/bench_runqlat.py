#!/usr/bin/env python3
"""Benchmark the runqlat collector's kernel cost per context switch against libbpf-tools (needs root).

Two processes pinned to one CPU bounce a byte through two pipes
(``tests/sched_workloads.py`` ``pingpong``): every round trip is two wakeups
and two context switches. With (a) nothing attached, (b) empty programs on
bpftop's tp_btf hooks (the floor), (c) bpftop's runqlat collector,
(d) libbpf-tools ``runqlat`` (one system histogram) and (e) ``runqlat -P``
(a histogram per process, the closer match to bpftop's work). Configurations
take turns round by round so drift hits all alike; each figure is the median.

1. Wall clock: ns per context switch (half a round trip, timed by the
   workload). Target: bpftop's added ns/switch <= runqlat's.
2. BPF run time per switch from the kernel's BPF statistics
   (BPF_ENABLE_STATS): per program run time / runs, summed over the switch
   and wakeup programs. Precise, but it leaves out the cost of entering a
   program (the floor's share).

Usage:
    sudo python benchmarks/bench_runqlat.py [--trips N] [--rounds R] [--cpu C]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import sched_workloads  # noqa: E402 - after the path set-up above
from common import (  # noqa: E402
    Attach,
    bpf_run_time,
    compile_empty,
    empty_programs,
    nothing,
    print_table,
    prog_stats,
)

from bpftop.collectors.base import Filters  # noqa: E402
from bpftop.collectors.runqlat import RunqlatCollector  # noqa: E402

RUNQLAT = "/usr/sbin/runqlat"
NOTHING, EMPTY, BPFTOP, RQ, RQ_P = (
    "(a) nothing attached",
    "(b) empty tp_btf programs",
    "(c) bpftop runqlat (tp_btf)",
    "(d) libbpf-tools runqlat",
    "(e) libbpf-tools runqlat -P",
)


@contextmanager
def bpftop_collector() -> Iterator[set[int]]:
    collector = RunqlatCollector()
    collector.open(Filters())
    try:
        yield set(collector._obj.program_ids())
    finally:
        collector.close()


@contextmanager
def runqlat(*flags: str) -> Iterator[set[int]]:
    before = set(prog_stats())
    # It prints its banner right after attaching; stdbuf gets it to us now.
    proc = subprocess.Popen(
        ["stdbuf", "-oL", RUNQLAT, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    if not banner.startswith("Tracing"):
        proc.kill()
        sys.exit(f"runqlat did not start: {banner!r} {proc.communicate()[1]!r}")
    try:
        new = {i: name for i, (name, _, _) in prog_stats().items() if i not in before}
        yield {i for i, name in new.items() if "sched" in name}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def switch_ns(trips: int, cpu: int, exe: Path) -> float:
    """ns per context switch: half a ping-pong round trip, timed by the workload."""
    with sched_workloads.start("pingpong", trips, cpu, exe=exe) as wl:
        return wl.run(timeout_s=600) / 2


def bpf_ns_per_switch(ids: set[int], trips: int, cpu: int, exe: Path) -> float:
    """Sum over ``ids`` (switch and wakeup programs) of run time / runs across one run."""
    before = prog_stats()
    switch_ns(trips, cpu, exe)
    after = prog_stats()
    total = 0.0
    for i in ids:
        runs = after[i][2] - before[i][2]
        if runs and "exec" not in after[i][0] and "wakeup_new" not in after[i][0]:
            total += (after[i][1] - before[i][1]) / runs
    return total


def verdict(ours: float, theirs: float, name: str) -> None:
    ok = "OK" if ours <= theirs else "OVER TARGET"
    print(f"bpftop / {name + ':':27} {ours / theirs:.2f}  (target <= 1.0: {ok})")


def bench(configs: dict[str, Attach], trips: int, rounds: int, cpu: int, exe: Path) -> None:
    switch_ns(trips // 10, cpu, exe)  # warm the caches and the CPU frequency
    wall: dict[str, list[float]] = {name: [] for name in configs}
    for r in range(rounds):
        for name, attach in configs.items():
            with attach():
                wall[name].append(switch_ns(trips, cpu, exe))
        print(f"  round {r + 1}/{rounds}: " + "  ".join(f"{v[-1]:.0f}" for v in wall.values()))
    title = f"wall clock: {trips:,} ping-pong round trips on CPU {cpu}, median of {rounds}"
    median = print_table(title, wall, "ns/switch")
    base = median[NOTHING]
    added = {name: value - base for name, value in median.items()}
    print(f"\nfloor (empty programs) added:        {added[EMPTY]:.1f} ns/switch")
    for name in (BPFTOP, RQ, RQ_P):
        if name in added:
            above = added[name] - added[EMPTY]
            print(f"{name[4:] + ' added:':36} {added[name]:.1f} ns/switch ({above:.1f} above the floor)")
    if min(added.values()) < 0:  # a configuration beat "nothing attached": the machine is too busy
        print("wall clock too noisy to compare (an attached configuration beat none); see BPF statistics")
    else:
        for name, label in ((RQ, "runqlat added"), (RQ_P, "runqlat -P added")):
            if added.get(name):
                verdict(added[BPFTOP], added[name], label)

    runtime = bpf_run_time(
        configs, rounds, lambda ids: bpf_ns_per_switch(ids, trips // 4, cpu, exe), "switch"
    )
    if runtime is None:
        return
    median = print_table("BPF run time per switch + wakeup (kernel BPF statistics)", runtime, "ns/switch")
    for name, label in ((RQ, "runqlat"), (RQ_P, "runqlat -P")):
        if median.get(name):
            verdict(median[BPFTOP], median[name], label)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=200_000, help="ping-pong round trips per run")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1, help="CPU for the workload")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark loads BPF programs")
    exe = sched_workloads.build()
    print(f"bpftop runqlat benchmark: kernel {platform.release()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        empty = compile_empty("empty_runqlat", Path(tmp))
        configs: dict[str, Attach] = {
            NOTHING: nothing,
            EMPTY: lambda: empty_programs(empty),
            BPFTOP: bpftop_collector,
        }
        if os.path.exists(RUNQLAT):
            configs[RQ] = runqlat
            configs[RQ_P] = lambda: runqlat("-P")
        bench(configs, args.trips, args.rounds, args.cpu, exe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
