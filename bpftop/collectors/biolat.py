"""Block I/O latency per disk and operation, and I/O per submitting process.

Kernel side: ``bpftop/c/biolat.bpf.c``. This module turns its maps into a
``BiolatSample`` of cumulative counters, with each disk's name resolved from
``/sys``; rates and percentiles are computed in ``bpftop.derive.biolat``.

Accounting rules (also in docs/architecture.md):

- An I/O is counted when its request completes; histograms are log2 of
  microseconds. Total time runs from ``block_rq_insert`` (or the issue, for a
  request that went straight to the driver) to completion, queue time from
  insert to issue (0 without an insert), device time from issue to completion.
- A write with ``REQ_PREFLUSH`` and no data never reaches the driver: the
  device sees only the flush request it causes, counted as a ``flush``;
  the write itself is only counted in ``unissued``.
- The submitting process comes from ``block_io_start`` (Linux >= 6.5). On older
  kernels it is whoever inserted or issued the request: the submitter when it
  queues or dispatches its own I/O (the common case), a kworker when the queue
  runs asynchronously (plugged writeback, requeues). Flush requests made by the
  block layer are attributed that way on every kernel.
"""

from __future__ import annotations

import os
import platform
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from bpftop.collectors.base import Collector, Filters, header_defines, pid_comms, sorted_rows

DEFS = header_defines("biolat.h")
HIST_SLOTS = DEFS["BIOLAT_HIST_SLOTS"]
NR_TIMES = DEFS["BIOLAT_NR_TIMES"]
TIMES = ("total", "queue", "device")  # index = BIOLAT_TOTAL, BIOLAT_QUEUE, BIOLAT_DEVICE
HIST_FIELDS = 2 + 2 * NR_TIMES + NR_TIMES * HIST_SLOTS  # ios, bytes, sums, maxima, slots
DISK_KEY = struct.Struct("<IBBH")
PROC_KEY = struct.Struct("<IIB7x")
PROC_VAL = struct.Struct(f"<QQQ{DEFS['BIOLAT_COMM_LEN']}s")
START_KEY_SIZE = 16
START_VAL = struct.Struct(f"<QQII{DEFS['BIOLAT_COMM_LEN']}s")  # insert_ns, issue_ns, tgid, active, comm
# cmd_flags & REQ_OP_MASK (include/linux/blk_types.h); numbers stable since 4.10.
OP_NAMES = {
    0: "read",
    1: "write",
    2: "flush",
    3: "discard",
    5: "secure_erase",
    7: "zone_append",
    9: "write_zeroes",
    DEFS["BIOLAT_OP_UNKNOWN"]: "unknown",
}
MINORBITS = 20  # the kernel's dev_t, as the block tracepoints report it
BLOCK_HOOKS = ("block_io_start", "block_rq_insert", "block_rq_issue", "block_rq_complete")
OPTIONAL_HOOKS = ("block_io_start", "block_rq_merge")  # >= 6.5 and >= 5.8


def op_name(op: int) -> str:
    """``read`` for 0; ``op<N>`` for operations without a name here."""
    return OP_NAMES.get(op, f"op{op}")


def split_dev(dev: int) -> tuple[int, int]:
    """(major, minor) of a kernel dev_t."""
    return dev >> MINORBITS, dev & ((1 << MINORBITS) - 1)


class DiskOpTotals(NamedTuple):
    """Cumulative figures of one (disk, operation, sync flag)."""

    dev: int  # kernel dev_t: major << 20 | minor
    disk: str  # name in /sys/block, "" when unknown
    op: int  # cmd_flags & REQ_OP_MASK, see OP_NAMES
    sync: bool
    ios: int
    bytes: int
    sum_ns: tuple[int, int, int]  # by TIMES
    max_ns: tuple[int, int, int]
    hists: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # log2(us) slots by TIMES


class ProcIO(NamedTuple):
    """Cumulative I/O of one (process, disk, operation)."""

    pid: int
    dev: int
    disk: str
    op: int
    ios: int
    bytes: int
    total_ns: int
    comm: str


@dataclass(frozen=True)
class BiolatSample:
    """The biolat collector's state at ``ts_ns`` (CLOCK_MONOTONIC).

    Attributes:
        disks: per (disk, op, sync) seen since attach (or until LRU eviction).
        procs: per (pid, disk, op) still held by the kernel's LRU map.
        attribution: ``block_io_start`` or ``insert/issue context`` (see module doc).
        in_flight: requests started and not completed (active entries in the start map).
        unmatched: completions of requests in flight at attach.
        unissued: completions of requests never issued (data-less PREFLUSH writes).
        requeues: requests sent back to the queue (their times restart).
        merges: requests merged into another one.
        stale_starts: requests that never completed: their key started over.
        evicted_starts: request keys pushed out of the full LRU start map.
        failed_starts: requests not timed because the start map update failed.
        lost_disks: completions not counted because the histogram map was full.
        evicted_procs: (pid, disk, op) keys pushed out of the full LRU map.
        lost_procs: completions not counted per process.
        missed_runs: hook runs the kernel skipped because the program was
            already running on that CPU (a completion interrupting another).
    """

    # Per-process tables a recording may keep only every few seconds (see
    # bpftop.record.detail); everything else is recorded every frame.
    DETAIL: ClassVar[tuple[str, ...]] = ("procs",)

    ts_ns: int
    disks: tuple[DiskOpTotals, ...]
    procs: tuple[ProcIO, ...]
    attribution: str = "block_io_start"
    in_flight: int = 0
    unmatched: int = 0
    unissued: int = 0
    requeues: int = 0
    merges: int = 0
    stale_starts: int = 0
    evicted_starts: int = 0
    failed_starts: int = 0
    lost_disks: int = 0
    evicted_procs: int = 0
    lost_procs: int = 0
    missed_runs: int = 0


RENAME_CHECK_S = 10.0  # a dev number reused by another disk is named again within this


def dev_link(dev: int, sys_root: Path = Path("/sys")) -> Path:
    """``/sys/dev/block/MAJOR:MINOR``, the link to ``dev``'s directory while it exists."""
    major, minor = split_dev(dev)
    return sys_root / "dev" / "block" / f"{major}:{minor}"


def disk_name(dev: int, sys_root: Path = Path("/sys")) -> str:
    """Name of the disk holding ``dev`` (a partition maps to its disk); "" if unknown."""
    node = dev_link(dev, sys_root)
    try:
        target = Path(os.path.realpath(node))
    except OSError:
        return ""
    if not target.is_dir():
        return ""
    # .../block/sda/sda1 is a partition: its directory holds a `partition` file.
    return target.parent.name if (target / "partition").exists() else target.name


def decode_hists(keys: bytes, values: bytes, ncpu: int, names: Mapping[int, str]) -> tuple[DiskOpTotals, ...]:
    """Fold the per-CPU ``hists`` LRU hash dump into per (disk, op, sync) totals."""
    words = memoryview(values).cast("Q")
    stride = ncpu * HIST_FIELDS
    out = []
    for e, (dev, op, sync, _) in enumerate(DISK_KEY.iter_unpack(keys)):
        rows = [words[e * stride + c * HIST_FIELDS : e * stride + (c + 1) * HIST_FIELDS] for c in range(ncpu)]
        # zip/map fold the CPUs in C (HIST_FIELDS is ~100 u64s per CPU).
        col = tuple(map(sum, zip(*rows, strict=True)))
        top = tuple(map(max, zip(*(r[2 + NR_TIMES : 2 + 2 * NR_TIMES] for r in rows), strict=True)))
        slots = 2 + 2 * NR_TIMES
        hists = tuple(
            tuple(col[slots + t * HIST_SLOTS : slots + (t + 1) * HIST_SLOTS]) for t in range(NR_TIMES)
        )
        out.append(
            DiskOpTotals(
                dev=dev,
                disk=names.get(dev, ""),
                op=op,
                sync=bool(sync),
                ios=col[0],
                bytes=col[1],
                sum_ns=(col[2], col[3], col[4]),
                max_ns=(top[0], top[1], top[2]),
                hists=(hists[0], hists[1], hists[2]),
            )
        )
    return tuple(sorted(out, key=lambda d: (d.dev, d.op, d.sync)))


def decode_procs(keys: bytes, values: bytes, names: Mapping[int, str]) -> tuple[ProcIO, ...]:
    """Decode the ``procs`` LRU hash dump, sorted by key."""
    return sorted_rows(
        ProcIO(pid, dev, names.get(dev, ""), op, ios, nbytes, total, _text(comm))
        for (pid, dev, op), (ios, nbytes, total, comm) in zip(
            PROC_KEY.iter_unpack(keys), PROC_VAL.iter_unpack(values), strict=True
        )
    )


def _text(comm: bytes) -> str:
    return comm.split(b"\0", 1)[0].decode("utf-8", "replace")


def rq_in_second_arg() -> bool:
    """Whether block_rq_insert & co. take ``(q, rq)`` (before 5.11) instead of ``(rq)``."""
    from bpftop.bpf.btf import tracepoint_nargs

    nargs = tracepoint_nargs("block_rq_insert")
    if nargs is not None:
        return nargs == 2
    major, minor = (int(x) for x in platform.release().split(".")[:2])
    return (major, minor) < (5, 11)


class BiolatCollector(Collector):
    """Loads ``biolat.bpf.o`` and samples its maps."""

    name = "biolat"
    # (tracepoint category, name) of every hook, for `bpftop check`.
    hooks = tuple(("block", h) for h in (*BLOCK_HOOKS, "block_rq_requeue", "block_rq_merge"))

    def __init__(self, sys_root: Path = Path("/sys"), methods: tuple[str, ...] | None = None) -> None:
        """Set up; ``sys_root`` and ``methods`` (attach families to try) are for tests."""
        self.method = ""
        self.tried: dict[str, str] = {}
        self.detail = ""
        self._sys_root = sys_root
        self._methods = methods
        self._obj: Any = None
        self._names: dict[int, str] = {}  # last known, so a detached disk keeps its name
        self._names_checked = 0.0  # time.monotonic() of the last full naming
        self._last: BiolatSample | None = None
        self._deleted_procs = 0

    def open(self, filters: Filters) -> None:
        """Load and attach, trying tp_btf, raw_tp, then tracepoint."""
        from bpftop.bpf.object import METHODS, BpfObject

        rodata = filters.rodata() | {"rq_second_arg": int(rq_in_second_arg())}
        methods = self._methods or METHODS
        self._obj = BpfObject.open("biolat", rodata=rodata, methods=methods, optional=OPTIONAL_HOOKS)
        self.method = self._obj.method
        self.tried = self._obj.tried
        self.detail = f"submitter from {self.attribution}"
        if self.attribution != "block_io_start":
            self.detail += " (no block_io_start before Linux 6.5: queued I/O may show a kworker)"
        if self.method == "tracepoint":
            self.detail += "; requests keyed by (dev, sector): front merges lose their request"
        self._check_layout()

    @property
    def attribution(self) -> str:
        """Where the submitting process comes from on this kernel."""
        skipped = self._obj.skipped if self._obj is not None else []
        return "insert/issue context" if "block_io_start" in skipped else "block_io_start"

    def _check_layout(self) -> None:
        sizes = {"hists": 8 * HIST_FIELDS, "procs": PROC_VAL.size, "start": START_VAL.size}
        keys = {"hists": DISK_KEY.size, "procs": PROC_KEY.size, "start": START_KEY_SIZE}
        for name, size in sizes.items():
            m = self._obj.map(name)
            if (m.value_size, m.key_size) != (size, keys[name]):
                raise RuntimeError(f"biolat.h and the collector disagree on {name}: {m.value_size} != {size}")

    def _resolve(self, devs: Iterable[int]) -> set[int]:
        """Update the names of ``devs``; return those whose disk went away since.

        A known disk is only checked to be there (one stat of its
        ``/sys/dev/block`` link) and named again every ``RENAME_CHECK_S``:
        resolving the link through sysfs every refresh cost ~0.8 ms a tick.
        """
        gone = set()
        now = time.monotonic()
        recheck = now - self._names_checked >= RENAME_CHECK_S
        if recheck:
            self._names_checked = now
        for dev in set(devs):
            if not recheck and self._names.get(dev) and os.path.exists(dev_link(dev, self._sys_root)):
                continue
            name = disk_name(dev, self._sys_root)
            if name or dev not in self._names:
                self._names[dev] = name
            elif self._names[dev]:
                gone.add(dev)  # keeps its last name for this last sample
        return gone

    def forget(self, pids: set[int]) -> None:
        """Drop the kernel's entries of processes that have exited (and were shown)."""
        last = self._last
        if not pids or last is None or self._obj is None:
            return
        keys = [PROC_KEY.pack(p.pid, p.dev, p.op) for p in last.procs if p.pid in pids]
        self._deleted_procs += self._obj.map("procs").delete(keys)

    def sample(self) -> BiolatSample:
        """Read every map once (batch lookups) and return cumulative counters."""
        obj = self._obj
        ts_ns = time.monotonic_ns()
        hists = obj.map("hists").dump()
        procs = obj.map("procs").dump()
        starts = obj.map("start").dump()
        counters = obj.map("counters").dump()
        words = memoryview(counters.values).cast("Q")
        c = [sum(words[i * counters.ncpu : (i + 1) * counters.ncpu]) for i in range(counters.count)]
        devs = [k[0] for k in DISK_KEY.iter_unpack(hists.keys)]
        gone = self._resolve(devs + [k[1] for k in PROC_KEY.iter_unpack(procs.keys)])
        names = self._names
        if gone:
            # A removed disk's histograms are shown one last time, then freed:
            # the map is not an LRU, and hot-plugged disks come and go.
            size = DISK_KEY.size
            keys = [hists.keys[i * size : (i + 1) * size] for i, dev in enumerate(devs) if dev in gone]
            obj.map("hists").delete(keys)
        self._last = BiolatSample(
            ts_ns=ts_ns,
            disks=decode_hists(hists.keys, hists.values, hists.ncpu, names),
            procs=decode_procs(procs.keys, procs.values, names),
            attribution=self.attribution,
            in_flight=sum(v[3] for v in START_VAL.iter_unpack(starts.values)),
            unmatched=c[DEFS["BL_UNMATCHED"]],
            unissued=c[DEFS["BL_UNISSUED"]],
            requeues=c[DEFS["BL_REQUEUES"]],
            merges=c[DEFS["BL_MERGES"]],
            stale_starts=c[DEFS["BL_STALE"]],
            evicted_starts=max(0, c[DEFS["BL_START_INSERTS"]] - c[DEFS["BL_START_DELETES"]] - starts.count),
            failed_starts=c[DEFS["BL_START_LOST"]],
            lost_disks=c[DEFS["BL_DISK_LOST"]],
            evicted_procs=max(0, c[DEFS["BL_PROC_INSERTS"]] - procs.count - self._deleted_procs),
            lost_procs=c[DEFS["BL_PROC_LOST"]],
            missed_runs=obj.recursion_misses(),
        )
        return self._last

    def pids(self, sample: BiolatSample) -> set[int]:
        """Pids of the per-process table."""
        return {p.pid for p in sample.procs}

    def comms(self, sample: BiolatSample) -> Mapping[int, str]:
        """The kernel's name of each process of the per-process table."""
        return pid_comms(sample.procs)

    def close(self) -> None:
        """Detach and free; safe to call twice."""
        if self._obj is not None:
            self._obj.close()
            self._obj = None
