"""When the tcp collector walks for the owners of accepted connections (no root).

The walk itself is tested against real sockets in test_tcp_bpf.py; here the
policy (``OwnerWalk``) runs on a fake walker and clock, and the iterator's
records are decoded from bytes laid out as ``struct tcp_owner_rec``.
"""

from __future__ import annotations

from bpftop.collectors.tcp_owner import OWNER_REC, RETRY_MAX_NS, OwnerWalk, decode_owners

S = 1_000_000_000


class Fake:
    """A walker that finds what ``held`` says, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0
        self.held: dict[int, tuple[int, str]] = {}
        self.walks: list[int] = []

    def walk(self) -> dict[int, tuple[int, str]]:
        self.walks.append(self.now)
        found, self.held = self.held, {}  # the kernel's map now has them
        return found


def make() -> tuple[Fake, OwnerWalk]:
    fake = Fake()
    return fake, OwnerWalk(fake.walk, clock=lambda: fake.now)


def test_no_walk_while_every_connection_has_an_owner() -> None:
    fake, policy = make()
    for second in range(30):
        fake.now = second * S
        assert policy.claim(set()) == {}
    assert fake.walks == [] and policy.walks == 0


def test_a_new_unowned_connection_is_walked_for_at_once() -> None:
    fake, policy = make()
    fake.held = {7: (4242, "server")}
    assert policy.claim({7}) == {7: (4242, "server")}
    assert fake.walks == [0]
    assert policy.claim(set()) == {}  # owned from the next dump on: no walk
    assert fake.walks == [0]


def test_a_connection_nobody_holds_is_retried_less_and_less_often() -> None:
    fake, policy = make()
    for second in range(40):
        fake.now = second * S
        policy.claim({7})  # in the accept queue, or orphaned: never found
    assert [t // S for t in fake.walks] == [0, 1, 3, 7, 15, 23, 31, 39]
    assert RETRY_MAX_NS == 8 * S


def test_a_new_connection_walks_even_while_old_ones_wait() -> None:
    fake, policy = make()
    policy.claim({7})
    fake.now = S // 2
    fake.held = {8: (99, "worker")}
    assert policy.claim({7, 8}) == {8: (99, "worker")}
    assert len(fake.walks) == 2
    fake.now = S  # 7 is due again one second after the last walk that looked for it
    policy.claim({7})
    assert len(fake.walks) == 2
    fake.now = S // 2 + S
    policy.claim({7})
    assert len(fake.walks) == 3


def test_a_connection_found_later_is_returned_and_forgotten() -> None:
    fake, policy = make()
    policy.claim({7})
    fake.now, fake.held = S, {7: (5, "late")}  # accept() came after the first walk
    assert policy.claim({7}) == {7: (5, "late")}
    fake.now = 2 * S
    assert policy.claim({9}) == {} and len(fake.walks) == 3  # a new one walks at once


def test_only_connections_asked_for_are_returned() -> None:
    fake, policy = make()
    fake.held = {7: (5, "a"), 8: (6, "b")}  # 8 closed between the dump and the walk
    assert policy.claim({7}) == {7: (5, "a")}


def test_records_decode() -> None:
    data = OWNER_REC.pack(3, 1234, b"nginx\0\0\0") + OWNER_REC.pack(4, 1, b"systemd")
    assert OWNER_REC.size == 32
    assert decode_owners(data) == {3: (1234, "nginx"), 4: (1, "systemd")}
