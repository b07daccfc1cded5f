//go:build ignore

// SPDX-License-Identifier: GPL-2.0
// proc.bpf.c: process exec/fork/exit events for control/track's
// track_process (keepalived vrrp_track_process). keepalived follows processes
// with the proc connector, which only answers in the initial network
// namespace; raw tracepoints work in any namespace and need neither tracefs
// mounted nor a vmlinux.h (only task_struct's pid/tgid, relocated by CO-RE).
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

enum proc_kind {
	PROC_KIND_EXEC = 1,
	PROC_KIND_FORK = 2,
	PROC_KIND_EXIT = 3,
};

struct proc_event {
	__u32 pid;  // thread-group id (the pid user space sees)
	__u32 ppid; // FORK: the parent's thread-group id
	__u32 kind; // enum proc_kind
	char comm[16];
};

// Referenced so that clang keeps both in BTF for bpf2go's -type.
const struct proc_event *proc_unused_event __attribute__((unused));
const enum proc_kind *proc_unused_kind __attribute__((unused));

// Only the two fields we read; CO-RE relocates them against the kernel's BTF.
struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} proc_events SEC(".maps");

// Thread-group ids that user space counts: fork and exit events are only
// sent for these, so a fork/exit storm of unrelated processes costs a hash
// lookup each and never reaches user space.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} proc_watched SEC(".maps");

// [0] = events dropped because the ring was full. User space rescans /proc
// whenever it grows, so a lost event can never leave a count wrong for long.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} proc_lost SEC(".maps");

static __always_inline void emit(__u32 pid, __u32 ppid, __u32 kind)
{
	struct proc_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		__u32 k = 0;
		__u64 *lost = bpf_map_lookup_elem(&proc_lost, &k);
		if (lost)
			__sync_fetch_and_add(lost, 1);
		return;
	}
	e->pid = pid;
	e->ppid = ppid;
	e->kind = kind;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

// sched_process_exec runs in the context of the task after exec: current's
// tgid is the process and its comm is the new program's name.
SEC("raw_tracepoint/sched_process_exec")
int proc_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	emit(id >> 32, 0, PROC_KIND_EXEC);
	return 0;
}

// sched_process_fork(parent, child) runs in the parent. New threads are not
// processes: only a child that leads its own thread group is reported.
SEC("raw_tracepoint/sched_process_fork")
int proc_fork(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 parent = bpf_get_current_pid_tgid() >> 32;
	if (!bpf_map_lookup_elem(&proc_watched, &parent))
		return 0;
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	int pid = BPF_CORE_READ(child, pid);
	int tgid = BPF_CORE_READ(child, tgid);
	if (pid != tgid)
		return 0;
	emit(pid, parent, PROC_KIND_FORK);
	return 0;
}

// sched_process_exit runs in the exiting thread; only the thread-group
// leader's exit ends the process as user space counts it.
SEC("raw_tracepoint/sched_process_exit")
int proc_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if ((__u32)id != tgid)
		return 0;
	if (!bpf_map_lookup_elem(&proc_watched, &tgid))
		return 0;
	bpf_map_delete_elem(&proc_watched, &tgid);
	emit(tgid, 0, PROC_KIND_EXIT);
	return 0;
}
