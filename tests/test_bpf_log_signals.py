"""A signal that strikes while libbpf runs bpftop's print callback is deferred, not lost (no root)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from bpftop.bpf import log


class StopError(Exception):
    pass


@pytest.fixture
def usr1() -> Iterator[list[int]]:
    """SIGUSR1 with a handler that raises, wrapped by defer_signals; restored afterwards."""
    seen: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        seen.append(signum)
        raise StopError

    previous = signal.signal(signal.SIGUSR1, handler)
    log.defer_signals(signal.SIGUSR1)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGUSR1, previous)
        log._handlers.pop(signal.SIGUSR1, None)
        log._pending.clear()
        log._in_callback[0] = False


def test_outside_the_callback_the_handler_runs_at_once(usr1: list[int]) -> None:
    with pytest.raises(StopError):
        signal.raise_signal(signal.SIGUSR1)
    assert usr1 == [signal.SIGUSR1]


def test_inside_the_callback_it_waits_for_raise_pending(usr1: list[int]) -> None:
    log._in_callback[0] = True
    signal.raise_signal(signal.SIGUSR1)  # would have raised inside a cffi callback, and been lost
    log._in_callback[0] = False
    assert usr1 == []
    with pytest.raises(StopError):
        log.raise_pending()
    assert usr1 == [signal.SIGUSR1]
    log.raise_pending()  # once only


def test_a_handler_that_raised_as_the_callback_began_is_kept(usr1: list[int]) -> None:
    sigint, wrapped = signal.getsignal(signal.SIGINT), log._handlers.pop(signal.SIGINT, None)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever earlier cli.main() calls left
    log.defer_signals(signal.SIGINT)
    try:
        assert log._on_error(KeyboardInterrupt, KeyboardInterrupt(), None) == 0
        assert log._on_error(SystemExit, SystemExit(128 + signal.SIGUSR1), None) == 0
        assert log._pending == [signal.SIGINT, signal.SIGUSR1]
        with pytest.raises(KeyboardInterrupt):
            log.raise_pending()  # the first one, with its own handler
        assert log._pending == []
        assert log._on_error(ValueError, ValueError("x"), None) == 0 and log._pending == []
    finally:
        signal.signal(signal.SIGINT, sigint)
        log._handlers.pop(signal.SIGINT, None)
        if wrapped is not None:
            log._handlers[signal.SIGINT] = wrapped
