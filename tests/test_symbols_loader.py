"""The symbol loader: slow or stuck loads never hold the caller past its deadline."""

from __future__ import annotations

import threading
import time

from bpftop.collectors.stacks_reader import StackReader
from bpftop.symbols.frame import KIND_PENDING, Frame
from bpftop.symbols.loader import PENDING, Loader


def test_result_waits_until_the_deadline_then_pending() -> None:
    loader = Loader(budget_s=5.0)
    release = threading.Event()
    start = time.monotonic()
    assert loader.result("k", lambda: release.wait(10) and "named", start + 0.2) is PENDING
    assert time.monotonic() - start < 1.0
    release.set()
    assert loader.result("k", lambda: "never run twice", time.monotonic() + 5) == "named"


def test_stuck_load_is_given_up_and_the_queue_moves_on() -> None:
    """A load that never returns (a FUSE read) fails with its reason; later loads still run."""
    loader = Loader(budget_s=0.3)
    stuck = threading.Event()
    assert loader.result("stuck", stuck.wait, time.monotonic() + 0.05, "perf map of pid 7") is PENDING
    assert loader.result("next", lambda: 42, time.monotonic() + 0.05) is PENDING  # queued behind it
    time.sleep(0.4)
    assert loader.result("stuck", stuck.wait, time.monotonic() + 0.05) is None
    assert loader.failures == ["perf map of pid 7: timed out after 0.3 s"]
    assert loader.result("next", lambda: 42, time.monotonic() + 2) == 42  # a fresh worker took the queue
    stuck.set()


def test_loading_stops_after_too_many_stuck_loads() -> None:
    loader = Loader(budget_s=0.05, max_abandoned=2)
    never = threading.Event()
    for key in range(2):
        loader.result(key, never.wait, time.monotonic())
        time.sleep(0.1)
        assert loader.result(key, never.wait, time.monotonic()) is None
    assert loader.failures[-1] == "symbol loading stopped: 2 loads timed out"
    assert loader.result("later", lambda: 1, time.monotonic() + 1) is None
    never.set()


def test_bug_in_a_load_is_a_note_not_an_exception() -> None:
    loader = Loader()
    assert loader.result("bad", lambda: 1 // 0, time.monotonic() + 2, "/bin/x of pid 3") is None
    (failure,) = loader.failures
    assert failure.startswith("/bin/x of pid 3 failed: ZeroDivisionError")


class _Pending:
    """A symbolizer whose file is still loading on the first call, named on the next."""

    def __init__(self) -> None:
        self.calls = 0

    def user(self, pid: int, addrs: list[int], deadline: float | None = None) -> list[Frame]:
        self.calls += 1
        if self.calls == 1:
            return [Frame("", "/bin/app", 0x40, KIND_PENDING) for _ in addrs]
        return [Frame("main", "/bin/app", 0, "user") for _ in addrs]


def test_stack_reader_retries_pending_stacks() -> None:
    reader = StackReader(object(), _Pending())
    assert reader._keep_user((5, 1), [0x40], reader._sym.user(5, [0x40])) == (("app+0x40",), "?")
    assert (5, 1) in reader._retry and not reader._user_by_ips  # not kept for good
    assert reader._keep_user((5, 1), [0x40], reader._sym.user(5, [0x40])) == (("main",), "u")
    assert reader._user_by_ips[(5, (0x40,))] == (("main",), "u")
