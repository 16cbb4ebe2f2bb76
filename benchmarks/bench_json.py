#!/usr/bin/env python3
"""CPU per tick and bytes per line of ``bpftop -b -d 1 --json``, with ``top -b -d 1`` beside it.

With ``--procs`` background processes waking every second, each round runs
``bpftop -b -d 1 --json -n N`` and ``top -b -d 1 -n N`` in turns (order
rotating), output to a file; the CPU time of the run after its ``--warm``-th
line divided by the lines (ticks) after it, and the bytes per line. Medians
over ``--rounds``. The lines before are start-up: bpftop's first seconds load
the symbol tables of every binary on a sampled stack (~0.3 s of CPU once,
15 ms a tick when spread over 20), which is not what a tick costs; their CPU
is printed apart (``warm-up``).

Target (issue 23): <= 20 ms of CPU per tick at 300 processes; bounded output.

Usage:
    sudo python benchmarks/bench_json.py [--procs 300] [--ticks 20] [--warm 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

import load  # noqa: E402
import tui  # noqa: E402


def run(argv: list[str], ticks: int, warm: int, cwd: Path) -> tuple[float, float, float]:
    """(CPU ms per tick after the ``warm``-th line, output bytes per tick, CPU s before) of one run.

    The run prints ``warm + ticks`` lines.
    """
    with tempfile.TemporaryFile() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, cwd=cwd)
        # Wait for the warm-up's last line, then count CPU from there.
        first_cpu = 0.0
        while proc.poll() is None:
            out.seek(0)
            if out.read().count(b"\n") >= warm:
                first_cpu = load.cpu_seconds(proc.pid)
                break
            time.sleep(0.02)
        proc.wait()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        size = out.seek(0, os.SEEK_END)
    per_tick = 1000 * (total - first_cpu) / max(1, ticks)
    return per_tick, size / (ticks + warm), first_cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--procs", type=int, default=300)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--warm", type=int, default=5, help="lines of start-up before CPU is counted")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repo", default="", help="the bpftop tree to run (default: this checkout)")
    args = parser.parse_args()
    repo = Path(args.repo or tui.REPO)
    python = str(tui.REPO / ".venv" / "bin" / "python")
    tools = {
        "bpftop": (
            [python, "-m", "bpftop", "-b", "-d", "1", "--json", "-n", str(args.warm + args.ticks)],
            "JSON",
        ),
        "top": (["top", "-b", "-d", "1", "-n", str(args.warm + args.ticks)], "text"),
    }
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in tools}
    with load.running(sleepers=args.procs):
        time.sleep(3)
        for r in range(args.rounds):
            for name in list(tools)[r % 2 :] + list(tools)[: r % 2]:
                results[name].append(run(tools[name][0], args.ticks, args.warm, repo))
                ms, size, warm_s = results[name][-1]
                print(
                    f"  round {r + 1} {name:6} {ms:6.2f} ms CPU per tick, {size / 1e3:7.1f} kB per tick,"
                    f" warm-up {warm_s:.2f} s CPU",
                    flush=True,
                )
    print(f"\nmedians, {args.procs} processes, {args.ticks} ticks after {args.warm} lines,", end="")
    print(f" {args.rounds} rounds:")
    med: dict[str, tuple[float, ...]] = {}
    for name, runs in results.items():
        med[name] = tuple(statistics.median(run[i] for run in runs) for i in range(3))
    for name, (ms, size, warm_s) in med.items():
        print(
            f"  {name:6} {ms:6.2f} ms CPU per tick, {size / 1e3:7.1f} kB per tick ({tools[name][1]}),"
            f" warm-up {warm_s:.2f} s CPU"
        )
    print(
        f"  bpftop/top CPU per tick = {med['bpftop'][0] / med['top'][0]:.1f};"
        f" target <= 20 ms: {'ok' if med['bpftop'][0] <= 20 else 'OVER'}"
    )


if __name__ == "__main__":
    main()
