// SPDX-License-Identifier: GPL-2.0
/*
 * Performance counters per process: at every sched_switch, read this CPU's
 * perf events (one PERF_EVENT_ARRAY per counter, indexed by CPU, filled by
 * user space with hardware or software events) and add the deltas since the
 * previous switch on this CPU to the process leaving it. The loader keeps one
 * family (tp_btf, raw_tp or tracepoint) of the sched_switch hook.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "filters.bpf.h"
#include "task.bpf.h"
#include "pmc.h"

/* How many counterN maps user space filled; the verifier drops the rest. */
const volatile __u32 nr_counters = 0;

#define COUNTER_MAP(n)                                   \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); \
		__type(key, __u32);                      \
		__type(value, __u32);                    \
	} counter##n SEC(".maps")

/* max_entries left at 0: libbpf sizes perf event arrays to the possible CPUs. */
COUNTER_MAP(0);
COUNTER_MAP(1);
COUNTER_MAP(2);
COUNTER_MAP(3);
COUNTER_MAP(4);
COUNTER_MAP(5);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_state);
} cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PMC_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct proc_val);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PMC_NR_STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&stats, &idx);

	if (c)
		*c += 1; /* per-CPU, and sched_switch cannot nest on one CPU */
}

static __always_inline struct proc_val *proc_of(__u32 tgid)
{
	struct proc_val init = {}, *p = bpf_map_lookup_elem(&procs, &tgid);
	struct task_struct *cur;

	if (p)
		return p;
	cur = (void *)bpf_get_current_task();
	task_proc_comm(cur, init.comm, sizeof(init.comm));
	if (BPF_CORE_READ(cur, flags) & PF_KTHREAD)
		init.flags = PMC_KTHREAD;
	if (bpf_map_update_elem(&procs, &tgid, &init, BPF_NOEXIST) == 0)
		count(PMC_PROC_INSERTS);
	p = bpf_map_lookup_elem(&procs, &tgid); /* or another CPU won the race */
	if (!p)
		count(PMC_PROC_LOST);
	return p;
}

/* Read counter n on this CPU; the delta since the last switch goes to prev
 * (pid 0: the CPU's idle task, kept per CPU), or nowhere when filtered out. */
#define READ_COUNTER(n)                                                                \
	if (n < nr_counters) {                                                         \
		struct bpf_perf_event_value v;                                         \
		struct pmc_reading *last = &c->last[n];                                \
		if (bpf_perf_event_read_value(&counter##n, BPF_F_CURRENT_CPU, &v, sizeof(v))) { \
			count(PMC_READ_ERRORS);                                        \
			c->valid &= ~(1U << n);                                        \
		} else {                                                               \
			if ((c->valid & (1U << n)) && v.counter >= last->counter &&    \
			    v.enabled >= last->enabled && v.running >= last->running) { \
				__u64 d = v.counter - last->counter;                   \
				if (!tgid)                                             \
					c->idle[n] += d;                               \
				else if (p) {                                          \
					__sync_fetch_and_add(&p->counter[n], d);       \
					__sync_fetch_and_add(&p->enabled[n], v.enabled - last->enabled); \
					__sync_fetch_and_add(&p->running[n], v.running - last->running); \
				}                                                      \
			}                                                              \
			last->counter = v.counter;                                     \
			last->enabled = v.enabled;                                     \
			last->running = v.running;                                     \
			c->valid |= 1U << n;                                           \
		}                                                                      \
	}

/* prev is `current`: its tgid, uid and cgroup are known on every family. */
/* Set by user space while no pane shows the counters. The readings go on, so
 * every CPU keeps its baseline and who runs, and a resume needs no repair; only
 * the per-process sums (a hash lookup and up to 19 atomics a switch) stop. */
__u32 paused = 0;

static __always_inline int on_switch(__u32 next_tid, __u32 next_tgid)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0, tgid = id >> 32;
	struct proc_val *p = NULL;
	struct cpu_state *c = bpf_map_lookup_elem(&cpus, &zero);

	if (!c)
		return 0;
	if (tgid && !paused && !filtered_out(tgid)) {
		p = proc_of(tgid);
		if (p)
			__sync_fetch_and_add(&p->stints, 1);
	}
	c->seq_begin += 1;
	barrier();
	READ_COUNTER(0)
	READ_COUNTER(1)
	READ_COUNTER(2)
	READ_COUNTER(3)
	READ_COUNTER(4)
	READ_COUNTER(5)
	c->tid = next_tid;
	c->tgid = next_tgid;
	barrier();
	c->seq_end = c->seq_begin;
	count(PMC_SWITCHES);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(next->pid, next->tgid);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(BPF_CORE_READ(next, pid), BPF_CORE_READ(next, tgid));
}

/* The classic tracepoint carries next's pid but not its tgid: a stint still
 * running at sampling time is then not attributed (its switch-out is). */
SEC("tracepoint/sched/sched_switch")
int sched_switch_tp(struct trace_event_raw_sched_switch *ctx)
{
	return on_switch(ctx->next_pid, 0);
}

char LICENSE[] SEC("license") = "GPL";
