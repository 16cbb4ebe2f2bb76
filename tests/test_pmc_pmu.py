"""PMU discovery and ``--pmc-events`` parsing on a fake sysfs (no root, no PMU needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpftop.bpf import perf, pmu
from bpftop.bpf.errors import BpfError
from bpftop.bpf.perf import PerfEventSpec
from bpftop.collectors.pmc_events import unavailable_reason


def fake_sysfs(root: Path, *, core: bool) -> Path:
    """``/sys/bus/event_source/devices`` of a VM (software PMUs) or of an x86 host (plus ``cpu``)."""
    for name, type_ in (("software", 1), ("tracepoint", 2), ("breakpoint", 5), ("msr", 9)):
        (root / name).mkdir(parents=True)
        (root / name / "type").write_text(f"{type_}\n")
    if core:
        cpu = root / "cpu"
        (cpu / "format").mkdir(parents=True)
        (cpu / "events").mkdir()
        (cpu / "type").write_text("4\n")
        (cpu / "format" / "event").write_text("config:0-7\n")
        (cpu / "format" / "umask").write_text("config:8-15\n")
        (cpu / "format" / "cmask").write_text("config:24-31\n")
        (cpu / "format" / "offcore_rsp").write_text("config1:0-63\n")
        (cpu / "events" / "cache-misses").write_text("event=0x2e,umask=0x41\n")
    return root


def test_vm_without_core_pmu(tmp_path: Path) -> None:
    root = fake_sysfs(tmp_path, core=False)
    assert pmu.list_pmus(root) == {"breakpoint": 5, "msr": 9, "software": 1, "tracepoint": 2}
    assert pmu.core_pmus(root) == []
    ok, text = pmu.describe_pmus(root)
    assert not ok
    assert text.startswith("no PMU exposed to this machine — common in VMs and cloud guests")
    with pytest.raises(pmu.EventSyntaxError, match=r"no PMU 'cpu' on this machine \(no PMU exposed"):
        pmu.parse_event("cpu/event=0x3c/", root)


def test_host_with_core_pmu(tmp_path: Path) -> None:
    root = fake_sysfs(tmp_path, core=True)
    ok, text = pmu.describe_pmus(root)
    assert ok and text.startswith("core PMU cpu")
    assert pmu.parse_event("cpu/event=0x3c,umask=0x0/", root) == PerfEventSpec(
        4, 0x3C, name="cpu/event=0x3c,umask=0x0/"
    )
    assert pmu.parse_event("cpu/event=0xd1,umask=0x20,cmask=2/", root).config == 0x020020D1
    assert pmu.parse_event("cpu/cache-misses/", root).config == 0x412E  # an alias from events/
    with pytest.raises(pmu.EventSyntaxError, match="unknown term 'bogus=1'"):
        pmu.parse_event("cpu/bogus=1/", root)
    with pytest.raises(pmu.EventSyntaxError, match="offcore_rsp sets config1"):
        pmu.parse_event("cpu/event=0xb7,offcore_rsp=0x10/", root)


@pytest.mark.parametrize(
    ("text", "type_", "config"),
    [
        ("cycles", perf.PERF_TYPE_HARDWARE, perf.PERF_COUNT_HW_CPU_CYCLES),
        ("instructions", perf.PERF_TYPE_HARDWARE, perf.PERF_COUNT_HW_INSTRUCTIONS),
        ("cache-misses", perf.PERF_TYPE_HARDWARE, perf.PERF_COUNT_HW_CACHE_MISSES),
        ("task-clock", perf.PERF_TYPE_SOFTWARE, perf.PERF_COUNT_SW_TASK_CLOCK),
        ("cs", perf.PERF_TYPE_SOFTWARE, perf.PERF_COUNT_SW_CONTEXT_SWITCHES),
        ("r01c2", perf.PERF_TYPE_RAW, 0x01C2),
        ("rC0", perf.PERF_TYPE_RAW, 0xC0),
        ("LLC-load-misses", perf.PERF_TYPE_HW_CACHE, 2 | 0 << 8 | 1 << 16),
        ("L1-dcache-loads", perf.PERF_TYPE_HW_CACHE, 0),
        ("dTLB-store-misses", perf.PERF_TYPE_HW_CACHE, 3 | 1 << 8 | 1 << 16),
    ],
)
def test_event_names(text: str, type_: int, config: int) -> None:
    spec = pmu.parse_event(text)
    assert (spec.type, spec.config, spec.name) == (type_, config, text)


def test_event_lists() -> None:
    assert pmu.split_events("cycles, cpu/event=0x3c,umask=0x0/ ,r01c2") == [
        "cycles",
        "cpu/event=0x3c,umask=0x0/",
        "r01c2",
    ]
    assert [s.name for s in pmu.parse_events("cycles,instructions")] == ["cycles", "instructions"]
    for bad, message in (
        ("", "empty"),
        ("cycles,rZZ", "unknown event 'rZZ'"),
        (",".join(["cs"] * 7), "at most 6"),
    ):
        with pytest.raises(pmu.EventSyntaxError, match=message):
            pmu.parse_events(bad)


def test_unavailable_reasons() -> None:
    cycles = PerfEventSpec(perf.PERF_TYPE_HARDWARE, 0, name="cycles")
    enoent = BpfError("open perf event cycles on cpu 0", 2)
    assert unavailable_reason(cycles, enoent, has_core_pmu=False) == pmu.NO_PMU
    assert (
        unavailable_reason(cycles, enoent, has_core_pmu=True) == "this CPU's PMU does not count it (ENOENT)"
    )
    eacces = perf.PerfEventError("open perf event task-clock on cpu 0", 13, hardware=False)
    reason = unavailable_reason(PerfEventSpec(1, 1, name="task-clock"), eacces, has_core_pmu=False)
    assert reason.startswith("EACCES: kernel.perf_event_paranoid is")
