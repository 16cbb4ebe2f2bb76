"""Can this process load BPF? Root, or CAP_BPF with CAP_PERFMON (Linux >= 5.8)."""

from __future__ import annotations

import os
from pathlib import Path

CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39


def effective_caps(status_path: Path = Path("/proc/self/status")) -> int:
    """The CapEff bit mask of this process (0 if unreadable)."""
    try:
        for line in status_path.read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def can_load_bpf(caps: int | None = None) -> bool:
    """True with CAP_SYS_ADMIN, or with both CAP_BPF and CAP_PERFMON."""
    caps = effective_caps() if caps is None else caps

    def has(bit: int) -> bool:
        return bool(caps & (1 << bit))

    return has(CAP_SYS_ADMIN) or (has(CAP_BPF) and has(CAP_PERFMON))


NOT_ROOT_HINT = "run as root (sudo bpftop) or grant CAP_BPF and CAP_PERFMON"


def privilege_problem() -> str:
    """Empty when BPF may load, else the one-line reason."""
    if can_load_bpf():
        return ""
    who = "not root" if os.geteuid() != 0 else "root without CAP_SYS_ADMIN/CAP_BPF"
    return f"{who}: loading BPF programs needs privileges"
