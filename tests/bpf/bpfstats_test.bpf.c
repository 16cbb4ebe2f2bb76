// SPDX-License-Identifier: GPL-2.0
/* Test object for the bpf pane: a socket filter with a name longer than the
 * kernel's 15 bytes, a hash map of structs and a per-CPU array, all with BTF. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

enum bt_kind { BT_RED = 1, BT_BLUE = 2 };

struct bt_key {
	__u32 pid;
	char comm[8];
};

struct bt_val {
	__u64 count;
	__s32 delta;
	enum bt_kind kind;
	__u16 ports[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct bt_key);
	__type(value, struct bt_val);
} bt_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} bt_packets SEC(".maps");

SEC("socket")
int bpftop_test_socket_filter(struct __sk_buff *skb)
{
	__u32 zero = 0, one = 1;
	__u64 *packets = bpf_map_lookup_elem(&bt_packets, &zero);
	__u64 *both = bpf_map_lookup_elem(&bt_packets, &one);

	if (packets)
		*packets += 1;
	/* A 64-bit immediate (ld_imm64) for the disassembly test: 1 in each half. */
	if (both)
		*both += 0x100000001ULL;
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
