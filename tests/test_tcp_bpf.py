"""The tcp BPF programs against real transfers of exact byte counts (root).

Each transfer moves 1,000,000 bytes client -> server and 65,536 back between
two processes (``tests/net_workloads.py``): over IPv4 loopback, IPv6 loopback
and between two network namespaces joined by a veth pair, then with a share
of the segments dropped (nftables) to force retransmits.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import net_workloads as nw
import pytest
from conftest import skip_or_fail

from bpftop.collectors.base import Filters
from bpftop.collectors.tcp import TcpClosed, TcpCollector, TcpConn, TcpSample
from bpftop.derive import derive
from bpftop.frame import Frame
from tests.workloads import up_to_three_runs

pytestmark = pytest.mark.bpf

TO_SERVER = 1_000_000
TO_CLIENT = 65_536
TOLERANCE = 0.001


@pytest.fixture(scope="module")
def collector() -> Iterator[TcpCollector]:
    c = TcpCollector()
    c.open(Filters())
    yield c
    c.close()


def near(value: int, expected: int) -> bool:
    return abs(value - expected) <= expected * TOLERANCE


def conn_of(sample: TcpSample, pid: int, lport: int, rport: int) -> TcpConn:
    found = [c for c in sample.conns if c.pid == pid and c.lport == lport and c.rport == rport]
    assert len(found) == 1, f"pid {pid} {lport}->{rport}: {found} in {sample.conns}"
    return found[0]


def closed_of(sample: TcpSample, conn_id: int) -> TcpClosed:
    found = [c for c in sample.closed if c.id == conn_id]
    assert len(found) == 1, f"connection {conn_id} not closed: {sample.closed[-4:]}"
    return found[0]


def check_transfer(collector: TcpCollector, host: str, server_ns: str = "", client_ns: str = "") -> None:
    """Bytes each way, per connection and per process, live and at close.

    Without live bytes (Linux < 6.3) both connections still have their
    process (the server's from the owner walk) and the bytes come at close.
    """
    start = time.monotonic_ns()
    with nw.transfer(host, TO_SERVER, TO_CLIENT, server_ns, client_ns) as (server, client):
        nw.run(server, client)
        live = collector.sample()
        c = conn_of(live, client.pid, client.local_port, server.port)
        s = conn_of(live, server.pid, server.port, client.local_port)
        assert (c.raddr, s.laddr) == (host, host)
        assert not c.passive and s.passive and c.state == s.state == 1
        procs = {p.pid: p for p in live.procs}
        if live.live_bytes:
            assert near(c.sent_bytes, TO_SERVER) and near(c.recv_bytes, TO_CLIENT), c
            assert near(s.recv_bytes, TO_SERVER) and near(s.sent_bytes, TO_CLIENT), s
            assert near(procs[client.pid].sent_bytes, TO_SERVER)
            assert near(procs[client.pid].recv_bytes, TO_CLIENT)
            assert near(procs[server.pid].recv_bytes, TO_SERVER)
            assert near(procs[server.pid].sent_bytes, TO_CLIENT)
        else:
            assert c.sent_bytes == c.recv_bytes == s.sent_bytes == s.recv_bytes == 0
        assert procs[client.pid].active_opens == 1 and procs[server.pid].active_opens == 0
        nw.finish(server, client)
    elapsed_ns = time.monotonic_ns() - start
    after = collector.sample()
    assert not [
        k for k in after.closed if k.lport == server.port and not k.rport
    ]  # listeners are not tracked
    for conn, sent, recv in ((c, TO_SERVER, TO_CLIENT), (s, TO_CLIENT, TO_SERVER)):
        k = closed_of(after, conn.id)
        assert (k.pid, k.lport, k.rport, k.laddr, k.raddr) == (
            conn.pid,
            conn.lport,
            conn.rport,
            conn.laddr,
            conn.raddr,
        )
        # tcp_sock's counters also count the FIN's sequence number (and the SYN's).
        assert near(k.tx_bytes, sent) and near(k.rx_bytes, recv), k
        assert (k.sent_bytes, k.recv_bytes) == ((sent, recv) if live.live_bytes else (0, 0)), k
        assert 0 < k.close_ns - k.open_ns < elapsed_ns, k


@up_to_three_runs
def test_ipv4_loopback_transfer(collector: TcpCollector) -> None:
    check_transfer(collector, "127.0.0.1")


@pytest.mark.parametrize("method", ["raw_tp", "tracepoint"])
@up_to_three_runs
def test_other_attach_families_count_the_same(method: str) -> None:
    other = TcpCollector(methods=(method,))
    other.open(Filters())
    try:
        assert other.method == method and other.owner_walk is not None
        check_transfer(other, "127.0.0.1")
    finally:
        other.close()


@up_to_three_runs
def test_ipv6_loopback_transfer(collector: TcpCollector) -> None:
    check_transfer(collector, "::1")


@pytest.fixture
def pair() -> Iterator[nw.VethPair]:
    if not shutil.which("ip"):
        skip_or_fail("iproute2 (ip) not installed")
    with nw.veth_pair() as made:
        yield made


@up_to_three_runs
def test_veth_between_namespaces(collector: TcpCollector, pair: nw.VethPair) -> None:
    check_transfer(collector, pair.addr_b, server_ns=pair.ns_b, client_ns=pair.ns_a)


@up_to_three_runs  # a run whose random drops all missed the data (1 in ~10^3) retries
def test_induced_loss_retransmits_are_the_senders(collector: TcpCollector, pair: nw.VethPair) -> None:
    if not shutil.which("nft"):
        skip_or_fail("nft not installed (apt-get install nftables)")
    nw.drop_incoming_tcp(pair.ns_b, 5)  # the receiver's side: the sender's data goes unacked
    before = collector.sample()
    with nw.transfer(pair.addr_b, TO_SERVER, 0, pair.ns_b, pair.ns_a) as (server, client):
        nw.run(server, client)
        live = collector.sample()
        c = conn_of(live, client.pid, client.local_port, server.port)
        s = conn_of(live, server.pid, server.port, client.local_port)
        nw.finish(server, client)
    assert c.retrans > 0, c
    assert s.retrans == 0, s  # it sent no data (pure ACKs are never retransmitted)
    assert near(s.recv_bytes, TO_SERVER) if live.live_bytes else s.recv_bytes == 0
    assert next(p for p in live.procs if p.pid == client.pid).retrans == c.retrans
    assert live.retrans - before.retrans >= c.retrans
    assert closed_of(collector.sample(), c.id).retrans >= c.retrans  # tcp_sock.total_retrans
    # The derived view carries them to the pane and JSON.
    frames = [Frame(ts_ns=x.ts_ns, wall=0.0, samples={"tcp": x}) for x in (before, live)]
    view = derive(frames[0], frames[1]).views["tcp"]
    assert view.totals.retrans >= c.retrans
    assert next(r for r in view.conns if r.id == c.id).retrans == c.retrans


@up_to_three_runs
def test_without_length_tracepoints_bytes_come_at_close() -> None:
    old = TcpCollector(length_hooks=False)  # as on a kernel before 6.3
    old.open(Filters())
    try:
        assert "bytes only at close" in old.detail
        with nw.transfer("127.0.0.1", TO_SERVER, TO_CLIENT) as (server, client):
            nw.run(server, client)
            live = old.sample()
            nw.finish(server, client)
        after = old.sample()
    finally:
        old.close()
    assert not live.live_bytes
    c = conn_of(live, client.pid, client.local_port, server.port)
    assert (c.sent_bytes, c.recv_bytes) == (0, 0)
    k = closed_of(after, c.id)
    assert near(k.tx_bytes, TO_SERVER) and near(k.rx_bytes, TO_CLIENT), k
    s = conn_of(live, server.pid, server.port, client.local_port)  # its owner from the walk
    assert closed_of(after, s.id).pid == server.pid


def comm_of(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


@pytest.fixture(scope="module", params=["tp_btf", "raw_tp", "tracepoint"])
def before_6_3(request: pytest.FixtureRequest) -> Iterator[TcpCollector]:
    """A collector without the length hooks: Linux < 6.3's path on any kernel, per family."""
    c = TcpCollector(methods=(request.param,), length_hooks=False)
    c.open(Filters())
    yield c
    c.close()


@pytest.mark.parametrize("mode", ["hold", "sendfile", "splice"])
@up_to_three_runs
def test_accepted_connection_nobody_sends_on_has_its_holder(before_6_3: TcpCollector, mode: str) -> None:
    """The owner walk names the process holding an accepted socket it never sends or receives on."""
    assert before_6_3.owner_walk is not None, before_6_3.detail
    with nw.accepted("127.0.0.1", mode, TO_CLIENT) as (server, sock):
        client_port = sock.getsockname()[1]
        server.say()
        nw.receive(sock, TO_CLIENT if mode != "hold" else 0)
        server.expect("done")
        owned = before_6_3.sample()  # the refresh that runs the walk shows its result
        s = conn_of(owned, server.pid, server.local_port, client_port)
        assert s.passive and s.comm == comm_of(server.pid) and (s.sent_bytes, s.recv_bytes) == (0, 0)
        assert any(p.pid == server.pid for p in owned.procs)
        server.say()
        server.expect("closed")
        sock.close()
        server.proc.wait(timeout=10)
    k = closed_of(before_6_3.sample(), s.id)
    assert (k.pid, k.comm) == (server.pid, s.comm)
    assert 0 <= k.tx_bytes - (TO_CLIENT if mode != "hold" else 0) <= 2, k  # + the SYN's and FIN's


@up_to_three_runs
def test_accepted_connection_closed_before_a_refresh_has_its_closer(before_6_3: TcpCollector) -> None:
    """No refresh while it lived, so no walk: the server's close() names it (FIN_WAIT1, its context)."""
    before_6_3.sample()
    with nw.accepted("127.0.0.1", "close", 0) as (server, sock):
        client_port = sock.getsockname()[1]
        comm = comm_of(server.pid)
        assert sock.recv(1) == b""  # the server's FIN
        sock.close()
        deadline = time.monotonic() + 5
        while True:  # CLOSE comes with the client's FIN, in softirq
            ends = (server.local_port, client_port)
            closed = [k for k in before_6_3.sample().closed if (k.lport, k.rport) == ends]
            if closed or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert [(k.pid, k.comm, k.passive) for k in closed] == [(server.pid, comm, True)]


@pytest.mark.parametrize("length_hooks", [True, False])
@up_to_three_runs
def test_pid_filter_shows_only_that_process(length_hooks: bool) -> None:
    with nw.transfer("127.0.0.1", 4096, 4096) as (server, client):
        filtered = TcpCollector(length_hooks=length_hooks)
        filtered.open(Filters(pid=client.pid))
        try:
            nw.run(server, client)
            live = filtered.sample()
            nw.finish(server, client)
            closed = filtered.sample().closed
        finally:
            filtered.close()
    if live.live_bytes:
        # Connected before the collector attached: seen from its first send, mid-life.
        assert {(c.pid, c.sent_bytes, c.recv_bytes, c.midlife) for c in live.conns} == {
            (client.pid, 4096, 4096, True)
        }
        assert {p.pid for p in live.procs} == {client.pid}
    else:  # Linux < 6.3: nothing to see it by until the client's close() (FIN_WAIT1)
        assert (live.conns, live.procs) == ((), ())
    assert [(c.pid, c.midlife) for c in closed] == [(client.pid, True)]
