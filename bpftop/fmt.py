"""Numbers as short text: the one formatter of the panes, the process screen and batch text.

Every text output shows a figure the same way, at the same width: a rate of
12,345 calls a second is ``12.3k`` in a pane cell and in ``bpftop -b``.
``None`` is a figure not known yet (before the first interval, or not
counted) and shows as ``-`` everywhere. JSON keeps the raw numbers and never
comes through here.

A leaf: it imports nothing from bpftop, so every layer may use it.
"""

from __future__ import annotations

NONE = "-"


def format_ns(ns: float | None) -> str:
    """A duration in nanoseconds, to three significant digits.

    Args:
        ns: the duration; None when unknown.

    Returns:
        ``850ns``, ``12.3us``, ``4.1ms``, ``2.05s``, ``150s``; ``-`` for None.
    """
    if ns is None:
        return NONE
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            value = ns / scale
            return f"{value:.3g}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return f"{ns:.0f}ns"


def _thousands(value: float) -> str:
    """``value`` >= 10,000 in k, M or G with one decimal."""
    for unit, scale in (("G", 1e9), ("M", 1e6)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}"
    return f"{value / 1e3:.1f}k"


def fmt_rate(value: float | None) -> str:
    """A per-second rate in at most six cells.

    Args:
        value: events per second; None before the first interval.

    Returns:
        ``0``, ``0.5``, ``9.9``, ``120``, ``9999``, ``12.3k``, ``4.5M``, ``1.2G``; ``-`` for None.
    """
    if value is None:
        return NONE
    if value == 0:
        return "0"
    if value < 10:
        return f"{value:.1f}"
    return f"{value:.0f}" if value < 10_000 else _thousands(value)


def fmt_count(value: float | None) -> str:
    """A count (or a scaled count's rate) in at most six cells; whole numbers keep no decimal.

    Args:
        value: the count; None when not counted.

    Returns:
        ``0``, ``7``, ``2.5``, ``120``, ``12.3k``, ``4.5M``, ``1.2G``; ``-`` for None.
    """
    if value is None:
        return NONE
    if value >= 10_000:
        return _thousands(value)
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def fmt_bytes(value: float | None) -> str:
    """Bytes, or bytes a second, in powers of 1024 like top: at most four cells.

    Args:
        value: the size or rate; None when unknown.

    Returns:
        ``512``, ``4.0K``, ``1.2M``, ``118M``, ``3.4G``, ``2.0T``; ``-`` for None.
    """
    if value is None:
        return NONE
    if value < 1024:
        return f"{value:.0f}"
    for unit in "KMGT":
        value /= 1024
        if value < 1024 or unit == "T":
            break
    return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"


def fmt_mb(value: float | None) -> str:
    """Disk bytes, or bytes a second, in MB (10**6 bytes, like ``iostat -m``).

    Args:
        value: bytes or bytes a second; None before the first interval.

    Returns:
        ``0.48``, ``120.00``; ``-`` for None.
    """
    return NONE if value is None else f"{value / 1e6:.2f}"


def fmt_pct(value: float | None, digits: int = 1) -> str:
    """A percentage without its sign (the column or the text after it says ``%``).

    Args:
        value: the percentage, 0-100 (more for several CPUs); None when unknown.
        digits: decimals shown.

    Returns:
        ``37.5``; ``-`` for None.
    """
    return NONE if value is None else f"{value:.{digits}f}"


def fmt_ratio(value: float | None, digits: int = 2) -> str:
    """A ratio or an average: instructions per cycle, a queue depth.

    Args:
        value: the ratio; None when not counted.
        digits: decimals shown.

    Returns:
        ``1.25``; ``-`` for None.
    """
    return NONE if value is None else f"{value:.{digits}f}"
