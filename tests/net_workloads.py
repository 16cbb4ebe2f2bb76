"""TCP workloads with exactly known byte counts, and network namespaces joined by a veth pair.

Each peer is its own process (a few lines of Python run with ``-c``), so the
test knows its pid and nothing else sends on its sockets. The server prints
its port, accepts one connection; the client connects. Both print their local
port, then wait for a line on stdin ("go"): the client sends ``n_send`` bytes
and then reads ``n_recv``; the server reads first and sends after. Each prints
``done`` and waits for another line before closing its socket, so the test
can sample the live connection, then the close.

Loss without sch_netem (not built in the test kernel): an nftables rule in the
receiving namespace drops a random share of incoming TCP segments (``numgen
random``), so the sender's segments go unacknowledged and it retransmits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

PEER = r"""
import socket, sys
role, host = sys.argv[1], sys.argv[2]
port, n_send, n_recv = (int(a) for a in sys.argv[3:6])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
if role == "server":
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1)
    print("port", ls.getsockname()[1], flush=True)
    s, _ = ls.accept()
    ls.close()
else:
    s = socket.create_connection((host, port))
print("local", s.getsockname()[1], flush=True)
sys.stdin.readline()

def receive(n):
    got = 0
    while got < n:
        chunk = s.recv(min(65536, n - got))
        if not chunk:
            sys.exit("peer closed early")
        got += len(chunk)

def send(n):
    block = b"x" * 65536
    while n:
        n -= s.send(block[: min(n, len(block))])

if role == "server":
    receive(n_recv)
    send(n_send)
else:
    send(n_send)
    receive(n_recv)
print("done", flush=True)
sys.stdin.readline()
s.close()
print("closed", flush=True)
"""


# A server that accepts one connection and never calls send() or recv() on
# it: `hold` only keeps it, `sendfile` and `splice` move n_send bytes without
# sock_sendmsg (sendfile does not use it before 6.5; splice from a pipe goes
# through it from 6.5 on, still unseen with the length hooks left out), and
# `close` closes it at once. It prints its port, "local" once accepted, then
# waits for a line, acts, prints "done" and waits for another before closing.
ACCEPTOR = r"""
import os, socket, sys, tempfile
mode, host, n_send = sys.argv[1], sys.argv[2], int(sys.argv[3])
ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
ls.bind((host, 0))
ls.listen(1)
print("port", ls.getsockname()[1], flush=True)
s, _ = ls.accept()
ls.close()
print("local", s.getsockname()[1], flush=True)
if mode == "close":
    s.close()
sys.stdin.readline()
if mode == "sendfile":
    with tempfile.TemporaryFile() as f:
        f.write(b"x" * n_send)
        f.flush()
        done = 0
        while done < n_send:
            done += os.sendfile(s.fileno(), f.fileno(), done, n_send - done)
elif mode == "splice":
    r, w = os.pipe()
    left = n_send
    while left:
        queued = os.write(w, b"x" * min(left, 16384))
        left -= queued
        while queued:
            queued -= os.splice(r, s.fileno(), queued)
print("done", flush=True)
sys.stdin.readline()
if mode != "close":
    s.close()
print("closed", flush=True)
"""


@dataclass
class Peer:
    """One running peer process."""

    proc: subprocess.Popen[str]
    port: int = 0  # the server's listening port (servers only)
    local_port: int = 0
    watchdog: threading.Timer | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """Its pid (``ip netns exec`` execs the command, keeping the pid)."""
        return self.proc.pid

    def expect(self, word: str) -> str:
        """Read the next line, which must start with ``word``; return the rest."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith(word):
            err = self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""
            raise RuntimeError(f"peer {self.pid}: expected {word!r}, got {line!r} {err}")
        return line[len(word) :].strip()

    def say(self) -> None:
        """Send the next go/close line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()


def start_peer(
    role: str, host: str, port: int, n_send: int, n_recv: int, netns: str = "", timeout_s: float = 60.0
) -> Peer:
    """Start a server (``port`` 0: any) or a client of ``host:port``.

    A peer still running after ``timeout_s`` is killed, so a stuck transfer
    fails the test (its next ``expect`` reads end-of-file) instead of hanging it.
    """
    argv = [sys.executable, "-c", PEER, role, host, str(port), str(n_send), str(n_recv)]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peer = Peer(proc, watchdog=threading.Timer(timeout_s, proc.kill))
    peer.watchdog.daemon = True
    peer.watchdog.start()
    if role == "server":
        peer.port = int(peer.expect("port"))
    return peer


@contextlib.contextmanager
def transfer(
    host: str, to_server: int, to_client: int, server_ns: str = "", client_ns: str = ""
) -> Iterator[tuple[Peer, Peer]]:
    """A connected (server, client) pair; on exit, both are killed if still running.

    The caller says ``go`` to both (``run``), samples, then ``finish``es.
    """
    server = start_peer("server", host, 0, to_client, to_server, server_ns)
    client = None
    try:
        client = start_peer("client", host, server.port, to_server, to_client, client_ns)
        client.local_port = int(client.expect("local"))
        server.local_port = int(server.expect("local"))
        yield server, client
    finally:
        for peer in (client, server):
            if peer is None:
                continue
            if peer.watchdog is not None:
                peer.watchdog.cancel()
            if peer.proc.poll() is None:
                peer.proc.kill()
            peer.proc.communicate(timeout=10)


@contextlib.contextmanager
def accepted(host: str, mode: str, n_send: int) -> Iterator[tuple[Peer, socket.socket]]:
    """An ``ACCEPTOR`` server in ``mode`` and this process's socket connected to it.

    The caller says ``go`` to the server, reads ``n_send`` bytes (``receive``)
    and waits for its ``done``; on exit the socket is closed and the server
    told to close, then killed if still running.
    """
    argv = [sys.executable, "-c", ACCEPTOR, mode, host, str(n_send)]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    server = Peer(proc, watchdog=threading.Timer(60.0, proc.kill))
    assert server.watchdog is not None
    server.watchdog.daemon = True
    server.watchdog.start()
    sock = None
    try:
        server.port = int(server.expect("port"))
        sock = socket.create_connection((host, server.port), timeout=30)
        server.local_port = int(server.expect("local"))
        yield server, sock
    finally:
        if sock is not None:
            sock.close()
        server.watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def receive(sock: socket.socket, n: int) -> None:
    """Read exactly ``n`` bytes."""
    got = 0
    while got < n:
        chunk = sock.recv(min(65536, n - got))
        if not chunk:
            raise RuntimeError(f"peer closed after {got} of {n} bytes")
        got += len(chunk)


def run(server: Peer, client: Peer) -> None:
    """Move the bytes; return with both connections still open."""
    server.say()
    client.say()
    client.expect("done")
    server.expect("done")


def finish(server: Peer, client: Peer) -> None:
    """Close the client's end, then the server's; wait for both to exit."""
    for peer in (client, server):
        peer.say()
        peer.expect("closed")
        peer.proc.wait(timeout=10)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class VethPair:
    """Two namespaces ``a`` and ``b`` joined by a veth pair, with their addresses."""

    ns_a: str
    ns_b: str
    addr_a: str
    addr_b: str


@contextlib.contextmanager
def veth_pair(tag: str = "") -> Iterator[VethPair]:
    """Create two network namespaces joined by a veth pair; always delete them."""
    suffix = f"{os.getpid() % 100000}{tag}"
    pair = VethPair(f"bpftop-a{suffix}", f"bpftop-b{suffix}", "10.213.7.1", "10.213.7.2")
    veth_a, veth_b = f"bta{suffix}"[:15], f"btb{suffix}"[:15]
    try:
        _ip("netns", "add", pair.ns_a)
        _ip("netns", "add", pair.ns_b)
        _ip(
            "link",
            "add",
            veth_a,
            "netns",
            pair.ns_a,
            "type",
            "veth",
            "peer",
            "name",
            veth_b,
            "netns",
            pair.ns_b,
        )
        for ns, dev, addr in ((pair.ns_a, veth_a, pair.addr_a), (pair.ns_b, veth_b, pair.addr_b)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield pair
    finally:
        for ns in (pair.ns_a, pair.ns_b):  # deleting a namespace deletes its veth end
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def drop_incoming_tcp(netns: str, one_in: int) -> None:
    """Drop a random one in ``one_in`` TCP segments arriving in ``netns`` (nftables)."""
    nft = shutil.which("nft")
    if nft is None:
        raise RuntimeError("nft not installed (apt-get install nftables)")
    rules = (
        "flush ruleset\n"  # the namespace's own: calling twice does not add a second rule
        "table inet bpftop_loss {\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f"    meta l4proto tcp numgen random mod {one_in} == 0 drop\n"
        "  }\n"
        "}\n"
    )
    subprocess.run(["ip", "netns", "exec", netns, nft, "-f", "-"], input=rules, text=True, check=True)
