// SPDX-License-Identifier: GPL-2.0
/*
 * Off-CPU time by stack: at sched_switch the thread switching out (prev, which
 * is `current`) has its stacks taken and its start time kept; when it is
 * switched back in, the time in between is added to those stacks, if at least
 * min_block_ns. Like offcputime, a preempted thread's wait for a CPU counts
 * too. bpftop's own threads (self_tgid) are left out. Each hook comes in three
 * families; the loader keeps one (tp_btf, raw_tp or tracepoint).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "filters.bpf.h"
#include "task.bpf.h"
#include "stacks.bpf.h"

const volatile __u64 min_block_ns = 1000;
/* Walking two stacks at every context switch is the costliest thing bpftop
 * does, so the collector attaches this program only while someone looks at
 * off-CPU stacks (the stacks pane, a process's stacks, `bpftop profile
 * --off-cpu`): detached, it costs a switch nothing, not even a call. */

struct start_val {
	__u64 out_ns;
	struct stack_key key;
	__u32 epoch; /* key's stack ids are from this stack map epoch */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STACKS_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct start_val);
} start SEC(".maps");

static __always_inline int on_switch(void *ctx, __u32 next_tid)
{
	__u64 now = bpf_ktime_get_ns(), id = bpf_get_current_pid_tgid();
	__u32 prev_tid = id, tgid = id >> 32;
	struct start_val *s, init = {};

	if (prev_tid && tgid != self_tgid && !filtered_out(tgid)) {
		init.out_ns = now;
		init.epoch = epoch;
		init.key.tgid = tgid;
		take_stacks(ctx, (void *)bpf_get_current_task(), &init.key);
		if (bpf_map_update_elem(&start, &prev_tid, &init, BPF_ANY))
			count(ST_THREADS_LOST);
	}
	if (!next_tid)
		return 0;
	s = bpf_map_lookup_elem(&start, &next_tid);
	if (!s)
		return 0;
	/* Its stack ids may have been deleted, or reused, since a reset. */
	if (s->epoch != epoch)
		count(ST_STALE);
	else if (now - s->out_ns >= min_block_ns)
		add_count(&s->key, now - s->out_ns);
	else
		count(ST_SHORT);
	bpf_map_delete_elem(&start, &next_tid);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(ctx, next->pid);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(ctx, BPF_CORE_READ(next, pid));
}

SEC("tracepoint/sched/sched_switch")
int sched_switch_tp(struct trace_event_raw_sched_switch *ctx)
{
	return on_switch(ctx, ctx->next_pid);
}

char LICENSE[] SEC("license") = "GPL";
