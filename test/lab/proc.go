package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a long-running program (xvrrpd, keepalived) started by a test
// inside a namespace. Its output goes to a log file shown when the test fails;
// it is killed on cleanup if the test did not stop it.
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string
	Dir     string // a private directory for its sockets, pins, pid files

	t       testing.TB
	done    chan struct{}
	waitErr error
}

// Start starts name args... inside ns. dir is a fresh directory the caller
// may use for the program's files.
func (n *NS) Start(t testing.TB, label string, name string, args ...string) *Proc {
	t.Helper()
	p, err := n.StartIn(t.TempDir(), label, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	p.t = t
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("---- log of %s (%s) ----\n%s", label, n.Name, p.Log())
		}
	})
	return p
}

// StartIn starts name args... inside ns with dir as its directory (its log
// is dir/label.log), for a program that is not a test (the benchmark): the
// caller kills it. It is killed with the caller's process too.
func (n *NS) StartIn(dir, label string, name string, args ...string) (*Proc, error) {
	p := &Proc{Name: label, Dir: dir, LogPath: filepath.Join(dir, label+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.LogPath)
	if err != nil {
		return nil, err
	}
	p.Cmd = n.Command(name, args...)
	p.Cmd.Stdout, p.Cmd.Stderr = logf, logf
	// Its own process group, so a stop signal reaches it and nothing else.
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s in %s: %w", label, n.Name, err)
	}
	go func() {
		p.waitErr = p.Cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Log returns everything the program printed so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Exited reports whether the program has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the program (ip netns exec execs it, so the pid is the
// program's own).
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return errors.New(p.Name + " already exited")
	}
	return p.Cmd.Process.Signal(sig)
}

// Wait waits up to d for the program to exit and returns its error.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(d):
		return fmt.Errorf("%s did not exit within %v", p.Name, d)
	}
}

// Stop sends SIGTERM and waits up to d for a clean exit.
func (p *Proc) Stop(d time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	return p.Wait(d)
}

// Kill kills the program's process group if it still runs.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		_ = p.Wait(5 * time.Second)
	}
}

// WaitLog waits up to d for substr to appear in the program's output.
func (p *Proc) WaitLog(substr string, d time.Duration) error {
	return Eventually(d, func() error {
		if strings.Contains(p.Log(), substr) {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited (%v) before logging %q", p.Name, p.waitErr, substr)
		}
		return fmt.Errorf("%s has not logged %q", p.Name, substr)
	})
}

// WaitFile waits up to d for path to exist (a program's ready signal).
func (p *Proc) WaitFile(path string, d time.Duration) error {
	return Eventually(d, func() error {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited (%v) before writing %s", p.Name, p.waitErr, path)
		}
		return fmt.Errorf("%s has not written %s", p.Name, path)
	})
}

// Eventually polls cond every millisecond until it returns nil or d passes,
// and returns cond's last error then.
func Eventually(d time.Duration, cond func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// RepoRoot returns the repository's top directory (where go.mod is).
func RepoRoot() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above " + file)
		}
		dir = parent
	}
}

// BuildCommands builds ./cmd/... into dir once per test binary and returns
// dir, so end-to-end tests always run the code under test.
func BuildCommands(dir string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/...")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/...: %v\n%s", err, out.String())
	}
	return nil
}
