// SPDX-License-Identifier: GPL-2.0
/*
 * The scheduler's hooks, shared by the runqlat and pmc collectors: a context
 * switch, the hottest path there is, runs one program that does both
 * collectors' work, each skipped while its collector is not running
 * (runqlat_on, nr_counters) or its figures are not on screen (pmc_paused).
 * sched_wakeup, sched_wakeup_new and sched_process_exec are runqlat's alone.
 * Each hook comes in three families; the loader keeps one (tp_btf, raw_tp or
 * tracepoint). The bookkeeping is in runqlat.bpf.h, runqlat_switch.bpf.h and
 * pmc.bpf.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bits.bpf.h"
#include "filters.bpf.h"
#include "task.bpf.h"
#include "runqlat.bpf.h"
#include "runqlat_switch.bpf.h"
#include "pmc.bpf.h"

/* sched_switch has a 4th argument, prev_state, since 5.18; user space sets
 * this from the kernel's BTF. The verifier never visits the dead branch, so an
 * older kernel does not see the access to an argument it lacks. */
const volatile __u8 switch_state_arg = 0;

/* prev is `current`; s says what runqlat needs of it (filled only when on). */
static __always_inline int on_switch(const struct switch_info *s)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (runqlat_running())
		runqlat_switch(s, id);
	pmc_switch(id >> 32, s->next_tid, s->next_tgid);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup_btf, struct task_struct *p)
{
	return on_wakeup(p->pid, p->tgid, false);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_btf, struct task_struct *p)
{
	return on_wakeup(p->pid, p->tgid, true);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct switch_info s = { .next_tid = next->pid, .next_tgid = next->tgid };

	if (runqlat_running()) {
		__u32 state = switch_state_arg ? (__u32)ctx[3] : task_state(prev);

		s.runnable = preempt || state == TASK_RUNNING;
		prev_info_btf(prev, &s);
		s.next_task = (__u64)next;
		s.next_runtime_ns = next->se.sum_exec_runtime;
	}
	return on_switch(&s);
}

SEC("tp_btf/sched_process_exec")
int sched_exec_btf(void *ctx)
{
	return on_exec();
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(sched_wakeup_raw, struct task_struct *p)
{
	return runqlat_running() ? on_wakeup(BPF_CORE_READ(p, pid), BPF_CORE_READ(p, tgid), false) : 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_raw, struct task_struct *p)
{
	return runqlat_running() ? on_wakeup(BPF_CORE_READ(p, pid), BPF_CORE_READ(p, tgid), true) : 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct switch_info s = { .next_tid = BPF_CORE_READ(next, pid), .next_tgid = BPF_CORE_READ(next, tgid) };

	if (runqlat_running()) {
		__u32 state = switch_state_arg ? (__u32)ctx[3] : task_state(prev);

		s.runnable = preempt || state == TASK_RUNNING;
		prev_info_core(prev, &s);
		s.next_task = (__u64)next;
		s.next_runtime_ns = BPF_CORE_READ(next, se.sum_exec_runtime);
	}
	return on_switch(&s);
}

SEC("raw_tp/sched_process_exec")
int sched_exec_raw(void *ctx)
{
	return on_exec();
}

/* The classic tracepoints carry pids but no task pointers: prev is current,
 * and a switched-in thread's tgid is learnt at its first switch-out (pmc
 * then leaves a stint still running at sampling time unattributed; its
 * switch-out is). Their prev_state is TASK_REPORT_MAX (0x100 since 4.14) when
 * prev was preempted; the low byte is the sleep state it reports. */
SEC("tracepoint/sched/sched_wakeup")
int sched_wakeup_tp(struct trace_event_raw_sched_wakeup_template *ctx)
{
	return on_wakeup(ctx->pid, 0, false);
}

SEC("tracepoint/sched/sched_wakeup_new")
int sched_wakeup_new_tp(struct trace_event_raw_sched_wakeup_template *ctx)
{
	return on_wakeup(ctx->pid, 0, true);
}

SEC("tracepoint/sched/sched_switch")
int sched_switch_tp(struct trace_event_raw_sched_switch *ctx)
{
	struct switch_info s = { .next_tid = ctx->next_pid, .runnable = !(ctx->prev_state & 0xff) };

	if (runqlat_running())
		prev_info_core((void *)bpf_get_current_task(), &s);
	return on_switch(&s);
}

SEC("tracepoint/sched/sched_process_exec")
int sched_exec_tp(void *ctx)
{
	return on_exec();
}

char LICENSE[] SEC("license") = "GPL";
