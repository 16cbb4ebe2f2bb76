"""``bpftop record FILE`` (headless) and ``bpftop replay FILE``; the ``--record`` set-up.

Replay imports neither the engine's collectors nor ``bpftop.bpf``: it runs on
any machine, without root and without libbpf.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from bpftop.argtypes import OneLineParser
from bpftop.outfile import DEFAULT_MODE, parse_mode
from bpftop.record.attime import AT_HELP, frame_at
from bpftop.record.detail import BUDGET_BYTES_PER_HOUR, MAX_EVERY_S
from bpftop.record.errors import RecordingError
from bpftop.record.reader import Recording
from bpftop.record.writer import RecordingWriter
from bpftop.registry import PANE_ORDER, PANES, collectors_for

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_size(text: str) -> int:
    """``100M``, ``1.5G``, ``500k``, ``123456`` (decimal units) in bytes."""
    match = _SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a size like 100M, 2G or 500k")
    scale = 1000 ** " kmgt".index((match.group(2) or " ").lower())
    number = float(match.group(1))
    if number * scale > 2**63:  # 400 digits are inf as a float, and no file is that big
        raise argparse.ArgumentTypeError(f"{text!r}: expected a size like 100M, 2G or 500k")
    size = int(number * scale)
    if size < 4096:
        raise argparse.ArgumentTypeError(f"{text!r}: a recording needs at least 4k")
    return size


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h30m`` in seconds."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration like 90, 90s, 5m or 1h30m")
    hours, minutes, seconds = (float(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the duration must be positive")
    return total


def _speed(text: str) -> float:
    value = float(text)
    if not 0.01 <= value <= 1000:
        raise argparse.ArgumentTypeError("speed must be between 0.01 and 1000")
    return value


def _detail(text: str) -> float:
    if text.strip().lower() == "auto":
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= MAX_EVERY_S:
        raise argparse.ArgumentTypeError(f"{text!r}: expected auto or seconds up to {MAX_EVERY_S:g}")
    return value


def _mode(text: str) -> int:
    try:
        return parse_mode(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected octal permissions like 600 or 644") from None


def add_record_args(p: argparse.ArgumentParser) -> None:
    """``--force``, ``--max-size``, ``--detail``, ``--budget``: for ``--record`` and ``bpftop record``."""
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite the recording file if it exists (only a regular file of yours, never a link)",
    )
    p.add_argument(
        "--mode",
        type=_mode,
        default=DEFAULT_MODE,
        metavar="OCTAL",
        help="permissions of the recording file (default 600: it names every process)",
    )
    p.add_argument(
        "--max-size",
        type=parse_size,
        default=0,
        metavar="SIZE",
        help="stop recording before the file exceeds SIZE (e.g. 100M); the dashboard goes on",
    )
    p.add_argument(
        "--detail",
        type=_detail,
        default=0.0,
        metavar="SECONDS",
        help="record per-process tables every SECONDS (the refresh interval or less: every frame);"
        " default auto: every frame while the recording stays within --budget, less often on a busy machine",
    )
    p.add_argument(
        "--budget",
        type=parse_size,
        default=BUDGET_BYTES_PER_HOUR,
        metavar="SIZE",
        help="bytes per hour the automatic --detail aims at (default 10M)",
    )


def open_writer(args: argparse.Namespace, path: str, engine: Any, collectors: list[str]) -> RecordingWriter:
    """Create the recording before anything is loaded; exit with the reason if impossible."""
    try:
        return RecordingWriter(
            path,
            host=engine.host,
            collectors=collectors,
            delay_s=engine.delay_s,
            force=args.force,
            mode=args.mode,
            max_size=args.max_size,
            detail_s=args.detail,
            budget=args.budget,
        )
    except RecordingError as exc:
        sys.exit(f"bpftop: {exc}")


def discard_if_empty(writer: RecordingWriter) -> None:
    """Remove a recording that never got a frame (nothing could be sampled)."""
    writer.close()
    if writer.frames == 0:
        with contextlib.suppress(OSError):
            os.unlink(writer.path)


def record_main(argv: list[str]) -> int:
    """``bpftop record FILE``: record without a screen until the duration, Ctrl-C or SIGTERM."""
    from bpftop import cli
    from bpftop.engine import Engine

    p = OneLineParser(prog="bpftop record", description="Record frames to FILE, without a screen.")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--duration", type=parse_duration, default=0.0, metavar="D", help="stop after D (90s, 5m, 1h30m)"
    )
    cli.add_sampling_args(p, comm=False)
    add_record_args(p)
    args = p.parse_args(argv)
    args.comm = ""
    collectors = collectors_for(cli.panes_of(args))
    engine = Engine(collectors, cli.filters_of(args), delay_s=args.delay)
    # No screen: record what the pane asked for shows, or every pane but
    # off-CPU stacks (they cost every context switch; `--pane stacks` has them).
    engine.set_option("visible_pane", args.pane or "*")
    writer = open_writer(args, args.file, engine, collectors)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    handlers = {
        sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        engine.open()
        for status in engine.status:
            if not status.ok:
                print(f"bpftop: {status.name}: not recorded: {status.error}", file=sys.stderr)
        if not engine.any_running:
            discard_if_empty(writer)
            print("bpftop: no collector could start; `bpftop check` tells why", file=sys.stderr)
            return 1
        until = f" for {args.duration:g} s" if args.duration else " until Ctrl-C"
        print(f"bpftop: recording to {args.file} every {args.delay:g} s{until}", file=sys.stderr)
        _record_loop(engine, writer, stop, args.delay, args.duration)
    finally:
        writer.close()
        engine.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if writer.state in ("failed", "stopped"):
        print(f"bpftop: recording {writer.state}: {writer.message}", file=sys.stderr)
    print(f"bpftop: recorded {writer.summary()}", file=sys.stderr)
    return 1 if writer.state == "failed" else 0


def _record_loop(
    engine: Any, writer: RecordingWriter, stop: threading.Event, delay_s: float, duration_s: float
) -> None:
    # A signal only sets `stop`: the frame being taken is finished and written,
    # then one last frame is taken so the recording reaches the moment it stopped.
    deadline = time.monotonic() + duration_s if duration_s else None
    next_at = time.monotonic()
    while writer.append(engine.tick()) and not stop.is_set():
        now = time.monotonic()
        if deadline is not None and now >= deadline - 1e-3:
            return
        next_at = max(next_at + delay_s, now)
        stop.wait(max(0.0, (next_at if deadline is None else min(next_at, deadline)) - now))


def replay_main(argv: list[str]) -> int:
    """``bpftop replay FILE``: the dashboard or batch output, fed from a recording."""
    from bpftop import cli

    p = OneLineParser(prog="bpftop replay", description="Replay a recording: no root, no BPF needed.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--at", metavar="TIME", help=f"start at TIME: {AT_HELP}")
    p.add_argument(
        "--speed", type=_speed, metavar="X", help="playback speed (batch: paces output only if given)"
    )
    p.add_argument("--paused", action="store_true", help="open the dashboard paused")
    p.add_argument("--pane", choices=PANE_ORDER, help="open on this pane")
    p.add_argument("--comm", default="", metavar="REGEX", help="only processes whose name matches")
    cli.add_batch_args(p)
    args = p.parse_args(argv)
    cli.filters_of(argparse.Namespace(cgroup=None, comm=args.comm, pid=0, user=None))  # checks --comm
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
