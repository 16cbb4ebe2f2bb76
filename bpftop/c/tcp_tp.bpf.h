/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The classic-tracepoint family of tcp.bpf.c (needs tracefs): the records
 * carry the socket pointer, so the same CO-RE reads as the other families
 * apply and nothing is missing.
 */
#ifndef __BPFTOP_TCP_TP_BPF_H
#define __BPFTOP_TCP_TP_BPF_H

/* The classic tracepoints' records, as far as used here; their layout has
 * kept these leading fields since 4.16 (the struct names changed in 6.10). */
struct tp_state {
	__u64 pad;
	struct sock *sk;
	int oldstate;
	int newstate;
	__u16 sport, dport, family, protocol;
};

struct tp_msg {
	__u64 pad;
	struct sock *sk;
	__u16 family, protocol;
	int ret;
	int flags;
};

struct tp_sk_skb {
	__u64 pad;
	void *skb;
	struct sock *sk;
};

struct tp_sk {
	__u64 pad;
	struct sock *sk;
};

SEC("tracepoint/sock/inet_sock_set_state")
int state_tp(struct tp_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return on_state(ctx->sk, ctx->oldstate, ctx->newstate);
}

SEC("tracepoint/sock/sock_send_length")
int send_tp(struct tp_msg *ctx)
{
	if (ctx->ret <= 0 || ctx->protocol != IPPROTO_TCP || (ctx->family != AF_INET && ctx->family != AF_INET6))
		return 0;
	return on_msg(ctx->sk, ctx->ret, ctx->flags, true, sk_srtt_us(ctx->sk));
}

SEC("tracepoint/sock/sock_recv_length")
int recv_tp(struct tp_msg *ctx)
{
	if (ctx->ret <= 0 || ctx->protocol != IPPROTO_TCP || (ctx->family != AF_INET && ctx->family != AF_INET6))
		return 0;
	return on_msg(ctx->sk, ctx->ret, ctx->flags, false, sk_srtt_us(ctx->sk));
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int retrans_tp(struct tp_sk_skb *ctx)
{
	return on_trouble(ctx->sk, TC_RETRANS);
}

SEC("tracepoint/tcp/tcp_send_reset")
int send_reset_tp(struct tp_sk_skb *ctx)
{
	return on_trouble(ctx->sk, TC_RST_SENT);
}

SEC("tracepoint/tcp/tcp_receive_reset")
int receive_reset_tp(struct tp_sk *ctx)
{
	return on_trouble(ctx->sk, TC_RST_RECV);
}

#endif /* __BPFTOP_TCP_TP_BPF_H */
