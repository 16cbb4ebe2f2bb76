"""``bpftop profile``: profile for a while without a screen, write folded stacks or speedscope JSON.

Folded (Brendan Gregg's ``flamegraph.pl`` input): one line per stack,
``comm;user frames…;kernel frames… VALUE``, root first. Speedscope: the
``https://www.speedscope.app/file-format-schema.json`` format, one sampled
profile per process, heaviest first. Values are CPU samples, or nanoseconds
off CPU with ``--off-cpu``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from bpftop import __version__, argtypes
from bpftop.commands.options import SIGNALS, file_mode
from bpftop.derive.stacks import StackRow, folded_lines
from bpftop.exiting import ExitGuard
from bpftop.outfile import DEFAULT_MODE, OutputFileError, create_output

if TYPE_CHECKING:
    from bpftop.collectors.stacks import StacksCollector, StacksSample

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
FINAL_READ_S = 1.0  # after Ctrl-C, what the last read may take before the output is written
PROFILE_WRITE_S = 10.0  # after Ctrl-C, what `profile` may take to finish writing


def speedscope(rows: Sequence[StackRow], off_cpu: bool, name: str = "bpftop") -> dict[str, Any]:
    """A speedscope file: shared frames, one sampled profile per process."""
    frames: list[dict[str, str]] = []
    index: dict[str, int] = {}
    by_pid: dict[int, tuple[str, list[list[int]], list[int]]] = {}
    for r in rows:
        if r.value <= 0:
            continue
        stack = []
        for frame in r.frames or ("[no stack]",):
            if frame not in index:
                index[frame] = len(frames)
                frames.append({"name": frame})
            stack.append(index[frame])
        _, samples, weights = by_pid.setdefault(r.pid, (r.comm, [], []))
        samples.append(stack)
        weights.append(r.value)
    profiles = [
        {
            "type": "sampled",
            "name": f"{comm} ({pid})",
            "unit": "nanoseconds" if off_cpu else "none",
            "startValue": 0,
            "endValue": sum(weights),
            "samples": samples,
            "weights": weights,
        }
        for pid, (comm, samples, weights) in sorted(by_pid.items(), key=lambda kv: (-sum(kv[1][2]), kv[0]))
    ]
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "shared": {"frames": frames},
        "profiles": profiles,
        "name": name,
        "activeProfileIndex": 0,
        "exporter": f"bpftop {__version__}",
    }


def write_profile(
    rows: Sequence[StackRow], fmt: str, off_cpu: bool, out: TextIO, name: str = "bpftop"
) -> None:
    """Write ``rows`` as ``folded`` or ``speedscope``."""
    if fmt == "speedscope":
        json.dump(speedscope(rows, off_cpu, name), out, separators=(",", ":"))
        out.write("\n")
    else:
        for line in folded_lines(rows):
            out.write(line + "\n")


def build_parser() -> argparse.ArgumentParser:
    """Options of ``bpftop profile``."""
    p = argtypes.OneLineParser(
        prog="bpftop profile",
        description="Sample stacks (on CPU, or off CPU with --off-cpu) and write them for flame graph tools.",
    )
    p.add_argument(
        "-p", "--pid", type=argtypes.pid, default=0, help="only this process (filtered in the kernel)"
    )
    p.add_argument(
        "--cgroup", type=argtypes.cgroup, metavar="PATH", help="only tasks in this cgroup v2 directory"
    )
    p.add_argument(
        "--duration",
        type=argtypes.duration_s,
        default=10.0,
        metavar="S",
        help="seconds to sample (default 10)",
    )
    p.add_argument("--off-cpu", action="store_true", help="time blocked off CPU instead of CPU samples")
    p.add_argument(
        "--freq", type=argtypes.freq, default=49, metavar="HZ", help="CPU samples per second per CPU (49)"
    )
    p.add_argument(
        "--min-block-us",
        type=argtypes.min_block_us,
        default=1.0,
        metavar="US",
        help="off-CPU: ignore blocks shorter than this (default 1)",
    )
    p.add_argument("--format", choices=("folded", "speedscope"), default="folded")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write here (a new file, mode 600) instead of standard output"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite FILE if it exists (a regular file of yours, never a link)",
    )
    p.add_argument(
        "--mode", type=file_mode, default=DEFAULT_MODE, metavar="OCTAL", help="FILE's permissions (600)"
    )
    return p


def _open_output(args: argparse.Namespace) -> int | None:
    """Create ``-o FILE`` before sampling, so a bad path costs no waiting; None for stdout."""
    if not args.output:
        return None
    try:
        return create_output(args.output, force=args.force, mode=args.mode)
    except OutputFileError as exc:
        sys.exit(f"bpftop profile: {exc}")


def _discard(fd: int | None, path: str) -> None:
    """Nothing was sampled: remove the output file created for it."""
    if fd is not None:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)


def _sample_for(collector: StacksCollector, duration_s: float) -> StacksSample | None:
    """Sample for ``duration_s`` from now (after attaching), or until Ctrl-C; then detach.

    None when Ctrl-C came before anything could be read.
    """
    from bpftop.bpf.log import raise_pending

    # Attaching can take a minute on a slow machine: say when the sampling window
    # starts, so whoever starts a workload for it can wait for this line.
    print(f"bpftop profile: sampling for {duration_s:g} s (Ctrl-C ends early)", file=sys.stderr, flush=True)
    sample = None
    stuck = False
    try:
        try:
            raise_pending()  # a Ctrl-C that struck while libbpf logged the load (bpf/log.py)
            deadline = time.monotonic() + duration_s
            while time.monotonic() < deadline:
                # Read every second so stacks are named while their processes live.
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
                if time.monotonic() < deadline:
                    sample = collector.sample()
            # The last read waits for the symbols still loading, so no count is
            # left under a raw address.
            return collector.sample(settle=True)
        except KeyboardInterrupt:
            sample, stuck = _final_sample(collector, sample)
            return sample
    finally:
        if not stuck:  # a read still running uses the collector: the process's exit detaches it
            collector.close()


def _final_sample(
    collector: StacksCollector, previous: StacksSample | None
) -> tuple[StacksSample | None, bool]:
    """After Ctrl-C, the last (settled) read, given ``FINAL_READ_S`` at most.

    Settling waits for symbol loads (up to ``SETTLE_WAIT_S``), and the read
    Ctrl-C interrupted may have been stuck for good; whoever pressed Ctrl-C
    wants the stacks now. Past the limit: the previous sample, and True (the
    read still runs, so the collector must not be closed under it).
    """
    result: list[StacksSample] = []

    def read() -> None:
        with contextlib.suppress(Exception):  # any failure: the previous sample will do
            result.append(collector.sample(settle=True))

    reader = threading.Thread(target=read, name="bpftop-final-read", daemon=True)
    reader.start()
    reader.join(FINAL_READ_S)
    if not reader.is_alive():
        return (result[0] if result else previous), False
    if previous is not None:
        print(
            f"bpftop profile: the last read did not end within {FINAL_READ_S:g} s of Ctrl-C;"
            " writing the stacks read before it",
            file=sys.stderr,
        )
    return previous, True


def _attach_and_sample(args: argparse.Namespace, cgroup_id: int) -> StacksSample | None:
    """Attach the stacks collector as ``args`` say, and sample (``_sample_for``)."""
    from bpftop.collectors.base import Filters
    from bpftop.collectors.stacks import StacksCollector

    collector = StacksCollector(
        args.freq, int(args.min_block_us * 1000), cpu=not args.off_cpu, off_cpu=args.off_cpu
    )
    try:
        collector.open(Filters(pid=args.pid, cgroup_id=cgroup_id))
    except Exception as exc:  # the reason, and the hint when there is one
        collector.close()
        hint = getattr(exc, "hint", "")
        sys.exit(f"bpftop profile: cannot start: {exc}" + (f" (hint: {hint})" if hint else ""))
    except BaseException:  # Ctrl-C or a signal while loading: detach what was attached
        collector.close()
        raise
    return _sample_for(collector, args.duration)


def profile_main(argv: list[str]) -> int:
    """Entry point of ``bpftop profile``."""
    from bpftop.derive.stacks import derive_stacks
    from bpftop.privileges import NOT_ROOT_HINT, privilege_problem

    args = build_parser().parse_args(argv)
    cgroup_id = 0
    if args.cgroup:
        try:
            cgroup_id = os.stat(args.cgroup).st_ino
        except OSError as exc:
            sys.exit(f"bpftop profile: --cgroup {args.cgroup}: {exc.strerror}")
    problem = privilege_problem()
    if problem:
        sys.exit(f"bpftop profile: {problem} ({NOT_ROOT_HINT})")
    out_fd = _open_output(args)
    try:
        sample = _attach_and_sample(args, cgroup_id)
    except BaseException:  # cannot start, SIGTERM, SIGHUP: no profile, so no empty file left
        _discard(out_fd, args.output)
        raise
    if sample is None:
        _discard(out_fd, args.output)
        print("bpftop profile: interrupted before any stacks were read", file=sys.stderr)
        return 128 + 2  # SIGINT
    view = derive_stacks(None, sample, None, {})
    mode = "off" if args.off_cpu else "cpu"
    rows = view.rows(mode)
    name = f"bpftop {'off-CPU' if args.off_cpu else 'CPU'} profile"
    if out_fd is not None:
        try:
            with open(out_fd, "w", encoding="utf-8", errors="replace") as out:
                write_profile(rows, args.format, args.off_cpu, out, name)
        except OSError as exc:  # disk full, I/O error: the samples are lost, say so in one line
            sys.exit(f"bpftop profile: cannot write {args.output}: {exc.strerror}")
    else:
        write_profile(rows, args.format, args.off_cpu, sys.stdout, name)
    lost = {k: v for k, v in view.drops.items() if v and k.startswith(mode)}
    print(
        f"bpftop profile: {len(rows)} stacks, {sum(r.value for r in rows)} "
        f"{'ns off CPU' if args.off_cpu else 'samples'}"
        + (f"; lost: {', '.join(f'{k}={v}' for k, v in lost.items())}" if lost else ""),
        file=sys.stderr,
    )
    for note in view.notes:  # files refused, caps tripped, loads timed out
        print(f"bpftop profile: {note}", file=sys.stderr)
    return 0


def guarded_main(argv: list[str]) -> int:
    """``bpftop profile`` under an exit guard.

    The first Ctrl-C ends the sampling early and the stacks are still written
    (``PROFILE_WRITE_S`` at most); SIGTERM and SIGHUP end it without writing,
    as the dashboard's deadline bounds; a second signal ends the process at
    once. Either way the kernel detaches the programs as it ends (they are fds).
    """
    from bpftop.bpf.log import defer_signals

    guard = ExitGuard(force_on_second=True, sigint_deadline_s=PROFILE_WRITE_S)
    guard.install()
    defer_signals(*SIGNALS)
    try:
        return profile_main(argv)
    except KeyboardInterrupt:  # before sampling began (while loading)
        return 128 + signal.SIGINT
    finally:
        guard.settle()
