"""Count and read the entries of any map, by fd, at a bounded cost.

Counting uses batch lookups (Linux >= 5.6 for hashes) into a fixed chunk
buffer, so a map of any size costs ``entries / CHUNK`` syscalls and no more
memory; maps whose kind has no batch op (LPM tries, older kernels) fall back
to ``get_next_key`` walks. Either way the count stops at ``cap``.
"""

from __future__ import annotations

import errno
from typing import Any

from bpftop.bpf._ffi import ffi, lib
from bpftop.bpf.errors import BpfError

CHUNK = 256
CHUNK_BYTES = 1 << 20  # fewer entries per batch for maps with huge values
MAX_SHAPES = 64
_NO_BATCH = {errno.EINVAL, errno.ENOTSUP, 524}  # 524: ENOTSUPP (kernel-internal)


class _Buffers:
    """Chunk buffers for one (key size, value stride) shape."""

    def __init__(self, key_size: int, stride: int) -> None:
        self.chunk = max(1, min(CHUNK, CHUNK_BYTES // max(key_size + stride, 1)))
        self.keys = ffi.new("char[]", max(key_size, 1) * self.chunk)
        self.values = ffi.new("char[]", max(stride, 1) * self.chunk)
        self.tokens = (ffi.new("char[]", max(key_size, 8)), ffi.new("char[]", max(key_size, 8)))


class EntryCounter:
    """Counts map entries; keeps buffers per map shape between refreshes."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[int, int], _Buffers] = {}
        self._count = ffi.new("__u32 *")

    def _bufs(self, key_size: int, stride: int) -> _Buffers:
        shape = (key_size, stride)
        if shape not in self._buffers:
            if len(self._buffers) >= MAX_SHAPES:
                self._buffers.clear()
            self._buffers[shape] = _Buffers(key_size, stride)
        return self._buffers[shape]

    def count(self, fd: int, key_size: int, stride: int, cap: int) -> int:
        """Entries in the map, at most ``cap`` (then the count is ``cap``)."""
        try:
            return self._count_batch(fd, key_size, stride, cap)
        except _NoBatchError:
            return self._count_walk(fd, key_size, cap)

    def _count_batch(self, fd: int, key_size: int, stride: int, cap: int) -> int:
        lib_ = lib()
        b = self._bufs(key_size, stride)
        total = 0
        in_tok, out_tok = ffi.NULL, b.tokens[0]
        while total < cap:
            self._count[0] = b.chunk
            ret = lib_.bpf_map_lookup_batch(fd, in_tok, out_tok, b.keys, b.values, self._count, ffi.NULL)
            err = -ret if ret < 0 else 0
            if err and err != errno.ENOENT:
                if err in _NO_BATCH and total == 0:
                    raise _NoBatchError
                raise BpfError("count map entries", err)
            total += self._count[0]
            if err == errno.ENOENT:
                break
            in_tok = out_tok
            out_tok = b.tokens[1] if out_tok == b.tokens[0] else b.tokens[0]
        return min(total, cap)

    def _count_walk(self, fd: int, key_size: int, cap: int) -> int:
        lib_ = lib()
        keys = (ffi.new("char[]", max(key_size, 1)), ffi.new("char[]", max(key_size, 1)))
        total = 0
        cur: Any = ffi.NULL
        while total < cap and lib_.bpf_map_get_next_key(fd, cur, keys[total % 2]) == 0:
            cur = keys[total % 2]
            total += 1
        return total


class _NoBatchError(Exception):
    pass


def read_entries(
    fd: int, key_size: int, stride: int, limit: int
) -> tuple[list[tuple[bytes, bytes | None]], bool]:
    """Up to ``limit`` entries as ``(key, value)``, and whether more exist.

    Walks keys with ``get_next_key`` and looks each one up: slower than a
    batch, but it works for every map kind that supports lookups (arrays of
    maps give map ids; a value that cannot be read is None).
    """
    lib_ = lib()
    out: list[tuple[bytes, bytes | None]] = []
    keys = (ffi.new("char[]", max(key_size, 1)), ffi.new("char[]", max(key_size, 1)))
    value = ffi.new("char[]", max(stride, 1))
    cur: Any = ffi.NULL
    while lib_.bpf_map_get_next_key(fd, cur, keys[len(out) % 2]) == 0:
        if len(out) == limit:
            return out, True
        key = keys[len(out) % 2]
        got = lib_.bpf_map_lookup_elem(fd, key, value) == 0
        out.append((ffi.buffer(key, key_size)[:], ffi.buffer(value, stride)[:] if got else None))
        cur = key
    return out, False
