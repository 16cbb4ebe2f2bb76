"""Small BTF queries: kernel hook availability and variable offsets in objects."""

from __future__ import annotations

import functools
from typing import Any

from bpftop.bpf._ffi import ffi, lib

BTF_KIND_PTR = 2
BTF_KIND_TYPEDEF = 8
BTF_KIND_FUNC_PROTO = 13
BTF_KIND_VAR = 14
BTF_KIND_DATASEC = 15
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"


@functools.lru_cache(maxsize=1)
def _vmlinux() -> Any:
    btf = lib().btf__load_vmlinux_btf()
    return btf if btf != ffi.NULL else None


def has_vmlinux_btf() -> bool:
    """True when the running kernel exposes its BTF (CO-RE and tp_btf need it)."""
    return _vmlinux() is not None


def has_btf_tracepoint(name: str) -> bool:
    """True when ``tp_btf/<name>`` can load: the kernel has ``btf_trace_<name>``."""
    btf = _vmlinux()
    if btf is None:
        return False
    return bool(lib().btf__find_by_name_kind(btf, f"btf_trace_{name}".encode(), BTF_KIND_TYPEDEF) > 0)


def datasec_offsets(btf: Any, section: str) -> dict[str, tuple[int, int]]:
    """Map each variable of a data section (".rodata", ".bss") to (offset, size)."""
    lib_ = lib()
    sec_id = lib_.btf__find_by_name_kind(btf, section.encode(), BTF_KIND_DATASEC)
    if sec_id <= 0:
        return {}
    sec = lib_.btf__type_by_id(btf, sec_id)
    vlen = sec.info & 0xFFFF
    # struct btf_var_secinfo entries follow the 12-byte struct btf_type.
    infos = ffi.cast("const struct btf_var_secinfo *", sec + 1)
    out: dict[str, tuple[int, int]] = {}
    for i in range(vlen):
        var = lib_.btf__type_by_id(btf, infos[i].type)
        name = ffi.string(lib_.btf__name_by_offset(btf, var.name_off)).decode()
        out[name] = (infos[i].offset, infos[i].size)
    return out


def tracepoint_nargs(name: str) -> int | None:
    """Arguments of raw tracepoint ``name`` (``btf_trace_<name>`` minus its ``void *``).

    None without kernel BTF. Tracepoints gain arguments over time (sched_switch
    got ``prev_state`` in 5.18), and a program may only read those that exist.
    """
    btf = _vmlinux()
    if btf is None:
        return None
    lib_ = lib()
    type_id = lib_.btf__find_by_name_kind(btf, f"btf_trace_{name}".encode(), BTF_KIND_TYPEDEF)
    if type_id <= 0:
        return None
    # typedef -> pointer -> function prototype, whose vlen counts the parameters.
    t = lib_.btf__type_by_id(btf, lib_.btf__type_by_id(btf, type_id).size_or_type)
    if (t.info >> 24) & 0x1F != BTF_KIND_PTR:
        return None
    proto = lib_.btf__type_by_id(btf, t.size_or_type)
    if (proto.info >> 24) & 0x1F != BTF_KIND_FUNC_PROTO:
        return None
    return int(proto.info & 0xFFFF) - 1
