"""On-demand detail for the ``bpf`` pane: a program's instructions, a map's contents.

Both are read when the user presses Enter, never per refresh. A program is
disassembled from its translated instructions exactly as ``bpftool prog dump
xlated [linum]`` prints it; a map's entries are formatted with the map's BTF
the way ``bpftool map dump`` does (per-CPU maps one value per CPU), or as hex
bytes when the map has no BTF.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from bpftop.bpf import proginfo
from bpftop.bpf.btfdata import Btf, BtfError
from bpftop.bpf.disasm import Kallsyms, dump_xlated
from bpftop.bpf.errors import BpfError
from bpftop.bpf.mapread import read_entries
from bpftop.bpf.maps import possible_cpus

MAP_ENTRY_LIMIT = 1000
_ksyms: Kallsyms | None = None


@dataclass(frozen=True)
class ProgramDetail:
    """A program's disassembly (``lines``) and ``linum`` variant with source locations."""

    prog_id: int
    name: str
    lines: tuple[str, ...]
    lines_linum: tuple[str, ...]
    map_ids: tuple[int, ...]
    has_btf: bool


@dataclass(frozen=True)
class MapContents:
    """Up to ``MAP_ENTRY_LIMIT`` entries as (key text, value text).

    With BTF each text is JSON (``{"a": 1}``; per-CPU values are a list of
    ``{"cpu": N, "value": ...}``); without, hex bytes as ``bpftool`` prints them.
    """

    map_id: int
    name: str
    entries: tuple[tuple[str, str], ...]
    has_btf: bool
    truncated: bool
    percpu: bool


def kallsyms() -> Kallsyms:
    """``/proc/kallsyms``, read once (100k+ lines: only when a program is opened)."""
    global _ksyms
    if _ksyms is None:
        _ksyms = Kallsyms()
    return _ksyms


def _btf(btf_id: int) -> Btf | None:
    if not btf_id:
        return None
    try:
        return Btf(proginfo.btf_blob(btf_id))
    except (BpfError, BtfError):
        return None


def program_detail(prog_id: int) -> ProgramDetail:
    """Disassemble program ``prog_id``; raises ``BpfError`` if it is gone."""
    fd = proginfo.open_prog(prog_id)
    if fd is None:
        raise BpfError(f"program {prog_id} was unloaded", 2)
    try:
        info = proginfo.InfoReader().prog(fd)
        code = proginfo.prog_code(fd)
    finally:
        os.close(fd)
    btf = _btf(info.btf_id)
    common: dict[str, Any] = {
        "btf": btf,
        "func_info": code.func_info,
        "line_info": code.line_info,
        "ksyms": kallsyms(),
        "jited_ksyms": code.jited_ksyms,
    }
    return ProgramDetail(
        prog_id=prog_id,
        name=info.name,
        lines=tuple(dump_xlated(code.xlated, **common)),
        lines_linum=tuple(dump_xlated(code.xlated, linum=True, **common)),
        map_ids=code.map_ids,
        has_btf=btf is not None,
    )


def hex_bytes(data: bytes) -> str:
    """``00 01 ff``, as bpftool prints keys and values without BTF."""
    return data.hex(" ")


def map_contents(map_id: int, limit: int = MAP_ENTRY_LIMIT) -> MapContents:
    """Read and format up to ``limit`` entries of map ``map_id``."""
    fd = proginfo.open_map(map_id)
    if fd is None:
        raise BpfError(f"map {map_id} was freed", 2)
    try:
        info = proginfo.InfoReader().map(fd)
        percpu = info.type in proginfo.PERCPU_MAP_TYPES
        ncpu = possible_cpus() if percpu else 1
        stride = proginfo.value_stride(info, ncpu)
        raw, truncated = read_entries(fd, info.key_size, stride, limit)
    finally:
        os.close(fd)
    btf = _btf(info.btf_id) if info.btf_key_type_id or info.btf_value_type_id else None
    slot = stride // ncpu if ncpu else stride
    entries = []
    for key, value in raw:
        values = [] if value is None else [value[c * slot : c * slot + info.value_size] for c in range(ncpu)]
        entries.append(_format(btf, info, key, values, percpu))
    return MapContents(map_id, info.name, tuple(entries), btf is not None, truncated, percpu)


def _format(
    btf: Btf | None, info: proginfo.MapInfo, key: bytes, values: list[bytes], percpu: bool
) -> tuple[str, str]:
    if btf is None:
        if not values:
            return hex_bytes(key), "<no value>"
        if percpu:
            return hex_bytes(key), "  ".join(f"(CPU {c:02d}) {hex_bytes(v)}" for c, v in enumerate(values))
        return hex_bytes(key), hex_bytes(values[0])
    key_obj = _decode(btf, info.btf_key_type_id, key)
    if not values:
        value_obj: Any = None
    elif percpu:
        value_obj = [
            {"cpu": c, "value": _decode(btf, info.btf_value_type_id, v)} for c, v in enumerate(values)
        ]
    else:
        value_obj = _decode(btf, info.btf_value_type_id, values[0])
    return json.dumps(key_obj), json.dumps(value_obj)


def _decode(btf: Btf, type_id: int, data: bytes) -> Any:
    if not type_id:
        return hex_bytes(data)
    try:
        return btf.value(type_id, data)
    except (BtfError, IndexError, ValueError):
        return hex_bytes(data)
