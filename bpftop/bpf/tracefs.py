"""Find or mount tracefs, which classic ``tracepoint`` attachment needs.

``tp_btf`` and ``raw_tp`` need no filesystem; libbpf's tracepoint attach reads
the event id from ``/sys/kernel/tracing`` (or the older debugfs path), which a
fresh machine may not have mounted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
DEBUGFS_TRACING = Path("/sys/kernel/debug/tracing")


def tracefs_root() -> Path | None:
    """Return the mounted tracefs directory, or None."""
    for path in (TRACEFS, DEBUGFS_TRACING):
        if (path / "events").is_dir():
            return path
    return None


def ensure_tracefs() -> Path:
    """Return tracefs's root, mounting it at ``/sys/kernel/tracing`` if needed.

    Raises:
        OSError: with the mount's errno when tracefs cannot be mounted.
    """
    root = tracefs_root()
    if root is not None:
        return root
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.mount(b"tracefs", str(TRACEFS).encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot mount tracefs at {TRACEFS}: {os.strerror(err)}")
    return TRACEFS


def tracepoint_exists(category: str, name: str) -> bool | None:
    """True/False if tracefs is mounted and tells, None if it cannot be known."""
    root = tracefs_root()
    if root is None:
        return None
    return (root / "events" / category / name).is_dir()
