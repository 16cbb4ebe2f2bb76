/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by bpfstats.bpf.c and bpftop/collectors/bpfstats_owners.py. */
#ifndef BPFSTATS_H
#define BPFSTATS_H

#define BPFSTATS_OBJ_PROG 0
#define BPFSTATS_OBJ_MAP 1
#define BPFSTATS_OBJ_LINK 2
#define BPFSTATS_COMM_LEN 16

/* One BPF fd held by a process: written to the iterator's seq_file. */
struct owner_entry {
	__u32 pid;	/* tgid */
	__u32 id;	/* prog, map, or the prog a link points at */
	__u32 kind;	/* BPFSTATS_OBJ_* */
	char comm[BPFSTATS_COMM_LEN];	/* the group leader's */
};

#endif
