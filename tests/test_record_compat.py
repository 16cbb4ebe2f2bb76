"""Format version 1 stays readable: a committed v1 file replays, to the same frames and output.

``tests/fixtures/recording-v1.bpfrec`` was written by ``python
tests/test_record_compat.py`` from ``v1_frames()``. Never regenerate it for a
new format version: add ``recording-v2.bpfrec`` (and its own test) instead, so
every version bpftop ever wrote keeps being replayed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bpftop.collectors.syscalls import HIST_SLOTS, ProcSyscall, SyscallErrno, SyscallsSample, SyscallTotals
from bpftop.frame import CollectorStatus, Frame, HostInfo, ProcMeta
from bpftop.record.reader import Recording

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "recording-v1.bpfrec"
HOST = HostInfo(hostname="fixture-host", kernel="6.1.0-fixture", machine="x86_64", ncpu=4, boot_time=1.7e9)
GETPPID, CLOSE, READ = 110, 3, 0  # x86_64


def _hist(slot: int, count: int) -> tuple[int, ...]:
    return tuple(count if i == slot else 0 for i in range(HIST_SLOTS))


def v1_frames() -> list[Frame]:
    """Eight frames a second apart: pid 300 exits after frame 4, 400 starts at 5, focus on 100 from 6."""
    frames = []
    for t in range(8):
        n = t + 1
        procs = [ProcSyscall(100, GETPPID, 1000 * n, 0, 500_000 * n, 900, "loop")]
        procs.append(ProcSyscall(200, CLOSE, 10 * n, 10 * n, 20_000 * n, 3000, "closer"))
        if t <= 4:
            procs.append(ProcSyscall(300, READ, 5 * min(n, 4), 0, 40_000 * min(n, 4), 12_000, "reader"))
        if t >= 5:
            procs.append(ProcSyscall(400, READ, 7 * (t - 4), 1, 9_000 * (t - 4), 2000, "newcomer"))
        errnos = [SyscallErrno(200, CLOSE, 9, 10 * n)]
        totals = (
            SyscallTotals(READ, sum(p.calls for p in procs if p.nr == READ), 0, 1, 12_000, _hist(13, 5 * n)),
            SyscallTotals(CLOSE, 10 * n, 10 * n, 20_000 * n, 3000, _hist(10, 10 * n)),
            SyscallTotals(GETPPID, 1000 * n, 0, 500_000 * n, 900, _hist(8, 1000 * n)),
        )
        focus = (
            (SyscallTotals(GETPPID, 1000 * (t - 5), 0, 0, 900, _hist(8, 1000 * (t - 5))),) if t >= 6 else ()
        )
        sample = SyscallsSample(
            ts_ns=5_000_000_000 + t * 1_000_000_000,
            arch="x86_64",
            syscalls=totals,
            procs=tuple(procs),
            errnos=tuple(errnos),
            focus_pid=100 if t >= 6 else 0,
            focus=focus,
            unmatched_exits=2,
        )
        metas = {
            p.pid: ProcMeta(
                p.pid, 1, "root", p.comm, f"/usr/bin/{p.comm} -x", 1.75e9, p.pid == 300 and t == 4
            )
            for p in procs
        }
        frames.append(
            Frame(
                ts_ns=sample.ts_ns,
                wall=1.75e9 + 100 + t,
                samples={"syscalls": sample},
                procs=metas,
                status=(CollectorStatus("syscalls", True, method="tp_btf"),),
                host=HOST,
                delay_s=1.0,
            )
        )
    return frames


def test_v1_fixture_decodes_to_its_frames() -> None:
    with Recording(FIXTURE) as rec:
        assert rec.header["version"] == 1 and rec.damage == []
        assert [e.key for e in rec.entries] == [True, False, False, False, True, False, False, False]
        assert [f for _, f in rec.frames()] == v1_frames()
        assert rec.frame(6) == v1_frames()[6]


def test_v1_fixture_replays_in_batch(capsys: object) -> None:
    from bpftop import cli

    assert cli.main(["replay", str(FIXTURE), "--json", "-b"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # type: ignore[attr-defined]
    assert len(lines) == 7
    assert all(line["interval_s"] == 1.0 for line in lines)
    loop = next(p for p in lines[0]["syscalls"]["procs"] if p["pid"] == 100)
    assert loop["syscalls_per_s"] == 1000.0 and loop["avg_latency_ns"] == 500.0
    closer = next(s for s in lines[-1]["syscalls"]["syscalls"] if s["name"] == "close")
    assert closer["errnos"] == {"EBADF": 10}
    assert lines[-1]["host"]["hostname"] == "fixture-host"


def test_v1_fixture_replays_at_a_time(capsys: object) -> None:
    from bpftop import cli

    assert cli.main(["replay", str(FIXTURE), "--once", "--at", "+3", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]
    record = json.loads(line)
    assert record["time"].startswith("2025-06-15T15:08:23")  # wall 1.75e9 + 103, the 4th frame


def write_fixture(path: Path = FIXTURE) -> None:
    """(Re)write the v1 fixture; only ever with format version 1."""
    from bpftop.record.writer import RecordingWriter

    path.parent.mkdir(exist_ok=True)
    writer = RecordingWriter(
        str(path), host=HOST, collectors=["syscalls"], delay_s=1.0, force=True, key_every_frames=4
    )
    for frame in v1_frames():
        writer.append(frame)
    writer.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    write_fixture()
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
