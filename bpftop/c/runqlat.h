/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by runqlat.bpf.h (in sched.bpf.c) and bpftop/collectors/runqlat.py: the Python side
 * reads the #defines below from this file and checks the struct sizes against
 * the map sizes libbpf reports, so the two sides cannot drift apart silently.
 */
#ifndef __BPFTOP_RUNQLAT_H
#define __BPFTOP_RUNQLAT_H

#define RUNQLAT_HIST_SLOTS 27   /* log2(us) slots, as runqlat; the last (>= 67 s) is open-ended */
#define RUNQLAT_MAX_TASKS 32768 /* threads tracked between switches, LRU */
#define RUNQLAT_MAX_PROCS 16384 /* processes with totals, LRU */
#define RUNQLAT_MAX_HISTS 4096  /* processes with a histogram too, LRU */
#define RUNQLAT_COMM_LEN 16
#define RUNQLAT_KTHREAD 1       /* proc_val.flags: a kernel thread (PF_KTHREAD) */

/* Indexes into the per-CPU `counters` array. */
#define RQ_UNMATCHED 0    /* a switch of a thread not seen: its wait is unknown */
#define RQ_TASK_INSERTS 1 /* keys created in `tasks`; minus live keys = evicted */
#define RQ_TASK_LOST 2    /* `tasks` update failed (each *_LOST follows its *_INSERTS) */
#define RQ_PROC_INSERTS 3 /* keys created in `procs` */
#define RQ_PROC_LOST 4    /* `procs` update failed: the switch is not counted */
#define RQ_HIST_INSERTS 5 /* keys created in `proc_hists` */
#define RQ_HIST_LOST 6
#define RQ_RECOVERED 7    /* waits whose wakeup or switch-in went unseen, from sched_info */
#define RQ_IDLE_REPAIRED 8 /* idle stints whose switch-in went unseen, from the runtime of the task before */
#define RQ_NR_COUNTERS 9

/*
 * Per thread, between its switches. A switch-in moves the run-queue wait and
 * the off-CPU interval that just ended into rq_ns/off_ns; the next switch-out,
 * when the thread is `current` (so its tgid, uid and cgroup are known on every
 * attach family), adds them to its process.
 */
struct task_val {
	__u64 out_ns;  /* switched out at; 0 once consumed by a switch-in */
	__u64 wake_ns; /* runnable (woken, or preempted) since; 0 when not queued */
	__u64 rq_ns;   /* run-queue wait before the current stint */
	__u64 off_ns;  /* off-CPU interval before the current stint */
	__u64 runtime_ns; /* se.sum_exec_runtime at the last switch-out; 0: unknown */
	__u64 run_delay_ns; /* sched_info.run_delay then (see struct switch_info) */
	__u64 pcount;       /* sched_info.pcount then; 0: unknown */
	__u64 faults;       /* min_flt + maj_flt then (valid with `counted`) */
	__u64 migrations;   /* se.nr_migrations then (valid with `counted`) */
	__u32 tgid;    /* 0 until known (the tracepoint family has no task pointer) */
	__u8 out_runnable; /* the last switch-out was involuntary */
	__u8 off_runnable; /* off_ns began with an involuntary switch-out */
	__u8 has_rq;       /* rq_ns is pending */
	__u8 counted;      /* faults and migrations hold a baseline: a switch-out
			    * was seen, or the thread was born while watched (from 0) */
};

/* Per CPU: who runs now (user space adds the running stint), idle time and
 * the system-wide run-queue histogram; plain adds, no atomics. Written in the
 * order in_ns = 0, tid/tgid, in_ns so a concurrent reader never pairs a new
 * tid with an old in_ns. */
struct cpu_val {
	__u32 tid;
	__u32 tgid;
	__u64 in_ns;      /* switched in at; 0 until the first switch seen */
	__u64 idle_ns;    /* pid 0 on this CPU, finished stints */
	__u64 rq_count;
	__u64 rq_total_ns;
	__u64 rq_max_ns;
	__u64 slots[RUNQLAT_HIST_SLOTS];
	/* The task switched in at in_ns and its se.sum_exec_runtime then (0: not
	 * known; the tracepoint family has no pointer): when its switch to idle
	 * goes unseen, its runtime since tells how much of the time was idle. */
	__u64 in_task;
	__u64 in_runtime_ns;
};

/* Per process, shared across CPUs (atomics). */
struct proc_val {
	__u64 on_cpu_ns;
	__u64 rq_wait_ns;
	__u64 rq_count;
	__u64 rq_max_ns;
	__u64 vol_switches;   /* switched out blocked */
	__u64 invol_switches; /* switched out still runnable (preempted) */
	__u64 off_blocked_ns; /* off-CPU after a voluntary switch, wakeup wait included */
	__u64 off_preempted_ns; /* off-CPU after an involuntary switch: all run-queue wait */
	/* The pmc collector's software counters, from the task's own counts
	 * (what getrusage reports) at each switch-out: no perf event read. */
	__u64 faults;         /* page faults, minor and major */
	__u64 migrations;     /* moves to another CPU */
	__u32 flags;
	__u32 pad;
	char comm[RUNQLAT_COMM_LEN];
};

struct proc_hist {
	__u64 slots[RUNQLAT_HIST_SLOTS];
};

#endif /* __BPFTOP_RUNQLAT_H */
