"""The runqlat pane, and the procs pane's CPU columns, driven with the pilot (no root, no BPF)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from textual.pilot import Pilot

from bpftop.app import BpftopApp
from bpftop.collectors.runqlat import HIST_SLOTS, ProcSched, RunqlatSample
from bpftop.frame import CollectorStatus, Frame, ProcMeta
from bpftop.panes.header import Readout
from bpftop.panes.histogram import LatencyHistogram
from bpftop.panes.process import ProcessScreen
from bpftop.panes.procs import ProcsPane
from bpftop.panes.runqlat import RunqlatPane
from tests.fakes import FakeSource

SIZE = (80, 24)
# pid -> (on-CPU % of one CPU, waits per tick, their log2(us) slot, kernel thread)
SCHED = {
    100: (10, 200, 4, False),
    200: (30, 50, 6, False),
    300: (80, 20, 11, False),
    400: (5, 100, 2, True),
    500: (95, 400, 12, False),  # spins without syscalls: only runqlat sees it
}


def sched_sample(n: int) -> RunqlatSample:
    """``n`` virtual seconds of SCHED, each wait in the middle of its slot."""
    procs = []
    system = [0] * HIST_SLOTS
    for pid, (pct, waits, slot, kthread) in SCHED.items():
        hist = [0] * HIST_SLOTS
        hist[slot] = waits * n
        system[slot] += waits * n
        wait_ns = 3 * (1 << slot) * 500  # 1.5 x the slot's low bound, in ns
        procs.append(
            ProcSched(
                pid, "spin" if pid == 500 else "", kthread, pct * 10_000_000 * n, waits * n * wait_ns,
                waits * n, 2 * (1 << slot) * 1000, waits * n // 2, waits * n // 2, 0, 0, tuple(hist),
            )
        )  # fmt: skip
    return RunqlatSample(
        ts_ns=n * 1_000_000_000,
        ncpu=2,
        hist=tuple(system),
        rq_count=sum(system),
        rq_wait_ns=0,
        rq_max_ns=8_192_000,
        idle_ns=(n * 500_000_000, n * 300_000_000),
        procs=tuple(procs),
        running_tids=(0, 0),
        unmatched=2,
    )


class FakeSchedSource(FakeSource):
    """FakeSource's syscalls frames plus a runqlat sample (or its load error)."""

    def __init__(self, failed_runqlat: bool = False) -> None:
        super().__init__(delay_s=0.05)
        self.failed_runqlat = failed_runqlat

    def tick(self) -> Frame:
        frame = super().tick()
        if self.failed_runqlat:
            status = CollectorStatus("runqlat", False, error="no BTF", hint="build the kernel with BTF")
            return dataclasses.replace(frame, status=(*frame.status, status))
        procs = dict(frame.procs)
        procs[500] = ProcMeta(500, user="root", name="spin", cmdline="./spin")
        return dataclasses.replace(
            frame,
            samples={**frame.samples, "runqlat": sched_sample(self.ticks)},
            procs=procs,
            status=(*frame.status, CollectorStatus("runqlat", True, method="tp_btf")),
        )


async def wait_until(pilot: Pilot, condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await pilot.pause(0.02)


def make_app(source: FakeSchedSource | None = None, pane: str = "runqlat") -> BpftopApp:
    return BpftopApp(source or FakeSchedSource(), pane=pane, panes=("procs", "runqlat"))  # type: ignore[arg-type]


async def started(pilot: Pilot, name: str = "runqlat") -> RunqlatPane | ProcsPane:
    app = pilot.app
    assert isinstance(app, BpftopApp)
    await wait_until(pilot, lambda: app.frames_applied >= 2)
    await pilot.pause()
    return app.screen.query_one(f"#{name}", RunqlatPane if name == "runqlat" else ProcsPane)


def title(pane: RunqlatPane) -> str:
    return pane.query_one(LatencyHistogram).title_line()


async def test_rows_by_cpu_with_wait_and_switch_columns() -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        assert pane.table.keys == ["500", "300", "200", "100", "400"]  # CPU%, busiest first
        cells = {col.key: pane.table.get_cell("300", col.key) for col in pane.COLUMNS}
        assert cells["cpu"] == "80.0"
        assert cells["rq_avg"] == "3.07ms"  # 1.5 x 2048 us
        assert cells["rq_max"] == "4.1ms"  # the cumulative maximum did not grow: top of slot 11
        assert (cells["vol"], cells["invol"], cells["command"].strip()) == ("10", "10", "bash")
        assert pane.table.get_cell("400", "command").strip() == "[kworker/0:1] [k]"
        system = str(pane.query_one(".system", Readout).content)
        assert "CPU busy 120.0%" in system and "idle 50% 30%" in system and "run queue 770/s" in system
        assert "unmatched 2" in str(pane.query_one(".drops", Readout).content)


async def test_histogram_is_the_systems_until_a_process_is_picked() -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        assert title(pane).startswith("run-queue wait, all processes, last interval: n=770")
        assert "p50" in title(pane) and "p99" in title(pane) and "max 8.19ms" in title(pane)
        await pilot.press("down")
        await pilot.pause()
        assert title(pane).startswith("bash (300) run-queue wait, last interval: n=20")
        await pilot.press("h")
        assert title(pane).startswith("run-queue wait, all processes")


async def test_enter_opens_the_process_screen() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProcessScreen))
        assert app.screen.pid == 300  # type: ignore[attr-defined]


async def test_collector_error_replaces_the_table() -> None:
    async with make_app(FakeSchedSource(failed_runqlat=True)).run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        error = str(pane.query_one(".pane-error").render())
        assert "runqlat collector not loaded: no BTF" in error and "build the kernel with BTF" in error


async def test_procs_pane_sorts_by_cpu_and_shows_processes_without_syscalls() -> None:
    async with make_app(pane="procs").run_test(size=SIZE) as pilot:
        procs = await started(pilot, "procs")
        assert procs.sort_column.key == "cpu"
        assert procs.table.keys == ["500", "300", "200", "100", "400"]
        assert procs.table.get_cell("300", "cpu") == "80.0"
        assert procs.table.get_cell("300", "rq") == "3.07ms"
        assert procs.table.get_cell("500", "calls") == "-"  # no syscalls seen
        await pilot.press("s")  # the user's sort stays
        assert procs.sort_column.key == "rq"
        await wait_until(pilot, lambda: pilot.app.frames_applied >= 4)  # type: ignore[attr-defined]
        assert procs.sort_column.key == "rq"


async def test_procs_pane_without_runqlat_sorts_by_syscalls() -> None:
    app = BpftopApp(FakeSource(delay_s=0.05), pane="procs", panes=("procs",))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        procs = await started(pilot, "procs")
        assert procs.sort_column.key == "calls"
        assert procs.table.get_cell("100", "cpu") == "-"
