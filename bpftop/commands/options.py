"""Options the dashboard, ``record``, ``replay`` and ``profile`` share, and their checks.

Each check exits with the reason (``bpftop: --comm: ...``), before anything loads.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from typing import TYPE_CHECKING

from bpftop import argtypes
from bpftop.collectors.base import Filters
from bpftop.outfile import DEFAULT_MODE, parse_mode
from bpftop.record.detail import BUDGET_BYTES_PER_HOUR, MAX_EVERY_S
from bpftop.registry import PANE_ORDER

if TYPE_CHECKING:
    from bpftop.batch.common import Rows

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

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


def file_mode(text: str) -> int:
    """``--mode``: octal permissions of a file bpftop creates."""
    try:
        return parse_mode(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected octal permissions like 600 or 644") from None


def add_sampling_args(p: argparse.ArgumentParser, comm: bool = True) -> None:
    """``--pane``, ``-d``, and the filters (``--comm`` only where it applies)."""
    p.add_argument("--pane", choices=PANE_ORDER, help="open on this pane and load only its collectors")
    p.add_argument(
        "-d",
        "--delay",
        type=argtypes.delay,
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
    """``--once``, ``-b``, ``-n``, ``--json``, ``--rows``, ``--all-rows``."""
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
    p.add_argument(
        "--rows",
        type=argtypes.rows,
        default=20,
        metavar="N",
        help="batch output: processes per table, busiest first, those idle in the interval left out (20)",
    )
    p.add_argument(
        "--all-rows", action="store_true", help="batch output: every process, idle ones too (no --rows limit)"
    )


def batch_rows(args: argparse.Namespace) -> Rows:
    """The ``bpftop.batch.common.Rows`` that ``--rows`` and ``--all-rows`` ask for."""
    from bpftop.batch.common import ALL_ROWS, Rows

    return ALL_ROWS if args.all_rows else Rows(limit=args.rows)


def add_record_args(p: argparse.ArgumentParser) -> None:
    """``--force``, ``--max-size``, ``--detail``, ``--budget``: for ``--record`` and ``bpftop record``."""
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite the recording file if it exists (only a regular file of yours, never a link)",
    )
    p.add_argument(
        "--mode",
        type=file_mode,
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


def panes_of(args: argparse.Namespace) -> list[str]:
    """The panes asked for: ``--pane``, or all of them."""
    return [args.pane] if args.pane else list(PANE_ORDER)


def check_comm(regex: str) -> None:
    """Exit with the reason unless ``--comm`` is a valid regular expression."""
    try:
        re.compile(regex)
    except re.error as exc:
        sys.exit(f"bpftop: --comm: bad regular expression: {exc}")


def filters_of(args: argparse.Namespace) -> Filters:
    """The filters given; exits with the reason when one is invalid."""
    cgroup_id = 0
    if args.cgroup:
        try:
            cgroup_id = os.stat(args.cgroup).st_ino  # a cgroup v2 directory's inode is its id
        except OSError as exc:
            sys.exit(f"bpftop: --cgroup {args.cgroup}: {exc.strerror}")
    if args.comm:
        check_comm(args.comm)
    return Filters(pid=args.pid, uid=args.user, cgroup_id=cgroup_id, comm=args.comm)


def collector_options(args: argparse.Namespace) -> dict[str, object]:
    """``--pmc-events`` and ``--freq`` as engine options (``Engine.set_option``), only those given.

    Collectors take them before they open, as they take ``visible_pane``; the
    names are ``collectors/pmc.py: EVENTS_OPTION`` and ``collectors/stacks.py:
    FREQ_OPTION`` (not imported: replay loads no collector). Exits with the
    reason when ``--pmc-events`` is invalid.
    """
    options: dict[str, object] = {}
    if args.pmc_events:
        from bpftop.bpf.pmu import EventSyntaxError, parse_events, split_events
        from bpftop.collectors.pmc import MAX_COUNTERS

        try:
            parse_events(args.pmc_events, limit=MAX_COUNTERS)
        except EventSyntaxError as exc:
            sys.exit(f"bpftop: --pmc-events: {exc}")
        options["pmc_events"] = tuple(split_events(args.pmc_events))
    if args.freq:
        options["stacks_freq_hz"] = args.freq
    return options
