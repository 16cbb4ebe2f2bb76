/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Performance counters per process, pmc's share of sched.bpf.c's
 * sched_switch: read this CPU's perf events (one PERF_EVENT_ARRAY per
 * counter, indexed by CPU, filled by user space with hardware or software
 * events) and add the deltas since the previous switch on this CPU to the
 * process leaving it (prev is `current`: its tgid, uid and cgroup are known).
 */
#ifndef __BPFTOP_PMC_BPF_H
#define __BPFTOP_PMC_BPF_H

#include "pmc.h"

/* Written by the pmc collector (.bss). nr_counters: how many counterN maps
 * hold events, 0 while no pmc collector runs, so a switch reads nothing.
 * pmc_paused: no pane shows the counters, so nothing is read at all (reading
 * six counters costs a switch ~100 ns each); a resume bumps pmc_epoch, and a
 * CPU whose readings are older takes its next ones as a fresh baseline. */
__u32 nr_counters = 0;
__u32 pmc_paused = 0;
__u32 pmc_epoch = 0;
/* Bit n: counter n is read with its enabled and running times, because the
 * PMU may multiplex it. Software events never are, and the times cost each
 * read ~45 ns (a clock read in the kernel): they are read bare, their times
 * left at 0, which derive takes as "not scaled". */
__u32 pmc_timed = 0;

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
} pmc_cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PMC_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct pmc_proc_val);
} pmc_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PMC_NR_STATS);
	__type(key, __u32);
	__type(value, __u64);
} pmc_stats SEC(".maps");

static __always_inline void pmc_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&pmc_stats, &idx);

	if (c)
		*c += 1; /* per-CPU, and sched_switch cannot nest on one CPU */
}

static __always_inline struct pmc_proc_val *pmc_proc_of(__u32 tgid)
{
	struct pmc_proc_val init = {}, *p = bpf_map_lookup_elem(&pmc_procs, &tgid);
	struct task_struct *cur;

	if (p)
		return p;
	cur = (void *)bpf_get_current_task();
	task_proc_comm(cur, init.comm, sizeof(init.comm));
	if (BPF_CORE_READ(cur, flags) & PF_KTHREAD)
		init.flags = PMC_KTHREAD;
	if (bpf_map_update_elem(&pmc_procs, &tgid, &init, BPF_NOEXIST) == 0)
		pmc_count(PMC_PROC_INSERTS);
	p = bpf_map_lookup_elem(&pmc_procs, &tgid); /* or another CPU won the race */
	if (!p)
		pmc_count(PMC_PROC_LOST);
	return p;
}

/* Read counter n on this CPU; the delta since the last switch goes to prev
 * (pid 0: the CPU's idle task, kept per CPU), or nowhere when filtered out. */
#define READ_COUNTER(n)                                                                \
	if (n < nr) {                                                                  \
		struct bpf_perf_event_value v = {};                                    \
		struct pmc_reading *last = &c->last[n];                                \
		long err = 0;                                                          \
		if (timed & (1U << n)) {                                               \
			err = bpf_perf_event_read_value(&counter##n, BPF_F_CURRENT_CPU, &v, sizeof(v)); \
		} else {                                                               \
			v.counter = bpf_perf_event_read(&counter##n, BPF_F_CURRENT_CPU); \
			if (v.counter >= (__u64)-4095) /* -errno: slot empty, event off */ \
				err = (long)v.counter;                                 \
		}                                                                      \
		if (err) {                                                             \
			pmc_count(PMC_READ_ERRORS);                                    \
			c->valid &= ~(1U << n);                                        \
		} else {                                                               \
			if ((c->valid & (1U << n)) && v.counter >= last->counter &&    \
			    v.enabled >= last->enabled && v.running >= last->running) { \
				__u64 d = v.counter - last->counter;                   \
				if (!tgid)                                             \
					c->idle[n] += d;                               \
				else if (p) {                                          \
					__sync_fetch_and_add(&p->counter[n], d);       \
					if (timed & (1U << n)) {                       \
						__sync_fetch_and_add(&p->enabled[n], v.enabled - last->enabled); \
						__sync_fetch_and_add(&p->running[n], v.running - last->running); \
					}                                              \
				}                                                      \
			}                                                              \
			last->counter = v.counter;                                     \
			last->enabled = v.enabled;                                     \
			last->running = v.running;                                     \
			c->valid |= 1U << n;                                           \
		}                                                                      \
	}

/* prev (`current`, of tgid) leaves this CPU to next. */
static __always_inline void pmc_switch(__u32 tgid, __u32 next_tid, __u32 next_tgid)
{
	__u32 zero = 0, nr = nr_counters, epoch = pmc_epoch, timed = pmc_timed;
	struct pmc_proc_val *p = NULL;
	struct cpu_state *c;

	if (!nr || pmc_paused)
		return;
	c = bpf_map_lookup_elem(&pmc_cpus, &zero);
	if (!c)
		return;
	if (tgid && !filtered_out(tgid)) {
		p = pmc_proc_of(tgid);
		if (p)
			__sync_fetch_and_add(&p->stints, 1);
	}
	c->seq_begin += 1;
	barrier();
	if (c->epoch != epoch) {
		c->valid = 0;
		c->epoch = epoch;
	}
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
	pmc_count(PMC_SWITCHES);
}

#endif /* __BPFTOP_PMC_BPF_H */
