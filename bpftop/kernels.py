"""The oldest Linux each collector loads on, and what to say when this kernel is older.

``c/kernels.json`` is computed at build time by ``scripts/kernel_reqs.py`` from
the committed objects (program types, helpers, map types, instructions) and
read here with no BPF tool and no cffi. Distribution kernels backport BPF
features under an old version number (RHEL 9's 5.14 carries much of 6.x), so
bpftop always tries to load; these minimums only explain a load that failed,
in place of a verifier log the user cannot act on.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bpftop.registry import STEMS

KERNELS_JSON = Path(__file__).resolve().parent / "c" / "kernels.json"
# "5.14.0-427.el9.x86_64", "6.1.0-57-amd64", "5.15.0-91-generic", "6.18.0-rc3+".
_RELEASE = re.compile(r"\s*(\d+)\.(\d+)")

Version = tuple[int, int]


@dataclass(frozen=True)
class Minimum:
    """The lowest release one way of loading needs: that object and family, and why."""

    version: Version
    why: tuple[str, ...]
    obj: str
    family: str

    @property
    def text(self) -> str:
        """``"5.8"``."""
        return f"{self.version[0]}.{self.version[1]}"


def parse_release(release: str) -> Version | None:
    """Major and minor of a kernel release string, None when it has none.

    Distributions append their own build numbers after the upstream version
    (Debian ``6.1.0-57-amd64``, Ubuntu ``5.15.0-91-generic``, RHEL
    ``5.14.0-427.el9.x86_64``); only the upstream part says which mainline
    release the kernel started from.
    """
    match = _RELEASE.match(release)
    return (int(match.group(1)), int(match.group(2))) if match else None


@cache
def _load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # an unreadable table must never stop bpftop: fall back to the verifier's words
    return data


def minimum(collector: str, data: dict[str, Any] | None = None) -> Minimum | None:
    """The easiest way to load ``collector``: the lowest minimum over its objects and families.

    Args:
        collector: collector name, e.g. ``tcp``.
        data: the parsed ``kernels.json`` (tests); default the packaged one.

    Returns:
        None when the table does not know the collector, or it runs without
        its objects (``registry.Stem.fallback_objects``).
    """
    stem = STEMS.get(collector)
    if stem is None:
        return None
    data = _load(KERNELS_JSON) if data is None else data
    best: Minimum | None = None
    for obj in stem.objects:
        if obj in stem.fallback_objects:
            continue
        for family, req in data.get("objects", {}).get(obj, {}).get("families", {}).items():
            version = parse_release(req["min"])
            if version is not None and (best is None or version < best.version):
                best = Minimum(version, tuple(req["why"]), obj, family)
    return best


def too_old(collector: str, release: str | None = None, data: dict[str, Any] | None = None) -> str:
    """Why ``collector`` cannot load on this kernel by its version, or ``""``.

    Args:
        collector: collector name.
        release: a kernel release string; default ``platform.release()``.
        data: the parsed ``kernels.json`` (tests).

    Returns:
        ``"needs Linux X.Y for Z (this kernel reports A.B; ...)"`` when the
        release is older than every object and family the collector could
        load, else ``""`` (also when either version is unknown).
    """
    release = platform.release() if release is None else release
    running = parse_release(release)
    need = minimum(collector, data)
    if running is None or need is None or running >= need.version:
        return ""
    return (
        f"needs Linux {need.text} for {', '.join(need.why)} (this kernel reports "
        f"{running[0]}.{running[1]}; distribution kernels may have it backported)"
    )
