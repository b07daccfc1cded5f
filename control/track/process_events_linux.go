package track

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	xbpf "github.com/xvrrp/xvrrp/bpf"
)

// lostPoll is how often the ring's lost-event counter is read when no
// event arrives; a rise triggers a full /proc rescan.
const lostPoll = time.Second

// ProcessEventStats counts what the event source did, for metrics and the
// benchmark.
type ProcessEventStats struct {
	Events  uint64 // records read from the ring
	Lost    uint64 // records the kernel dropped (ring full)
	Rescans uint64 // full /proc scans (start-up and after losses)
}

// ProcessEvents feeds a ProcessTracker from proc.bpf.c: raw tracepoints on
// sched_process_exec/fork/exit, which unlike keepalived's proc connector
// work inside any network namespace.
type ProcessEvents struct {
	t    *ProcessTracker
	root string
	log  *slog.Logger

	objs  xbpf.ProcObjects
	links []link.Link
	rd    *ringbuf.Reader

	lostSeen uint64
	events   atomic.Uint64
	rescans  atomic.Uint64
	wg       sync.WaitGroup
}

// StartProcessEvents loads the BPF program, attaches it, scans procRoot
// ("/proc") once and follows events until Close. Errors say whether BPF
// tracing is unavailable (no CAP_BPF/CAP_PERFMON, kernel without BTF).
func StartProcessEvents(t *ProcessTracker, procRoot string, log *slog.Logger) (*ProcessEvents, error) {
	if log == nil {
		log = slog.Default()
	}
	e := &ProcessEvents{t: t, root: procRoot, log: log}
	if err := xbpf.LoadProcObjects(&e.objs, nil); err != nil {
		return nil, fmt.Errorf("track_process: load proc.bpf.c: %w (needs CAP_BPF and CAP_PERFMON, and a kernel with BTF)", err)
	}
	for _, a := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"sched_process_exec", e.objs.ProcExec},
		{"sched_process_fork", e.objs.ProcFork},
		{"sched_process_exit", e.objs.ProcExit},
	} {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: a.name, Program: a.prog})
		if err != nil {
			e.closeKernel()
			return nil, fmt.Errorf("track_process: attach raw tracepoint %s: %w", a.name, err)
		}
		e.links = append(e.links, l)
	}
	rd, err := ringbuf.NewReader(e.objs.ProcEvents)
	if err != nil {
		e.closeKernel()
		return nil, fmt.Errorf("track_process: open ring buffer: %w", err)
	}
	e.rd = rd
	t.SetWatch(e.setWatched)
	// Events from now on are buffered in the ring, so the scan cannot miss
	// a process that starts while it runs.
	if err := e.rescan("start-up"); err != nil {
		e.Close()
		return nil, err
	}
	e.wg.Add(1)
	go e.loop()
	return e, nil
}

// Stats returns the counters.
func (e *ProcessEvents) Stats() ProcessEventStats {
	return ProcessEventStats{Events: e.events.Load(), Lost: e.readLost(), Rescans: e.rescans.Load()}
}

func (e *ProcessEvents) setWatched(pid int, on bool) {
	k := uint32(pid)
	if on {
		if err := e.objs.ProcWatched.Put(k, uint8(1)); err != nil {
			e.log.Error("track_process: watch pid; its exit will be found by the next rescan", "pid", pid, "err", err)
		}
		return
	}
	_ = e.objs.ProcWatched.Delete(k)
}

func (e *ProcessEvents) readLost() uint64 {
	var v uint64
	_ = e.objs.ProcLost.Lookup(uint32(0), &v)
	return v
}

func (e *ProcessEvents) rescan(why string) error {
	procs, err := ScanProc(e.root)
	if err != nil {
		return err
	}
	e.rescans.Add(1)
	e.log.Info("track_process: full /proc scan", "reason", why, "processes", len(procs))
	e.t.Resync(procs)
	return nil
}

func (e *ProcessEvents) loop() {
	defer e.wg.Done()
	var rec ringbuf.Record
	for {
		e.rd.SetDeadline(time.Now().Add(lostPoll))
		err := e.rd.ReadInto(&rec)
		if errors.Is(err, ringbuf.ErrClosed) {
			return
		}
		if lost := e.readLost(); lost != e.lostSeen {
			e.log.Warn("track_process: process events lost (ring full); rescanning /proc", "lost_total", lost)
			e.lostSeen = lost
			if err := e.rescan("events lost"); err != nil {
				e.log.Error("track_process: rescan failed", "err", err)
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			e.log.Error("track_process: read ring buffer", "err", err)
			continue
		}
		var ev xbpf.ProcEvent
		if err := binary.Read(bytes.NewReader(rec.RawSample), binary.NativeEndian, &ev); err != nil {
			e.log.Error("track_process: short ring record", "len", len(rec.RawSample))
			continue
		}
		e.events.Add(1)
		e.handle(ev)
	}
}

func (e *ProcessEvents) handle(ev xbpf.ProcEvent) {
	pid := int(ev.Pid)
	switch ev.Kind {
	case uint32(xbpf.ProcKindExec):
		p, err := ReadProc(e.root, pid)
		if err != nil {
			// Gone already: it was never counted, so nothing to undo.
			e.t.Exit(pid)
			return
		}
		e.t.Exec(p)
	case uint32(xbpf.ProcKindFork):
		e.t.Fork(int(ev.Ppid), pid)
	case uint32(xbpf.ProcKindExit):
		e.t.Exit(pid)
		return
	default:
		return
	}
	// A process that exited before it was put in the watched map sent no
	// exit event; catch it here.
	if !e.t.isCounted(pid) {
		return
	}
	if _, err := os.Stat(filepath.Join(e.root, strconv.Itoa(pid))); err != nil {
		e.t.Exit(pid)
		return
	}
	// Likewise a child forked before the pid was watched sent no fork
	// event: adopt the children the kernel lists now.
	e.adoptChildren(pid, 4)
}

func (e *ProcessEvents) adoptChildren(pid, depth int) {
	if depth == 0 {
		return
	}
	files, _ := filepath.Glob(filepath.Join(e.root, strconv.Itoa(pid), "task", "*", "children"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range strings.Fields(string(b)) {
			child, err := strconv.Atoi(w)
			if err != nil || e.t.isCounted(child) {
				continue
			}
			e.t.Fork(pid, child)
			e.adoptChildren(child, depth-1)
		}
	}
}

// Close detaches the program and stops the reader.
func (e *ProcessEvents) Close() error {
	if e.rd != nil {
		e.rd.Close()
	}
	e.wg.Wait()
	e.t.SetWatch(nil)
	e.closeKernel()
	return nil
}

func (e *ProcessEvents) closeKernel() {
	for _, l := range e.links {
		l.Close()
	}
	e.links = nil
	e.objs.Close()
}
