#!/usr/bin/env python3
"""Benchmark the biolat collector's kernel cost per I/O against libbpf-tools (needs root).

A C workload (``tests/blockdev.py``) makes O_DIRECT 4 KiB reads on a loop
device made for the run (its backing file sits in the page cache, so each I/O
is cheap and the tracing cost shows), pinned to one CPU, with (a) nothing
attached, (b) empty programs on bpftop's tp_btf hooks (the floor), (c) bpftop's
biolat collector, (d) libbpf-tools ``biolatency -Q -D``. Configurations take
turns round by round so drift hits all alike; each figure is the median.

1. Wall clock: ns per I/O timed by the workload itself. Target: bpftop's added
   ns/IO <= biolatency's.
2. BPF run time per I/O from the kernel's BPF statistics (BPF_ENABLE_STATS):
   the sum over each tool's programs of run time / runs. Precise, but it leaves
   out the cost of entering a program (the floor's share).

Usage:
    sudo python benchmarks/bench_biolat.py [--ios N] [--rounds R] [--scheduler S]
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

import blockdev  # noqa: E402 - after the path set-up above
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
from bpftop.collectors.biolat import BiolatCollector  # noqa: E402

BIOLATENCY = "/usr/sbin/biolatency"
NOTHING, EMPTY, BPFTOP, BIOLAT = (
    "(a) nothing attached",
    "(b) empty tp_btf programs",
    "(c) bpftop biolat (tp_btf)",
    "(d) libbpf-tools biolatency -Q -D",
)


@contextmanager
def bpftop_collector() -> Iterator[set[int]]:
    collector = BiolatCollector(methods=("tp_btf",))
    collector.open(Filters())
    try:
        yield set(collector._obj.program_ids())
    finally:
        collector.close()


@contextmanager
def biolatency() -> Iterator[set[int]]:
    before = set(prog_stats())
    # It prints its banner right after attaching; stdbuf gets it to us now.
    argv = ["stdbuf", "-oL", BIOLATENCY, "-Q", "-D"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    if not banner.startswith("Tracing"):
        proc.kill()
        sys.exit(f"biolatency did not start: {banner!r} {proc.communicate()[1]!r}")
    try:
        yield {i for i, (name, _, _) in prog_stats().items() if i not in before and name.startswith("block_")}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def run_reads(device: str, ios: int, cpu: int, exe: Path) -> float:
    """ns per I/O, timed by the workload itself around its loop."""
    with blockdev.start_io(device, 0, ios, cpu=cpu, exe=exe) as wl:
        return wl.run(timeout_s=600)


def bpf_ns_per_io(ids: set[int], device: str, ios: int, cpu: int, exe: Path) -> float:
    """Sum over ``ids`` of (run time / runs) across one workload run."""
    before = prog_stats()
    run_reads(device, ios, cpu, exe)
    after = prog_stats()
    total = 0.0
    for i in ids:
        runs = after[i][2] - before[i][2]
        if runs:
            total += (after[i][1] - before[i][1]) / runs
    return total


def bench(device: str, configs: dict[str, Attach], ios: int, rounds: int, cpu: int, exe: Path) -> None:
    run_reads(device, ios // 10, cpu, exe)  # warm the page cache, caches and the CPU frequency
    wall: dict[str, list[float]] = {name: [] for name in configs}
    for r in range(rounds):
        for name, attach in configs.items():
            with attach():
                wall[name].append(run_reads(device, ios, cpu, exe))
        print(f"  round {r + 1}/{rounds}: " + "  ".join(f"{v[-1]:.0f}" for v in wall.values()))
    median = print_table(
        f"wall clock: {ios:,} O_DIRECT 4 KiB reads on CPU {cpu}, median of {rounds}", wall, "ns/IO"
    )
    # Loop I/O goes through a kworker: its scheduling moves whole runs by
    # microseconds, far more than the programs cost. The spread says how much.
    print("(indicative only when the spread is wider than the differences)")
    base = median[NOTHING]
    floor, ours = median[EMPTY] - base, median[BPFTOP] - base
    print(f"\nfloor (empty programs) added:        {floor:.1f} ns/IO")
    print(f"bpftop added above the floor:        {ours - floor:.1f} ns/IO")
    if BIOLAT in median:
        theirs = median[BIOLAT] - base
        print(f"biolatency added above the floor:    {theirs - floor:.1f} ns/IO")
        verdict = "OK" if ours <= theirs else "OVER TARGET"
        print(f"bpftop added / biolatency added:     {ours / theirs:.2f}  (target <= 1.0: {verdict})")

    runtime = bpf_run_time(configs, rounds, lambda ids: bpf_ns_per_io(ids, device, ios // 4, cpu, exe), "I/O")
    if runtime is None:
        return
    median = print_table("BPF run time per I/O (kernel BPF statistics)", runtime, "ns/IO")
    if median.get(BIOLAT):
        ratio = median[BPFTOP] / median[BIOLAT]
        verdict = "OK" if ratio <= 1.0 else "OVER TARGET"
        print(f"bpftop / biolatency:                 {ratio:.2f}  (target <= 1.0: {verdict})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ios", type=int, default=50_000, help="reads per run")
    parser.add_argument("--rounds", type=int, default=9, help="rounds (default 9)")
    parser.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1, help="CPU for the workload")
    parser.add_argument(
        "--scheduler", default="mq-deadline", help="I/O scheduler of the loop device (none: no insert event)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark loads BPF programs and makes a loop device")
    exe = blockdev.build_io()
    print(f"bpftop biolat benchmark: kernel {platform.release()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp, blockdev.loop_device(16 << 20) as device:
        Path(f"/sys/block/{Path(device).name}/queue/scheduler").write_text(args.scheduler)
        print(f"loop device {device}, scheduler {args.scheduler}")
        empty = compile_empty("empty_biolat", Path(tmp))
        configs: dict[str, Attach] = {
            NOTHING: nothing,
            EMPTY: lambda: empty_programs(empty),
            BPFTOP: bpftop_collector,
            BIOLAT: biolatency,
        }
        if not os.path.exists(BIOLATENCY):
            del configs[BIOLAT]
        bench(device, configs, args.ios, args.rounds, args.cpu, exe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
