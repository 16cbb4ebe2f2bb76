"""The biolat BPF programs against real I/O on loop devices the tests make (root).

Each test makes its own loop device (``tests/blockdev.py``), attaches bpftop,
runs a C workload of exactly N O_DIRECT 4 KiB writes and M reads, and checks
bpftop's numbers for that disk. Nothing else touches a fresh loop device, so
per-disk totals are exact too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import blockdev
import pytest
from conftest import skip_or_fail

from bpftop import hist
from bpftop.bpf import object as bpf_object
from bpftop.bpf.object import METHODS
from bpftop.collectors.base import Filters
from bpftop.collectors.biolat import TIMES, BiolatCollector, BiolatSample, DiskOpTotals
from bpftop.derive import derive
from bpftop.frame import Frame
from tests.workloads import up_to_three_runs

pytestmark = pytest.mark.bpf

N, M = 200, 100  # writes, reads
WRITE, READ, FLUSH, DISCARD = 1, 0, 2, 3
BIOLATENCY = "/usr/sbin/biolatency"


@pytest.fixture(scope="module")
def io_exe() -> Path:
    try:
        return blockdev.build_io()
    except RuntimeError as exc:
        skip_or_fail(str(exc))
        raise


@pytest.fixture
def loop() -> Iterator[str]:
    try:
        with blockdev.loop_device() as device:
            yield device
    except RuntimeError as exc:
        skip_or_fail(f"cannot make a loop device: {exc}")


def open_collector(filters: Filters | None = None, methods: tuple[str, ...] | None = None) -> BiolatCollector:
    c = BiolatCollector(methods=methods)
    c.open(filters or Filters())
    return c


def rows(sample: BiolatSample, device: str, op: int) -> list[DiskOpTotals]:
    """Rows of one disk and op (sync and not)."""
    return [d for d in sample.disks if d.disk == Path(device).name and d.op == op]


def totals(sample: BiolatSample, device: str, op: int) -> tuple[int, int]:
    """(I/Os, bytes) of one disk and op."""
    found = rows(sample, device, op)
    return sum(d.ios for d in found), sum(d.bytes for d in found)


def hist_of(sample: BiolatSample, device: str, op: int | None, t: int) -> list[int]:
    """Slots of time ``t`` for one disk, one op or all (None)."""
    out = [0] * 32
    for d in sample.disks:
        if d.disk == Path(device).name and (op is None or d.op == op):
            out = [a + b for a, b in zip(out, d.hists[t], strict=True)]
    return out


def diag(sample: BiolatSample) -> str:
    """The sample's drop counters and rows, for assertion messages."""
    names = ("unmatched", "unissued", "requeues", "merges", "stale_starts", "evicted_starts", "missed_runs")
    drops = {n: getattr(sample, n) for n in names}
    rows = [(d.disk, d.op, d.sync, d.ios, d.bytes) for d in sample.disks]
    return f"drops {drops}; rows {rows}; procs {[(p.pid, p.comm, p.disk, p.op, p.ios) for p in sample.procs]}"


def assert_counted(sample: BiolatSample, device: str, op: int, expected: int) -> None:
    """``expected`` I/Os of 4 KiB, exactly; fewer only by runs the kernel skipped.

    A tracing program never nests on one CPU: a completion that fires while the
    program runs there (an interrupt over a completion in task context) is
    skipped by the kernel, and counted in ``missed_runs``.
    """
    ios, nbytes = totals(sample, device, op)
    assert expected - sample.missed_runs <= ios <= expected, diag(sample)
    assert nbytes == ios * blockdev.IO_SIZE, diag(sample)
    for t in range(len(TIMES)):
        assert sum(hist_of(sample, device, op, t)) == ios, diag(sample)



def run_io(device: str, exe: Path, writes: int = N, reads: int = M) -> int:
    """Run the workload to its end; return its pid (still alive until return)."""
    with blockdev.start_io(device, writes, reads, exe=exe) as wl:
        wl.run()
        return wl.pid


@up_to_three_runs
def test_direct_io_counted_exactly(loop: str, io_exe: Path) -> None:
    c = open_collector()
    try:
        with blockdev.start_io(loop, N, M, exe=io_exe) as wl:
            before = c.sample()
            wl.run()
            after = c.sample()
    finally:
        c.close()

    assert_counted(after, loop, WRITE, N)
    assert_counted(after, loop, READ, M)
    assert {d.op for d in after.disks if d.disk == Path(loop).name} == {READ, WRITE}
    # The writer is the submitter, with its own I/O only.
    mine = {p.op: (p.ios, p.bytes) for p in after.procs if p.pid == wl.pid and p.disk == Path(loop).name}
    assert mine == {op: totals(after, loop, op) for op in (WRITE, READ)}, diag(after)
    assert {p.pid for p in after.procs if p.disk == Path(loop).name} == {wl.pid}
    assert after.failed_starts == 0

    view = derive(frame(before), frame(after)).views["biolat"]
    write = next(r for r in view.disk_ops if r.disk == Path(loop).name and r.op == "write")
    assert (write.ios, write.bytes, write.ios_total) == (*totals(after, loop, WRITE), write.ios)
    assert write.total.avg_ns is not None and write.total.avg_ns > 0
    assert write.device.max_ns <= write.total.max_ns
    proc = next(p for p in view.procs if p.pid == wl.pid and p.op == "write")
    assert (proc.ios, proc.bytes) == totals(after, loop, WRITE)


def frame(sample: BiolatSample) -> Frame:
    return Frame(ts_ns=sample.ts_ns, wall=1.7e9, samples={"biolat": sample})


@pytest.mark.parametrize("method", METHODS)
@up_to_three_runs
def test_each_attach_family_counts_exactly(method: str, loop: str, io_exe: Path) -> None:
    c = open_collector(methods=(method,))
    try:
        assert c.method == method
        pid = run_io(loop, io_exe)
        sample = c.sample()
    finally:
        c.close()

    assert_counted(sample, loop, WRITE, N)
    assert_counted(sample, loop, READ, M)
    mine = {p.op: (p.ios, p.bytes) for p in sample.procs if p.pid == pid and p.disk == Path(loop).name}
    assert mine == {op: totals(sample, loop, op) for op in (WRITE, READ)}, diag(sample)


@up_to_three_runs
def test_submitter_without_block_io_start(loop: str, io_exe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on kernels before 6.5: the loader finds no block_io_start.
    real = bpf_object._hook_exists
    monkeypatch.setattr(bpf_object, "_hook_exists", lambda s: not s.endswith("block_io_start") and real(s))
    c = open_collector()
    try:
        assert c.attribution == "insert/issue context"
        pid = run_io(loop, io_exe)
        sample = c.sample()
    finally:
        c.close()

    # O_DIRECT I/O on a queue without a scheduler is issued by the submitter itself.
    assert_counted(sample, loop, WRITE, N)
    assert_counted(sample, loop, READ, M)
    mine = {p.op: (p.ios, p.bytes) for p in sample.procs if p.pid == pid and p.disk == Path(loop).name}
    assert mine == {op: totals(sample, loop, op) for op in (WRITE, READ)}, diag(sample)


@up_to_three_runs
def test_pid_filter(loop: str, io_exe: Path) -> None:
    with blockdev.start_io(loop, N, M, exe=io_exe) as wl:
        c = open_collector(Filters(pid=wl.pid))
        try:
            wl.run()
            sample = c.sample()
        finally:
            c.close()

    assert {p.pid for p in sample.procs} == {wl.pid}
    assert {(d.disk, d.op) for d in sample.disks} == {(Path(loop).name, WRITE), (Path(loop).name, READ)}
    assert_counted(sample, loop, WRITE, N)
    assert_counted(sample, loop, READ, M)
    assert sample.unmatched == 0  # others' completions are not "unmatched"
    # Only the child's requests had entries, all completed (a skipped
    # completion would leave its entry active).
    assert sample.in_flight <= sample.missed_runs, diag(sample)
    assert (sample.stale_starts, sample.evicted_starts, sample.failed_starts) == (0, 0, 0)


def test_flush_from_fsync_on_ext4(loop: str) -> None:
    if shutil.which("mkfs.ext4") is None:
        skip_or_fail("mkfs.ext4 not found (e2fsprogs)")
    with blockdev.mounted_ext4(loop) as mnt:
        c = open_collector()
        try:
            with open(mnt / "data", "wb") as f:
                f.write(b"x" * 8192)
                f.flush()
                os.fsync(f.fileno())
            sample = c.sample()
        finally:
            c.close()

    flushes, flush_bytes = totals(sample, loop, FLUSH)
    assert flushes >= 1
    assert flush_bytes == 0
    assert totals(sample, loop, WRITE)[1] >= 8192  # the data, then the journal
    assert sum(hist_of(sample, loop, FLUSH, TIMES.index("device"))) == flushes


def test_discard_classified(loop: str) -> None:
    if shutil.which("blkdiscard") is None:
        skip_or_fail("blkdiscard not found (util-linux)")
    c = open_collector()
    try:
        subprocess.run(["blkdiscard", "-o", "0", "-l", str(1 << 20), loop], check=True)
        sample = c.sample()
    finally:
        c.close()

    discards, discard_bytes = totals(sample, loop, DISCARD)
    assert discards >= 1
    assert discard_bytes == 1 << 20
    assert {p.op for p in sample.procs if p.disk == Path(loop).name and p.comm == "blkdiscard"} >= {DISCARD}


def _biolatency_hists(out: str) -> dict[str, list[int]]:
    """``disk -> slots`` from ``biolatency -D`` text (usecs; "0 -> 1" is slot 0)."""
    hists: dict[str, list[int]] = {}
    disk = ""
    for line in out.splitlines():
        if m := re.match(r"\s*disk = (\S+)", line):
            disk = m.group(1)
            hists[disk] = [0] * 32
        elif disk and (m := re.match(r"\s*(\d+) -> (\d+)\s*:\s*(\d+)", line)):
            low, count = int(m.group(1)), int(m.group(3))
            hists[disk][low.bit_length() - 1 if low else 0] += count
    return hists


def test_agrees_with_biolatency(loop: str, io_exe: Path) -> None:
    if not os.path.exists(BIOLATENCY):
        pytest.skip("libbpf-tools biolatency not installed")
    c = open_collector()
    try:
        with blockdev.start_io(loop, N, M, exe=io_exe) as wl:
            # `-D 2 1`: one per-disk histogram after two seconds; the banner
            # comes right after attaching, and stdbuf makes it arrive now.
            argv = ["stdbuf", "-oL", BIOLATENCY, "-D", "2", "1"]
            bl = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert bl.stdout is not None
            banner = bl.stdout.readline()
            if not banner.startswith("Tracing"):
                bl.kill()
                pytest.fail(f"biolatency did not start: {banner!r} {bl.communicate()[1]!r}")
            before = c.sample()
            wl.run()
            after = c.sample()
            out, err = bl.communicate(timeout=30)
    finally:
        c.close()

    theirs = _biolatency_hists(out).get(Path(loop).name)
    assert theirs is not None, out + err
    # biolatency without -Q times issue -> complete: bpftop's device time.
    device = TIMES.index("device")
    later, earlier = hist_of(after, loop, None, device), hist_of(before, loop, None, device)
    ours = [a - b for a, b in zip(later, earlier, strict=True)]
    assert sum(ours) == sum(theirs) == N + M
    ours_median, theirs_median = hist.median_slot(ours), hist.median_slot(theirs)
    assert ours_median is not None and theirs_median is not None
    assert abs(ours_median - theirs_median) <= 1, (ours, theirs)
