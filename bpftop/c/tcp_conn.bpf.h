/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The hooks' bookkeeping for tcp.bpf.c: state changes, sends and receives,
 * retransmits and resets. Socket reads and map helpers are in tcp_sock.bpf.h.
 */
#ifndef __BPFTOP_TCP_CONN_BPF_H
#define __BPFTOP_TCP_CONN_BPF_H

#include "tcp_sock.bpf.h"

/* close() and shutdown() take ESTABLISHED to FIN_WAIT1 and CLOSE_WAIT to
 * LAST_ACK (tcp_close_state, the only place either state is set) in the
 * context of the process holding the fd. Not when the last fput was deferred
 * to a kworker (a kernel thread's close): 0 then, as for any other change. */
static __always_inline __u32 closer_tgid(int newstate)
{
	struct task_struct *task;
	__u32 tgid;

	if (newstate != TCP_FIN_WAIT1 && newstate != TCP_LAST_ACK)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	tgid = bpf_get_current_pid_tgid() >> 32;
	if ((BPF_CORE_READ(task, flags) & PF_KTHREAD) || filtered_out(tgid))
		return 0;
	return tgid;
}

/* A socket changed state. Active opens are attributed at SYN_SENT, where
 * `current` is the process calling connect(); passive opens reach ESTABLISHED
 * in softirq context: their owner is the first process to send or receive,
 * or the one closing them, or tcp_owner.bpf.c's walk, whichever comes first. */
static __always_inline int on_state(struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns();
	struct conn_val *c = bpf_map_lookup_elem(&conns, &key);
	__u32 tgid, closer = closer_tgid(newstate);
	struct proc_val *p;

	if (newstate == TCP_SYN_SENT) {
		tgid = bpf_get_current_pid_tgid() >> 32;
		if (c || filtered_out(tgid))
			return 0;
		count(TC_ACTIVE_OPENS);
		p = proc_of(tgid);
		if (p)
			__sync_fetch_and_add(&p->active_opens, 1);
		new_conn(sk, tgid, 0, now);
		return 0;
	}
	if (!c) {
		/* A child socket is born in SYN_RECV: wait until the handshake completes. */
		if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
			count(TC_PASSIVE_OPENS);
			c = new_conn(sk, 0, TCP_PASSIVE, now);
		} else if (newstate != TCP_CLOSE && newstate != TCP_SYN_RECV && newstate != TCP_LISTEN &&
			   oldstate != TCP_LISTEN && (closer || !filtering())) {
			/* Already open when bpftop started, or evicted; never a listener. */
			c = new_conn(sk, closer, TCP_MIDLIFE, 0);
		}
		if (!c)
			return 0;
	} else if (!c->pid && closer) {
		c->pid = closer;
		bpf_get_current_comm(c->comm, sizeof(c->comm));
		proc_of(closer); /* so its retransmits, resets and close count for it */
	}
	c->state = newstate;
	/* At CLOSE the port is already released (skc_num 0): keep what was read. */
	if (newstate == TCP_ESTABLISHED || (!c->lport && newstate != TCP_CLOSE))
		read_addrs(sk, c);
	if (newstate == TCP_ESTABLISHED || oldstate == TCP_ESTABLISHED) {
		c->srtt_us = sk_srtt_us(sk);
		add_rtt(c->srtt_us);
	}
	/* With a filter set, a connection no process of the filter has claimed
	 * (an accepted one it neither used, closed nor was found holding) is
	 * not reported. */
	if (newstate == TCP_ESTABLISHED && (c->pid || !filtering()))
		emit(sk, c, TCP_EV_OPEN, now);
	if (newstate == TCP_CLOSE) {
		count(TC_CLOSES);
		if (c->pid || !filtering())
			emit(sk, c, TCP_EV_CLOSE, now);
		p = c->pid ? bpf_map_lookup_elem(&procs, &c->pid) : NULL;
		if (p)
			__sync_fetch_and_add(&p->closes, 1);
		bpf_map_delete_elem(&conns, &key);
	}
	return 0;
}

/* A send or receive of `bytes` by `current`: exact application bytes. */
static __always_inline int on_msg(struct sock *sk, int bytes, int flags, bool send, __u32 srtt_us)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 key = (__u64)sk;
	struct conn_val *c;
	struct proc_val *p;

	/* MSG_PEEK leaves the data queued: it is counted when really read. */
	if (bytes <= 0 || (!send && (flags & MSG_PEEK)) || filtered_out(tgid))
		return 0;
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c) {
		c = new_conn(sk, tgid, TCP_MIDLIFE, 0);
	} else if (!c->pid) {
		c->pid = tgid; /* the first process to use an accepted connection owns it */
		bpf_get_current_comm(c->comm, sizeof(c->comm));
	}
	if (c) {
		__sync_fetch_and_add(send ? &c->sent_bytes : &c->recv_bytes, bytes);
		c->srtt_us = srtt_us;
	}
	p = proc_of(tgid);
	if (p) {
		__sync_fetch_and_add(send ? &p->sent_bytes : &p->recv_bytes, bytes);
		__sync_fetch_and_add(send ? &p->sends : &p->recvs, 1);
	}
	return 0;
}

/* Retransmits and resets: softirq or timer context, so the owner is the
 * connection's process, not `current`. */
static __always_inline int on_trouble(struct sock *sk, __u32 counter)
{
	__u64 key = (__u64)sk;
	struct conn_val *c = sk ? bpf_map_lookup_elem(&conns, &key) : NULL;
	struct proc_val *p;

	if (!c) {
		if (!filtering())
			count(counter);
		return 0;
	}
	if (filtering() && !c->pid)
		return 0;
	count(counter);
	__sync_fetch_and_add(counter == TC_RETRANS ? &c->retrans : &c->resets, 1);
	p = c->pid ? bpf_map_lookup_elem(&procs, &c->pid) : NULL;
	if (p)
		__sync_fetch_and_add(counter == TC_RETRANS ? &p->retrans : &p->resets, 1);
	return 0;
}

#endif /* __BPFTOP_TCP_CONN_BPF_H */
