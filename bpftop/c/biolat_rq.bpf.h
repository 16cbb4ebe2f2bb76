/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What biolat.bpf.c needs to know of a request at completion: its disk, its
 * operation and its size, read three ways (one per attach family).
 */
#ifndef __BPFTOP_BIOLAT_RQ_BPF_H
#define __BPFTOP_BIOLAT_RQ_BPF_H

#include <bpf/bpf_core_read.h>

struct rq_info {
	__u32 dev;
	__u8 op;
	__u8 sync;
	__u64 bytes;
};

/* rq->rq_disk until 5.16; since 5.15 the disk hangs off the queue instead. */
struct request___old {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

#define REQ_OP_MASK_ ((1U << 8) - 1) /* REQ_OP_BITS has been 8 since 4.10 */
/* The bit number of __REQ_SYNC moved over the years: ask the kernel's BTF. */
#define REQ_SYNC_ (1ULL << bpf_core_enum_value(enum req_flag_bits, __REQ_SYNC))

/* The kernel's dev_t of the whole disk (MKDEV: 20 minor bits), as the block
 * tracepoints report it; partitions are not told apart. */
static __always_inline __u32 disk_dev(int major, int first_minor)
{
	return ((__u32)major << 20) | (__u32)first_minor;
}

/* tp_btf: rq is a trusted BTF pointer, so plain loads work (no helper calls). */
static __always_inline void rq_info_btf(struct request *rq, struct rq_info *info)
{
	struct gendisk *disk;
	__u32 flags = rq->cmd_flags;

	if (bpf_core_field_exists(((struct request___old *)rq)->rq_disk))
		disk = ((struct request___old *)rq)->rq_disk;
	else
		disk = rq->q->disk;
	info->dev = disk ? disk_dev(disk->major, disk->first_minor) : 0;
	info->op = flags & REQ_OP_MASK_;
	info->sync = !!(flags & REQ_SYNC_);
	/* Before blk_update_request() shrinks it: the whole request's size. */
	info->bytes = rq->__data_len;
}

/* raw_tp: the same fields through bpf_probe_read_kernel (CO-RE relocated). */
static __always_inline void rq_info_core(struct request *rq, struct rq_info *info)
{
	struct gendisk *disk;
	__u32 flags = BPF_CORE_READ(rq, cmd_flags);

	if (bpf_core_field_exists(((struct request___old *)rq)->rq_disk))
		disk = BPF_CORE_READ((struct request___old *)rq, rq_disk);
	else
		disk = BPF_CORE_READ(rq, q, disk);
	info->dev = disk ? disk_dev(BPF_CORE_READ(disk, major), BPF_CORE_READ(disk, first_minor)) : 0;
	info->op = flags & REQ_OP_MASK_;
	info->sync = !!(flags & REQ_SYNC_);
	info->bytes = BPF_CORE_READ(rq, __data_len);
}

/*
 * Classic tracepoints give the op only as blk_fill_rwbs() text: an optional
 * 'F' (REQ_PREFLUSH), the op letter (R, W, D, DE, F, N), then F (FUA), A, S
 * (REQ_SYNC), M. A leading F not followed by an op letter is the flush op.
 */
static __always_inline void rwbs_info(const char *rwbs, struct rq_info *info)
{
	int at = rwbs[0] == 'F' ? 1 : 0;
	char c = rwbs[at];
	__u8 sync = 0;

	if (c == 'R')
		info->op = 0;
	else if (c == 'W')
		info->op = 1;
	else if (c == 'D')
		info->op = rwbs[at + 1] == 'E' ? 5 : 3; /* DE: secure erase */
	else if (at && c != 'N')
		info->op = 2;
	else
		info->op = BIOLAT_OP_UNKNOWN;
	/* Stop at the NUL: the trace buffer behind it is not cleared. */
	for (int i = 1; i < 6 && rwbs[i]; i++)
		sync |= rwbs[i] == 'S';
	info->sync = sync;
}

#endif /* __BPFTOP_BIOLAT_RQ_BPF_H */
