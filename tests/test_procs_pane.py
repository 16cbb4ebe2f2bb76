"""The procs pane and batch procs section joining syscalls, runqlat and biolat (no root, no BPF)."""

from __future__ import annotations

import dataclasses
import json

from bpftop.app import BpftopApp
from bpftop.batch import text_tables, to_json
from bpftop.collectors.biolat import BiolatSample, ProcIO
from bpftop.derive import Derived, derive
from bpftop.derive.procs import proc_rows
from bpftop.frame import CollectorStatus, Frame, ProcMeta
from bpftop.panes.procs import ProcsPane
from tests.test_biolat_pane import VDA, disk_op
from tests.test_runqlat_pane import FakeSchedSource, started

MIB = 1 << 20
COMMS = {600: "jbd2/vda-8"}
# pid -> [(op, I/Os per tick, bytes each, latency each in ns)]: DISK/s orders them 200, 600, 100.
DISK_IO = {
    100: [(0, 50, 8192, 200_000)],  # nginx: 400K/s at 200us
    200: [(1, 10, MIB, 2_000_000), (0, 20, 4096, 500_000)],  # postgres: 10.1M/s, 30 I/Os avg 1ms
    600: [(1, 4, 256 << 10, 4_000_000)],  # jbd2: disk only, 1.0M/s at 4ms
}


def biolat_sample(n: int) -> BiolatSample:
    """``n`` virtual seconds of DISK_IO on vda."""
    procs = tuple(
        ProcIO(pid, VDA, "vda", op, ios * n, ios * n * size, ios * n * lat_ns, COMMS.get(pid, ""))
        for pid, ios_of in DISK_IO.items()
        for op, ios, size, lat_ns in ios_of
    )
    disks = (disk_op(VDA, "vda", 0, 70, 8, 2, 8, n), disk_op(VDA, "vda", 1, 14, 11, 2, 11, n))
    return BiolatSample(ts_ns=n * 1_000_000_000, disks=disks, procs=procs)


class FakeProcsSource(FakeSchedSource):
    """Syscalls and runqlat frames (pids 100-500) plus biolat I/O of 100, 200 and 600."""

    def tick(self) -> Frame:
        frame = super().tick()
        procs = {**frame.procs, 600: ProcMeta(600, ppid=2, user="root", name="jbd2/vda-8")}
        return dataclasses.replace(
            frame,
            samples={**frame.samples, "biolat": biolat_sample(self.ticks)},
            procs=procs,
            status=(*frame.status, CollectorStatus("biolat", True, method="tp_btf")),
        )


def derived_second_tick() -> Derived:
    source = FakeProcsSource()
    return derive(source.tick(), source.tick())


def test_join_sums_each_process_disk_rows() -> None:
    rows = {r.pid: r for r in proc_rows(derived_second_tick()) or []}
    assert sorted(rows) == [100, 200, 300, 400, 500, 600]
    pg = rows[200]
    assert (pg.calls_per_s, pg.cpu_pct) == (500.0, 30.0)  # syscalls and runqlat still joined
    assert pg.disk_ios == 30 and pg.disk_ios_total == 60 and pg.disk_ios_per_s == 30.0
    assert pg.disk_bytes == 10 * MIB + 20 * 4096 and pg.disk_bytes_total == 2 * pg.disk_bytes
    assert pg.disk_bytes_per_s == 10 * MIB + 20 * 4096
    assert pg.disk_avg_ns == 1_000_000  # (10 x 2ms + 20 x 0.5ms) / 30
    jbd2 = rows[600]  # only the disk saw it
    assert (jbd2.comm, jbd2.user, jbd2.calls_per_s, jbd2.cpu_pct) == ("jbd2/vda-8", "root", None, None)
    assert (jbd2.disk_bytes_per_s, jbd2.disk_avg_ns) == (MIB, 4_000_000)
    spin = rows[500]  # only runqlat saw it
    assert (spin.cpu_pct, spin.disk_ios_total) == (95.0, 0)
    assert spin.disk_bytes_per_s is None and spin.disk_avg_ns is None


def test_join_before_the_first_interval_has_counts_but_no_rates() -> None:
    source = FakeProcsSource()
    rows = {r.pid: r for r in proc_rows(derive(None, source.tick())) or []}
    assert rows[100].disk_bytes == 50 * 8192 and rows[100].disk_bytes_per_s is None
    assert rows[100].disk_ios_per_s is None and rows[100].disk_avg_ns == 200_000


def test_join_with_biolat_alone() -> None:
    d = derived_second_tick()
    only_disk = dataclasses.replace(d, views={"biolat": d.views["biolat"]})
    assert sorted(r.pid for r in proc_rows(only_disk) or []) == [100, 200, 600]
    assert proc_rows(dataclasses.replace(d, views={})) is None


async def test_disk_columns_at_80_columns_and_sort_by_disk() -> None:
    app = BpftopApp(FakeProcsSource(), pane="procs", panes=("procs",))  # type: ignore[arg-type]
    async with app.run_test(size=(80, 24)) as pilot:
        procs = await started(pilot, "procs")
        assert isinstance(procs, ProcsPane)
        table = procs.table
        assert table.get_cell("200", "disk") == "10.1M"
        assert table.get_cell("200", "io_lat") == "1ms"
        assert table.get_cell("100", "disk") == "400K"
        assert table.get_cell("600", "disk") == "1.0M"
        assert table.get_cell("600", "io_lat") == "4ms"
        assert table.get_cell("300", "disk") == "-"  # never did disk I/O
        assert table.get_cell("600", "calls") == "-" and table.get_cell("600", "cpu") == "-"
        widths = {c.key: c.width for c in table.columns}
        assert widths["command"] >= 20 and sum(widths.values()) <= 80
        assert widths["top"] == widths["avg"] == widths["errno"] == 0  # hidden under 100 columns
        header = table.render_line(0).text
        assert "DISK/s" in header and "IO LAT" in header and "TOP SYSCALL" not in header
        assert procs.sort_column.key == "cpu"
        await pilot.press("s", "s", "s", "s", "s")  # RQ AVG, COMMAND, SYSC/s, ERR/s, DISK/s
        assert procs.sort_column.key == "disk"
        assert table.keys == ["200", "600", "100", "300", "400", "500"]
        await pilot.press("r")
        assert table.keys[:3] == ["300", "400", "500"] and table.keys[-1] == "200"
        await pilot.press("s")
        assert procs.sort_column.key == "io_lat"
        assert table.keys[:3] == ["600", "200", "100"]
        await pilot.press("s")  # the hidden columns are skipped
        assert procs.sort_column.key == "pid"


async def test_wide_terminal_shows_the_syscall_details() -> None:
    app = BpftopApp(FakeProcsSource(), pane="procs", panes=("procs",))  # type: ignore[arg-type]
    async with app.run_test(size=(120, 30)) as pilot:
        procs = await started(pilot, "procs")
        widths = {c.key: c.width for c in procs.table.columns}
        assert min(widths["top"], widths["avg"], widths["errno"]) > 0 and widths["command"] >= 20
        header = procs.table.render_line(0).text
        assert "TOP SYSCALL" in header and "TOP ERRNO" in header and "DISK/s" in header


def test_batch_json_joins_every_collector() -> None:
    d = derived_second_tick()
    for pane in ("procs", None):
        rec = json.loads(json.dumps(to_json(d, pane)))
        pg = next(p for p in rec["procs"] if p["pid"] == 200)
        assert pg["cpu_percent"] == 30.0 and pg["runq_wait_avg_ns"] == 96_000.0  # 1.5 x 64 us
        # Not in the procs pane (no per-process histograms there): from the runqlat view's rows.
        assert pg["runq_wait_p99_ns"] == d.views["runqlat"].by_pid[200].rq_p99_ns is not None
        assert pg["syscalls_per_s"] == 500.0 and pg["errors_per_s"] == 150.0
        assert pg["disk_bytes_per_s"] == 10 * MIB + 20 * 4096 and pg["disk_ios_per_s"] == 30.0
        assert pg["disk_avg_latency_ns"] == 1_000_000.0
        assert pg["disk_ios"] == 30 and pg["disk_ios_total"] == 60 and pg["on_cpu_total_ns"] == 600_000_000
        jbd2 = next(p for p in rec["procs"] if p["pid"] == 600)
        assert jbd2["syscalls_per_s"] is None and jbd2["disk_bytes_per_s"] == MIB
        # The syscalls section keeps its own per-process list and keys.
        assert next(p for p in rec["syscalls"]["procs"] if p["pid"] == 200)["syscalls_per_s"] == 500.0
    assert "procs" not in to_json(d, "syscalls") and "procs" not in to_json(d, "biolat")


def test_batch_text_procs_table_has_every_collectors_columns() -> None:
    text = "\n".join(str(p) for p in text_tables(derived_second_tick(), "procs"))
    assert "Processes: 6" in text
    tables = [p for p in text_tables(derived_second_tick(), "procs") if not isinstance(p, str)]
    (table,) = tables
    headers = [c.header for c in table.columns]
    assert headers[:9] == ["PID", "USER", "CPU%", "RQ AVG", "SYSC/s", "ERR/s", "DISK/s", "IO/s", "IO LAT"]
    cells = {str(c.header): list(c.cells) for c in table.columns}
    row = cells["PID"].index("200")
    assert (cells["CPU%"][row], cells["DISK/s"][row], cells["IO LAT"][row]) == ("30.0", "10.1M", "1ms")
    assert cells["PID"][0] == "500"  # busiest CPU first, like the pane


def test_join_derives_pmc_only_for_hardware_ipc() -> None:
    # Software counters have no IPC, the procs pane's only pmc column: their
    # view (6 ms a tick at 300 processes) is not derived for it (issue 23).
    from tests.snapshot_data import build_frame

    prev, cur = build_frame(1), build_frame(2)
    hw = derive(prev, cur)
    assert any(r.ipc is not None for r in proc_rows(hw) or ())
    assert "pmc" in hw.views.derived()  # type: ignore[attr-defined]
    software = dataclasses.replace(cur.samples["pmc"], hardware=False)
    sw = derive(prev, dataclasses.replace(cur, samples={**cur.samples, "pmc": software}))
    assert all(r.ipc is None for r in proc_rows(sw) or ())
    assert "pmc" in sw.views and "pmc" not in sw.views.derived()  # type: ignore[attr-defined]


def test_the_join_is_built_once_per_frame_by_whoever_comes_first() -> None:
    # The sampling thread builds it (registry Pane.prepare); the pane reads it.
    from bpftop.derive.procs import joined_rows
    from bpftop.registry import PANES, resolve
    from tests.snapshot_data import build_frame

    derived = derive(build_frame(1), build_frame(2))
    rows = resolve(PANES["procs"].prepare)(derived)
    assert rows and joined_rows(derived) is rows  # not joined again
    assert rows == proc_rows(derived)


def test_the_positional_join_lines_up_by_name() -> None:
    """Each part's named fields sit where ProcsRow declares them (the join is by position)."""
    from bpftop.derive.procs import PARTS_IN_ORDER, SYSCALL_FIELDS, ProcsRow
    from bpftop.derive.syscalls import ProcRow

    assert ProcsRow._fields[: len(PARTS_IN_ORDER)] == PARTS_IN_ORDER
    assert ProcRow._fields == SYSCALL_FIELDS
