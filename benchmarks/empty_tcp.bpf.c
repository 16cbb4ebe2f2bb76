// SPDX-License-Identifier: GPL-2.0
/*
 * The floor for bench_tcp.py: programs on the same hooks as
 * bpftop/c/tcp.bpf.c that do nothing, so "bpftop minus empty" is the cost of
 * bpftop's own work and "empty minus nothing" the cost of having a hook.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp_btf/inet_sock_set_state")
int empty_state(void *ctx)
{
	return 0;
}

SEC("tp_btf/sock_send_length")
int empty_send(void *ctx)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int empty_recv(void *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int empty_retrans(void *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int empty_send_reset(void *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int empty_receive_reset(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
