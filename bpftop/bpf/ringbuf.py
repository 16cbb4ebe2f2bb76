"""Consume a BPF ring buffer (``BPF_MAP_TYPE_RINGBUF``) for rare per-event output.

Events are copied out of the ring inside libbpf's callback and handed to a
Python callable as bytes; keep that callable cheap (append to a list) and do the
decoding on the next refresh. Drops happen in the kernel, when
``bpf_ringbuf_reserve`` fails: programs count them in a map of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bpftop.bpf._ffi import ffi, lib
from bpftop.bpf.errors import BpfError
from bpftop.bpf.maps import BpfMap


class RingBuffer:
    """A libbpf ``ring_buffer`` over one map.

    Args:
        ring: the ring buffer map.
        on_event: called with each event's bytes, in order.
    """

    def __init__(self, ring: BpfMap, on_event: Callable[[bytes], None]) -> None:
        self._on_event = on_event
        self._error: BaseException | None = None

        @ffi.callback("int(void *, void *, size_t)")
        def _sample(_ctx: Any, data: Any, size: int) -> int:
            try:
                self._on_event(ffi.buffer(data, size)[:])
            except BaseException as exc:  # re-raised by poll, outside C
                self._error = exc
                return -1
            return 0

        self._callback = _sample  # keep alive while libbpf holds the pointer
        self._rb = lib().ring_buffer__new(ring.fd, _sample, ffi.NULL, ffi.NULL)
        if self._rb == ffi.NULL:
            raise BpfError(f"ring buffer on map {ring.name}", ffi.errno)

    def poll(self, timeout_ms: int = 0) -> int:
        """Wait up to ``timeout_ms`` for events and deliver them; return how many."""
        return self._check(lib().ring_buffer__poll(self._rb, timeout_ms))

    def consume(self) -> int:
        """Deliver every event already in the ring without waiting."""
        return self._check(lib().ring_buffer__consume(self._rb))

    def _check(self, ret: int) -> int:
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        if ret < 0 and ret != -4:  # -EINTR: a signal, not an error
            raise BpfError("ring buffer poll", ret)
        return max(ret, 0)

    def close(self) -> None:
        """Free the consumer; safe to call twice."""
        if self._rb is not None and self._rb != ffi.NULL:
            lib().ring_buffer__free(self._rb)
        self._rb = None

    def __enter__(self) -> RingBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
