//go:build (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm) && linux

package bpf

import "github.com/cilium/ebpf"

// proc.bpf.c: exec/fork/exit events for control/track's track_process.
//go:generate go tool bpf2go -tags linux -target bpfel -cc clang -cflags "-O2 -g -Wall -Werror" -type proc_event -type proc_kind proc proc.bpf.c -- -I/usr/include/x86_64-linux-gnu

// bpf2go's "proc" identifier prefix keeps the generated names unexported (the
// package is shared with the XDP program); these aliases are the exported
// surface control/track uses. The layouts stay declared once, in proc.bpf.c.
type (
	// ProcObjects holds proc.bpf.c's programs and maps once loaded.
	ProcObjects = procObjects
	// ProcEvent is one ring-buffer record (struct proc_event).
	ProcEvent = procProcEvent
	// ProcKind is enum proc_kind.
	ProcKind = procProcKind
)

// The kinds of ProcEvent.
const (
	ProcKindExec = procProcKindPROC_KIND_EXEC
	ProcKindFork = procProcKindPROC_KIND_FORK
	ProcKindExit = procProcKindPROC_KIND_EXIT
)

// LoadProcObjects loads proc.bpf.c into the kernel; the caller closes obj.
func LoadProcObjects(obj *ProcObjects, opts *ebpf.CollectionOptions) error {
	return loadProcObjects(obj, opts)
}
