// SPDX-License-Identifier: GPL-2.0
/*
 * Owners of tracked TCP connections that have none yet: a task_file iterator
 * (Linux >= 5.8) that user space runs only on refreshes where some live
 * connection in `conns` has pid 0, so it costs nothing per packet and nothing
 * while every connection has an owner.
 *
 * Why a walk: an accepted connection reaches ESTABLISHED in softirq, where
 * `current` is whoever was interrupted. On Linux >= 6.3 the first send or
 * receive (sock_send_length/sock_recv_length) names its process, but before
 * 6.3 there is no such tracepoint, and even after it a server that only
 * splices, uses sendfile before 6.5, or just holds the socket is never seen
 * there. accept() itself has no stable tracepoint (sys_exit_accept4 needs
 * tracefs and misses io_uring's accept), and the listener's process is a
 * guess (pre-forked servers, SO_REUSEPORT groups, fds passed over unix
 * sockets). Who holds the socket's fd is what the kernel itself knows, and
 * this walk reads it.
 *
 * Several holders (after fork, or an fd passed on): the kernel walks tasks by
 * ascending thread id and the first holder found keeps it, so the lowest pid
 * that holds it (threads sharing their leader's fd table are not visited).
 * Sockets nobody holds (still in the accept queue, orphaned after close(),
 * MPTCP subflows, kernel sockets) stay pid 0.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "filters.bpf.h"
#include "task.bpf.h"
#include "tcp.h"
#include "tcp_maps.bpf.h"

#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* filters.bpf.h's checks read `current`, which here is bpftop reading the
 * iterator: apply them to the holder instead. bpf_get_current_uid_gid is the
 * real uid (cred->uid) and bpf_get_current_cgroup_id the cgroup v2 id
 * (dfl_cgrp->kn->id, a u64 since 5.5), so the same fields are read. */
static __always_inline bool holder_filtered_out(struct task_struct *task, __u32 tgid)
{
	if (targ_tgid && tgid != targ_tgid)
		return true;
	if (filter_uid && BPF_CORE_READ(task, cred, uid.val) != targ_uid)
		return true;
	if (targ_cgroup_id && BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id) != targ_cgroup_id)
		return true;
	return false;
}

/* The holder's entry in `procs`, created as proc_of() would (tcp_sock.bpf.h),
 * so the connection's retransmits, resets and close count for it. */
static __always_inline void claim_proc(__u32 tgid, const char *comm)
{
	struct proc_val init = {};

	if (bpf_map_lookup_elem(&procs, &tgid))
		return;
	__builtin_memcpy(init.comm, comm, sizeof(init.comm));
	if (bpf_map_update_elem(&procs, &tgid, &init, BPF_NOEXIST) == 0)
		count(TC_PROC_INSERTS);
	else if (!bpf_map_lookup_elem(&procs, &tgid)) /* or another CPU won the race */
		count(TC_PROC_LOST);
}

SEC("iter/task_file")
int tcp_owner(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct task_struct *task = ctx->task;
	struct tcp_owner_rec rec = {};
	struct socket *sock;
	struct conn_val *c;
	__u64 key;

	if (!file || !task)
		return 0;
	/* A socket's file (sock_alloc_file): a sockfs inode whose private_data
	 * is the struct socket pointing back at the file. Checking the pointer
	 * back (sock_from_file() compares f_op with socket_file_ops, a static
	 * symbol not every kallsyms has) also rejects an O_PATH fd of a unix
	 * socket's path, whose inode is S_IFSOCK too. The iterator's file is a
	 * BTF pointer, loaded directly; private_data is untyped: probe reads. */
	if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	sock = file->private_data;
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return 0;
	key = (__u64)BPF_CORE_READ(sock, sk);
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c || c->pid)
		return 0;
	rec.pid = BPF_CORE_READ(task, tgid);
	if (holder_filtered_out(task, rec.pid))
		return 0;
	rec.id = c->id;
	task_proc_comm(task, rec.comm, sizeof(rec.comm));
	__builtin_memcpy(c->comm, rec.comm, sizeof(c->comm));
	c->pid = rec.pid;
	claim_proc(rec.pid, rec.comm);
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
