// SPDX-License-Identifier: GPL-2.0
/*
 * CPU profile: a perf event per CPU (cpu-clock, sampling at a frequency set
 * by user space) runs do_sample, which counts the interrupted task's user and
 * kernel stacks. User space opens the events (bpf/perf.py) and attaches this
 * program to each; the maps and counting are in stacks.bpf.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "filters.bpf.h"
#include "task.bpf.h"
#include "stacks.bpf.h"

SEC("perf_event")
int do_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct stack_key key = { .tgid = tgid };

	/* pid 0 is each CPU's idle task: idle time, not a process's. */
	if (!(__u32)id) {
		count(ST_IDLE);
		return 0;
	}
	if (filtered_out(tgid))
		return 0;
	take_stacks(ctx, (void *)bpf_get_current_task(), &key);
	add_count(&key, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
