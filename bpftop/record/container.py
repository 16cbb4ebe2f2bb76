"""The file layout of a recording: magic, framed records, compression.

See docs/recording.md for the whole format. In short: 8 bytes of magic, then
records, each ``sync (2 bytes) | type (1 byte) | payload length (u32 LE) |
CRC-32 of type, length and payload (u32 LE) | payload``. The first record is
the JSON header; frame records follow. A record is written with one
``write(2)``, so a recorder killed at any moment leaves whole records and at
most one torn one at the end, which the CRC (or the missing bytes) betrays.
"""

from __future__ import annotations

import errno
import json
import lzma
import os
import stat
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from bpftop.record.errors import RecordingError

MAGIC = b"\x89bpftop\n"  # the high bit and the newline catch text-mode mangling
SYNC = b"\xb5\x52"
RECORD = struct.Struct("<2scII")
FRAME_PREFIX = struct.Struct("<IIqdB")  # number, base, ts_ns, wall, compression
HEADER, KEY, DELTA = b"H", b"K", b"D"
FORMAT_NAME = "bpftop-recording"
FORMAT_VERSION = 2  # a reader reads its own version and older ones (2 added CARRIED)
# Caps on what one record may claim. Recordings come from other machines, so
# a frame must not make the reader allocate more than a few times its cap: a
# busy machine's key frame (3,000 (pid, syscall) pairs, benchmarks/) is 120 kB
# of body decoding to ~1 MB, so 16 MB is >100 times that. The writer refuses
# to write a frame over the cap rather than make a file its readers refuse.
MAX_BODY = 16 << 20  # decompressed; more is a decompression bomb, not a frame
MAX_SKELETON = 4 << 20  # of the body: JSON decodes to up to ~25 times its size
MAX_PAYLOAD = MAX_BODY + (1 << 20)  # a stored or compressed body, and the prefix
MAX_HEADER = 1 << 20
COMPRESSIONS = {"none": 0, "zlib": 1, "lzma": 2}
# Flag on a delta's compression byte: zlib was primed with the previous frame's
# JSON skeleton (a preset dictionary), which the reader has from decoding it.
PRIMED = 0x80
# Flag on the compression byte (version 2): the frame's per-process tables are
# those of the last frame without the flag (see RecordingWriter's detail).
CARRIED = 0x40
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 6}]


def record_bytes(kind: bytes, payload: bytes) -> bytes:
    """One framed record."""
    head = kind + struct.pack("<I", len(payload))
    return RECORD.pack(SYNC, kind, len(payload), zlib.crc32(payload, zlib.crc32(head))) + payload


def record_crc_ok(kind: bytes, crc: int, payload: bytes) -> bool:
    """Does ``payload`` match the CRC stored in its record header?"""
    head = kind + struct.pack("<I", len(payload))
    return zlib.crc32(payload, zlib.crc32(head)) == crc


def compress(body: bytes, method: int, primer: bytes = b"") -> bytes:
    """Compress a frame body with one of ``COMPRESSIONS`` (``method | PRIMED``: with ``primer``)."""
    if method == 1 | PRIMED:
        packer = zlib.compressobj(6, zdict=primer)
        return packer.compress(body) + packer.flush()
    if method == 1:
        return zlib.compress(body, 6)
    if method == 2:
        return lzma.compress(body, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    return body


def decompress(data: bytes | memoryview, method: int, primer: bytes = b"") -> bytes:
    """Inverse of ``compress``, refusing output beyond ``MAX_BODY``.

    Raises:
        ValueError: unknown method, bad data, or too much output.
    """
    # max_length stops a bomb after MAX_BODY + 1 bytes of output: the
    # decompressors never hold more, whatever the stream claims.
    if method == 0:
        out = bytes(data)
        done = True
    elif method in (1, 1 | PRIMED):
        inflater = zlib.decompressobj(zdict=primer) if method & PRIMED else zlib.decompressobj()
        out = inflater.decompress(data, MAX_BODY + 1)
        done = inflater.eof
    elif method == 2:
        unpacker = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
        out = unpacker.decompress(bytes(data), MAX_BODY + 1)
        done = unpacker.eof
    else:
        raise ValueError(f"unknown compression {method}")
    if len(out) > MAX_BODY:
        raise ValueError(f"body decompresses to more than {MAX_BODY >> 20} MB (the cap on a frame)")
    if not done:
        raise ValueError("compressed body ends early")
    return out


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def open_recording(path: str) -> tuple[int, int]:
    """Open a recording to read: (fd, size). Regular files only.

    The path is the user's own choice on the command line, so a symbolic link
    is followed (as ``less`` would); what it leads to is checked on the
    opened fd, never by a ``stat`` before the ``open``. ``O_NONBLOCK`` keeps a
    FIFO from blocking the ``open`` until a writer comes (forever).

    Raises:
        RecordingError: cannot open, or not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket cannot be opened at all
            raise RecordingError(f"{path} is not a regular file (a socket)") from None
        raise RecordingError(f"cannot open {path}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a file")
        raise RecordingError(f"{path} is not a regular file ({kind})")
    return fd, info.st_size


@dataclass(frozen=True)
class FramePrefix:
    """The uncompressed start of a frame record: enough to index without decoding.

    Attributes:
        number: frame number, from 0, consecutive within a recording.
        base: the frame a delta applies to (``number - 1``); a key frame's own number.
        ts_ns: the frame's CLOCK_MONOTONIC time on the recording host.
        wall: its epoch seconds.
        compression: one of ``COMPRESSIONS``' values, ``| PRIMED`` for primed deltas.
        carried: the per-process tables are those of the last frame not carried.
    """

    number: int
    base: int
    ts_ns: int
    wall: float
    compression: int
    carried: bool = False


def frame_payload(prefix: FramePrefix, compressed_body: bytes) -> bytes:
    """The payload of a frame record."""
    method = prefix.compression | (CARRIED if prefix.carried else 0)
    head = FRAME_PREFIX.pack(prefix.number, prefix.base, prefix.ts_ns, prefix.wall, method)
    return head + compressed_body


def parse_prefix(payload: bytes | memoryview) -> FramePrefix | None:
    """The prefix of a frame payload, None if the payload is too short."""
    if len(payload) < FRAME_PREFIX.size:
        return None
    number, base, ts_ns, wall, method = FRAME_PREFIX.unpack_from(payload, 0)
    return FramePrefix(number, base, ts_ns, wall, method & ~CARRIED, bool(method & CARRIED))


def header_payload(header: dict[str, Any]) -> bytes:
    """The header record's payload: JSON, uncompressed, so ``head -c 600 FILE`` shows it."""
    return json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, **header}, indent=1).encode()


def parse_header(payload: bytes) -> dict[str, Any]:
    """Check and return the header.

    Raises:
        RecordingError: not a bpftop header, or a version this reader does not know.
    """
    try:
        header = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise RecordingError(f"the header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise RecordingError("not a bpftop recording (bad header)")
    version = header.get("version")
    if type(version) is not int or version < 1:
        raise RecordingError(f"bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise RecordingError(
            f"recorded in format version {version} (bpftop {header.get('bpftop', '?')}); "
            f"this bpftop reads up to version {FORMAT_VERSION}: upgrade bpftop to replay it"
        )
    return header
