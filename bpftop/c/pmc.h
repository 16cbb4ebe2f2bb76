/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by pmc.bpf.h (in sched.bpf.c) and bpftop/collectors/pmc.py: the Python side reads the
 * #defines below from this file and checks the struct sizes against the map
 * sizes libbpf reports, so the two sides cannot drift apart silently.
 */
#ifndef __BPFTOP_PMC_H
#define __BPFTOP_PMC_H

#define PMC_MAX_COUNTERS 6   /* PERF_EVENT_ARRAY maps counter0..counter5 */
#define PMC_MAX_PROCS 16384  /* processes with totals, LRU */
#define PMC_COMM_LEN 16
#define PMC_KTHREAD 1        /* pmc_proc_val.flags: a kernel thread (PF_KTHREAD) */

/* Indexes into the per-CPU `pmc_stats` array. */
#define PMC_READ_ERRORS 0    /* bpf_perf_event_read_value failed (slot empty, event off) */
#define PMC_PROC_INSERTS 1   /* keys created in `pmc_procs`; minus live keys = evicted */
#define PMC_PROC_LOST 2      /* `pmc_procs` update failed: the stint is not counted */
#define PMC_SWITCHES 3       /* sched_switch runs that read the counters */
#define PMC_NR_STATS 4

/* One reading, as bpf_perf_event_read_value returns it (struct
 * bpf_perf_event_value): the count and the times the event was enabled and
 * actually counting, which differ when the PMU multiplexes. */
struct pmc_reading {
	__u64 counter;
	__u64 enabled;
	__u64 running;
};

/*
 * Per CPU: the readings at the last switch, who runs since then (user space
 * adds the running stint) and what the idle task (pid 0) consumed. seq_begin
 * and seq_end differ while the entry is written, so a reader that copies it
 * mid-update can tell. Readings of an older epoch (taken before a pause) are
 * no baseline: the first switch after the pause starts afresh.
 */
struct cpu_state {
	__u64 seq_begin;
	__u32 tid;    /* on this CPU since the last switch */
	__u32 tgid;   /* 0 when unknown (classic tracepoint family) */
	__u32 valid;  /* bit i: last[i] holds a reading */
	__u32 epoch;  /* pmc_epoch when last[] was read */
	struct pmc_reading last[PMC_MAX_COUNTERS];
	__u64 idle[PMC_MAX_COUNTERS]; /* counter deltas of pid 0 */
	__u64 seq_end;
};

/* Per process, shared across CPUs (atomics): summed deltas of each counter
 * and of its enabled and running times, so user space can scale for
 * multiplexing over any interval. */
struct pmc_proc_val {
	__u64 counter[PMC_MAX_COUNTERS];
	__u64 enabled[PMC_MAX_COUNTERS];
	__u64 running[PMC_MAX_COUNTERS];
	__u64 stints; /* switch-outs seen */
	__u32 flags;
	__u32 pad;
	char comm[PMC_COMM_LEN];
};

#endif /* __BPFTOP_PMC_H */
