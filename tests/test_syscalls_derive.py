"""The derive step, table-driven on hand-made samples (no root needed)."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpftop.collectors.syscalls import HIST_SLOTS, ProcSyscall, SyscallErrno, SyscallsSample, SyscallTotals
from bpftop.derive import counter_delta, derive, rate
from bpftop.frame import Frame, ProcMeta

GETPPID, CLOSE = 110, 3  # x86_64 numbers


def hist_with(slot: int, n: int) -> tuple[int, ...]:
    return tuple(n if i == slot else 0 for i in range(HIST_SLOTS))


def sample(ts_s: float, getppid_calls: int, close_errors: int, *, focus_pid: int = 0) -> SyscallsSample:
    return SyscallsSample(
        ts_ns=int(ts_s * 1e9),
        arch="x86_64",
        syscalls=(
            SyscallTotals(GETPPID, getppid_calls, 0, getppid_calls * 500, 900, hist_with(8, getppid_calls)),
            SyscallTotals(
                CLOSE, close_errors, close_errors, close_errors * 1000, 2000, hist_with(9, close_errors)
            ),
        ),
        procs=(
            ProcSyscall(100, GETPPID, getppid_calls, 0, getppid_calls * 500, 900, "loop"),
            ProcSyscall(200, CLOSE, close_errors, close_errors, close_errors * 1000, 2000, "closer"),
        ),
        errnos=(SyscallErrno(200, CLOSE, 9, close_errors),),
        focus_pid=focus_pid,
        focus=(SyscallTotals(GETPPID, getppid_calls, 0, 0, 0, hist_with(8, getppid_calls)),)
        if focus_pid
        else (),
    )


def frame(s: SyscallsSample, exited: bool = False) -> Frame:
    return Frame(
        ts_ns=s.ts_ns,
        wall=1.7e9 + s.ts_ns / 1e9,
        samples={"syscalls": s},
        procs={
            100: ProcMeta(100, name="loop", user="root"),
            200: ProcMeta(200, name="closer", exited=exited),
        },
    )


def test_counter_delta_and_rate():
    assert counter_delta(10, 4) == 6
    assert counter_delta(3, 10) == 3  # evicted and re-created
    assert counter_delta(5, None) == 5
    assert rate(10, 2.0) == 5.0
    assert rate(10, None) is None


def test_first_frame_has_no_rates_but_cumulative_counts():
    d = derive(None, frame(sample(1.0, 1000, 10)))
    v = d.views["syscalls"]
    assert d.interval_s is None
    assert v.calls_per_s is None
    row = next(r for r in v.procs if r.pid == 100)
    assert row.calls == 1000 and row.calls_per_s is None


def test_rates_over_an_interval():
    d = derive(frame(sample(1.0, 1000, 10)), frame(sample(3.0, 5000, 30)))
    v = d.views["syscalls"]
    assert d.interval_s == 2.0
    loop = next(r for r in v.procs if r.pid == 100)
    assert (loop.calls, loop.calls_per_s, loop.calls_total) == (4000, 2000.0, 5000)
    assert loop.top_syscall == "getppid"
    assert loop.avg_ns == 500
    closer = next(r for r in v.procs if r.pid == 200)
    assert (closer.errors, closer.errors_per_s) == (20, 10.0)
    assert closer.top_errno == "close:EBADF"
    per_syscall = {r.name: r for r in v.syscalls}
    assert per_syscall["getppid"].hist[8] == 4000
    assert per_syscall["close"].errnos == (("EBADF", 20),)
    assert v.by_pid[200][0].top_errno == "EBADF"
    assert v.calls_per_s == 2010.0


def test_header_totals_come_without_building_the_per_syscall_rows(monkeypatch):
    import bpftop.derive.syscalls as syscalls

    prev, cur = frame(sample(1.0, 1000, 10)), frame(sample(3.0, 500, 30))  # getppid restarted
    built = derive(prev, cur).views["syscalls"]
    assert built.calls_per_s == sum(r.calls for r in built.syscalls) / 2.0 == 260.0
    assert built.errors_per_s == sum(r.errors for r in built.syscalls) / 2.0 == 10.0

    def refuse(*args):
        raise AssertionError("per-syscall rows were built")

    monkeypatch.setattr(syscalls, "_syscall_rows", refuse)
    v = derive(prev, cur).views["syscalls"]
    assert (v.calls_per_s, v.errors_per_s) == (260.0, 10.0) and v.procs
    with pytest.raises(AssertionError, match="per-syscall rows"):
        _ = v.syscalls


def test_eviction_restart_counts_new_value():
    d = derive(frame(sample(1.0, 1000, 10)), frame(sample(2.0, 300, 10)))
    loop = next(r for r in d.views["syscalls"].procs if r.pid == 100)
    assert loop.calls == 300


def test_comm_filter():
    d = derive(frame(sample(1.0, 1, 1)), frame(sample(2.0, 2, 2)), comm="^clo")
    assert [r.pid for r in d.views["syscalls"].procs] == [200]
    assert re.compile("^clo")


def test_exited_idle_process_is_dropped_but_busy_one_kept():
    prev = frame(sample(1.0, 10, 10))
    idle = derive(prev, frame(sample(2.0, 20, 10), exited=True)).views["syscalls"]
    assert 200 not in [r.pid for r in idle.procs]
    busy = derive(prev, frame(sample(2.0, 20, 15), exited=True)).views["syscalls"]
    assert next(r for r in busy.procs if r.pid == 200).exited


def test_focus_deltas_only_for_same_pid():
    same = derive(frame(sample(1.0, 10, 0, focus_pid=100)), frame(sample(2.0, 30, 0, focus_pid=100)))
    assert same.views["syscalls"].focus[0].calls == 20
    switched = derive(frame(sample(1.0, 10, 0, focus_pid=200)), frame(sample(2.0, 30, 0, focus_pid=100)))
    assert switched.views["syscalls"].focus[0].calls == 30


def test_percentiles_never_exceed_the_maximum():
    s = sample(1.0, 100, 0)
    capped = SyscallTotals(GETPPID, 100, 0, 100 * 300, 300, hist_with(8, 100))  # slot 8 = [256, 512)
    from dataclasses import replace

    d = derive(None, frame(replace(s, syscalls=(capped,))))
    row = d.views["syscalls"].syscalls[0]
    assert row.p99_ns == 300


def test_latency_is_averaged_over_the_timed_calls_only():
    # Calls that returned while timing was off (issue 24) add no latency: an
    # average over every call would read low by the untimed share.
    def at(ts_s: float, timed: int, untimed: int) -> SyscallsSample:
        calls = timed + untimed
        return SyscallsSample(
            ts_ns=int(ts_s * 1e9),
            arch="x86_64",
            syscalls=(SyscallTotals(GETPPID, calls, 0, timed * 500, 900, hist_with(8, timed)),),
            procs=(ProcSyscall(100, GETPPID, calls, 0, timed * 500, 900, "loop", timed),),
            errnos=(),
        )

    v = derive(frame(at(1.0, 100, 0)), frame(at(2.0, 110, 990))).views["syscalls"]
    (row,) = v.syscalls
    (pair,) = v.by_pid[100]
    (proc,) = v.procs
    assert (row.calls, row.avg_ns) == (1000, 500)
    assert (pair.calls, pair.timed, pair.avg_ns) == (1000, 10, 500)
    assert (proc.calls, proc.avg_ns) == (1000, 500)
    untimed = derive(frame(at(2.0, 110, 990)), frame(at(3.0, 110, 1990))).views["syscalls"]
    assert untimed.syscalls[0].avg_ns is None and untimed.procs[0].avg_ns is None  # "-", not 0 ns


def test_recordings_from_before_untimed_calls_time_every_call():
    # ProcSyscall.timed = -1 (its default): a recording made when every call was timed.
    v = derive(frame(sample(1.0, 100, 0)), frame(sample(2.0, 1100, 0))).views["syscalls"]
    (pair,) = v.by_pid[100]
    assert (pair.calls, pair.timed, pair.avg_ns) == (1000, 1000, 500)


def _pairs(draw_pairs, shuffle):  # type: ignore[no-untyped-def]
    pairs = [
        ProcSyscall(pid, nr, calls, min(err, calls), 7 * calls, mx, f"p{pid}", timed)
        for (pid, nr), (calls, err, mx, timed) in draw_pairs.items()
    ]
    return tuple(pairs if not shuffle else reversed(pairs))


PAIR_KEYS = st.tuples(st.integers(1, 6), st.sampled_from([GETPPID, CLOSE, 0, 1]))
PAIR_VALUES = st.tuples(
    st.integers(0, 50), st.integers(0, 5), st.integers(0, 900), st.sampled_from([-1, 0, 3])
)


@settings(max_examples=200, deadline=None)
@given(
    before=st.dictionaries(PAIR_KEYS, PAIR_VALUES, max_size=12),
    after=st.dictionaries(PAIR_KEYS, PAIR_VALUES, max_size=12),
    shuffle=st.booleans(),
    exited=st.sets(st.integers(1, 6)),
)
def test_process_totals_add_up_their_syscall_rows(before, after, shuffle, exited):  # type: ignore[no-untyped-def]
    # The procs table sums each process's pairs in one lean pass; a process's
    # screen builds its rows per syscall on demand. Both must agree, sorted or
    # not (a recording's pairs need not be), counters reset or not.
    def at(ts_s: float, pairs: tuple) -> SyscallsSample:  # type: ignore[type-arg]
        return SyscallsSample(ts_ns=int(ts_s * 1e9), arch="x86_64", syscalls=(), procs=pairs, errnos=())

    meta = {pid: ProcMeta(pid, name=f"p{pid}", exited=pid in exited) for pid in range(1, 7)}
    prev, cur = at(1.0, _pairs(before, False)), at(2.0, _pairs(after, shuffle))
    d = derive(
        Frame(ts_ns=prev.ts_ns, wall=1.7e9, samples={"syscalls": prev}, procs=meta),
        Frame(ts_ns=cur.ts_ns, wall=1.7e9 + 1, samples={"syscalls": cur}, procs=meta),
    )
    v = d.views["syscalls"]
    assert set(v.by_pid) == {pid for pid, _ in after}
    for p in v.procs:
        rows = v.by_pid[p.pid]
        assert sorted(r.nr for r in rows) == sorted(nr for pid, nr in after if pid == p.pid)
        assert p.calls == sum(r.calls for r in rows) and p.errors == sum(r.errors for r in rows)
        assert p.calls_total == sum(r.calls_total for r in rows)
        assert p.max_ns == max(r.max_ns for r in rows)
        timed = sum(r.timed for r in rows)
        latency = sum(r.latency_ns for r in rows)
        assert p.avg_ns == (latency / timed if timed else None)
        top = max(rows, key=lambda r: r.calls)
        assert p.top_syscall == (top.name if top.calls else "")
    shown = {p.pid for p in v.procs}
    assert all(
        pid in shown or (pid in exited and not sum(r.calls for r in v.by_pid[pid])) for pid in v.by_pid
    )


def test_decode_hists_folds_cpus_and_skips_untimed_slots():
    from bpftop.collectors.syscalls import HIST_FIELDS, decode_hists

    def cpu_row(calls, errors, total, mx, slots=()):
        row = [calls, errors, total, mx] + [0] * HIST_SLOTS
        for slot, n in slots:
            row[4 + slot] = n
        assert len(row) == HIST_FIELDS
        return row

    table = {  # nr -> one row per CPU (2 CPUs)
        0: (cpu_row(0, 0, 0, 0), cpu_row(0, 0, 0, 0)),  # never called: left out
        3: (cpu_row(5, 5, 0, 0), cpu_row(2, 1, 0, 0)),  # counted, not timed
        39: (cpu_row(4, 0, 800, 300, [(8, 4)]), cpu_row(0, 0, 0, 0)),  # timed on CPU 0 only
        110: (cpu_row(3, 0, 900, 400, [(8, 2), (9, 1)]), cpu_row(6, 1, 700, 500, [(9, 6)])),
    }
    count = 111
    words = [w for nr in range(count) for row in table.get(nr, (cpu_row(0, 0, 0, 0),) * 2) for w in row]
    values = b"".join(w.to_bytes(8, "little") for w in words)
    got = {t.nr: t for t in decode_hists(values, count, 2)}
    assert sorted(got) == [3, 39, 110]
    assert (got[3].calls, got[3].errors, got[3].hist) == (7, 6, (0,) * HIST_SLOTS)
    assert got[39].hist == hist_with(8, 4) and got[39].max_ns == 300
    t = got[110]
    assert (t.calls, t.errors, t.total_ns, t.max_ns) == (9, 1, 1600, 500)
    assert (t.hist[8], t.hist[9], sum(t.hist)) == (2, 7, 9)


def test_decode_procs_reads_every_field_and_sorts_by_key():
    from bpftop.collectors.syscalls import PROC_KEY, PROC_VAL, ProcSyscall, decode_procs

    entries = [  # (pid, nr) -> timed, counted, errors, total_ns, max_ns, comm: in hash order
        ((300, 3), (2, 5, 7, 900, 400, b"closer")),
        ((12, 39), (0, 4, 0, 0, 0, b"a-name-of-15-ch")),
        ((300, 0), (1, 0, 0, 50, 50, b"closer")),
        ((12, 1), (3, 3, 1, 30, 20, "caf\u00e9".encode())),  # a process renamed between its pairs
    ]
    keys = b"".join(PROC_KEY.pack(*k) for k, _ in entries)
    values = b"".join(PROC_VAL.pack(*v) for _, v in entries)
    assert decode_procs(keys, values) == (
        ProcSyscall(12, 1, 6, 1, 30, 20, "caf\u00e9", 3),
        ProcSyscall(12, 39, 4, 0, 0, 0, "a-name-of-15-ch", 0),
        ProcSyscall(300, 0, 1, 0, 50, 50, "closer", 1),
        ProcSyscall(300, 3, 7, 7, 900, 400, "closer", 2),
    )
    assert decode_procs(b"", b"") == ()
