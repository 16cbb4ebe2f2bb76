#!/usr/bin/env python3
"""Soak: does bpftop's memory or CPU per tick creep up under churn? htop beside it.

The default dashboard (tmux 80x24, 1 s refresh) and ``htop -d 10`` run side by
side for ``--minutes`` while the machine churns: ``--procs`` sleepers waking
every second, ``--churn`` fork+exec of ``true`` per second and one process
with ``--threads`` threads. Every ``--every`` seconds both tools' RSS and CPU
over the last interval are printed. At the end: RSS at 10 minutes (or the end),
the RSS slope in MB/min over the run after the first ``--settle`` minutes
(least squares), and the last 5 minutes against minutes 5-10 (for a run
shorter than 15 minutes, the last third against the middle third).
``--batch`` soaks ``bpftop -b -d 1 --json`` (output to /dev/null) instead.

Targets (issue 23): RSS <= 80 MB at 10 minutes; slope < 0.1 MB/min; the last
window within 10% of the earlier one, for RSS and CPU.

Usage:
    sudo python benchmarks/bench_soak.py [--minutes 30] [--churn 200] [--threads 2000] [--procs 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

import load  # noqa: E402
import tui  # noqa: E402


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points; 0 with fewer than two."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def windows(minutes: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(earlier, last) windows in minutes: 5-10 and the last 5, or thirds of a short run."""
    if minutes >= 15:
        return (5.0, 10.0), (minutes - 5.0, minutes)
    third = minutes / 3
    return (third, 2 * third), (2 * third, minutes)


def mean_in(rows: list[tuple[float, float, float]], window: tuple[float, float], col: int) -> float:
    values = [r[col] for r in rows if window[0] < r[0] <= window[1]]
    return statistics.fmean(values) if values else float("nan")


def report(name: str, rows: list[tuple[float, float, float]], minutes: float, settle: float) -> None:
    at10 = [r for r in rows if r[0] <= 10.0]
    rss10 = at10[-1][1] if at10 else float("nan")
    rss_slope = slope([(m, rss) for m, rss, _ in rows if m > settle])
    cpu_slope = slope([(m, cpu) for m, _, cpu in rows if m > settle])
    early, late = windows(minutes)
    print(f"\n{name}: RSS at {min(10.0, minutes):.0f} min {rss10:.1f} MB; slope after minute {settle:.0f}:"
          f" RSS {rss_slope:+.3f} MB/min, CPU {cpu_slope:+.3f} points/min")
    for col, label in ((1, "RSS MB"), (2, "CPU %")):
        a, b = mean_in(rows, early, col), mean_in(rows, late, col)
        change = 100 * (b - a) / a if a else float("nan")
        print(f"  {label:7} minutes {early[0]:.0f}-{early[1]:.0f}: {a:.2f},"
              f" {late[0]:.0f}-{late[1]:.0f}: {b:.2f} ({change:+.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--settle", type=float, default=2.0, help="minutes left out of the slope")
    parser.add_argument("--procs", type=int, default=300)
    parser.add_argument("--churn", type=int, default=200, help="fork+exec per second")
    parser.add_argument("--threads", type=int, default=2000)
    parser.add_argument("--batch", action="store_true", help="soak bpftop -b -d 1 --json instead")
    parser.add_argument("--repo", default="", help="the bpftop tree to run (default: this checkout)")
    args = parser.parse_args()

    bpftop_args = "-b -d 1 --json > /dev/null" if args.batch else ""
    tools = {"bpftop": tui.bpftop_command(bpftop_args, repo=args.repo)}
    if not args.batch:
        tools["htop"] = tui.peer_command("htop") or sys.exit("htop not installed (scripts/setup-dev.sh)")
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in tools}
    with ExitStack() as stack:
        stack.enter_context(load.running(args.procs, churn_per_s=args.churn, threads=args.threads))
        time.sleep(3)
        pids = {name: stack.enter_context(tui.session(cmd)) for name, cmd in tools.items()}
        if args.batch:  # the pane runs a shell around the redirect: watch its python child
            time.sleep(1)
            pids["bpftop"] = int(Path(f"/proc/{pids['bpftop']}/task/{pids['bpftop']}/children")
                                 .read_text().split()[0] or pids["bpftop"])
        start = time.monotonic()
        last = {name: (start, load.cpu_seconds(pid)) for name, pid in pids.items()}
        heads = " ".join(f"{n + ' RSS':>12} {n + ' CPU%':>12}" for n in tools)
        print(f"{'minute':>6} {heads}", flush=True)
        while time.monotonic() - start < args.minutes * 60:
            time.sleep(args.every)
            now = time.monotonic()
            line = f"{(now - start) / 60:6.1f} "
            for name, pid in pids.items():
                cpu = load.cpu_seconds(pid)
                t0, c0 = last[name]
                last[name] = (now, cpu)
                sample = ((now - start) / 60, load.rss_mb(pid), 100 * (cpu - c0) / (now - t0))
                rows[name].append(sample)
                line += f"{sample[1]:12.1f} {sample[2]:12.2f} "
            print(line, flush=True)
    for name, samples in rows.items():
        report(name, samples, args.minutes, args.settle)


if __name__ == "__main__":
    main()
