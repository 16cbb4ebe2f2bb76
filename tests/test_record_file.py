"""Recording files: mode, overwrite, size cap, write errors, damage, seeking (no root unless marked)."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
from pathlib import Path

import pytest

from bpftop.frame import Frame
from bpftop.record import writer as writer_mod
from bpftop.record.container import MAGIC, RECORD
from bpftop.record.errors import RecordingError
from bpftop.record.reader import Recording
from bpftop.record.source import RecordingSource
from bpftop.record.writer import RecordingWriter
from tests.fakes import HOST
from tests.test_record_codec import fake_frames

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, frames: list[Frame], **kwargs: object) -> RecordingWriter:
    w = RecordingWriter(str(path), host=HOST, collectors=["syscalls"], delay_s=1.0, **kwargs)  # type: ignore[arg-type]
    for frame in frames:
        w.append(frame)
    w.close()
    return w


def all_frames(path: Path) -> list[Frame]:
    with Recording(path) as rec:
        return [frame for _, frame in rec.frames()]


def test_round_trip_through_a_file_with_key_frames(tmp_path: Path) -> None:
    frames = fake_frames(25)
    w = write(tmp_path / "r", frames, key_every_frames=10)
    assert w.frames == 25 and w.state == "closed"
    with Recording(tmp_path / "r") as rec:
        assert [e.key for e in rec.entries].count(True) == 3
        assert rec.damage == [] and rec.header["collectors"] == ["syscalls"]
        assert rec.host == HOST
        assert [f for _, f in rec.frames()] == frames
        for index in (17, 3, 24, 10, 9, 0):  # random access, backwards and across key frames
            assert rec.frame(index) == frames[index]
        assert rec.index_at_ts(frames[7].ts_ns + 1) == 7
        assert rec.index_at_wall(frames[7].wall) == 7


def test_file_mode_is_0600_even_when_forced_over_another_file(tmp_path: Path) -> None:
    path = tmp_path / "r"
    path.write_text("old")
    path.chmod(0o644)
    write(path, fake_frames(2), force=True)
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(all_frames(path)) == 2
    write(tmp_path / "new", fake_frames(2))
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o600


def test_no_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "r"
    path.write_text("precious")
    with pytest.raises(RecordingError, match="exists; add --force"):
        write(path, [])
    assert path.read_text() == "precious"


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(RecordingError, match="symbolic link"):
        write(tmp_path / "link", [], force=True)
    assert (tmp_path / "target").read_text() == "x"


def test_permission_denied_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object) -> int:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(writer_mod.os, "open", denied)
    with pytest.raises(RecordingError, match=r"cannot create .*: Permission denied"):
        write(tmp_path / "r", [])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_permission_denied_for_real(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # nobody may look but not write
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child drops to nobody and tries
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                write(tmp_path / "r", [])
                message = "created"
            except RecordingError as exc:
                message = str(exc)
            os.write(write_end, message.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    assert message.startswith("cannot create") and message.endswith("Permission denied")


def test_disk_full_stops_recording_and_keeps_the_file_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = fake_frames(8)
    w = RecordingWriter(str(tmp_path / "r"), host=HOST, collectors=["syscalls"], delay_s=1.0)
    for frame in frames[:5]:
        assert w.append(frame)
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        if len(data) > 20:
            real_write(fd, bytes(data)[:20])  # a torn record, then no space
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(writer_mod.os, "write", half_then_full)
    assert not w.append(frames[5])
    assert w.state == "failed" and w.message == "No space left on device"
    assert w.label == "REC FAILED: No space left on device"
    assert not w.append(frames[6])  # stays stopped, never raises
    w.close()
    with Recording(tmp_path / "r") as rec:
        assert rec.damage == []  # the torn record was truncated away
        assert [f for _, f in rec.frames()] == frames[:5]


def test_recording_source_keeps_the_dashboard_running_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import FakeSource

    engine = FakeSource()
    messages: list[str] = []
    w = RecordingWriter(str(tmp_path / "r"), host=HOST, collectors=["syscalls"], delay_s=1.0)
    source = RecordingSource(engine, w, messages.append)
    source.tick()
    assert source.record_label == "REC"

    def readonly(fd: int, data: bytes) -> int:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(writer_mod.os, "write", readonly)
    for _ in range(3):
        assert isinstance(source.tick(), Frame)  # frames still flow
    assert source.record_label == "REC FAILED: Read-only file system"
    assert len(messages) == 1 and "recording failed: Read-only file system" in messages[0]
    source.close()
    assert engine.close_calls == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_disk_full_on_a_real_small_tmpfs(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        frames = fake_frames(400)
        w = write(mount / "r", frames)
        assert w.state == "failed" and w.message == "No space left on device"
        assert 0 < w.frames < 400
        with Recording(mount / "r") as rec:
            assert len(rec) == w.frames and rec.damage == []
            assert rec.frame(len(rec) - 1) == frames[w.frames - 1]
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_max_size_stops_before_crossing(tmp_path: Path) -> None:
    w = write(tmp_path / "r", fake_frames(100), max_size=8000)
    assert w.state == "stopped" and "max-size" in w.message
    assert 0 < w.frames < 100
    assert (tmp_path / "r").stat().st_size <= 8000
    assert len(all_frames(tmp_path / "r")) == w.frames


def frame_offsets(path: Path) -> list[int]:
    with Recording(path) as rec:
        return [e.offset for e in rec.entries]


def test_truncated_tail_stops_at_the_last_whole_frame(tmp_path: Path) -> None:
    frames = fake_frames(12)
    path = tmp_path / "r"
    write(path, frames)
    data = path.read_bytes()
    offsets = frame_offsets(path)
    last = offsets[-1]
    for cut in (last + 1, last + RECORD.size, len(data) - 1):
        path.write_bytes(data[:cut])
        with Recording(path) as rec:
            assert [f for _, f in rec.frames()] == frames[:-1]
            (damage,) = rec.damage
            assert damage.offset == last and damage.frame == 11 and damage.resumed_at is None
            assert "truncated" in damage.describe() and f"byte {last}" in damage.describe()


def test_flipped_byte_skips_to_the_next_key_frame(tmp_path: Path) -> None:
    frames = fake_frames(30)
    path = tmp_path / "r"
    write(path, frames, key_every_frames=10)
    offsets = frame_offsets(path)
    data = bytearray(path.read_bytes())
    data[offsets[13] + RECORD.size + 40] ^= 0x10  # inside frame 13's payload
    path.write_bytes(bytes(data))
    with Recording(path) as rec:
        got = dict(rec.frames())
        (damage,) = rec.damage
    assert damage.offset == offsets[13] and damage.frame == 13 and "CRC mismatch" in damage.reason
    assert damage.resumed_at == offsets[20] and damage.frames_lost == 7
    assert [got[i] for i in sorted(got)] == frames[:13] + frames[20:]


def test_files_that_cannot_be_read_raise_recording_error(tmp_path: Path) -> None:
    path = tmp_path / "r"
    write(path, fake_frames(2))
    data = path.read_bytes()
    cases = {
        "missing": None,
        "empty": b"",
        "not a recording": b"hello world\n" * 10,
        "header damaged": data[:20] + bytes([data[20] ^ 1]) + data[21:],
        "header torn": data[: len(MAGIC) + 30],
    }
    for name, content in cases.items():
        target = tmp_path / name.replace(" ", "_")
        if content is not None:
            target.write_bytes(content)
        with pytest.raises(RecordingError):
            Recording(target)


def test_newer_format_versions_are_refused_with_advice(tmp_path: Path) -> None:
    from bpftop.record.container import HEADER, record_bytes

    header = b'{"format": "bpftop-recording", "version": 99, "bpftop": "9.0"}'
    (tmp_path / "r").write_bytes(MAGIC + record_bytes(HEADER, header))
    with pytest.raises(RecordingError, match=r"version 99.*upgrade bpftop"):
        Recording(tmp_path / "r")


def test_records_of_unknown_types_are_skipped(tmp_path: Path) -> None:
    from bpftop.record.container import record_bytes

    frames = fake_frames(4)
    path = tmp_path / "r"
    write(path, frames)
    data = path.read_bytes()
    offsets = frame_offsets(path)
    future = record_bytes(b"X", b"a record type of a later minor version")
    path.write_bytes(data[: offsets[2]] + future + data[offsets[2] :])
    assert all_frames(path) == frames


def test_a_decode_error_behind_a_good_crc_is_skipped_and_reported(tmp_path: Path) -> None:
    from bpftop.record.container import DELTA, FRAME_PREFIX, record_bytes

    frames = fake_frames(12)
    path = tmp_path / "r"
    write(path, frames, key_every_frames=5)
    data = path.read_bytes()
    offsets = frame_offsets(path)
    # Frame 7 (a delta): a valid record whose body is garbage.
    prefix = FRAME_PREFIX.pack(7, 6, frames[7].ts_ns, frames[7].wall, 1)
    bad = record_bytes(DELTA, prefix + b"not zlib at all")
    path.write_bytes(data[: offsets[7]] + bad + data[offsets[8] :])
    with Recording(path) as rec:
        got = dict(rec.frames())
        with pytest.raises(RecordingError, match="frame 7 at byte"):
            rec.frame(8)
        (damage,) = rec.damage
    assert sorted(got) == [0, 1, 2, 3, 4, 5, 6, 10, 11]
    assert damage.frame == 7 and damage.frames_lost == 3


def test_frame_prefix_layout_is_what_the_docs_say() -> None:
    from bpftop.record.container import FRAME_PREFIX

    assert FRAME_PREFIX.size == 25
    assert RECORD.size == 11
    assert struct.calcsize("<2scII") == 11
