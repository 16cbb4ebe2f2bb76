/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where biolat.bpf.c's numbers go: its maps, the drop counters, and the
 * per-disk and per-process accounting of one completed request.
 */
#ifndef __BPFTOP_BIOLAT_BPF_H
#define __BPFTOP_BIOLAT_BPF_H

#include "bits.bpf.h"
#include "biolat.h"
#include "biolat_rq.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BIOLAT_MAX_INFLIGHT);
	__type(key, struct start_key);
	__type(value, struct start_val);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, BIOLAT_MAX_DISKOPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct disk_key);
	__type(value, struct biolat_hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BIOLAT_MAX_PROCS);
	__type(key, struct proc_key);
	__type(value, struct proc_val);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BL_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static struct biolat_hist zero_hist; /* too big for the 512-byte stack */

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1; /* per-CPU, and a program never nests on its own CPU */
}

static __always_inline void add_hist(struct rq_info *info, __u64 *times)
{
	struct disk_key key = { .dev = info->dev, .op = info->op, .sync = info->sync };
	struct biolat_hist *h = bpf_map_lookup_elem(&hists, &key);

	if (!h) {
		/* EEXIST when another CPU created it first: fine, look it up. */
		bpf_map_update_elem(&hists, &key, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h) {
			count(BL_DISK_LOST);
			return;
		}
	}
	/* Per-CPU value: plain adds are exact. */
	h->ios += 1;
	h->bytes += info->bytes;
	/* Unrolled: clang lays this loop out with a fall-through back-edge,
	 * which the 6.1 verifier's CFG check rejects ("back-edge from insn
	 * 209 to 210") before it even tries bounded-loop verification. */
#pragma unroll
	for (int t = 0; t < BIOLAT_NR_TIMES; t++) {
		__u64 slot = log2_slot(times[t] / 1000, BIOLAT_HIST_SLOTS);

		h->sum_ns[t] += times[t];
		if (times[t] > h->max_ns[t])
			h->max_ns[t] = times[t];
		h->slots[t][slot] += 1;
	}
}

static __always_inline void add_proc(struct start_val *v, struct rq_info *info, __u64 total_ns)
{
	struct proc_key key = { .tgid = v->tgid, .dev = info->dev, .op = info->op };
	struct proc_val *p = bpf_map_lookup_elem(&procs, &key);

	if (!p) {
		struct proc_val init = {};

		/* comm from the submitter's context, so processes that exit keep a name */
		__builtin_memcpy(init.comm, v->comm, sizeof(init.comm));
		if (bpf_map_update_elem(&procs, &key, &init, BPF_NOEXIST) == 0)
			count(BL_PROC_INSERTS);
		p = bpf_map_lookup_elem(&procs, &key);
		if (!p) {
			count(BL_PROC_LOST);
			return;
		}
	}
	__sync_fetch_and_add(&p->ios, 1);
	__sync_fetch_and_add(&p->bytes, info->bytes);
	__sync_fetch_and_add(&p->total_ns, total_ns);
}

#endif /* __BPFTOP_BIOLAT_BPF_H */
