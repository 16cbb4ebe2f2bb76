/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by tcp.bpf.c and bpftop/collectors/tcp.py: the Python side reads the
 * #defines below from this file and checks the struct sizes against the map
 * sizes libbpf reports, so the two sides cannot drift apart silently.
 */
#ifndef __BPFTOP_TCP_H
#define __BPFTOP_TCP_H

#define TCP_MAX_CONNS 16384     /* live connections, LRU */
#define TCP_MAX_PROCS 8192      /* processes with totals, LRU */
#define TCP_RTT_SLOTS 27        /* log2(us) slots of smoothed RTT; the last is open-ended */
#define TCP_COMM_LEN 16
#define TCP_RINGBUF_BYTES 262144 /* opens and closes: 2048 events of 128 bytes */

/* conn_val.flags and tcp_event.flags */
#define TCP_PASSIVE 1  /* accepted: reached ESTABLISHED from SYN_RECV */
#define TCP_MIDLIFE 2  /* first seen after it opened (before attach, or evicted) */

/* tcp_event.kind */
#define TCP_EV_OPEN 1  /* reached ESTABLISHED */
#define TCP_EV_CLOSE 2 /* reached CLOSE */

/* Indexes into the per-CPU `counters` array. */
#define TC_RB_LOST 0       /* ring buffer full: an open or close event lost */
#define TC_CONN_INSERTS 1  /* keys created in `conns` */
#define TC_CONN_LOST 2     /* `conns` update failed: the connection is untracked */
#define TC_PROC_INSERTS 3  /* keys created in `procs` */
#define TC_PROC_LOST 4     /* `procs` update failed: bytes missing from a process */
#define TC_RETRANS 5       /* tcp_retransmit_skb, every connection */
#define TC_RST_SENT 6      /* tcp_send_reset, with or without a socket */
#define TC_RST_RECV 7      /* tcp_receive_reset */
#define TC_ACTIVE_OPENS 8  /* connect(): SYN_SENT */
#define TC_PASSIVE_OPENS 9 /* accepted: SYN_RECV -> ESTABLISHED */
#define TC_CLOSES 10       /* tracked connections that reached CLOSE */
#define TC_NR_COUNTERS 11

/* One live connection, keyed by its struct sock address. Ports in host order;
 * addresses as on the wire (IPv4 in the first 4 bytes). */
struct conn_val {
	__u64 id;         /* unique per bpftop load, never a kernel address */
	__u64 open_ns;    /* CLOCK_MONOTONIC at connect() or accept; 0: unknown (MIDLIFE) */
	__u64 sent_bytes; /* sock_send_length since seen */
	__u64 recv_bytes; /* sock_recv_length since seen */
	__u32 pid;        /* tgid; 0 until an owner is known (passive opens) */
	__u32 retrans;
	__u32 resets;     /* sent and received */
	__u32 srtt_us;    /* at its last send, receive or state change */
	__u16 family;
	__u16 lport;
	__u16 rport;
	__u8 state;       /* TCP_ESTABLISHED (1) ... TCP_CLOSING (11) */
	__u8 flags;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[TCP_COMM_LEN];
};

/* Per process (tgid), shared across CPUs (atomics). */
struct proc_val {
	__u64 sent_bytes;
	__u64 recv_bytes;
	__u64 sends;
	__u64 recvs;
	__u64 retrans;
	__u64 resets;
	__u64 active_opens;
	__u64 closes;
	char comm[TCP_COMM_LEN];
};

/* A connection reaching ESTABLISHED or CLOSE, through the `events` ring. */
struct tcp_event {
	__u64 id;
	__u64 ts_ns;          /* CLOCK_MONOTONIC */
	__u64 open_ns;        /* 0: unknown */
	__u64 sent_bytes;     /* sock_send_length since seen */
	__u64 recv_bytes;
	__u64 bytes_acked;    /* tcp_sock: whole life, as tcplife's TX */
	__u64 bytes_received; /* tcp_sock: whole life, as tcplife's RX */
	__u32 pid;
	__u32 retrans;        /* tcp_sock.total_retrans */
	__u32 srtt_us;
	__u32 resets;
	__u16 family;
	__u16 lport;
	__u16 rport;
	__u8 kind;
	__u8 flags;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[TCP_COMM_LEN];
};

/* A connection the owner walk (tcp_owner.bpf.c) gave its owner, written to
 * the iterator's output so user space shows it in the same refresh. */
struct tcp_owner_rec {
	__u64 id;   /* conn_val.id */
	__u32 pid;  /* tgid */
	__u32 pad;
	char comm[TCP_COMM_LEN]; /* the thread group leader's */
};

#endif /* __BPFTOP_TCP_H */
