/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by syscalls.bpf.c and bpftop/collectors/syscalls.py: the Python side
 * reads the #defines below from this file and checks the struct sizes against
 * the map sizes libbpf reports, so the two sides cannot drift apart silently.
 */
#ifndef __BPFTOP_SYSCALLS_H
#define __BPFTOP_SYSCALLS_H

#define SYSCALLS_MAX_NR 512         /* x86_64 and the generic table stay below */
#define SYSCALLS_HIST_SLOTS 36      /* log2(ns) slots; the last one is open-ended */
#define SYSCALLS_MAX_INFLIGHT 32768 /* threads inside a syscall at once */
#define SYSCALLS_MAX_PROCS 16384    /* (tgid, nr) pairs kept, LRU */
#define SYSCALLS_MAX_ERRNOS 4096    /* (tgid, nr, errno) triples kept, LRU */
#define SYSCALLS_COMM_LEN 16

/* Indexes into the per-CPU `counters` array. */
#define SC_UNMATCHED_EXITS 0  /* timing, an exit without its enter: counted, not timed */
#define SC_OUT_OF_RANGE 1     /* nr >= SYSCALLS_MAX_NR (x32, compat) */
#define SC_PROC_INSERTS 2     /* keys created in `procs`; minus live keys = evicted */
#define SC_PROC_LOST 3        /* `procs` update failed: the event is not counted */
#define SC_ERRNO_INSERTS 4    /* keys created in `errnos` */
#define SC_ERRNO_LOST 5
#define SC_NR_COUNTERS 6

struct syscall_start {
	__u64 ts_ns;
	__u32 nr;
	__u32 gen; /* `timing` when written: older entries are not matched */
};

/* Per syscall number, per CPU: no atomics needed on the hot path. The
 * histogram slots add up to the calls that were timed. */
struct syscall_hist {
	__u64 calls;
	__u64 errors;
	__u64 total_ns;
	__u64 max_ns;
	__u64 slots[SYSCALLS_HIST_SLOTS];
};

struct proc_key {
	__u32 tgid;
	__u32 nr;
};

/* Shared across CPUs (atomics): a per-CPU LRU would cost ncpu times the
 * memory and the read time for thousands of keys. Calls are timed_calls +
 * counted_calls: one atomic add per call whether timing or not. */
struct proc_val {
	__u64 timed_calls;   /* total_ns and max_ns are theirs */
	__u64 counted_calls; /* returned while timing was off, or unmatched */
	__u64 errors;
	__u64 total_ns;
	__u64 max_ns;
	char comm[SYSCALLS_COMM_LEN];
};

struct errno_key {
	__u32 tgid;
	__u32 nr;
	__u32 err;
	__u32 pad;
};

#endif /* __BPFTOP_SYSCALLS_H */
