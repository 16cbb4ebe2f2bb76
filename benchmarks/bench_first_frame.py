#!/usr/bin/env python3
"""Time to bpftop's first frame, quiet and at load, with htop's in the same run.

Each round starts the tool in a fresh tmux session (80x24) and polls the pane
every 20 ms: the **first frame** is when the table's heading (``PID``) is on
screen; **data** is when a process row is (a line starting with a pid), for
bpftop after its collectors loaded and ticked. Rounds alternate bpftop and
htop, quiet (nothing else started) and at load (``--load`` busy-looping
processes, 4 on the 2-vCPU VM: load average 4); medians. bpftop's modules
are byte-compiled first, as ``pip install .`` leaves them. Also prints
``python -X importtime -c 'import bpftop.app'``'s total, the import cost
inside the first frame.

Targets (issue 23): first frame <= 0.5 s quiet, <= 2 s at load 4.

Usage:
    sudo python benchmarks/bench_first_frame.py [--rounds 5] [--load 4]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

import tui  # noqa: E402

ROW = re.compile(r"^\s*\d+\s+\S", re.MULTILINE)  # a process row: its pid, then more
TIMEOUT_S = 30.0


@contextmanager
def spinners(count: int) -> Iterator[None]:
    """``count`` processes spinning on a CPU each."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def first_frame(command: str) -> tuple[float, float]:
    """(seconds to the table heading, seconds to the first process row); nan if never."""
    start = time.monotonic()
    heading = data = float("nan")
    with tui.session(command) as pid:
        while time.monotonic() - start < TIMEOUT_S:
            text = tui.pane_text(pid)
            now = time.monotonic() - start
            if heading != heading and "PID" in text:
                heading = now
            if heading == heading and ROW.search(text.split("PID", 1)[-1]):
                data = now
                break
            time.sleep(0.02)
    return heading, data


def import_ms(python: str) -> float:
    """Total of ``-X importtime`` for ``import bpftop.app`` (cumulative of the top-level imports)."""
    out = subprocess.run(
        [python, "-X", "importtime", "-c", "import bpftop.app"], capture_output=True, text=True, check=True,
        cwd=tui.REPO,
    )  # fmt: skip
    total = 0
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("  "):
            total += int(parts[1])  # top-level imports only: their cumulative times add up
    return total / 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--load", type=int, default=4, help="spinning processes for the loaded rounds")
    parser.add_argument("--repo", default="", help="the bpftop tree to run (default: this checkout)")
    args = parser.parse_args()
    python = str(tui.REPO / ".venv" / "bin" / "python")
    # As `pip install .` leaves it: byte-compiled. A checkout run with
    # PYTHONDONTWRITEBYTECODE=1 (this VM's environment) compiled every module
    # of bpftop from source at each start, ~0.1 s of its first frame.
    for tree in {tui.REPO, Path(args.repo or tui.REPO)}:
        subprocess.run([python, "-m", "compileall", "-q", str(tree / "bpftop")], check=True)
    imports = [import_ms(python) for _ in range(3)]
    print(f"import bpftop.app: median {statistics.median(imports):.0f} ms (-X importtime, top-level sum)")
    tools = {"bpftop": tui.bpftop_command(repo=args.repo), "htop": tui.peer_command("htop")}
    for label, count in (("quiet", 0), (f"load {args.load}", args.load)):
        commands = {name: cmd for name, cmd in tools.items() if cmd}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        with spinners(count):
            time.sleep(2 if count else 0)
            for r in range(args.rounds):
                for name, command in commands.items():
                    results[name].append(first_frame(command))
                    heading, data = results[name][-1]
                    print(f"  {label} round {r + 1} {name:6} first frame {heading:.2f} s, data {data:.2f} s",
                          flush=True)
        print(f"\n{label}, medians of {args.rounds}:")
        medians = {}
        for name, runs in results.items():
            medians[name] = (statistics.median(h for h, _ in runs), statistics.median(d for _, d in runs))
            print(f"  {name:6} first frame {medians[name][0]:.2f} s, data {medians[name][1]:.2f} s")
        target = 0.5 if count == 0 else 2.0
        if "htop" in medians:
            print(f"  bpftop/htop first frame = {medians['bpftop'][0] / medians['htop'][0]:.1f};"
                  f" target <= {target} s: {'ok' if medians['bpftop'][0] <= target else 'OVER'}")


if __name__ == "__main__":
    main()
