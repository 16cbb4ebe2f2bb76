// SPDX-License-Identifier: GPL-2.0
/*
 * A program every kernel's verifier rejects: it indexes a map value with a
 * random number it never bounds. A long, valid path comes first so the log
 * outgrows any small buffer; the rejection is at its end, where a cut log
 * would lose it. Used by tests/test_verifier_log.py.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define SLOTS 32

struct hist {
	__u64 slots[SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

SEC("raw_tp/sys_exit")
int reject_unbounded(void *ctx)
{
	__u32 key = 0;
	struct hist *h = bpf_map_lookup_elem(&hists, &key);

	if (!h)
		return 0;
	/* volatile keeps each step a separate, logged instruction */
	for (volatile int i = 0; i < 24; i++)
		h->slots[i & (SLOTS - 1)] += 1;
	__u32 slot = bpf_get_prandom_u32();
	h->slots[slot] += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
