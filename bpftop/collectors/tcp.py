"""TCP connections: who talks to whom, how much, with how many retransmits, at what RTT.

Kernel side: ``bpftop/c/tcp.bpf.c``, on stable tracepoints only (kprobes are
not on every kernel). This module turns its maps and ring buffer into a
``TcpSample`` of cumulative counters; rates are computed in
``bpftop.derive.tcp``.

Accounting rules (also in docs/architecture.md):

- A connection is tracked from ``connect()`` (SYN_SENT, attributed to the
  calling process) or from the end of a passive handshake (SYN_RECV ->
  ESTABLISHED). The latter runs in softirq context, where ``current`` is
  whoever was interrupted, so an accepted connection gets its owner later:
  the first process to send or receive on it, the process calling close() or
  shutdown() on it, or, on a refresh that finds it still without one, the
  process holding its fd (``tcp_owner``: a task_file walk). One no process
  holds shows pid 0 (and, with a pid/user/cgroup filter, is not shown at
  all). A process that inherits or is passed a socket keeps the first owner's
  attribution for the connection, but its own bytes count in its totals.
- Live bytes are application bytes from ``sock_send_length`` and
  ``sock_recv_length`` (Linux >= 6.3): exact, counted per connection since
  bpftop first saw it and per process. Without those tracepoints, bytes are
  only known at close, from the socket's ``bytes_acked`` and
  ``bytes_received`` (tcplife's TX/RX); ``live_bytes`` says which.
- A close carries both: the kernel's whole-life TCP counters and the
  application bytes seen. Closed connections are kept in a bounded history
  (``CLOSED_HISTORY``), newest last.
- Smoothed RTT: per connection at its last send, receive or state change; the
  histogram gets one sample when a connection becomes ESTABLISHED and one
  when it leaves ESTABLISHED (log2 of microseconds).
"""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from bpftop.collectors.base import Collector, Filters, header_defines, pid_comms
from bpftop.collectors.tcp_owner import OwnerWalk

DEFS = header_defines("tcp.h")
COMM = DEFS["TCP_COMM_LEN"]
RTT_SLOTS = DEFS["TCP_RTT_SLOTS"]
CONN_VAL = struct.Struct(f"<4Q4I3HBB16s16s{COMM}s")
PROC_VAL = struct.Struct(f"<8Q{COMM}s")
EVENT = struct.Struct(f"<7Q4I3HBB16s16s{COMM}s")
HIST_VAL = struct.Struct(f"<{RTT_SLOTS}Q")
U32 = struct.Struct("<I")  # a procs key
CLOSED_HISTORY = 256  # closed connections kept, newest last
OPEN_HISTORY = 64  # opened connections kept, newest last
LENGTH_HOOKS = ("sock_send_length", "sock_recv_length")
AF_INET6 = 10
# enum tcp_state (include/net/tcp_states.h)
STATES = (
    "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
    "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE",
)  # fmt: skip


def state_name(state: int) -> str:
    """``ESTABLISHED`` for 1; the number for states this table lacks."""
    return STATES[state] if 0 < state < len(STATES) else str(state)


class TcpConn(NamedTuple):
    """One live connection; bytes are cumulative since bpftop first saw it."""

    id: int
    pid: int  # 0: accepted, no owner known yet
    comm: str
    family: int  # AF_INET (2) or AF_INET6 (10)
    laddr: str
    lport: int
    raddr: str
    rport: int
    state: int
    passive: bool  # accepted (not connect())
    midlife: bool  # already open when first seen: open_ns unknown
    open_ns: int  # CLOCK_MONOTONIC; 0 when unknown
    sent_bytes: int
    recv_bytes: int
    retrans: int
    resets: int
    srtt_us: int


class TcpClosed(NamedTuple):
    """A connection that reached CLOSE (tcplife's line)."""

    id: int
    pid: int
    comm: str
    family: int
    laddr: str
    lport: int
    raddr: str
    rport: int
    passive: bool
    midlife: bool
    open_ns: int  # 0 when unknown
    close_ns: int
    tx_bytes: int  # tcp_sock.bytes_acked: the whole life, as tcplife
    rx_bytes: int  # tcp_sock.bytes_received
    sent_bytes: int  # application bytes seen sent (0 without sock_send_length)
    recv_bytes: int
    retrans: int  # tcp_sock.total_retrans
    resets: int
    srtt_us: int


class TcpProc(NamedTuple):
    """Cumulative TCP figures of one process (tgid)."""

    pid: int
    comm: str
    sent_bytes: int
    recv_bytes: int
    sends: int
    recvs: int
    retrans: int
    resets: int
    active_opens: int
    closes: int


@dataclass(frozen=True)
class TcpSample:
    """The tcp collector's state at ``ts_ns`` (CLOCK_MONOTONIC).

    Attributes:
        conns: live connections the kernel tracks.
        procs: per process still held by the kernel's LRU map.
        closed: the last ``CLOSED_HISTORY`` closes, oldest first.
        opened: the last ``OPEN_HISTORY`` connections to reach ESTABLISHED.
        rtt_hist: smoothed RTT, log2(us) slots, cumulative.
        live_bytes: bytes are counted per send/receive (else only at close).
        retrans, resets_sent, resets_recv: every connection (untracked ones too).
        active_opens, passive_opens, closes: connections.
        lost_events: opens/closes lost to a full ring buffer.
        evicted_conns, lost_conns, evicted_procs, lost_procs: map pressure.
    """

    ts_ns: int
    conns: tuple[TcpConn, ...]
    procs: tuple[TcpProc, ...]
    closed: tuple[TcpClosed, ...]
    rtt_hist: tuple[int, ...]
    live_bytes: bool = True
    opened: tuple[TcpConn, ...] = ()
    retrans: int = 0
    resets_sent: int = 0
    resets_recv: int = 0
    active_opens: int = 0
    passive_opens: int = 0
    closes: int = 0
    lost_events: int = 0
    evicted_conns: int = 0
    lost_conns: int = 0
    evicted_procs: int = 0
    lost_procs: int = 0


class TcpCollector(Collector):
    """Loads ``tcp.bpf.o``, samples its maps and drains its ring buffer.

    Args:
        methods: attach families to try (tests); all, best first, when empty.
        length_hooks: False leaves ``sock_send_length``/``sock_recv_length``
            out even where the kernel has them, which is exactly the path of
            Linux < 6.3 (tests run it on newer kernels).

    Attributes:
        owner_walk: decides when the owners of accepted connections are
            looked up; None when the kernel cannot (``detail`` says why).
    """

    name = "tcp"
    hooks = (
        ("sock", "inet_sock_set_state"),
        ("sock", "sock_send_length"),
        ("sock", "sock_recv_length"),
        ("tcp", "tcp_retransmit_skb"),
        ("tcp", "tcp_send_reset"),
        ("tcp", "tcp_receive_reset"),
    )

    def __init__(self, methods: tuple[str, ...] = (), length_hooks: bool = True) -> None:
        self.methods = methods
        self.length_hooks = length_hooks
        self.owner_walk: OwnerWalk | None = None
        self._owner_iter: Any = None
        self.method = ""
        self.detail = ""
        self.tried: dict[str, str] = {}
        self._obj: Any = None
        self._ring: Any = None
        self._filtered = False
        self._live_bytes = True
        self._pending: list[bytes] = []
        self._closed: deque[TcpClosed] = deque(maxlen=CLOSED_HISTORY)
        self._opened: deque[TcpConn] = deque(maxlen=OPEN_HISTORY)
        self._deleted_procs = 0

    def open(self, filters: Filters) -> None:
        """Load and attach (tp_btf, raw_tp, then tracepoint); the length hooks are optional."""
        from bpftop.bpf.errors import BpfError
        from bpftop.bpf.object import METHODS, BpfObject
        from bpftop.bpf.ringbuf import RingBuffer
        from bpftop.collectors.tcp_owner import open_walk

        self._filtered = bool(filters.pid or filters.uid is not None or filters.cgroup_id)
        methods = self.methods or METHODS
        leave_out = () if self.length_hooks else LENGTH_HOOKS
        self._obj = BpfObject.open(
            "tcp", rodata=filters.rodata(), methods=methods, optional=LENGTH_HOOKS, leave_out=leave_out
        )
        self.method = self._obj.method
        self.tried = self._obj.tried
        self._live_bytes = not any(h in self._obj.skipped for h in LENGTH_HOOKS)
        self.detail = (
            "live bytes from sock_send_length/sock_recv_length"
            if self._live_bytes
            else "no sock_send_length/sock_recv_length (Linux < 6.3): bytes only at close"
        )
        try:
            self.owner_walk, self._owner_iter = open_walk(self._obj, filters.rodata())
        except BpfError as exc:  # Linux < 5.8 or no BTF: accepted connections wait for a send or close
            self.detail += f"; no owner walk for accepted connections ({exc})"
        for name, size in (("conns", CONN_VAL.size), ("procs", PROC_VAL.size), ("rtt_hist", HIST_VAL.size)):
            actual = self._obj.map(name).value_size
            if actual != size:
                raise RuntimeError(f"tcp.h and the collector disagree on {name}: {actual} != {size}")
        self._ring = RingBuffer(self._obj.map("events"), self._pending.append)

    def forget(self, pids: set[int]) -> None:
        """Drop the kernel's entries of processes that have exited (and were shown)."""
        if pids and self._obj is not None:
            self._deleted_procs += self._obj.map("procs").delete([U32.pack(p) for p in pids])

    def _drain(self) -> None:
        from bpftop.collectors.tcp_decode import decode_event

        self._ring.consume()
        events, self._pending[:] = list(self._pending), []
        for data in events:
            _, row = decode_event(data)
            if isinstance(row, TcpClosed):
                self._closed.append(row)
            elif isinstance(row, TcpConn):
                self._opened.append(row)

    def sample(self) -> TcpSample:
        """Drain the ring, read every map once and return cumulative counters."""
        from bpftop.collectors.tcp_decode import decode_conn, decode_procs

        obj = self._obj
        self._drain()
        conns_dump = obj.map("conns").dump()
        raw = list(CONN_VAL.iter_unpack(conns_dump.values))
        # Before the other maps: the walk also creates the owners' procs entries.
        owners = self._claim({v[0] for v in raw if not v[4]})  # (id, ..., pid, ...)
        procs_dump = obj.map("procs").dump()
        hist = obj.map("rtt_hist").dump()
        counters = obj.map("counters").dump()
        ts_ns = time.monotonic_ns()
        conns = [decode_conn(v) for v in raw]
        if owners:  # the walk wrote them into the map after its dump
            conns = [
                c._replace(pid=owners[c.id][0], comm=owners[c.id][1]) if c.id in owners else c for c in conns
            ]
        if self._filtered:  # an accepted connection no process of the filter has used
            conns = [c for c in conns if c.pid]
        conns.sort(key=lambda c: c.id)
        words = memoryview(counters.values).cast("Q")
        c = [sum(words[i * counters.ncpu : (i + 1) * counters.ncpu]) for i in range(counters.count)]
        stride = hist.value_stride // max(hist.ncpu, 1)
        per_cpu = [HIST_VAL.unpack_from(hist.values, cpu * stride) for cpu in range(hist.ncpu)]
        return TcpSample(
            ts_ns=ts_ns,
            conns=tuple(conns),
            procs=tuple(decode_procs(procs_dump.keys, procs_dump.values)),
            closed=tuple(self._closed),
            rtt_hist=tuple(sum(cpu[s] for cpu in per_cpu) for s in range(RTT_SLOTS)),
            live_bytes=self._live_bytes,
            opened=tuple(self._opened),
            retrans=c[DEFS["TC_RETRANS"]],
            resets_sent=c[DEFS["TC_RST_SENT"]],
            resets_recv=c[DEFS["TC_RST_RECV"]],
            active_opens=c[DEFS["TC_ACTIVE_OPENS"]],
            passive_opens=c[DEFS["TC_PASSIVE_OPENS"]],
            closes=c[DEFS["TC_CLOSES"]],
            lost_events=c[DEFS["TC_RB_LOST"]],
            # A close deletes its key: those are not evictions.
            evicted_conns=max(0, c[DEFS["TC_CONN_INSERTS"]] - conns_dump.count - c[DEFS["TC_CLOSES"]]),
            lost_conns=c[DEFS["TC_CONN_LOST"]],
            evicted_procs=max(0, c[DEFS["TC_PROC_INSERTS"]] - procs_dump.count - self._deleted_procs),
            lost_procs=c[DEFS["TC_PROC_LOST"]],
        )

    def _claim(self, unowned: set[int]) -> dict[int, tuple[int, str]]:
        if self.owner_walk is None:
            return {}
        try:
            return self.owner_walk.claim(unowned)
        except OSError as exc:  # never expected: the collector goes on without it
            self.owner_walk = None
            self.detail += f"; owner walk stopped ({exc})"
            return {}

    def pids(self, sample: TcpSample) -> set[int]:
        """Pids of connections (live and closed) and of the per-process table."""
        pids = {p.pid for p in sample.procs} | {c.pid for c in sample.conns} | {c.pid for c in sample.closed}
        pids.discard(0)
        return pids

    def comms(self, sample: TcpSample) -> Mapping[int, str]:
        """The kernel's name of each process of the per-process table."""
        return pid_comms(sample.procs)

    def close(self) -> None:
        """Detach and free; safe to call twice."""
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._owner_iter is not None:
            self._owner_iter.close()
            self._owner_iter = None
            self.owner_walk = None
        if self._obj is not None:
            self._obj.close()
            self._obj = None
