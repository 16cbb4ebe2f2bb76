// SPDX-License-Identifier: GPL-2.0
/*
 * Syscall counts, errors and latency per process and per syscall, from the
 * raw_syscalls sys_enter/sys_exit hooks. Each hook comes in three variants;
 * the loader keeps one family (tp_btf, raw_tp or tracepoint) per load.
 *
 * Timing costs a second program per syscall (sys_enter) and a map lookup at
 * each end; no pane on screen may show latency (the default procs pane at 80
 * columns shows counts). So user space detaches sys_enter and sets `timing`
 * to 0 while none does: sys_exit then counts, taking the syscall number from
 * the registers, as the sys_exit tracepoint itself does.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "bits.bpf.h"
#include "filters.bpf.h"
#include "syscalls.h"


/* Written by user space while running: per-syscall histograms for this one
 * process go to `focus_hists` as well (the process screen). */
__u32 focus_tgid = 0;
/* Written by user space: 0 while not timing, else a generation raised each
 * time timing starts, so that a thread's entry left from an earlier period
 * (it was inside a syscall when sys_enter was detached) is not matched. */
__u32 timing = 0;

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
	s.gen = timing;
	/* Overwrite in place when the thread has an entry: only this thread
	 * touches it, and an LRU update allocates and swaps a new element each
	 * time (measured: 240 ns against 75 ns for the lookup). */
	cur = bpf_map_lookup_elem(&start, &tid);
	if (cur) {
		cur->nr = s.nr;
		cur->gen = s.gen;
		cur->ts_ns = s.ts_ns;
		return 0;
	}
	bpf_map_update_elem(&start, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline void add_hist(void *map, __u32 nr, __u64 lat_ns, bool timed, bool failed)
{
	struct syscall_hist *h = bpf_map_lookup_elem(map, &nr);
	__u64 slot;

	if (!h)
		return;
	/* Per-CPU value: plain adds are exact. */
	h->calls += 1;
	h->errors += failed;
	if (!timed)
		return;
	slot = log2_slot(lat_ns, SYSCALLS_HIST_SLOTS);
	h->total_ns += lat_ns;
	if (lat_ns > h->max_ns)
		h->max_ns = lat_ns;
	h->slots[slot] += 1;
}

static __always_inline void add_proc(__u32 tgid, __u32 nr, __u64 lat_ns, bool timed, bool failed)
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
	if (failed)
		__sync_fetch_and_add(&v->errors, 1);
	if (!timed) {
		__sync_fetch_and_add(&v->counted_calls, 1);
		return;
	}
	__sync_fetch_and_add(&v->timed_calls, 1);
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

/* `nr_at_exit` is the number the registers hold at return: used when not timed. */
static __always_inline int on_exit(long ret, long nr_at_exit)
{
	__u32 gen = timing;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32, nr = nr_at_exit;
	struct syscall_start *s;
	bool failed, timed = false;
	__u64 lat = 0;

	if (filtered_out(tgid))
		return 0;
	if (gen) {
		s = bpf_map_lookup_elem(&start, &tid);
		if (s && s->ts_ns && s->gen == gen) {
			lat = bpf_ktime_get_ns() - s->ts_ns;
			nr = s->nr;
			timed = true;
			/* Mark consumed rather than delete (cheaper); a new thread
			 * reusing this tid first returns from clone without an
			 * enter and must not match. */
			s->ts_ns = 0;
		} else {
			count(SC_UNMATCHED_EXITS);
		}
	}
	failed = ret < 0 && ret >= -4095;

	if (nr < SYSCALLS_MAX_NR) {
		add_hist(&hists, nr, lat, timed, failed);
		if (focus_tgid && tgid == focus_tgid)
			add_hist(&focus_hists, nr, lat, timed, failed);
	} else {
		count(SC_OUT_OF_RANGE);
	}
	add_proc(tgid, nr, lat, timed, failed);
	if (failed)
		add_errno(tgid, nr, -ret);
	return 0;
}

/* The syscall number at sys_exit, where the kernel's syscall_get_nr() reads
 * it (-1 once a tracer cancelled the call): tp_btf reads the BTF-typed
 * registers directly, raw_tp through bpf_probe_read_kernel. */
#if defined(__TARGET_ARCH_arm64)
#define REGS_NR(regs) ((regs)->syscallno)
#define REGS_NR_READ(regs) BPF_CORE_READ(regs, syscallno)
#else
#define REGS_NR(regs) ((regs)->orig_ax)
#define REGS_NR_READ(regs) BPF_CORE_READ(regs, orig_ax)
#endif

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_btf, struct pt_regs *regs, long nr)
{
	return on_enter(nr);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_btf, struct pt_regs *regs, long ret)
{
	return on_exit(ret, REGS_NR(regs));
}

SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter_raw, struct pt_regs *regs, long nr)
{
	return on_enter(nr);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(sys_exit_raw, struct pt_regs *regs, long ret)
{
	return on_exit(ret, REGS_NR_READ(regs));
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter_tp(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->id);
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret, ctx->id);
}

char LICENSE[] SEC("license") = "GPL";
