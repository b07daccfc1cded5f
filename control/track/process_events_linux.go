package track

import (
	"context"
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

	"github.com/xvrrp/xvrrp/loader"
)

// lostPoll is how often the ring's lost-event counter is read when no
// event arrives; a rise triggers a full /proc rescan.
const lostPoll = time.Second

// ProcessSource names how a ProcessEvents learns of process exec, fork and
// exit.
type ProcessSource string

// The sources, best first. StartProcessEvents tries them in this order.
const (
	// SourceBPF: proc.bpf.c on the sched_process_exec/fork/exit raw
	// tracepoints. Works in any network namespace; needs CAP_BPF and
	// CAP_PERFMON and a kernel with BTF.
	SourceBPF ProcessSource = "bpf"
	// SourceConnector: the kernel's process-events connector
	// (NETLINK_CONNECTOR, CN_IDX_PROC; linux/cn_proc.h), as keepalived
	// uses. Only answers in the initial network, user and pid namespaces,
	// and needs CAP_NET_ADMIN.
	SourceConnector ProcessSource = "connector"
	// SourcePoll: a full /proc scan every PollInterval. Always works, costs
	// a read of every process's comm and cmdline per interval, and sees a
	// change up to one interval late; the last resort, so that
	// track_process never silently stops counting.
	SourcePoll ProcessSource = "poll"
)

// DefaultProcessPollInterval is SourcePoll's scan interval: keepalived's
// default vrrp_script interval, so a polled track_process reacts no later
// than a script checking for the process would.
const DefaultProcessPollInterval = time.Second

// ProcessEventsOptions tunes StartProcessEventsWith.
type ProcessEventsOptions struct {
	// Sources are tried in order until one starts; nil means SourceBPF,
	// SourceConnector, SourcePoll. Tests use it to force a fallback.
	Sources []ProcessSource
	// PollInterval is SourcePoll's interval (default
	// DefaultProcessPollInterval).
	PollInterval time.Duration
}

// ProcessEventStats counts what the event source did, for metrics and the
// benchmark.
type ProcessEventStats struct {
	Events  uint64 // records read from the ring, or process events from the connector
	Lost    uint64 // BPF: records the kernel dropped (ring full); connector: socket overruns (ENOBUFS)
	Rescans uint64 // full /proc scans (start-up, after losses, and every poll)
}

// ProcessEvents feeds a ProcessTracker from the best source available:
// proc.bpf.c (raw tracepoints on sched_process_exec/fork/exit, which unlike
// keepalived's proc connector work inside any network namespace), else the
// proc connector, else polling /proc.
type ProcessEvents struct {
	t      *ProcessTracker
	root   string
	log    *slog.Logger
	source ProcessSource
	every  time.Duration // SourcePoll's interval

	// SourceBPF.
	bpf      *loader.ProcEvents // waits in Go's poller, not a blocking syscall
	lostSeen uint64

	// SourceConnector.
	conn *procConnector

	done      chan struct{} // closed by Close (connector back-off, poll)
	events    atomic.Uint64
	lost      atomic.Uint64 // connector overruns
	rescans   atomic.Uint64
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// StartProcessEvents follows processes for t with the best source that
// starts (SourceBPF, then SourceConnector, then SourcePoll), scans procRoot
// ("/proc") once and follows events until Close. When a better source
// fails it logs one warning naming the source in use and why the better
// ones failed. It fails only when procRoot cannot be scanned.
func StartProcessEvents(t *ProcessTracker, procRoot string, log *slog.Logger) (*ProcessEvents, error) {
	return StartProcessEventsWith(t, procRoot, log, ProcessEventsOptions{})
}

// StartProcessEventsWith is StartProcessEvents with options. It fails when
// none of opts.Sources starts, with every source's error.
func StartProcessEventsWith(t *ProcessTracker, procRoot string, log *slog.Logger, opts ProcessEventsOptions) (*ProcessEvents, error) {
	if log == nil {
		log = slog.Default()
	}
	sources := opts.Sources
	if len(sources) == 0 {
		sources = []ProcessSource{SourceBPF, SourceConnector, SourcePoll}
	}
	e := &ProcessEvents{t: t, root: procRoot, log: log, every: opts.PollInterval, done: make(chan struct{})}
	if e.every <= 0 {
		e.every = DefaultProcessPollInterval
	}
	var errs []error
	var failed []string
	var failedAttrs []any
	for _, s := range sources {
		var err error
		switch s {
		case SourceBPF:
			err = e.openBPF()
		case SourceConnector:
			e.conn, err = openProcConnector(connAckTimeout)
			if err != nil {
				err = fmt.Errorf("track_process: proc connector: %w", err)
			}
		case SourcePoll:
		default:
			err = fmt.Errorf("track_process: unknown event source %q", s)
		}
		if err == nil {
			e.source = s
			break
		}
		errs = append(errs, err)
		failed = append(failed, string(s))
		failedAttrs = append(failedAttrs, string(s)+"_err", err.Error())
	}
	if e.source == "" {
		return nil, errors.Join(errs...)
	}
	desc := e.describe()
	doing := "following processes " + desc
	if e.source == SourcePoll {
		doing = desc
	}
	if len(errs) > 0 {
		// Once, at start: which source is in use and why the better ones
		// are not.
		e.log.Warn(fmt.Sprintf("track_process: %s unavailable; %s", strings.Join(failed, " and "), doing), append([]any{"source", string(e.source)}, failedAttrs...)...)
	} else {
		e.log.Info("track_process: "+doing, "source", string(e.source))
	}
	t.SetSource(desc)
	if e.source == SourceBPF {
		t.SetWatch(e.setWatched)
	}
	// Events from now on are buffered (in the ring or the socket), so the
	// scan cannot miss a process that starts while it runs.
	if err := e.rescan("start-up", slog.LevelInfo); err != nil {
		e.Close()
		return nil, err
	}
	e.wg.Add(1)
	switch e.source {
	case SourceBPF:
		go e.loop()
	case SourceConnector:
		go e.loopConnector()
	case SourcePoll:
		go e.loopPoll()
	}
	return e, nil
}

// Source says which source is in use.
func (e *ProcessEvents) Source() ProcessSource { return e.source }

// describe is the source for logs and the tracker's status detail.
func (e *ProcessEvents) describe() string {
	switch e.source {
	case SourceBPF:
		return "via BPF tracepoints"
	case SourceConnector:
		return "via proc connector"
	}
	return "polling /proc every " + e.every.String()
}

// openBPF loads proc.bpf.c, attaches it and opens its ring. Errors say
// whether BPF tracing is unavailable (no CAP_BPF/CAP_PERFMON, kernel
// without BTF).
func (e *ProcessEvents) openBPF() error {
	p, err := loader.OpenProcEvents()
	if err != nil {
		return fmt.Errorf("track_process: %w", err)
	}
	e.bpf = p
	return nil
}

// Stats returns the counters.
func (e *ProcessEvents) Stats() ProcessEventStats {
	lost := e.lost.Load()
	if e.source == SourceBPF {
		lost = e.readLost()
	}
	return ProcessEventStats{Events: e.events.Load(), Lost: lost, Rescans: e.rescans.Load()}
}

func (e *ProcessEvents) setWatched(pid int, on bool) {
	if err := e.bpf.Watch(uint32(pid), on); err != nil && on {
		e.log.Error("track_process: watch pid; its exit will be found by the next rescan", "pid", pid, "err", err)
	}
}

func (e *ProcessEvents) readLost() uint64 { return e.bpf.Lost() }

func (e *ProcessEvents) rescan(why string, level slog.Level) error {
	procs, err := ScanProc(e.root)
	if err != nil {
		return err
	}
	e.rescans.Add(1)
	e.log.Log(context.Background(), level, "track_process: full /proc scan", "reason", why, "processes", len(procs))
	e.t.Resync(procs)
	return nil
}

func (e *ProcessEvents) loop() {
	defer e.wg.Done()
	var ev loader.ProcEvent
	for {
		e.bpf.SetDeadline(time.Now().Add(lostPoll))
		err := e.bpf.Read(&ev)
		if errors.Is(err, os.ErrClosed) {
			return
		}
		if lost := e.readLost(); lost != e.lostSeen {
			e.log.Warn("track_process: process events lost (ring full); rescanning /proc", "lost_total", lost)
			e.lostSeen = lost
			if err := e.rescan("events lost", slog.LevelInfo); err != nil {
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
		e.events.Add(1)
		switch ev.Kind {
		case loader.ProcExec:
			e.handle(procExec, int(ev.Pid), 0)
		case loader.ProcFork:
			e.handle(procFork, int(ev.Pid), int(ev.Ppid))
		case loader.ProcExit:
			e.handle(procExit, int(ev.Pid), 0)
		}
	}
}

// procKind is what happened to a process, whichever source reported it.
type procKind uint8

const (
	procExec procKind = iota + 1 // pid ran a new program
	procFork                     // pid is a new process, forked by ppid
	procExit                     // pid (a thread-group leader) ended
)

// handle applies one event; pid and ppid are thread-group ids.
func (e *ProcessEvents) handle(kind procKind, pid, ppid int) {
	switch kind {
	case procExec:
		p, err := ReadProc(e.root, pid)
		if err != nil {
			// Gone already: it was never counted, so nothing to undo.
			e.t.Exit(pid)
			return
		}
		e.t.Exec(p)
	case procFork:
		e.t.Fork(ppid, pid)
	case procExit:
		e.t.Exit(pid)
		return
	default:
		return
	}
	// A process that exited before it was put in the watched map sent no
	// exit event (BPF); catch it here.
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

// loopPoll is SourcePoll: a full scan every interval.
func (e *ProcessEvents) loopPoll() {
	defer e.wg.Done()
	tk := time.NewTicker(e.every)
	defer tk.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-tk.C:
		}
		if err := e.rescan("poll", slog.LevelDebug); err != nil {
			e.log.Error("track_process: poll /proc", "err", err)
		}
	}
}

// Close stops following processes: it detaches the program, unsubscribes
// from the connector or stops polling. It may be called more than once.
func (e *ProcessEvents) Close() error {
	e.closeOnce.Do(func() {
		close(e.done)
		if e.bpf != nil {
			// Unblocks the loop's Read, then detaches.
			_ = e.bpf.Close()
		}
		if e.conn != nil {
			e.conn.Close()
		}
		e.wg.Wait()
		e.t.SetWatch(nil)
	})
	return nil
}
