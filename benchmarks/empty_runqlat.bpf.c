// SPDX-License-Identifier: GPL-2.0
/*
 * The floor for bench_runqlat.py: programs on the same hooks as
 * bpftop/c/runqlat.bpf.c that do nothing, so "bpftop minus empty" is the cost
 * of bpftop's own work and "empty minus nothing" the cost of having a hook.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp_btf/sched_wakeup")
int empty_wakeup(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int empty_wakeup_new(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int empty_switch(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_exec")
int empty_exec(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
