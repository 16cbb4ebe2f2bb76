"""The pmc derive step: deltas, multiplexing scaling, IPC and miss ratio (no PMU, no root).

The hardware path is checked on recorded counter values
(tests/fixtures/pmc-hw-multiplexed.json), since this machine has no PMU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bpftop.collectors.pmc import CpuCounts, PmcEvent, PmcSample, ProcCounts
from bpftop.derive.pmc import derive_pmc, figures, ratio, scale
from bpftop.frame import ProcMeta

FIXTURE = Path(__file__).parent / "fixtures" / "pmc-hw-multiplexed.json"


def load_fixture() -> tuple[list[PmcSample], dict[str, Any]]:
    data = json.loads(FIXTURE.read_text())
    events = tuple(PmcEvent(*e) for e in data["events"])

    def tup(values: list[int]) -> tuple[int, ...]:
        return tuple(values)

    samples = [
        PmcSample(
            ts_ns=s["ts_ns"],
            events=events,
            cpus=tuple(
                CpuCounts(
                    c["cpu"], tup(c["counters"]), tup(c["enabled_ns"]), tup(c["running_ns"]), tup(c["idle"])
                )
                for c in s["cpus"]
            ),
            procs=tuple(
                ProcCounts(
                    p["pid"],
                    p["comm"],
                    p["kthread"],
                    p["stints"],
                    tup(p["counters"]),
                    tup(p["enabled_ns"]),
                    tup(p["running_ns"]),
                )
                for p in s["procs"]
            ),
            hardware=True,
        )
        for s in data["samples"]
    ]
    return samples, data["expected"]


@pytest.mark.parametrize(
    ("count", "enabled", "running", "expected"),
    [
        (100, 0, 0, (100.0, None)),  # no times: as is
        (100, 1000, 1000, (100.0, 100.0)),
        (100, 1000, 250, (400.0, 25.0)),  # counted a quarter of the time
        (0, 1000, 0, (None, 0.0)),  # enabled but never scheduled on the PMU: unknown, not 0
        (100, 1000, 1200, (100.0, 100.0)),  # running can pass enabled by rounding: no down-scaling
    ],
)
def test_scale(count: int, enabled: int, running: int, expected: tuple[float | None, float | None]) -> None:
    assert scale(count, enabled, running) == expected


def test_ratio_needs_both() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None
    assert ratio(3.0, 0) is None


def test_first_frame_is_cumulative_with_no_rate() -> None:
    figs = figures((10, 20), (100, 100), (100, 50), None, None)
    assert [f.value for f in figs] == [10.0, 40.0]
    assert all(f.per_s is None for f in figs)


def test_a_counter_going_down_restarts_the_row() -> None:
    figs = figures((5, 50), (10, 10), (10, 10), ((100, 40), (90, 90), (90, 90)), 1.0)
    assert [f.raw for f in figs] == [5, 50]  # both from zero, not 50 - 40


def check(row: Any, want: dict[str, Any]) -> None:
    for fig, value, pct in zip(row.figures, want["values"], want["running_pct"], strict=True):
        assert (fig.value is None) == (value is None)
        if value is not None:
            assert fig.value == pytest.approx(value)
            assert fig.per_s == pytest.approx(value)  # a 1 s interval
        assert fig.running_pct == pytest.approx(pct)
    assert (row.ipc is None) == (want["ipc"] is None)
    if want["ipc"] is not None:
        assert row.ipc == pytest.approx(want["ipc"])
    assert (row.miss_pct is None) == (want["miss_pct"] is None)
    if want["miss_pct"] is not None:
        assert row.miss_pct == pytest.approx(want["miss_pct"])


def test_recorded_hardware_counters() -> None:
    (first, second), expected = load_fixture()
    metas = {42: ProcMeta(42, user="alice", name="stream")}
    view = derive_pmc(first, second, 1.0, metas)
    assert view.hardware and not view.notice
    for cpu in view.cpus:
        check(cpu, expected["cpus"][str(cpu.key)])
    assert view.total is not None
    check(view.total, expected["total"])
    for pid, want in expected["procs"].items():
        check(view.by_pid[int(pid)], want)
    assert view.by_pid[42].scaled and view.by_pid[42].running_pct == 25.0
    assert not view.by_pid[7].scaled
    assert view.by_pid[42].user == "alice"
    assert [r.key for r in view.procs] == [42, 9, 7]  # by interval cycles


def test_comm_filter_and_event_change() -> None:
    import re

    (first, second), _ = load_fixture()
    view = derive_pmc(first, second, 1.0, {}, re.compile("^str"))
    assert [r.key for r in view.procs] == [42]
    other = PmcSample(second.ts_ns, second.events[:2], second.cpus, (), hardware=True)
    view = derive_pmc(first, other, 1.0, {})  # other events: no subtraction from the old ones
    assert view.cpus[0].figures[0].raw == second.cpus[0].counters[0]


def test_software_clock_gives_cpu_percent() -> None:
    events = (PmcEvent("task-clock", 1, 1, False), PmcEvent("page-faults", 1, 2, False))
    ms = 1_000_000

    def sample(n: int) -> PmcSample:
        t = n * 1000 * ms
        return PmcSample(
            ts_ns=t,
            events=events,
            cpus=(CpuCounts(0, (t, 10 * n), (t, t), (t, t), (t - 250 * ms * n, 0)),),
            procs=(
                ProcCounts(
                    5, "hog", False, n, (750 * ms * n, 100 * n), (750 * ms * n,) * 2, (750 * ms * n,) * 2
                ),
            ),
        )

    view = derive_pmc(sample(1), sample(3), 2.0, {})
    assert view.by_pid[5].cpu_pct == pytest.approx(75.0)
    assert view.by_pid[5].figures[1].per_s == pytest.approx(100.0)
    assert view.by_pid[5].ipc is None and view.by_pid[5].miss_pct is None
    assert view.cpus[0].cpu_pct == pytest.approx(25.0)  # the idle task's time is not busy
    # Nor is it the CPU's task-clock: 250 ms/s busy, not the clock's 1 s/s (issue 16).
    assert view.cpus[0].figures[0].per_s == pytest.approx(250e6)
    assert view.total is not None and view.total.figures[0].per_s == pytest.approx(250e6)


def test_cpu_with_no_switch_seen_has_no_busy_time() -> None:
    # The scheduler accounting knows a CPU's idle time only from its first
    # switch on: before that, its clock is wall time, not busy time (issue 16).
    events = (PmcEvent("task-clock", 1, 1, False),)
    ms = 1_000_000

    def sample(n: int, idle1: tuple[int, ...]) -> PmcSample:
        t = n * 1000 * ms
        cpus = (CpuCounts(0, (t,), (t,), (t,), (t - 250 * ms * n,)), CpuCounts(1, (t,), (t,), (t,), idle1))
        return PmcSample(ts_ns=t, events=events, cpus=cpus, procs=())

    for before, after in (((), ()), ((), (900 * ms,)), ((900 * ms,), ())):
        view = derive_pmc(sample(1, before), sample(2, after), 1.0, {})
        assert view.cpus[0].figures[0].per_s == pytest.approx(250e6)
        assert view.cpus[1].figures[0].per_s is None and view.cpus[1].cpu_pct is None
        assert view.total is not None and view.total.figures[0].per_s is None
    known = derive_pmc(sample(1, (900 * ms,)), sample(2, (1800 * ms,)), 1.0, {})
    assert known.cpus[1].figures[0].per_s == pytest.approx(100e6)


def _proc_sample(n: int, procs: tuple[ProcCounts, ...]) -> PmcSample:
    events = (PmcEvent("task-clock", 1, 1, False), PmcEvent("page-faults", 1, 2, False))
    return PmcSample(ts_ns=n * 1_000_000_000, events=events, cpus=(), procs=procs)


def _counts(pid: int, clock: int, faults: int) -> ProcCounts:
    return ProcCounts(pid, f"p{pid}", False, 1, (clock, faults), (clock, clock), (clock, clock))


@pytest.mark.parametrize("case", ["first frame", "interval", "restarted", "exited idle", "exited busy"])
def test_order_and_active_are_the_full_rows(case: str) -> None:
    # The order and the active set come from plain numbers; the rows are
    # built only when looked up (issue 23): both must agree.
    before = (_counts(1, 500, 5), _counts(2, 900, 0), _counts(3, 100, 7), _counts(4, 300, 3))
    after = (_counts(1, 800, 5), _counts(2, 900, 0), _counts(3, 600, 7), _counts(4, 50, 1))
    exited = {pid: ProcMeta(pid, name=f"p{pid}", exited=True) for pid in (2, 3)}
    prev, cur, procs = {
        "first frame": (None, after, {}),
        "interval": (before, after, {}),
        "restarted": (before, (*after[:3], _counts(4, 20, 0)), {}),
        "exited idle": (before, after, {2: exited[2]}),
        "exited busy": (before, after, {3: exited[3]}),
    }[case]
    view = derive_pmc(_proc_sample(1, prev) if prev else None, _proc_sample(2, cur), 1.0, procs)
    rows = view.procs
    assert [r.key for r in rows] == list(view.order)
    assert [r.figures[0].raw for r in rows] == sorted((r.figures[0].raw for r in rows), reverse=True)
    assert {r.key for r in rows if any(f.raw for f in r.figures)} == view.active
    assert (2 in view.order) is (case != "exited idle")


def test_rows_are_built_only_when_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpftop.derive.pmc as pmc

    built: list[int] = []
    real = pmc.proc_row
    monkeypatch.setattr(
        pmc, "proc_row", lambda events, cur, *a: built.append(cur.pid) or real(events, cur, *a)
    )
    before = tuple(_counts(pid, 100, 1) for pid in range(1, 40))
    after = tuple(_counts(pid, 100 + pid, 1) for pid in range(1, 40))
    view = derive_pmc(_proc_sample(1, before), _proc_sample(2, after), 1.0, {})
    assert view.order[:3] == (39, 38, 37) and not built
    assert view.by_pid[38].figures[0].raw == 38 and built == [38]
