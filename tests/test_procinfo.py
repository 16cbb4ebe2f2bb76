"""ProcInfo's bookkeeping of exited processes stays bounded under churn (issue 23)."""

from __future__ import annotations

import os

import pytest

from bpftop import procinfo
from bpftop.procinfo import ProcInfo

# Above any pid_max (at most 2**22): these pids never exist, as processes that
# exited before bpftop looked them up.
GONE = 10_000_000


def test_exited_processes_are_forgotten_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # 200 fork+exec a second kept 12,000 exited processes' metadata for 60 s,
    # and every tick walked all of them (issue 23).
    now = [1000.0]
    monkeypatch.setattr(procinfo.time, "monotonic", lambda: now[0])
    info = ProcInfo()
    for tick in range(60):  # a minute of ticks, 300 new short-lived processes each
        now[0] += 1.0
        pids = range(GONE + tick * 300, GONE + (tick + 1) * 300)
        metas = info.lookup([*pids, os.getpid()], dict.fromkeys(pids, "true"))
        assert all(metas[p].exited and metas[p].name == "true" for p in pids)
        assert not metas[os.getpid()].exited
        assert len(info._cache) <= procinfo.MAX_EXITED + 1
    # Older than the time to live: gone, oldest first; the newest still there.
    assert GONE not in info._cache and GONE + 59 * 300 in info._cache


def test_exited_process_keeps_its_metadata_for_the_time_to_live(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(procinfo.time, "monotonic", lambda: now[0])
    info = ProcInfo()
    info.lookup([GONE], {GONE: "short"})
    now[0] += procinfo.EXITED_TTL_S - 1
    info.lookup([os.getpid()])
    assert GONE in info._cache
    now[0] += 2
    info.lookup([os.getpid()])
    assert GONE not in info._cache
