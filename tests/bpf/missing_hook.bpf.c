// SPDX-License-Identifier: GPL-2.0
/*
 * A test object whose hook exists in no kernel, in all three attach families,
 * so every method fails for a different reason: tp_btf before load (no
 * btf_trace_ type), raw_tp at attach (no such raw tracepoint), tracepoint at
 * attach (no tracefs event). Used by tests/test_loader.py.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp_btf/bpftop_test_no_such_hook")
int no_such_btf(void *ctx)
{
	return 0;
}

SEC("raw_tp/bpftop_test_no_such_hook")
int no_such_raw(void *ctx)
{
	return 0;
}

SEC("tracepoint/bpftop_test/no_such_hook")
int no_such_tp(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
