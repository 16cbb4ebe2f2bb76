"""The dashboard's input thread: keys and a lone Escape arrive, and it sleeps while nothing comes."""

from __future__ import annotations

import asyncio
import os
import pty
import selectors
import signal
import threading
import time
import tty
from typing import Any

from textual import events

from bpftop.terminal import HangupAwareDriver, WakingEvent


class Recorder(HangupAwareDriver):
    """The driver with its messages kept instead of sent to an app."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[Any] = []

    def process_message(self, message: Any) -> None:
        self.received.append(message)


def _keys(driver: Recorder) -> list[str]:
    return [m.key for m in driver.received if isinstance(m, events.Key)]


def _wait(predicate: Any, timeout_s: float = 2.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_keys_and_a_lone_escape_arrive_and_the_idle_thread_does_not_poll(monkeypatch) -> None:
    selects = []
    real_select = selectors.SelectSelector.select

    def counted(self: selectors.SelectSelector, timeout: float | None = None) -> Any:
        selects.append(timeout)
        return real_select(self, timeout)

    monkeypatch.setattr(selectors.SelectSelector, "select", counted)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTSTP, signal.SIGCONT)}
    master, slave = pty.openpty()
    tty.setraw(slave)  # as the dashboard's terminal: bytes come as typed, not by lines

    async def run() -> None:
        driver = Recorder(app=None)  # type: ignore[arg-type]  # messages are kept, not sent
        assert isinstance(driver.exit_event, WakingEvent)
        driver.fileno = slave
        thread = threading.Thread(target=driver.run_input_thread)
        thread.start()
        try:
            os.write(master, b"ab")
            assert _wait(lambda: _keys(driver) == ["a", "b"]), driver.received
            selects.clear()
            time.sleep(1.0)  # idle: Textual's own loop would wake ten times
            assert len(selects) <= 1, selects
            os.write(master, b"\x1b")  # Escape alone: the parser times it out
            assert _wait(lambda: _keys(driver)[-1:] == ["escape"]), driver.received
            assert 0.1 in selects  # it polled while the sequence was open...
            selects.clear()
            time.sleep(0.5)
            assert len(selects) <= 1, selects  # ...and sleeps again after
        finally:
            started = time.monotonic()
            driver.exit_event.set()
            thread.join(2.0)
        assert not thread.is_alive() and time.monotonic() - started < 0.5  # woken at once, not polled
        driver.close()

    try:
        asyncio.run(run())
    finally:
        os.close(master)
        os.close(slave)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
