/* SPDX-License-Identifier: GPL-2.0 */
/* CO-RE reads of task_struct fields that moved between kernel versions. */
#ifndef __BPFTOP_TASK_BPF_H
#define __BPFTOP_TASK_BPF_H

#include <bpf/bpf_core_read.h>

#define TASK_RUNNING 0
#define PF_KTHREAD 0x00200000

/* Before 5.14 the field was `long state`. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

/* The scheduling state: TASK_RUNNING (0) while runnable. 5.14 renamed
 * `state` to `__state` (and made it unsigned int) so nobody reads it
 * without READ_ONCE; CO-RE picks whichever the running kernel has. */
static __always_inline __u32 task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

/* The process name: the thread group leader's comm, not the thread's. */
static __always_inline void task_proc_comm(struct task_struct *t, char *comm, __u32 size)
{
	struct task_struct *leader = BPF_CORE_READ(t, group_leader);

	bpf_probe_read_kernel_str(comm, size, &leader->comm);
}

/* What sched_switch tells about prev (current) and next. The kernel's own
 * counters of prev back up the events when one went unseen: run_delay
 * (total run-queue wait) and pcount (times on a CPU) exist with
 * CONFIG_SCHED_INFO, which SCHEDSTATS and TASK_DELAY_ACCT select. */
struct switch_info {
	__u64 runtime_ns;   /* prev's se.sum_exec_runtime */
	__u64 faults;       /* prev's min_flt + maj_flt (getrusage's page faults) */
	__u64 migrations;   /* prev's se.nr_migrations */
	__u64 run_delay_ns; /* prev's sched_info.run_delay, 0 without SCHED_INFO */
	__u64 pcount;       /* prev's sched_info.pcount, 0 without SCHED_INFO */
	__u64 next_task;    /* next's task_struct; 0: unknown (tracepoint family) */
	__u64 next_runtime_ns; /* next's se.sum_exec_runtime */
	__u32 next_tid;
	__u32 next_tgid;    /* 0: unknown */
	bool runnable;      /* prev stays in the run queue: preempted */
};

/* For tp_btf, whose task pointers the verifier lets programs load from directly. */
static __always_inline void prev_info_btf(struct task_struct *prev, struct switch_info *s)
{
	s->runtime_ns = prev->se.sum_exec_runtime;
	s->faults = prev->min_flt + prev->maj_flt;
	s->migrations = prev->se.nr_migrations;
	if (bpf_core_field_exists(prev->sched_info)) {
		s->run_delay_ns = prev->sched_info.run_delay;
		s->pcount = prev->sched_info.pcount;
	}
}

/* For raw_tp and tracepoint, whose task pointers need probe reads. */
static __always_inline void prev_info_core(struct task_struct *prev, struct switch_info *s)
{
	s->runtime_ns = BPF_CORE_READ(prev, se.sum_exec_runtime);
	s->faults = BPF_CORE_READ(prev, min_flt) + BPF_CORE_READ(prev, maj_flt);
	s->migrations = BPF_CORE_READ(prev, se.nr_migrations);
	if (bpf_core_field_exists(prev->sched_info)) {
		s->run_delay_ns = BPF_CORE_READ(prev, sched_info.run_delay);
		s->pcount = BPF_CORE_READ(prev, sched_info.pcount);
	}
}

#endif /* __BPFTOP_TASK_BPF_H */
