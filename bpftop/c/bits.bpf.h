/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by bpftop's BPF programs. */
#ifndef __BPFTOP_BITS_BPF_H
#define __BPFTOP_BITS_BPF_H

/* floor(log2(v)) for v > 0, 0 for v == 0; branch-light so the verifier sees
 * one straight path (the same shape as libbpf-tools' bits.bpf.h). */
static __always_inline __u64 log2_u32(__u32 v)
{
	__u32 shift, r;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u64 log2_u64(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? log2_u32(hi) + 32 : log2_u32(v);
}

/* Index of v's bucket in a log2 histogram of nr_slots, the last open-ended.
 *
 * The bound must reach the verifier as a 64-bit one. Clang knows log2's
 * result fits in 32 bits and, with -mcpu=v3 (ALU32), clamps it with a 32-bit
 * jump; the 6.1 verifier takes only the low half's bound from that and then
 * rejects `map_value + slot` ("math between map_value pointer and register
 * with unbounded min value"; later kernels carry the bound over). The empty
 * asm hides what clang knows, so the clamp compares all 64 bits. */
static __always_inline __u64 log2_slot(__u64 v, __u64 nr_slots)
{
	__u64 slot = log2_u64(v);

	asm volatile("" : "+r"(slot));
	if (slot >= nr_slots)
		slot = nr_slots - 1;
	return slot;
}

/* Raise *p to v. Concurrent writers race on the same key, so retry a
 * bounded number of times with cmpxchg (needs -mcpu=v3, kernel >= 5.12). */
static __always_inline void atomic_max_u64(__u64 *p, __u64 v)
{
	__u64 cur = *(volatile __u64 *)p;

	for (int i = 0; i < 4 && v > cur; i++) {
		__u64 seen = __sync_val_compare_and_swap(p, cur, v);

		if (seen == cur)
			break;
		cur = seen;
	}
}

#endif /* __BPFTOP_BITS_BPF_H */
