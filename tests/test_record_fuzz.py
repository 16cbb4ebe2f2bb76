"""The reader fuzzed: mutated files raise RecordingError or read cleanly, nothing else (no root).

Two kinds of mutation: raw ones (flipped, inserted and deleted bytes,
truncation), which mostly trip the CRCs, and ones made behind a recomputed
CRC, which reach the decoder with garbage.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftop.derive import derive
from bpftop.frame import Frame
from bpftop.record.columns import split_body
from bpftop.record.container import CARRIED, MAGIC, RECORD, SYNC, compress, decompress, record_bytes
from bpftop.record.errors import RecordingError
from bpftop.record.reader import Recording
from bpftop.record.replay import EndOfRecording, ReplayFrames
from bpftop.record.writer import RecordingWriter
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
