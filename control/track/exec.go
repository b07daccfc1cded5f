package track

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// OutputLimit is how much of a script's output reaches the log.
const OutputLimit = 512

// KillGrace is the time between SIGTERM and SIGKILL for a script that
// outlives its timeout (SIGTERM, then SIGKILL 2 s later).
const KillGrace = 2 * time.Second

// safePath is the PATH of the clean environment scripts run with.
const safePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Command is one run of a script.
type Command struct {
	Args    []string // Args[0] is the resolved absolute path
	Env     []string // extra KEY=VALUE pairs (per-instance environment)
	RunAs   RunAs
	Timeout time.Duration // 0: none
	// CancelGrace is the time between SIGTERM and SIGKILL when ctx is
	// cancelled (xvrrpd stopping or reloading); 0: KillGrace. A timeout
	// always uses KillGrace.
	CancelGrace time.Duration
}

// Result is how a run ended.
type Result struct {
	ExitCode int    // -1 when killed by a signal or never started
	StartErr error  // non-nil: the script could not be started (a failure)
	TimedOut bool   // killed after Timeout (a failure)
	Canceled bool   // killed because ctx was cancelled (a failure unless it exited 0)
	Output   []byte // combined stdout+stderr, truncated to OutputLimit
	Duration time.Duration
}

// Success is keepalived's rule: exit status 0 is success; anything else,
// a signal, a timeout or a failure to start is failure.
func (r Result) Success() bool { return r.StartErr == nil && !r.TimedOut && r.ExitCode == 0 }

// Describe says how the run ended, for logs and Update.Reason.
func (r Result) Describe() string {
	switch {
	case r.StartErr != nil:
		return "cannot start: " + r.StartErr.Error()
	case r.TimedOut:
		return fmt.Sprintf("timed out after %s, killed", r.Duration.Round(time.Millisecond))
	case r.Canceled && r.ExitCode != 0:
		return fmt.Sprintf("cancelled after %s (xvrrpd stopping or reloading), killed", r.Duration.Round(time.Millisecond))
	case r.ExitCode < 0:
		return "killed by a signal"
	}
	return fmt.Sprintf("exit status %d", r.ExitCode)
}

// Executor runs commands; tests of scheduling replace it with a fake.
type Executor interface {
	Run(ctx context.Context, c Command) Result
}

// ExecRunner runs commands as real processes: clean environment, own
// process group, killed with xvrrpd (Pdeathsig), timeout with SIGTERM then
// SIGKILL after KillGrace.
type ExecRunner struct{}

// Run implements Executor.
func (ExecRunner) Run(ctx context.Context, c Command) Result {
	start := time.Now()
	if len(c.Args) == 0 {
		return Result{ExitCode: -1, StartErr: errors.New("empty command")}
	}
	cmd := exec.Command(c.Args[0], c.Args[1:]...)
	// A clean environment: nothing of xvrrpd's (LD_PRELOAD,
	// LD_LIBRARY_PATH, IFS...) leaks into scripts that may run as root.
	cmd.Env = append([]string{safePath}, c.Env...)
	cmd.Dir = "/"
	out := &limitedBuffer{limit: OutputLimit}
	cmd.Stdout, cmd.Stderr = out, out
	// A background child holding the output pipe must not hold the run.
	cmd.WaitDelay = KillGrace
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if c.RunAs.UID != uint32(os.Geteuid()) || c.RunAs.GID != uint32(os.Getegid()) {
		attr.Credential = &syscall.Credential{Uid: c.RunAs.UID, Gid: c.RunAs.GID, Groups: c.RunAs.Groups}
	}
	cmd.SysProcAttr = attr
	if err := startWithoutAmbient(cmd); err != nil {
		return Result{ExitCode: -1, StartErr: unwrapExecErr(err), Duration: time.Since(start)}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var timeout <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	res := Result{}
	var err error
	select {
	case err = <-done:
	case <-timeout:
		res.TimedOut = true
		err = killGroup(cmd.Process.Pid, done, KillGrace)
	case <-ctx.Done():
		res.Canceled = true
		grace := c.CancelGrace
		if grace <= 0 {
			grace = KillGrace
		}
		err = killGroup(cmd.Process.Pid, done, grace)
	}
	res.Duration = time.Since(start)
	res.Output = out.Bytes()
	res.ExitCode = -1
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
	}
	return res
}

// killGroup sends SIGTERM to the script's process group, then SIGKILL
// after grace, and returns Wait's error.
func killGroup(pid int, done <-chan error, grace time.Duration) error {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-done:
		_ = syscall.Kill(-pid, syscall.SIGKILL) // stragglers in the group
		return err
	case <-t.C:
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return <-done
	}
}

func unwrapExecErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// limitedBuffer keeps the first limit bytes and counts the rest.
type limitedBuffer struct {
	mu      sync.Mutex
	limit   int
	buf     []byte
	dropped int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.limit - len(b.buf)
	if room > 0 {
		n := min(room, len(p))
		b.buf = append(b.buf, p[:n]...)
		b.dropped += len(p) - n
	} else {
		b.dropped += len(p)
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]byte(nil), b.buf...)
	if b.dropped > 0 {
		out = append(out, fmt.Sprintf("... [%d bytes truncated]", b.dropped)...)
	}
	return out
}
