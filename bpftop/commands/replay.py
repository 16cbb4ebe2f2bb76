"""``bpftop replay FILE``: the dashboard or batch output, fed from a recording.

Replay imports neither the engine's collectors nor ``bpftop.bpf``: it runs on
any machine, without root and without libbpf.
"""

from __future__ import annotations

import argparse
import os
import sys

from bpftop.argtypes import OneLineParser
from bpftop.commands.options import add_batch_args, batch_rows, check_comm
from bpftop.record.attime import AT_HELP, frame_at
from bpftop.record.errors import RecordingError
from bpftop.record.reader import Recording
from bpftop.registry import PANE_ORDER, PANES


def _speed(text: str) -> float:
    value = float(text)
    if not 0.01 <= value <= 1000:
        raise argparse.ArgumentTypeError("speed must be between 0.01 and 1000")
    return value


def replay_main(argv: list[str]) -> int:
    """``bpftop replay FILE``: the dashboard or batch output, fed from a recording."""
    p = OneLineParser(prog="bpftop replay", description="Replay a recording: no root, no BPF needed.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--at", metavar="TIME", help=f"start at TIME: {AT_HELP}")
    p.add_argument(
        "--speed", type=_speed, metavar="X", help="playback speed (batch: paces output only if given)"
    )
    p.add_argument("--paused", action="store_true", help="open the dashboard paused")
    p.add_argument("--pane", choices=PANE_ORDER, help="open on this pane")
    p.add_argument("--comm", default="", metavar="REGEX", help="only processes whose name matches")
    add_batch_args(p)
    args = p.parse_args(argv)
    if args.comm:
        check_comm(args.comm)
    try:
        recording = Recording(args.file)
    except RecordingError as exc:
        print(f"bpftop: {exc}", file=sys.stderr)
        return 1
    with recording:
        report = _Report(recording)
        if not recording.entries:
            report.flush()
            print(f"bpftop: {args.file}: no complete frame to replay", file=sys.stderr)
            return 1
        try:
            start = frame_at(recording, args.at) if args.at else 0
        except ValueError as exc:
            print(f"bpftop: --at {exc}", file=sys.stderr)
            return 2
        if args.once or args.batch or args.json:
            _replay_batch(recording, args, start)
        else:
            _replay_tui(recording, args, start)
        report.flush()
    return 0


def _replay_batch(recording: Recording, args: argparse.Namespace, start: int) -> None:
    from bpftop.batch import run_batch
    from bpftop.record.replay import EndOfRecording, ReplayFrames

    if len(recording.entries) < 2:
        print("bpftop: the recording has a single frame: no interval to show", file=sys.stderr)
        return
    # --at TIME prints the interval that ends at TIME first.
    source = ReplayFrames(recording, start=max(0, start - 1))
    try:
        run_batch(
            source,
            iterations=1 if args.once else (args.iterations or sys.maxsize),
            delay_s=recording.delay_s / args.speed if args.speed else 0.0,
            pane=args.pane,
            as_json=args.json,
            comm=args.comm,
            rows=batch_rows(args),
        )
    except (EndOfRecording, KeyboardInterrupt):
        pass
    except BrokenPipeError:  # `bpftop replay FILE -b | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _replay_tui(recording: Recording, args: argparse.Namespace, start: int) -> None:
    from bpftop.app import BpftopApp
    from bpftop.record.replay import ReplaySource
    from bpftop.terminal import terminal_problem

    problem = terminal_problem()
    if problem:
        print(f"bpftop: {problem}", file=sys.stderr)
        raise SystemExit(2)
    recorded = set(recording.header.get("collectors") or ())
    panes = [p.name for p in PANES.values() if recorded & set(p.collectors)] or ["procs"]
    source = ReplaySource(recording, start=start, speed=args.speed or 1.0, playing=not args.paused)
    app = BpftopApp(source, pane=args.pane or panes[0], comm=args.comm, panes=tuple(panes))
    app.run()


class _Report:
    """Says once, on stderr, what was damaged or unknown in a recording."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.said: set[str] = set()

    def flush(self) -> None:
        lines = [f"{self.recording.path}: {d.describe()}" for d in self.recording.damage]
        if self.recording.damage_unlisted:
            more = self.recording.damage_unlisted
            lines.append(f"{self.recording.path}: and {more:,} more damaged stretches skipped")
        lines += [f"{self.recording.path}: not shown: {t}" for t in sorted(self.recording.unknown_types)]
        for line in lines:
            if line not in self.said:
                self.said.add(line)
                print(f"bpftop: {line}", file=sys.stderr)
