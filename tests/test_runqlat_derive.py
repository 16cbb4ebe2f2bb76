"""The runqlat derive step and its batch output, on hand-made samples (no root needed)."""

import io
import json
import re

import pytest
from rich.console import Console

from bpftop.batch import text_tables, to_json
from bpftop.collectors.runqlat import HIST_SLOTS, ProcSched, RunqlatSample
from bpftop.derive import derive
from bpftop.derive.runqlat import derive_runqlat, wait_max_ns
from bpftop.frame import Frame, ProcMeta

MS = 1_000_000


def slots(**counts: int) -> tuple[int, ...]:
    """A histogram from ``s<slot>=count`` keywords."""
    return tuple(counts.get(f"s{i}", 0) for i in range(HIST_SLOTS))


def proc(
    pid: int, on_cpu_ms: int, waits: int, wait_ms: int, max_ms: int, hist: tuple[int, ...], **kw
) -> ProcSched:
    return ProcSched(
        pid=pid,
        comm=kw.get("comm", "hog"),
        kthread=kw.get("kthread", False),
        on_cpu_ns=on_cpu_ms * MS,
        rq_wait_ns=wait_ms * MS,
        rq_count=waits,
        rq_max_ns=max_ms * MS,
        vol_switches=kw.get("vol", 0),
        invol_switches=kw.get("invol", waits),
        off_blocked_ns=kw.get("blocked_ms", 0) * MS,
        off_preempted_ns=kw.get("preempted_ms", wait_ms) * MS,
        hist=hist,
    )


def sample(ts_s: float, procs: tuple[ProcSched, ...], idle_ms: tuple[int, int], **kw) -> RunqlatSample:
    system = kw.get("hist", slots())
    return RunqlatSample(
        ts_ns=int(ts_s * 1e9),
        ncpu=2,
        hist=system,
        rq_count=sum(system),
        rq_wait_ns=kw.get("wait_ms", 0) * MS,
        rq_max_ns=kw.get("max_ms", 0) * MS,
        idle_ns=tuple(ms * MS for ms in idle_ms),
        procs=procs,
        running_tids=kw.get("running", (0, 0)),
        unmatched=kw.get("unmatched", 0),
    )


def frame(s: RunqlatSample, exited: bool = False) -> Frame:
    return Frame(
        ts_ns=s.ts_ns,
        wall=1.7e9 + s.ts_ns / 1e9,
        samples={"runqlat": s},
        procs={
            10: ProcMeta(10, name="hog", user="root"),
            20: ProcMeta(20, name="sleeper", user="nobody", exited=exited),
        },
    )


# Two seconds apart: hog 10 ran 1 s and waited 1 s in 400 waits of ~2.5 ms
# (slot 11: [2048, 4096) us); sleeper 20 made 100 voluntary switches.
PREV = sample(
    1.0,
    (
        proc(10, 500, 100, 250, 3, slots(s11=100)),
        proc(20, 10, 50, 1, 1, slots(s4=50), vol=50, invol=0, blocked_ms=500, preempted_ms=0),
    ),
    (900, 100),
    hist=slots(s4=50, s11=100),
    wait_ms=251,
    max_ms=3,
)
CUR = sample(
    3.0,
    (
        proc(10, 1500, 500, 1250, 4, slots(s11=490, s12=10)),
        proc(20, 30, 150, 3, 1, slots(s4=150), vol=150, invol=0, blocked_ms=2500, preempted_ms=0),
    ),
    (2900, 100),
    hist=slots(s4=150, s11=490, s12=10),
    wait_ms=1253,
    max_ms=4,
)


def view(prev=PREV, cur=CUR, exited=False, comm=""):
    return derive(frame(prev) if prev else None, frame(cur, exited), comm).views["runqlat"]


def test_first_frame_has_no_percentages_but_cumulative_counts():
    v = view(prev=None)
    hog = v.by_pid[10]
    assert hog.cpu_pct is None and hog.vol_per_s is None and hog.off_cpu_pct is None
    assert (hog.rq_count, hog.on_cpu_ns, hog.rq_max_ns) == (500, 1500 * MS, 4 * MS)
    assert v.system.idle_pct == (None, None) and v.system.busy_pct is None


def test_on_cpu_wait_and_switch_rates_over_an_interval():
    v = view()
    hog, sleeper = v.by_pid[10], v.by_pid[20]
    assert hog.cpu_pct == pytest.approx(50.0)
    assert (hog.rq_count, hog.rq_wait_ns) == (400, 1000 * MS)
    assert hog.rq_avg_ns == pytest.approx(2.5 * MS)
    assert 2048e3 <= hog.rq_p50_ns <= 4096e3
    assert hog.rq_p99_ns <= hog.rq_max_ns == 4 * MS  # the maximum grew: exact
    assert hog.invol_per_s == pytest.approx(200.0)
    assert hog.off_cpu_pct == pytest.approx(50.0)
    assert sleeper.vol_per_s == pytest.approx(50.0)
    assert sleeper.off_cpu_pct == pytest.approx(100.0)
    assert sleeper.user == "nobody"
    assert [r.pid for r in v.procs] == [10, 20]  # by on-CPU time


def test_system_histogram_and_idle():
    s = view().system
    assert s.rq_count == 500 and s.rq_per_s == pytest.approx(250.0)
    assert s.hist[11] == 390 and s.hist[4] == 100
    assert s.rq_max_ns == 4 * MS and s.rq_max_total_ns == 4 * MS
    assert 16e3 <= s.rq_p50_ns <= 4096e3
    assert s.idle_pct == (pytest.approx(100.0), pytest.approx(0.0))
    assert s.busy_pct == pytest.approx(100.0)


def test_cpu_with_no_switch_seen_is_neither_idle_nor_busy():
    cur = sample(3.0, CUR.procs, (2900, 100), hist=CUR.hist, running=(0, -1), max_ms=4)
    s = view(cur=cur).system
    assert s.idle_pct[1] is None
    assert s.busy_pct == pytest.approx(0.0)


def test_cpu_whose_first_switch_came_this_interval_is_neither_idle_nor_busy():
    # Its idle time before that switch was never counted: CPU 1 would read busy.
    prev = sample(1.0, PREV.procs, (900, 0), hist=PREV.hist, running=(0, -1))
    s = view(prev=prev).system
    assert s.idle_pct[0] == pytest.approx(100.0) and s.idle_pct[1] is None
    assert s.busy_pct == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("cur_max", "prev_max", "hist", "expected"),
    [
        (5 * MS, 4 * MS, slots(s1=1), 5 * MS),  # the maximum grew this interval: exact
        (5 * MS, None, slots(s1=1), 5 * MS),  # first frame: cumulative
        (5 * MS, 5 * MS, slots(s3=2, s9=1), 1024 * 1000),  # top of slot 9 ([512, 1024) us)
        (700_000, 700_000, slots(s9=1), 700_000),  # capped at the cumulative maximum
        (5 * MS, 5 * MS, slots(), None),  # no wait in the interval
    ],
)
def test_interval_maximum(cur_max, prev_max, hist, expected):
    assert wait_max_ns(cur_max, prev_max, hist) == expected


def test_evicted_and_recreated_process_starts_over():
    prev = sample(1.0, (proc(10, 5000, 900, 100, 3, slots(s11=900)),), (0, 0))
    cur = sample(2.0, (proc(10, 300, 10, 20, 3, slots(s11=10)),), (0, 0))
    hog = derive_runqlat(prev, cur, 1.0, {})
    row = hog.by_pid[10]
    assert (row.rq_count, row.on_cpu_ns, sum(row.hist)) == (10, 300 * MS, 10)


def test_comm_filter_and_exited_processes():
    assert [r.pid for r in view(comm="^sle").procs] == [20]
    same = sample(3.0, (CUR.procs[0], PREV.procs[1]), (2900, 100))
    assert 20 not in view(cur=same, exited=True).by_pid  # exited, nothing new: gone
    assert view(exited=True).by_pid[20].exited  # exited but active this interval: shown


@pytest.mark.parametrize(
    "case",
    ["first frame", "interval", "comm filter", "exited idle", "exited active", "evicted"],
)
def test_lean_cpu_figures_are_the_full_rows_figures(case):
    evicted = sample(3.0, (proc(10, 300, 10, 20, 3, slots(s11=10)), CUR.procs[1]), (0, 0))
    idle = sample(3.0, (CUR.procs[0], PREV.procs[1]), (2900, 100))
    v = {
        "first frame": lambda: view(prev=None),
        "interval": view,
        "comm filter": lambda: view(comm="^sle"),
        "exited idle": lambda: view(cur=idle, exited=True),
        "exited active": lambda: view(exited=True),
        "evicted": lambda: view(cur=evicted),
    }[case]()
    assert list(v.cpu) == sorted(v.by_pid)  # the same processes
    for pid, lean in v.cpu.items():
        full = v.by_pid[pid]
        for name in lean._fields:
            want = {"on_cpu_total_ns": full.on_cpu_total_ns}.get(name, getattr(full, name, None))
            assert getattr(lean, name) == want, (case, pid, name)


def test_full_rows_are_built_only_when_read(monkeypatch):
    import bpftop.derive.runqlat as runqlat

    def refuse(*args):
        raise AssertionError("a full row was built")

    monkeypatch.setattr(runqlat, "_row", refuse)
    v = view()
    assert v.cpu[10].cpu_pct == pytest.approx(50.0) and v.system.busy_pct == pytest.approx(100.0)
    with pytest.raises(AssertionError, match="full row"):
        _ = v.procs


def test_json_has_units_and_interval_and_cumulative_counts():
    d = derive(frame(PREV), frame(CUR))
    record = json.loads(json.dumps(to_json(d, "runqlat")))
    rq = record["runqlat"]
    assert "syscalls" not in record
    assert (rq["rq_waits"], rq["rq_waits_total"], rq["rq_max_ns"]) == (500, 650, 4 * MS)
    slot11 = next(s for s in rq["hist_log2_us"] if s["slot"] == 11)
    assert slot11 == {"slot": 11, "low_us": 2048, "high_us": 4096, "count": 390, "count_total": 490}
    hog = next(p for p in rq["procs"] if p["pid"] == 10)
    assert hog["on_cpu_pct"] == 50.0 and hog["rq_waits"] == 400 and hog["rq_waits_total"] == 500
    assert hog["invol_switches_per_s"] == 200.0 and hog["off_cpu_preempted_ns"] == 1000 * MS
    assert {"rq_avg_ns", "rq_p99_ns", "rq_max_total_ns", "off_cpu_blocked_ns"} <= hog.keys()


def test_text_output():
    out = io.StringIO()
    console = Console(file=out, width=120)
    for part in text_tables(derive(frame(PREV), frame(CUR)), "runqlat"):
        console.print(part)
    text = out.getvalue()
    assert "busy 100.0%" in text
    assert re.search(r"2048 -> 4095\s+390", text)
    assert re.search(r"^\s*10\s+root\s+50\.0\s+2\.5ms", text, re.MULTILINE)


def test_on_cpu_time_with_the_running_stint_never_goes_down():
    from bpftop.collectors.runqlat import RunqlatCollector

    c = RunqlatCollector()
    reads = [  # (kernel's figure, stint running now) -> what the sample reports
        ((100, 50), 150),  # running: its stint so far added
        ((120, 10), 150),  # a read that paired the thread with a later start: held at 150
        ((200, 0), 200),  # the kernel's figure passed it: nothing kept any more
        ((200, 0), 200),
        ((50, 0), 50),  # restarted (evicted and re-created): starts over
    ]
    kept = []
    for (kernel, stint), want in reads:
        seen = {}
        assert c._monotonic(seen, ("pid", 7), kernel, stint) == want
        c._seen = seen
        kept.append(bool(seen))
    assert kept == [True, True, False, False, False]  # only figures above the kernel's are kept
