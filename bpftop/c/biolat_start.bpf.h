/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The life of a request in biolat.bpf.c: its entry in `start` is activated at
 * block_io_start (or the first insert/issue), stamped at insert and issue,
 * restarted by a requeue, deactivated by a merge, accounted and deactivated at
 * completion. The including file defines the two filter functions.
 *
 * Entries keyed by request pointer are reused rather than deleted: the block
 * layer recycles a fixed set of requests (one per tag), so after warm-up each
 * request finds its entry and is written in place. An LRU update allocates and
 * swaps an element and a delete frees one; reuse cut the programs' run time
 * per I/O by a third (~1150 to ~780 ns, bench_biolat.py). The LRU still
 * bounds the map. Classic tracepoint keys ({dev, sector}) rarely repeat, so
 * that family deletes.
 */
#ifndef __BPFTOP_BIOLAT_START_BPF_H
#define __BPFTOP_BIOLAT_START_BPF_H

#include "biolat.bpf.h"
#include "filters.bpf.h"

/* block_io_start (>= 6.5) runs in the submitter's context. Without it (older
 * kernels, or requests the block layer makes itself, like the flush
 * sequence's), insert or issue is the best guess: the submitter when it
 * queues or dispatches the request itself, else a kworker. `v` is the key's
 * entry if it has one. */
static __always_inline void new_start(struct start_key *key, struct start_val *v, __u64 insert_ns,
				      __u64 issue_ns)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct start_val val = { .insert_ns = insert_ns, .issue_ns = issue_ns, .tgid = tgid, .active = 1 };

	if (filtered_out(tgid))
		return;
	if (v) {
		if (v->active)
			count(BL_STALE); /* the key's last request never completed */
		v->insert_ns = insert_ns;
		v->issue_ns = issue_ns;
		v->tgid = tgid;
		bpf_get_current_comm(v->comm, sizeof(v->comm));
		v->active = 1;
		return;
	}
	bpf_get_current_comm(val.comm, sizeof(val.comm));
	count(bpf_map_update_elem(&start, key, &val, BPF_ANY) ? BL_START_LOST : BL_START_INSERTS);
}

static __always_inline int on_io_start(struct start_key *key)
{
	new_start(key, bpf_map_lookup_elem(&start, key), 0, 0);
	return 0;
}

static __always_inline int on_insert(struct start_key *key)
{
	__u64 now = bpf_ktime_get_ns();
	struct start_val *v = bpf_map_lookup_elem(&start, key);

	/* Fresh from block_io_start, or requeued: timed from here. */
	if (v && v->active && !v->insert_ns && !v->issue_ns)
		v->insert_ns = now;
	else
		new_start(key, v, now, 0);
	return 0;
}

static __always_inline int on_issue(struct start_key *key)
{
	__u64 now = bpf_ktime_get_ns();
	struct start_val *v = bpf_map_lookup_elem(&start, key);

	/* No insert before: the request went straight to the driver. */
	if (v && v->active && !v->issue_ns)
		v->issue_ns = now;
	else
		new_start(key, v, 0, now);
	return 0;
}

static __always_inline int on_requeue(struct start_key *key)
{
	struct start_val *v = bpf_map_lookup_elem(&start, key);

	/* Back to the queue: keep the submitter, restart the times. */
	if (v && v->active) {
		v->insert_ns = 0;
		v->issue_ns = 0;
		count(BL_REQUEUES);
	}
	return 0;
}

static __always_inline void finish(struct start_key *key, struct start_val *v, bool reuse)
{
	if (reuse) {
		v->active = 0;
	} else {
		bpf_map_delete_elem(&start, key);
		count(BL_START_DELETES);
	}
}

static __always_inline int on_merge(struct start_key *key, bool reuse)
{
	struct start_val *v = bpf_map_lookup_elem(&start, key);

	/* Absorbed by another request, whose completion covers both. */
	if (v && v->active) {
		finish(key, v, reuse);
		count(BL_MERGES);
	}
	return 0;
}

static __always_inline int on_complete(struct start_key *key, struct rq_info *info, bool reuse)
{
	struct start_val *v = bpf_map_lookup_elem(&start, key);
	__u64 now = bpf_ktime_get_ns();
	__u64 times[BIOLAT_NR_TIMES];

	if (!v || !v->active) {
		/* A request through the flush sequence completes twice: its data,
		 * then, with no bytes left, the whole sequence; only the first
		 * finds the entry. With a filter, most requests have none. */
		if (!filtering() && info->bytes)
			count(BL_UNMATCHED);
		return 0;
	}
	if (v->issue_ns) {
		times[BIOLAT_DEVICE] = now - v->issue_ns;
		times[BIOLAT_QUEUE] = v->insert_ns ? v->issue_ns - v->insert_ns : 0;
		times[BIOLAT_TOTAL] = now - (v->insert_ns ?: v->issue_ns);
		add_hist(info, times);
		add_proc(v, info, times[BIOLAT_TOTAL]);
	} else {
		/* A data-less REQ_PREFLUSH write ends inside the flush sequence:
		 * the device saw only the flush request, which is counted. */
		count(BL_UNISSUED);
	}
	finish(key, v, reuse);
	return 0;
}

#endif /* __BPFTOP_BIOLAT_START_BPF_H */
