"""Batch text and JSON output from synthetic frames (no root needed)."""

import io
import itertools
import json

from bpftop.batch import run_batch, text_tables, to_json
from bpftop.derive import derive
from bpftop.source import Source
from tests.test_syscalls_derive import frame, sample


class ListSource(Source):
    status = ()

    def __init__(self, frames):
        self.frames = list(frames)

    def tick(self):
        return self.frames.pop(0)

    def close(self):
        pass


def test_json_has_interval_rate_and_cumulative_with_units():
    d = derive(frame(sample(1.0, 1000, 10)), frame(sample(3.0, 5000, 30)))
    rec = json.loads(json.dumps(to_json(d, None)))
    sc = rec["syscalls"]
    loop = next(p for p in sc["procs"] if p["pid"] == 100)
    assert loop["syscalls"] == 4000 and loop["syscalls_total"] == 5000 and loop["syscalls_per_s"] == 2000.0
    assert loop["avg_latency_ns"] == 500.0
    getppid = next(s for s in sc["syscalls"] if s["name"] == "getppid")
    assert getppid["hist_log2_ns"] == [
        {"slot": 8, "low_ns": 256, "high_ns": 512, "count": 4000, "count_total": 5000}
    ]
    close = next(s for s in sc["syscalls"] if s["name"] == "close")
    assert close["errnos"] == {"EBADF": 20}
    assert rec["interval_s"] == 2.0


def test_pane_selects_tables():
    d = derive(frame(sample(1.0, 1, 1)), frame(sample(2.0, 2, 2)))
    assert "syscalls" not in to_json(d, "procs")["syscalls"]
    assert "procs" not in to_json(d, "syscalls")["syscalls"]


def test_run_batch_prints_n_json_lines():
    frames = [frame(sample(float(i), 100 * i, i)) for i in range(1, 5)]
    out = io.StringIO()
    run_batch(ListSource(frames), iterations=3, delay_s=0.0, pane=None, as_json=True, out=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert [json.loads(x)["syscalls"]["calls_per_s"] for x in lines] == [101.0, 101.0, 101.0]


def test_text_output_lists_processes_and_syscalls():
    frames = [frame(sample(1.0, 1000, 10)), frame(sample(2.0, 2000, 20))]
    out = io.StringIO()
    run_batch(ListSource(frames), iterations=1, delay_s=0.0, pane=None, as_json=False, out=out)
    text = out.getvalue()
    assert "getppid" in text and "closer" in text and "EBADF" in text
    assert "SYSC/s" in text and "P99" in text


def test_text_reports_failed_collector():
    from dataclasses import replace

    from bpftop.frame import CollectorStatus

    f = replace(
        frame(sample(1.0, 1, 1)), status=(CollectorStatus("syscalls", False, error="EPERM", hint="sudo"),)
    )
    parts = text_tables(derive(None, f), None)
    assert any("syscalls: not loaded: EPERM (sudo)" in str(p) for p in parts)


def _counted_only(s):
    """``s`` as a run that counted syscalls without timing them (no histogram, no latency)."""
    from dataclasses import replace

    empty = tuple(0 for _ in s.syscalls[0].hist)
    syscalls = tuple(t._replace(total_ns=0, max_ns=0, hist=empty) for t in s.syscalls)
    return replace(s, syscalls=syscalls)


def test_text_of_a_count_only_run_says_why_there_is_no_latency():
    # Output of every pane counts syscalls without timing them (issue 24):
    # no latency columns of dashes, a line that says how to get them.
    from bpftop.batch.syscalls import UNTIMED

    d = derive(frame(_counted_only(sample(1.0, 1000, 10))), frame(_counted_only(sample(2.0, 2000, 20))))
    text = "\n".join(str(p) for p in text_tables(d, None))
    assert UNTIMED in text
    out = io.StringIO()
    run_batch(
        ListSource([frame(_counted_only(sample(1.0, 1, 1))), frame(_counted_only(sample(2.0, 2, 2)))]),
        iterations=1,
        delay_s=0.0,
        pane=None,
        as_json=False,
        out=out,
    )
    header = next(line for line in out.getvalue().splitlines() if line.startswith("SYSCALL"))
    assert header.split() == ["SYSCALL", "CALLS/s", "ERR/s", "TOP", "ERRNO"]
    timed = "\n".join(
        str(p) for p in text_tables(derive(frame(sample(1.0, 1, 1)), frame(sample(2.0, 2, 2))), None)
    )
    assert UNTIMED not in timed  # a timed run (or a replay) keeps its latency


def test_batch_times_syscalls_only_for_a_pane_showing_their_latency():
    from bpftop.commands.dashboard import batch_times_syscalls

    assert not batch_times_syscalls(None, False) and not batch_times_syscalls(None, True)
    assert batch_times_syscalls("syscalls", False) and batch_times_syscalls("syscalls", True)
    assert not batch_times_syscalls("procs", False)  # its text has no syscall latency
    assert batch_times_syscalls("procs", True)  # its JSON has syscall_avg_latency_ns


def test_text_rates_read_as_the_pane_shows_them_and_json_keeps_raw_numbers():
    # One formatter (bpftop/fmt.py): 12,345 calls a second is 12.3k in batch
    # text as in the panes, at the same width; JSON keeps the number.
    frames = [frame(sample(1.0, 1000, 10)), frame(sample(2.0, 13_345, 20))]
    out = io.StringIO()
    run_batch(ListSource(frames), iterations=1, delay_s=0.0, pane=None, as_json=False, out=out)
    text = out.getvalue()
    assert "Syscalls: 12.4k/s, errors 10/s" in text  # getppid 12,345 + close 10
    assert "12.3k" in next(line for line in text.splitlines() if line.startswith("getppid"))
    assert "12,3" not in text
    d = derive(frames[0], frames[1])
    assert to_json(d, None)["syscalls"]["calls_per_s"] == 12_355.0


def test_a_slow_tick_does_not_shorten_the_intervals_after_it(monkeypatch):
    # Issue 16: a slow first tick (3.5 s) was followed by catch-up intervals
    # of 1.35 and 0.65 s; each interval is -d long, as top -b's.
    import bpftop.batch as batch

    now = [0.0]
    ticked_at: list[float] = []

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return now[0]

        @staticmethod
        def sleep(seconds: float) -> None:
            now[0] += seconds

    class SlowSource(ListSource):
        def tick(self):
            ticked_at.append(now[0])
            now[0] += 3.5 if len(ticked_at) == 2 else 0.01  # the first interval's tick is slow
            return super().tick()

    monkeypatch.setattr(batch, "time", Clock)
    frames = [frame(sample(float(i), 100 * i, i)) for i in range(1, 7)]
    run_batch(SlowSource(frames), iterations=5, delay_s=1.0, pane=None, as_json=True, out=io.StringIO())
    gaps = [b - a for a, b in itertools.pairwise(ticked_at[1:])]  # the first frame has no interval
    assert len(gaps) == 4 and min(gaps) >= 1.0, gaps
