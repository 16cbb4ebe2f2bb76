// SPDX-License-Identifier: GPL-2.0
/* Test object: one ring buffer event per syscall entry of one process. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 targ_tgid = 0;

struct event {
	__u32 tgid;
	__u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(rb_sys_enter, struct pt_regs *regs, long nr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	struct event *e;
	__u64 *d;

	if (tgid != targ_tgid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		d = bpf_map_lookup_elem(&dropped, &zero);
		if (d)
			__sync_fetch_and_add(d, 1);
		return 0;
	}
	e->tgid = tgid;
	e->nr = nr;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
