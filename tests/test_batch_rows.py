"""Which processes batch output lists: active ones, busiest first, at most ``--rows`` (issue 23)."""

import io
import json
import subprocess
import sys

import pytest
from rich.console import Console

from bpftop.batch import text_tables, to_json
from bpftop.batch.common import ALL_ROWS, Rows
from bpftop.collectors.runqlat import ProcSched, RunqlatSample
from bpftop.derive import derive
from bpftop.frame import Frame, ProcMeta
from tests.test_runqlat_derive import proc, sample, slots

MS = 1_000_000
BUSY = tuple(range(100, 130))  # 30 processes on a CPU in the interval, pid 100 the busiest
IDLE = tuple(range(200, 210))  # 10 that slept through it


def _sample(ts_s: float, step: int) -> RunqlatSample:
    procs: list[ProcSched] = [
        proc(pid, step * (200 - pid), step * 3, step, 1, slots(s4=step * 3)) for pid in BUSY
    ]
    procs += [proc(pid, 5, 2, 1, 1, slots(s4=2), invol=2) for pid in IDLE]
    return sample(ts_s, tuple(procs), (500 * step, 500 * step))


def _frame(ts_s: float, step: int) -> Frame:
    s = _sample(ts_s, step)
    meta = {p.pid: ProcMeta(p.pid, name=f"p{p.pid}", user="root") for p in s.procs}
    return Frame(ts_ns=s.ts_ns, wall=1.7e9 + ts_s, samples={"runqlat": s}, procs=meta)


def _derived():
    return derive(_frame(1.0, 1), _frame(2.0, 2))


def test_pick_keeps_order_leaves_idle_out_and_counts_what_it_left() -> None:
    rows = list(range(10))
    assert Rows(limit=3).pick(rows, lambda r: r % 2) == ([1, 3, 5], {"idle": 5, "rows": 2})
    assert Rows(limit=3, idle=True).pick(rows, lambda r: r % 2) == ([0, 1, 2], {"idle": 0, "rows": 7})
    assert ALL_ROWS.pick(rows, lambda r: False) == (rows, {"idle": 0, "rows": 0})


def test_json_lists_the_busiest_active_processes_and_says_how_many_it_left_out() -> None:
    record = json.loads(json.dumps(to_json(_derived(), None)))
    for table, omitted in ((record["procs"], record["procs_omitted"]),
                           (record["runqlat"]["procs"], record["runqlat"]["procs_omitted"])):  # fmt: skip
        assert [p["pid"] for p in table] == list(BUSY[:20])  # most on-CPU first
        assert omitted == {"idle": len(IDLE), "rows": len(BUSY) - 20}
    assert {"rq_p99_ns", "hist_log2_us"} <= record["runqlat"]["procs"][0].keys()
    assert record["procs"][0]["runq_wait_p99_ns"] is not None


def test_all_rows_lists_every_process_and_rows_cuts_the_tables() -> None:
    record = to_json(_derived(), None, ALL_ROWS)
    assert sorted(p["pid"] for p in record["procs"]) == sorted(BUSY + IDLE)
    assert len(record["runqlat"]["procs"]) == len(BUSY + IDLE)
    assert record["procs_omitted"] == {"idle": 0, "rows": 0}
    record = to_json(_derived(), "runqlat", Rows(limit=5))
    assert [p["pid"] for p in record["runqlat"]["procs"]] == list(BUSY[:5])
    assert record["runqlat"]["procs_omitted"] == {"idle": len(IDLE), "rows": len(BUSY) - 5}


def test_only_the_listed_processes_full_rows_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpftop.derive.runqlat as runqlat

    built: list[int] = []
    real = runqlat._row

    def counting(cur, *args):
        built.append(cur.pid)
        return real(cur, *args)

    monkeypatch.setattr(runqlat, "_row", counting)
    to_json(_derived(), "runqlat", Rows(limit=3))
    assert built == list(BUSY[:3])


def test_text_tables_follow_the_same_rows() -> None:
    out = io.StringIO()
    console = Console(file=out, width=160)
    for part in text_tables(_derived(), None, Rows(limit=4)):
        console.print(part)
    text = out.getvalue()
    assert f"Processes: {len(BUSY + IDLE)}, {len(IDLE)} idle not listed" in text
    firsts = [line.split()[0] for line in text.splitlines() if line.strip()]
    listed = {int(word) for word in firsts if word.isdigit()}
    assert listed == set(BUSY[:4])


@pytest.mark.parametrize(
    ("argv", "message"), [(["--rows", "0"], "at least 1"), (["--rows", "x"], "not a number")]
)
def test_bad_rows_is_one_line_and_exit_2(argv: list[str], message: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bpftop", "-b", *argv], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.splitlines()) == 1
