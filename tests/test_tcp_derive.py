"""The tcp collector's decoding, derive step and batch output, on made-up samples (no root)."""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path

import pytest

from bpftop.batch import to_json
from bpftop.batch.tcp import text_section
from bpftop.collectors.tcp import (
    CONN_VAL,
    DEFS,
    EVENT,
    PROC_VAL,
    RTT_SLOTS,
    TcpClosed,
    TcpConn,
    TcpProc,
    TcpSample,
    state_name,
)
from bpftop.collectors.tcp_decode import decode_conn, decode_event, decode_procs
from bpftop.derive import derive
from bpftop.derive.procs import proc_rows
from bpftop.frame import CollectorStatus, Frame, HostInfo, ProcMeta
from bpftop.record.reader import Recording
from bpftop.record.writer import RecordingWriter

S = 1_000_000_000
V4 = socket.inet_pton(socket.AF_INET, "10.0.0.1") + bytes(12)
V6 = socket.inet_pton(socket.AF_INET6, "2001:db8::7")


def test_c_struct_sizes_match_the_header() -> None:
    assert (CONN_VAL.size, PROC_VAL.size, EVENT.size) == (104, 80, 128)
    assert DEFS["TC_NR_COUNTERS"] == 11 and RTT_SLOTS == 27


def test_decode_conn_ipv4_and_ipv6() -> None:
    raw = CONN_VAL.pack(7, 5 * S, 100, 200, 42, 3, 1, 250, 2, 5555, 80, 1, 1, V4, V4, b"curl\0")
    assert decode_conn(raw) == TcpConn(
        7, 42, "curl", 2, "10.0.0.1", 5555, "10.0.0.1", 80, 1, True, False, 5 * S, 100, 200, 3, 1, 250
    )
    raw6 = CONN_VAL.pack(8, 0, 0, 0, 0, 0, 0, 0, 10, 1, 2, 8, 2, V6, V6, b"junk")
    conn = decode_conn(raw6)
    assert (conn.laddr, conn.raddr, conn.midlife, conn.comm) == ("2001:db8::7", "2001:db8::7", True, "")


def test_decode_events_and_procs() -> None:
    close = EVENT.pack(9, 7 * S, 5 * S, 10, 20, 11, 21, 42, 2, 300, 0, 2, 4000, 443, 2, 0, V4, V4, b"wget")
    kind, row = decode_event(close)
    assert kind == DEFS["TCP_EV_CLOSE"] and isinstance(row, TcpClosed)
    assert (row.close_ns - row.open_ns, row.tx_bytes, row.rx_bytes, row.retrans) == (2 * S, 11, 21, 2)
    opened = EVENT.pack(9, 5 * S, 5 * S, 0, 0, 0, 0, 42, 0, 30, 0, 2, 4000, 443, 1, 0, V4, V4, b"wget")
    kind, conn = decode_event(opened)
    assert kind == DEFS["TCP_EV_OPEN"] and isinstance(conn, TcpConn) and conn.comm == "wget"
    keys = (42).to_bytes(4, "little")
    assert decode_procs(keys, PROC_VAL.pack(1, 2, 3, 4, 5, 6, 7, 8, b"nginx")) == [
        TcpProc(42, "nginx", 1, 2, 3, 4, 5, 6, 7, 8)
    ]
    assert (state_name(1), state_name(7), state_name(99)) == ("ESTABLISHED", "CLOSE", "99")


def conn(cid: int, pid: int, sent: int, recv: int, retrans: int = 0) -> TcpConn:
    return TcpConn(
        cid,
        pid,
        "",
        2,
        "127.0.0.1",
        1000 + cid,
        "127.0.0.1",
        80,
        1,
        False,
        False,
        S,
        sent,
        recv,
        retrans,
        0,
        40,
    )


def sample(t: int, *, sent: int, retrans: int, closed: tuple[TcpClosed, ...] = ()) -> TcpSample:
    hist = [0] * RTT_SLOTS
    hist[5] = t  # one connection a second at 32-63 us
    return TcpSample(
        ts_ns=t * S,
        conns=(conn(1, 100, sent, sent // 10, retrans), conn(2, 200, 5, 5), conn(3, 0, 0, 0)),
        procs=(
            TcpProc(100, "", sent, sent // 10, t, t, retrans, 0, 1, 0),
            TcpProc(200, "", 5, 5, 1, 1, 0, 0, 0, 0),
        ),
        closed=closed,
        rtt_hist=tuple(hist),
        retrans=retrans + 1,
        resets_sent=t,
        active_opens=2 * t,
        passive_opens=t,
        closes=t,
        lost_events=3,
    )


def frames() -> tuple[Frame, Frame]:
    metas = {100: ProcMeta(100, user="alice", name="client"), 200: ProcMeta(200, user="bob", name="server")}
    done = TcpClosed(
        9,
        100,
        "client",
        2,
        "127.0.0.1",
        999,
        "10.1.1.1",
        443,
        False,
        False,
        S,
        3 * S,
        11,
        22,
        10,
        20,
        1,
        0,
        55,
    )
    midlife = done._replace(id=10, open_ns=0)
    status = (CollectorStatus("tcp", True, method="tp_btf"),)
    first = Frame(
        ts_ns=S, wall=1.0, samples={"tcp": sample(1, sent=1000, retrans=1)}, procs=metas, status=status
    )
    second = Frame(
        ts_ns=3 * S,
        wall=3.0,
        samples={"tcp": sample(3, sent=5000, retrans=4, closed=(done, midlife))},
        procs=metas,
        status=status,
    )
    return first, second


def test_rates_per_connection_and_process() -> None:
    view = derive(*frames()).views["tcp"]
    top = view.conns[0]
    assert (top.id, top.comm, top.user, top.sent_bytes, top.sent_per_s) == (
        1,
        "client",
        "alice",
        4000,
        2000.0,
    )
    assert (top.recv_per_s, top.retrans, top.retrans_total, top.age_ns) == (200.0, 3, 4, 2 * S)
    assert next(c for c in view.conns if c.id == 3).pid == 0  # accepted, nobody used it yet
    assert view.by_pid[100].sent_per_s == 2000.0 and view.by_pid[100].conns == 1
    t = view.totals
    assert (t.conns, t.retrans, t.retrans_per_s, t.opens, t.closes_per_s) == (3, 3, 1.5, 6, 1.0)
    assert (t.sent_per_s, t.resets_sent) == (2000.0, 2)
    assert view.rtt_hist[5] == 2 and view.rtt_p50_us is not None and 32 <= view.rtt_p50_us < 64
    assert [c.id for c in view.closed] == [10, 9]  # newest first
    assert view.closed[1].duration_ns == 2 * S and view.closed[0].duration_ns is None
    assert view.drops["lost_events"] == 3


def test_first_frame_has_counts_but_no_rates() -> None:
    view = derive(None, frames()[0]).views["tcp"]
    assert view.conns[0].sent_bytes == 1000 and view.conns[0].sent_per_s is None
    assert view.totals.sent_per_s is None


def test_comm_filter_and_procs_join() -> None:
    first, second = frames()
    assert [c.pid for c in derive(first, second, comm="serv").views["tcp"].conns] == [200]
    joined = {r.pid: r for r in proc_rows(derive(first, second)) or []}
    assert joined[100].net_sent_per_s == 2000.0 and joined[100].net_retrans == 3
    assert joined[200].net_sent_bytes == 0 and joined[200].comm == "server"


def test_json_and_text() -> None:
    record = json.loads(json.dumps(to_json(derive(*frames()), "tcp")))
    tcp = record["tcp"]
    assert tcp["retrans"] == 3 and tcp["live_bytes"] is True and tcp["drops"]["lost_events"] == 3
    c = tcp["conns"][0]
    assert (c["pid"], c["sent_bytes_per_s"], c["local_port"], c["family"], c["state"]) == (
        100,
        2000.0,
        1001,
        "ipv4",
        "ESTABLISHED",
    )
    assert tcp["closed"][1]["duration_ns"] == 2 * S and tcp["closed"][1]["rx_bytes"] == 22
    assert tcp["procs"][0]["pid"] == 100 and tcp["rtt_hist_log2_us"][0]["slot"] == 5
    text = text_section(derive(*frames()).views["tcp"], "tcp")
    assert "TCP: 3 connections" in str(text[0])


@pytest.mark.parametrize("live", [True, False])
def test_without_length_tracepoints_the_text_says_so(live: bool) -> None:
    first, second = frames()
    cur = second.samples["tcp"]
    second = Frame(ts_ns=second.ts_ns, wall=3.0, samples={"tcp": dataclasses.replace(cur, live_bytes=live)})
    parts = text_section(derive(first, second).views["tcp"], "tcp")
    assert any("only at close" in str(p) for p in parts) is not live


def test_a_new_connection_rates_its_bytes_over_the_interval() -> None:
    first, second = frames()
    cur = second.samples["tcp"]
    earlier = dataclasses.replace(first.samples["tcp"], conns=first.samples["tcp"].conns[:1])  # no conn 2 yet
    view = derive(dataclasses.replace(first, samples={"tcp": earlier}), second).views["tcp"]
    new = next(c for c in view.conns if c.id == 2)
    assert (new.sent_bytes, new.sent_per_s) == (cur.conns[1].sent_bytes, cur.conns[1].sent_bytes / 2)


def test_samples_round_trip_through_a_recording(tmp_path: Path) -> None:
    frames_in = list(frames())
    writer = RecordingWriter(str(tmp_path / "r"), host=HostInfo(), collectors=["tcp"], delay_s=1.0)
    for frame in frames_in:
        assert writer.append(frame)
    writer.close()
    with Recording(tmp_path / "r") as rec:
        frames_out = [frame for _, frame in rec.frames()]
    assert [f.samples["tcp"] for f in frames_out] == [f.samples["tcp"] for f in frames_in]
