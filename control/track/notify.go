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

	"golang.org/x/sys/unix"
)

// NotifyScripts are an instance's or sync group's notify lines, each split
// into words (Args[0] an absolute path or a command looked up in PATH).
type NotifyScripts struct {
	Master, Backup, Fault, Stop []string
	// Notify is `notify`: called with four more arguments,
	// "INSTANCE"|"GROUP", name, state, priority (keepalived.conf(5)), for
	// state changes only (keepalived notify_script_exec).
	Notify []string
	// Event is run as is for an event that is not a state change
	// (notify_master_rx_lower_pri for EventMasterRxLowerPri).
	Event []string
}

// The FIFO's event lines that are not states (keepalived vrrp_notify.c
// notify_fifo): a master heard a lower priority; the effective priority
// changed in MASTER, or in another state, with notify_priority_changes.
const (
	EventMasterRxLowerPri = "MASTER_RX_LOWER_PRI"
	EventMasterPriority   = "MASTER_PRIORITY"
	EventBackupPriority   = "BACKUP_PRIORITY"
)

// NotifyEvent is one state change to announce.
type NotifyEvent struct {
	Group    bool   // a vrrp_sync_group rather than a vrrp_instance
	Name     string // instance or group name
	State    string // MASTER, BACKUP, FAULT, STOP
	Priority int    // effective priority (0 for groups)
	Scripts  NotifyScripts
	Env      InstanceEnv
}

// InstanceEnv is the per-instance environment given to scripts and notify
// scripts (keepalived lacks it, #837).
type InstanceEnv struct {
	Instance  string
	Group     string
	VRID      int
	Interface string
	State     string
	Priority  int
}

// Environ returns the KEY=VALUE pairs; empty fields are left out.
func (e InstanceEnv) Environ() []string {
	var out []string
	add := func(k, v string) {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	add("XVRRP_INSTANCE", e.Instance)
	add("XVRRP_GROUP", e.Group)
	if e.VRID > 0 {
		add("XVRRP_VRID", strconv.Itoa(e.VRID))
	}
	add("XVRRP_INTERFACE", e.Interface)
	add("XVRRP_STATE", e.State)
	if e.State != "" {
		add("XVRRP_PRIORITY", strconv.Itoa(e.Priority))
	}
	return out
}

// FIFOLine is keepalived's notify_fifo line (vrrp_notify.c notify_fifo):
// `INSTANCE "VI_1" MASTER 100` or `GROUP "G1" BACKUP 0`.
func FIFOLine(ev NotifyEvent) string {
	kind := "INSTANCE"
	if ev.Group {
		kind = "GROUP"
	}
	return fmt.Sprintf("%s %q %s %d\n", kind, ev.Name, ev.State, ev.Priority)
}

// NotifyOptions configure a Notifier.
type NotifyOptions struct {
	Exec           Executor // default ExecRunner
	Logger         *slog.Logger
	RunAs          RunAs // script_user
	EnableSecurity bool  // enable_script_security: insecure notify scripts are not run
	FIFO           string
	// Timeout bounds one notify script run: past it the script's process
	// group gets SIGTERM, then SIGKILL KillGrace later, and the run counts
	// as a failure. 0: DefaultNotifyTimeout; negative: none. keepalived
	// has no such bound, but a hung script would otherwise hold its
	// instance's later notifications forever.
	Timeout time.Duration
	// CloseGrace is how long Close lets queued and running notify scripts
	// finish (notify_stop on shutdown) before it kills them; 0:
	// DefaultNotifyCloseGrace.
	CloseGrace time.Duration
	QueueLen   int // per instance/group; default 64
}

const (
	// DefaultNotifyTimeout is NotifyOptions.Timeout's default.
	DefaultNotifyTimeout = 10 * time.Second
	// DefaultNotifyCloseGrace is NotifyOptions.CloseGrace's default: short,
	// since xvrrpd must exit within about a second of SIGTERM.
	DefaultNotifyCloseGrace = 500 * time.Millisecond
	// NotifyCancelGrace is the time between SIGTERM and SIGKILL for a
	// notify script still running when Close's grace ends.
	NotifyCancelGrace = 250 * time.Millisecond
	// notifyAbandonAfter is how long Close waits, after killing, for the
	// workers before it gives up on them (an Executor that ignores ctx, a
	// pipe held open by a process that left the script's group).
	notifyAbandonAfter = NotifyCancelGrace + 500*time.Millisecond
)

// NotifyStats counts the notifier's work for metrics.
type NotifyStats struct {
	Runs, Failures, Refused, Dropped, FIFOLines, FIFOErrors uint64
}

// Notifier runs notify scripts and writes the notify FIFO without ever
// blocking the caller: each instance/group has a bounded queue served by
// its own goroutine, so order per instance is kept and a slow script only
// delays that instance's later notifications, never the state machine.
type Notifier struct {
	opts NotifyOptions
	log  *slog.Logger

	mu     sync.Mutex
	queues map[string]chan NotifyEvent
	fifo   chan string
	fifoF  *os.File
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
	stats  struct{ runs, failures, refused, dropped, fifoLines, fifoErrors atomic.Uint64 }
}

// NewNotifier opens the FIFO (creating it) when one is configured.
func NewNotifier(opts NotifyOptions) (*Notifier, error) {
	if opts.Exec == nil {
		opts.Exec = ExecRunner{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 64
	}
	switch {
	case opts.Timeout == 0:
		opts.Timeout = DefaultNotifyTimeout
	case opts.Timeout < 0:
		opts.Timeout = 0 // Command: none
	}
	if opts.CloseGrace <= 0 {
		opts.CloseGrace = DefaultNotifyCloseGrace
	}
	n := &Notifier{opts: opts, log: opts.Logger, queues: map[string]chan NotifyEvent{}}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if opts.FIFO != "" {
		if err := unix.Mkfifo(opts.FIFO, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("notify_fifo %s: create: %w", opts.FIFO, err)
		}
		st, err := os.Stat(opts.FIFO)
		if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
			return nil, fmt.Errorf("notify_fifo %s: exists and is not a FIFO; remove it or choose another path", opts.FIFO)
		}
		// O_RDWR never blocks and keeps the FIFO open with no reader, so
		// a reader may come and go.
		f, err := os.OpenFile(opts.FIFO, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("notify_fifo %s: open: %w", opts.FIFO, err)
		}
		n.fifoF = f
		n.fifo = make(chan string, 1024)
		n.wg.Add(1)
		go n.fifoLoop()
	}
	return n, nil
}

// Notify queues ev and returns at once. When the instance's queue is full
// the event is dropped and logged loudly.
func (n *Notifier) Notify(ev NotifyEvent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	if n.fifo != nil {
		select {
		case n.fifo <- FIFOLine(ev):
		default:
			n.stats.dropped.Add(1)
			n.log.Error("notify_fifo backlog full; line dropped (is the FIFO reader stuck?)", "name", ev.Name, "state", ev.State)
		}
	}
	key := "I:" + ev.Name
	if ev.Group {
		key = "G:" + ev.Name
	}
	q, ok := n.queues[key]
	if !ok {
		q = make(chan NotifyEvent, n.opts.QueueLen)
		n.queues[key] = q
		n.wg.Add(1)
		go n.worker(q)
	}
	select {
	case q <- ev:
	default:
		n.stats.dropped.Add(1)
		n.log.Error("notify queue full; notification dropped (a notify script is too slow)", "name", ev.Name, "state", ev.State)
	}
}

// Stats returns the counters.
func (n *Notifier) Stats() NotifyStats {
	return NotifyStats{Runs: n.stats.runs.Load(), Failures: n.stats.failures.Load(), Refused: n.stats.refused.Load(),
		Dropped: n.stats.dropped.Load(), FIFOLines: n.stats.fifoLines.Load(), FIFOErrors: n.stats.fifoErrors.Load()}
}

func (n *Notifier) worker(q chan NotifyEvent) {
	defer n.wg.Done()
	for ev := range q {
		if n.ctx.Err() != nil {
			// Close's grace is over: what is still queued is not run.
			n.stats.dropped.Add(1)
			n.log.Warn("notifier closing; queued notification not run", "name", ev.Name, "state", ev.State)
			continue
		}
		var specific []string
		state := true
		switch ev.State {
		case "MASTER":
			specific = ev.Scripts.Master
		case "BACKUP":
			specific = ev.Scripts.Backup
		case "FAULT":
			specific = ev.Scripts.Fault
		case "STOP":
			specific = ev.Scripts.Stop
		default:
			specific, state = ev.Scripts.Event, false
		}
		if len(specific) > 0 {
			n.run(ev, specific)
		}
		if state && len(ev.Scripts.Notify) > 0 {
			kind := "INSTANCE"
			if ev.Group {
				kind = "GROUP"
			}
			args := append(append([]string(nil), ev.Scripts.Notify...), kind, ev.Name, ev.State, strconv.Itoa(ev.Priority))
			if n.ctx.Err() == nil {
				n.run(ev, args)
			}
		}
	}
}

// LookPath resolves a script's command as the runtime runs it: an absolute
// path as given, a bare name in the clean PATH scripts run with (safePath),
// as keepalived's notify.c does with its own PATH. A relative path with a
// '/' is refused: it would depend on xvrrpd's working directory.
func LookPath(name string) (string, error) {
	if name == "" {
		return "", &NotExecutableError{Script: name, Why: "empty command"}
	}
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			return "", &NotExecutableError{Script: name, Why: "relative path; use an absolute path"}
		}
		return name, nil
	}
	for _, dir := range strings.Split(strings.TrimPrefix(safePath, "PATH="), ":") {
		c := filepath.Join(dir, name)
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, nil
		}
	}
	return "", &NotExecutableError{Script: name, Why: "not found in " + safePath}
}

func (n *Notifier) run(ev NotifyEvent, args []string) {
	log := n.log.With("name", ev.Name, "state", ev.State, "script", args[0])
	path, err := LookPath(args[0])
	if err != nil {
		n.stats.refused.Add(1)
		log.Error("notify script not run", "problem", err.Error())
		return
	}
	args = append([]string{path}, args[1:]...)
	if err := CheckScriptSecurity(args[0], n.opts.RunAs); err != nil {
		var insecure *InsecureError
		if !errors.As(err, &insecure) || n.opts.EnableSecurity {
			n.stats.refused.Add(1)
			log.Error("notify script not run", "problem", err.Error())
			return
		}
		log.Warn("running an insecure notify script; set enable_script_security to refuse it", "problem", err.Error())
	}
	env := ev.Env
	env.State, env.Priority = ev.State, ev.Priority
	res := n.opts.Exec.Run(n.ctx, Command{Args: args, Env: env.Environ(), RunAs: n.opts.RunAs,
		Timeout: n.opts.Timeout, CancelGrace: NotifyCancelGrace})
	n.stats.runs.Add(1)
	if !res.Success() {
		n.stats.failures.Add(1)
		log.Warn("notify script failed", "result", res.Describe(), "output", string(res.Output))
		return
	}
	log.Debug("notify script ran", "output", string(res.Output))
}

func (n *Notifier) fifoLoop() {
	defer n.wg.Done()
	for line := range n.fifo {
		if _, err := n.fifoF.WriteString(line); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return // Close gave up on a stuck reader
			}
			n.stats.fifoErrors.Add(1)
			n.log.Error("notify_fifo write failed", "fifo", n.opts.FIFO, "err", err)
			continue
		}
		n.stats.fifoLines.Add(1)
	}
}

// Close stops accepting events and lets queued notifications run for
// CloseGrace; then it cancels the rest: running scripts' process groups get
// SIGTERM, then SIGKILL NotifyCancelGrace later, and what is still queued
// is dropped. It returns within CloseGrace + NotifyCancelGrace + 0.5 s
// whatever the scripts or the FIFO reader do, and closes the FIFO.
func (n *Notifier) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for _, q := range n.queues {
		close(q)
	}
	if n.fifo != nil {
		close(n.fifo)
	}
	n.mu.Unlock()

	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	grace := time.NewTimer(n.opts.CloseGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		n.log.Warn("notify scripts or notify_fifo writes still pending on close; killing the scripts", "grace", n.opts.CloseGrace)
		n.cancel()
		abandon := time.NewTimer(notifyAbandonAfter)
		defer abandon.Stop()
		select {
		case <-done:
		case <-abandon.C:
			n.log.Error("notify workers did not stop after their scripts were killed; not waiting for them")
		}
	}
	n.cancel()
	if n.fifoF != nil {
		return n.fifoF.Close()
	}
	return nil
}
