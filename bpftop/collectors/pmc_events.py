"""The perf events behind the pmc collector: which to open, and the software fallback.

Hardware events that cannot be opened are reported with the reason, not
hidden: on a machine without a core PMU (most VMs and cloud guests) every one
fails with ENOENT, and the collector falls back to software events that every
kernel has, read through the same per-CPU arrays, so the pane still shows
something true.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from bpftop.bpf import perf, pmu
from bpftop.bpf.errors import BpfError
from bpftop.bpf.perf import PerfEventSpec
from bpftop.collectors.pmc import MAX_COUNTERS, PmcEvent, Unavailable

_MISSING = (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV)


def unavailable_reason(spec: PerfEventSpec, exc: BpfError, has_core_pmu: bool) -> str:
    """Why ``spec`` could not be opened, in the user's terms."""
    if pmu.is_hardware(spec) and exc.errno in _MISSING:
        if not has_core_pmu:
            return pmu.NO_PMU
        return f"this CPU's PMU does not count it ({exc.errno_name})"
    hint = exc.hint
    return f"{exc.errno_name or exc}" + (f": {hint}" if hint else "")


@dataclass
class CounterSet:
    """Open per-CPU events, in the order of the kernel's ``counterN`` arrays.

    Attributes:
        events: what is counted.
        fds: per event, cpu -> fd.
        hardware: at least one hardware event is open.
        notice: why the software fallback is in use ("" otherwise).
        unavailable: events asked for that could not be opened.
    """

    events: list[PmcEvent] = field(default_factory=list)
    fds: list[dict[int, int]] = field(default_factory=list)
    hardware: bool = False
    notice: str = ""
    unavailable: list[Unavailable] = field(default_factory=list)

    @classmethod
    def open(cls, names: tuple[str, ...] = (), has_core_pmu: bool | None = None) -> CounterSet:
        """Open ``names`` (``--pmc-events`` entries; the hardware defaults if empty).

        Raises:
            BpfError: not even the software events could be opened.
        """
        specs = [pmu.parse_event(n) for n in names] if names else pmu.default_events()
        core = bool(pmu.core_pmus()) if has_core_pmu is None else has_core_pmu
        self = cls()
        errors: list[BpfError] = []
        for spec in specs:
            self._add(spec, core, errors)
        wanted_hardware = any(pmu.is_hardware(s) for s in specs)
        if wanted_hardware and not self.hardware:
            self.notice = (
                f"{self.unavailable[0].reason}: showing software counters"
                if self.unavailable
                else "no hardware counter could be opened: showing software counters"
            )
            for spec in pmu.default_events(software=True):
                if len(self.events) < MAX_COUNTERS and spec.name not in {e.name for e in self.events}:
                    self._add(spec, core, errors)
        if not self.events:
            self.close()
            first = errors[0] if errors else BpfError("no perf event to count")
            raise first
        return self

    def _add(self, spec: PerfEventSpec, core: bool, errors: list[BpfError]) -> None:
        try:
            fds = perf.open_per_cpu(spec)
        except BpfError as exc:
            errors.append(exc)
            self.unavailable.append(Unavailable(spec.name, unavailable_reason(spec, exc, core)))
            return
        hardware = pmu.is_hardware(spec)
        self.events.append(PmcEvent(spec.name, spec.type, spec.config, hardware))
        self.fds.append(fds)
        self.hardware |= hardware

    def read(self) -> dict[int, list[tuple[int, int, int]]]:
        """Each CPU's current (count, enabled ns, running ns) of every event."""
        out: dict[int, list[tuple[int, int, int]]] = {}
        for fds in self.fds:
            for cpu, fd in fds.items():
                out.setdefault(cpu, []).append(perf.read_value(fd))
        return out

    def close(self) -> None:
        """Close every event; safe to call twice."""
        for fds in self.fds:
            perf.close_fds(fds.values())
        self.fds = []
