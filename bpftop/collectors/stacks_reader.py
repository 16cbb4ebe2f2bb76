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
from array import array
from collections.abc import Iterable
from typing import Any, NamedTuple

from bpftop.collectors.base import header_defines

DEFS = header_defines("stacks.h")
COMM_LEN = DEFS["STACKS_COMM_LEN"]
KEY = struct.Struct(f"<IiiI{COMM_LEN}s")
VAL = struct.Struct("<QQ")
U32 = struct.Struct("<I")
MAX_DEPTH = DEFS["STACKS_MAX_DEPTH"]
NO_STACK = -errno.EFAULT  # a user-mode sample has no kernel stack, a kernel thread no user stack
KTHREAD_NO_STACK = -1  # stacks.h STACKS_NO_STACK (header_defines reads only positive numbers)
MAX_BY_IPS = 50_000  # symbolized stacks kept by address across stack-map resets
KIND_LETTER = {"kernel": "k", "user": "u", "jit": "j"}  # anything else: "?"
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

# Leaf frames of a tracepoint-taken kernel stack that belong to the tracing itself:
# the BPF program (``bpf_prog_<tag>_<name>``), its runner (``bpf_trace_run4``,
# ``__bpf_trace_sched_switch`` before 6.x) and the tracepoint's iterator.
TRACING_PREFIXES = (
    "bpf_prog_",
    "bpf_trace_run",
    "__bpf_trace_",
    "__traceiter_",
    "trace_call_bpf",
    "perf_trace_",
)
Resolved = tuple[tuple[str, ...], str]  # frames (root first) and one kind letter per frame


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


def lookup_addrs(ips: list[int]) -> list[int]:
    """Addresses to symbolize, leaf first.

    Every frame but the leaf holds a return address, which may already lie in
    the next function after a call that never returns, so those are looked up
    one byte earlier (as perf and blazesym do).
    """
    return [ip if i == 0 else ip - 1 for i, ip in enumerate(ips)]


# Where an address in no file lands (procmaps' names for mappings without a
# file, and the symbolizer's for no mapping at all).
ANONYMOUS = frozenset({"[unknown]", "[heap]", "[stack]", "[anon]", "[vvar]"})


def resolve_frames(frames: Iterable[Any], *, kernel: bool = False) -> Resolved:
    """Symbolized frames (leaf first) to labels and kinds, root first.

    Args:
        frames: ``bpftop.symbols.Frame``s, leaf first.
        kernel: drop the tracing machinery at the leaf end of a kernel stack
            taken from a tracepoint (bpftop's own program and the kernel code
            that ran it), which sched_switch stacks would all end with.
    """
    frames = list(frames)
    if kernel:
        while frames and frames[0].name.startswith(TRACING_PREFIXES):
            frames.pop(0)
    labels, kinds = [], []
    for f in reversed(frames):
        # An address in no file ([unknown]: no mapping, typically what a walk
        # without frame pointers reads off the stack; [heap], [anon], [stack])
        # says nothing by its offset, and the offsets made each such stack
        # distinct: thousands of one-sample stacks in the flame graph and in
        # every key frame of a recording. File-backed modules keep theirs
        # (binary+0x40 is what addr2line takes), and so do kernel addresses.
        anonymous = not f.name and (f.module in ANONYMOUS or f.module.startswith(("[anon:", "[stack:")))
        labels.append(f.module if anonymous else f.label())
        kinds.append(KIND_LETTER.get(f.kind, "?"))
    return tuple(labels), "".join(kinds)


def lost_frame(stack_id: int, what: str) -> Resolved:
    """A marker for a stack that could not be read, so its counts stay visible."""
    reason = "collided" if stack_id == -errno.EEXIST else "missing"
    return (f"[{what} stack {reason}]",), "?"


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

    def read(self, keys_lost: int) -> list[tuple[RawCount, Resolved]]:
        """Flip the generation, empty the count map left behind, symbolize its stacks.

        Args:
            keys_lost: the ``keys_lost`` counter now; when it rose since the last
                reset, stack ids no count refers to may be filling the map.
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
        self._symbolize_new(raws)
        out = [(raw, self._resolve(raw)) for raw in raws]
        if len(self._ids) >= DEFS["STACKS_RESET_AT"]:
            self._reset(sweep=keys_lost > self._keys_lost_at_reset)
            self._keys_lost_at_reset = keys_lost
        return out

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
            frames = self._sym.user(tgid, [a for _, found in stacks for a in lookup_addrs(found)])
            for (uid, found), start in zip(stacks, _offsets(stacks), strict=True):
                resolved = resolve_frames(frames[start : start + len(found)])
                self._user[(tgid, uid)] = self._user_by_ips[(tgid, tuple(found))] = resolved
        if kernel:
            frames = self._sym.kernel([a for _, found in kernel for a in lookup_addrs(found)])
            for (kid, found), start in zip(kernel, _offsets(kernel), strict=True):
                resolved = resolve_frames(frames[start : start + len(found)], kernel=True)
                self._kernel[kid] = self._kernel_by_ips[tuple(found)] = resolved

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
            hit = self._user[(tgid, stack_id)] = resolve_frames(self._sym.user(tgid, lookup_addrs(ips)))
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
