"""The tcp pane and the procs pane's NET/s column, driven with the pilot (no root, no BPF)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from textual.pilot import Pilot

from bpftop.app import BpftopApp
from bpftop.collectors.tcp import RTT_SLOTS, TcpClosed, TcpConn, TcpProc, TcpSample
from bpftop.frame import CollectorStatus, Frame, ProcMeta
from bpftop.panes.header import Readout
from bpftop.panes.histogram import LatencyHistogram
from bpftop.panes.process import ProcessScreen
from bpftop.panes.procs import ProcsPane
from bpftop.panes.tcp import TcpPane
from tests.fakes import FakeSource

SIZE = (80, 24)
S = 1_000_000_000
# conn id -> (pid, local port, remote address, remote port, bytes sent per tick, retransmits per tick)
CONNS = {
    1: (100, 40001, "10.0.0.9", 443, 1000, 0),
    2: (200, 5432, "10.0.0.7", 51000, 500_000, 2),
    3: (0, 8080, "::1", 60000, 0, 0),  # accepted, no process holds it
}


def tcp_sample(n: int) -> TcpSample:
    conns = tuple(
        TcpConn(cid, pid, "", 10 if ":" in raddr else 2, "::1" if ":" in raddr else "10.0.0.1", lport, raddr,
                rport, 1, pid == 0, False, S, per * n, per * n // 2, retr * n, 0, 120)
        for cid, (pid, lport, raddr, rport, per, retr) in CONNS.items()
    )  # fmt: skip
    procs = tuple(
        TcpProc(pid, "", per * n, per * n // 2, n, n, retr * n, 0, 1, 0)
        for pid, _, _, _, per, retr in CONNS.values()
        if pid
    )
    closed = (
        TcpClosed(50, 100, "bash", 2, "10.0.0.1", 40000, "10.0.0.9", 443, False, False, S, 2 * S,
                  4096, 65536, 4096, 65536, 0, 0, 300),
    )  # fmt: skip
    hist = [0] * RTT_SLOTS
    hist[6] = 4 * n
    return TcpSample(
        ts_ns=n * S, conns=conns, procs=procs, closed=closed, rtt_hist=tuple(hist), retrans=2 * n
    )


class FakeTcpSource(FakeSource):
    """FakeSource's syscalls frames plus a tcp sample (or its load error)."""

    def __init__(self, failed: bool = False) -> None:
        super().__init__(delay_s=0.05)
        self.failed_tcp = failed

    def tick(self) -> Frame:
        frame = super().tick()
        if self.failed_tcp:
            status = CollectorStatus("tcp", False, error="no BTF", hint="build the kernel with BTF")
            return dataclasses.replace(frame, status=(*frame.status, status))
        procs = dict(frame.procs)
        procs[200] = ProcMeta(200, user="postgres", name="postgres", cmdline="postgres -D /data")
        return dataclasses.replace(
            frame,
            samples={**frame.samples, "tcp": tcp_sample(self.ticks)},
            procs=procs,
            status=(*frame.status, CollectorStatus("tcp", True, method="tp_btf")),
        )


async def wait_until(pilot: Pilot, condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await pilot.pause(0.02)


def make_app(source: FakeTcpSource | None = None, pane: str = "tcp") -> BpftopApp:
    return BpftopApp(source or FakeTcpSource(), pane=pane, panes=("procs", "tcp"))  # type: ignore[arg-type]


async def started(pilot: Pilot, name: str = "tcp") -> TcpPane | ProcsPane:
    app = pilot.app
    assert isinstance(app, BpftopApp)
    await wait_until(pilot, lambda: app.frames_applied >= 2)
    await pilot.pause()
    return app.screen.query_one(f"#{name}", TcpPane if name == "tcp" else ProcsPane)


async def test_connections_by_throughput_with_totals_closed_and_rtt() -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        assert pane.table.keys == ["2", "1", "3"]  # TX/s, busiest first
        cells = {col.key: pane.table.get_cell("2", col.key).strip() for col in pane.COLUMNS}
        assert cells["command"] == "postgres" and cells["lport"] == "5432"
        assert cells["remote"] == "10.0.0.7:51000" and cells["retrans"].isdigit()
        assert cells["rtt"] == "120us"
        assert pane.table.get_cell("3", "command").strip() == "(accepted, no owner)"
        assert pane.table.get_cell("3", "remote").strip() == "[::1]:60000"
        assert "3 conns" in str(pane.query_one(".totals", Readout).content)
        closed = str(pane.query_one(".closed", Readout).content)
        assert "100 bash" in closed and "10.0.0.9:443" in closed and "1s" in closed
        assert "bytes: per send/receive" in str(pane.query_one(".drops", Readout).content)
        assert pane.query_one(LatencyHistogram).title_line().startswith("smoothed RTT")


async def test_filter_by_port_and_enter_opens_the_process() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        await pilot.press("slash", *"443", "enter")
        await pilot.pause()
        assert pane.table.keys == ["1"]
        assert "10.0.0.9:443" in str(pane.query_one(".closed", Readout).content)  # closes filtered too
        await pilot.press("escape")
        await pilot.press("slash", *"5432", "enter")
        await pilot.pause()
        assert pane.table.keys == ["2"] and "none" in str(pane.query_one(".closed", Readout).content)
        await pilot.press("escape", "slash", *"443", "enter")
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProcessScreen))
        assert app.screen.pid == 100  # type: ignore[attr-defined]


async def test_collector_error_replaces_the_table() -> None:
    async with make_app(FakeTcpSource(failed=True)).run_test(size=SIZE) as pilot:
        pane = await started(pilot)
        error = str(pane.query_one(".pane-error").render())
        assert "tcp collector not loaded: no BTF" in error and "build the kernel with BTF" in error


async def test_procs_pane_net_column_from_90_cells() -> None:
    async with make_app(pane="procs").run_test(size=(90, 24)) as pilot:
        procs = await started(pilot, "procs")
        await wait_until(pilot, lambda: procs.table.get_cell("200", "net").strip() not in ("", "-"))
        assert procs.table.get_cell("200", "net").strip() == "732K"  # 500,000 + 250,000 bytes/s
