"""Decoding of the tcp collector's map entries and ring-buffer events into its rows.

The layouts are ``struct conn_val``, ``struct proc_val`` and ``struct
tcp_event`` of ``bpftop/c/tcp.h`` (``CONN_VAL``, ``PROC_VAL``, ``EVENT`` in
``bpftop.collectors.tcp``). Addresses become text here, so samples (and
recordings) hold ``10.0.0.1`` and ``2001:db8::1``, never raw bytes.
"""

from __future__ import annotations

import socket
from typing import Any

from bpftop.collectors.tcp import (
    AF_INET6,
    CONN_VAL,
    DEFS,
    EVENT,
    PROC_VAL,
    U32,
    TcpClosed,
    TcpConn,
    TcpProc,
)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def format_addr(family: int, raw: bytes) -> str:
    """An address as text: dotted IPv4, or compressed IPv6."""
    if family == AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, raw[:16])
    return socket.inet_ntop(socket.AF_INET, raw[:4])


def decode_conn(value: bytes | tuple[Any, ...]) -> TcpConn:
    """One ``struct conn_val``."""
    fields = CONN_VAL.unpack(value) if isinstance(value, bytes) else value
    cid, open_ns, sent, recv, pid, retrans, resets, srtt, family, lport, rport, state, flags, sa, da, comm = (
        fields
    )
    return TcpConn(
        cid, pid, _text(comm) if pid else "", family, format_addr(family, sa), lport,
        format_addr(family, da), rport, state, bool(flags & DEFS["TCP_PASSIVE"]),
        bool(flags & DEFS["TCP_MIDLIFE"]), open_ns, sent, recv, retrans, resets, srtt,
    )  # fmt: skip


def decode_event(data: bytes) -> tuple[int, TcpConn | TcpClosed]:
    """One ``struct tcp_event``: its kind and the connection it describes."""
    cid, ts, open_ns, sent, recv, acked, received, pid, retrans, srtt, resets = EVENT.unpack_from(data)[:11]
    family, lport, rport, kind, flags, sa, da, comm = EVENT.unpack_from(data)[11:]
    laddr, raddr = format_addr(family, sa), format_addr(family, da)
    passive, midlife = bool(flags & DEFS["TCP_PASSIVE"]), bool(flags & DEFS["TCP_MIDLIFE"])
    name = _text(comm) if pid else ""
    if kind == DEFS["TCP_EV_OPEN"]:
        conn = TcpConn(cid, pid, name, family, laddr, lport, raddr, rport, 1, passive, midlife, open_ns,
                       sent, recv, retrans, resets, srtt)  # fmt: skip
        return kind, conn
    closed = TcpClosed(cid, pid, name, family, laddr, lport, raddr, rport, passive, midlife, open_ns, ts,
                       acked, received, sent, recv, retrans, resets, srtt)  # fmt: skip
    return kind, closed


def decode_procs(keys: bytes, values: bytes) -> list[TcpProc]:
    """The ``procs`` LRU hash dump."""
    return [
        TcpProc(pid, _text(comm), *figures)
        for (pid,), (*figures, comm) in zip(U32.iter_unpack(keys), PROC_VAL.iter_unpack(values), strict=True)
    ]
