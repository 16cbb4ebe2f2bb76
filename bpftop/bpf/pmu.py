"""Performance monitoring units: what this machine exposes, and ``--pmc-events``.

The kernel lists every PMU under ``/sys/bus/event_source/devices/<name>``
with its ``type`` (the ``perf_event_attr.type`` to use), the bit layout of its
config words under ``format/`` and named events under ``events/``. A VM or
cloud guest without a virtual PMU has only the software ones (``software``,
``tracepoint``, ``breakpoint``, ``uprobe``, maybe ``msr``): no ``cpu`` (x86),
``cpu_core``/``cpu_atom`` (hybrid x86) or ``armv8_*`` (arm64) core PMU, so
cycles and instructions cannot be counted.

Event syntax (a subset of ``perf stat -e``): generic names (``cycles``,
``instructions``, ``cache-misses``, ``task-clock``, ``page-faults`` ...),
cache events (``LLC-load-misses``, ``L1-dcache-loads``), raw codes
(``r01c2``: PERF_TYPE_RAW with config 0x01c2) and PMU terms
(``cpu/event=0x3c,umask=0x0/``, ``cpu/cache-misses/``).
"""

from __future__ import annotations

import re
from pathlib import Path

from bpftop.bpf import perf
from bpftop.bpf.perf import PerfEventSpec

SYSFS_PMUS = Path("/sys/bus/event_source/devices")
NO_PMU = "no PMU exposed to this machine — common in VMs and cloud guests"
_CORE_PMU = re.compile(r"^(cpu|cpu_core|cpu_atom|armv\d.*|arm_cortex.*|arm_neoverse.*|armv8_pmuv3.*)$")

HARDWARE_EVENTS = {
    "cycles": perf.PERF_COUNT_HW_CPU_CYCLES,
    "cpu-cycles": perf.PERF_COUNT_HW_CPU_CYCLES,
    "instructions": perf.PERF_COUNT_HW_INSTRUCTIONS,
    "cache-references": perf.PERF_COUNT_HW_CACHE_REFERENCES,
    "cache-misses": perf.PERF_COUNT_HW_CACHE_MISSES,
    "branches": perf.PERF_COUNT_HW_BRANCH_INSTRUCTIONS,
    "branch-instructions": perf.PERF_COUNT_HW_BRANCH_INSTRUCTIONS,
    "branch-misses": perf.PERF_COUNT_HW_BRANCH_MISSES,
    "bus-cycles": perf.PERF_COUNT_HW_BUS_CYCLES,
    "stalled-cycles-frontend": perf.PERF_COUNT_HW_STALLED_CYCLES_FRONTEND,
    "stalled-cycles-backend": perf.PERF_COUNT_HW_STALLED_CYCLES_BACKEND,
    "ref-cycles": perf.PERF_COUNT_HW_REF_CPU_CYCLES,
}
SOFTWARE_EVENTS = {
    "cpu-clock": perf.PERF_COUNT_SW_CPU_CLOCK,
    "task-clock": perf.PERF_COUNT_SW_TASK_CLOCK,
    "page-faults": perf.PERF_COUNT_SW_PAGE_FAULTS,
    "faults": perf.PERF_COUNT_SW_PAGE_FAULTS,
    "context-switches": perf.PERF_COUNT_SW_CONTEXT_SWITCHES,
    "cs": perf.PERF_COUNT_SW_CONTEXT_SWITCHES,
    "cpu-migrations": perf.PERF_COUNT_SW_CPU_MIGRATIONS,
    "migrations": perf.PERF_COUNT_SW_CPU_MIGRATIONS,
    "minor-faults": perf.PERF_COUNT_SW_PAGE_FAULTS_MIN,
    "major-faults": perf.PERF_COUNT_SW_PAGE_FAULTS_MAJ,
    "alignment-faults": perf.PERF_COUNT_SW_ALIGNMENT_FAULTS,
    "emulation-faults": perf.PERF_COUNT_SW_EMULATION_FAULTS,
}
# PERF_TYPE_HW_CACHE: config = cache | op << 8 | result << 16 (perf_event.h).
_CACHES = {"L1-dcache": 0, "L1-icache": 1, "LLC": 2, "dTLB": 3, "iTLB": 4, "branch": 5, "node": 6}
_CACHE_OPS = {"load": 0, "loads": 0, "store": 1, "stores": 1, "prefetch": 2, "prefetches": 2}
_CACHE_RESULTS = {"": 0, "s": 0, "-misses": 1, "-miss": 1}
_CACHE_EVENT = re.compile(
    r"^([A-Za-z0-9]+-[a-z]+|LLC|dTLB|iTLB|branch|node)-(loads?|stores?|prefetch(?:es)?)(-misses?)?$"
)
_RAW = re.compile(r"^r([0-9a-fA-F]+)$")
_PMU_TERM = re.compile(r"^([A-Za-z0-9_.-]+)/([^/]*)/$")

DEFAULT_HARDWARE = ("cycles", "instructions", "cache-references", "cache-misses")
# The software fallback: the same per-CPU mechanism, figures every kernel has.
DEFAULT_SOFTWARE = ("task-clock", "page-faults", "context-switches", "cpu-migrations")


class EventSyntaxError(ValueError):
    """An ``--pmc-events`` entry bpftop cannot turn into a perf event."""


def list_pmus(root: Path = SYSFS_PMUS) -> dict[str, int]:
    """PMU name -> its ``perf_event_attr.type``, from sysfs."""
    pmus: dict[str, int] = {}
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return pmus
    for entry in entries:
        try:
            pmus[entry.name] = int((entry / "type").read_text())
        except (OSError, ValueError):
            continue
    return pmus


def core_pmus(root: Path = SYSFS_PMUS) -> list[str]:
    """The CPU-core PMUs (the ones that count cycles and instructions), by name."""
    return [name for name in list_pmus(root) if _CORE_PMU.match(name)]


def describe_pmus(root: Path = SYSFS_PMUS) -> tuple[bool, str]:
    """For ``bpftop check``: (a core PMU exists, which PMUs the kernel lists)."""
    pmus = list_pmus(root)
    core = [name for name in pmus if _CORE_PMU.match(name)]
    listed = ", ".join(pmus) or "none"
    if core:
        return True, f"core PMU {', '.join(core)} (all PMUs: {listed})"
    return False, f"{NO_PMU}; PMUs listed: {listed}; software counters only"


def is_hardware(spec: PerfEventSpec) -> bool:
    """True for events a PMU counts (everything but software and tracepoint events)."""
    return spec.type not in (perf.PERF_TYPE_SOFTWARE, perf.PERF_TYPE_TRACEPOINT)


def split_events(text: str) -> list[str]:
    """Split on commas outside ``pmu/.../`` terms: ``a,cpu/event=1,umask=2/,b``."""
    items, cur = [], ""
    for ch in text:
        if ch == "," and cur.count("/") % 2 == 0:  # an odd count: inside pmu/.../
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    items.append(cur.strip())
    return [i for i in items if i]


def _format_bits(spec: str) -> tuple[str, list[tuple[int, int]]]:
    """``config:0-7,21`` -> ("config", [(0, 7), (21, 21)])."""
    word, _, ranges = spec.strip().partition(":")
    bits = []
    for part in ranges.split(","):
        lo, _, hi = part.partition("-")
        bits.append((int(lo), int(hi or lo)))
    return word, bits


def _place(value: int, bits: list[tuple[int, int]]) -> int:
    """Scatter ``value``'s low bits into the given bit ranges, low range first."""
    out = 0
    for lo, hi in bits:
        width = hi - lo + 1
        out |= (value & ((1 << width) - 1)) << lo
        value >>= width
    return out


def _pmu_event(pmu: str, terms: str, root: Path) -> PerfEventSpec:
    pmus = list_pmus(root)
    if pmu not in pmus:
        hint = NO_PMU if not core_pmus(root) else f"PMUs here: {', '.join(pmus)}"
        raise EventSyntaxError(f"no PMU {pmu!r} on this machine ({hint})")
    name = f"{pmu}/{terms}/"
    alias = root / pmu / "events" / terms
    if terms and "=" not in terms and alias.is_file():
        terms = alias.read_text().strip()
    config = 0
    for term in filter(None, (t.strip() for t in terms.split(","))):
        field, _, raw = term.partition("=")
        try:
            value = int(raw, 0) if raw else 1
            word, bits = _format_bits((root / pmu / "format" / field).read_text())
        except (OSError, ValueError) as exc:
            raise EventSyntaxError(f"{name}: unknown term {term!r}") from exc
        if word != "config":
            raise EventSyntaxError(f"{name}: {field} sets {word}, which bpftop does not support")
        config |= _place(value, bits)
    return PerfEventSpec(pmus[pmu], config, name=name)


def parse_event(text: str, root: Path = SYSFS_PMUS) -> PerfEventSpec:
    """Turn one ``--pmc-events`` entry into a ``PerfEventSpec``.

    Raises:
        EventSyntaxError: unknown name, malformed raw code or PMU term.
    """
    name = text.strip()
    if name in HARDWARE_EVENTS:
        return PerfEventSpec(perf.PERF_TYPE_HARDWARE, HARDWARE_EVENTS[name], name=name)
    if name in SOFTWARE_EVENTS:
        return PerfEventSpec(perf.PERF_TYPE_SOFTWARE, SOFTWARE_EVENTS[name], name=name)
    if m := _RAW.match(name):
        return PerfEventSpec(perf.PERF_TYPE_RAW, int(m.group(1), 16), name=name)
    if m := _CACHE_EVENT.match(name):
        cache, op, result = m.group(1), m.group(2), m.group(3) or ""
        if cache in _CACHES:
            config = _CACHES[cache] | _CACHE_OPS[op] << 8 | _CACHE_RESULTS[result] << 16
            return PerfEventSpec(perf.PERF_TYPE_HW_CACHE, config, name=name)
    if m := _PMU_TERM.match(name):
        return _pmu_event(m.group(1), m.group(2), root)
    known = ", ".join([*HARDWARE_EVENTS, *SOFTWARE_EVENTS])
    raise EventSyntaxError(f"unknown event {name!r}: use one of {known}, rNNNN, or pmu/event=...,umask=.../")


def parse_events(text: str, root: Path = SYSFS_PMUS, limit: int = 6) -> list[PerfEventSpec]:
    """Parse a whole ``--pmc-events`` value (comma-separated, at most ``limit``)."""
    specs = [parse_event(item, root) for item in split_events(text)]
    if not specs:
        raise EventSyntaxError("--pmc-events is empty")
    if len(specs) > limit:
        raise EventSyntaxError(f"at most {limit} events at once, got {len(specs)}")
    return specs


def default_events(software: bool = False) -> list[PerfEventSpec]:
    """The default hardware set, or the software fallback."""
    return [parse_event(n) for n in (DEFAULT_SOFTWARE if software else DEFAULT_HARDWARE)]
