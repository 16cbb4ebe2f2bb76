"""Command line: ``bpftop [options]``, ``bpftop check``, ``record``, ``replay``, ``profile``.

This module parses the dashboard's options and dispatches; what each command
does lives in ``bpftop/commands/`` (each subcommand parses its own options there).
"""

from __future__ import annotations

import argparse
import logging
import sys

from bpftop import __version__, argtypes
from bpftop.commands.options import add_batch_args, add_record_args, add_sampling_args


def build_parser() -> argparse.ArgumentParser:
    """The main parser (subcommands are handled before it)."""
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


def _subcommand(name: str, argv: list[str]) -> int:
    """``bpftop check``, ``record``, ``replay`` or ``profile``: its module in ``bpftop/commands/``."""
    if name == "check":
        from bpftop.commands.check import check_main

        return check_main(argv)
    if name == "profile":
        from bpftop.commands.profile import guarded_main

        return guarded_main(argv)
    if name == "record":
        from bpftop.commands.record import record_main

        return record_main(argv)
    from bpftop.commands.replay import replay_main

    return replay_main(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bpftop`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["check"], ["record"], ["replay"], ["profile"]):
        return _subcommand(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.CRITICAL, format="%(name)s: %(message)s"
    )
    from bpftop.commands import dashboard

    return dashboard.run(args)


if __name__ == "__main__":
    sys.exit(main())
