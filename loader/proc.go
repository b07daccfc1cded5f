//go:build linux

package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/xvrrp/xvrrp/bpf"
)

// ProcKind is what happened to a process (enum proc_kind of proc.bpf.c).
type ProcKind uint32

// The kinds of ProcEvent.
const (
	ProcExec = ProcKind(bpf.ProcKindExec) // the process ran a new program
	ProcFork = ProcKind(bpf.ProcKindFork) // a new process, forked by Ppid
	ProcExit = ProcKind(bpf.ProcKindExit) // a thread-group leader ended
)

// ProcEvent is one record of proc.bpf.c's ring; pids are thread-group ids.
type ProcEvent struct {
	Kind ProcKind
	Pid  uint32
	Ppid uint32 // ProcFork: the parent
}

// ProcEvents is proc.bpf.c loaded and attached to the sched_process_exec,
// _fork and _exit raw tracepoints: process events for control/track's
// track_process, in any network namespace. Not safe for concurrent Read.
type ProcEvents struct {
	rd *RingReader

	mu     sync.Mutex // Watch and Lost against Close
	objs   bpf.ProcObjects
	links  []link.Link
	lost   uint64 // the last Lost, which Lost keeps answering after Close
	closed bool
}

// OpenProcEvents loads proc.bpf.c and attaches it. It needs CAP_BPF and
// CAP_PERFMON (or root) and a kernel with BTF; its errors say so.
func OpenProcEvents() (*ProcEvents, error) {
	p := &ProcEvents{}
	if err := bpf.LoadProcObjects(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("load proc.bpf.c: %w (needs CAP_BPF and CAP_PERFMON, and a kernel with BTF)", explainErrno(err))
	}
	for _, a := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"sched_process_exec", p.objs.ProcExec},
		{"sched_process_fork", p.objs.ProcFork},
		{"sched_process_exit", p.objs.ProcExit},
	} {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: a.name, Program: a.prog})
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("attach raw tracepoint %s: %w", a.name, err)
		}
		p.links = append(p.links, l)
	}
	rd, err := NewRingReader(p.objs.ProcEvents)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.rd = rd
	return p, nil
}

// Watch says whether fork and exit events of pid are wanted; the program
// sends them only for watched pids, so unrelated process churn never
// reaches user space. Exec events are sent for every process.
func (p *ProcEvents) Watch(pid uint32, on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return os.ErrClosed
	}
	if on {
		return p.objs.ProcWatched.Put(pid, uint8(1))
	}
	err := p.objs.ProcWatched.Delete(pid)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

// Lost is how many events the program dropped because the ring was full.
func (p *ProcEvents) Lost() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		var v uint64
		if p.objs.ProcLost.Lookup(uint32(0), &v) == nil {
			p.lost = v
		}
	}
	return p.lost
}

// SetDeadline bounds the wait of Read; the zero time waits for ever.
func (p *ProcEvents) SetDeadline(t time.Time) { p.rd.SetDeadline(t) }

// Read waits for the next event. It returns an error wrapping
// os.ErrDeadlineExceeded when the deadline passed and os.ErrClosed after
// Close.
func (p *ProcEvents) Read(ev *ProcEvent) error {
	var rec ringbuf.Record
	if err := p.rd.ReadInto(&rec); err != nil {
		return err
	}
	var raw bpf.ProcEvent
	if err := binary.Read(bytes.NewReader(rec.RawSample), binary.NativeEndian, &raw); err != nil {
		return fmt.Errorf("short process event record (%d bytes): %w", len(rec.RawSample), err)
	}
	*ev = ProcEvent{Kind: ProcKind(raw.Kind), Pid: raw.Pid, Ppid: raw.Ppid}
	return nil
}

// Close unblocks a waiting Read (which then returns os.ErrClosed) and
// detaches the program. It may be called more than once, and while Read
// waits in another goroutine.
func (p *ProcEvents) Close() error {
	var errs []error
	if p.rd != nil {
		errs = append(errs, p.rd.Close())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.Join(errs...)
	}
	p.closed = true
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	p.links = nil
	errs = append(errs, p.objs.Close())
	p.objs = bpf.ProcObjects{}
	return errors.Join(errs...)
}
