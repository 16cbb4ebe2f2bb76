"""Batch text and JSON of the tcp collector (pane ``tcp``)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bpftop.batch.common import DEFAULT_ROWS, Rows, hist_json, num
from bpftop.derive.tcp import ClosedRow, ConnRow, TcpProcRow, TcpView
from bpftop.display.tcp import endpoint, fmt_rtt
from bpftop.fmt import fmt_bytes, fmt_rate, format_ns

LEFT = {"COMMAND", "LOCAL", "REMOTE", "STATE"}


def _endpoints_json(c: ConnRow | ClosedRow) -> dict[str, Any]:
    """Who and where: the fields live and closed connections share."""
    return {
        "id": c.id,
        "pid": c.pid,
        "comm": c.comm,
        "user": c.user,
        "family": "ipv6" if c.family == 10 else "ipv4",
        "local_addr": c.laddr,
        "local_port": c.lport,
        "remote_addr": c.raddr,
        "remote_port": c.rport,
    }


def _conn_json(c: ConnRow) -> dict[str, Any]:
    return _endpoints_json(c) | {
        "state": c.state,
        "passive": c.passive,
        "age_ns": c.age_ns,
        "sent_bytes": c.sent_bytes,
        "recv_bytes": c.recv_bytes,
        "sent_bytes_per_s": num(c.sent_per_s),
        "recv_bytes_per_s": num(c.recv_per_s),
        "sent_bytes_total": c.sent_total,
        "recv_bytes_total": c.recv_total,
        "retrans": c.retrans,
        "retrans_total": c.retrans_total,
        "resets_total": c.resets_total,
        "srtt_us": c.srtt_us,
    }


def _closed_json(c: ClosedRow) -> dict[str, Any]:
    return _endpoints_json(c) | {
        "passive": c.passive,
        "duration_ns": c.duration_ns,
        "tx_bytes": c.tx_bytes,
        "rx_bytes": c.rx_bytes,
        "sent_bytes": c.sent_bytes,
        "recv_bytes": c.recv_bytes,
        "retrans": c.retrans,
        "resets": c.resets,
        "srtt_us": c.srtt_us,
    }


def _proc_json(p: TcpProcRow) -> dict[str, Any]:
    return {
        "pid": p.pid,
        "comm": p.comm,
        "user": p.user,
        "exited": p.exited,
        "sent_bytes": p.sent_bytes,
        "recv_bytes": p.recv_bytes,
        "sent_bytes_per_s": num(p.sent_per_s),
        "recv_bytes_per_s": num(p.recv_per_s),
        "sent_bytes_total": p.sent_total,
        "recv_bytes_total": p.recv_total,
        "retrans": p.retrans,
        "retrans_total": p.retrans_total,
        "resets_total": p.resets_total,
        "conns": p.conns,
        "connects_total": p.opens_total,
        "closes_total": p.closes_total,
    }


def json_section(view: TcpView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> dict[str, Any]:
    """The ``tcp`` part of a JSON record: totals, connections, closes, processes, RTT."""
    t = view.totals
    procs, omitted = rows.pick(view.procs, lambda p: p.sent_bytes or p.recv_bytes or p.retrans)
    return {
        "live_bytes": view.live_bytes,
        "conns_live": t.conns,
        "sent_bytes_per_s": num(t.sent_per_s),
        "recv_bytes_per_s": num(t.recv_per_s),
        "retrans": t.retrans,
        "retrans_per_s": num(t.retrans_per_s),
        "retrans_total": t.retrans_total,
        "resets_sent": t.resets_sent,
        "resets_recv": t.resets_recv,
        "resets_total": t.resets_total,
        "opens": t.opens,
        "opens_per_s": num(t.opens_per_s),
        "closes": t.closes,
        "closes_per_s": num(t.closes_per_s),
        "rtt_p50_us": num(view.rtt_p50_us),
        "rtt_p99_us": num(view.rtt_p99_us),
        "rtt_hist_log2_us": hist_json(view.rtt_hist, view.rtt_hist_total, unit="us"),
        "drops": dict(view.drops),
        "conns": [_conn_json(c) for c in view.conns],
        "closed": [_closed_json(c) for c in view.closed],
        "procs": [_proc_json(p) for p in procs],
        "procs_omitted": omitted,
    }


def _table(columns: tuple[str, ...]) -> Table:
    t = Table(box=None, pad_edge=False, header_style="bold")
    for col in columns:
        t.add_column(col, justify="left" if col in LEFT else "right", no_wrap=True)
    return t


def text_section(view: TcpView, pane: str | None, rows: Rows = DEFAULT_ROWS) -> list[Any]:
    """Totals, live connections and recently closed ones (tcplife's columns)."""
    limit = rows.limit
    t = view.totals
    parts: list[Any] = [
        f"TCP: {t.conns} connections, TX {fmt_bytes(t.sent_per_s)}/s RX {fmt_bytes(t.recv_per_s)}/s, "
        f"retrans {fmt_rate(t.retrans_per_s)}/s, resets {t.resets_sent} sent {t.resets_recv} recv, "
        f"RTT p50 {format_ns(view.rtt_p50_us * 1000 if view.rtt_p50_us else None)}",
    ]
    if not view.live_bytes:
        parts.append("TCP bytes only at close: no sock_send_length/sock_recv_length (Linux < 6.3)")
    drops = {k: v for k, v in view.drops.items() if v}
    if drops:
        parts.append("TCP dropped: " + ", ".join(f"{k}={v}" for k, v in drops.items()))
    conns = _table(("PID", "COMMAND", "LOCAL", "REMOTE", "STATE", "TX/s", "RX/s", "TX", "RX", "RETR", "RTT"))
    for c in view.conns[:limit]:
        conns.add_row(
            str(c.pid) if c.pid else "-", c.comm, endpoint(c.laddr, c.lport), endpoint(c.raddr, c.rport),
            c.state, fmt_bytes(c.sent_per_s), fmt_bytes(c.recv_per_s), fmt_bytes(c.sent_total),
            fmt_bytes(c.recv_total), str(c.retrans_total), fmt_rtt(c.srtt_us),
        )  # fmt: skip
    parts.append(conns)
    closed = _table(("PID", "COMMAND", "LOCAL", "REMOTE", "TX", "RX", "DURATION", "RETR"))
    for k in view.closed[:limit]:
        closed.add_row(
            str(k.pid) if k.pid else "-", k.comm, endpoint(k.laddr, k.lport), endpoint(k.raddr, k.rport),
            fmt_bytes(k.tx_bytes), fmt_bytes(k.rx_bytes), format_ns(k.duration_ns), str(k.retrans),
        )  # fmt: skip
    parts.extend([f"Recently closed: {len(view.closed)}", closed])
    return parts
