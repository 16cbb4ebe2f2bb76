"""``bpftop record FILE``: record without a screen; the ``--record`` set-up the dashboard shares."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from bpftop.argtypes import OneLineParser
from bpftop.commands.options import (
    SIGNALS,
    add_record_args,
    add_sampling_args,
    collector_options,
    filters_of,
    panes_of,
    parse_duration,
)
from bpftop.record.errors import RecordingError
from bpftop.record.writer import RecordingWriter
from bpftop.registry import collectors_for


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
    from bpftop.engine import Engine

    p = OneLineParser(prog="bpftop record", description="Record frames to FILE, without a screen.")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--duration", type=parse_duration, default=0.0, metavar="D", help="stop after D (90s, 5m, 1h30m)"
    )
    add_sampling_args(p, comm=False)
    add_record_args(p)
    args = p.parse_args(argv)
    args.comm = ""
    collectors = collectors_for(panes_of(args))
    filters, options = filters_of(args), collector_options(args)
    engine = Engine(collectors, filters, delay_s=args.delay)
    for name, value in options.items():  # before open: the collectors load as asked
        engine.set_option(name, value)
    # No screen: record what the pane asked for shows, or every pane but
    # off-CPU stacks (they cost every context switch; `--pane stacks` has them).
    engine.set_option("visible_pane", args.pane or "*")
    writer = open_writer(args, args.file, engine, collectors)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    handlers = {sig: signal.signal(sig, request_stop) for sig in SIGNALS}
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
