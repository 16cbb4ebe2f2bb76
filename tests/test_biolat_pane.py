"""The biolat pane driven with Textual's pilot on synthetic samples (no root, no BPF)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual.pilot import Pilot

from bpftop.app import BpftopApp
from bpftop.collectors.biolat import HIST_SLOTS, BiolatSample, DiskOpTotals, ProcIO
from bpftop.frame import CollectorStatus, Frame, HostInfo, ProcMeta
from bpftop.panes.biolat import BiolatPane, DiskHistogram, ProcIOTable
from bpftop.panes.header import Readout
from bpftop.panes.process import ProcessScreen
from bpftop.source import Source

SIZE = (80, 24)
VDA, LOOP0 = 253 << 20, 7 << 20
HOST = HostInfo(hostname="testhost", kernel="6.8.0-test", machine="x86_64", ncpu=2, boot_time=1_000.0)


def slots(per_tick: dict[int, int], ticks: int) -> tuple[int, ...]:
    return tuple(per_tick.get(i, 0) * ticks for i in range(HIST_SLOTS))


def disk_op(
    dev: int, name: str, op: int, ios: int, total: int, queue: int, device: int, n: int
) -> DiskOpTotals:
    """Per tick: ``ios`` I/Os in slots ``total``/``queue``/``device`` (log2 us); ``n`` ticks."""
    hists = (slots({total: ios}, n), slots({queue: ios}, n), slots({device: ios}, n))
    sums = tuple(ios * n * (1 << s) * 1000 for s in (total, queue, device))
    maxima = tuple((2 << s) * 1000 for s in (total, queue, device))
    return DiskOpTotals(dev, name, op, False, ios * n, ios * n * 4096, sums, maxima, hists)  # type: ignore[arg-type]


class FakeBiolatSource(Source):
    """One virtual second per tick: vda reads and writes, loop0 flushes, two processes."""

    def __init__(self, failed: bool = False) -> None:
        self.delay_s = 0.05
        self.ticks = 0
        self.focus_calls: list[int] = []
        self._lock = threading.Lock()
        if failed:
            self._status = (
                CollectorStatus("biolat", False, error="no BTF", hint="build the kernel with BTF"),
            )
        else:
            self._status = (CollectorStatus("biolat", True, method="tp_btf"),)

    @property
    def status(self) -> tuple[CollectorStatus, ...]:
        return self._status

    def set_focus(self, pid: int) -> None:
        self.focus_calls.append(pid)

    def close(self) -> None:
        pass

    def tick(self) -> Frame:
        with self._lock:
            self.ticks += 1
            n = self.ticks
            samples = {}
            if self.status[0].ok:
                samples["biolat"] = BiolatSample(
                    ts_ns=n * 1_000_000_000,
                    disks=(
                        disk_op(VDA, "vda", 0, 300, 7, 2, 7, n),
                        disk_op(VDA, "vda", 1, 100, 9, 5, 8, n),
                        disk_op(LOOP0, "loop0", 2, 5, 12, 0, 12, n),
                    ),
                    procs=(
                        ProcIO(100, VDA, "vda", 0, 300 * n, 300 * n * 4096, 300 * n * 128_000, "postgres"),
                        ProcIO(200, VDA, "vda", 1, 100 * n, 100 * n * 4096, 100 * n * 512_000, "jbd2/vda-8"),
                    ),
                    in_flight=3,
                    unmatched=1,
                )
            procs = {
                100: ProcMeta(100, ppid=1, user="postgres", name="postgres", cmdline="postgres -D /data"),
                200: ProcMeta(200, ppid=2, user="root", name="jbd2/vda-8"),
            }
            return Frame(
                ts_ns=n * 1_000_000_000,
                wall=1.7e9 + n,
                samples=samples,
                procs=procs,
                status=self.status,
                host=HOST,
                delay_s=self.delay_s,
            )


async def wait_until(pilot: Pilot, condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await pilot.pause(0.02)


def make_app(source: FakeBiolatSource | None = None) -> BpftopApp:
    return BpftopApp(source or FakeBiolatSource(), pane="biolat", panes=("biolat",))  # type: ignore[arg-type]


async def started(pilot: Pilot) -> BiolatPane:
    app = pilot.app
    assert isinstance(app, BpftopApp)
    await wait_until(pilot, lambda: app.frames_applied >= 2)
    await pilot.pause()
    return app.screen.query_one("#biolat", BiolatPane)


def histogram_title(pane: BiolatPane) -> str:
    return pane.query_one(DiskHistogram).title_line()


async def test_disk_op_rows_summary_and_processes() -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        assert pane.table.keys == ["vda read", "vda write", "loop0 flush"]  # IO/s, busiest first
        assert pane.table.get_cell("vda read", "iops") == "300"
        assert pane.table.get_cell("vda read", "mbs") == "1.23"
        disks = str(pane.query_one(".disks", Readout).content)
        assert "vda 400 IO/s" in disks and "loop0 5.0 IO/s" in disks
        assert "unmatched 1" in str(pane.query_one(".drops", Readout).content)
        procs = pane.query_one(ProcIOTable)
        assert procs.keys == ["100 vda read", "200 vda write"]
        assert procs.get_cell("200 vda write", "command") == "jbd2/vda-8"


async def test_histogram_follows_cursor_and_cycles_times() -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        title = histogram_title(pane)
        assert title.startswith("vda read, total time")
        # 300 I/Os in slot 7 = [128, 256) us: p50 interpolates to 192 us.
        assert "n=300" in title and "p50 192us" in title and "p90" in title and "p99" in title
        await pilot.press("t")
        assert histogram_title(pane).startswith("vda read, queue time")
        await pilot.press("t")
        assert histogram_title(pane).startswith("vda read, device time")
        await pilot.press("down")
        await pilot.pause()
        assert histogram_title(pane).startswith("vda write, device time")
        await pilot.press("t")
        assert histogram_title(pane).startswith("vda write, total time")


async def test_enter_on_a_process_opens_its_screen() -> None:
    source = FakeBiolatSource()
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        await pilot.press("w")
        assert pane.query_one(ProcIOTable).has_focus
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProcessScreen))
        assert app.screen.pid == 200  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ProcessScreen))
        await pilot.press("w")
        assert pane.table.has_focus


async def test_filter_keeps_matching_rows() -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        await pilot.press("slash", *"loop", "enter")
        await pilot.pause()
        assert pane.table.keys == ["loop0 flush"]


async def test_failed_collector_says_why() -> None:
    async with make_app(FakeBiolatSource(failed=True)).run_test(size=SIZE) as pilot:
        app = pilot.app
        assert isinstance(app, BpftopApp)
        await wait_until(pilot, lambda: app.frames_applied >= 1)
        await pilot.pause()
        pane = app.screen.query_one("#biolat", BiolatPane)
        assert pane.has_class("-failed")
        assert "biolat collector not loaded: no BTF" in str(pane.query_one(".pane-error").render())
