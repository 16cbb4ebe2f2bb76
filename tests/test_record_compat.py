"""Every format version stays readable: committed files replay, to the same frames and output.

``tests/fixtures/recording-v1.bpfrec`` was written by format version 1 from
``v1_frames()``; ``recording-v2.bpfrec`` by version 2 (which added carried
per-process tables) from the same frames with ``--detail 3``, by ``python
tests/test_record_compat.py``. Never regenerate an older version's file: each
new format version adds its own file (and test), so every version bpftop
ever wrote keeps being replayed.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from bpftop.collectors.syscalls import HIST_SLOTS, ProcSyscall, SyscallErrno, SyscallsSample, SyscallTotals
from bpftop.frame import CollectorStatus, Frame, HostInfo, ProcMeta
from bpftop.record.reader import Recording

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "recording-v1.bpfrec"
FIXTURE_V2 = FIXTURE.with_name("recording-v2.bpfrec")
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


def test_v2_fixture_carries_per_process_tables() -> None:
    frames = v1_frames()
    with Recording(FIXTURE_V2) as rec:
        assert rec.header["version"] == 2 and rec.header["detail_every_s"] == 3.0 and rec.damage == []
        assert ["c" if e.carried else "F" for e in rec.entries] == list("FccFccFc")
        decoded = [f for _, f in rec.frames()]
    for i, frame in enumerate(decoded):
        fresh = frames[i - i % 3].samples["syscalls"]
        assert frame.samples["syscalls"].procs == fresh.procs
        assert dataclasses.replace(frame.samples["syscalls"], procs=()) == dataclasses.replace(
            frames[i].samples["syscalls"], procs=()
        )


def test_v2_fixture_replays_per_process_rates_over_three_seconds(capsys: object) -> None:
    from bpftop import cli

    assert cli.main(["replay", str(FIXTURE_V2), "--json", "-b"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # type: ignore[attr-defined]
    assert len(lines) == 7 and all(line["interval_s"] == 1.0 for line in lines)
    # Frames 1 and 2 carry frame 0's tables: no per-process rates before frame 3, like a first frame.
    assert [line.get("detail_s") for line in lines] == [None, None, 3.0, 3.0, 3.0, 3.0, 3.0]
    for line in lines[2:]:  # from frame 3 on, figures span frames 0 to 3, then 3 to 6
        loop = next(p for p in line["syscalls"]["procs"] if p["pid"] == 100)
        assert loop["syscalls_per_s"] == 1000.0 and loop["avg_latency_ns"] == 500.0
    newcomer = next(p for p in lines[-1]["syscalls"]["procs"] if p["pid"] == 400)
    assert newcomer["syscalls_per_s"] == round(14 / 3, 1)  # started at frame 5: 14 calls over frames 3 to 6
    assert not any(p["pid"] == 300 for p in lines[-1]["syscalls"]["procs"])  # gone by frame 6


def write_fixture(path: Path = FIXTURE_V2) -> None:
    """(Re)write the v2 fixture; only ever with format version 2."""
    from bpftop.record.container import FORMAT_VERSION
    from bpftop.record.writer import RecordingWriter

    assert FORMAT_VERSION == 2, "add a fixture for the new version instead"
    path.parent.mkdir(exist_ok=True)
    writer = RecordingWriter(
        str(path),
        host=HOST,
        collectors=["syscalls"],
        delay_s=1.0,
        force=True,
        key_every_frames=4,
        detail_s=3.0,
    )
    for frame in v1_frames():
        writer.append(frame)
    writer.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    write_fixture()
    print(f"wrote {FIXTURE_V2} ({FIXTURE_V2.stat().st_size} bytes)")
