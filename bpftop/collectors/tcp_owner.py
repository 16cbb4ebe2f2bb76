"""Owners of accepted connections nobody has sent or received on: when to walk.

An accepted connection is tracked from the end of its handshake, in softirq,
with no process. The kernel side (``c/tcp_owner.bpf.c``, a task_file
iterator, Linux >= 5.8) walks every process's files once, finds the sockets
of connections with pid 0 and writes the holder's tgid and name into the tcp
object's ``conns`` map. A walk costs about a pointer compare per open file on
the machine, so it runs only on refreshes where some live connection has no
owner, and for a connection no process holds (still in the accept queue, or
orphaned after close) it is retried after 1, 2, 4 then every 8 seconds
instead of each refresh.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

from bpftop.collectors.base import header_defines

DEFS = header_defines("tcp.h")
OWNER_REC = struct.Struct(f"<QI4x{DEFS['TCP_COMM_LEN']}s")  # struct tcp_owner_rec
SHARED_MAPS = ("conns", "procs", "counters")  # tcp_maps.bpf.h
RETRY_MIN_NS = 1_000_000_000
RETRY_MAX_NS = 8_000_000_000

Owner = tuple[int, str]  # tgid, name
Walker = Callable[[], dict[int, Owner]]


def decode_owners(data: bytes) -> dict[int, Owner]:
    """The iterator's output: connection id -> (tgid, name) for each connection it claimed."""
    return {
        cid: (pid, comm.split(b"\0", 1)[0].decode("utf-8", "replace"))
        for cid, pid, comm in OWNER_REC.iter_unpack(data)
    }


class OwnerWalk:
    """Runs the owner walk when a connection needs it, and not otherwise.

    Args:
        walker: runs the walk once and returns what it claimed (tests inject one).
        clock: CLOCK_MONOTONIC in ns (tests inject one).

    Attributes:
        walks: walks run so far.
    """

    def __init__(self, walker: Walker, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._walker = walker
        self._clock = clock
        self._looked_for: set[int] = set()  # unowned ids a walk did not find
        self._retry_ns = RETRY_MIN_NS
        self._next_ns = 0
        self.walks = 0

    def claim(self, unowned: set[int]) -> dict[int, Owner]:
        """Owners found for ``unowned`` (ids of live connections with pid 0), if a walk is due.

        A walk is due when one of them was not looked for yet, or when the
        retry of those looked for is. Its result is already in the kernel's
        map; it is returned so this refresh shows it.
        """
        self._looked_for &= unowned
        now = self._clock()
        if not unowned:
            self._retry_ns = RETRY_MIN_NS
            return {}
        new = not unowned <= self._looked_for
        if not new and now < self._next_ns:
            return {}
        found = self._walker()
        self.walks += 1
        self._looked_for = unowned - found.keys()
        self._retry_ns = RETRY_MIN_NS if new else min(self._retry_ns * 2, RETRY_MAX_NS)
        self._next_ns = now + (RETRY_MIN_NS if new else self._retry_ns)
        return {cid: owner for cid, owner in found.items() if cid in unowned}


def open_walk(obj: Any, rodata: dict[str, int]) -> tuple[OwnerWalk, Any]:
    """Load ``tcp_owner.bpf.o`` on the maps of the loaded tcp object ``obj``.

    Returns:
        The policy and the iterator (to ``close()``).

    Raises:
        BpfError: the kernel has no task_file iterator (Linux < 5.8) or no BTF.
    """
    from bpftop.bpf.errors import BpfError
    from bpftop.bpf.iterread import BpfIterator

    maps = {name: obj.map(name).fd for name in SHARED_MAPS}
    iterator = BpfIterator("tcp_owner", rodata=rodata, maps=maps)

    def walk() -> dict[int, Owner]:
        try:
            return decode_owners(iterator.read_all())
        except BpfError as exc:  # bpf_iter_create failed: as an I/O error for the caller
            raise OSError(exc.errno, str(exc)) from exc

    return OwnerWalk(walk), iterator
