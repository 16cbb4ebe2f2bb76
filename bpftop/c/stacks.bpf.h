/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The maps and the counting shared by profile.bpf.c and offcpu.bpf.c (see
 * stacks.h for how the collector reads and empties them).
 */
#ifndef __BPFTOP_STACKS_BPF_H
#define __BPFTOP_STACKS_BPF_H

#include "stacks.h"

#ifndef EEXIST /* vmlinux.h has no macros */
#define EFAULT 14
#define EEXIST 17
#endif

/* Written by the collector (.bss), only read here. */
__u32 gen = 0;   /* which count map the programs write */
__u32 epoch = 0; /* bumped when the collector empties the stack map */
/* bpftop's own tgid: its threads are left out (offcpu). */
const volatile __u32 self_tgid = 0;

/* No BPF_F_REUSE_STACKID: an id keeps its stack until the collector deletes
 * it, so counts never point at a stack taken later. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, STACKS_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, STACKS_MAX_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

#define COUNT_MAP(name)                                                         \
	struct {                                                                \
		__uint(type, BPF_MAP_TYPE_HASH);                               \
		__uint(max_entries, STACKS_MAX_KEYS);                          \
		__type(key, struct stack_key);                                 \
		__type(value, struct stack_val);                               \
	} name SEC(".maps")

COUNT_MAP(counts0);
COUNT_MAP(counts1);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1; /* per-CPU; neither program nests on one CPU */
}

/* A stack id, counting failures: -EEXIST means the id's bucket holds another
 * stack (a collision). -EFAULT is an empty stack, not a loss: the kernel
 * stack of a sample taken in user mode. Anything else (-ENOMEM) is missing. */
static __always_inline __s32 stack_id(void *ctx, __u64 flags, __u32 collided)
{
	long id = bpf_get_stackid(ctx, &stacks, flags);

	if (id >= 0 || id == -EFAULT)
		return id;
	count(id == -EEXIST ? collided : collided + 1);
	return id;
}

/* Both stacks of `current`; a kernel thread has no user stack to walk. */
static __always_inline void take_stacks(void *ctx, struct task_struct *task, struct stack_key *key)
{
	key->user_stack_id = STACKS_NO_STACK;
	if (!(BPF_CORE_READ(task, flags) & PF_KTHREAD))
		key->user_stack_id = stack_id(ctx, BPF_F_USER_STACK, ST_USER_COLLIDED);
	key->kern_stack_id = stack_id(ctx, 0, ST_KERN_COLLIDED);
	task_proc_comm(task, key->comm, sizeof(key->comm));
}

/* Add to a key's count in the current count map (atomics: CPUs share keys).
 * The map must be a constant at each call site for the verifier. */
static __always_inline void add_count(struct stack_key *key, __u64 ns)
{
	struct stack_val init = {}, *v;
	void *map;

	if (gen)
		map = &counts1;
	else
		map = &counts0;
	v = bpf_map_lookup_elem(map, key);
	if (!v) {
		bpf_map_update_elem(map, key, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(map, key); /* or another CPU won the race */
		if (!v) {
			count(ST_KEYS_LOST);
			return;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	if (ns)
		__sync_fetch_and_add(&v->total_ns, ns);
	count(ST_EVENTS);
}

#endif /* __BPFTOP_STACKS_BPF_H */
