#!/usr/bin/env python3
"""Benchmark what stack profiling costs a busy system (needs root).

One spinning C process per CPU keeps every CPU busy and counts its loop
iterations. Configurations take turns round by round: (a) nothing attached,
(b) bpftop's CPU profile at 49 Hz (``--freq``), (c) CPU profile and off-CPU
stacks together (the stacks pane's default). For (b) and (c):

1. bpftop's cost, the target's measure: the run time of its BPF programs
   (BPF_ENABLE_STATS) plus the CPU time of the collector's reads and
   symbolization (the thread calling ``sample()`` once a second), as a share
   of all CPUs over the run. Target for (b): <= 1%. It leaves out the timer
   interrupt that delivers each sample (that costs the same for any profiler)
   and the first read, which loads the symbol tables and is shown apart.
2. The spinners' throughput against (a), which does include it; on a shared
   VM its noise is about the size of the effect, so it is only shown.

Usage:
    sudo python benchmarks/bench_stacks.py [--seconds S] [--rounds R] [--freq HZ]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import workloads  # noqa: E402 - after the path set-up above
from common import print_table, prog_stats  # noqa: E402

from bpftop.bpf._ffi import lib  # noqa: E402
from bpftop.collectors.base import Filters  # noqa: E402
from bpftop.collectors.stacks import StacksCollector  # noqa: E402

SPIN = r"""
#include <signal.h>
#include <stdio.h>
#include <time.h>

static volatile sig_atomic_t stop;
static volatile unsigned long sink;

static void on_term(int sig) { (void)sig; stop = 1; }

__attribute__((noinline)) static void work(void)
{
	for (int i = 0; i < 1000; i++)
		sink += i;
}

int main(void)
{
	struct timespec t0, t1;
	unsigned long loops = 0;

	signal(SIGTERM, on_term);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		work();
		loops++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%f\n", loops / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9));
	return 0;
}
"""
NOTHING, CPU, BOTH = "(a) nothing attached", "(b) CPU profile", "(c) CPU + off-CPU stacks"


def spin_all(
    exe: Path, seconds: float, collector: StacksCollector | None
) -> tuple[float, float, float, float]:
    """Run one spinner per CPU for ``seconds``.

    Returns:
        loops/s of all spinners, BPF run time (ns), CPU time of the reads after
        the first (ns), CPU time of the first read (ns).
    """
    procs = [
        subprocess.Popen([str(exe)], stdout=subprocess.PIPE, text=True) for _ in range(os.cpu_count() or 1)
    ]
    ids: list[int] = []
    if collector is not None:
        ids = [i for r in collector._readers.values() for i in r.obj.program_ids()]
    before = prog_stats()
    sample_ns, first_ns = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        if collector is not None:
            t0 = time.thread_time_ns()
            collector.sample()
            if first_ns:
                sample_ns += time.thread_time_ns() - t0
            else:
                first_ns = time.thread_time_ns() - t0
    after = prog_stats()
    for p in procs:
        p.send_signal(signal.SIGTERM)
    rate = sum(float(p.communicate()[0]) for p in procs)
    bpf_ns = sum(after[i][1] - before.get(i, ("", 0, 0))[1] for i in ids if i in after)
    return rate, float(bpf_ns), float(sample_ns), float(first_ns)


def main() -> None:
    """Run the rounds and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per configuration and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--freq", type=int, default=49)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_stacks: run as root")
    exe = workloads.compile_c(SPIN, "stack_spin", ("-O1", "-fno-omit-frame-pointer"))
    stats_fd = lib().bpf_enable_stats(0)  # BPF_STATS_RUN_TIME, until the fd closes
    if stats_fd < 0:
        sys.exit("bench_stacks: BPF_ENABLE_STATS failed")
    ncpu = os.cpu_count() or 1
    capacity_ns = args.seconds * ncpu * 1e9
    loops: dict[str, list[float]] = {NOTHING: [], CPU: [], BOTH: []}
    cost: dict[str, list[float]] = {CPU: [], BOTH: []}
    split: dict[str, list[float]] = {f"{CPU}: BPF": [], f"{CPU}: sample()": []}
    first: dict[str, list[float]] = {CPU: [], BOTH: []}
    try:
        for _ in range(args.rounds):
            for name in (NOTHING, CPU, BOTH):
                collector = None
                if name != NOTHING:
                    collector = StacksCollector(args.freq, off_cpu=name == BOTH)
                    collector.open(Filters())
                try:
                    rate, bpf_ns, sample_ns, first_ns = spin_all(exe, args.seconds, collector)
                finally:
                    if collector is not None:
                        collector.close()
                loops[name].append(rate / 1e6)
                if name != NOTHING:
                    # The reads after the first cover seconds - 1 of sampling.
                    cost[name].append(100 * (bpf_ns + sample_ns) / capacity_ns)
                    first[name].append(first_ns / 1e6)
                if name == CPU:
                    split[f"{CPU}: BPF"].append(100 * bpf_ns / capacity_ns)
                    split[f"{CPU}: sample()"].append(100 * sample_ns / capacity_ns)
    finally:
        os.close(stats_fd)
    print(f"{ncpu} CPUs busy, {args.freq} Hz, {args.seconds:g} s x {args.rounds} rounds")
    medians = print_table("bpftop's cost (BPF run time + collector CPU)", cost, "% of CPUs")
    print_table("  of which, CPU profile", split, "% of CPUs")
    print_table("first read (loads kallsyms and every running binary's symbols)", first, "ms")
    rates = print_table("spinner throughput", loops, "M loops/s")
    for name in (CPU, BOTH):
        print(f"{name}: throughput {100 * (rates[name] / rates[NOTHING] - 1):+.2f}% vs (a)")
    verdict = "met" if medians[CPU] <= 1.0 else "NOT met"
    print(f"\ntarget: CPU profile at {args.freq} Hz adds <= 1% CPU: {medians[CPU]:.3f}% ({verdict})")


if __name__ == "__main__":
    main()
