"""Read BPF maps in bulk: one batch syscall per refresh where the kernel allows it.

A dump is two flat byte strings (keys and values) that collectors decode with
``struct.iter_unpack``; no per-entry Python objects are made here. Per-CPU maps
return ``ncpu`` value slots per entry, each padded to 8 bytes, as the kernel
lays them out; ``sum_percpu`` folds them.
"""

from __future__ import annotations

import errno
from array import array
from dataclasses import dataclass
from typing import Any

from bpftop.bpf._ffi import ffi, lib
from bpftop.bpf.errors import BpfError

# enum bpf_map_type values of the per-CPU kinds (uapi/linux/bpf.h).
PERCPU_TYPES = {5, 6, 10, 15}  # PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH, PERCPU_CGROUP_STORAGE
ARRAY_TYPES = {2, 6}  # ARRAY, PERCPU_ARRAY: keys are 0..max_entries-1, never missing


@dataclass(frozen=True)
class MapDump:
    """All entries of a map at one instant.

    Attributes:
        count: number of entries.
        keys: ``count * key_size`` bytes.
        values: ``count * value_stride`` bytes.
        key_size: bytes per key.
        value_stride: bytes per entry (``ncpu * round8(value_size)`` for per-CPU maps).
        ncpu: value slots per entry (1 unless per-CPU).
    """

    count: int
    keys: bytes
    values: bytes
    key_size: int
    value_stride: int
    ncpu: int


def possible_cpus() -> int:
    """Number of possible CPUs, the per-CPU value count the kernel uses."""
    n = lib().libbpf_num_possible_cpus()
    if n < 0:
        raise BpfError("count possible CPUs", n)
    return int(n)


class BpfMap:
    """One map of a loaded object. Buffers are allocated once and reused."""

    def __init__(self, handle: Any, name: str) -> None:
        lib_ = lib()
        self.name = name
        self.fd = lib_.bpf_map__fd(handle)
        self.key_size = int(lib_.bpf_map__key_size(handle))
        self.value_size = int(lib_.bpf_map__value_size(handle))
        self.max_entries = int(lib_.bpf_map__max_entries(handle))
        self.map_type = int(lib_.bpf_map__type(handle))
        self.ncpu = possible_cpus() if self.map_type in PERCPU_TYPES else 1
        # Per-CPU values come one slot per CPU, each rounded up to 8 bytes.
        percpu = self.map_type in PERCPU_TYPES
        slot = (self.value_size + 7) & ~7 if percpu else self.value_size
        self.value_stride = slot * self.ncpu
        self._batch_ok = True
        self._delete_batch_ok = True
        # Allocated by the first dump(): a map only looked up (a stack trace
        # map holds 16 MB of buckets) never needs them.
        self._keys: Any = None
        self._values: Any = None
        self._tokens = (ffi.new("char[]", max(self.key_size, 8)), ffi.new("char[]", max(self.key_size, 8)))

    def dump(self) -> MapDump:
        """Return every entry, by batch lookup or, on older kernels, key iteration."""
        if self._keys is None:
            self._keys = ffi.new("char[]", self.key_size * self.max_entries)
            self._values = ffi.new("char[]", self.value_stride * self.max_entries)
        if self._batch_ok:
            try:
                return self._dump_batch()
            except _BatchUnsupportedError:
                self._batch_ok = False
        return self._dump_iterate()

    def _dump_batch(self) -> MapDump:
        lib_ = lib()
        total = 0
        count = ffi.new("__u32 *")
        in_tok, out_tok = ffi.NULL, self._tokens[0]
        while total < self.max_entries:
            count[0] = self.max_entries - total
            ret = lib_.bpf_map_lookup_batch(
                self.fd,
                in_tok,
                out_tok,
                self._keys + total * self.key_size,
                self._values + total * self.value_stride,
                count,
                ffi.NULL,
            )
            err = -ret if ret < 0 else 0
            if err and err != errno.ENOENT:
                if err in (errno.EINVAL, errno.ENOTSUP, 524):  # 524: ENOTSUPP (kernel-internal)
                    raise _BatchUnsupportedError
                raise BpfError(f"batch lookup of map {self.name}", err)
            total += count[0]
            if err == errno.ENOENT:
                break
            in_tok = out_tok
            out_tok = self._tokens[1] if out_tok == self._tokens[0] else self._tokens[0]
        return self._result(total)

    def _dump_iterate(self) -> MapDump:
        lib_ = lib()
        key = ffi.new("char[]", self.key_size)
        total = 0
        prev = ffi.NULL
        while total < self.max_entries:
            if lib_.bpf_map_get_next_key(self.fd, prev, key):
                break
            ffi.memmove(self._keys + total * self.key_size, key, self.key_size)
            # An entry deleted between the two calls is simply skipped.
            if lib_.bpf_map_lookup_elem(self.fd, key, self._values + total * self.value_stride) == 0:
                total += 1
            prev = self._keys + (total - 1) * self.key_size if total else key
        return self._result(total)

    def _result(self, total: int) -> MapDump:
        return MapDump(
            count=total,
            keys=ffi.buffer(self._keys, total * self.key_size)[:],
            values=ffi.buffer(self._values, total * self.value_stride)[:],
            key_size=self.key_size,
            value_stride=self.value_stride,
            ncpu=self.ncpu,
        )

    def lookup(self, key: bytes) -> bytes | None:
        """Return one value (all CPUs' slots for per-CPU maps), None if absent."""
        buf = ffi.new("char[]", self.value_stride)
        if lib().bpf_map_lookup_elem(self.fd, key, buf):
            return None
        return ffi.buffer(buf, self.value_stride)[:]

    def delete(self, keys: list[bytes]) -> int:
        """Delete entries; return how many existed (missing keys are not errors).

        One ``BPF_MAP_DELETE_BATCH`` call for many keys (Linux >= 5.6, hash
        maps); key by key where the kernel or the map type has no batch delete
        (a stack-trace map).
        """
        if not keys:
            return 0
        if self._delete_batch_ok:
            try:
                return self._delete_batch(keys)
            except _BatchUnsupportedError:
                self._delete_batch_ok = False
        lib_ = lib()
        return sum(1 for key in keys if lib_.bpf_map_delete_elem(self.fd, key) == 0)

    def _delete_batch(self, keys: list[bytes]) -> int:
        # The kernel stops at the first key that is missing (ENOENT), having
        # deleted the ones before it: skip that key and go on from the next.
        lib_ = lib()
        blob = ffi.from_buffer(b"".join(keys))
        count = ffi.new("__u32 *")
        deleted = done = 0
        while done < len(keys):
            count[0] = len(keys) - done
            ret = lib_.bpf_map_delete_batch(self.fd, blob + done * self.key_size, count, ffi.NULL)
            err = -ret if ret < 0 else 0
            if err and err != errno.ENOENT:
                if err in (errno.EINVAL, errno.ENOTSUP, 524) and not done:  # 524: ENOTSUPP
                    raise _BatchUnsupportedError
                raise BpfError(f"batch delete in map {self.name}", err)
            deleted += count[0]
            done += count[0] + (1 if err else 0)
        return deleted

    def update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        """Write one entry; raise BpfError on failure."""
        ret = lib().bpf_map_update_elem(self.fd, key, value, flags)
        if ret:
            raise BpfError(f"update map {self.name}", ret)


class _BatchUnsupportedError(Exception):
    pass


def sum_percpu(
    values: bytes, count: int, ncpu: int, fields: int, max_fields: frozenset[int] = frozenset()
) -> list[list[int]]:
    """Fold per-CPU u64 values into one row per entry.

    Args:
        values: the ``MapDump.values`` of a per-CPU map whose value is ``fields`` u64s.
        count: entries in ``values``.
        ncpu: value slots per entry.
        fields: u64 fields per value.
        max_fields: field indexes combined with ``max`` instead of ``sum`` (e.g. max latency).

    Returns:
        ``count`` rows of ``fields`` ints.
    """
    words = array("Q")
    words.frombytes(values)
    rows = []
    stride = ncpu * fields
    for e in range(count):
        chunk = words[e * stride : (e + 1) * stride]
        rows.append([(max if f in max_fields else sum)(chunk[f::fields]) for f in range(fields)])
    return rows
