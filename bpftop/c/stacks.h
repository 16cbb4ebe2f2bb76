/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by profile.bpf.c, offcpu.bpf.c and bpftop/collectors/stacks.py (which
 * reads the #defines below and checks the struct sizes against the maps).
 *
 * Both objects count by (tgid, user stack id, kernel stack id, comm) into one
 * of two count maps, chosen by the `gen` global: the collector flips it, then
 * reads and empties the other one, so no increment falls between its read and
 * its delete. Stack ids stay valid (a bucket is never overwritten) until the
 * collector empties the stack map once it fills up, which starts a new
 * `epoch`; offcpu drops the blocks whose stacks were taken before it.
 */
#ifndef __BPFTOP_STACKS_H
#define __BPFTOP_STACKS_H

#define STACKS_MAX_DEPTH 127    /* PERF_MAX_STACK_DEPTH: frames kept per stack */
#define STACKS_MAX_STACKS 16384 /* stack map buckets; emptied at STACKS_RESET_AT ids */
#define STACKS_RESET_AT 1024    /* so at most 1 new stack in 16 collides */
#define STACKS_MAX_KEYS 10240   /* distinct (tgid, stacks) per count map and tick */
#define STACKS_MAX_THREADS 16384 /* offcpu: threads off CPU at once, LRU */
#define STACKS_COMM_LEN 16
#define STACKS_NO_STACK -1      /* a kernel thread has no user stack; not a loss */

/* Indexes into the per-CPU `counters` array. */
#define ST_EVENTS 0          /* samples (profile) or switch-ins counted (offcpu) */
#define ST_IDLE 1            /* profile: samples of a CPU's idle task, not counted */
#define ST_USER_COLLIDED 2   /* bpf_get_stackid -EEXIST: bucket held another stack */
#define ST_USER_MISSING 3    /* -EFAULT (no frame pointers, paged out) or -ENOMEM */
#define ST_KERN_COLLIDED 4
#define ST_KERN_MISSING 5
#define ST_KEYS_LOST 6       /* the count map was full: the event is not counted */
#define ST_THREADS_LOST 7    /* offcpu: `start` update failed */
#define ST_SHORT 8           /* offcpu: blocks shorter than min_block_ns, not counted */
#define ST_STALE 9           /* offcpu: blocks begun before the last stack map reset */
#define ST_NR_COUNTERS 10

struct stack_key {
	__u32 tgid;
	__s32 user_stack_id; /* < 0: none (STACKS_NO_STACK) or lost (-errno) */
	__s32 kern_stack_id;
	__u32 pad;
	char comm[STACKS_COMM_LEN];
};

struct stack_val {
	__u64 count;    /* samples, or blocks */
	__u64 total_ns; /* offcpu: time off CPU; profile: 0 */
};

#endif /* __BPFTOP_STACKS_H */
