"""The pmc pane driven with the pilot (no root, no BPF): hardware and no-PMU samples."""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable

from rich.console import Console
from textual.pilot import Pilot

from bpftop.app import BpftopApp
from bpftop.bpf.pmu import NO_PMU
from bpftop.collectors.pmc import CpuCounts, PmcEvent, PmcSample, ProcCounts, Unavailable
from bpftop.frame import CollectorStatus, Frame
from bpftop.panes.header import Readout
from bpftop.panes.pmc import PmcPane
from bpftop.panes.process import ProcessScreen
from bpftop.panes.procs import ProcsPane
from tests.fakes import FakeSource

SIZE = (100, 30)


async def wait_until(pilot: Pilot, condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await pilot.pause(0.02)


HW = tuple(
    PmcEvent(n, 0, c, True)
    for c, n in enumerate(("cycles", "instructions", "cache-references", "cache-misses"))
)
SW = tuple(
    PmcEvent(n, 1, c, False)
    for c, n in ((1, "task-clock"), (2, "page-faults"), (3, "context-switches"), (4, "cpu-migrations"))
)
# pid -> per-second counts of the four events
HW_RATES = {
    100: (1_000_000_000, 500_000_000, 1_000_000, 200_000),
    200: (2_000_000_000, 4_000_000_000, 100_000, 1_000),
}
SW_RATES = {100: (250_000_000, 100, 10, 1), 200: (900_000_000, 5, 2, 0)}


def pmc_sample(n: int, hardware: bool) -> PmcSample:
    """``n`` virtual seconds; with hardware, the cache events counted half of the time."""
    second = 1_000_000_000
    running = (second, second, second // 2, second // 2) if hardware else (second,) * 4
    rates = HW_RATES if hardware else SW_RATES
    procs = []
    for pid, per_s in rates.items():
        counted = tuple(r * n * run // second for r, run in zip(per_s, running, strict=True))
        procs.append(ProcCounts(pid, "", False, n, counted, (second * n,) * 4, tuple(r * n for r in running)))
    cpus = tuple(
        CpuCounts(cpu, tuple(sum(p.counters[i] for p in procs) for i in range(4)), (second * n,) * 4,
                  tuple(r * n for r in running), (0,) * 4)
        for cpu in (0, 1)
    )  # fmt: skip
    unavailable = () if hardware else tuple(Unavailable(e.name, NO_PMU) for e in HW)
    notice = "" if hardware else f"{NO_PMU}: showing software counters"
    return PmcSample(n * second, HW if hardware else SW, cpus, tuple(procs), hardware, notice, unavailable)


class FakePmcSource(FakeSource):
    def __init__(self, hardware: bool) -> None:
        super().__init__(delay_s=0.05)
        self.hardware = hardware

    def tick(self) -> Frame:
        frame = super().tick()
        return dataclasses.replace(
            frame,
            samples={**frame.samples, "pmc": pmc_sample(self.ticks, self.hardware)},
            status=(*frame.status, CollectorStatus("pmc", True, method="tp_btf")),
        )


async def started(pilot: Pilot) -> PmcPane:
    app = pilot.app
    assert isinstance(app, BpftopApp)
    await wait_until(pilot, lambda: app.frames_applied >= 2)
    await pilot.pause()
    return app.screen.query_one("#pmc", PmcPane)


def make_app(hardware: bool) -> BpftopApp:
    return BpftopApp(FakePmcSource(hardware), pane="pmc", panes=("procs", "pmc"))


def cells(pane: PmcPane, key: str) -> dict[str, str]:
    return {col.key: pane.table.get_cell(key, col.key).strip() for col in pane.COLUMNS}


async def test_hardware_counters_ipc_and_scaled_miss_ratio() -> None:
    async with make_app(hardware=True).run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        assert pane.table.keys == ["200", "100"]  # by cycles
        row = cells(pane, "100")
        assert (row["ev0"], row["ev1"], row["ipc"], row["miss"]) == ("1.0G", "500.0M", "0.50", "20.0")
        assert row["ev2"] == "1.0M*"  # scaled: counted half of the time
        assert cells(pane, "200")["ipc"] == "2.00"
        assert [pane.table.columns[i].label for i in range(2, 6)] == [
            "CYCLES/s▼",
            "INSTR/s",
            "CREF/s",
            "CMISS/s",
        ]
        assert pane._shows(pane.COLUMNS[8]) and not pane._shows(pane.COLUMNS[6])  # IPC shown, slot 5 empty
        notice = str(pane.query_one(".pmc-notice", Readout).content)
        assert "hardware counters" in notice and "scaled for multiplexing" in notice
        assert "IPC 1.50" in str(pane.query_one(".pmc-total", Readout).content)


async def test_no_pmu_says_so_and_shows_software_counters() -> None:
    async with make_app(hardware=False).run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        notice = str(pane.query_one(".pmc-notice", Readout).content)
        assert f"{NO_PMU}: showing software counters" in notice
        assert "not counted: cycles, instructions, cache-references, cache-misses" in notice
        assert not pane._shows(next(c for c in pane.COLUMNS if c.key == "ipc"))
        row = cells(pane, "200")
        assert (row["ev0"], row["cpu"]) == ("900.0ms", "90.0")
        assert cells(pane, "100")["ev1"] == "100"


async def test_cpus_toggle_sort_and_enter() -> None:
    app = make_app(hardware=True)
    async with app.run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert pane.table.keys == ["cpu0", "cpu1"] or pane.table.keys == ["cpu1", "cpu0"]
        assert pane.table.columns[0].label == "CPU"
        # Enter has no process to open on a CPU row: the footer does not offer it (issue 17).
        offered = {b.binding.action for b in app.active_bindings.values()}
        assert "select_cursor" not in offered
        await pilot.press("enter")
        assert not isinstance(app.screen, ProcessScreen)
        await pilot.press("c", "s")  # back to processes, sort by the next column (instructions)
        await pilot.pause()
        assert pane.table.keys == ["200", "100"]
        await pilot.press("r")
        await pilot.pause()
        assert pane.table.keys == ["100", "200"]
        assert "select_cursor" in {b.binding.action for b in app.active_bindings.values()}
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProcessScreen))
        assert app.screen.pid == 100  # type: ignore[attr-defined]


async def test_failed_collector_shows_why() -> None:
    class Failed(FakePmcSource):
        def tick(self) -> Frame:
            frame = FakeSource.tick(self)
            status = CollectorStatus(
                "pmc", False, error="open perf event task-clock: EACCES", hint="run as root"
            )
            return dataclasses.replace(frame, status=(*frame.status, status))

    app = BpftopApp(Failed(False), pane="pmc", panes=("procs", "pmc"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.frames_applied >= 2)
        pane = app.screen.query_one("#pmc", PmcPane)
        await pilot.pause()
        assert pane.has_class("-failed")
        assert "pmc collector not loaded: open perf event task-clock: EACCES — run as root" in str(
            pane.query_one(".pane-error").content  # type: ignore[attr-defined]
        )


async def test_procs_ipc_column_only_with_hardware_counters() -> None:
    for hardware in (True, False):
        app = make_app(hardware)
        async with app.run_test(size=(120, 30)) as pilot:
            await started(pilot)
            await pilot.press("1")
            await pilot.pause()
            procs = app.screen.query_one("#procs", ProcsPane)
            await wait_until(pilot, lambda: procs.table.row_count >= 2)  # noqa: B023
            ipc = next(c for c in procs.COLUMNS if c.key == "ipc")
            assert procs._shows(ipc) is hardware
            if hardware:
                assert procs.table.get_cell("100", "ipc").strip() == "0.50"
                assert procs.table.get_cell("200", "ipc").strip() == "2.00"
                assert procs.table.get_cell("300", "ipc").strip() == "-"  # pmc never saw it


def test_batch_procs_ipc() -> None:
    from bpftop.batch import procs as batch_procs
    from bpftop.derive import derive

    for hardware in (True, False):
        source = FakePmcSource(hardware)
        d = derive(source.tick(), source.tick())
        joined = batch_procs.json_section(d)
        assert joined is not None
        rows = {r["pid"]: r for r in joined[0]}
        assert rows[100]["ipc"] == (0.5 if hardware else None)
        out = io.StringIO()
        console = Console(file=out, width=160)
        for part in batch_procs.text_section(d):
            console.print(part)
        assert (" IPC " in out.getvalue()) is hardware
