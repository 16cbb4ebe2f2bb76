"""Replaying recordings made by an attacker: a real ``bpftop replay`` under time and memory limits.

Recordings come from other machines, so every byte of one is hostile: the
file type, each length, each count and each compressed stream. Each test
builds one attack (see ``recording_craft``) and runs ``bpftop replay -b`` on
it as a subprocess: it must end in seconds, within a bounded RSS, with exit
status 0 or 1, and say on stderr what it skipped (no traceback).
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bpftop.record.container import DELTA, FRAME_PREFIX, KEY, MAX_BODY, record_bytes
from tests import recording_craft as craft
from tests.conftest import scaled
from tests.peak_rss import Measured

# What a replay of a small file costs (~25 MB here) plus a few frames'
# worth: the bound every attack must stay under.
RSS_LIMIT_MB = 250
_SAFETY_NET_BYTES = 3 << 30  # RLIMIT_AS, so that a regression fails instead of swapping the machine


@dataclass
class Run:
    """How a replay ended."""

    returncode: int
    seconds: float
    max_rss_mb: float
    stderr: str


def replay(path: Path, *args: str, timeout_s: float = 20.0) -> Run:
    """``bpftop replay PATH -b ARGS`` with a deadline (then killed); its time and peak RSS."""
    start = time.monotonic()
    with open(path.parent / "stderr.txt", "w+") as err:
        child = Measured(
            [sys.executable, "-m", "bpftop", "replay", str(path), "-b", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            # the command's, and the launcher's it inherits: a regression fails instead of swapping
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (_SAFETY_NET_BYTES, _SAFETY_NET_BYTES)),
        )
        deadline = start + scaled(timeout_s)
        while (code := child.poll()) is None:
            if time.monotonic() > deadline:
                child.kill()
                child.wait()
                err.seek(0)
                pytest.fail(f"bpftop replay still running after {timeout_s:g} s; stderr: {err.read()[-500:]}")
            time.sleep(0.05)
        err.seek(0)
        text = err.read()
    return Run(code, time.monotonic() - start, child.peak_kb / 1024, text)


def check(run: Run, *, says: str, seconds: float = 20.0) -> None:
    """Ended in time, in bounded memory, with one clear account of what it skipped."""
    assert run.returncode in (0, 1), run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert run.seconds < scaled(seconds), f"took {run.seconds:.1f} s"
    assert run.max_rss_mb < RSS_LIMIT_MB, f"peak RSS {run.max_rss_mb:.0f} MB; stderr: {run.stderr[-500:]}"
    assert says in run.stderr, run.stderr


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A sticky world-writable directory in /tmp (pytest's own are root's only), where nobody plants files."""
    path = Path(tempfile.mkdtemp(prefix="bpftop-hostile-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to play nobody")
def test_a_fifo_planted_by_nobody_is_refused_at_once(shared_dir: Path) -> None:
    # Before: open() of a FIFO blocks until a writer comes, i.e. forever.
    fifo = shared_dir / "incident.bpfrec"
    subprocess.run(["mkfifo", str(fifo)], user="nobody", group="nogroup", extra_groups=[], check=True)
    run = replay(fifo, timeout_s=10)
    check(run, says="not a regular file (a FIFO)", seconds=10)
    assert run.returncode == 1 and len(run.stderr.splitlines()) == 1


def test_other_non_regular_files_are_refused(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    (tmp_path / "dir").mkdir()
    try:
        for name, kind in (("sock", "a socket"), ("dir", "a directory")):
            check(replay(tmp_path / name, timeout_s=10), says=f"not a regular file ({kind})", seconds=10)
        check(replay(Path("/dev/zero"), timeout_s=10), says="not a regular file (a character device)")
    finally:
        server.close()


def test_a_symlink_the_user_names_is_followed_to_a_regular_file(tmp_path: Path) -> None:
    # The user names the file on the command line, as with `less FILE`: a link
    # to a recording replays; what it reaches is checked on the opened fd.
    target = tmp_path / "real.bpfrec"
    target.write_bytes(craft.header())
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "fifo").symlink_to("/dev/zero")
    check(replay(tmp_path / "link"), says="no complete frame to replay")
    check(replay(tmp_path / "fifo"), says="not a regular file (a character device)")
    assert stat.S_ISLNK((tmp_path / "link").lstat().st_mode)


@pytest.mark.parametrize("method", [1, 2])
def test_decompression_bombs_under_the_old_body_limit(tmp_path: Path, method: int) -> None:
    # Before: each frame inflated to 400 MB (under the 512 MB limit): ~1 GB RSS.
    bomb = craft.zlib_bomb(400 << 20) if method == 1 else craft.lzma_bomb(400 << 20)
    path = tmp_path / "bomb.bpfrec"
    path.write_bytes(craft.header() + b"".join(craft.frame(n, bomb, method=method) for n in range(3)))
    check(replay(path), says=f"decompresses to more than {MAX_BODY >> 20} MB")


def test_a_kilobyte_claiming_four_million_rows(tmp_path: Path) -> None:
    # Before: 52 s and 792 MB building rows that cost no bytes in the file.
    node = craft.frame_node(status=craft.status_table(4_000_000))
    path = tmp_path / "rows.bpfrec"
    path.write_bytes(craft.header() + craft.frame(0, craft.body(node)) + craft.frame(1, craft.body(node)))
    assert path.stat().st_size < 1024
    check(replay(path), says="rows")


def test_runs_that_repeat_the_previous_table(tmp_path: Path) -> None:
    # A delta's runs may name the old rows again and again: each frame would
    # multiply the table by the number of runs, from a few bytes of JSON.
    first = craft.frame_node(status=craft.status_table(1000))
    frames = [craft.frame(0, craft.body(first))]
    for number in range(1, 6):
        spec = {"y": "frame.CollectorStatus", "f": ["name", "ok", "method", "error", "hint"], "P": 0}
        spec["r"] = [0, 1000] * 1000
        node = craft.frame_node(status={"t": spec})
        frames.append(craft.frame(number, craft.body(node), key=False))
    path = tmp_path / "runs.bpfrec"
    path.write_bytes(craft.header() + b"".join(frames))
    check(replay(path), says="runs")


def test_a_hundred_megabytes_of_sync_bytes(tmp_path: Path) -> None:
    # Before: > 60 s, one seek, read and parse attempt per byte.
    path = tmp_path / "sync.bpfrec"
    good = craft.frame(0, craft.body(craft.frame_node()))
    with open(path, "wb") as out:
        out.write(craft.header() + good)
        out.write(b"\xb5\x52" * (50 << 20))
    check(replay(path), says="stopped at byte", seconds=30)


def test_false_record_starts_claiming_long_payloads(tmp_path: Path) -> None:
    # Each false start claims 8 MB: checking each one's CRC from scratch is
    # quadratic (12 MB of them: 1M starts x 8 MB).
    path = tmp_path / "starts.bpfrec"
    good = craft.frame(0, craft.body(craft.frame_node()))
    bait = craft.fake_record_start(8 << 20)
    with open(path, "wb") as out:
        out.write(craft.header() + good)
        out.write(bait * ((12 << 20) // len(bait)))
        out.write(craft.frame(1, craft.body(craft.frame_node())))
    check(replay(path), says="skipped", seconds=30)


def test_millions_of_tiny_frames_keep_a_compact_index(tmp_path: Path) -> None:
    # 40 MB of valid 36-byte frames with empty bodies: the index must not cost
    # hundreds of bytes per frame (each frame fails to decode, cheaply).
    path = tmp_path / "tiny.bpfrec"
    count = (40 << 20) // (11 + FRAME_PREFIX.size)
    with open(path, "wb") as out:
        out.write(craft.header())
        block = 1 << 16
        for first in range(0, count, block):
            out.write(
                b"".join(
                    record_bytes(KEY if n == 0 else DELTA, FRAME_PREFIX.pack(n, max(n - 1, 0), n, 1.0, 0))
                    for n in range(first, min(count, first + block))
                )
            )
    check(replay(path, "-n", "3"), says="frame 0 at byte 138: BodyError: body too short", seconds=40)
