/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The filters every bpftop object understands: `const volatile` globals that
 * user space sets before load (collectors/base.py: Filters.rodata), so the
 * verifier drops the checks of filters left at 0 ("any").
 */
#ifndef __BPFTOP_FILTERS_BPF_H
#define __BPFTOP_FILTERS_BPF_H

const volatile __u32 targ_tgid = 0;
const volatile __u64 targ_cgroup_id = 0;
const volatile __u8 filter_uid = 0;
const volatile __u32 targ_uid = 0;

/* True when any filter is set. */
static __always_inline bool filtering(void)
{
	return targ_tgid || filter_uid || targ_cgroup_id;
}

/* Filters apply to `current`; callers say whose context that is. */
static __always_inline bool filtered_out(__u32 tgid)
{
	if (targ_tgid && tgid != targ_tgid)
		return true;
	if (filter_uid && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return true;
	if (targ_cgroup_id && bpf_get_current_cgroup_id() != targ_cgroup_id)
		return true;
	return false;
}

#endif /* __BPFTOP_FILTERS_BPF_H */
