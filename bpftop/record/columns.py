"""Columns of integers as compact blobs, and the body layout of a frame record.

Integers become unsigned words (zigzag-mapped when some are negative) of the
narrowest width that holds the column (1, 2, 4 or 8 bytes) and stored byte plane by byte plane (all
lowest bytes, then all second bytes, ...): bytes of the same significance sit
together, which the record's compression handles far better than interleaved.
Numbers outside the signed 64-bit range are not packed here; the codec stores
them as JSON instead.

A frame body is ``u32 json_length, json, u32 blob_count, u32 blob_length[n],
blobs``: the JSON skeleton refers to blobs by index.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence

_U32 = struct.Struct("<I")
_MIN, _MAX = -(1 << 63), (1 << 63) - 1
_TYPECODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
ZIGZAG = 0x80
assert array("I").itemsize == 4 and array("Q").itemsize == 8
MAX_BLOBS = 1 << 20


class BodyError(ValueError):
    """A body or blob that does not have the shape it claims."""


def pack_ints(values: Sequence[int]) -> bytes | None:
    """Pack signed integers; None if one does not fit in 64 bits.

    The blob is one byte giving the width (1, 2, 4 or 8 bytes: the narrowest
    that holds every value), ``| ZIGZAG`` when some values are negative and
    were zigzag-mapped, then that many byte planes.
    """
    if not values:
        return b""
    low, high = min(values), max(values)
    if low < _MIN or high > _MAX:
        return None
    words_of: Sequence[int] = values
    if low < 0:
        words_of = [(v << 1) ^ (v >> 63) for v in values]
        high = max(words_of)
    width = 1 if high < 1 << 8 else 2 if high < 1 << 16 else 4 if high < 1 << 32 else 8
    words = array(_TYPECODES[width], words_of)
    if sys.byteorder == "big":
        words.byteswap()
    raw = words.tobytes()
    head = bytes((width | (ZIGZAG if low < 0 else 0),))
    return head + (raw if width == 1 else b"".join(raw[i::width] for i in range(width)))


def unpack_ints(blob: bytes | memoryview, count: int) -> list[int]:
    """Inverse of ``pack_ints``; ``count`` is how many the caller expects.

    Raises:
        BodyError: the blob does not hold exactly ``count`` numbers.
    """
    if not count:
        if len(blob):
            raise BodyError("integer column with data for no rows")
        return []
    mode = blob[0] if len(blob) else 0
    width = mode & ~ZIGZAG
    if width not in _TYPECODES or len(blob) != 1 + width * count:
        raise BodyError(f"integer column of {len(blob)} bytes, expected {count} numbers")
    raw = bytearray(width * count)
    for plane in range(width):
        raw[plane::width] = blob[1 + plane * count : 1 + (plane + 1) * count]
    words = array(_TYPECODES[width])
    words.frombytes(raw)
    if sys.byteorder == "big":
        words.byteswap()
    if mode & ZIGZAG:
        return [(w >> 1) ^ -(w & 1) for w in words]
    return words.tolist()


def join_body(skeleton: bytes, blobs: Sequence[bytes]) -> bytes:
    """Lay out a body: the JSON skeleton, then the blobs it refers to."""
    parts = [_U32.pack(len(skeleton)), skeleton, _U32.pack(len(blobs))]
    parts.extend(_U32.pack(len(b)) for b in blobs)
    parts.extend(blobs)
    return b"".join(parts)


def split_body(body: bytes) -> tuple[bytes, list[memoryview]]:
    """Inverse of ``join_body``.

    Raises:
        BodyError: lengths that do not add up.
    """
    view = memoryview(body)
    if len(view) < 8:
        raise BodyError("body too short")
    (json_len,) = _U32.unpack_from(view, 0)
    pos = 4 + json_len
    if pos + 4 > len(view):
        raise BodyError("skeleton runs past the body")
    skeleton = bytes(view[4:pos])
    (count,) = _U32.unpack_from(view, pos)
    pos += 4
    if count > MAX_BLOBS or pos + 4 * count > len(view):
        raise BodyError(f"bad blob count {count}")
    lengths = [_U32.unpack_from(view, pos + 4 * i)[0] for i in range(count)]
    pos += 4 * count
    if pos + sum(lengths) != len(view):
        raise BodyError("blob lengths do not match the body size")
    blobs = []
    for length in lengths:
        blobs.append(view[pos : pos + length])
        pos += length
    return skeleton, blobs
