"""bpftop/bpf/perf.py: perf_event_attr bytes, CPU lists, hints; real software events (root)."""

from __future__ import annotations

import errno
import os
import struct
import time

import pytest

from bpftop.bpf import perf


def test_attr_layout() -> None:
    spec = perf.PerfEventSpec(
        perf.PERF_TYPE_SOFTWARE, perf.PERF_COUNT_SW_CPU_CLOCK, "cpu-clock", sample_freq=49
    )
    attr = perf.pack_attr(spec)
    assert len(attr) == perf.PERF_ATTR_SIZE_VER8 == 128
    type_, size, config, freq, sample_type, read_format, flags = struct.unpack_from("<IIQQQQQ", attr)
    assert (type_, size, config, freq, sample_type) == (1, 128, 0, 49, 0)
    assert read_format == perf.PERF_FORMAT_TOTAL_TIME_ENABLED | perf.PERF_FORMAT_TOTAL_TIME_RUNNING
    assert flags & (1 << 10) and not flags & 1  # freq set, not disabled
    counting = perf.pack_attr(perf.PerfEventSpec(0, 1, read_times=False), perf.PERF_ATTR_SIZE_VER5)
    assert len(counting) == 112 and struct.unpack_from("<QQQ", counting, 16) == (0, 0, 0)
    assert not struct.unpack_from("<Q", counting, 40)[0] & (1 << 10)


def test_cpu_lists_and_hints() -> None:
    assert perf.parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert perf.parse_cpu_list("0") == [0]
    assert perf.online_cpus()
    assert "no PMU" in perf.PerfEventError("open cycles", errno.ENOENT, True).hint
    assert "perf_event_paranoid" in perf.PerfEventError("open", errno.EACCES, False).hint
    assert "no PMU" not in perf.PerfEventError("open cpu-clock", errno.ENOENT, False).hint


@pytest.mark.bpf
def test_software_counter_counts_on_every_cpu() -> None:
    fds = perf.open_per_cpu(
        perf.PerfEventSpec(perf.PERF_TYPE_SOFTWARE, perf.PERF_COUNT_SW_CPU_CLOCK, "cpu-clock")
    )
    try:
        assert sorted(fds) == perf.online_cpus()
        time.sleep(0.1)
        for fd in fds.values():
            value, enabled, running = perf.read_value(fd)
            assert value > 0 and enabled >= 50_000_000 and running == enabled
        mine = perf.open_event(
            perf.PerfEventSpec(perf.PERF_TYPE_SOFTWARE, perf.PERF_COUNT_SW_TASK_CLOCK, read_times=False),
            cpu=-1,
            pid=os.getpid(),
        )
        perf.close_fds([mine, mine])  # closing twice is harmless
    finally:
        perf.close_fds(fds.values())
    with pytest.raises(OSError):
        os.fstat(next(iter(fds.values())))
