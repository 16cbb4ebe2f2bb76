/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Run-queue latency, on-CPU and off-CPU time and context switches per
 * process, runqlat's share of sched.bpf.c's hooks: its maps, wakeups, execs
 * and the recording of one run-queue wait. Switches are in
 * runqlat_switch.bpf.h.
 */
#ifndef __BPFTOP_RUNQLAT_BPF_H
#define __BPFTOP_RUNQLAT_BPF_H

#include "runqlat.h"

/* Written by the runqlat collector (.bss): 0 while none runs, so the hooks
 * return at once (the pmc collector may hold the object alone). */
__u32 runqlat_on = 0;
/* Written by the pmc collector: its software counters (task-clock, page
 * faults, context switches, migrations) come from this accounting, which
 * then runs even without the runqlat collector. */
__u32 pmc_from_sched = 0;
/* 0: this load leaves runqlat's part out, and the verifier never visits it:
 * how the pmc collector alone loads where runqlat cannot (its cmpxchg needs
 * 5.12; pmc's own code runs on 5.4), see collectors/sched.py. */
const volatile __u8 with_runqlat = 1;

static __always_inline bool runqlat_running(void)
{
	return with_runqlat && (runqlat_on || pmc_from_sched);
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RUNQLAT_MAX_TASKS);
	__type(key, __u32);
	__type(value, struct task_val);
} tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_val);
} cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RUNQLAT_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct proc_val);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RUNQLAT_MAX_HISTS);
	__type(key, __u32);
	__type(value, struct proc_hist);
} proc_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RQ_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1; /* per-CPU, and sched_switch cannot nest on one CPU */
}


/* Look a key up, creating it from `init` when absent (counting the insert). */
static __always_inline void *lookup_or_init(void *map, __u32 *key, void *init, __u32 inserts)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	if (bpf_map_update_elem(map, key, init, BPF_NOEXIST) == 0)
		count(inserts);
	v = bpf_map_lookup_elem(map, key); /* or another CPU won the race */
	if (!v)
		count(inserts + 1); /* each *_LOST counter follows its *_INSERTS */
	return v;
}

/* Who runs on this CPU: in_ns cleared first so a reader never pairs the new
 * thread with the old start time. */
static __always_inline void set_running(struct cpu_val *c, __u32 tid, __u32 tgid, __u64 now,
					 __u64 task, __u64 runtime_ns)
{
	c->in_ns = 0;
	barrier();
	c->tid = tid;
	c->tgid = tgid;
	c->in_task = task;
	c->in_runtime_ns = runtime_ns;
	barrier();
	c->in_ns = now;
}

/* The CPU runs its idle task, but the entry says another task: that task's
 * switch to idle went unseen (the Firecracker VM bpftop is tested in hides
 * its pid 1's threads switching out; a wakeup from idle or the idle task's
 * next switch-out shows it). Without this the idle stint is lost and an idle
 * CPU reads busy. The task ran for its runtime since it was switched in, so
 * it stopped at in_ns + that; the CPU was idle from then. (The runtime may
 * include a later stint on another CPU: then less idle is counted, never
 * more.) Returns now where the task or its runtime is unknown. */
static __always_inline __u64 unseen_end(struct cpu_val *c, __u64 now)
{
	struct task_struct *task = (void *)c->in_task;
	__u64 runtime, ran;

	if (!task || !c->in_ns)
		return now;
	runtime = BPF_CORE_READ(task, se.sum_exec_runtime);
	ran = runtime - c->in_runtime_ns;
	if (runtime < c->in_runtime_ns || ran > now - c->in_ns)
		return now;
	count(RQ_IDLE_REPAIRED);
	return c->in_ns + ran;
}

static __always_inline int on_wakeup(__u32 tid, __u32 tgid, bool new_task)
{
	__u64 now = bpf_ktime_get_ns(), id = bpf_get_current_pid_tgid();
	/* A new thread's counts start at 0 (copy_process, __sched_fork). */
	struct task_val init = { .wake_ns = now, .tgid = tgid, .counted = new_task }, *t;
	struct cpu_val *c;
	__u32 zero = 0;

	if (!runqlat_running())
		return 0;
	c = bpf_map_lookup_elem(&cpus, &zero);
	if (c && (c->tid != (__u32)id || !c->in_ns)) { /* not known yet, or a switch went unseen */
		struct task_struct *cur = (void *)bpf_get_current_task();

		if (id)
			set_running(c, id, id >> 32, now, (__u64)cur, BPF_CORE_READ(cur, se.sum_exec_runtime));
		else /* woken from idle: idle since the task before stopped */
			set_running(c, 0, 0, unseen_end(c, now), 0, 0);
	}
	if (!tid)
		return 0;
	t = bpf_map_lookup_elem(&tasks, &tid);
	if (!t) {
		lookup_or_init(&tasks, &tid, &init, RQ_TASK_INSERTS);
		return 0;
	}
	/* A new thread may reuse the tid of one that exited: forget the old one. */
	if (new_task)
		*t = init;
	/* Woken while already queued (preempted, or woken twice): it has been
	 * waiting since the earlier time. */
	if (!t->wake_ns)
		t->wake_ns = now;
	if (tgid)
		t->tgid = tgid;
	return 0;
}

/* A process keeps its pid across execve but takes the new program's name. */
static __always_inline int on_exec(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct proc_val *p = runqlat_running() ? bpf_map_lookup_elem(&procs, &tgid) : NULL;

	if (p)
		bpf_get_current_comm(p->comm, sizeof(p->comm));
	return 0;
}

static __always_inline void add_wait(struct cpu_val *c, __u32 tgid, struct proc_val *p, __u64 wait_ns)
{
	struct proc_hist zero = {}, *h;
	__u64 slot = log2_slot(wait_ns / 1000, RUNQLAT_HIST_SLOTS);

	c->rq_count += 1;
	c->rq_total_ns += wait_ns;
	if (wait_ns > c->rq_max_ns)
		c->rq_max_ns = wait_ns;
	c->slots[slot] += 1;
	__sync_fetch_and_add(&p->rq_count, 1);
	__sync_fetch_and_add(&p->rq_wait_ns, wait_ns);
	atomic_max_u64(&p->rq_max_ns, wait_ns);
	h = lookup_or_init(&proc_hists, &tgid, &zero, RQ_HIST_INSERTS);
	if (h)
		__sync_fetch_and_add(&h->slots[slot], 1);
}

#endif /* __BPFTOP_RUNQLAT_BPF_H */
