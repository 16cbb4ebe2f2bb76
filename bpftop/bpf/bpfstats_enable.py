"""Switch the kernel's BPF run-time statistics on while bpftop needs them.

With statistics on, the kernel times every run of every program (two clock
reads per run, roughly 10-20 ns), so bpftop turns them on only while the
``bpf`` pane is visible or ``--bpf-stats`` is given. ``BPF_ENABLE_STATS``
(Linux >= 5.8) returns an fd: statistics stay on while any such fd is open and
go off when the last closes, even when bpftop is killed. Older kernels only
have the ``kernel.bpf_stats_enabled`` sysctl, a global switch: bpftop sets it,
and restores the previous value on exit (a SIGKILL leaves it on; said in the
pane).
"""

from __future__ import annotations

import atexit
import contextlib
import os
from pathlib import Path

from bpftop.bpf._ffi import lib

BPF_STATS_RUN_TIME = 0
SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")


class StatsEnabler:
    """Holds statistics on between ``enable`` and ``disable``; both idempotent.

    Attributes:
        method: how they are on now: ``BPF_ENABLE_STATS``, ``sysctl``,
            ``already on`` (someone else set the sysctl), or empty when off.
        error: why they could not be turned on, when they could not.
    """

    def __init__(self, sysctl: Path = SYSCTL) -> None:
        self.sysctl = sysctl
        self.method = ""
        self.error = ""
        self._fd = -1
        self._restore: str | None = None
        self._atexit = False

    @property
    def enabled(self) -> bool:
        """Whether statistics are being collected because of us (or were already)."""
        return bool(self.method)

    def enable(self) -> bool:
        """Turn statistics on; False (with ``error``) when the kernel refuses."""
        if self.method:
            return True
        fd = int(lib().bpf_enable_stats(BPF_STATS_RUN_TIME))
        if fd >= 0:
            self._fd, self.method, self.error = fd, "BPF_ENABLE_STATS", ""
            return True
        try:
            previous = self.sysctl.read_text().strip()
            if previous != "0":
                self.method = "already on"
                return True
            self.sysctl.write_text("1\n")
        except OSError as exc:
            self.error = f"BPF_ENABLE_STATS failed ({os.strerror(-fd)}) and {self.sysctl}: {exc.strerror}"
            return False
        self._restore, self.method, self.error = previous, "sysctl", ""
        if not self._atexit:
            from bpftop.exiting import at_forced_exit

            atexit.register(self.disable)
            at_forced_exit(self.disable)  # atexit does not run when a stuck thread forces the exit
            self._atexit = True
        return True

    def disable(self) -> None:
        """Close the fd, or put the sysctl back as it was."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._restore is not None:
            # Nothing more to do on the way out if this fails; `bpftop check` shows the sysctl.
            with contextlib.suppress(OSError):
                self.sysctl.write_text(self._restore + "\n")
            self._restore = None
        self.method = ""
