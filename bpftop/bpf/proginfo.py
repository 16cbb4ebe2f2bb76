"""Every BPF program and map on the machine, by id: what ``bpftool prog/map show`` reads.

Ids are walked with ``BPF_PROG_GET_NEXT_ID``/``BPF_MAP_GET_NEXT_ID``; each
object is opened by id for one ``BPF_OBJ_GET_INFO_BY_FD`` and closed again at
once, so bpftop never keeps someone else's program or map alive. The info
structs are allocated once and reused: with hundreds of programs a refresh is
a few syscalls per object and no Python allocation beyond the result tuples.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import Any, NamedTuple

from bpftop.bpf._ffi import ffi, lib
from bpftop.bpf.errors import BpfError

OBJ_NAME_LEN = 16  # BPF_OBJ_NAME_LEN: names are cut to 15 bytes
PROG_TYPES = """
    unspec socket_filter kprobe sched_cls sched_act tracepoint xdp perf_event cgroup_skb
    cgroup_sock lwt_in lwt_out lwt_xmit sock_ops sk_skb cgroup_device sk_msg raw_tracepoint
    cgroup_sock_addr lwt_seg6local lirc_mode2 sk_reuseport flow_dissector cgroup_sysctl
    raw_tracepoint_writable cgroup_sockopt tracing struct_ops ext lsm sk_lookup syscall
    netfilter
""".split()  # noqa: SIM905 - enum bpf_prog_type, in order
MAP_TYPES = """
    unspec hash array prog_array perf_event_array percpu_hash percpu_array stack_trace
    cgroup_array lru_hash lru_percpu_hash lpm_trie array_of_maps hash_of_maps devmap sockmap
    cpumap xskmap sockhash cgroup_storage reuseport_sockarray percpu_cgroup_storage queue stack
    sk_storage devmap_hash struct_ops ringbuf inode_storage task_storage bloom_filter
    user_ringbuf cgrp_storage arena
""".split()  # noqa: SIM905 - enum bpf_map_type, in order
PERCPU_MAP_TYPES = {5, 6, 10, 15}
ARRAY_MAP_TYPES = {2, 6}  # every index always exists
# Types whose entries come and go; counted with batch lookups (or key walks).
HASH_MAP_TYPES = {1, 5, 9, 10, 11, 13, 18, 25}


def type_name(names: list[str], value: int) -> str:
    """``names[value]``, or the number for types newer than this table."""
    return names[value] if 0 <= value < len(names) else str(value)


class ProgInfo(NamedTuple):
    """What the kernel reports of one program (``struct bpf_prog_info``)."""

    id: int
    type: int
    name: str
    tag: str
    load_time_ns: int  # CLOCK_BOOTTIME
    uid: int
    xlated_len: int
    jited_len: int
    btf_id: int
    gpl: bool
    run_time_ns: int
    run_cnt: int
    recursion_misses: int
    verified_insns: int
    nr_map_ids: int
    nr_func_info: int
    nr_line_info: int


class ProgCode(NamedTuple):
    """A program's translated instructions and the records that annotate them.

    Attributes:
        xlated: ``struct bpf_insn`` array as the verifier left it.
        map_ids: maps the program uses.
        func_info: ``(insn_off, btf type id)`` per function.
        line_info: ``(insn_off, file_name_off, line_off, line << 10 | col)``.
        jited_ksyms: addresses of the JIT-ed functions (bpf-to-bpf calls).
    """

    xlated: bytes
    map_ids: tuple[int, ...]
    func_info: tuple[tuple[int, int], ...]
    line_info: tuple[tuple[int, int, int, int], ...]
    jited_ksyms: tuple[int, ...]


class MapInfo(NamedTuple):
    """What the kernel reports of one map (``struct bpf_map_info``)."""

    id: int
    type: int
    name: str
    flags: int
    key_size: int
    value_size: int
    max_entries: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int


def _next_ids(getter: Any) -> Iterator[int]:
    cur = ffi.new("__u32 *")
    nxt = ffi.new("__u32 *")
    while getter(cur[0], nxt) == 0:
        yield int(nxt[0])
        cur[0] = nxt[0]


def check_listable() -> None:
    """Raise ``BpfError`` unless this process may enumerate BPF programs (CAP_SYS_ADMIN)."""
    next_id = ffi.new("__u32 *")
    ret = lib().bpf_prog_get_next_id(0, next_id)
    if ret < 0 and -ret != errno.ENOENT:
        raise BpfError("list BPF programs", -ret)


def prog_ids() -> list[int]:
    """Ids of every loaded program, ascending."""
    return list(_next_ids(lib().bpf_prog_get_next_id))


def map_ids() -> list[int]:
    """Ids of every map, ascending."""
    return list(_next_ids(lib().bpf_map_get_next_id))


def _open(getter: Any, what: str, obj_id: int) -> int | None:
    """An O_CLOEXEC fd for the object, None when it went away meanwhile."""
    fd = int(getter(obj_id))
    if fd < 0:
        if -fd == errno.ENOENT:
            return None
        raise BpfError(f"open {what} id {obj_id}", -fd)
    return fd


def open_prog(prog_id: int) -> int | None:
    """An fd for program ``prog_id`` (the caller closes it), None if gone."""
    return _open(lib().bpf_prog_get_fd_by_id, "program", prog_id)


def open_map(map_id: int) -> int | None:
    """An fd for map ``map_id`` (the caller closes it), None if gone."""
    return _open(lib().bpf_map_get_fd_by_id, "map", map_id)


def memlock(fd: int) -> int:
    """Bytes the object charges (``memlock:`` in its fdinfo), 0 if not shown."""
    with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
        for line in f:
            if line.startswith(b"memlock:"):
                return int(line.split()[1])
    return 0


class InfoReader:
    """Reads program and map info with buffers allocated once (not thread-safe)."""

    def __init__(self) -> None:
        self._prog = ffi.new("struct bpf_prog_info *")
        self._map = ffi.new("struct bpf_map_info *")
        self._len = ffi.new("__u32 *")
        self._prog_size = ffi.sizeof("struct bpf_prog_info")
        self._map_size = ffi.sizeof("struct bpf_map_info")

    def _prog_info(self, fd: int, what: str) -> Any:
        info = self._prog
        ffi.memmove(info, bytes(self._prog_size), self._prog_size)
        self._len[0] = self._prog_size
        ret = lib().bpf_obj_get_info_by_fd(fd, info, self._len)
        if ret:
            raise BpfError(what, -ret if ret < 0 else ffi.errno)
        return info

    def prog(self, fd: int) -> ProgInfo:
        """The scalar fields of an open program's info (no arrays copied)."""
        i = self._prog_info(fd, "program info")
        name = ffi.string(i.name, OBJ_NAME_LEN).decode(errors="replace")
        return ProgInfo(
            i.id, i.type, name, bytes(i.tag).hex(), i.load_time, i.created_by_uid,
            i.xlated_prog_len, i.jited_prog_len, i.btf_id, bool(i.gpl_bits & 1),
            i.run_time_ns, i.run_cnt, i.recursion_misses, i.verified_insns,
            i.nr_map_ids, i.nr_func_info, i.nr_line_info,
        )  # fmt: skip

    def prog_map_ids(self, fd: int, count: int) -> tuple[int, ...]:
        """Ids of the maps an open program uses."""
        if not count:
            return ()
        buf = ffi.new("__u32[]", count)
        info = self._prog
        ffi.memmove(info, bytes(self._prog_size), self._prog_size)
        info.nr_map_ids = count
        info.map_ids = int(ffi.cast("uintptr_t", buf))
        self._len[0] = self._prog_size
        if lib().bpf_obj_get_info_by_fd(fd, info, self._len):
            raise BpfError("program map ids", ffi.errno)
        return tuple(buf[0 : min(count, info.nr_map_ids)])

    def first_func_type(self, fd: int) -> int:
        """BTF type id of the program's main function (its first ``func_info``), 0 if none."""
        record = ffi.new("__u32[4]")
        info = self._prog
        ffi.memmove(info, bytes(self._prog_size), self._prog_size)
        info.nr_func_info, info.func_info_rec_size = 1, 8
        info.func_info = int(ffi.cast("uintptr_t", record))
        self._len[0] = self._prog_size
        if lib().bpf_obj_get_info_by_fd(fd, info, self._len) or not info.nr_func_info:
            return 0
        return int(record[1])

    def map(self, fd: int) -> MapInfo:
        """An open map's info."""
        info = self._map
        ffi.memmove(info, bytes(self._map_size), self._map_size)
        self._len[0] = self._map_size
        ret = lib().bpf_obj_get_info_by_fd(fd, info, self._len)
        if ret:
            raise BpfError("map info", -ret if ret < 0 else ffi.errno)
        name = ffi.string(info.name, OBJ_NAME_LEN).decode(errors="replace")
        return MapInfo(
            info.id, info.type, name, info.map_flags, info.key_size, info.value_size,
            info.max_entries, info.btf_id, info.btf_key_type_id, info.btf_value_type_id,
        )  # fmt: skip


def prog_code(fd: int) -> ProgCode:
    """Copy an open program's instructions, map ids, func and line info.

    Two calls: the first learns the sizes, the second fills buffers of them.
    """
    lib_ = lib()
    size = ffi.sizeof("struct bpf_prog_info")
    first = ffi.new("struct bpf_prog_info *")
    length = ffi.new("__u32 *", size)
    if lib_.bpf_obj_get_info_by_fd(fd, first, length):
        raise BpfError("program info", ffi.errno)
    info = ffi.new("struct bpf_prog_info *")
    xlated = ffi.new("char[]", max(first.xlated_prog_len, 1))
    maps = ffi.new("__u32[]", max(first.nr_map_ids, 1))
    fi_size = first.func_info_rec_size or 8
    li_size = first.line_info_rec_size or 16
    funcs = ffi.new("char[]", max(first.nr_func_info * fi_size, 1))
    lines = ffi.new("char[]", max(first.nr_line_info * li_size, 1))
    ksyms = ffi.new("__u64[]", max(first.nr_jited_ksyms, 1))
    info.xlated_prog_len = first.xlated_prog_len
    info.xlated_prog_insns = int(ffi.cast("uintptr_t", xlated))
    info.nr_map_ids = first.nr_map_ids
    info.map_ids = int(ffi.cast("uintptr_t", maps))
    info.nr_func_info, info.func_info_rec_size = first.nr_func_info, fi_size
    info.func_info = int(ffi.cast("uintptr_t", funcs))
    info.nr_line_info, info.line_info_rec_size = first.nr_line_info, li_size
    info.line_info = int(ffi.cast("uintptr_t", lines))
    info.nr_jited_ksyms = first.nr_jited_ksyms
    info.jited_ksyms = int(ffi.cast("uintptr_t", ksyms))
    length[0] = size
    if lib_.bpf_obj_get_info_by_fd(fd, info, length):
        raise BpfError("program instructions", ffi.errno)
    raw_funcs = ffi.buffer(funcs, info.nr_func_info * fi_size)[:]
    raw_lines = ffi.buffer(lines, info.nr_line_info * li_size)[:]
    return ProgCode(
        xlated=ffi.buffer(xlated, info.xlated_prog_len)[:],
        map_ids=tuple(maps[0 : info.nr_map_ids]),
        func_info=tuple(
            (
                int.from_bytes(raw_funcs[o : o + 4], "little"),
                int.from_bytes(raw_funcs[o + 4 : o + 8], "little"),
            )
            for o in range(0, len(raw_funcs), fi_size)
        ),
        line_info=tuple(
            tuple(int.from_bytes(raw_lines[o + k : o + k + 4], "little") for k in (0, 4, 8, 12))  # type: ignore[misc]
            for o in range(0, len(raw_lines), li_size)
        ),
        jited_ksyms=tuple(ksyms[0 : info.nr_jited_ksyms]),
    )


def btf_blob(btf_id: int) -> bytes:
    """The raw BTF (header, types, strings) of BTF object ``btf_id``."""
    lib_ = lib()
    fd = _open(lib_.bpf_btf_get_fd_by_id, "BTF", btf_id)
    if fd is None:
        raise BpfError(f"BTF id {btf_id}", errno.ENOENT)
    try:
        info = ffi.new("struct bpf_btf_info *")
        length = ffi.new("__u32 *", ffi.sizeof("struct bpf_btf_info"))
        if lib_.bpf_obj_get_info_by_fd(fd, info, length):
            raise BpfError("BTF info", ffi.errno)
        size = info.btf_size
        buf = ffi.new("char[]", size)
        info = ffi.new("struct bpf_btf_info *")
        info.btf, info.btf_size = int(ffi.cast("uintptr_t", buf)), size
        length[0] = ffi.sizeof("struct bpf_btf_info")
        if lib_.bpf_obj_get_info_by_fd(fd, info, length):
            raise BpfError("BTF data", ffi.errno)
        return ffi.buffer(buf, size)[:]
    finally:
        os.close(fd)


def value_stride(info: MapInfo, ncpu: int) -> int:
    """Bytes per looked-up value: per-CPU maps return one 8-aligned slot per CPU."""
    if info.type in PERCPU_MAP_TYPES:
        return ((info.value_size + 7) & ~7) * ncpu
    return info.value_size
