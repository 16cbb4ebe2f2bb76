// SPDX-License-Identifier: GPL-2.0
/* Test object for scripts/kernel_reqs.py: what a program reaches through
 * subprograms and callbacks counts, and each family keeps its own needs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 total = 0;

static int add_one(__u32 index, void *ctx)
{
	__sync_fetch_and_add(&total, 1);
	return 0;
}

static __noinline int count_up(__u32 n)
{
	return bpf_loop(n, add_one, NULL, 0);
}

SEC("raw_tp/sys_enter")
int kreq_raw(void *ctx)
{
	return count_up(4);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int kreq_tp(void *ctx)
{
	__sync_fetch_and_add(&total, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
