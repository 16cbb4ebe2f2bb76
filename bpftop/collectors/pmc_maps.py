"""Decoding the pmc object's maps: per-process sums and per-CPU state.

Layouts are ``struct pmc_proc_val`` and ``struct cpu_state`` of ``bpftop/c/pmc.h``;
the collector checks their sizes against the maps libbpf loaded.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from bpftop.collectors.pmc import DEFS, MAX_COUNTERS, U32, ProcCounts

PROC_VAL = struct.Struct(f"<{3 * MAX_COUNTERS + 1}QII{DEFS['PMC_COMM_LEN']}s")
CPU_STATE = struct.Struct(f"<QIIII{3 * MAX_COUNTERS}Q{MAX_COUNTERS}QQ")


def decode_procs(keys: bytes, values: bytes, n: int) -> list[ProcCounts]:
    """The ``pmc_procs`` LRU hash dump, keeping the first ``n`` counters."""
    kthread = DEFS["PMC_KTHREAD"]
    m = MAX_COUNTERS
    rows = []
    for (pid,), v in zip(U32.iter_unpack(keys), PROC_VAL.iter_unpack(values), strict=True):
        comm = v[-1].split(b"\0", 1)[0].decode("utf-8", "replace")
        rows.append(
            ProcCounts(
                pid, comm, bool(v[3 * m + 1] & kthread), v[3 * m], v[:n], v[m : m + n], v[2 * m : 2 * m + n]
            )
        )
    return rows


class CpuState(NamedTuple):
    """A decoded ``struct cpu_state``; ``consistent`` is False if copied mid-update."""

    tid: int
    tgid: int
    valid: int
    last: tuple[tuple[int, int, int], ...]
    idle: tuple[int, ...]
    consistent: bool
    epoch: int = 0  # pmc_epoch when ``last`` was read


def decode_cpus(values: bytes, ncpu: int) -> list[CpuState]:
    """The per-CPU ``pmc_cpus`` entry, one ``CpuState`` per possible CPU."""
    stride = len(values) // ncpu if ncpu else 0
    out = []
    m = MAX_COUNTERS
    for c in range(ncpu):
        seq_begin, tid, tgid, valid, epoch, *rest = CPU_STATE.unpack_from(values, c * stride)
        last = tuple(tuple(rest[3 * i : 3 * i + 3]) for i in range(m))
        out.append(CpuState(tid, tgid, valid, last, tuple(rest[3 * m : 4 * m]), seq_begin == rest[-1], epoch))
    return out


def running_stints(
    state: CpuState, now: list[tuple[int, int, int]], epoch: int = 0
) -> tuple[int, int, tuple[tuple[int, int, int], ...]] | None:
    """(tid, tgid, per-event (count, enabled, running) since the last switch) on one CPU.

    ``now`` are the events' current readings on that CPU. None when the entry
    was copied mid-update or its readings are from before a pause (an older
    ``epoch``); an event without a kernel reading yet adds nothing.
    """
    if not state.consistent or state.epoch != epoch:
        return None
    deltas = []
    for i, reading in enumerate(now):
        last = state.last[i]
        if state.valid & (1 << i) and all(n >= p for n, p in zip(reading, last, strict=True)):
            deltas.append((reading[0] - last[0], reading[1] - last[1], reading[2] - last[2]))
        else:
            deltas.append((0, 0, 0))
    return state.tid, state.tgid, tuple(deltas)
