"""Encode a Frame, whole or as a delta against the previous one, and decode it.

The frame becomes a JSON skeleton plus binary integer columns
(``columns.py``). JSON values stand for themselves (a JSON array is a tuple);
a JSON object always has exactly one key, a tag:

=====  =====================================================================
``=``  unchanged since the previous frame
``o``  ``[type name, {field: node}]``: a dataclass or a lone NamedTuple
``m``  ``[[key node, value node], ...]``: a mapping
``t``  a tuple of rows of one type, stored by column (``tables.py``)
``T``  a mapping whose values are rows of one type (``Frame.procs``)
``L``  a list (frames hold tuples; lists are kept apart to compare equal)
``b``  base64 of bytes
=====  =====================================================================

A delta frame encodes each value against the value at the same place in the
previous frame: unchanged parts become ``=``, tables keep only the rows that
changed (as per-field differences) or appeared. Decoding walks the previous
frame in step, so the decoder needs nothing but that frame.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from bpftop.frame import Frame
from bpftop.record import tables, types
from bpftop.record.columns import BodyError, join_body, split_body
from bpftop.record.container import MAX_BODY, MAX_SKELETON
from bpftop.record.errors import UnknownTypeError

ABSENT: Any = object()  # "no previous value", unlike a previous value of None
# What one frame may decode to, whatever its counts claim (a file from another
# machine): values built from columns (a cell of a row, an integer of a blob),
# about 40 bytes each at most, so ~160 MB; a busy machine's frame has ~50,000.
MAX_VALUES = 4_000_000
ROWS_FREE = 4096  # rows a frame may build beyond one per byte of its body
SAME = {"=": 0}
_SCALARS = (type(None), bool, int, float, str)


class Encoder:
    """Turns values into nodes, collecting integer blobs on the way."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []

    def blob(self, data: bytes) -> int:
        """Keep ``data``; return its index."""
        self.blobs.append(data)
        return len(self.blobs) - 1

    def node(self, value: Any, prev: Any = ABSENT) -> tuple[Any, bool]:
        """Encode ``value`` against ``prev``; also say whether it is unchanged.

        Raises:
            TypeError: a value of a type recordings cannot hold.
        """
        kind = type(value)
        if kind in _SCALARS:
            return value, type(prev) is kind and prev == value
        if kind is tuple or kind is list:
            if value and _row_like(value[0]) and _uniform(value):
                node, same = tables.encode_table(self, value, prev)
            else:
                node, same = self._sequence(value, prev)
            return ({"L": node} if kind is list else node), same
        if isinstance(value, Mapping):
            return self._mapping(value, prev)
        if types.is_record_class(kind):
            return self._object(value, prev)
        if kind is bytes:
            return {"b": base64.b64encode(value).decode()}, type(prev) is bytes and prev == value
        raise TypeError(f"recordings cannot hold {kind.__name__} values")

    def _sequence(self, value: tuple[Any, ...] | list[Any], prev: Any) -> tuple[Any, bool]:
        olds = prev if type(prev) is type(value) and len(prev) == len(value) else None
        if olds is not None and all(type(v) in _SCALARS for v in value):
            return list(value), value == olds and all(
                type(a) is type(b) for a, b in zip(value, olds, strict=False)
            )
        out, all_same = [], olds is not None
        for index, item in enumerate(value):
            node, same = self.node(item, olds[index] if olds is not None else ABSENT)
            out.append(SAME if same and type(item) not in _SCALARS else node)
            all_same = all_same and same
        return out, all_same

    def _mapping(self, value: Mapping[Any, Any], prev: Any) -> tuple[Any, bool]:
        if value and _row_like(next(iter(value.values()))) and _uniform(list(value.values())):
            return tables.encode_table(self, value, prev)
        olds = prev if isinstance(prev, Mapping) else {}
        entries, all_same = [], isinstance(prev, Mapping) and list(prev) == list(value)
        for key, item in value.items():
            node, same = self.node(item, olds.get(key, ABSENT))
            entries.append([self.node(key)[0], SAME if same and type(item) not in _SCALARS else node])
            all_same = all_same and same
        return {"m": entries}, all_same

    def _object(self, value: Any, prev: Any) -> tuple[Any, bool]:
        rtype = types.for_class(type(value))
        olds = rtype.values(prev) if type(prev) is type(value) else None
        fields, all_same = {}, olds is not None
        for index, item in enumerate(rtype.values(value)):
            node, same = self.node(item, olds[index] if olds is not None else ABSENT)
            fields[rtype.fields[index]] = SAME if same and type(item) not in _SCALARS else node
            all_same = all_same and same
        return {"o": [rtype.name, fields]}, all_same


def _row_like(value: Any) -> bool:
    """A NamedTuple, or a dataclass of scalars: stored in tables, by column."""
    kind = type(value)
    if not types.is_record_class(kind):
        return False
    return kind is not Frame and (
        issubclass(kind, tuple) or all(type(v) in _SCALARS for v in types.for_class(kind).values(value))
    )


def _uniform(items: list[Any] | tuple[Any, ...]) -> bool:
    return len(set(map(type, items))) == 1


class Decoder:
    """Turns nodes back into values, walking the previous frame alongside.

    Attributes:
        unknown: names of types the file has and this bpftop does not know;
            mapping entries holding them (a newer collector's samples) are dropped.
    """

    def __init__(self, blobs: list[memoryview], body_size: int = 0) -> None:
        self.blobs = blobs
        self.unknown: set[str] = set()
        self.body_size = body_size
        self._rows_left = body_size + ROWS_FREE
        self._values_left = MAX_VALUES

    def spend(self, values: int, rows: int = 0) -> None:
        """Account for values (and rows) about to be built, before allocating them.

        A row of constant columns costs no bytes in the body, so a count in a
        kilobyte could claim millions; the writer never stores more rows than
        a frame has bytes (plus a few thousand), nor frames of this size.

        Raises:
            BodyError: the frame claims more than its bytes could hold, or
                more than ``MAX_VALUES`` values.
        """
        self._rows_left -= rows
        self._values_left -= values
        if self._rows_left < 0:
            raise BodyError(f"tables claim more rows than a frame of {self.body_size} bytes holds")
        if self._values_left < 0:
            raise BodyError(f"frame decodes to more than {MAX_VALUES:,} values (the cap on a frame)")

    def blob(self, index: Any) -> memoryview:
        """The blob a node refers to."""
        if type(index) is not int or not 0 <= index < len(self.blobs):
            raise BodyError(f"bad blob index {index!r}")
        return self.blobs[index]

    def node(self, node: Any, prev: Any = ABSENT) -> Any:
        """Decode one node (``prev``: the value at the same place in the previous frame)."""
        if type(node) in _SCALARS:
            return node
        if type(node) is list:
            olds = prev if type(prev) is tuple and len(prev) == len(node) else None
            return tuple(self.node(n, olds[i] if olds is not None else ABSENT) for i, n in enumerate(node))
        if type(node) is not dict or len(node) != 1:
            raise BodyError(f"bad node {str(node)[:40]!r}")
        ((tag, body),) = node.items()
        decode = self._tags.get(tag) if type(tag) is str else None
        if decode is None:
            raise BodyError(f"unknown tag {tag!r}")
        return decode(self, body, prev)

    def _same(self, body: Any, prev: Any) -> Any:
        if prev is ABSENT:
            raise UnknownTypeError("'unchanged' with no previous value")
        return prev

    def _list(self, body: Any, prev: Any) -> list[Any]:
        return list(self.node(body, tuple(prev) if type(prev) is list else ABSENT))

    def _bytes(self, body: Any, prev: Any) -> bytes:
        if type(body) is not str:
            raise BodyError("bad bytes node")
        return base64.b64decode(body, validate=True)

    def _table(self, body: Any, prev: Any) -> Any:
        return tables.decode_table(self, body, prev, mapping=False)

    def _row_mapping(self, body: Any, prev: Any) -> Any:
        return tables.decode_table(self, body, prev, mapping=True)

    def _object(self, body: Any, prev: Any) -> Any:
        if type(body) is not list or len(body) != 2 or type(body[1]) is not dict:
            raise BodyError("bad object node")
        rtype = types.by_name(body[0])
        olds = dict(zip(rtype.fields, rtype.values(prev), strict=False)) if type(prev) is rtype.cls else {}
        file_fields = tuple(body[1])
        values = [self.node(body[1][f], olds.get(f, ABSENT)) for f in file_fields]
        for name, value in zip(file_fields, values, strict=True):
            if not rtype.valid(name, (value,)):
                raise BodyError(f"{rtype.name}.{name}: unexpected {type(value).__name__}")
        return rtype.builder(file_fields)(values)

    def _mapping(self, body: Any, prev: Any) -> dict[Any, Any]:
        if type(body) is not list:
            raise BodyError("bad mapping node")
        olds = prev if isinstance(prev, Mapping) else {}
        out = {}
        for entry in body:
            if type(entry) is not list or len(entry) != 2:
                raise BodyError("bad mapping entry")
            key = self.node(entry[0])
            try:
                out[key] = self.node(entry[1], olds.get(key, ABSENT))
            except UnknownTypeError as exc:
                self.unknown.add(str(exc))
        return out

    _tags: ClassVar[dict[str, Callable[[Decoder, Any, Any], Any]]] = {
        "=": _same,
        "t": _table,
        "T": _row_mapping,
        "o": _object,
        "m": _mapping,
        "L": _list,
        "b": _bytes,
    }


def encode_frame(frame: Frame, prev: Frame | None = None) -> bytes:
    """A frame body: whole (``prev`` None) or as a delta against ``prev``."""
    encoder = Encoder()
    node, _ = encoder.node(frame, ABSENT if prev is None else prev)
    skeleton = json.dumps(node, separators=(",", ":")).encode()
    return join_body(skeleton, encoder.blobs)


def oversized(body: bytes) -> str:
    """Why a frame body is over a cap readers enforce ("" if it is not): the writer's check."""
    if len(body) > MAX_BODY:
        return f"a frame of {len(body) / 1e6:.1f} MB is over the format's {MAX_BODY >> 20} MB cap"
    skeleton_length = len(split_body(body)[0])
    if skeleton_length > MAX_SKELETON:
        size_mb = skeleton_length / 1e6
        return f"a frame's JSON of {size_mb:.1f} MB is over the format's {MAX_SKELETON >> 20} MB cap"
    return ""


def decode_frame(body: bytes, prev: Frame | None = None) -> tuple[Frame, set[str]]:
    """Inverse of ``encode_frame``; also returns the unknown types it dropped.

    Raises:
        Exception: anything a malformed body provokes; the reader wraps it.
    """
    skeleton, blobs = split_body(body)
    if len(skeleton) > MAX_SKELETON:  # json.loads would build up to ~25 times its size
        raise BodyError(f"skeleton of {len(skeleton):,} bytes, over the {MAX_SKELETON >> 20} MB cap")
    decoder = Decoder(blobs, len(body))
    frame = decoder.node(json.loads(skeleton), ABSENT if prev is None else prev)
    if not isinstance(frame, Frame):
        raise BodyError(f"a record holds a {type(frame).__name__}, not a frame")
    return frame, decoder.unknown
