// SPDX-License-Identifier: GPL-2.0
/*
 * TCP connections on stable tracepoints (no kprobes): lifecycle from
 * sock:inet_sock_set_state, exact application bytes from sock:sock_send_length
 * and sock:sock_recv_length (Linux >= 6.3; optional, see collectors/tcp.py),
 * retransmits and resets from tcp:tcp_retransmit_skb, tcp:tcp_send_reset and
 * tcp:tcp_receive_reset. Each hook comes in three variants; the loader keeps
 * one family (the classic tracepoints' are in tcp_tp.bpf.h). The bookkeeping
 * is in tcp_conn.bpf.h, socket reads and map helpers in tcp_sock.bpf.h. The
 * owners of accepted connections nobody sends or receives on are found by
 * tcp_owner.bpf.c, which shares conns, procs and counters (tcp_maps.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "bits.bpf.h"
#include "filters.bpf.h"
#include "task.bpf.h"
#include "tcp.h"
#include "tcp_maps.bpf.h"

__u64 next_id = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[TCP_RTT_SLOTS]);
} rtt_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TCP_RINGBUF_BYTES);
} events SEC(".maps");

#include "tcp_conn.bpf.h"

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_btf, struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	return on_state(sk, oldstate, newstate);
}

/* Direct loads (tp_btf) keep the per-message path cheap: a probe read of
 * srtt_us would cost about as much as the rest of the program. */
static __always_inline __u32 srtt_btf(struct sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

	return tp ? tp->srtt_us >> 3 : 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(send_btf, struct sock *sk, int ret, int flags)
{
	__u16 family = sk->__sk_common.skc_family;

	if (ret <= 0 || (family != AF_INET && family != AF_INET6) || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	return on_msg(sk, ret, flags, true, srtt_btf(sk));
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(recv_btf, struct sock *sk, int ret, int flags)
{
	__u16 family = sk->__sk_common.skc_family;

	if (ret <= 0 || (family != AF_INET && family != AF_INET6) || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	return on_msg(sk, ret, flags, false, srtt_btf(sk));
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(retrans_btf, struct sock *sk)
{
	return on_trouble(sk, TC_RETRANS);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(send_reset_btf, struct sock *sk)
{
	return on_trouble(sk, TC_RST_SENT);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(receive_reset_btf, struct sock *sk)
{
	return on_trouble(sk, TC_RST_RECV);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(state_raw, struct sock *sk, int oldstate, int newstate)
{
	if (sk_proto(sk) != IPPROTO_TCP)
		return 0;
	return on_state(sk, oldstate, newstate);
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(send_raw, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || !is_tcp(sk))
		return 0;
	return on_msg(sk, ret, flags, true, sk_srtt_us(sk));
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(recv_raw, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || !is_tcp(sk))
		return 0;
	return on_msg(sk, ret, flags, false, sk_srtt_us(sk));
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(retrans_raw, struct sock *sk)
{
	return on_trouble(sk, TC_RETRANS);
}

SEC("raw_tp/tcp_send_reset")
int BPF_PROG(send_reset_raw, struct sock *sk)
{
	return on_trouble(sk, TC_RST_SENT);
}

SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(receive_reset_raw, struct sock *sk)
{
	return on_trouble(sk, TC_RST_RECV);
}

#include "tcp_tp.bpf.h"

char LICENSE[] SEC("license") = "GPL";
