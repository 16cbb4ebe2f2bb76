"""The context-switch path: what runs at each sched_switch while bpftop watches (root, BPF).

runqlat and pmc share one program (``sched.bpf.o``); pmc reads no counter
while no pane shows them; off-CPU stacks run only while asked for (detached,
not merely told to return early). Without a PMU pmc takes its software
counters from runqlat's accounting (test_pmc_sched_bpf.py); the tests of its
counter reads at a switch make it read them (``reading_pmc``), as it does with
hardware counters or on kernels without runqlat's part.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bpftop.bpf.proginfo import InfoReader, open_prog
from bpftop.collectors.base import Filters
from bpftop.engine import Engine
from tests import sched_workloads
from tests.conftest import scaled

pytestmark = pytest.mark.bpf("runqlat", "pmc")


def programs(ids: list[int]) -> dict[int, tuple[str, int]]:
    """id -> (name, run_cnt) of each program."""
    reader, out = InfoReader(), {}
    for prog_id in ids:
        fd = open_prog(prog_id)
        if fd is None:
            continue
        try:
            info = reader.prog(fd)
        finally:
            os.close(fd)
        out[prog_id] = (info.name, info.run_cnt)
    return out


@contextmanager
def run_counts() -> Iterator[None]:
    """The kernel counts each program's runs while this is open (BPF_ENABLE_STATS)."""
    from bpftop.bpf._ffi import lib

    fd = lib().bpf_enable_stats(0)
    assert fd >= 0, "BPF_ENABLE_STATS refused"
    try:
        yield
    finally:
        os.close(fd)


@pytest.fixture
def reading_pmc(monkeypatch: pytest.MonkeyPatch) -> None:
    """pmc reads its events at each switch, as with hardware counters."""
    from bpftop.collectors import pmc_sched

    monkeypatch.setattr(pmc_sched, "usable", lambda events: False)


def switches(trips: int = 5000) -> None:
    """Make 2 x ``trips`` context switches: a ping-pong on one CPU."""
    with sched_workloads.start("pingpong", trips, min(os.sched_getaffinity(0))) as wl:
        wl.run(timeout_s=scaled(60))


def test_runqlat_and_pmc_share_one_switch_program() -> None:
    """Both collectors on: one sched_switch program runs a switch, not one per collector."""
    engine = Engine(["runqlat", "pmc"], Filters())
    try:
        assert all(s.ok for s in engine.open()), engine.status
        ids = {i for c in engine._collectors.values() for i in c._obj.program_ids()}
        names = [name for name, _ in programs(sorted(ids)).values()]
    finally:
        engine.close()
    assert sum("sched_switch" in n for n in names) == 1, names


def test_both_count_exactly_in_the_shared_program() -> None:
    """A sleeper's switch-outs: runqlat's exact count, and pmc's stints are the same switches."""
    n = 20
    engine = Engine(["runqlat", "pmc"], Filters())
    try:
        engine.open()
        rq, pmc = engine._collectors["runqlat"], engine._collectors["pmc"]
        cpu = min(os.sched_getaffinity(0))
        with sched_workloads.start("sleeper", n, 2, cpu) as wl:
            before = rq.sample(), pmc.sample()
            wl.run(timeout_s=scaled(30))
            sched_workloads.wait_blocked(wl)
            after = rq.sample(), pmc.sample()
    finally:
        engine.close()

    def row(sample, pid):  # type: ignore[no-untyped-def]
        return next((p for p in sample.procs if p.pid == pid), None)

    rq_before, rq_after = row(before[0], wl.pid), row(after[0], wl.pid)
    vol = rq_after.vol_switches - (rq_before.vol_switches if rq_before else 0)
    invol = rq_after.invol_switches - (rq_before.invol_switches if rq_before else 0)
    assert n + 1 <= vol <= n + 3
    stints = row(after[1], wl.pid).stints - (row(before[1], wl.pid).stints if row(before[1], wl.pid) else 0)
    assert stints == vol + invol
    # Software counters never multiplex: read bare, without their times (cheaper), so none summed.
    assert not any(e.hardware for e in after[1].events)
    assert set(row(after[1], wl.pid).enabled_ns) == {0} and row(after[1], wl.pid).counters[0] > 0


@pytest.mark.usefixtures("reading_pmc")
def test_paused_pmc_reads_no_counter_and_runqlat_alone_none_either() -> None:
    """pmc off screen reads nothing at a switch; runqlat without pmc never touches pmc's part."""
    engine = Engine(["runqlat", "pmc"], Filters())
    try:
        engine.open()
        pmc = engine._collectors["pmc"]
        engine.set_option("visible_pane", "runqlat")
        held = pmc.sample().switches
        switches()
        paused = pmc.sample()
        engine.set_option("visible_pane", "pmc")
        switches()
        resumed = pmc.sample()
    finally:
        engine.close()
    assert paused.paused and paused.switches == held
    assert not resumed.paused and resumed.switches > held + 100

    engine = Engine(["runqlat"], Filters())
    try:
        engine.open()
        switches()
        obj = engine._collectors["runqlat"]._obj
        dump = obj.map("pmc_stats").dump()
        assert not any(memoryview(dump.values).cast("Q")), "pmc's part ran without a pmc collector"
        assert engine.tick().samples["runqlat"].rq_count > 100
    finally:
        engine.close()


@pytest.mark.bpf("stacks")
def test_off_cpu_program_is_detached_unless_stacks_are_asked_for() -> None:
    """Batch output of every pane (``*``) takes no off-CPU stacks; the program does not even run."""
    from bpftop.collectors.stacks import StacksCollector

    collector = StacksCollector(cpu=False)
    collector.open(Filters())
    try:
        reader = collector._readers["off"]
        ids = reader.obj.program_ids()
        with run_counts():
            collector.set_option("visible_pane", "*")
            before = sum(c for _, c in programs(ids).values())
            switches()
            during = sum(c for _, c in programs(ids).values())
            assert collector.sample().off_paused
            collector.set_option("visible_pane", "stacks")
            switches()
            after = sum(c for _, c in programs(ids).values())
    finally:
        collector.close()
    assert during == before, "the off-CPU program ran while nobody asked for off-CPU stacks"
    assert after > during + 100


def cmpxchg_count(xlated: bytes) -> int:
    """BPF_STX | BPF_ATOMIC instructions whose imm is BPF_CMPXCHG (needs Linux 5.12)."""
    count = 0
    for off in range(0, len(xlated), 8):
        code, imm = xlated[off], int.from_bytes(xlated[off + 4 : off + 8], "little", signed=True)
        if code & 0x07 == 0x03 and code & 0xE0 == 0xC0 and imm == 0xF1:
            count += 1
    return count


@pytest.mark.usefixtures("reading_pmc")
@pytest.mark.parametrize("with_runqlat", [False, True])
def test_pmc_alone_loads_without_runqlats_part(with_runqlat: bool) -> None:
    """pmc alone keeps its own minimum kernel: runqlat's cmpxchg (5.12) never reaches the verifier."""
    from bpftop.bpf.proginfo import prog_code

    engine = Engine(["runqlat", "pmc"] if with_runqlat else ["pmc"], Filters())
    try:
        assert all(s.ok for s in engine.open()), engine.status
        obj = engine._collectors["pmc"]._obj
        progs = programs(obj.program_ids())
        (switch_id,) = [i for i, (name, _) in progs.items() if "sched_switch" in name]
        fd = open_prog(switch_id)
        assert fd is not None
        try:
            xlated = prog_code(fd).xlated
        finally:
            os.close(fd)
        switches()
        assert engine.tick().samples["pmc"].switches > 100
    finally:
        engine.close()
    assert (cmpxchg_count(xlated) > 0) == with_runqlat
    assert any("wakeup" in name for name, _ in progs.values()) == with_runqlat


def test_pmc_closing_while_runqlat_keeps_the_object_lets_its_events_go() -> None:
    """The shared object outlives pmc: its counter arrays must not hold pmc's perf events open."""
    import struct

    engine = Engine(["runqlat", "pmc"], Filters())
    try:
        engine.open()
        rq, pmc = engine._collectors["runqlat"], engine._collectors["pmc"]
        obj = rq._obj
        assert pmc._obj is obj
        keys = [struct.pack("<I", cpu) for cpu in pmc._counters.fds[0]]
        pmc.close()
        # Perf event arrays cannot be read from user space; a delete says whether a slot held one.
        assert obj.map("counter0").delete(keys) == 0
        switches()
        assert engine.tick().samples["runqlat"].rq_count > 100  # runqlat runs on alone
    finally:
        engine.close()
