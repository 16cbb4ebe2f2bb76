"""The biolat collector's decoding and derive step on hand-made data (no root needed)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from bpftop.batch import text_tables, to_json
from bpftop.collectors.biolat import (
    DISK_KEY,
    HIST_FIELDS,
    HIST_SLOTS,
    NR_TIMES,
    PROC_KEY,
    PROC_VAL,
    BiolatSample,
    DiskOpTotals,
    ProcIO,
    decode_hists,
    decode_procs,
    disk_name,
    split_dev,
)
from bpftop.derive import derive
from bpftop.frame import Frame, ProcMeta

LOOP0 = 7 << 20  # kernel dev_t of 7:0
SDA = 8 << 20
US = 1000


def slots(**counts: int) -> tuple[int, ...]:
    """A log2(us) histogram: ``slots(s5=3)`` has 3 in slot 5."""
    return tuple(counts.get(f"s{i}", 0) for i in range(HIST_SLOTS))


def disk_op(
    dev: int, op: int, ios: int, *, sync: bool = False, slot: int = 5, queue_slot: int = 0
) -> DiskOpTotals:
    """``ios`` I/Os of 4 KiB, each 40 us total (slot 5), ``queue_slot`` of queue time."""
    total, queue = 40 * US, (1 << queue_slot) * US if queue_slot else 0
    return DiskOpTotals(
        dev=dev,
        disk={LOOP0: "loop0"}.get(dev, ""),
        op=op,
        sync=sync,
        ios=ios,
        bytes=ios * 4096,
        sum_ns=(ios * total, ios * queue, ios * (total - queue)),
        max_ns=(total, queue, total - queue),
        hists=(slots(**{f"s{slot}": ios}), slots(**{f"s{queue_slot}": ios}), slots(**{f"s{slot}": ios})),
    )


def sample(ts_s: float, writes: int, reads: int, sync_writes: int = 0) -> BiolatSample:
    return BiolatSample(
        ts_ns=int(ts_s * 1e9),
        disks=(
            disk_op(LOOP0, 1, writes),
            disk_op(LOOP0, 1, sync_writes, sync=True),
            disk_op(LOOP0, 0, reads, slot=3),
            disk_op(SDA, 2, 1),
        ),
        procs=(
            ProcIO(100, LOOP0, "loop0", 1, writes + sync_writes, (writes + sync_writes) * 4096, 0, "writer"),
            ProcIO(100, LOOP0, "loop0", 0, reads, reads * 4096, reads * 10 * US, "writer"),
            ProcIO(200, SDA, "", 2, 1, 0, 5 * US, "kworker/0:1H"),
        ),
        unmatched=2,
    )


def frame(s: BiolatSample, exited: bool = False) -> Frame:
    procs = {
        100: ProcMeta(100, name="writer", user="root"),
        200: ProcMeta(200, name="kworker/0:1H", exited=exited),
    }
    return Frame(ts_ns=s.ts_ns, wall=1.7e9 + s.ts_ns / 1e9, samples={"biolat": s}, procs=procs)


def test_first_frame_has_no_rates_but_cumulative_counts() -> None:
    v = derive(None, frame(sample(1.0, 100, 50))).views["biolat"]
    write = next(r for r in v.disk_ops if r.disk == "loop0" and r.op == "write")
    assert (write.ios, write.ios_total, write.iops, write.bytes_per_s) == (100, 100, None, None)
    assert v.disks[0].queue_depth is None
    assert v.drops["unmatched"] == 2


@pytest.mark.parametrize(
    ("op", "ios", "iops", "mb_per_s", "p50_us", "avg_us"),
    [
        # 400 more writes in 2 s, all in slot 5 = [32, 64) us: the median would
        # interpolate to 48 us, but no write took more than 40 us (max_ns).
        ("write", 400, 200.0, 200 * 4096 / 1e6, 40.0, 40.0),
        # reads in slot 3 = [8, 16) us: the median interpolates to 12 us.
        ("read", 100, 50.0, 50 * 4096 / 1e6, 12.0, 40.0),
    ],
)
def test_interval_rates_and_percentiles(
    op: str, ios: int, iops: float, mb_per_s: float, p50_us: float, avg_us: float
) -> None:
    v = derive(frame(sample(1.0, 100, 50)), frame(sample(3.0, 500, 150))).views["biolat"]
    row = next(r for r in v.disk_ops if r.disk == "loop0" and r.op == op)
    assert (row.ios, row.iops) == (ios, iops)
    assert row.bytes_per_s is not None and row.bytes_per_s / 1e6 == pytest.approx(mb_per_s)
    assert row.total.p50_ns == pytest.approx(p50_us * US)
    assert row.total.avg_ns == pytest.approx(avg_us * US)
    assert sum(row.total.hist) == ios
    assert row.total.max_ns == 40 * US  # since start


def test_sync_flag_folded_and_kept() -> None:
    prev, cur = sample(1.0, 100, 0, sync_writes=10), sample(2.0, 150, 0, sync_writes=30)
    v = derive(frame(prev), frame(cur)).views["biolat"]
    write = next(r for r in v.disk_ops if r.disk == "loop0" and r.op == "write")
    assert (write.ios, write.sync_ios, write.ios_total) == (70, 20, 180)


def test_disk_summary_and_queue_depth() -> None:
    v = derive(frame(sample(1.0, 100, 50)), frame(sample(3.0, 500, 150))).views["biolat"]
    loop = next(d for d in v.disks if d.disk == "loop0")
    assert (loop.ios, loop.read_bytes, loop.write_bytes) == (500, 100 * 4096, 400 * 4096)
    assert (loop.ios_total, loop.bytes_total) == (650, 650 * 4096)
    # Little's law: 500 I/Os x 40 us in 2 s = 0.01 requests in flight on average.
    assert loop.queue_depth == pytest.approx(500 * 40e3 / 2e9)
    assert loop.avg_ns == pytest.approx(40 * US)
    assert {d.disk for d in v.disks} == {"loop0", "8:0"}  # unknown to /sys: major:minor


def test_evicted_key_restarts_from_its_new_count() -> None:
    v = derive(frame(sample(1.0, 500, 50)), frame(sample(2.0, 30, 60))).views["biolat"]
    write = next(r for r in v.disk_ops if r.disk == "loop0" and r.op == "write")
    assert write.ios == 30


def test_process_rows_and_totals() -> None:
    d = derive(frame(sample(1.0, 100, 50)), frame(sample(3.0, 500, 150)))
    v = d.views["biolat"]
    assert [(p.pid, p.op, p.ios) for p in v.procs][:2] == [(100, "write", 400), (100, "read", 100)]
    read = next(p for p in v.procs if p.pid == 100 and p.op == "read")
    assert read.avg_ns == pytest.approx(10 * US)
    assert v.by_pid[100].bytes == 500 * 4096
    assert v.by_pid[100].write_bytes_per_s == pytest.approx(200 * 4096)
    assert v.by_pid[200].ios == 0


def test_exited_idle_process_is_hidden() -> None:
    d = derive(frame(sample(1.0, 100, 50)), frame(sample(2.0, 100, 50), exited=True))
    assert 200 not in {p.pid for p in d.views["biolat"].procs}


def test_comm_filter() -> None:
    d = derive(frame(sample(1.0, 100, 50)), frame(sample(2.0, 200, 50)), comm="^kworker")
    assert {p.pid for p in d.views["biolat"].procs} == {200}


def test_json_histograms_and_units() -> None:
    d = derive(frame(sample(1.0, 100, 50)), frame(sample(3.0, 500, 150)))
    record = json.loads(json.dumps(to_json(d, "biolat")))
    op = next(o for o in record["biolat"]["ops"] if o["disk"] == "loop0" and o["op"] == "write")
    assert (op["ios"], op["ios_total"], op["bytes"], op["bytes_total"]) == (400, 500, 400 * 4096, 500 * 4096)
    slot = op["total_time"]["hist_log2_us"][0]
    assert slot == {"slot": 5, "low_us": 32, "high_us": 64, "count": 400, "count_total": 500}
    assert op["device_time"]["max_ns"] == 40 * US
    disk = next(x for x in record["biolat"]["disks"] if x["disk"] == "loop0")
    assert (disk["ios"], disk["ios_total"], disk["ios_per_s"]) == (500, 650, 250.0)
    assert record["biolat"]["procs"][0]["pid"] == 100
    assert "biolat" not in to_json(d, "syscalls")


def test_text_output_has_tables_and_histogram() -> None:
    from rich.console import Console

    d = derive(frame(sample(1.0, 100, 50)), frame(sample(3.0, 500, 150)))
    console = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    for part in text_tables(d, "biolat"):
        console.print(part)
    text = console.export_text()
    assert "loop0 write: total time" in text
    assert "32 -> 63" in text and "400" in text
    assert "writer" in text


def test_decode_per_cpu_hists() -> None:
    ncpu = 2
    keys = DISK_KEY.pack(LOOP0, 1, 1, 0)
    per_cpu = []
    for cpu in range(ncpu):
        words = [0] * HIST_FIELDS
        words[0], words[1] = 3 + cpu, (3 + cpu) * 4096  # ios, bytes
        words[2:5] = [100 * (cpu + 1), 10, 90]  # sums
        words[5:8] = [50 * (cpu + 1), 5, 45]  # maxima
        words[8 + 5] = 3 + cpu  # total time slot 5
        per_cpu.append(struct.pack(f"<{HIST_FIELDS}Q", *words))
    (row,) = decode_hists(keys, b"".join(per_cpu), ncpu, {LOOP0: "loop0"})
    assert (row.disk, row.op, row.sync, row.ios, row.bytes) == ("loop0", 1, True, 7, 7 * 4096)
    assert row.sum_ns == (300, 20, 180)
    assert row.max_ns == (100, 5, 45)  # max, not sum, across CPUs
    assert row.hists[0][5] == 7 and len(row.hists) == NR_TIMES


def test_decode_procs() -> None:
    keys = PROC_KEY.pack(42, LOOP0, 1)
    values = PROC_VAL.pack(2, 8192, 1000, b"dd\0garbage")
    assert decode_procs(keys, values, {LOOP0: "loop0"}) == (
        ProcIO(42, LOOP0, "loop0", 1, 2, 8192, 1000, "dd"),
    )
    assert split_dev(LOOP0 | 3) == (7, 3)


def test_disk_name_maps_partitions_to_their_disk(tmp_path: Path) -> None:
    devices = tmp_path / "devices" / "pci0" / "block" / "sda"
    (devices / "sda1").mkdir(parents=True)
    (devices / "sda1" / "partition").write_text("1\n")
    links = tmp_path / "dev" / "block"
    links.mkdir(parents=True)
    (links / "8:0").symlink_to(devices)
    (links / "8:1").symlink_to(devices / "sda1")
    assert disk_name(8 << 20, tmp_path) == "sda"
    assert disk_name((8 << 20) | 1, tmp_path) == "sda"
    assert disk_name(9 << 20, tmp_path) == ""


def test_removed_disk_keeps_its_name_once(tmp_path: Path) -> None:
    from bpftop.collectors.biolat import BiolatCollector

    devices = tmp_path / "devices" / "block" / "sdb"
    devices.mkdir(parents=True)
    links = tmp_path / "dev" / "block"
    links.mkdir(parents=True)
    (links / "8:16").symlink_to(devices)
    sdb = (8 << 20) | 16
    c = BiolatCollector(sys_root=tmp_path)
    assert c._resolve([sdb]) == set()
    (links / "8:16").unlink()  # hot-unplugged
    assert c._resolve([sdb]) == {sdb}  # its histograms go after this sample
    assert c._names[sdb] == "sdb"


def test_known_disk_is_only_checked_for_presence_until_renaming_is_due(tmp_path: Path, monkeypatch) -> None:
    import bpftop.collectors.biolat as biolat

    (tmp_path / "devices" / "block" / "sdb").mkdir(parents=True)
    (tmp_path / "devices" / "block" / "sdc").mkdir(parents=True)
    links = tmp_path / "dev" / "block"
    links.mkdir(parents=True)
    (links / "8:16").symlink_to(tmp_path / "devices" / "block" / "sdb")
    sdb = (8 << 20) | 16
    named = []
    real = biolat.disk_name
    monkeypatch.setattr(biolat, "disk_name", lambda dev, root: named.append(dev) or real(dev, root))
    c = biolat.BiolatCollector(sys_root=tmp_path)
    c._resolve([sdb])
    c._resolve([sdb])
    assert named == [sdb]  # the second refresh only saw that its link is there
    (links / "8:16").unlink()
    (links / "8:16").symlink_to(tmp_path / "devices" / "block" / "sdc")  # the number reused
    c._names_checked -= biolat.RENAME_CHECK_S
    assert c._resolve([sdb]) == set() and c._names[sdb] == "sdc"


def test_json_says_who_submits_a_flush() -> None:
    # Flushes are issued by kblockd kworkers, not by the process whose writes
    # caused them (issue 16): the JSON says so. Whether a row is a kernel
    # thread comes from its parent (kthreadd), never from its name.
    from dataclasses import replace

    from bpftop.batch.common import ALL_ROWS

    def with_impostor(s: BiolatSample, flushes: int) -> BiolatSample:
        fake = ProcIO(300, SDA, "", 2, flushes, 0, flushes * US, "kworker/9:9H")
        return replace(s, procs=(*s.procs, fake))

    def meta_frame(s: BiolatSample) -> Frame:
        f = frame(s)
        procs = {
            **f.procs,
            200: replace(f.procs[200], ppid=2),
            300: ProcMeta(300, name="kworker/9:9H", ppid=1),
        }
        return replace(f, procs=procs)

    d = derive(
        meta_frame(with_impostor(sample(1.0, 100, 50), 1)), meta_frame(with_impostor(sample(2.0, 100, 50), 3))
    )
    rows = {p["pid"]: p for p in to_json(d, "biolat", ALL_ROWS)["biolat"]["procs"]}
    assert rows[200]["op"] == "flush" and rows[200]["submitter"] == "kworker (flush machinery)"
    assert rows[300]["submitter"] == "process"  # a name is not a kernel thread
    assert rows[100]["submitter"] == "process"
