#!/usr/bin/env python3
"""Where a tick's CPU time and memory go: per collector, procinfo, derive per view.

Runs the engine with the default dashboard's collectors in this process
(as the dashboard's worker thread does) under a background load, and prints
the median CPU time per tick of each part: every collector's ``sample``,
``ProcInfo.lookup`` (the /proc reads) and every view's ``derive_view``; with
``--profile``, cProfile's top functions; with ``--tracemalloc``, the
allocation sites whose size grew most between the first and the last third
of the run (what leaks under churn).

Usage:
    sudo python benchmarks/breakdown.py [--seconds 60] [--procs 300] [--churn 0] [--threads 0]
        [--json] [--profile] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import json
import pstats
import statistics
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import load  # noqa: E402

from bpftop.batch import to_json  # noqa: E402
from bpftop.collectors.base import Filters  # noqa: E402
from bpftop.derive import LazyViews, derive  # noqa: E402
from bpftop.derive.procs import proc_rows  # noqa: E402
from bpftop.engine import Engine  # noqa: E402
from bpftop.registry import PANE_ORDER, PANES, STEMS, collectors_for  # noqa: E402

Times = dict[str, list[float]]


def _timed(times: Times, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            times[name].append(time.thread_time() - t0)

    return wrapper


def instrument(engine: Engine, times: Times) -> None:
    """Wrap every collector's sample, the procinfo lookup and every derive_view with a CPU timer."""
    for name, collector in engine._collectors.items():
        collector.sample = _timed(times, f"sample {name}", collector.sample)  # type: ignore[method-assign]
    engine._procinfo.lookup = _timed(times, "procinfo", engine._procinfo.lookup)  # type: ignore[method-assign]
    for stem, entry in STEMS.items():
        module = importlib.import_module(entry.deriver)
        module.derive_view = _timed(times, f"derive {stem}", module.derive_view)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--procs", type=int, default=300)
    parser.add_argument("--churn", type=int, default=0, help="fork+exec per second")
    parser.add_argument("--threads", type=int, default=0, help="threads of one extra process")
    parser.add_argument("--pane", default="procs", help="the pane on screen (derive its views)")
    parser.add_argument(
        "--json", action="store_true", help="as `bpftop -b --json`: every collector, the JSON line timed"
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()

    with load.running(sleepers=args.procs, churn_per_s=args.churn, threads=args.threads):
        time.sleep(2)
        engine = Engine(collectors_for(list(PANE_ORDER)), Filters(), delay_s=1.0)
        # Before open, as the cli tells the dashboard's (batch output: "*", every pane).
        engine.set_option("visible_pane", "*" if args.json else args.pane)
        if args.json:
            engine.set_option("syscall_latency", False)
        t0 = time.thread_time()
        engine.open()
        print(f"open: {time.thread_time() - t0:.2f} s CPU; collectors {', '.join(engine._collectors)}")
        times: Times = defaultdict(list)
        instrument(engine, times)
        prev = None
        profiler = cProfile.Profile() if args.profile else None
        snapshots = []
        if args.tracemalloc:
            tracemalloc.start(4)
        ticks = int(args.seconds)
        start = time.monotonic()
        try:
            for i in range(ticks):
                if profiler and i >= 2:
                    profiler.enable()
                c0 = time.thread_time()
                frame = engine.tick()
                c1 = time.thread_time()
                derived = derive(prev, frame)
                if args.json:
                    json.dumps(to_json(derived, None), separators=(",", ":"))
                elif isinstance(derived.views, LazyViews):  # as the dashboard: the pane's views
                    shown = PANES.get(args.pane)
                    derived.views.warm(shown.views if shown is not None else derived.views)
                c2 = time.thread_time()
                if args.pane == "procs" and not args.json:  # the procs pane's join (on the UI's event loop)
                    proc_rows(derived)
                times["procs join"].append(time.thread_time() - c2)
                if profiler:
                    profiler.disable()
                times["tick"].append(c1 - c0)
                times["derive" + (" + JSON" if args.json else "")].append(c2 - c1)
                prev = frame
                if args.tracemalloc and i in (ticks // 3, ticks - 1):
                    gc.collect()
                    snapshots.append(tracemalloc.take_snapshot())
                    print(f"tick {i}: traced {tracemalloc.get_traced_memory()[0] / 1e6:.1f} MB")
                time.sleep(max(0.0, start + i + 1 - time.monotonic()))
        finally:
            engine.close()
    shown = len(prev.procs) if prev else 0
    print(f"\nCPU ms per tick, median over ticks 2..{ticks} (first tick apart), {args.procs} sleepers,"
          f" churn {args.churn}/s, {args.threads} threads; {shown} processes in the last frame")
    for name, values in sorted(times.items(), key=lambda kv: -statistics.median(kv[1][2:] or kv[1])):
        rest = values[2:] or values
        median, first, worst = (1e3 * statistics.median(rest), 1e3 * values[0], 1e3 * max(rest))
        print(f"  {name:20} {median:7.2f}   (first {first:.1f}, max {worst:.1f})")
    if profiler:
        print()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    if snapshots:
        held = sum(s.size for s in snapshots[-1].statistics("filename")) / 1e6
        print(f"\nheld at the end (traced, top 12 files): {held:.1f} MB")
        for stat in snapshots[-1].statistics("filename")[:12]:
            print(f"  {stat.size / 1e6:7.2f} MB  {stat.traceback[0].filename.split('site-packages/')[-1]}")
    if len(snapshots) == 2:
        print("\ngrowth between a third of the run and its end (top 15 sites):")
        for stat in snapshots[1].compare_to(snapshots[0], "traceback")[:15]:
            print(f"  {stat.size_diff / 1e3:+9.1f} kB {stat.count_diff:+7d} blocks")
            for line in stat.traceback.format()[-6:]:
                print("     ", line)


if __name__ == "__main__":
    main()
