"""Read one stacks object (profile.bpf.o or offcpu.bpf.o): counts, stacks, loss counters.

Both objects share the map layout of ``bpftop/c/stacks.bpf.h``. Each read
flips the ``gen`` global so the programs write the other count map, then
dumps and empties the one they left; stack ids are looked up in the stack map
and symbolized once, while the process is most likely still alive, so a
sample holds names, never addresses. When the stack map holds
``STACKS_RESET_AT`` ids it is emptied (a new ``epoch``) to keep collisions
rare.
"""

from __future__ import annotations

import errno
import struct
import time
from array import array
from typing import Any, NamedTuple

from bpftop.collectors.base import header_defines
from bpftop.collectors.stacks_frames import Resolved, lookup_addrs, lost_frame, resolve_frames

DEFS = header_defines("stacks.h")
COMM_LEN = DEFS["STACKS_COMM_LEN"]
KEY = struct.Struct(f"<IiiI{COMM_LEN}s")
VAL = struct.Struct("<QQ")
U32 = struct.Struct("<I")
MAX_DEPTH = DEFS["STACKS_MAX_DEPTH"]
NO_STACK = -errno.EFAULT  # a user-mode sample has no kernel stack, a kernel thread no user stack
KTHREAD_NO_STACK = -1  # stacks.h STACKS_NO_STACK (header_defines reads only positive numbers)
MAX_BY_IPS = 50_000  # symbolized stacks kept by address across stack-map resets
# How long one read waits for the symbolizer's loader: files a hostile process
# controls can take long (or forever) to read, and the maps must be read every
# tick. Stacks of files still loading show raw addresses and are named later.
SYMBOL_WAIT_S = 0.2
# How long the last read (``settle``) waits: past the symbolizer's 10 s load
# budget, by when every load has finished or been given up.
SETTLE_WAIT_S = 12.0
# Counts held back while their stacks' files load, at most: beyond, they are
# counted at once under raw addresses rather than held without bound.
MAX_DEFERRED = 20_000
# Names of the per-CPU counters, in the order of stacks.h's ST_* indexes.
COUNTER_NAMES = (
    "events",
    "idle",
    "user_collided",
    "user_missing",
    "kern_collided",
    "kern_missing",
    "keys_lost",
    "threads_lost",
    "short",
    "stale",
)

class RawCount(NamedTuple):
    """One decoded entry of a count map."""

    tgid: int
    user_stack_id: int
    kern_stack_id: int
    comm: str
    events: int
    total_ns: int


def decode_counts(keys: bytes, values: bytes) -> list[RawCount]:
    """A count map dump (``struct stack_key`` -> ``struct stack_val``)."""
    rows = []
    for (tgid, uid, kid, _, comm), (count, total_ns) in zip(
        KEY.iter_unpack(keys), VAL.iter_unpack(values), strict=True
    ):
        name = comm.split(b"\0", 1)[0].decode("utf-8", "replace")
        rows.append(RawCount(tgid, uid, kid, name, count, total_ns))
    return rows


def decode_stack(value: bytes) -> list[int]:
    """Instruction pointers of a stack map value, leaf first (the map pads with zeros)."""
    ips = array("Q")
    ips.frombytes(value[: len(value) - len(value) % 8])
    n = ips.index(0) if 0 in ips else len(ips)
    return list(ips[:n])


class StackReader:
    """Reads one loaded stacks object; everything here runs in the engine's worker."""

    def __init__(self, obj: Any, symbolizer: Any) -> None:
        self.obj = obj
        self._sym = symbolizer
        self._gen = 0
        self._epoch = 0
        self._kernel: dict[int, Resolved] = {}
        self._user: dict[tuple[int, int], Resolved] = {}
        # The same stacks by their addresses, kept across resets of the stack map:
        # a reset gives every stack a new id, and without these each reset made
        # bpftop symbolize every busy process's stacks again (300 processes
        # waking each second cost ~30 ms a refresh). A process that execs keeps its
        # pid, but a whole stack of return addresses repeating in the new image
        # (under ASLR) is not a case worth a cache miss on every thread name.
        self._kernel_by_ips: dict[tuple[int, ...], Resolved] = {}
        self._user_by_ips: dict[tuple[int, tuple[int, ...]], Resolved] = {}
        self._ids: set[int] = set()  # ids seen in the stack map this epoch
        self._retry: set[tuple[int, int]] = set()  # user stacks with frames still loading
        self._pending_ips: dict[tuple[int, int], list[int]] = {}  # their addresses
        # Counts of stacks with frames still loading, held back to the next read
        # (with their addresses and kernel half: a reset may delete the ids), so
        # every count is added under the stack's names, never under a raw
        # address that would stay a row of its own in the cumulative totals.
        self._deferred: list[tuple[RawCount, list[int], Resolved]] = []
        self._deadline = 0.0
        self._keys_lost_at_reset = 0
        self.resets = 0

    def check_layout(self) -> None:
        """Fail loudly when stacks.h and this module disagree."""
        for name in ("counts0", "counts1"):
            m = self.obj.map(name)
            if (m.key_size, m.value_size) != (KEY.size, VAL.size):
                raise RuntimeError(f"stacks.h and the collector disagree on {name}")

    def counters(self) -> dict[str, int]:
        """The per-CPU loss and event counters, summed over CPUs."""
        dump = self.obj.map("counters").dump()
        words = memoryview(dump.values).cast("Q")
        return {
            name: sum(words[i * dump.ncpu : (i + 1) * dump.ncpu])
            for i, name in enumerate(COUNTER_NAMES[: dump.count])
        }

    def read(self, keys_lost: int, settle: bool = False) -> list[tuple[RawCount, Resolved]]:
        """Flip the generation, empty the count map left behind, symbolize its stacks.

        Counts whose user stacks name files still loading are held back and
        returned by a later read, once named (or once their loads gave up).

        Args:
            keys_lost: the ``keys_lost`` counter now; when it rose since the last
                reset, stack ids no count refers to may be filling the map.
            settle: the last read: wait for loads to finish, hold nothing back.
        """
        old = self._gen
        self._gen = 1 - old
        self.obj.set_global("gen", self._gen)
        counts = self.obj.map(f"counts{old}")
        dump = counts.dump()
        # An increment racing the delete of its key is lost; the window is one
        # syscall, after the programs moved to the other map.
        counts.delete([dump.keys[i : i + KEY.size] for i in range(0, len(dump.keys), KEY.size)])
        raws = decode_counts(dump.keys, dump.values)
        self._deadline = time.monotonic() + (SETTLE_WAIT_S if settle else SYMBOL_WAIT_S)
        for key in self._retry:  # named now, if their files have loaded since
            self._user.pop(key, None)
        self._retry.clear()
        self._pending_ips.clear()
        held, self._deferred = self._deferred, []
        out = [(raw, self._resolve_held(raw, ips, kern)) for raw, ips, kern in held]
        self._symbolize_new(raws)
        out += [(raw, self._resolve(raw)) for raw in raws]
        if not settle:
            out = self._hold_back(out)
        if len(self._ids) >= DEFS["STACKS_RESET_AT"]:
            self._reset(sweep=keys_lost > self._keys_lost_at_reset)
            self._keys_lost_at_reset = keys_lost
        return out

    def _resolve_held(self, raw: RawCount, ips: list[int], kern: Resolved) -> Resolved:
        """A held-back count's stack, from the addresses kept with it."""
        frames = self._sym.user(raw.tgid, lookup_addrs(ips), self._deadline)
        if any(f.kind == "pending" for f in frames):
            self._retry.add((raw.tgid, raw.user_stack_id))
            self._pending_ips[(raw.tgid, raw.user_stack_id)] = ips
        user = resolve_frames(frames)
        return user[0] + kern[0], user[1] + kern[1]

    def _hold_back(self, out: list[tuple[RawCount, Resolved]]) -> list[tuple[RawCount, Resolved]]:
        """Keep counts of stacks still loading for the next read; return the rest."""
        ready = []
        for raw, resolved in out:
            ips = self._pending_ips.get((raw.tgid, raw.user_stack_id))
            if ips is None or len(self._deferred) >= MAX_DEFERRED:
                ready.append((raw, resolved))
            else:
                self._deferred.append((raw, ips, self._kernel_frames(raw.kern_stack_id)))
        return ready

    def _symbolize_new(self, raws: list[RawCount]) -> None:
        """Symbolize the stacks not seen yet: one call per process and one for the kernel.

        One call per process lets the symbolizer re-read a process's maps at
        most once a tick for addresses it cannot place (a binary without frame
        pointers yields a few junk ones).
        """
        ips_of: dict[int, list[int] | None] = {}

        def ips(stack_id: int) -> list[int] | None:
            if stack_id not in ips_of:
                ips_of[stack_id] = self._stack(stack_id)
            return ips_of[stack_id]

        user: dict[int, list[tuple[int, list[int]]]] = {}
        kernel: list[tuple[int, list[int]]] = []
        queued: set[tuple[int, int]] = set()  # (tgid, user id), and (-1, kernel id)
        for raw in raws:
            uid, kid = raw.user_stack_id, raw.kern_stack_id
            key = (raw.tgid, uid)
            if uid >= 0 and key not in self._user and key not in queued and (found := ips(uid)) is not None:
                queued.add(key)
                known = self._user_by_ips.get((raw.tgid, tuple(found)))
                if known is not None:
                    self._user[key] = known
                else:
                    user.setdefault(raw.tgid, []).append((uid, found))
            key = (-1, kid)
            if kid >= 0 and kid not in self._kernel and key not in queued and (found := ips(kid)) is not None:
                queued.add(key)
                known = self._kernel_by_ips.get(tuple(found))
                if known is not None:
                    self._kernel[kid] = known
                else:
                    kernel.append((kid, found))
        if len(self._user_by_ips) + len(self._kernel_by_ips) > MAX_BY_IPS:
            self._user_by_ips.clear()  # bounded: a machine of ever-new stacks starts over
            self._kernel_by_ips.clear()
        for tgid, stacks in user.items():
            addrs = [a for _, found in stacks for a in lookup_addrs(found)]
            frames = self._sym.user(tgid, addrs, self._deadline)
            for (uid, found), start in zip(stacks, _offsets(stacks), strict=True):
                self._keep_user((tgid, uid), found, frames[start : start + len(found)])
        if kernel:
            frames = self._sym.kernel([a for _, found in kernel for a in lookup_addrs(found)])
            for (kid, found), start in zip(kernel, _offsets(kernel), strict=True):
                resolved = resolve_frames(frames[start : start + len(found)], kernel=True)
                self._kernel[kid] = self._kernel_by_ips[tuple(found)] = resolved

    def _keep_user(self, key: tuple[int, int], ips: list[int], frames: list[Any]) -> Resolved:
        """Cache a symbolized user stack; one with frames still loading only until the next read."""
        resolved = self._user[key] = resolve_frames(frames)
        if any(f.kind == "pending" for f in frames):
            self._retry.add(key)
            self._pending_ips[key] = ips
        else:
            self._user_by_ips[(key[0], tuple(ips))] = resolved
        return resolved

    def _resolve(self, raw: RawCount) -> Resolved:
        user = self._user_frames(raw.tgid, raw.user_stack_id)
        kern = self._kernel_frames(raw.kern_stack_id)
        return user[0] + kern[0], user[1] + kern[1]

    def _stack(self, stack_id: int) -> list[int] | None:
        value = self.obj.map("stacks").lookup(U32.pack(stack_id))
        if value is None:
            return None
        self._ids.add(stack_id)
        return decode_stack(value)

    def _kernel_frames(self, stack_id: int) -> Resolved:
        if stack_id == NO_STACK:
            return (), ""
        if stack_id < 0:
            return lost_frame(stack_id, "kernel")
        hit = self._kernel.get(stack_id)
        if hit is None:
            ips = self._stack(stack_id)
            if ips is None:  # deleted by a reset before this count was read
                return lost_frame(-errno.ENOENT, "kernel")
            hit = self._kernel[stack_id] = resolve_frames(self._sym.kernel(lookup_addrs(ips)), kernel=True)
        return hit

    def _user_frames(self, tgid: int, stack_id: int) -> Resolved:
        if stack_id in (NO_STACK, KTHREAD_NO_STACK):
            return (), ""
        if stack_id < 0:
            return lost_frame(stack_id, "user")
        # One id is one list of addresses; what they mean depends on the process.
        hit = self._user.get((tgid, stack_id))
        if hit is None:
            ips = self._stack(stack_id)
            if ips is None:
                return lost_frame(-errno.ENOENT, "user")
            frames = self._sym.user(tgid, lookup_addrs(ips), self._deadline)
            hit = self._keep_user((tgid, stack_id), ips, frames)
        return hit

    def pause(self, paused: bool) -> None:
        """Detach an off-CPU object's programs, or attach them again.

        Detached, they cost a context switch nothing. Pausing forgets the
        threads switched out so far, and restarting opens a new epoch, so no
        block spans the pause: a thread that switched out just before it is
        counted as stale, not as blocked for the whole pause.
        """
        if not paused:
            self._epoch += 1
            self.obj.set_global("epoch", self._epoch)
            self.obj.attach()
            return
        self.obj.detach()
        start = self.obj.map("start")
        dump = start.dump()
        start.delete([dump.keys[i : i + 4] for i in range(0, len(dump.keys), 4)])

    def discard(self) -> None:
        """Drop what was counted so far, unread and unnamed (taken before anyone asked).

        Only the stack ids those counts name are deleted: a sweep of every
        bucket is a syscall each (16,384), the stack map has no batch delete.
        """
        ids: set[int] = set()
        for gen in (0, 1):
            counts = self.obj.map(f"counts{gen}")
            dump = counts.dump()
            counts.delete([dump.keys[i : i + KEY.size] for i in range(0, len(dump.keys), KEY.size)])
            for raw in decode_counts(dump.keys, dump.values):
                ids.update((raw.user_stack_id, raw.kern_stack_id))
        self.obj.map("stacks").delete([U32.pack(i) for i in ids if i >= 0])

    def _reset(self, sweep: bool) -> None:
        """Empty the stack map and start a new epoch (offcpu drops blocks of the old one)."""
        self._epoch += 1
        self.obj.set_global("epoch", self._epoch)
        stacks = self.obj.map("stacks")
        # Ids taken for counts that were lost are unknown here: sweep every bucket then.
        ids = range(stacks.max_entries) if sweep else self._ids
        stacks.delete([U32.pack(i) for i in ids])
        self._ids.clear()
        self._kernel.clear()
        self._user.clear()
        self.resets += 1

    def forget(self, pids: set[int]) -> None:
        """Drop cached user stacks of exited processes."""
        for key in [k for k in self._user if k[0] in pids]:
            del self._user[key]
        for by_ips in [k for k in self._user_by_ips if k[0] in pids]:
            del self._user_by_ips[by_ips]


def _offsets(stacks: list[tuple[int, list[int]]]) -> list[int]:
    """Where each stack's addresses start in the concatenation of all of them."""
    starts, at = [], 0
    for _, ips in stacks:
        starts.append(at)
        at += len(ips)
    return starts
