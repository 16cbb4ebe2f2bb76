/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The maps tcp_owner.bpf.c shares with tcp.bpf.c: user space loads tcp.bpf.o
 * first and hands these maps' fds to the owner iterator (libbpf's reuse_fd),
 * which checks that type, key and value sizes, size and flags match; one
 * definition here keeps them matching.
 */
#ifndef __BPFTOP_TCP_MAPS_BPF_H
#define __BPFTOP_TCP_MAPS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TCP_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct conn_val);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TCP_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct proc_val);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TC_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1; /* per-CPU; a run never nests with itself on one CPU */
}

#endif /* __BPFTOP_TCP_MAPS_BPF_H */
