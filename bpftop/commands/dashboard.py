"""``bpftop [options]``: the dashboard, or batch output (``--once``, ``-b``, ``--json``), live.

``--record FILE`` also records every frame (the writer comes from ``commands/record.py``).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from bpftop.commands.options import SIGNALS, batch_rows, collector_options, filters_of, panes_of
from bpftop.engine import Engine
from bpftop.exiting import ExitGuard
from bpftop.privileges import privilege_problem
from bpftop.registry import PANES, collectors_for
from bpftop.source import Source


def run(args: argparse.Namespace) -> int:
    """Run what the parsed ``bpftop`` options ask for; the exit code."""
    batch = args.once or args.batch or args.json
    if not batch:
        from bpftop.terminal import terminal_problem

        problem = terminal_problem()
        if problem:  # before anything loads
            print(f"bpftop: {problem}", file=sys.stderr)
            return 2
    from bpftop.heap import one_malloc_arena

    one_malloc_arena()  # before the guard's and the engine's threads
    panes = panes_of(args)
    filters, options = filters_of(args), collector_options(args)
    engine = Engine(collectors_for(panes), filters, delay_s=args.delay)
    for name, value in options.items():  # before open: the collectors load as asked
        engine.set_option(name, value)
    _bpf_options(engine, args, batch)
    source, writer = _recording(args, engine, collectors_for(panes), batch) if args.record else (engine, None)
    # SIGINT, SIGTERM and SIGHUP unwind through `finally` (or ask the dashboard
    # to exit) once; the guard's watchdog ends the process if that takes over
    # 2 s (a stuck collector). The kernel drops fd-based links on any exit.
    guard = ExitGuard()
    guard.install()
    from bpftop.bpf.log import defer_signals

    defer_signals(*SIGNALS)  # never lost inside a libbpf callback
    code = 1
    try:
        code = _run(engine, source, writer, args, tuple(panes), guard=guard if not batch else None)
        return code
    except KeyboardInterrupt:  # Ctrl-C while loading (the dashboard takes it as a key)
        code = 128 + signal.SIGINT
        return code
    finally:
        guard.on_signal(None)
        guard.request(code)  # unwinding: later signals wait for it, the watchdog bounds it
        source.close()
        engine.close()
        if writer is not None and writer.frames:
            stopped = f"recording {writer.state}: {writer.message}; " if writer.message else ""
            print(f"bpftop: {stopped}recorded {writer.summary()}", file=sys.stderr)
        guard.settle()


def _bpf_options(engine: Engine, args: argparse.Namespace, batch: bool) -> None:
    """What collectors that cost more while looked at (BPF statistics, pmc, off-CPU stacks) do.

    Set before the engine opens, so nothing costly starts only to stop at the
    first frame. The dashboard then tells them which pane is on screen; batch
    output shows the pane asked for, or every pane (``*``), which does not
    take off-CPU stacks: they cost every context switch two stack walks, so
    they take asking for (``--pane stacks``). Likewise syscall latency:
    timing costs each syscall a second program, so batch output times
    syscalls only for a pane that shows their latency (``--pane syscalls``,
    and ``--pane procs`` in JSON); output of every pane counts them.
    """
    if args.bpf_stats:
        engine.set_option("bpf_stats", True)
    engine.set_option("visible_pane", args.pane or ("*" if batch else "procs"))
    if batch:
        engine.set_option("syscall_latency", batch_times_syscalls(args.pane, args.json))


def batch_times_syscalls(pane: str | None, as_json: bool) -> bool:
    """Whether batch output of ``pane`` (None: every pane) shows syscall latency, so times syscalls."""
    return pane == "syscalls" or (pane == "procs" and as_json)


def _report_nothing_running(engine: Engine, writer: Any) -> None:
    """Every collector failed: say why, and drop a recording that got no frame."""
    for s in engine.status:
        print(f"bpftop: {s.name}: {s.error}", file=sys.stderr)
        if s.hint:
            print(f"  hint: {s.hint}", file=sys.stderr)
    print("bpftop: no collector could start; `bpftop check` tells why", file=sys.stderr)
    if writer is not None:
        from bpftop.commands.record import discard_if_empty

        discard_if_empty(writer)


def _run_batch(source: Source, args: argparse.Namespace) -> None:
    """``--once``, ``-b`` and ``--json``: text or JSON lines until done or interrupted."""
    from bpftop.batch import run_batch

    iterations = 1 if args.once else (args.iterations or sys.maxsize)
    try:
        run_batch(
            source,
            iterations=iterations,
            delay_s=args.delay,
            pane=args.pane,
            as_json=args.json,
            comm=args.comm,
            rows=batch_rows(args),
        )
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()  # `bpftop -b | head`: stop quietly


def _run(
    engine: Engine,
    source: Source,
    writer: Any,
    args: argparse.Namespace,
    panes: tuple[str, ...],
    *,
    guard: ExitGuard | None,
) -> int:
    """Batch output, or the dashboard given its exit ``guard``; the exit code."""
    if guard is None or privilege_problem():  # not root: nothing to load, say so without drawing
        engine.open()
        if not engine.any_running:
            _report_nothing_running(engine, writer)
            return 1
    if guard is None:
        _run_batch(source, args)
        return 0
    return _run_dashboard(source, engine, writer, args, panes=panes, guard=guard)


def _run_dashboard(
    source: Source,
    engine: Engine,
    writer: Any,
    args: argparse.Namespace,
    *,
    panes: tuple[str, ...],
    guard: ExitGuard,
) -> int:
    """The dashboard until quit; its exit code (1 when no collector could load)."""
    from bpftop.app import BpftopApp

    first = args.pane or "procs"

    def opener() -> bool:
        engine.open(PANES[first].collectors)  # the shown pane's collectors: its rows come first
        if not engine.any_running:  # none of them loaded: the others may
            engine.open()
        return engine.any_running

    # The collectors load in the app's sampling thread, after the layout is
    # drawn: loading BPF objects takes seconds on a loaded machine (issue 23).
    # The others (stacks reads every binary's symbols) after the first frame.
    app = BpftopApp(
        source, pane=first, comm=args.comm, delay_s=args.delay, panes=panes, guard=guard,
        opener=opener, open_rest=engine.open,
    )  # fmt: skip
    app.run()
    if app.nothing_running:
        _report_nothing_running(engine, writer)
        return 1
    return app.return_code or 0


def _recording(
    args: argparse.Namespace, engine: Engine, collectors: list[str], batch: bool
) -> tuple[Source, Any]:
    """``--record FILE``: the file is created before anything loads, so its errors come first."""
    from bpftop.commands.record import open_writer
    from bpftop.record.source import RecordingSource

    writer = open_writer(args, args.record, engine, collectors)
    # Batch output says at once when recording stops; the dashboard shows it in its header.
    report = (lambda message: print(f"bpftop: {message}", file=sys.stderr)) if batch else None
    return RecordingSource(engine, writer, report), writer
