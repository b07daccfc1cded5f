package track

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ScriptConfig is one vrrp_script block (keepalived.conf(5) "VRRP script").
type ScriptConfig struct {
	Name string
	// Args is the script line split into words; Args[0] is an absolute
	// path or a name looked up in the clean PATH.
	Args     []string
	Interval time.Duration // default 1 s
	Timeout  time.Duration // default Interval
	Rise     int           // default 1
	Fall     int           // default 1
	RunAs    RunAs         // user/group, else global script_user, else root
	InitFail bool          // start in the failed state
	// Env, if set, is called before each run for extra KEY=VALUE pairs
	// (the per-instance environment, when one instance tracks the script).
	Env func() []string
}

// ScriptOptions are shared by every script.
type ScriptOptions struct {
	Clock  Clock    // default RealClock
	Exec   Executor // default ExecRunner
	Logger *slog.Logger
	// EnableSecurity is global_defs enable_script_security: an insecure
	// script is failed (fail closed) instead of run with a warning.
	EnableSecurity bool
}

func (o *ScriptOptions) fill() {
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Exec == nil {
		o.Exec = ExecRunner{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// ScriptStatus is a snapshot for xvrrpd -t, the status socket and metrics.
type ScriptStatus struct {
	Name      string
	Path      string
	OK        bool
	Init      bool
	Insecure  string // the security finding; empty when secure
	LastError string // why the last run failed or could not start
	LastExit  int
	LastRun   time.Time
	Runs      uint64
	Failures  uint64
	Skipped   uint64 // ticks skipped because the previous run was still going
	Output    string // the last run's output, truncated
}

// Script runs one vrrp_script every Interval, never two runs at once, and
// reports status changes. One Script serves every instance tracking it.
type Script struct {
	cfg  ScriptConfig
	opts ScriptOptions
	emit func(Update)
	log  *slog.Logger

	mu      sync.Mutex
	result  int // keepalived's counter: OK iff result >= rise
	init    bool
	running bool
	stopped bool
	timer   Timer
	cancel  context.CancelFunc
	last    Update
	emitted bool
	warned  string // the insecure message already warned about
	status  ScriptStatus
	wg      sync.WaitGroup
}

// NewScript prepares a script; Start begins running it. emit is called,
// with the Script's lock held, whenever the status changes; it must not
// call back into the Script.
func NewScript(cfg ScriptConfig, opts ScriptOptions, emit func(Update)) *Script {
	opts.fill()
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		// keepalived vrrp_parser.c: no timeout means the interval.
		cfg.Timeout = cfg.Interval
	}
	if cfg.Rise < 1 {
		cfg.Rise = 1
	}
	if cfg.Fall < 1 {
		cfg.Fall = 1
	}
	s := &Script{cfg: cfg, opts: opts, emit: emit, log: opts.Logger.With("vrrp_script", cfg.Name)}
	// keepalived vrrp_parser.c vrrp_script_end_handler: a script starts one
	// success short of OK (INIT: a single success makes it OK, a single
	// failure makes it failed); with init_fail it starts failed and needs
	// rise successes.
	if cfg.InitFail {
		s.result = 0
	} else {
		s.result = cfg.Rise - 1
		s.init = true
	}
	s.status = ScriptStatus{Name: cfg.Name, Init: s.init, LastExit: -1}
	if len(cfg.Args) > 0 {
		s.status.Path = cfg.Args[0]
	}
	return s
}

// Current returns the status as an Update (what the daemon needs at start).
func (s *Script) Current() Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.update("")
}

// Status returns a snapshot.
func (s *Script) Status() ScriptStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.OK, st.Init = s.ok(), s.init
	return st
}

// Check runs the security check now (for xvrrpd -t and start-up).
func (s *Script) Check() error {
	path, err := s.resolve()
	if err != nil {
		return err
	}
	return CheckScriptSecurity(path, s.cfg.RunAs)
}

// Start runs the script now and then every Interval.
func (s *Script) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.emitted {
		s.publish(s.update(""))
	}
	s.tickLocked()
}

// Stop cancels the schedule, kills a running run and waits for it.
func (s *Script) Stop() {
	s.mu.Lock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Script) ok() bool { return !s.init && s.result >= s.cfg.Rise }

func (s *Script) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked()
}

func (s *Script) tickLocked() {
	if s.stopped {
		return
	}
	s.timer = s.opts.Clock.AfterFunc(s.cfg.Interval, s.tick)
	if s.running {
		// Never more than one run of a script at a time.
		s.status.Skipped++
		s.log.Warn("script still running at its next interval; skipping this run", "interval", s.cfg.Interval)
		return
	}
	path, err := s.resolve()
	if err == nil {
		err = CheckScriptSecurity(path, s.cfg.RunAs)
	}
	var insecure *InsecureError
	switch {
	case errors.As(err, &insecure):
		s.status.Insecure = insecure.Error()
		if s.opts.EnableSecurity {
			// Fail closed: the tracker fails (never silently dropped,
			// keepalived #2438, #842).
			s.failClosed(insecure.Error() + " (enable_script_security: not run)")
			return
		}
		if s.warned != insecure.Error() {
			s.warned = insecure.Error()
			s.log.Warn("running an insecure script; set enable_script_security to refuse it", "problem", insecure.Error())
		}
	case err != nil:
		// Missing or not executable is a failure, never a success
		// (keepalived #2126).
		s.status.Insecure = ""
		s.finish(Result{ExitCode: -1, StartErr: err}, time.Time{})
		return
	default:
		if s.status.Insecure != "" {
			s.log.Info("script is secure again", "was", s.status.Insecure)
		}
		s.status.Insecure = ""
		s.warned = ""
	}
	args := append([]string{path}, s.cfg.Args[1:]...)
	cmd := Command{Args: args, RunAs: s.cfg.RunAs, Timeout: s.cfg.Timeout}
	if s.cfg.Env != nil {
		cmd.Env = s.cfg.Env()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.running = true
	started := s.opts.Clock.Now()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		res := s.opts.Exec.Run(ctx, cmd)
		cancel()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.running = false
		s.cancel = nil
		if s.stopped {
			return
		}
		s.finish(res, started)
	}()
}

// resolve finds Args[0]: absolute as given, else in the clean PATH.
func (s *Script) resolve() (string, error) {
	if len(s.cfg.Args) == 0 || s.cfg.Args[0] == "" {
		return "", &NotExecutableError{Script: s.cfg.Name, Why: "empty script line"}
	}
	p := s.cfg.Args[0]
	if strings.Contains(p, "/") {
		if !filepath.IsAbs(p) {
			return "", &NotExecutableError{Script: p, Why: "relative path; use an absolute path"}
		}
		return p, nil
	}
	for _, dir := range strings.Split(strings.TrimPrefix(safePath, "PATH="), ":") {
		c := filepath.Join(dir, p)
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, nil
		}
	}
	return "", &NotExecutableError{Script: p, Why: "not found in " + safePath}
}

func (s *Script) failClosed(why string) {
	s.status.Runs++
	s.status.Failures++
	s.status.LastError = why
	s.status.LastRun = s.opts.Clock.Now()
	wasOK := s.ok()
	s.init = false
	s.result = 0
	if wasOK || !s.emitted || s.last.Insecure != s.status.Insecure || s.last.OK || s.last.Init {
		s.log.Error("script failed the security check; tracker is failed", "problem", why)
	}
	s.publish(s.update(why))
}

// finish applies keepalived's rise/fall counter (vrrp_scheduler.c
// vrrp_script_child_thread): from OK (result = rise+fall-1) it takes fall
// consecutive failures to fail; from failed (0) rise consecutive successes
// to become OK; a run of the other kind resets the count.
func (s *Script) finish(res Result, started time.Time) {
	s.status.Runs++
	s.status.LastRun = started
	s.status.LastExit = res.ExitCode
	s.status.Output = string(res.Output)
	full := s.cfg.Rise + s.cfg.Fall - 1
	if res.Success() {
		s.status.LastError = ""
		if s.result < s.cfg.Rise {
			s.result++
			if s.result >= s.cfg.Rise {
				s.result = full
			}
		} else {
			s.result = full
		}
		s.log.Debug("script succeeded", "output", string(res.Output))
	} else {
		s.status.Failures++
		s.status.LastError = res.Describe()
		if s.init {
			s.result = 0
		} else if s.result >= s.cfg.Rise {
			s.result--
			if s.result < s.cfg.Rise {
				s.result = 0
			}
		} else {
			s.result = 0
		}
		lvl := slog.LevelWarn
		if res.StartErr != nil {
			lvl = slog.LevelError
		}
		s.log.Log(context.Background(), lvl, "script failed", "result", res.Describe(), "output", string(res.Output))
	}
	s.init = false
	reason := s.status.LastError
	if reason == "" {
		reason = res.Describe()
	}
	s.publish(s.update(reason))
}

func (s *Script) update(reason string) Update {
	return Update{Kind: KindScript, Name: s.cfg.Name, OK: s.ok(), Init: s.init, Insecure: s.status.Insecure, Reason: reason}
}

// publish emits u when what Contribute depends on changed.
func (s *Script) publish(u Update) {
	if s.emitted && u.OK == s.last.OK && u.Init == s.last.Init && u.Insecure == s.last.Insecure {
		return
	}
	if s.emitted && u.OK != s.last.OK {
		s.log.Info(fmt.Sprintf("script is now %s", okWord(u.OK)), "reason", u.Reason)
	}
	s.last, s.emitted = u, true
	if s.emit != nil {
		s.emit(u)
	}
}
