/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by biolat.bpf.c and bpftop/collectors/biolat.py: the Python side
 * reads the #defines below from this file and checks the struct sizes against
 * the map sizes libbpf reports, so the two sides cannot drift apart silently.
 */
#ifndef __BPFTOP_BIOLAT_H
#define __BPFTOP_BIOLAT_H

#define BIOLAT_HIST_SLOTS 32      /* log2(us) slots; the last one is open-ended */
#define BIOLAT_MAX_INFLIGHT 16384 /* request keys kept (LRU); in flight or reusable */
#define BIOLAT_MAX_DISKOPS 1024   /* (disk, op, sync) keys; full: completions lost (counted) */
#define BIOLAT_MAX_PROCS 8192     /* (tgid, disk, op) keys kept, LRU */
#define BIOLAT_COMM_LEN 16
#define BIOLAT_OP_UNKNOWN 255     /* tracepoint family: an rwbs letter we do not know */

/* Index of each time in biolat_hist's sums, maxima and slot rows. */
#define BIOLAT_TOTAL 0  /* insert (or issue, when never inserted) -> complete */
#define BIOLAT_QUEUE 1  /* insert -> issue; 0 when issued directly */
#define BIOLAT_DEVICE 2 /* issue -> complete */
#define BIOLAT_NR_TIMES 3

/* Indexes into the per-CPU `counters` array. */
#define BL_UNMATCHED 0      /* completion without a start entry: in flight at attach */
#define BL_UNISSUED 1       /* completed but never issued (a PREFLUSH-only write) */
#define BL_REQUEUES 2       /* requeued: timing restarts at the next insert/issue */
#define BL_MERGES 3         /* merged into another request, which completes for both */
#define BL_START_INSERTS 4  /* keys created in `start`; minus deletes and live keys = evicted */
#define BL_START_DELETES 5  /* keys deleted (tracepoint family only: others reuse them) */
#define BL_STALE 6          /* an active entry started over: its request never completed */
#define BL_START_LOST 7     /* `start` update failed: the request is not timed */
#define BL_DISK_LOST 8      /* `hists` update failed (full): the completion is not counted */
#define BL_PROC_INSERTS 9   /* keys created in `procs`; minus live keys = evicted */
#define BL_PROC_LOST 10
#define BL_NR_COUNTERS 11

/*
 * Key of an in-flight request. tp_btf/raw_tp: {request pointer, 0}. The
 * classic tracepoints do not carry the pointer, only {dev, sector}, as bcc's
 * biolatency uses too (a front merge changes the sector: such a request is
 * then lost, see docs/architecture.md).
 */
struct start_key {
	__u64 id;
	__u64 sector;
};

struct start_val {
	__u64 insert_ns; /* 0: not inserted (yet, or issued directly) */
	__u64 issue_ns;  /* 0: not issued (yet, or again after a requeue) */
	__u32 tgid;      /* submitter: block_io_start, else insert/issue context */
	__u32 active;    /* 0: completed (entries are reused, see biolat_start.bpf.h) */
	char comm[BIOLAT_COMM_LEN];
};

struct disk_key {
	__u32 dev; /* kernel dev_t of the whole disk: major << 20 | minor */
	__u8 op;   /* cmd_flags & REQ_OP_MASK: 0 read, 1 write, 2 flush, 3 discard... */
	__u8 sync; /* REQ_SYNC set */
	__u16 pad;
};

/* Per (disk, op, sync), per CPU: no atomics on the completion path. Not
 * preallocated: per-CPU memory only for the keys in use (832 bytes a key and
 * CPU), so a 128-CPU machine does not pin 100 MB for keys it never sees. */
struct biolat_hist {
	__u64 ios;
	__u64 bytes;
	__u64 sum_ns[BIOLAT_NR_TIMES];
	__u64 max_ns[BIOLAT_NR_TIMES];
	__u64 slots[BIOLAT_NR_TIMES][BIOLAT_HIST_SLOTS];
};

struct proc_key {
	__u32 tgid;
	__u32 dev;
	__u8 op;
	__u8 pad[7];
};

/* Shared across CPUs (atomics), like syscalls' procs. */
struct proc_val {
	__u64 ios;
	__u64 bytes;
	__u64 total_ns;
	char comm[BIOLAT_COMM_LEN];
};

#endif /* __BPFTOP_BIOLAT_H */
