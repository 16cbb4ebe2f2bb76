"""Stack frames as the stacks collector stores them: labels and one kind letter per frame.

A stack is kept as its frames' labels (root first) and a string of kind
letters, not as ``Frame`` objects: that is what the flame graph, the folded
output and recordings need, and it is small.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from typing import Any

KIND_LETTER = {"kernel": "k", "user": "u", "jit": "j"}  # anything else: "?"
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
