"""A pure-Python reader of raw BTF blobs, as the kernel hands them out by id.

Enough of BTF to name a program's functions (``func_info``), print their
signatures the way ``bpftool prog dump xlated`` does, and decode map keys and
values into plain Python values the way ``bpftool map dump`` formats them
(structs as dicts, ``char`` arrays holding text as strings, enums by name).
Format: Documentation/bpf/btf.rst; program and map BTF is self-contained
(type ids from 1), unlike split module BTF.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

MAGIC = 0xEB9F
HEADER = struct.Struct("<HBBIIIII")
TYPE = struct.Struct("<III")
(UNKN, INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC,
 FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64) = range(20)  # fmt: skip
MODIFIERS = {TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG}
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4
# Bytes of kind-specific data after each type, fixed part and per-vlen part.
_EXTRA = {INT: (4, 0), ARRAY: (12, 0), STRUCT: (0, 12), UNION: (0, 12), ENUM: (0, 8),
          FUNC_PROTO: (0, 8), VAR: (4, 0), DATASEC: (0, 12), DECL_TAG: (4, 0), ENUM64: (0, 12)}  # fmt: skip


class BtfError(ValueError):
    """The blob is not BTF this reader understands."""


class BtfType(NamedTuple):
    """One type: kind, name, ``size`` or referenced ``type``, and its members.

    ``members`` holds (name, type id, offset or value) triples: bit offsets for
    struct members, values for enums, (type, offset, size) for DATASEC as
    (type, offset, size); ``extra`` the INT encoding word or ARRAY triple.
    """

    kind: int
    name: str
    size_or_type: int
    kflag: bool
    members: tuple[tuple[Any, int, int], ...]
    extra: tuple[int, ...]


class Btf:
    """Parsed BTF: ``types[id]`` (id 0 is void) and the string section."""

    def __init__(self, blob: bytes) -> None:
        if len(blob) < HEADER.size:
            raise BtfError("BTF too short")
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = HEADER.unpack_from(blob)
        if magic != MAGIC:
            raise BtfError(f"bad BTF magic {magic:#x}")
        self.strings = blob[hdr_len + str_off : hdr_len + str_off + str_len]
        self.types: list[BtfType] = [BtfType(UNKN, "void", 0, False, (), ())]
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        while pos < end:
            name_off, info, size_or_type = TYPE.unpack_from(blob, pos)
            pos += TYPE.size
            kind, vlen, kflag = (info >> 24) & 0x1F, info & 0xFFFF, bool(info >> 31)
            fixed, per = _EXTRA.get(kind, (0, 0))
            extra: tuple[int, ...] = struct.unpack_from(f"<{fixed // 4}I", blob, pos) if fixed else ()
            pos += fixed
            members = []
            for i in range(vlen if per else 0):
                a, b, c = struct.unpack_from("<III", blob, pos + i * per) if per == 12 else (
                    *struct.unpack_from("<Ii", blob, pos + i * per), 0)  # fmt: skip
                if kind in (STRUCT, UNION, ENUM, FUNC_PROTO):
                    members.append((self.name(a), b, c))
                elif kind == ENUM64:
                    members.append((self.name(a), 0, b | (c << 32)))
                else:  # DATASEC: (type, offset, size)
                    members.append((a, b, c))
            pos += per * vlen
            if kind == ENUM:  # values are signed 32-bit, moved into the third slot
                members = [(n, 0, v) for n, v, _ in members]
            self.types.append(BtfType(kind, self.name(name_off), size_or_type, kflag, tuple(members), extra))

    def name(self, offset: int) -> str:
        """The NUL-terminated string at ``offset`` of the string section."""
        end = self.strings.find(b"\0", offset)
        return self.strings[offset : end if end >= 0 else None].decode(errors="replace")

    def resolve(self, type_id: int) -> int:
        """Skip typedefs and qualifiers."""
        while self.types[type_id].kind in MODIFIERS:
            type_id = self.types[type_id].size_or_type
        return type_id

    def size_of(self, type_id: int) -> int:
        """Bytes a value of the type takes."""
        t = self.types[self.resolve(type_id)]
        if t.kind == ARRAY:
            return self.size_of(t.extra[0]) * t.extra[2]
        if t.kind == PTR:
            return 8
        return t.size_or_type

    def signature(self, type_id: int) -> str:
        """A type as ``bpftool prog dump xlated`` prints a function header.

        ``int sys_enter_btf(unsigned long long * ctx)``: a space after each
        type name and before each ``*``, as bpftool's ``btf_dumper_type_only``.
        """
        return self._sig(type_id)

    def _sig(self, type_id: int) -> str:  # noqa: PLR0911 - one case per BTF kind, as bpftool
        if not type_id:
            return "void "
        t = self.types[type_id]
        if t.kind in (INT, TYPEDEF, FLOAT):
            return f"{t.name} "
        if t.kind in (STRUCT, UNION, ENUM):
            return f"{('struct', 'union', 'enum')[(STRUCT, UNION, ENUM).index(t.kind)]} {t.name} "
        if t.kind == ARRAY:
            return f"{self._sig(t.extra[0])}[{t.extra[2]}]"
        if t.kind == PTR:
            return f"{self._sig(t.size_or_type)}* "
        if t.kind == FWD:
            return f"{'union' if t.kflag else 'struct'} {t.name} "
        if t.kind in (VOLATILE, CONST, RESTRICT):
            return f"{('volatile', 'const', 'restrict')[t.kind - VOLATILE]} {self._sig(t.size_or_type)}"
        if t.kind == FUNC_PROTO:
            return self._func(t, "")
        if t.kind == FUNC:
            return self._func(self.types[t.size_or_type], t.name)
        raise BtfError(f"no signature for BTF kind {t.kind}")

    def _func(self, proto: BtfType, name: str) -> str:
        out = self._sig(proto.size_or_type) + f"{name}("
        for i, (arg_name, arg_type, _) in enumerate(proto.members):
            if i:
                out += ", "
            if not arg_type:
                out += "..."
                continue
            out += self._sig(arg_type)
            if arg_name:
                out += arg_name
            elif out.endswith(" "):
                out = out[:-1]
        return out + ")"

    def value(self, type_id: int, data: bytes, bit_offset: int = 0) -> Any:  # noqa: PLR0911 - one case per kind
        """Decode ``data`` as the type: ints, strings, lists and dicts, like bpftool."""
        t = self.types[type_id]
        if t.kind in MODIFIERS:
            return self.value(self.resolve(type_id), data, bit_offset)
        if t.kind == INT:
            return _int(t, data, bit_offset)
        if t.kind == PTR:
            return hex(int.from_bytes(data[:8], "little"))
        if t.kind in (ENUM, ENUM64):
            raw = int.from_bytes(data[: t.size_or_type], "little", signed=True)
            mask = (1 << (8 * t.size_or_type)) - 1
            return next((n for n, _, v in t.members if v & mask == raw & mask), raw)
        if t.kind == ARRAY:
            elem, _index, count = t.extra
            string = self._string(elem, data[:count])
            if string is not None:
                return string
            size = self.size_of(elem)
            return [self.value(elem, data[i * size : (i + 1) * size]) for i in range(count)]
        if t.kind in (STRUCT, UNION):
            out: dict[str, Any] = {}
            for name, member_type, raw_offset in t.members:
                # With kind_flag, the top 8 bits are a bitfield's size.
                bits = raw_offset >> 24 if t.kflag else 0
                offset = raw_offset & 0xFFFFFF if t.kflag else raw_offset
                chunk = data[offset // 8 :]
                out[name] = (
                    _bits(chunk, offset % 8, bits) if bits else self.value(member_type, chunk, offset % 8)
                )
            return out
        if t.kind == DATASEC:
            return {
                self.types[v].name: self.value(self.types[v].size_or_type, data[o : o + s])
                for v, o, s in t.members
            }
        if t.kind == FLOAT:
            return struct.unpack_from({4: "<f", 8: "<d"}.get(t.size_or_type, "<d"), data)[0]
        return data.hex(" ")

    def _string(self, elem: int, data: bytes) -> str | None:
        """Text of a ``char`` array holding a NUL-terminated printable string, else None."""
        e = self.types[elem]
        while e.kind in (VOLATILE, CONST, RESTRICT, TYPE_TAG):
            e = self.types[e.size_or_type]
        if e.kind != INT or e.size_or_type != 1 or not (e.extra[0] >> 24 & INT_CHAR or e.name == "char"):
            return None
        end = data.find(b"\0")
        if end < 0 or any(c <= 0x1F or c >= 0x7F for c in data[:end]):
            return None
        return data[:end].decode()


def _bits(data: bytes, bit_offset: int, nr_bits: int) -> int:
    raw = int.from_bytes(data[: (bit_offset + nr_bits + 7) // 8], "little")
    return (raw >> bit_offset) & ((1 << nr_bits) - 1)


def _int(t: BtfType, data: bytes, bit_offset: int) -> Any:
    encoding, offset, nr_bits = t.extra[0] >> 24 & 0xF, t.extra[0] >> 16 & 0xFF, t.extra[0] & 0xFF
    if bit_offset or offset or nr_bits % 8:
        return _bits(data, bit_offset + offset, nr_bits)
    raw = data[: nr_bits // 8]
    if encoding & INT_BOOL:
        return bool(int.from_bytes(raw, "little"))
    if encoding & INT_CHAR and nr_bits == 8:
        return chr(raw[0]) if 0x20 <= raw[0] < 0x7F else hex(raw[0])
    if nr_bits == 128:
        return hex(int.from_bytes(raw, "little"))
    return int.from_bytes(raw, "little", signed=bool(encoding & INT_SIGNED))
