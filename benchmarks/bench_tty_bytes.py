#!/usr/bin/env python3
"""Bytes bpftop writes to its terminal per second, in tmux, at a 1 s refresh.

Over SSH every byte of screen update crosses the network, so the dashboard
should send changed cells only. This runs the real bpftop in a detached tmux
session of each size, captures what it writes with ``tmux pipe-pane`` and
reports bytes per second after start-up, with and without ``NO_COLOR``, on
the procs pane (every row changes each second on a busy machine) and on the
syscalls pane. ``--procs N`` starts N background processes making syscalls.

Usage:
    sudo python benchmarks/bench_tty_bytes.py [--seconds 15] [--procs 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from tests.workloads import compile_c  # noqa: E402

SLEEPER_C = r"""
#include <time.h>
#include <unistd.h>
int main(void)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	for (;;) {
		getppid();
		nanosleep(&nap, NULL);
	}
}
"""


def measure(size: tuple[int, int], pane: str, no_color: bool, seconds: float, out_dir: Path) -> float:
    """Bytes per second bpftop wrote into one tmux pane, after 4 s of start-up."""
    session = f"bpftop-bytes-{os.getpid()}"
    capture = out_dir / f"{pane}-{size[0]}x{size[1]}-{int(no_color)}.out"
    env = "NO_COLOR=1 " if no_color else ""
    command = f"cd {REPO} && {env}exec {sys.executable} -m bpftop --pane {pane} -d 1"
    width, height = size
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), command],
        check=True,
    )
    try:
        time.sleep(4)  # start-up: first full paint and the collectors' first frames
        subprocess.run(["tmux", "pipe-pane", "-O", "-t", session, f"cat > {capture}"], check=True)
        time.sleep(seconds)
        subprocess.run(["tmux", "pipe-pane", "-t", session], check=True)  # stop capturing
        time.sleep(0.2)
        return capture.stat().st_size / seconds if capture.exists() else 0.0
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
        time.sleep(0.5)


def main() -> None:
    """Run every configuration and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--procs", type=int, default=100)
    args = parser.parse_args()
    if not shutil.which("tmux"):
        sys.exit("tmux not found: apt-get install tmux")
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp)
        sleeper = compile_c(SLEEPER_C, "tty_bytes_sleeper")
        background = [subprocess.Popen([str(sleeper)]) for _ in range(args.procs)]
        try:
            print(f"bytes written to the terminal per second at -d 1, {args.procs} busy processes:")
            print(f"  {'pane':10} {'size':8} {'colour':9} {'bytes/s':>8}")
            for pane in ("procs", "syscalls"):
                for size in ((80, 24), (160, 48)):
                    for no_color in (False, True):
                        rate = measure(size, pane, no_color, args.seconds, out_dir)
                        colour = "NO_COLOR" if no_color else "256"
                        print(f"  {pane:10} {size[0]}x{size[1]:<5} {colour:9} {rate:8.0f}")
        finally:
            for proc in background:
                proc.kill()
            for proc in background:
                proc.wait()


if __name__ == "__main__":
    main()
