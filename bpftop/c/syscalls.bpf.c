// SPDX-License-Identifier: GPL-2.0
/*
 * Syscall counts, errors and latency per process and per syscall, from the
 * raw_syscalls sys_enter/sys_exit hooks. Each hook comes in three variants;
 * the loader keeps one family (tp_btf, raw_tp or tracepoint) per load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bits.bpf.h"
#include "filters.bpf.h"
#include "syscalls.h"


/* Written by user space while running: per-syscall histograms for this one
 * process go to `focus_hists` as well (the process screen). */
__u32 focus_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SYSCALLS_MAX_INFLIGHT);
	__type(key, __u32);
	__type(value, struct syscall_start);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCALLS_MAX_NR);
	__type(key, __u32);
	__type(value, struct syscall_hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCALLS_MAX_NR);
	__type(key, __u32);
	__type(value, struct syscall_hist);
} focus_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SYSCALLS_MAX_PROCS);
	__type(key, struct proc_key);
	__type(value, struct proc_val);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SYSCALLS_MAX_ERRNOS);
	__type(key, struct errno_key);
	__type(value, __u64);
} errnos SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SC_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1; /* per-CPU, and sys_exit cannot nest on one CPU */
}

static __always_inline int on_enter(long nr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct syscall_start s = {}, *cur;

	if (filtered_out(id >> 32))
		return 0;
	s.ts_ns = bpf_ktime_get_ns();
	s.nr = nr;
	/* Overwrite in place when the thread has an entry: only this thread
	 * touches it, and an LRU update allocates and swaps a new element each
	 * time (measured: 240 ns against 75 ns for the lookup). */
	cur = bpf_map_lookup_elem(&start, &tid);
	if (cur) {
		cur->nr = s.nr;
		cur->ts_ns = s.ts_ns;
		return 0;
	}
	bpf_map_update_elem(&start, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline void add_hist(void *map, __u32 nr, __u64 lat_ns, bool failed)
{
	struct syscall_hist *h = bpf_map_lookup_elem(map, &nr);
	__u64 slot;

	if (!h)
		return;
	slot = log2_slot(lat_ns, SYSCALLS_HIST_SLOTS);
	/* Per-CPU value: plain adds are exact. */
	h->calls += 1;
	h->errors += failed;
	h->total_ns += lat_ns;
	if (lat_ns > h->max_ns)
		h->max_ns = lat_ns;
	h->slots[slot] += 1;
}

static __always_inline void add_proc(__u32 tgid, __u32 nr, __u64 lat_ns, bool failed)
{
	struct proc_key key = { .tgid = tgid, .nr = nr };
	struct proc_val *v = bpf_map_lookup_elem(&procs, &key);

	if (!v) {
		struct proc_val init = {};

		/* comm once per new key, so processes that exit keep a name */
		bpf_get_current_comm(&init.comm, sizeof(init.comm));
		if (bpf_map_update_elem(&procs, &key, &init, BPF_NOEXIST) == 0)
			count(SC_PROC_INSERTS);
		v = bpf_map_lookup_elem(&procs, &key);
		if (!v) {
			count(SC_PROC_LOST);
			return;
		}
	}
	__sync_fetch_and_add(&v->calls, 1);
	if (failed)
		__sync_fetch_and_add(&v->errors, 1);
	__sync_fetch_and_add(&v->total_ns, lat_ns);
	atomic_max_u64(&v->max_ns, lat_ns);
}

static __always_inline void add_errno(__u32 tgid, __u32 nr, __u32 err)
{
	struct errno_key key = { .tgid = tgid, .nr = nr, .err = err };
	__u64 one = 1, *c = bpf_map_lookup_elem(&errnos, &key);

	if (c) {
		__sync_fetch_and_add(c, 1);
		return;
	}
	if (bpf_map_update_elem(&errnos, &key, &one, BPF_NOEXIST) == 0) {
		count(SC_ERRNO_INSERTS);
		return;
	}
	c = bpf_map_lookup_elem(&errnos, &key); /* lost a race to another CPU */
	if (c)
		__sync_fetch_and_add(c, 1);
	else
		count(SC_ERRNO_LOST);
}

static __always_inline int on_exit(long ret)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32, nr;
	struct syscall_start *s;
	bool failed;
	__u64 lat;

	if (filtered_out(tgid))
		return 0;
	s = bpf_map_lookup_elem(&start, &tid);
	if (!s || !s->ts_ns) {
		count(SC_UNMATCHED_EXITS);
		return 0;
	}
	lat = now - s->ts_ns;
	nr = s->nr;
	/* Mark consumed rather than delete (cheaper); a new thread reusing this
	 * tid first returns from clone without an enter and must not match. */
	s->ts_ns = 0;
	failed = ret < 0 && ret >= -4095;

	if (nr < SYSCALLS_MAX_NR) {
		add_hist(&hists, nr, lat, failed);
		if (focus_tgid && tgid == focus_tgid)
			add_hist(&focus_hists, nr, lat, failed);
	} else {
		count(SC_OUT_OF_RANGE);
	}
	add_proc(tgid, nr, lat, failed);
	if (failed)
		add_errno(tgid, nr, -ret);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_btf, struct pt_regs *regs, long nr)
{
	return on_enter(nr);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_btf, struct pt_regs *regs, long ret)
{
	return on_exit(ret);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter_raw, struct pt_regs *regs, long nr)
{
	return on_enter(nr);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(sys_exit_raw, struct pt_regs *regs, long ret)
{
	return on_exit(ret);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter_tp(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->id);
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
