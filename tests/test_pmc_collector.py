"""The pmc collector's user side without a kernel: event fallback, map decoding, running stints."""

from __future__ import annotations

import itertools

import pytest

from bpftop.bpf import perf, pmu
from bpftop.bpf.perf import PerfEventError, PerfEventSpec
from bpftop.collectors import pmc_events
from bpftop.collectors.pmc import MAX_COUNTERS
from bpftop.collectors.pmc_events import CounterSet
from bpftop.collectors.pmc_maps import (
    CPU_STATE,
    PROC_VAL,
    CpuState,
    decode_cpus,
    decode_procs,
    running_stints,
)

M = MAX_COUNTERS


@pytest.fixture
def fake_perf(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Hardware events fail as on a machine without a PMU; software ones get fake fds."""
    fds = itertools.count(100)
    closed: list[int] = []

    def open_per_cpu(spec: PerfEventSpec) -> dict[int, int]:
        if pmu.is_hardware(spec):
            raise PerfEventError(f"open perf event {spec.name} on cpu 0", 2, hardware=True)
        return {0: next(fds), 1: next(fds)}

    monkeypatch.setattr(perf, "open_per_cpu", open_per_cpu)
    monkeypatch.setattr(perf, "close_fds", closed.extend)
    return closed


def test_no_pmu_falls_back_to_software(fake_perf: list[int]) -> None:
    counters = CounterSet.open((), has_core_pmu=False)
    assert [e.name for e in counters.events] == list(pmu.DEFAULT_SOFTWARE)
    assert not counters.hardware
    assert counters.notice == f"{pmu.NO_PMU}: showing software counters"
    assert [u.name for u in counters.unavailable] == list(pmu.DEFAULT_HARDWARE)
    assert counters.fds[0] == {0: 100, 1: 101}
    counters.close()
    assert sorted(fake_perf) == list(range(100, 108))


def test_software_events_asked_for_need_no_fallback(fake_perf: list[int]) -> None:
    counters = CounterSet.open(("page-faults", "cs"), has_core_pmu=False)
    assert [e.name for e in counters.events] == ["page-faults", "cs"]
    assert counters.notice == "" and counters.unavailable == []


def test_mixed_list_keeps_what_opens(fake_perf: list[int]) -> None:
    counters = CounterSet.open(("cycles", "page-faults"), has_core_pmu=True)
    assert counters.unavailable[0].reason == "this CPU's PMU does not count it (ENOENT)"
    # No hardware event opened: the software set fills the free slots.
    assert [e.name for e in counters.events][:2] == ["page-faults", "task-clock"]
    assert len(counters.events) == 4  # page-faults is not added twice


def test_nothing_opens_raises_with_the_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(spec: PerfEventSpec) -> dict[int, int]:
        raise PerfEventError(f"open perf event {spec.name} on cpu 0", 13, hardware=pmu.is_hardware(spec))

    monkeypatch.setattr(perf, "open_per_cpu", refuse)
    with pytest.raises(PerfEventError) as info:
        pmc_events.CounterSet.open(("task-clock",))
    assert "perf_event_paranoid" in info.value.hint


def test_decode_procs() -> None:
    counters, enabled, running = list(range(1, M + 1)), [10] * M, [5] * M
    value = PROC_VAL.pack(*counters, *enabled, *running, 7, 1, 0, b"stress\0")
    (row,) = decode_procs((42).to_bytes(4, "little"), value, 2)
    assert (row.pid, row.comm, row.kthread, row.stints) == (42, "stress", True, 7)
    assert (row.counters, row.enabled_ns, row.running_ns) == ((1, 2), (10, 10), (5, 5))


def cpu_bytes(seq_end: int, valid: int, last: list[tuple[int, int, int]]) -> bytes:
    flat = [x for reading in last for x in reading] + [0] * (3 * (M - len(last)))
    return CPU_STATE.pack(3, 77, 70, valid, 0, *flat, *([9] * M), seq_end)


def test_decode_cpus_and_running_stint() -> None:
    (state,) = decode_cpus(cpu_bytes(3, 0b01, [(100, 1000, 500), (5, 1000, 1000)]), 1)
    assert (state.tid, state.tgid, state.consistent) == (77, 70, True)
    assert state.idle == (9,) * M
    stint = running_stints(state, [(160, 1400, 700), (9, 1400, 1400)])
    # Event 1 has no kernel reading yet (valid bit clear): it adds nothing.
    assert stint == (77, 70, ((60, 400, 200), (0, 0, 0)))


def test_torn_cpu_entry_is_skipped() -> None:
    (state,) = decode_cpus(cpu_bytes(2, 0b1, [(100, 1000, 1000)]), 1)
    assert not state.consistent
    assert running_stints(state, [(200, 2000, 2000)]) is None


def test_reading_behind_the_kernel_adds_nothing() -> None:
    state = CpuState(1, 1, 0b1, ((100, 1000, 1000),), (0,), True)
    assert running_stints(state, [(90, 1000, 1000)]) == (1, 1, ((0, 0, 0),))


@pytest.mark.parametrize(
    "names",
    [
        ("task-clock", "page-faults", "context-switches", "cpu-migrations"),
        ("context-switches",),
        ("cpu-migrations", "task-clock"),
        ("context-switches", "page-faults", "context-switches"),
    ],
)
def test_software_counts_decode_from_runqlat_procs(names: tuple[str, ...]) -> None:
    # Each event is the sum of its proc_val fields (pmc_sched.FIELDS), in the
    # order asked for; decoded with one C call per process (issue 23).
    import random

    from bpftop.collectors import pmc_sched, runqlat
    from bpftop.collectors.pmc import ProcCounts

    rng = random.Random(7)
    keys, values, want = b"", b"", []
    for pid in range(1, 40):
        fields = [rng.randrange(1 << 40) for _ in range(10)]
        flags = rng.choice((0, runqlat.DEFS["RUNQLAT_KTHREAD"]))
        keys += runqlat.U32.pack(pid)
        values += runqlat.PROC_VAL.pack(*fields, flags, 0, f"c{pid}".encode())  # flags, then padding
        counts = tuple(sum(fields[i] for i in pmc_sched.FIELDS[n]) for n in names)
        vol, invol = fields[pmc_sched.VOL], fields[pmc_sched.INVOL]
        want.append((pid, f"c{pid}", bool(flags), vol + invol, counts))
    rows = pmc_sched.decode_procs(keys, values, list(names))
    assert [(r.pid, r.comm, r.kthread, r.stints, r.counters) for r in rows] == want
    assert all(type(r) is ProcCounts and r.enabled_ns == (0,) * len(names) for r in rows)
