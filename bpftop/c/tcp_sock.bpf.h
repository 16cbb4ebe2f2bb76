/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Socket reads, map helpers and the ring-buffer event of tcp.bpf.c. Every
 * socket read is a CO-RE probe read from the struct sock pointer, which all
 * three attach families have (the classic tracepoints as skaddr/sk).
 */
#ifndef __BPFTOP_TCP_SOCK_BPF_H
#define __BPFTOP_TCP_SOCK_BPF_H

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2

/* Before 5.6 sk_protocol was a bitfield; the probed bitfield read copes with both. */
static __always_inline __u16 sk_proto(struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

static __always_inline bool is_tcp(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return (family == AF_INET || family == AF_INET6) && sk_proto(sk) == IPPROTO_TCP;
}

/* srtt_us holds 8 times the smoothed RTT (tcp_rtt_estimator's fixed point). */
static __always_inline __u32 sk_srtt_us(struct sock *sk)
{
	return BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3;
}

/* Addresses and ports. The local port is assigned after connect() has set
 * SYN_SENT (inet_hash_connect runs later), so this is read again later. */
static __always_inline void read_addrs(struct sock *sk, struct conn_val *c)
{
	c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	c->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (c->family == AF_INET6) {
		BPF_CORE_READ_INTO(&c->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&c->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		BPF_CORE_READ_INTO((__u32 *)c->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)c->daddr, sk, __sk_common.skc_daddr);
	}
}

static __always_inline void add_rtt(__u32 srtt_us)
{
	__u32 zero = 0;
	__u64 slot = log2_slot(srtt_us, TCP_RTT_SLOTS), *slots = bpf_map_lookup_elem(&rtt_hist, &zero);

	if (!slots || !srtt_us)
		return;
	slots[slot] += 1;
}

/* The process entry of `current` (tgid), created with its name when absent. */
static __always_inline struct proc_val *proc_of(__u32 tgid)
{
	struct proc_val init = {}, *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p)
		return p;
	bpf_get_current_comm(init.comm, sizeof(init.comm));
	if (bpf_map_update_elem(&procs, &tgid, &init, BPF_NOEXIST) == 0)
		count(TC_PROC_INSERTS);
	p = bpf_map_lookup_elem(&procs, &tgid); /* or another CPU won the race */
	if (!p)
		count(TC_PROC_LOST);
	return p;
}

/* Track a connection; pid 0 when `current` is not its owner (softirq). */
static __always_inline struct conn_val *new_conn(struct sock *sk, __u32 pid, __u8 flags, __u64 open_ns)
{
	struct conn_val init = { .open_ns = open_ns, .pid = pid, .flags = flags };
	__u64 key = (__u64)sk;
	struct conn_val *c;

	init.id = __sync_fetch_and_add(&next_id, 1) + 1;
	init.state = BPF_CORE_READ(sk, __sk_common.skc_state);
	init.srtt_us = sk_srtt_us(sk);
	if (pid)
		bpf_get_current_comm(init.comm, sizeof(init.comm));
	read_addrs(sk, &init);
	if (bpf_map_update_elem(&conns, &key, &init, BPF_NOEXIST) == 0)
		count(TC_CONN_INSERTS);
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		count(TC_CONN_LOST);
	return c;
}

static __always_inline void emit(struct sock *sk, struct conn_val *c, __u8 kind, __u64 now)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct tcp_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(TC_RB_LOST);
		return;
	}
	e->id = c->id;
	e->ts_ns = now;
	e->open_ns = c->open_ns;
	e->sent_bytes = c->sent_bytes;
	e->recv_bytes = c->recv_bytes;
	e->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	e->bytes_received = BPF_CORE_READ(tp, bytes_received);
	e->pid = c->pid;
	e->retrans = BPF_CORE_READ(tp, total_retrans);
	e->srtt_us = c->srtt_us;
	e->resets = c->resets;
	e->family = c->family;
	e->lport = c->lport;
	e->rport = c->rport;
	e->kind = kind;
	e->flags = c->flags;
	__builtin_memcpy(e->saddr, c->saddr, sizeof(e->saddr));
	__builtin_memcpy(e->daddr, c->daddr, sizeof(e->daddr));
	__builtin_memcpy(e->comm, c->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

#endif /* __BPFTOP_TCP_SOCK_BPF_H */
