"""The since-start eviction figure of an LRU map (collectors.base.Evictions)."""

from __future__ import annotations

from bpftop.collectors.base import Evictions


def test_evictions_never_go_down_and_never_below_zero() -> None:
    seen = Evictions()
    assert seen("procs", inserts=10, live=11, deleted=0) == 0  # an insert after the counter was read
    assert seen("procs", inserts=12, live=10, deleted=1) == 1
    assert seen("procs", inserts=12, live=11, deleted=1) == 1  # not 0: a since-start counter
    assert seen("errnos", inserts=3, live=3, deleted=0) == 0  # each map its own
    assert seen("procs", inserts=20, live=10, deleted=5) == 5
