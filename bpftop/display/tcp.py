"""What the tcp pane, the process screen and the tcp batch section all show: endpoints and RTT."""

from __future__ import annotations

from bpftop.fmt import format_ns

US = 1000  # the kernel's srtt unit, in ns


def endpoint(addr: str, port: int) -> str:
    """``10.0.0.1:80`` or ``[::1]:80``."""
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def fmt_rtt(srtt_us: int) -> str:
    """Smoothed RTT, ``-`` while the kernel has none (0: no sample yet)."""
    return format_ns(srtt_us * US) if srtt_us else "-"
