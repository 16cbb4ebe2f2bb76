"""The reader fuzzed: mutated files raise RecordingError or read cleanly, nothing else (no root).

Two kinds of mutation: raw ones (flipped, inserted and deleted bytes,
truncation), which mostly trip the CRCs, and ones made behind a recomputed
CRC, which reach the decoder with garbage. Then files built field by field
(``recording_craft``) whose counts, lengths and compressed streams are drawn
to be huge, negative or inconsistent: each must read within a memory limit
(tracemalloc's peak) and a deadline. Non-regular files must be refused at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import tempfile
import tracemalloc
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftop.derive import derive
from bpftop.frame import Frame
from bpftop.record.codec import MAX_VALUES
from bpftop.record.columns import split_body
from bpftop.record.container import (
    CARRIED,
    MAGIC,
    MAX_BODY,
    MAX_PAYLOAD,
    RECORD,
    SYNC,
    compress,
    decompress,
    record_bytes,
)
from bpftop.record.errors import RecordingError
from bpftop.record.reader import Recording
from bpftop.record.replay import EndOfRecording, ReplayFrames
from bpftop.record.tables import MAX_ROWS
from bpftop.record.writer import RecordingWriter
from tests import recording_craft as craft
from tests.fakes import HOST
from tests.test_record_codec import fake_frames


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "sample"
    # Per-process tables every 3 s: carried frames (and the 0x40 flag) are fuzzed too.
    writer = RecordingWriter(
        str(path), host=HOST, collectors=["syscalls"], delay_s=1.0, key_every_frames=4, detail_s=3.0
    )
    for frame in fake_frames(10):
        writer.append(frame)
    writer.close()
    return path.read_bytes()


def records(data: bytes) -> list[tuple[int, bytes, bytes, bytes]]:
    """(offset, type, payload, primer: the previous frame's skeleton) of each record of an intact file."""
    out, pos, skeleton = [], len(MAGIC), b""
    while pos < len(data):
        _, kind, length, _ = RECORD.unpack_from(data, pos)
        payload = data[pos + RECORD.size : pos + RECORD.size + length]
        out.append((pos, kind, payload, skeleton))
        if kind in (b"K", b"D"):
            skeleton = split_body(decompress(payload[25:], payload[24] & ~CARRIED, skeleton))[0]
        pos += RECORD.size + length
    return out


def read_everything(path: Path) -> None:
    """Everything a replay does with a file; only RecordingError may escape."""
    try:
        with Recording(path) as rec:
            frames = list(rec.frames())
            assert all(isinstance(f, Frame) for _, f in frames)
            for index in range(len(rec) - 1, -1, -3):
                with contextlib.suppress(RecordingError):
                    rec.frame(index)
            for damage in rec.damage:
                assert damage.describe()
            replay = ReplayFrames(rec)  # as `bpftop replay -b`: per-process figures of carried frames too
            prev = None
            with contextlib.suppress(EndOfRecording, RecordingError):
                while True:
                    cur = replay.tick()
                    derive(prev, cur, detail=replay.detail())
                    prev = cur
    except RecordingError as exc:
        assert str(exc)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
    st.tuples(st.just("sync"), st.integers(0, 1 << 20), st.just(0)),
)


def mutate(data: bytes, ops: list[tuple[str, int, object]]) -> bytes:
    buf = bytearray(data)
    for kind, where, arg in ops:
        at = where % (len(buf) + 1)
        if kind == "flip" and at < len(buf):
            buf[at] ^= int(arg)  # type: ignore[call-overload]
        elif kind == "insert":
            buf[at:at] = arg  # type: ignore[assignment]
        elif kind == "delete":
            del buf[at : at + int(arg)]  # type: ignore[call-overload]
        elif kind == "truncate":
            del buf[at:]
        elif kind == "sync":  # a fake record start, to bait the resync
            buf[at:at] = SYNC + b"K\x05\x00\x00\x00\x00\x00\x00\x00"
    return bytes(buf)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(mutation, min_size=1, max_size=4))
def test_raw_mutations(sample_file: bytes, tmp_path: Path, ops: list[tuple[str, int, object]]) -> None:
    path = tmp_path / "mutated"
    path.write_bytes(mutate(sample_file, ops))
    read_everything(path)


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(0, 100),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=6),
    st.booleans(),
)
def test_mutations_behind_a_valid_crc(
    sample_file: bytes, tmp_path: Path, which: int, edits: list[tuple[int, int]], inflated: bool
) -> None:
    recs = records(sample_file)
    offset, kind, payload, primer = recs[which % len(recs)]
    body = bytearray(payload)
    if inflated and kind in (b"K", b"D"):
        # Mutate the decompressed body and compress it again, so the decoder sees it.
        method = payload[24] & ~CARRIED  # the prefix keeps the flag
        raw = bytearray(decompress(payload[25:], method, primer))
        for where, value in edits:
            raw[where % len(raw)] = value
        body = bytearray(payload[:25] + compress(bytes(raw), method, primer))
    else:
        for where, value in edits:
            body[where % len(body)] = value
    end = offset + RECORD.size + len(payload)
    mutated = sample_file[:offset] + record_bytes(kind, bytes(body)) + sample_file[end:]
    path = tmp_path / "mutated"
    path.write_bytes(mutated)
    read_everything(path)


# -- crafted size fields: every count, length and stream is the attacker's ---------------------

STATUS_FIELDS = ["name", "ok", "method", "error", "hint"]
MEMORY_LIMIT_BYTES = 120 << 20  # a few frames at the caps (MAX_BODY, MAX_VALUES), per input
huge = st.sampled_from([MAX_ROWS, MAX_ROWS + 1, MAX_VALUES + 1, 1 << 31, (1 << 32) - 1, 1 << 62])
count = st.one_of(st.integers(0, 6), huge, st.integers(-3, -1))
blob_ref = st.one_of(st.integers(-1, 4), huge)
int_column = st.builds(lambda b, d: ["i", b, d], blob_ref, st.integers(0, 1))
column = st.one_of(
    st.sampled_from([["c", "x"], ["c", True], ["c", ""], ["c", 7]]),
    int_column,
    st.builds(lambda b, w: ["h", b, w], blob_ref, count),
    st.builds(
        lambda n, a, b: ["u", n, a, b], st.lists(st.sampled_from(["f", "g"]), max_size=3), blob_ref, blob_ref
    ),
    st.builds(lambda v: ["j", v], st.lists(st.sampled_from(["x", 1, None]), max_size=4)),
)
literal = st.fixed_dictionaries(
    {"y": st.just("frame.CollectorStatus"), "f": st.just(STATUS_FIELDS), "n": count},
    optional={"c": st.lists(column, min_size=5, max_size=5)},
)
delta = st.fixed_dictionaries(
    {
        "y": st.just("frame.CollectorStatus"),
        "f": st.just(STATUS_FIELDS),
        "r": st.lists(st.one_of(count, st.just(-1)), max_size=10).map(lambda r: r + r[:1] * (len(r) % 2)),
        "P": count,
    },
    optional={
        "N": literal,
        "p": blob_ref,
        "d": st.lists(st.one_of(st.just(["z"]), int_column.map(lambda c: c[:2])), min_size=5, max_size=5),
    },
)
# Integer blobs that hold what a count claims (so a count is checked against real bytes), and garbage.
blob = st.one_of(
    st.builds(lambda w, n: bytes([w]) + bytes(w * n), st.sampled_from([1, 2, 4, 8]), st.integers(0, 5000)),
    st.binary(max_size=32),
)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A zlib stream inflating to one byte over the cap on a frame body."""
    return zlib.compress(bytes(MAX_BODY + 1), 1)


def peak_bytes_reading(path: Path) -> int:
    tracemalloc.start()
    try:
        read_everything(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@settings(
    max_examples=300,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    first=literal,
    then=st.lists(delta, min_size=1, max_size=3),
    blobs=st.lists(blob, max_size=5),
    method=st.sampled_from([0, 1, 2]),
    bombed=st.sets(st.integers(0, 3), max_size=2),
)
def test_crafted_counts_lengths_and_streams(
    tmp_path: Path,
    bomb: bytes,
    first: dict[str, Any],
    then: list[dict[str, Any]],
    blobs: list[bytes],
    method: int,
    bombed: set[int],
) -> None:
    records = []
    for number, table in enumerate([first, *then]):
        node = craft.frame_node(status={"t": table})
        body = craft.body(node, tuple(blobs))
        data, how = (bomb, 1) if number in bombed else (compress(body, method), method)
        records.append(craft.frame(number, data, key=number == 0, method=how))
    path = tmp_path / "crafted"
    path.write_bytes(craft.header() + b"".join(records))
    assert peak_bytes_reading(path) < MEMORY_LIMIT_BYTES


@settings(max_examples=200, deadline=timedelta(seconds=10))
@given(
    lengths=st.lists(st.one_of(st.integers(0, 64), huge, st.just(MAX_PAYLOAD)), min_size=1, max_size=6),
    kinds=st.lists(st.sampled_from([b"K", b"D", b"H", b"?"]), min_size=1, max_size=6),
    filler=st.binary(max_size=64),
)
def test_crafted_record_lengths(lengths: list[int], kinds: list[bytes], filler: bytes) -> None:
    # False record starts with every kind of claimed length between two good frames.
    good = [craft.frame(n, craft.body(craft.frame_node()), key=True) for n in range(2)]
    bait = b"".join(craft.fake_record_start(n, k) + filler for n, k in zip(lengths, kinds, strict=False))
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "crafted"
        path.write_bytes(craft.header() + good[0] + bait + good[1])
        with Recording(path) as rec:
            assert [e.number for e in rec.entries] == [0, 1]
            assert len(rec.damage) == 1 and rec.damage[0].resumed_at is not None


@pytest.mark.parametrize("kind", ["fifo", "socket", "directory", "device", "link to a fifo"])
def test_non_regular_files_are_refused_without_blocking(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "file"
    server = socket.socket(socket.AF_UNIX)
    if kind in ("fifo", "link to a fifo"):
        os.mkfifo(tmp_path / "fifo")
        if kind == "fifo":
            path = tmp_path / "fifo"
        else:
            path.symlink_to(tmp_path / "fifo")
    elif kind == "socket":
        server.bind(str(path))
    elif kind == "directory":
        path.mkdir()
    else:
        path = Path("/dev/null")
    signal.alarm(5)  # a blocking open() fails the test instead of hanging it
    try:
        with pytest.raises(RecordingError, match="is not a regular file"):
            Recording(path)
    finally:
        signal.alarm(0)
        server.close()
