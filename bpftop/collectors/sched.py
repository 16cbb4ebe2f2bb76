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

import struct
import threading
from typing import Any

from bpftop.collectors.base import Filters

STEM = "sched"
# Hooks only runqlat's part uses (left unattached in a pmc-only load).
RUNQLAT_ONLY = ("sched_wakeup", "sched_wakeup_new", "sched_process_exec")
_lock = threading.Lock()
# Frozen rodata -> [loaded object, users]: the filters are fixed at load.
_loaded: dict[tuple[tuple[str, int], ...], list[Any]] = {}
# id(object) -> keys bpftop deleted from runqlat's `procs` and `proc_hists`:
# both collectors forget exited processes there (pmc's software counters
# live in `procs` too), and runqlat's eviction count must subtract both.
_deleted: dict[int, list[int]] = {}
U32 = struct.Struct("<I")


def forget(obj: Any, pids: set[int]) -> None:
    """Delete exited processes from runqlat's per-process maps, counting the keys deleted."""
    keys = [U32.pack(p) for p in pids]
    procs, hists = obj.map("procs").delete(keys), obj.map("proc_hists").delete(keys)
    with _lock:
        counts = _deleted.setdefault(id(obj), [0, 0])
        counts[0] += procs
        counts[1] += hists


def deleted(obj: Any) -> tuple[int, int]:
    """Keys ``forget`` deleted from ``procs`` and ``proc_hists`` of this object."""
    with _lock:
        procs, hists = _deleted.get(id(obj), (0, 0))
    return procs, hists


def acquire(filters: Filters, *, runqlat: bool) -> Any:
    """Load and attach ``sched.bpf.o`` for these filters, or share the one loaded.

    Tries tp_btf, raw_tp, then tracepoint (``BpfObject.open``). The caller
    turns its part on, and calls ``release`` when it closes. The runqlat
    collector (``runqlat``) needs an object with its part in. The pmc
    collector shares such an object when one is loaded (the engine opens
    runqlat first); else it loads one without runqlat's part (``with_runqlat``
    = 0: the verifier never visits it, and its wakeup and exec programs stay
    unattached), so pmc keeps its own minimum kernel (5.4, not runqlat's 5.12).

    Raises:
        AttachError: no family could load and attach.
    """
    from bpftop.bpf.btf import tracepoint_nargs

    rodata = filters.rodata()
    rodata["switch_state_arg"] = int((tracepoint_nargs("sched_switch") or 0) >= 4)
    with _lock:
        for with_runqlat in (1,) if runqlat else (1, 0):
            key = tuple(sorted((rodata | {"with_runqlat": with_runqlat}).items()))
            entry = _loaded.get(key)
            if entry is not None:
                break
        else:
            entry = _loaded[key] = [_open(rodata, runqlat), 0]
        entry[1] += 1
        return entry[0]


def _open(rodata: dict[str, int], runqlat: bool) -> Any:
    from bpftop.bpf.object import BpfObject

    if runqlat:
        return BpfObject.open(STEM, rodata=rodata | {"with_runqlat": 1})
    return BpfObject.open(
        STEM, rodata=rodata | {"with_runqlat": 0}, optional=RUNQLAT_ONLY, leave_out=RUNQLAT_ONLY
    )


def release(obj: Any) -> None:
    """One user fewer; the last one detaches and frees the object."""
    with _lock:
        for key, entry in list(_loaded.items()):
            if entry[0] is obj:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _loaded[key]
                _deleted.pop(id(obj), None)
                break
    obj.close()
