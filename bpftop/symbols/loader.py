"""Symbol loading off the sampling thread, each load under a time budget.

Whatever a monitored process controls can make a load slow: a huge symbol
table, a FUSE file system that never answers a read, a file grown to the cap.
The sampling thread must keep ticking (the BPF maps fill up otherwise) and
quitting must always work, so loads run in a daemon worker thread and the
sampler waits for them only until a deadline it chooses; frames of a file not
loaded yet show its raw address and are named on a later tick.

A load running past ``budget_s`` is recorded as failed with that reason and
its worker abandoned (a daemon thread: it cannot hold up the exit; Python
cannot kill a thread stuck in ``read()``); a fresh worker takes the queue. After
``max_abandoned`` stuck workers, loading stops for good, said in a note.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

PENDING = object()  # the result of a load that has not finished


class _Job:
    __slots__ = ("done", "error", "fn", "result", "started_at", "what")

    def __init__(self, fn: Callable[[], Any], what: str) -> None:
        self.fn = fn
        self.what = what
        self.done = threading.Event()
        self.result: Any = None
        self.error = ""
        self.started_at: float | None = None


class Loader:
    """Runs load functions in a worker thread, one at a time, each within a budget.

    Args:
        budget_s: How long one load may run before it is given up as failed.
        max_abandoned: Stuck workers tolerated before loading stops.
    """

    def __init__(self, budget_s: float = 10.0, max_abandoned: int = 4) -> None:
        self.budget_s = budget_s
        self.max_abandoned = max_abandoned
        self.abandoned = 0
        self.failures: list[str] = []  # one line per load given up or failed by a bug, for notes
        self._jobs: dict[Hashable, _Job] = {}
        self._queue: queue.SimpleQueue[_Job] | None = None
        self._lock = threading.Lock()
        self._running: _Job | None = None

    def result(self, key: Hashable, fn: Callable[[], Any], deadline: float, what: str = "") -> Any:
        """The result of ``fn`` (run once per key until taken), or PENDING if not done by ``deadline``.

        A finished job is forgotten once its result is returned: the caller keeps it.

        Args:
            key: Identifies the load (e.g. a pid and a mapping).
            fn: Does the load; its exceptions must be caught inside (they count as bugs).
            deadline: ``time.monotonic()`` after which not to wait.
            what: Names the load in the note when it times out.
        """
        job = self._jobs.get(key)
        if job is None:
            if self.abandoned >= self.max_abandoned:
                return None
            job = self._jobs[key] = _Job(fn, what)
            self._submit(job)
        self._check_stuck()
        job.done.wait(max(0.0, deadline - time.monotonic()))
        if not job.done.is_set():
            self._check_stuck()
            if not job.done.is_set():
                return PENDING
        del self._jobs[key]
        return job.result

    def _submit(self, job: _Job) -> None:
        if self._queue is None:
            self._start_worker()
        assert self._queue is not None
        self._queue.put(job)

    def _start_worker(self) -> None:
        jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        if self._queue is not None:  # hand the waiting jobs to the new worker
            while True:
                try:
                    jobs.put(self._queue.get_nowait())
                except queue.Empty:
                    break
        self._queue = jobs
        threading.Thread(target=self._work, args=(jobs,), name="bpftop-symbols", daemon=True).start()

    def _work(self, jobs: queue.SimpleQueue[_Job]) -> None:
        while True:
            job = jobs.get()
            with self._lock:
                if job.done.is_set():  # given up while queued behind a stuck one
                    continue
                if jobs is not self._queue:  # this worker was abandoned: leave the job to the new one
                    return
                job.started_at = time.monotonic()
                self._running = job
            try:
                result = job.fn()
            except Exception as exc:  # a bug in a loader must cost names only
                result = None
                job.error = f"{type(exc).__name__}: {exc}"
                self._fail(f"{job.what or 'a symbol load'} failed: {job.error}")
            with self._lock:
                if self._running is job:
                    self._running = None
                    job.result = result
                    job.done.set()
                elif jobs is not self._queue:
                    return  # given up on while running: the result is dropped

    def _fail(self, line: str) -> None:
        if len(self.failures) < 32:  # bounded: every file of a hostile process could fail
            self.failures.append(line)

    def _check_stuck(self) -> None:
        """Gives up on the running load once it has taken longer than the budget."""
        with self._lock:
            job = self._running
            if job is None or job.started_at is None or time.monotonic() - job.started_at < self.budget_s:
                return
            self._running = None
            job.result = None
            job.error = f"timed out after {self.budget_s:g} s"
            job.done.set()
            self.abandoned += 1
            self._fail(f"{job.what or 'a symbol load'}: {job.error}")
            if self.abandoned < self.max_abandoned:
                self._start_worker()
            else:
                self._fail(f"symbol loading stopped: {self.abandoned} loads timed out")
                self._queue = None
                for queued in self._jobs.values():  # every waiter gets an answer
                    if not queued.done.is_set():
                        queued.done.set()
