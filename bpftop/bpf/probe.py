"""Kernel feature probes for ``bpftop check``: PMU, BPF stats, libbpf version, raw tracepoints."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import platform
from collections.abc import Callable
from pathlib import Path

from bpftop.bpf._ffi import ffi, lib

PERF_EVENT_OPEN_NR = {"x86_64": 298, "aarch64": 241}
PERF_TYPE_HARDWARE = 0
PERF_COUNT_HW_CPU_CYCLES = 0
PERF_ATTR_SIZE = 136  # PERF_ATTR_SIZE_VER8; older kernels accept larger zero-padded attrs
BPF_STATS_RUN_TIME = 0
BPF_PROG_TYPE_RAW_TRACEPOINT = 17


def libbpf_version() -> str:
    """Version of the libbpf shared library in use, e.g. ``1.1``."""
    lib_ = lib()
    return f"{lib_.libbpf_major_version()}.{lib_.libbpf_minor_version()}"


def hardware_pmu() -> tuple[bool, str]:
    """Try to open a cycles counter on this thread: (available, reason if not)."""
    nr = PERF_EVENT_OPEN_NR.get(platform.machine())
    if nr is None:
        return False, f"unknown perf_event_open number on {platform.machine()}"
    attr = (ctypes.c_ubyte * PERF_ATTR_SIZE)()
    ctypes.c_uint32.from_buffer(attr, 0).value = PERF_TYPE_HARDWARE
    ctypes.c_uint32.from_buffer(attr, 4).value = PERF_ATTR_SIZE
    ctypes.c_uint64.from_buffer(attr, 8).value = PERF_COUNT_HW_CPU_CYCLES
    # disabled (bit 0), exclude_kernel (bit 5), exclude_hv (bit 6): allowed at any paranoia level
    ctypes.c_uint64.from_buffer(attr, 40).value = (1 << 0) | (1 << 5) | (1 << 6)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = libc.syscall(nr, ctypes.byref(attr), 0, -1, -1, 0)
    if fd >= 0:
        os.close(fd)
        return True, ""
    err = ctypes.get_errno()
    if err in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV):
        return False, "no PMU exposed to this machine (common in VMs and cloud guests)"
    return False, f"perf_event_open: {errno.errorcode.get(err, err)}"


def bpf_stats() -> tuple[bool, str]:
    """Whether BPF run-time statistics can be enabled (BPF_ENABLE_STATS, Linux >= 5.8)."""
    fd = lib().bpf_enable_stats(BPF_STATS_RUN_TIME)
    if fd >= 0:
        os.close(fd)
        return True, "BPF_ENABLE_STATS"
    if Path("/proc/sys/kernel/bpf_stats_enabled").exists():
        return True, "sysctl kernel.bpf_stats_enabled only"
    return False, f"unsupported ({errno.errorcode.get(-fd, fd)})"


def bpf_loads() -> tuple[bool, str]:
    """Whether this process can load a BPF program at all: (yes, reason if not).

    Loads the smallest raw tracepoint program (libbpf's own probe), so the
    answer is about privileges and the kernel, never about one of bpftop's
    objects: a collector whose object fails still leaves the others running.
    """
    err = lib().libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, ffi.NULL)
    if err == 1:
        return True, ""
    if err == 0:
        return False, "the kernel does not load raw tracepoint programs"
    return False, f"cannot load a BPF program: {os.strerror(-err)}"


def raw_tracepoint_exists(
    category: str,
    name: str,
    kallsyms: Path = Path("/proc/kallsyms"),
    btf: Callable[[str], bool] | None = None,
    tracefs: Callable[[str, str], bool | None] | None = None,
) -> bool | None:
    """Whether ``raw_tp/<name>`` can attach: True/False, None when nothing tells.

    A raw tracepoint is the kernel's tracepoint itself, so it exists iff the
    tracepoint does. Each tracepoint (vmlinux or module) defines a
    ``__traceiter_<name>`` function (Linux >= 5.10), listed in kallsyms even
    without CONFIG_KALLSYMS_ALL; its BTF typedef ``btf_trace_<name>`` and its
    tracefs event directory are the same fact told elsewhere, for kernels
    where kallsyms says nothing.
    """
    from bpftop.bpf.btf import has_btf_tracepoint
    from bpftop.bpf.tracefs import tracepoint_exists

    if (btf or has_btf_tracepoint)(name):
        return True
    iters = _traceiters(kallsyms)
    if iters:  # empty: unreadable, or a kernel before __traceiter_ existed
        return name in iters
    return (tracefs or tracepoint_exists)(category, name)


@functools.lru_cache(maxsize=4)
def _traceiters(kallsyms: Path) -> frozenset[str]:
    """Tracepoint names from ``__traceiter_<name>`` symbols (read once: ~10 MB)."""
    prefix = "__traceiter_"
    try:
        with open(kallsyms) as f:
            return frozenset(
                word[len(prefix) :]
                for word in (line.split()[2] for line in f if prefix in line)
                if word.startswith(prefix)
            )
    except (OSError, IndexError):
        return frozenset()
