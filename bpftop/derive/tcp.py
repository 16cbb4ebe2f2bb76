"""Per-connection and per-process TCP rates, recently closed connections and the RTT histogram.

Rates come from two samples of the same connection (by its id) or process (by
pid); a connection new in this interval moved all its bytes within it, so its
rate is those bytes over the interval (an average over the part it lived).
Closed connections are the collector's bounded history, newest first, each
with its duration (unknown for one already open when bpftop started).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from bpftop import hist
from bpftop.collectors.tcp import TcpClosed, TcpConn, TcpProc, TcpSample, state_name
from bpftop.derive import counter_delta, rate
from bpftop.frame import ProcMeta

US = 1000  # ns per RTT histogram unit


class ConnRow(NamedTuple):
    """One live connection over the interval."""

    id: int
    pid: int
    comm: str
    user: str
    family: int
    laddr: str
    lport: int
    raddr: str
    rport: int
    state: str
    passive: bool
    age_ns: int | None  # None: open before bpftop saw it
    sent_bytes: int  # interval
    recv_bytes: int
    sent_per_s: float | None
    recv_per_s: float | None
    sent_total: int  # since bpftop saw it
    recv_total: int
    retrans: int  # interval
    retrans_total: int
    resets_total: int
    srtt_us: int


class ClosedRow(NamedTuple):
    """A closed connection, as tcplife prints it."""

    id: int
    pid: int
    comm: str
    user: str
    family: int
    laddr: str
    lport: int
    raddr: str
    rport: int
    passive: bool
    duration_ns: int | None  # None: open before bpftop saw it
    close_ns: int
    tx_bytes: int
    rx_bytes: int
    sent_bytes: int
    recv_bytes: int
    retrans: int
    resets: int
    srtt_us: int


class TcpProcRow(NamedTuple):
    """One process's TCP traffic over the interval."""

    pid: int
    comm: str
    user: str
    exited: bool
    sent_bytes: int
    recv_bytes: int
    sent_per_s: float | None
    recv_per_s: float | None
    sent_total: int
    recv_total: int
    retrans: int
    retrans_total: int
    resets_total: int
    conns: int  # live now
    opens_total: int  # connect() calls
    closes_total: int


class TcpTotals(NamedTuple):
    """Every connection together over the interval."""

    conns: int
    sent_per_s: float | None
    recv_per_s: float | None
    retrans: int
    retrans_per_s: float | None
    resets_sent: int
    resets_recv: int
    opens: int  # active and passive
    opens_per_s: float | None
    closes: int
    closes_per_s: float | None
    retrans_total: int
    resets_total: int


@dataclass(frozen=True)
class TcpView:
    """Everything the tcp pane, the procs pane's network columns and batch output show."""

    conns: tuple[ConnRow, ...]
    closed: tuple[ClosedRow, ...]
    procs: tuple[TcpProcRow, ...]
    by_pid: Mapping[int, TcpProcRow]
    totals: TcpTotals
    rtt_hist: tuple[int, ...]  # interval, log2(us)
    rtt_hist_total: tuple[int, ...]
    rtt_p50_us: float | None
    rtt_p99_us: float | None
    live_bytes: bool
    drops: Mapping[str, int] = field(default_factory=dict)


def _delta(cur: int, prev: int | None) -> int:
    return counter_delta(cur, prev)


def _conn_row(c: TcpConn, prev: TcpConn | None, ts_ns: int, interval_s: float | None, user: str) -> ConnRow:
    # A connection new in this sample was created (ids are never reused) and
    # moved all its bytes since the previous one: they are this interval's.
    sent = _delta(c.sent_bytes, prev.sent_bytes if prev else None)
    recv = _delta(c.recv_bytes, prev.recv_bytes if prev else None)
    return ConnRow(
        id=c.id,
        pid=c.pid,
        comm=c.comm,
        user=user,
        family=c.family,
        laddr=c.laddr,
        lport=c.lport,
        raddr=c.raddr,
        rport=c.rport,
        state=state_name(c.state),
        passive=c.passive,
        age_ns=ts_ns - c.open_ns if c.open_ns and ts_ns >= c.open_ns else None,
        sent_bytes=sent,
        recv_bytes=recv,
        sent_per_s=rate(sent, interval_s),
        recv_per_s=rate(recv, interval_s),
        sent_total=c.sent_bytes,
        recv_total=c.recv_bytes,
        retrans=_delta(c.retrans, prev.retrans if prev else None),
        retrans_total=c.retrans,
        resets_total=c.resets,
        srtt_us=c.srtt_us,
    )


def _closed_row(c: TcpClosed, user: str) -> ClosedRow:
    duration = c.close_ns - c.open_ns if c.open_ns and c.close_ns >= c.open_ns else None
    return ClosedRow(
        c.id, c.pid, c.comm, user, c.family, c.laddr, c.lport, c.raddr, c.rport, c.passive, duration,
        c.close_ns, c.tx_bytes, c.rx_bytes, c.sent_bytes, c.recv_bytes, c.retrans, c.resets, c.srtt_us,
    )  # fmt: skip


def _proc_row(
    p: TcpProc, prev: TcpProc | None, interval_s: float | None, meta: ProcMeta, conns: int
) -> TcpProcRow:
    if prev is not None and (p.sent_bytes < prev.sent_bytes or p.recv_bytes < prev.recv_bytes):
        prev = None  # evicted and re-created: its counters restarted
    sent = p.sent_bytes - prev.sent_bytes if prev else p.sent_bytes
    recv = p.recv_bytes - prev.recv_bytes if prev else p.recv_bytes
    return TcpProcRow(
        pid=p.pid,
        comm=meta.name or p.comm,
        user=meta.user,
        exited=meta.exited,
        sent_bytes=sent,
        recv_bytes=recv,
        sent_per_s=rate(sent, interval_s),
        recv_per_s=rate(recv, interval_s),
        sent_total=p.sent_bytes,
        recv_total=p.recv_bytes,
        retrans=_delta(p.retrans, prev.retrans if prev else None),
        retrans_total=p.retrans,
        resets_total=p.resets,
        conns=conns,
        opens_total=p.active_opens,
        closes_total=p.closes,
    )


def _totals(
    prev: TcpSample | None, cur: TcpSample, interval_s: float | None, rows: list[TcpProcRow]
) -> TcpTotals:
    def d(name: str) -> int:
        return _delta(getattr(cur, name), getattr(prev, name) if prev else None)

    retrans, opens, closes = d("retrans"), d("active_opens") + d("passive_opens"), d("closes")
    span = interval_s if prev is not None else None
    return TcpTotals(
        conns=len(cur.conns),
        sent_per_s=rate(sum(r.sent_bytes for r in rows), span),
        recv_per_s=rate(sum(r.recv_bytes for r in rows), span),
        retrans=retrans,
        retrans_per_s=rate(retrans, span),
        resets_sent=d("resets_sent"),
        resets_recv=d("resets_recv"),
        opens=opens,
        opens_per_s=rate(opens, span),
        closes=closes,
        closes_per_s=rate(closes, span),
        retrans_total=cur.retrans,
        resets_total=cur.resets_sent + cur.resets_recv,
    )


def derive_tcp(
    prev: TcpSample | None,
    cur: TcpSample,
    interval_s: float | None,
    procs: Mapping[int, ProcMeta],
    comm_re: re.Pattern[str] | None = None,
) -> TcpView:
    """Derive the tcp view from two samples (``prev`` None on the first tick)."""

    def meta(pid: int) -> ProcMeta:
        return procs.get(pid) or ProcMeta(pid=pid)

    def shown(comm: str) -> bool:
        return comm_re is None or bool(comm_re.search(comm))

    before = {c.id: c for c in prev.conns} if prev else {}
    conns = []
    live: dict[int, int] = {}
    for c in cur.conns:
        m = meta(c.pid)
        named = c._replace(comm=m.name or c.comm) if c.pid else c
        if not shown(named.comm):
            continue
        conns.append(_conn_row(named, before.get(c.id), cur.ts_ns, interval_s, m.user))
        live[c.pid] = live.get(c.pid, 0) + 1
    conns.sort(key=lambda r: (-(r.sent_bytes + r.recv_bytes), -(r.sent_total + r.recv_total), r.id))
    closed = [_closed_row(c, meta(c.pid).user) for c in reversed(cur.closed) if shown(c.comm)]
    prev_procs = {p.pid: p for p in prev.procs} if prev else {}
    rows = []
    for p in cur.procs:
        row = _proc_row(p, prev_procs.get(p.pid), interval_s, meta(p.pid), live.get(p.pid, 0))
        if shown(row.comm) and not (row.exited and not (row.sent_bytes or row.recv_bytes or row.retrans)):
            rows.append(row)
    rows.sort(key=lambda r: (-(r.sent_bytes + r.recv_bytes), -(r.sent_total + r.recv_total), r.pid))
    slots = hist.delta(cur.rtt_hist, prev.rtt_hist if prev else None)
    p50, p99 = hist.percentiles(slots, (50, 99)) if any(slots) else (None, None)
    return TcpView(
        conns=tuple(conns),
        closed=tuple(closed),
        procs=tuple(rows),
        by_pid={r.pid: r for r in rows},
        totals=_totals(prev, cur, interval_s, rows),
        rtt_hist=slots,
        rtt_hist_total=cur.rtt_hist,
        rtt_p50_us=p50,
        rtt_p99_us=p99,
        live_bytes=cur.live_bytes,
        drops={
            "lost_events": cur.lost_events,
            "evicted_conns": cur.evicted_conns,
            "lost_conns": cur.lost_conns,
            "evicted_procs": cur.evicted_procs,
            "lost_procs": cur.lost_procs,
        },
    )


derive_view = derive_tcp
