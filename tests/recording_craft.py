"""Hand-built recordings for the hostile-input tests: every size field is the attacker's.

The writer never produces these files; they follow docs/recording.md byte by
byte so that each one passes the checks in front of the part under attack
(magic, header, CRCs, frame numbers) and reaches it.
"""

from __future__ import annotations

import json
import lzma
import struct
import zlib
from typing import Any

from bpftop.record.columns import join_body
from bpftop.record.container import (
    DELTA,
    FRAME_PREFIX,
    HEADER,
    KEY,
    MAGIC,
    SYNC,
    header_payload,
    record_bytes,
)

# Preset 0 builds the bomb fast; the format decodes it with preset 6 (a larger dictionary reads it).
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 0}]


def header() -> bytes:
    """The magic and a valid header record."""
    return MAGIC + record_bytes(
        HEADER, header_payload({"start_wall": 1.0, "collectors": ["syscalls"], "delay_s": 1.0})
    )


def frame_node(**fields: Any) -> dict[str, Any]:
    """A ``frame.Frame`` node: ts_ns and wall given, any other field as a node."""
    return {"o": ["frame.Frame", {"ts_ns": 1, "wall": 1.0, **fields}]}


def status_table(rows: int) -> dict[str, Any]:
    """A ``t`` table of ``rows`` CollectorStatus rows, every column a constant: no bytes per row."""
    columns = [["c", "x"], ["c", True], ["c", ""], ["c", ""], ["c", ""]]
    return {
        "t": {
            "y": "frame.CollectorStatus",
            "f": ["name", "ok", "method", "error", "hint"],
            "n": rows,
            "c": columns,
        }
    }


def body(node: Any, blobs: tuple[bytes, ...] = ()) -> bytes:
    """A frame body holding ``node`` as its skeleton."""
    return join_body(json.dumps(node, separators=(",", ":")).encode(), list(blobs))


def frame(number: int, data: bytes, *, key: bool = True, method: int = 0, base: int | None = None) -> bytes:
    """A frame record whose (already compressed) body is ``data``."""
    if base is None:
        base = number if key else number - 1
    prefix = FRAME_PREFIX.pack(number, base, number * 1_000_000_000, 1.0 + number, method)
    return record_bytes(KEY if key else DELTA, prefix + data)


def zlib_bomb(size: int) -> bytes:
    """A zlib stream of ``size`` zero bytes (about size / 1000 bytes of input)."""
    packer = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [packer.compress(chunk) for _ in range(size >> 20)]
    return b"".join(parts) + packer.flush()


def lzma_bomb(size: int) -> bytes:
    """A raw LZMA2 stream (the format's) of ``size`` zero bytes."""
    packer = lzma.LZMACompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    chunk = bytes(1 << 20)
    parts = [packer.compress(chunk) for _ in range(size >> 20)]
    return b"".join(parts) + packer.flush()


def fake_record_start(length: int, kind: bytes = KEY) -> bytes:
    """A record header whose CRC is wrong: bait for the resynchronising scan."""
    return SYNC + kind + struct.pack("<II", length & 0xFFFFFFFF, 0)
