"""Open perf events (``perf_event_open(2)``): sampling timers for BPF and counters.

``perf_event_open`` is a system call that libbpf does not wrap, so it is called
through libc's ``syscall()``. ``struct perf_event_attr`` is packed by hand: the
fields bpftop sets all sit in the first 72 bytes, which have kept their layout
since the struct's first version, and the declared size is
``PERF_ATTR_SIZE_VER8`` (128, Linux >= 6.3). Older kernels reject a size they
do not know with E2BIG when the extra bytes are not zero; ours are zero, and
the open is retried with ``PERF_ATTR_SIZE_VER5`` (112, Linux 4.17) on E2BIG.
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import fcntl
import os
import platform
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpftop.bpf._ffi import ffi
from bpftop.bpf.errors import BpfError

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_TRACEPOINT = 2
PERF_TYPE_HW_CACHE = 3
PERF_TYPE_RAW = 4

PERF_COUNT_HW_CPU_CYCLES = 0
PERF_COUNT_HW_INSTRUCTIONS = 1
PERF_COUNT_HW_CACHE_REFERENCES = 2
PERF_COUNT_HW_CACHE_MISSES = 3
PERF_COUNT_HW_BRANCH_INSTRUCTIONS = 4
PERF_COUNT_HW_BRANCH_MISSES = 5
PERF_COUNT_HW_BUS_CYCLES = 6
PERF_COUNT_HW_STALLED_CYCLES_FRONTEND = 7
PERF_COUNT_HW_STALLED_CYCLES_BACKEND = 8
PERF_COUNT_HW_REF_CPU_CYCLES = 9

PERF_COUNT_SW_CPU_CLOCK = 0
PERF_COUNT_SW_TASK_CLOCK = 1
PERF_COUNT_SW_PAGE_FAULTS = 2
PERF_COUNT_SW_CONTEXT_SWITCHES = 3
PERF_COUNT_SW_CPU_MIGRATIONS = 4
PERF_COUNT_SW_PAGE_FAULTS_MIN = 5
PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6
PERF_COUNT_SW_ALIGNMENT_FAULTS = 7
PERF_COUNT_SW_EMULATION_FAULTS = 8  # (9 dummy and 10 bpf-output count nothing: not offered)

PERF_FORMAT_TOTAL_TIME_ENABLED = 1 << 0
PERF_FORMAT_TOTAL_TIME_RUNNING = 1 << 1
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400  # _IO('$', 0)
PERF_EVENT_IOC_DISABLE = 0x2401  # _IO('$', 1)

PERF_ATTR_SIZE_VER5 = 112
PERF_ATTR_SIZE_VER8 = 128
# Bits of the flags word at offset 40 of perf_event_attr.
_ATTR_FREQ = 1 << 10
_ATTR_EXCLUDE_HV = 1 << 6
_SYSCALL_NUMBERS = {"x86_64": 298, "aarch64": 241, "arm64": 241}
_HARDWARE_TYPES = (PERF_TYPE_HARDWARE, PERF_TYPE_HW_CACHE, PERF_TYPE_RAW)

_libc_lock = threading.Lock()
_libc: Any = None


@dataclass(frozen=True)
class PerfEventSpec:
    """What to open.

    Attributes:
        type: ``PERF_TYPE_*``.
        config: ``PERF_COUNT_*`` (or a raw/cache encoding).
        name: for messages, e.g. ``cycles`` or ``cpu-clock``.
        sample_freq: > 0 makes a sampling event at this frequency (``attr.freq = 1``).
        read_times: ask for time enabled/running with each read (multiplexing).
    """

    type: int
    config: int
    name: str = ""
    sample_freq: int = 0
    read_times: bool = True


class PerfEventError(BpfError):
    """``perf_event_open`` failed; ``hint`` says why it most likely did."""

    def __init__(self, what: str, err: int, hardware: bool) -> None:
        self.hardware = hardware
        super().__init__(what, err)

    @property
    def hint(self) -> str:
        """The likely cause: no PMU in a VM, or perf_event_paranoid/capabilities."""
        if self.hardware and self.errno in (errno_mod.ENOENT, errno_mod.EOPNOTSUPP, errno_mod.ENODEV):
            return "no PMU exposed to this machine — common in VMs and cloud guests"
        if self.errno in (errno_mod.EACCES, errno_mod.EPERM):
            return (
                f"kernel.perf_event_paranoid is {_paranoid()}: run as root "
                "or grant CAP_PERFMON (Linux >= 5.8) / CAP_SYS_ADMIN"
            )
        if self.errno == errno_mod.EMFILE:
            return "too many open files: raise the limit (ulimit -n)"
        if self.errno == errno_mod.ENOSYS:
            return "this kernel was built without perf events (CONFIG_PERF_EVENTS)"
        return super().hint


def _paranoid() -> str:
    try:
        return Path("/proc/sys/kernel/perf_event_paranoid").read_text().strip()
    except OSError:
        return "unknown"


def _libc_handle() -> Any:
    global _libc
    if _libc is None:
        with _libc_lock:
            if _libc is None:
                _libc = ffi.dlopen(None)
    return _libc


def parse_cpu_list(text: str) -> list[int]:
    """Parse a kernel CPU list such as ``0-3,8,10-11``."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def online_cpus() -> list[int]:
    """CPUs that are online now, from ``/sys/devices/system/cpu/online``."""
    try:
        return parse_cpu_list(Path("/sys/devices/system/cpu/online").read_text())
    except OSError:
        return list(range(os.cpu_count() or 1))


def pack_attr(spec: PerfEventSpec, size: int = PERF_ATTR_SIZE_VER8) -> bytes:
    """Return ``struct perf_event_attr`` bytes for ``spec`` (``size`` bytes)."""
    flags = _ATTR_EXCLUDE_HV
    period_or_freq = 0
    if spec.sample_freq > 0:
        flags |= _ATTR_FREQ
        period_or_freq = spec.sample_freq
    read_format = 0
    if spec.read_times:
        read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING
    head = struct.pack("<IIQQQQQ", spec.type, size, spec.config, period_or_freq, 0, read_format, flags)
    return head + bytes(size - len(head))


def open_event(spec: PerfEventSpec, *, cpu: int, pid: int = -1) -> int:
    """Open one event and return its file descriptor (close-on-exec, enabled).

    Args:
        spec: the event.
        cpu: CPU to count on, or -1 for any CPU (needs ``pid`` >= 0).
        pid: task to follow, -1 for every task on ``cpu``.

    Raises:
        PerfEventError: (a BpfError) with errno and a hint.
    """
    name = spec.name or f"type {spec.type} config {spec.config}"
    number = _SYSCALL_NUMBERS.get(platform.machine())
    if number is None:
        raise PerfEventError(f"perf_event_open on {platform.machine()}", errno_mod.ENOSYS, False)
    libc = _libc_handle()
    for size in (PERF_ATTR_SIZE_VER8, PERF_ATTR_SIZE_VER5):
        attr = ffi.new("char[]", pack_attr(spec, size))
        fd = libc.syscall(
            ffi.cast("long", number),
            ffi.cast("void *", attr),
            ffi.cast("int", pid),
            ffi.cast("int", cpu),
            ffi.cast("int", -1),
            ffi.cast("unsigned long", PERF_FLAG_FD_CLOEXEC),
        )
        if fd >= 0:
            return int(fd)
        err = ffi.errno
        if err != errno_mod.E2BIG:
            break
    raise PerfEventError(f"open perf event {name} on cpu {cpu}", err, spec.type in _HARDWARE_TYPES)


def open_per_cpu(spec: PerfEventSpec) -> dict[int, int]:
    """Open ``spec`` on every online CPU; return cpu -> fd.

    Raises:
        PerfEventError: the first CPU that failed; what was opened is closed.
    """
    fds: dict[int, int] = {}
    try:
        for cpu in online_cpus():
            fds[cpu] = open_event(spec, cpu=cpu)
    except BaseException:
        close_fds(fds.values())
        raise
    return fds


def read_value(fd: int) -> tuple[int, int, int]:
    """Read a counter: (value, time_enabled_ns, time_running_ns).

    Without ``read_times`` the kernel returns only the value; both times are
    then reported as 0.
    """
    data = os.read(fd, 24)
    if len(data) >= 24:
        value, enabled, running = struct.unpack("<QQQ", data[:24])
        return value, enabled, running
    if len(data) >= 8:
        return struct.unpack("<Q", data[:8])[0], 0, 0
    raise PerfEventError(f"read perf event fd {fd}", errno_mod.EIO, False)


def set_enabled(fds: Iterable[int], enabled: bool) -> None:
    """Start or stop events (``PERF_EVENT_IOC_ENABLE``/``DISABLE``).

    A stopped sampling event takes no interrupts at all, so its program never runs.
    """
    request = PERF_EVENT_IOC_ENABLE if enabled else PERF_EVENT_IOC_DISABLE
    for fd in fds:
        fcntl.ioctl(fd, request, 0)


def close_fds(fds: Iterable[int]) -> None:
    """Close descriptors, ignoring ones already closed."""
    for fd in list(fds):
        with contextlib.suppress(OSError):
            os.close(fd)
