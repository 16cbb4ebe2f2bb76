"""The first Linux release whose verifier accepts each BPF feature bpftop's objects use.

Every entry is ``(version, source)``: the source is the short hash of the
kernel commit that added the feature (bcc's docs/kernel-versions.md lists most
of them; the others were read from the commit and its date: a commit in
bpf-next before a merge window lands in the release that window opens).
Helpers are in ``kernel_helpers.py``. A feature these tables lack stops
``kernel_reqs.py`` with a message, so a guess never reaches the docs.

Distribution kernels backport BPF features (RHEL 9's 5.14 has most of 6.x), so
a version here is what *mainline* needs; bpftop still tries to load on an older
version number and only uses this to explain a failure.
"""

from __future__ import annotations

# Program types and attach families, by ELF section prefix (libbpf's SEC() names).
PROGRAM_TYPES: dict[str, tuple[str, str, str]] = {
    "tracepoint": ("BPF_PROG_TYPE_TRACEPOINT", "4.7", "98b5c2c65c29"),
    "perf_event": ("BPF_PROG_TYPE_PERF_EVENT", "4.9", "0515e5999a46"),
    "raw_tp": ("BPF_PROG_TYPE_RAW_TRACEPOINT", "4.17", "c4f6699dfcb8"),
    # BTF-typed raw tracepoints (BPF_TRACE_RAW_TP) came with the tracing type.
    "tp_btf": ("BPF_PROG_TYPE_TRACING (tp_btf)", "5.5", "f1b9509c2fb0"),
    "iter": ("BPF iterators", "5.8", "180139dca8b3"),
}
# Iterator targets, by the part of ``iter/<target>`` after the slash.
ITER_TARGETS: dict[str, tuple[str, str]] = {
    "task": ("5.8", "eaaacd23910f"),
    "task_file": ("5.8", "eaaacd23910f"),
}

# Map types by the name after BPF_MAP_TYPE_ (numbers come from vmlinux.h's enum).
MAP_TYPES: dict[str, tuple[str, str]] = {
    "HASH": ("3.19", "0f8e4bd8a1fc"),
    "ARRAY": ("3.19", "28fbcfa08d8e"),
    "PROG_ARRAY": ("4.2", "04fd61ab36ec"),
    "PERF_EVENT_ARRAY": ("4.3", "ea317b267e9d"),
    "PERCPU_HASH": ("4.6", "824bd0ce6c7c"),
    "PERCPU_ARRAY": ("4.6", "a10423b87a7e"),
    "STACK_TRACE": ("4.6", "d5a3b1f69186"),
    "CGROUP_ARRAY": ("4.8", "4ed8ec521ed5"),
    "LRU_HASH": ("4.10", "29ba732acbee"),
    "LRU_PERCPU_HASH": ("4.10", "8f8449384ec3"),
    "LPM_TRIE": ("4.11", "b95a5c4db09b"),
    "ARRAY_OF_MAPS": ("4.12", "56f668dfe00d"),
    "HASH_OF_MAPS": ("4.12", "bcc6b1b7ebf8"),
    "QUEUE": ("4.20", "f1a2e44a3aec"),
    "STACK": ("4.20", "f1a2e44a3aec"),
    "RINGBUF": ("5.8", "457f44363a88"),
    "TASK_STORAGE": ("5.11", "4cf1bc1f1045"),
    "BLOOM_FILTER": ("5.16", "9330986c0300"),
}
# map_flags bits (include/uapi/linux/bpf.h) and the release that accepts each.
MAP_FLAGS: dict[int, tuple[str, str, str]] = {
    1 << 0: ("BPF_F_NO_PREALLOC", "4.6", "6c9059817432"),
    # Part of the LRU map series (29ba732acbee, 961578b63474), all in 4.10.
    1 << 1: ("BPF_F_NO_COMMON_LRU", "4.10", "961578b63474"),
    1 << 2: ("BPF_F_NUMA_NODE", "4.14", "96eabe7a40aa"),
    1 << 7: ("BPF_F_RDONLY_PROG", "5.2", "591fe9888d78"),
    1 << 10: ("BPF_F_MMAPABLE", "5.5", "fc9702273e2e"),
}

# Instruction-level features, by the name kernel_reqs.py reports.
INSNS: dict[str, tuple[str, str]] = {
    # Part of eBPF from the start (the bpf() syscall release).
    "atomic add": ("3.18", "99c55f7d47c0"),
    "bpf-to-bpf calls": ("4.16", "cc8b0b92a169"),
    # Class 0x06, what clang -mcpu=v3 emits for 32-bit compares.
    "JMP32 instructions": ("5.1", "092ed0968bb6"),
    # .rodata/.bss/.data as map values (BPF_PSEUDO_MAP_VALUE); libbpf skips
    # creating them on older kernels, so a program using them fails to load.
    "global data": ("5.2", "d8eca5bbb2be"),
    # Before 5.2 a program had at most 4096 instructions (BPF_MAXINSNS).
    "more than 4096 instructions": ("5.2", "c04c0d2b968a"),
    # Any cycle in the control-flow graph; older verifiers reject the back-edge.
    "bounded loops": ("5.3", "2589726d12a1"),
    # libbpf resolves CO-RE relocations against /sys/kernel/btf/vmlinux
    # (CONFIG_DEBUG_INFO_BTF=y). The commit entered bpf-next in August 2019,
    # so 5.4, although its sysfs ABI entry says 5.5.
    "CO-RE relocations (kernel BTF)": ("5.4", "341dfcf8d78e"),
    "typed ksyms (BPF_PSEUDO_BTF_ID)": ("5.10", "4976b718c355"),
    "atomic fetch-and-op": ("5.12", "5ca419f2864a"),
    "atomic and/or/xor": ("5.12", "981f94c3e921"),
    "atomic xchg/cmpxchg": ("5.12", "5ffa25502b5a"),
    # ld_imm64 of a subprogram (callbacks), introduced for bpf_for_each_map_elem.
    "callback functions": ("5.13", "69c087ba6225"),
    # clang -mcpu=v4: sign-extending loads and moves, bswap, sdiv/smod, gotol
    # (merge f7e6bd33d1d4, "bpf: Support new insns from cpu v4").
    "cpu v4 instructions": ("6.6", "f7e6bd33d1d4"),
}

# Kernel functions (kfuncs) by name; each has its own first release. None used yet.
KFUNCS: dict[str, tuple[str, str]] = {}

# Helpers libbpf (>= 0.2, e6f118dd in libbpf/libbpf) rewrites to an older one when
# the kernel lacks them, so the older helper's release is what counts.
LIBBPF_FALLBACKS: dict[str, str] = {
    "probe_read_kernel": "probe_read",
    "probe_read_user": "probe_read",
    "probe_read_kernel_str": "probe_read_str",
    "probe_read_user_str": "probe_read_str",
}
