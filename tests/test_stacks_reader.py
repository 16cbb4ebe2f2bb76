"""StackReader on fake maps: generation flips, emptying, symbolizing once, stack map resets."""

from __future__ import annotations

import errno
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from bpftop.collectors import stacks_reader
from bpftop.collectors.stacks_reader import KEY, U32, VAL, StackReader
from bpftop.symbols import Frame


@dataclass
class FakeDump:
    count: int
    keys: bytes
    values: bytes
    ncpu: int = 1


@dataclass
class FakeMap:
    entries: dict[bytes, bytes] = field(default_factory=dict)
    max_entries: int = 64
    key_size: int = KEY.size
    value_size: int = VAL.size
    deleted: list[bytes] = field(default_factory=list)

    def dump(self) -> FakeDump:
        return FakeDump(len(self.entries), b"".join(self.entries), b"".join(self.entries.values()))

    def delete(self, keys: list[bytes]) -> int:
        self.deleted.extend(keys)
        return sum(self.entries.pop(k, None) is not None for k in keys)

    def lookup(self, key: bytes) -> bytes | None:
        return self.entries.get(key)


class FakeObj:
    def __init__(self) -> None:
        self.maps = {"counts0": FakeMap(), "counts1": FakeMap(), "stacks": FakeMap(max_entries=16)}
        self.maps["counters"] = FakeMap({U32.pack(i): struct.pack("<Q", i) for i in range(10)})
        self.globals: dict[str, int] = {"gen": 0, "epoch": 0}

    def map(self, name: str) -> FakeMap:
        return self.maps[name]

    def set_global(self, name: str, value: int) -> None:
        self.globals[name] = value


class FakeSymbolizer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, tuple[int, ...]]] = []

    def kernel(self, addrs: Sequence[int]) -> list[Frame]:
        self.calls.append(("kernel", 0, tuple(addrs)))
        return [Frame(f"k{a:x}", "[kernel]", 0, "kernel") for a in addrs]

    def user(self, pid: int, addrs: Sequence[int], deadline: float | None = None) -> list[Frame]:
        self.calls.append(("user", pid, tuple(addrs)))
        return [Frame(f"u{a:x}", "/bin/app", 0, "user") for a in addrs]


def stack(*ips: int) -> bytes:
    return struct.pack(f"<{len(ips)}Q", *ips) + bytes(8)


def count(obj: FakeObj, gen: int, tgid: int, uid: int, kid: int, n: int, ns: int = 0) -> None:
    obj.maps[f"counts{gen}"].entries[KEY.pack(tgid, uid, kid, 0, b"app")] = VAL.pack(n, ns)


def test_read_flips_empties_and_symbolizes_each_stack_once() -> None:
    obj, sym = FakeObj(), FakeSymbolizer()
    obj.maps["stacks"].entries = {
        U32.pack(1): stack(0x10, 0x20),
        U32.pack(2): stack(0x900),
        U32.pack(3): stack(0x30),
    }
    count(obj, 0, 7, 1, 2, 3)
    count(obj, 0, 7, 3, 2, 1)
    count(obj, 0, 8, 1, -errno.EFAULT, 1)  # a user-mode sample: no kernel frames
    reader = StackReader(obj, sym)
    out = reader.read(0)
    assert obj.globals["gen"] == 1 and not obj.maps["counts0"].entries
    resolved = {(raw.tgid, raw.user_stack_id): r for raw, r in out}
    assert resolved[(7, 1)] == (("u1f", "u10", "k900"), "uuk")  # root first; return addresses - 1
    assert resolved[(7, 3)] == (("u30", "k900"), "uk")
    assert resolved[(8, 1)] == (("u1f", "u10"), "uu")
    # Same ids next time: cached (the user stack per process).
    count(obj, 1, 7, 1, 2, 1)
    reader.read(0)
    assert obj.globals["gen"] == 0
    # One call per process a tick, one for the kernel; nothing again for known stacks.
    assert sym.calls == [("user", 7, (0x10, 0x1F, 0x30)), ("user", 8, (0x10, 0x1F)), ("kernel", 0, (0x900,))]
    assert reader.counters()["keys_lost"] == 6


def test_lost_and_kernel_thread_stacks() -> None:
    obj, sym = FakeObj(), FakeSymbolizer()
    count(obj, 0, 7, -errno.EEXIST, -errno.ENOMEM, 1)
    count(obj, 0, 9, -1, 5, 1)  # a kernel thread (no user stack); id 5 was deleted
    out = {raw.tgid: r for raw, r in StackReader(obj, sym).read(0)}
    assert out[7] == (("[user stack collided]", "[kernel stack missing]"), "??")
    assert out[9] == (("[kernel stack missing]",), "?")


def test_reset_empties_the_stack_map_and_starts_an_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(stacks_reader.DEFS, "STACKS_RESET_AT", 2)
    obj, sym = FakeObj(), FakeSymbolizer()
    obj.maps["stacks"].entries = {U32.pack(1): stack(0x10), U32.pack(2): stack(0x20)}
    count(obj, 0, 7, 1, 2, 1)
    reader = StackReader(obj, sym)
    reader.read(keys_lost=0)
    assert obj.globals["epoch"] == 1 and reader.resets == 1
    assert not obj.maps["stacks"].entries
    assert sorted(obj.maps["stacks"].deleted) == [U32.pack(1), U32.pack(2)]
    # Counts were lost since: ids nobody read may linger, so every bucket is swept.
    obj.maps["stacks"].entries = {U32.pack(3): stack(0x30), U32.pack(4): stack(0x40)}
    count(obj, 1, 7, 3, 4, 1)
    reader.read(keys_lost=5)
    assert obj.globals["epoch"] == 2
    assert len(obj.maps["stacks"].deleted) == 2 + 16


class LoadingSymbolizer(FakeSymbolizer):
    """User frames stay ``pending`` (their file is loading) for the first ``slow`` calls."""

    def __init__(self, slow: int) -> None:
        super().__init__()
        self.slow = slow

    def user(self, pid: int, addrs: Sequence[int], deadline: float | None = None) -> list[Frame]:
        self.calls.append(("user", pid, tuple(addrs)))
        if len([c for c in self.calls if c[0] == "user"]) <= self.slow:
            return [Frame(f"app+0x{a:x}", "/bin/app", a, "pending") for a in addrs]
        return [Frame(f"u{a:x}", "/bin/app", 0, "user") for a in addrs]


def test_counts_of_stacks_still_loading_wait_for_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """No count is ever added under a raw address while its file is loading.

    A count added under ``app+0x10`` would stay a row of its own in the
    cumulative totals next to the named stack.
    """
    obj, sym = FakeObj(), LoadingSymbolizer(slow=2)
    obj.maps["stacks"].entries = {U32.pack(1): stack(0x10), U32.pack(2): stack(0x900)}
    reader = StackReader(obj, sym)
    count(obj, 0, 7, 1, 2, 3)
    assert reader.read(0) == []  # held back: still loading
    # The stack map is reset before the next read: the held count keeps its addresses.
    monkeypatch.setattr(stacks_reader, "DEFS", {**stacks_reader.DEFS, "STACKS_RESET_AT": 1})
    count(obj, 1, 7, 1, 2, 2)
    assert reader.read(0) == []  # both still loading (the second call)
    monkeypatch.setattr(stacks_reader, "DEFS", {**stacks_reader.DEFS, "STACKS_RESET_AT": 1 << 20})
    out = reader.read(0)
    assert [(raw.events, r) for raw, r in out] == [(3, (("u10", "k900"), "uk")), (2, (("u10", "k900"), "uk"))]
    assert reader.read(0) == []  # nothing left over


def test_the_last_read_holds_nothing_back() -> None:
    obj, sym = FakeObj(), LoadingSymbolizer(slow=10)
    obj.maps["stacks"].entries = {U32.pack(1): stack(0x10)}
    reader = StackReader(obj, sym)
    count(obj, 0, 7, 1, -errno.EFAULT, 4)
    assert reader.read(0) == []
    ((raw, resolved),) = reader.read(0, settle=True)
    assert raw.events == 4 and resolved == (("app+0x10",), "?")


def test_held_back_counts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stacks_reader, "MAX_DEFERRED", 1)
    obj, sym = FakeObj(), LoadingSymbolizer(slow=10)
    obj.maps["stacks"].entries = {U32.pack(1): stack(0x10)}
    reader = StackReader(obj, sym)
    count(obj, 0, 7, 1, -errno.EFAULT, 4)
    count(obj, 0, 8, 1, -errno.EFAULT, 5)
    assert [raw.tgid for raw, _ in reader.read(0)] == [8]  # over the cap: counted at once
