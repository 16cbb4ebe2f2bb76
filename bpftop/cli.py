"""Command line: ``bpftop [options]``, ``bpftop check``, ``bpftop record``, ``bpftop replay``.

``record`` and ``replay`` live in ``bpftop/record/commands.py``; this module
keeps the options they share with the dashboard.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any

from bpftop import __version__, argtypes
from bpftop.collectors.base import Filters
from bpftop.engine import Engine
from bpftop.exiting import ExitGuard
from bpftop.privileges import privilege_problem
from bpftop.registry import PANE_ORDER, PANES, collectors_for
from bpftop.source import Source

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PROFILE_WRITE_S = 10.0  # after Ctrl-C, what `profile` may take to finish writing


def _delay(text: str) -> float:
    value = float(text)
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError("refresh interval must be between 0.05 and 3600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The main parser (subcommands are handled before it)."""
    from bpftop.record.commands import add_record_args

    p = argtypes.OneLineParser(
        prog="bpftop",
        description="A top-like dashboard of syscalls (and more) per process, powered by eBPF.",
        epilog="Subcommands: `bpftop check` reports what this machine supports; "
        "`bpftop record FILE` records without a screen; `bpftop replay FILE` replays (no root needed); "
        "`bpftop profile` writes folded stacks or speedscope JSON.",
    )
    p.add_argument("--version", action="version", version=f"bpftop {__version__}")
    add_sampling_args(p)
    add_batch_args(p)
    p.add_argument(
        "--bpf-stats",
        action="store_true",
        help="keep the kernel's BPF run-time statistics on for the whole run (bpf pane); "
        "by default they are on only while the bpf pane is shown, as they cost every BPF program",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log libbpf messages to stderr (batch)")
    p.add_argument("--record", metavar="FILE", help="also record every frame to FILE (see docs/recording.md)")
    add_record_args(p)
    return p


def add_sampling_args(p: argparse.ArgumentParser, comm: bool = True) -> None:
    """``--pane``, ``-d``, and the filters (``--comm`` only where it applies)."""
    p.add_argument("--pane", choices=PANE_ORDER, help="open on this pane and load only its collectors")
    p.add_argument(
        "-d",
        "--delay",
        type=_delay,
        default=1.0,
        metavar="SECONDS",
        help="refresh interval (default 1; fractions allowed)",
    )
    p.add_argument(
        "-p", "--pid", type=argtypes.pid, default=0, help="only this process (filtered in the kernel)"
    )
    p.add_argument("-u", "--user", type=argtypes.uid, help="only this user's processes (name or uid; kernel)")
    if comm:
        p.add_argument("--comm", default="", metavar="REGEX", help="only processes whose name matches")
    p.add_argument(
        "--cgroup",
        type=argtypes.cgroup,
        metavar="PATH",
        help="only tasks in this cgroup v2 directory (kernel)",
    )
    p.add_argument(
        "--freq", type=argtypes.freq, metavar="HZ", help="stacks pane: CPU samples a second per CPU (49)"
    )
    p.add_argument(
        "--pmc-events",
        metavar="LIST",
        help="pmc pane counters, comma-separated: names (cycles, instructions, cache-misses, "
        "task-clock, page-faults, ...), raw codes (r01c2) or cpu/event=0x3c,umask=0x0/ "
        "(default: cycles,instructions,cache-references,cache-misses)",
    )


def add_batch_args(p: argparse.ArgumentParser) -> None:
    """``--once``, ``-b``, ``-n``, ``--json``."""
    p.add_argument("--once", action="store_true", help="print one interval as text and exit")
    p.add_argument("-b", "--batch", action="store_true", help="print intervals as text, like top -b")
    p.add_argument(
        "-n",
        "--iterations",
        type=argtypes.iterations,
        default=0,
        metavar="N",
        help="number of intervals in batch mode (default: until interrupted)",
    )
    p.add_argument("--json", action="store_true", help="batch output as one JSON object per interval")


def panes_of(args: argparse.Namespace) -> list[str]:
    """The panes asked for: ``--pane``, or all of them."""
    return [args.pane] if args.pane else list(PANE_ORDER)


def filters_of(args: argparse.Namespace) -> Filters:
    """The filters given; exits with the reason when one is invalid."""
    cgroup_id = 0
    if args.cgroup:
        try:
            cgroup_id = os.stat(args.cgroup).st_ino  # a cgroup v2 directory's inode is its id
        except OSError as exc:
            sys.exit(f"bpftop: --cgroup {args.cgroup}: {exc.strerror}")
    if args.comm:
        import re

        try:
            re.compile(args.comm)
        except re.error as exc:
            sys.exit(f"bpftop: --comm: bad regular expression: {exc}")
    _pmc_events(getattr(args, "pmc_events", None))
    if getattr(args, "freq", None):
        from bpftop.collectors.stacks import configure

        configure(freq_hz=args.freq)
    return Filters(pid=args.pid, uid=args.user, cgroup_id=cgroup_id, comm=args.comm)


def _pmc_events(text: str | None) -> None:
    """Check ``--pmc-events`` and hand it to the pmc collector; exits with the reason if bad."""
    if not text:
        return
    from bpftop.bpf.pmu import EventSyntaxError, parse_events, split_events
    from bpftop.collectors.pmc import MAX_COUNTERS, set_events

    try:
        parse_events(text, limit=MAX_COUNTERS)
    except EventSyntaxError as exc:
        sys.exit(f"bpftop: --pmc-events: {exc}")
    set_events(tuple(split_events(text)))


def _subcommand(name: str, argv: list[str]) -> int:
    """``bpftop record``, ``replay`` (bpftop/record/commands.py) or ``profile`` (bpftop/profile.py)."""
    if name == "profile":
        return _profile(argv)
    from bpftop.record import commands

    return commands.record_main(argv) if name == "record" else commands.replay_main(argv)


def _profile(argv: list[str]) -> int:
    """``bpftop profile`` under an exit guard.

    The first Ctrl-C ends the sampling early and the stacks are still written
    (``PROFILE_WRITE_S`` at most); SIGTERM and SIGHUP end it without writing,
    as the dashboard's deadline bounds; a second signal ends the process at
    once. Either way the kernel detaches the programs as it ends (they are fds).
    """
    from bpftop.bpf.log import defer_signals
    from bpftop.profile import profile_main

    guard = ExitGuard(force_on_second=True, sigint_deadline_s=PROFILE_WRITE_S)
    guard.install()
    defer_signals(*SIGNALS)
    try:
        return profile_main(argv)
    except KeyboardInterrupt:  # before sampling began (while loading)
        return 128 + signal.SIGINT
    finally:
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
        from bpftop.record.commands import discard_if_empty

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
        )
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()  # `bpftop -b | head`: stop quietly


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bpftop`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        from bpftop.check import check_main

        return check_main(argv[1:])
    if argv[:1] in (["record"], ["replay"], ["profile"]):
        return _subcommand(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.CRITICAL, format="%(name)s: %(message)s"
    )
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
    engine = Engine(collectors_for(panes), filters_of(args), delay_s=args.delay)
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
    from bpftop.record.commands import open_writer
    from bpftop.record.source import RecordingSource

    writer = open_writer(args, args.record, engine, collectors)
    # Batch output says at once when recording stops; the dashboard shows it in its header.
    report = (lambda message: print(f"bpftop: {message}", file=sys.stderr)) if batch else None
    return RecordingSource(engine, writer, report), writer


if __name__ == "__main__":
    sys.exit(main())
