"""Exceptions raised by bpftop's libbpf layer.

Each carries libbpf's reason (the last lines it logged) and the errno, so a pane
can say what is missing and how to fix it. A load the verifier rejected also
carries the verifier's whole log, and says the reason found at its end.
"""

from __future__ import annotations

import errno as errno_mod
import os

from bpftop.bpf.verifier import VerifierLog


class BpfError(Exception):
    """A libbpf call failed.

    Attributes:
        what: what bpftop was doing ("load syscalls.bpf.o").
        errno: the positive errno libbpf returned, 0 if unknown.
        libbpf_log: libbpf's last warning lines, most useful part of the reason.
        load_logs: the verifier's whole log of each program it rejected.
    """

    def __init__(
        self, what: str, err: int = 0, libbpf_log: str = "", load_logs: tuple[VerifierLog, ...] = ()
    ) -> None:
        self.what = what
        self.errno = abs(err)
        self.libbpf_log = libbpf_log
        self.load_logs = load_logs
        super().__init__(str(self))

    @property
    def errno_name(self) -> str:
        """Symbolic errno, e.g. ``EPERM``."""
        return errno_mod.errorcode.get(self.errno, str(self.errno)) if self.errno else ""

    @property
    def hint(self) -> str:
        """How to fix the most common causes, or an empty string."""
        if self.load_logs:  # its EACCES or EINVAL is the verifier's, not a permission
            return "`bpftop check -v` prints the verifier's whole log"
        if self.errno in (errno_mod.EPERM, errno_mod.EACCES):
            if os.geteuid() != 0:
                return "run as root (sudo bpftop) or grant CAP_BPF and CAP_PERFMON"
            return "the kernel refused: check lockdown, kernel.unprivileged_bpf_disabled, seccomp"
        if self.errno == errno_mod.ENOENT:
            return "the attach point does not exist on this kernel"
        return ""

    def __str__(self) -> str:
        if self.load_logs:  # the reason says more than the errno and libbpf's summary
            return f"{self.what}: " + "; ".join(str(log.rejection()) for log in self.load_logs)
        parts = [self.what]
        if self.errno:
            parts.append(f"{self.errno_name}: {os.strerror(self.errno)}")
        text = ": ".join(parts)
        if self.libbpf_log:
            text += f" ({self.libbpf_log})"
        return text


class LibbpfMissingError(BpfError):
    """``libbpf.so.1`` could not be opened."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class AttachError(BpfError):
    """No attach method worked for a program; ``tried`` maps method to reason."""

    def __init__(self, what: str, tried: dict[str, str], load_logs: tuple[VerifierLog, ...] = ()) -> None:
        self.tried = tried
        super().__init__(what, load_logs=load_logs)

    def __str__(self) -> str:
        reasons = "; ".join(f"{m}: {r}" for m, r in self.tried.items())
        return f"{self.what} ({reasons})" if reasons else self.what
