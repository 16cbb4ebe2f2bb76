/* SPDX-License-Identifier: GPL-2.0 */
/*
 * runqlat's share of sched.bpf.c's sched_switch. Per-process figures are added when a thread
 * switches out, because only then is it `current` (tgid, uid and cgroup
 * known) on every attach family.
 *
 * A switch can go unseen: a program is skipped when it would recurse, and
 * some kernels hide chosen tasks from tracing (the Firecracker VM bpftop is
 * tested in never shows its pid 1's threads switching out). So on-CPU time is
 * the task's own se.sum_exec_runtime delta, a wait whose wakeup or switch-in
 * went unseen comes from the kernel's sched_info (or is counted as unmatched),
 * and a wakeup repairs its CPU's idea of who is running (runqlat.bpf.h).
 */
#ifndef __BPFTOP_RUNQLAT_SWITCH_BPF_H
#define __BPFTOP_RUNQLAT_SWITCH_BPF_H

static __always_inline struct proc_val *proc_of(__u32 tgid)
{
	struct proc_val init = {}, *p = bpf_map_lookup_elem(&procs, &tgid);
	struct task_struct *cur;

	if (p)
		return p;
	cur = (void *)bpf_get_current_task();
	task_proc_comm(cur, init.comm, sizeof(init.comm));
	if (BPF_CORE_READ(cur, flags) & PF_KTHREAD)
		init.flags = RUNQLAT_KTHREAD;
	return lookup_or_init(&procs, &tgid, &init, RQ_PROC_INSERTS);
}

static __always_inline void switch_out(struct cpu_val *c, __u32 tid, __u32 tgid,
				       const struct switch_info *s, __u64 now)
{
	struct task_val init = {}, *t;
	struct proc_val *p;
	__u64 ran_ns = 0;
	bool once;

	/* Filters look at `current`: at sched_switch, the thread switching out. */
	if (filtered_out(tgid))
		return;
	t = lookup_or_init(&tasks, &tid, &init, RQ_TASK_INSERTS);
	p = proc_of(tgid);
	if (!p || !t)
		return;
	if (t->runtime_ns && s->runtime_ns >= t->runtime_ns)
		ran_ns = s->runtime_ns - t->runtime_ns;
	else if (c->in_ns && c->tid == tid)
		ran_ns = now - c->in_ns; /* first switch-out seen */
	__sync_fetch_and_add(&p->on_cpu_ns, ran_ns);
	__sync_fetch_and_add(s->runnable ? &p->invol_switches : &p->vol_switches, 1);
	/* Faults and migrations since the last switch-out (a migration happens
	 * while the thread is off-CPU, so a stint's own delta would miss it).
	 * Most stints have neither: no atomic then. */
	if (t->counted && s->faults > t->faults)
		__sync_fetch_and_add(&p->faults, s->faults - t->faults);
	if (t->counted && s->migrations > t->migrations)
		__sync_fetch_and_add(&p->migrations, s->migrations - t->migrations);
	/* Exactly one stint on a CPU since the last switch-out seen. */
	once = t->pcount && s->pcount == t->pcount + 1;
	if (t->has_rq && !t->out_ns) {
		add_wait(c, tgid, p, t->rq_ns);
	} else if (once) { /* its wakeup or switch-in went unseen: the kernel knows the wait */
		add_wait(c, tgid, p, s->run_delay_ns - t->run_delay_ns);
		count(RQ_RECOVERED);
	} else if (t->out_ns || t->pcount) {
		count(RQ_UNMATCHED);
	}
	if (t->out_ns && once && now - t->out_ns >= ran_ns) {
		/* switched in unseen: the time since the switch-out not spent running */
		t->off_ns = now - t->out_ns - ran_ns;
		t->off_runnable = t->out_runnable;
	}
	if (t->off_ns)
		__sync_fetch_and_add(t->off_runnable ? &p->off_preempted_ns : &p->off_blocked_ns, t->off_ns);
	t->has_rq = 0;
	t->off_ns = 0;
	t->tgid = tgid;
	t->runtime_ns = s->runtime_ns;
	t->run_delay_ns = s->run_delay_ns;
	t->pcount = s->pcount;
	t->faults = s->faults;
	t->migrations = s->migrations;
	t->counted = 1;
	t->out_ns = now;
	t->out_runnable = s->runnable;
	/* Preempted: back in the run queue right away (as runqlat counts it). */
	t->wake_ns = s->runnable ? now : 0;
}

static __always_inline void switch_in(struct cpu_val *c, const struct switch_info *s, __u64 now)
{
	__u32 tid = s->next_tid, tgid = s->next_tgid;
	struct task_val *t = tid ? bpf_map_lookup_elem(&tasks, &tid) : NULL;

	if (t) {
		if (t->wake_ns) {
			t->rq_ns = now - t->wake_ns;
			t->has_rq = 1;
			t->wake_ns = 0;
		}
		if (t->out_ns) {
			t->off_ns = now - t->out_ns;
			t->off_runnable = t->out_runnable;
			t->out_ns = 0;
		}
		if (!tgid)
			tgid = t->tgid;
	} else if (tid) {
		count(RQ_UNMATCHED); /* never seen: running or queued at attach, or evicted */
	}
	set_running(c, tid, tgid, now, s->next_task, s->next_runtime_ns);
}

/* prev is `current` (id: its bpf_get_current_pid_tgid). Its
 * se.sum_exec_runtime is up to date here: picking the next task has already
 * charged prev's stint. */
static __always_inline void runqlat_switch(const struct switch_info *s, __u64 id)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 zero = 0, prev_tid = (__u32)id;
	struct cpu_val *c = bpf_map_lookup_elem(&cpus, &zero);

	if (!c)
		return;
	if (prev_tid)
		switch_out(c, prev_tid, id >> 32, s, now);
	else if (c->in_ns && c->tid == 0)
		c->idle_ns += now - c->in_ns; /* pid 0: this CPU's idle task */
	else if (c->in_ns)
		c->idle_ns += now - unseen_end(c, now); /* went idle unseen */
	switch_in(c, s, now);
}

#endif /* __BPFTOP_RUNQLAT_SWITCH_BPF_H */
