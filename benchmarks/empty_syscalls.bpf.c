// SPDX-License-Identifier: GPL-2.0
/*
 * The floor for bench_syscalls.py: programs on the same hooks as
 * bpftop/c/syscalls.bpf.c that do nothing, so "bpftop minus empty" is the cost
 * of bpftop's own work and "empty minus nothing" the cost of having a hook.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp_btf/sys_enter")
int empty_enter(void *ctx)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int empty_exit(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
