#!/usr/bin/env python3
"""CPU and memory of bpftop's default dashboard against htop, top and btop on the same load.

Each tool runs in tmux at 80x24 with a 1 s refresh (``htop -d 10``,
``top -d 1``, btop with ``update_ms = 1000``; bpftop with no options: every
collector loaded, the procs pane shown) while ``--procs`` background
processes each wake every second and make a few syscalls. Round by round the
tools take turns (the order rotates), each started afresh: ``--warmup``
seconds of start-up, then its CPU time over ``--seconds`` and its RSS at the
end. Medians over ``--rounds``; the verdict is bpftop's CPU over htop's in
the same run (target <= 1.0) and bpftop's RSS (target <= 80 MB).

Usage:
    sudo python benchmarks/bench_vs_top.py [--procs 300 3000] [--rounds 3] [--seconds 20]
        [--bpftop-args ""] [--python PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

import load  # noqa: E402
import tui  # noqa: E402


def measure(command: str, warmup_s: float, seconds: float) -> tuple[float, float]:
    """(% of one core over ``seconds`` after ``warmup_s``, RSS in MB at the end) of one run."""
    with tui.session(command) as pid:
        time.sleep(warmup_s)
        c0, t0 = load.cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = load.cpu_seconds(pid), time.monotonic()
        return 100 * (c1 - c0) / (t1 - t0), load.rss_mb(pid)


def run(
    procs: int, rounds: int, seconds: float, bpftop_args: str, python: str, repo: str = ""
) -> dict[str, tuple[float, float]]:
    """Medians (CPU %, RSS MB) per tool at ``procs`` background processes."""
    tools = {"bpftop": tui.bpftop_command(bpftop_args, python, repo)}
    for peer in ("htop", "top", "btop"):
        command = tui.peer_command(peer)
        if command is None:
            print(f"  {peer} not installed: left out (scripts/setup-dev.sh installs it)")
        else:
            tools[peer] = command
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in tools}
    names = list(tools)
    with load.running(sleepers=procs):
        time.sleep(3)
        for r in range(rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                # bpftop loads its BPF programs and symbols first; the others start at once.
                warmup = 8.0 if name == "bpftop" else 3.0
                cpu, rss = measure(tools[name], warmup, seconds)
                results[name].append((cpu, rss))
                print(f"  round {r + 1} {name:7} {cpu:5.2f}% of a core, RSS {rss:6.1f} MB", flush=True)
    return {
        name: (statistics.median(c for c, _ in runs), statistics.median(m for _, m in runs))
        for name, runs in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--procs", type=int, nargs="+", default=[300, 3000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--bpftop-args", default="", help="e.g. '--pane syscalls'")
    parser.add_argument("--python", default="", help="interpreter for bpftop (default: .venv)")
    parser.add_argument("--repo", default="", help="the bpftop tree to run (default: this checkout)")
    args = parser.parse_args()
    for procs in args.procs:
        print(f"\n{procs} background processes waking every second,"
              f" {args.rounds} rounds of {args.seconds:.0f} s")
        medians = run(procs, args.rounds, args.seconds, args.bpftop_args, args.python, args.repo)
        print(f"\nmedians at {procs} processes:")
        for name, (cpu, rss) in medians.items():
            print(f"  {name:7} {cpu:5.2f}% of a core   RSS {rss:6.1f} MB")
        if "htop" in medians and medians["htop"][0] > 0:
            ratio = medians["bpftop"][0] / medians["htop"][0]
            verdict = "ok" if ratio <= 1.0 else "OVER"
            print(f"  bpftop/htop CPU = {ratio:.2f} (target <= 1.0: {verdict});"
                  f" bpftop RSS {medians['bpftop'][1]:.0f} MB (target <= 80 MB)")


if __name__ == "__main__":
    main()
