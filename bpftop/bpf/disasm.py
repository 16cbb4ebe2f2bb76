"""Disassemble translated (``xlated``) BPF instructions as ``bpftool prog dump xlated`` does.

The text follows the kernel's ``kernel/bpf/disasm.c`` (``print_bpf_insn``)
with bpftool's callbacks: helper calls are named from ``/proc/kallsyms``
(after the verifier's rewrite, a call's ``imm`` is the helper's address minus
``__bpf_call_base``), ``ld_imm64`` of a map is ``map[id:N]`` and of a map
value ``map[id:N][0]+OFF`` (the kernel puts the ids in when it dumps), and
before an instruction come the function header from ``func_info`` and the
source line from ``line_info``, both named through the program's BTF.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Sequence
from pathlib import Path

from bpftop.bpf.btfdata import Btf, BtfError

INSN = struct.Struct("<BBhi")
HELPERS = """
    unspec map_lookup_elem map_update_elem map_delete_elem probe_read ktime_get_ns trace_printk
    get_prandom_u32 get_smp_processor_id skb_store_bytes l3_csum_replace l4_csum_replace
    tail_call clone_redirect get_current_pid_tgid get_current_uid_gid get_current_comm
    get_cgroup_classid skb_vlan_push skb_vlan_pop skb_get_tunnel_key skb_set_tunnel_key
    perf_event_read redirect get_route_realm perf_event_output skb_load_bytes get_stackid
    csum_diff skb_get_tunnel_opt skb_set_tunnel_opt skb_change_proto skb_change_type
    skb_under_cgroup get_hash_recalc get_current_task probe_write_user current_task_under_cgroup
    skb_change_tail skb_pull_data csum_update set_hash_invalid get_numa_node_id skb_change_head
    xdp_adjust_head probe_read_str get_socket_cookie get_socket_uid set_hash setsockopt
    skb_adjust_room redirect_map sk_redirect_map sock_map_update xdp_adjust_meta
    perf_event_read_value perf_prog_read_value getsockopt override_return sock_ops_cb_flags_set
    msg_redirect_map msg_apply_bytes msg_cork_bytes msg_pull_data bind xdp_adjust_tail
    skb_get_xfrm_state get_stack skb_load_bytes_relative fib_lookup sock_hash_update
    msg_redirect_hash sk_redirect_hash lwt_push_encap lwt_seg6_store_bytes lwt_seg6_adjust_srh
    lwt_seg6_action rc_repeat rc_keydown skb_cgroup_id get_current_cgroup_id get_local_storage
    sk_select_reuseport skb_ancestor_cgroup_id sk_lookup_tcp sk_lookup_udp sk_release
    map_push_elem map_pop_elem map_peek_elem msg_push_data msg_pop_data rc_pointer_rel spin_lock
    spin_unlock sk_fullsock tcp_sock skb_ecn_set_ce get_listener_sock skc_lookup_tcp
    tcp_check_syncookie sysctl_get_name sysctl_get_current_value sysctl_get_new_value
    sysctl_set_new_value strtol strtoul sk_storage_get sk_storage_delete send_signal
    tcp_gen_syncookie skb_output probe_read_user probe_read_kernel probe_read_user_str
    probe_read_kernel_str tcp_send_ack send_signal_thread jiffies64 read_branch_records
    get_ns_current_pid_tgid xdp_output get_netns_cookie get_current_ancestor_cgroup_id sk_assign
    ktime_get_boot_ns seq_printf seq_write sk_cgroup_id sk_ancestor_cgroup_id ringbuf_output
    ringbuf_reserve ringbuf_submit ringbuf_discard ringbuf_query csum_level skc_to_tcp6_sock
    skc_to_tcp_sock skc_to_tcp_timewait_sock skc_to_tcp_request_sock skc_to_udp6_sock
    get_task_stack load_hdr_opt store_hdr_opt reserve_hdr_opt inode_storage_get
    inode_storage_delete d_path copy_from_user snprintf_btf seq_printf_btf skb_cgroup_classid
    redirect_neigh per_cpu_ptr this_cpu_ptr redirect_peer task_storage_get task_storage_delete
    get_current_task_btf bprm_opts_set ktime_get_coarse_ns ima_inode_hash sock_from_file
    check_mtu for_each_map_elem snprintf sys_bpf btf_find_by_name_kind sys_close timer_init
    timer_set_callback timer_start timer_cancel get_func_ip get_attach_cookie task_pt_regs
    get_branch_snapshot trace_vprintk skc_to_unix_sock kallsyms_lookup_name find_vma loop
    strncmp get_func_arg get_func_ret get_func_arg_cnt get_retval set_retval xdp_get_buff_len
    xdp_load_bytes xdp_store_bytes copy_from_user_task skb_set_tstamp ima_file_hash kptr_xchg
    map_lookup_percpu_elem skc_to_mptcp_sock dynptr_from_mem ringbuf_reserve_dynptr
    ringbuf_submit_dynptr ringbuf_discard_dynptr dynptr_read dynptr_write dynptr_data
    tcp_raw_gen_syncookie_ipv4 tcp_raw_gen_syncookie_ipv6 tcp_raw_check_syncookie_ipv4
    tcp_raw_check_syncookie_ipv6 ktime_get_tai_ns user_ringbuf_drain cgrp_storage_get
    cgrp_storage_delete
""".split()  # noqa: SIM905 - 212 names read better as text; index = helper id
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)
ALU_OPS = {0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=", 0x60: "<<=",
           0x70: ">>=", 0x80: "neg", 0x90: "%=", 0xA0: "^=", 0xB0: "=", 0xC0: "s>>=",
           0xD0: "endian"}  # fmt: skip
JMP_OPS = {0x00: "jmp", 0x10: "==", 0x20: ">", 0x30: ">=", 0x40: "&", 0x50: "!=", 0x60: "s>", 0x70: "s>=",
           0x80: "call", 0x90: "exit", 0xA0: "<", 0xB0: "<=", 0xC0: "s<",
           0xD0: "s<="}  # fmt: skip
SIZES = {0x00: "u32", 0x08: "u16", 0x10: "u8", 0x18: "u64"}
SIGNED_SIZES = {0x00: "s32", 0x08: "s16", 0x10: "s8"}
CLASS_NAMES = ("ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64")
MOVSX = {8: "(s8)", 16: "(s16)", 32: "(s32)"}
ATOMIC_NAMES = {0x00: "add", 0x50: "and", 0x40: "or", 0xA0: "xor"}
BPF_FETCH, BPF_XCHG, BPF_CMPXCHG, BPF_LOAD_ACQ, BPF_STORE_REL = 0x01, 0xE1, 0xF1, 0x100, 0x110
MODE_IMM, MODE_ABS, MODE_IND, MODE_MEM, MODE_MEMSX, MODE_ATOMIC, MODE_NOSPEC = (
    0x00,
    0x20,
    0x40,
    0x60,
    0x80,
    0xC0,
    0xC0,
)
PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_FUNC, PSEUDO_MAP_IDX_VALUE = 1, 2, 4, 6
PSEUDO_CALL, PSEUDO_KFUNC_CALL, MAY_GOTO = 1, 2, 0
ADDR_SPACE_CAST, ADDR_PERCPU = 1, -1


class Kallsyms:
    """Kernel symbols by exact address, and ``__bpf_call_base``, as bpftool loads them."""

    def __init__(self, path: Path = Path("/proc/kallsyms")) -> None:
        self.by_address: dict[int, str] = {}
        self.call_base = 0
        try:
            text = path.read_text()
        except OSError:
            return
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            address = int(parts[0], 16)
            if parts[2] == "__bpf_call_base":
                self.call_base = address
                if not address:  # kernel.kptr_restrict hides addresses: no names
                    self.by_address.clear()
                    return
            if address:
                self.by_address.setdefault(address, parts[2])


def _reg(cls: int) -> str:
    return "w" if cls in (ALU, JMP32) else "r"


class Disassembler:
    """Turns one program's instructions into bpftool's text, line by line."""

    def __init__(self, ksyms: Kallsyms | None, jited_ksyms: Sequence[int] = ()) -> None:
        self.ksyms = ksyms
        self.jited_ksyms = tuple(jited_ksyms)

    def _call_name(self, src: int, off: int, imm: int) -> str:
        if not src and 0 <= imm < len(HELPERS):
            return f"bpf_{HELPERS[imm]}"
        base = self.ksyms.call_base if self.ksyms else 0
        address = (base + imm) & 0xFFFFFFFFFFFFFFFF
        if src == PSEUDO_CALL and 0 <= imm < len(self.jited_ksyms):
            address = self.jited_ksyms[imm]
        sym = self.ksyms.by_address.get(address) if self.ksyms else None
        if src == PSEUDO_CALL:
            if not self.jited_ksyms:
                return f"{off:+d}"
            return f"{off:+d}#{sym}" if sym else f"{off:+d}#{address:#x}"
        return sym if sym else f"{address:#x}"

    def insn(self, code: int, regs: int, off: int, imm: int, next_imm: int = 0) -> str:  # noqa: PLR0911, PLR0912
        """One instruction (two words for ``ld_imm64``), without its index."""
        dst, src = regs & 0x0F, regs >> 4
        cls, op, mode, size = code & 7, code & 0xF0, code & 0xE0, code & 0x18
        head = f"({code:02x}) "
        if cls in (ALU, ALU64):
            r = _reg(cls)
            if op == 0xD0:
                if cls == ALU64:
                    return f"{head}r{dst} = bswap{imm} r{dst}"
                return f"{head}r{dst} = {'be' if code & 0x08 else 'le'}{imm} r{dst}"
            if op == 0x80:
                return f"{head}{r}{dst} = -{r}{dst}"
            if code == (ALU64 | 0xB0 | 0x08) and off == ADDR_SPACE_CAST:
                return f"{head}r{dst} = addr_space_cast(r{src}, {(imm & 0xFFFFFFFF) >> 16}, {imm & 0xFFFF})"
            if code == (ALU64 | 0xB0 | 0x08) and off == ADDR_PERCPU:
                return f"{head}r{dst} = &(void __percpu *)(r{src})"
            name = ALU_OPS.get(op, "?")
            if op in (0x30, 0x90) and off == 1:
                name = "s" + name
            elif cls == ALU64 and op == 0x20 and off in (1, 2):
                name = "sh*=" if off == 2 else "uh*="
            if code & 0x08:
                sx = MOVSX.get(off, "") if op == 0xB0 else ""
                return f"{head}{r}{dst} {name} {sx}{r}{src}"
            return f"{head}{r}{dst} {name} {imm}"
        if cls == STX:
            return head + self._stx(code, dst, src, off, imm, mode, size)
        if cls == ST:
            if mode == MODE_MEM:
                return f"{head}*({SIZES[size]} *)(r{dst} {off:+d}) = {imm}"
            if mode == MODE_NOSPEC:
                return f"{head}nospec"
            return f"BUG_st_{code:02x}"
        if cls == LDX:
            if mode not in (MODE_MEM, MODE_MEMSX):
                return f"BUG_ldx_{code:02x}"
            kind = SIZES[size] if mode == MODE_MEM else SIGNED_SIZES.get(size, "?")
            return f"{head}r{dst} = *({kind} *)(r{src} {off:+d})"
        if cls == LD:
            if mode == MODE_ABS:
                return f"{head}r0 = *({SIZES[size]} *)skb[{imm}]"
            if mode == MODE_IND:
                return f"{head}r0 = *({SIZES[size]} *)skb[r{src} + {imm}]"
            if mode == MODE_IMM and size == 0x18:
                return f"{head}r{dst} = {self._imm64(src, imm, next_imm)}"
            return f"BUG_ld_{code:02x}"
        return head + self._jmp(code, cls, op, dst, src, off, imm)

    def _stx(self, code: int, dst: int, src: int, off: int, imm: int, mode: int, size: int) -> str:  # noqa: PLR0911, PLR0917
        ptr = f"({SIZES[size]} *)(r{dst} {off:+d})"
        bits = "64" if size == 0x18 else ""
        if mode == MODE_MEM:
            return f"*{ptr} = r{src}"
        if mode != MODE_ATOMIC:
            return f"BUG_{code:02x}"
        if imm in ATOMIC_NAMES:
            return f"lock *{ptr} {ALU_OPS[imm]} r{src}"
        if imm & BPF_FETCH and imm < 0x100 and (imm & ~BPF_FETCH) in ATOMIC_NAMES:
            return f"r{src} = atomic{bits}_fetch_{ATOMIC_NAMES[imm & ~BPF_FETCH]}({ptr}, r{src})"
        if imm == BPF_CMPXCHG:
            return f"r0 = atomic{bits}_cmpxchg({ptr}, r0, r{src})"
        if imm == BPF_XCHG:
            return f"r{src} = atomic{bits}_xchg({ptr}, r{src})"
        if imm == BPF_LOAD_ACQ:
            return f"r{dst} = load_acquire(({SIZES[size]} *)(r{src} {off:+d}))"
        if imm == BPF_STORE_REL:
            return f"store_release({ptr}, r{src})"
        return f"BUG_{code:02x}"

    def _imm64(self, src: int, imm: int, next_imm: int) -> str:
        if src == PSEUDO_MAP_FD:
            return f"map[id:{imm}]"
        if src == PSEUDO_MAP_VALUE:
            return f"map[id:{imm}][0]+{next_imm}"
        if src == PSEUDO_MAP_IDX_VALUE:
            return f"map[idx:{imm}]+{next_imm}"
        if src == PSEUDO_FUNC:
            return f"subprog[{imm:+d}]"
        return f"{((next_imm & 0xFFFFFFFF) << 32) | (imm & 0xFFFFFFFF):#x}"

    def _jmp(self, code: int, cls: int, op: int, dst: int, src: int, off: int, imm: int) -> str:  # noqa: PLR0911, PLR0917
        if op == 0x80:
            if src == PSEUDO_CALL:
                return f"call pc{self._call_name(src, off, imm)}"
            if src == PSEUDO_KFUNC_CALL and not self.ksyms:
                return f"call kernel-function#{imm}"
            return f"call {self._call_name(src, off, imm)}#{imm}"
        if code == (JMP | 0x00):
            return f"goto pc{off:+d}"
        if code == (JMP | 0x08):
            return f"gotox r{dst}"
        if code == (JMP | 0xE0) and src == MAY_GOTO:
            return f"may_goto pc{off:+d}"
        if code == (JMP32 | 0x00):
            return f"gotol pc{imm:+d}"
        if code == (JMP | 0x90):
            return "exit"
        if op not in JMP_OPS:
            return CLASS_NAMES[cls]
        r = _reg(cls)
        if code & 0x08:
            return f"if {r}{dst} {JMP_OPS[op]} {r}{src} goto pc{off:+d}"
        return f"if {r}{dst} {JMP_OPS[op]} {imm & 0xFFFFFFFF:#x} goto pc{off:+d}"


def _find_line(line_info: Sequence[tuple[int, int, int, int]], insn: int, nr_skip: int) -> int | None:
    """Index of the line record for ``insn``, as libbpf's ``bpf_prog_linfo__lfind``."""
    if nr_skip >= len(line_info) or insn < line_info[nr_skip][0]:
        return None
    i = nr_skip
    while i + 1 < len(line_info) and line_info[i + 1][0] <= insn:
        i += 1
    return i if line_info[i][0] == insn else None


def dump_xlated(
    xlated: bytes,
    *,
    btf: Btf | None = None,
    func_info: Sequence[tuple[int, int]] = (),
    line_info: Sequence[tuple[int, int, int, int]] = (),
    ksyms: Kallsyms | None = None,
    jited_ksyms: Sequence[int] = (),
    linum: bool = False,
) -> list[str]:
    """The lines ``bpftool prog dump xlated [linum]`` prints for these instructions."""
    d = Disassembler(ksyms, jited_ksyms)
    words = [INSN.unpack_from(xlated, o) for o in range(0, len(xlated) - len(xlated) % 8, 8)]
    funcs = dict(func_info) if btf else {}
    lines: list[str] = []
    nr_skip = 0
    skip_next = False
    for i, (code, regs, off, imm) in enumerate(words):
        if skip_next:
            skip_next = False
            continue
        if i in funcs and btf is not None:
            with contextlib.suppress(BtfError, IndexError):  # bpftool prints no header then
                lines.append(f"{btf.signature(funcs[i])}:")
        if btf is not None and line_info:
            found = _find_line(line_info, i, nr_skip)
            if found is not None:
                _off, file_off, line_off, line_col = line_info[found]
                text = "; " + btf.name(line_off).lstrip()
                if linum:
                    text += (
                        f" [file:{btf.name(file_off)} line_num:{line_col >> 10} line_col:{line_col & 0x3FF}]"
                    )
                lines.append(text)
                nr_skip += 1
        skip_next = code == (LD | 0x18)
        next_imm = words[i + 1][3] if skip_next and i + 1 < len(words) else 0
        lines.append(f"{i:4d}: {d.insn(code, regs, off, imm, next_imm)}")
    return lines
