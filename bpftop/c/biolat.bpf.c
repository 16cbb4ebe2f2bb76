// SPDX-License-Identifier: GPL-2.0
/*
 * Block I/O latency per disk and operation (total, queue and device time) and
 * I/O per submitting process. A request is followed from block_io_start (or
 * its first insert/issue) to block_rq_complete; each hook comes in three
 * variants and the loader keeps one family (tp_btf, raw_tp or tracepoint).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "filters.bpf.h"
#include "biolat_start.bpf.h"

/* Filters (filters.bpf.h) apply to the submitter when the request is first
 * seen: completions run in interrupts. */
/* Before 5.11 (commit a54895fa) block_rq_insert/issue/requeue/merge took
 * (struct request_queue *q, struct request *rq), since then (rq) alone.
 * User space reads the prototype in the kernel's BTF and sets this. */
const volatile __u8 rq_second_arg = 0;

/* tp_btf and raw_tp: the request pointer is the key. Two separate loads
 * (barrier_var keeps clang from turning them into ctx + 8 * flag, which the
 * verifier rejects), and the one the kernel lacks is dead code at load. */
static __always_inline struct start_key rq_key(__u64 *ctx, bool block_rq_class)
{
	struct start_key key = {};
	__u64 rq;

	if (block_rq_class && rq_second_arg) {
		rq = ctx[1];
		barrier_var(rq);
	} else {
		rq = ctx[0];
		barrier_var(rq);
	}
	key.id = rq;
	return key;
}

/* Classic tracepoints carry no pointer: {dev, sector} is the key. The
 * sector of a request without one reads 0, except at completion, which
 * reports it raw as (sector_t)-1: fold that to 0 as well. */
#define TP_KEY(ctx) { .id = (ctx)->dev, .sector = (ctx)->sector == ~0ULL ? 0 : (ctx)->sector }

SEC("tp_btf/block_io_start")
int block_io_start_btf(__u64 *ctx)
{
	struct start_key key = rq_key(ctx, false);

	return on_io_start(&key);
}

SEC("tp_btf/block_rq_insert")
int block_rq_insert_btf(__u64 *ctx)
{
	struct start_key key = rq_key(ctx, true);

	return on_insert(&key);
}

SEC("tp_btf/block_rq_issue")
int block_rq_issue_btf(__u64 *ctx)
{
	struct start_key key = rq_key(ctx, true);

	return on_issue(&key);
}

SEC("tp_btf/block_rq_requeue")
int block_rq_requeue_btf(__u64 *ctx)
{
	struct start_key key = rq_key(ctx, true);

	return on_requeue(&key);
}

SEC("tp_btf/block_rq_merge")
int block_rq_merge_btf(__u64 *ctx)
{
	struct start_key key = rq_key(ctx, true);

	return on_merge(&key, true);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete_btf, struct request *rq)
{
	struct start_key key = { .id = (__u64)rq };
	struct rq_info info;

	rq_info_btf(rq, &info);
	return on_complete(&key, &info, true);
}

SEC("raw_tp/block_io_start")
int block_io_start_raw(__u64 *ctx)
{
	struct start_key key = rq_key(ctx, false);

	return on_io_start(&key);
}

SEC("raw_tp/block_rq_insert")
int block_rq_insert_raw(__u64 *ctx)
{
	struct start_key key = rq_key(ctx, true);

	return on_insert(&key);
}

SEC("raw_tp/block_rq_issue")
int block_rq_issue_raw(__u64 *ctx)
{
	struct start_key key = rq_key(ctx, true);

	return on_issue(&key);
}

SEC("raw_tp/block_rq_requeue")
int block_rq_requeue_raw(__u64 *ctx)
{
	struct start_key key = rq_key(ctx, true);

	return on_requeue(&key);
}

SEC("raw_tp/block_rq_merge")
int block_rq_merge_raw(__u64 *ctx)
{
	struct start_key key = rq_key(ctx, true);

	return on_merge(&key, true);
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(block_rq_complete_raw, struct request *rq)
{
	struct start_key key = { .id = (__u64)rq };
	struct rq_info info;

	rq_info_core(rq, &info);
	return on_complete(&key, &info, true);
}

SEC("tracepoint/block/block_io_start")
int block_io_start_tp(struct trace_event_raw_block_rq *ctx)
{
	struct start_key key = TP_KEY(ctx);

	return on_io_start(&key);
}

SEC("tracepoint/block/block_rq_insert")
int block_rq_insert_tp(struct trace_event_raw_block_rq *ctx)
{
	struct start_key key = TP_KEY(ctx);

	return on_insert(&key);
}

SEC("tracepoint/block/block_rq_issue")
int block_rq_issue_tp(struct trace_event_raw_block_rq *ctx)
{
	struct start_key key = TP_KEY(ctx);

	return on_issue(&key);
}

SEC("tracepoint/block/block_rq_requeue")
int block_rq_requeue_tp(struct trace_event_raw_block_rq_requeue *ctx)
{
	struct start_key key = TP_KEY(ctx);

	return on_requeue(&key);
}

SEC("tracepoint/block/block_rq_merge")
int block_rq_merge_tp(struct trace_event_raw_block_rq *ctx)
{
	struct start_key key = TP_KEY(ctx);

	return on_merge(&key, false);
}

SEC("tracepoint/block/block_rq_complete")
int block_rq_complete_tp(struct trace_event_raw_block_rq_completion *ctx)
{
	struct start_key key = TP_KEY(ctx);
	struct rq_info info = { .dev = ctx->dev, .bytes = (__u64)ctx->nr_sector << 9 };
	char rwbs[8];

	/* Copied out: rwbs_info indexes it, which ctx accesses must not. */
	bpf_probe_read_kernel(rwbs, sizeof(rwbs), ctx->rwbs);
	rwbs_info(rwbs, &info);
	return on_complete(&key, &info, false);
}

char LICENSE[] SEC("license") = "GPL";
