"""The scheduler object the runqlat and pmc collectors share: one program per switch.

Kernel side: ``bpftop/c/sched.bpf.c``. Both collectors need ``sched_switch``,
the hottest hook there is; as two objects they were two programs entered on
every context switch, each reading the same task. So they load one object,
and each turns its part on and off with a ``.bss`` switch (``runqlat_on``,
``nr_counters``): a part whose collector is not running costs a switch one
compare. Collectors opened with the same filters in one process share one
loaded object (the engine opens them one after the other); the last to close
it detaches it.
"""

from __future__ import annotations

import threading
from typing import Any

from bpftop.collectors.base import Filters

STEM = "sched"
_lock = threading.Lock()
# Frozen rodata -> [loaded object, users]: the filters are fixed at load.
_loaded: dict[tuple[tuple[str, int], ...], list[Any]] = {}


def acquire(filters: Filters) -> Any:
    """Load and attach ``sched.bpf.o`` for these filters, or share the one loaded.

    Tries tp_btf, raw_tp, then tracepoint (``BpfObject.open``). The caller
    turns its part on, and calls ``release`` when it closes.

    Raises:
        AttachError: no family could load and attach.
    """
    from bpftop.bpf.btf import tracepoint_nargs
    from bpftop.bpf.object import BpfObject

    rodata = filters.rodata()
    rodata["switch_state_arg"] = int((tracepoint_nargs("sched_switch") or 0) >= 4)
    key = tuple(sorted(rodata.items()))
    with _lock:
        entry = _loaded.get(key)
        if entry is None:
            entry = _loaded[key] = [BpfObject.open(STEM, rodata=rodata), 0]
        entry[1] += 1
        return entry[0]


def release(obj: Any) -> None:
    """One user fewer; the last one detaches and frees the object."""
    with _lock:
        for key, entry in list(_loaded.items()):
            if entry[0] is obj:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _loaded[key]
                break
    obj.close()
