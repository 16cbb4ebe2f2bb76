// SPDX-License-Identifier: GPL-2.0
/* Owners of BPF programs and maps: a task_file iterator (Linux >= 5.8) emits
 * one record per BPF prog, map or link fd of every process, read once per
 * refresh. Walking /proc/<pid>/fd from user space costs a readlink per fd of
 * every process (tens of ms with a few thousand fds); the kernel walk is a
 * pointer compare per file. The same scheme as bpftool's pid_iter.bpf.c. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "bpfstats.h"

/* The file's anon-inode name ("anon_inode:bpf-prog" in /proc/<pid>/fd). The
 * fops symbols (bpf_prog_fops, as bpftool compares) are data symbols, absent
 * from kallsyms without CONFIG_KALLSYMS_ALL, so the name is what we match. */
static __always_inline int kind_of(const char *name)
{
	/* "bpf-prog", "bpf-map", "bpf_link": the fifth byte tells them apart. */
	if (name[0] != 'b' || name[1] != 'p' || name[2] != 'f')
		return -1;
	if (name[3] == '-' && name[4] == 'p' && name[5] == 'r' && name[6] == 'o' && name[7] == 'g' && !name[8])
		return BPFSTATS_OBJ_PROG;
	if (name[3] == '-' && name[4] == 'm' && name[5] == 'a' && name[6] == 'p' && !name[7])
		return BPFSTATS_OBJ_MAP;
	if (name[3] == '_' && name[4] == 'l' && name[5] == 'i' && name[6] == 'n' && name[7] == 'k' && !name[8])
		return BPFSTATS_OBJ_LINK;
	return -1;
}

SEC("iter/task_file")
int bpfstats_owners(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct task_struct *task = ctx->task;
	struct owner_entry e = {};
	char name[12] = {};
	void *priv;
	int kind;

	/* The kernel visits a thread only when its fd table is not its leader's. */
	if (!file || !task)
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(file, f_path.dentry, d_name.name));
	kind = kind_of(name);
	if (kind < 0)
		return 0;
	priv = BPF_CORE_READ(file, private_data);
	if (kind == BPFSTATS_OBJ_PROG)
		e.id = BPF_CORE_READ((struct bpf_prog *)priv, aux, id);
	else if (kind == BPFSTATS_OBJ_MAP)
		e.id = BPF_CORE_READ((struct bpf_map *)priv, id);
	else
		e.id = BPF_CORE_READ((struct bpf_link *)priv, prog, aux, id);
	e.kind = kind;
	e.pid = BPF_CORE_READ(task, tgid);
	BPF_CORE_READ_STR_INTO(&e.comm, task, group_leader, comm);
	bpf_seq_write(ctx->meta->seq, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
