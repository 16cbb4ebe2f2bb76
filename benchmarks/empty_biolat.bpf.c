// SPDX-License-Identifier: GPL-2.0
/*
 * The floor for bench_biolat.py: programs on the same tp_btf hooks as
 * bpftop/c/biolat.bpf.c that do nothing, so "bpftop minus empty" is the cost
 * of bpftop's own work and "empty minus nothing" the cost of having the hooks.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp_btf/block_io_start")
int empty_io_start(void *ctx)
{
	return 0;
}

SEC("tp_btf/block_rq_insert")
int empty_insert(void *ctx)
{
	return 0;
}

SEC("tp_btf/block_rq_issue")
int empty_issue(void *ctx)
{
	return 0;
}

SEC("tp_btf/block_rq_complete")
int empty_complete(void *ctx)
{
	return 0;
}

SEC("tp_btf/block_rq_requeue")
int empty_requeue(void *ctx)
{
	return 0;
}

SEC("tp_btf/block_rq_merge")
int empty_merge(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
