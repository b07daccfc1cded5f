package track

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeExec returns scripted exit codes; with block set, runs wait for release.
type fakeExec struct {
	mu      sync.Mutex
	codes   []int
	calls   int
	block   chan struct{}
	running int
	maxRun  int
	env     []string
}

func (f *fakeExec) Run(ctx context.Context, c Command) Result {
	f.mu.Lock()
	f.calls++
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	f.env = c.Env
	code := 0
	if len(f.codes) > 0 {
		code, f.codes = f.codes[0], f.codes[1:]
	}
	b := f.block
	f.mu.Unlock()
	if b != nil {
		<-b
	}
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
	return Result{ExitCode: code}
}

// updates collects emitted Updates.
type updates struct {
	mu sync.Mutex
	us []Update
	ch chan Update
}

func newUpdates() *updates { return &updates{ch: make(chan Update, 100)} }
func (u *updates) emit(x Update) {
	u.mu.Lock()
	u.us = append(u.us, x)
	u.mu.Unlock()
	u.ch <- x
}

func (u *updates) next(t *testing.T) Update {
	t.Helper()
	select {
	case x := <-u.ch:
		return x
	case <-time.After(10 * time.Second):
		t.Fatal("no update within 10s")
	}
	return Update{}
}

// secureScript writes a secure script that exits 0 (fake exec decides).
func secureScript(t *testing.T) string {
	t.Helper()
	lab.RequirePrivileged(t)
	d := secureDir(t)
	p := filepath.Join(d, "chk.sh")
	writeScript(t, p, "exit 0", 0o755)
	return p
}

// runOnce advances one interval and waits for the run to finish.
func waitCalls(t *testing.T, f *fakeExec, s *Script, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		c := f.calls
		f.mu.Unlock()
		st := s.Status()
		if c >= n && int(st.Runs) >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("script did not run %d times", n)
}

func TestScriptRiseFall(t *testing.T) {
	path := secureScript(t)
	tests := []struct {
		name     string
		rise     int
		fall     int
		initFail bool
		codes    []int
		wantOK   []bool // after each run
	}{
		{"Init_OneSuccessIsOK", 3, 3, false, []int{0}, []bool{true}},
		{"Init_OneFailureIsFailed", 3, 3, false, []int{1}, []bool{false}},
		{"OK_FallFailuresToFail", 1, 3, false, []int{0, 1, 1, 1}, []bool{true, true, true, false}},
		{"OK_SuccessResetsFall", 1, 2, false, []int{0, 1, 0, 1, 1}, []bool{true, true, true, true, false}},
		{"Failed_RiseSuccessesToOK", 2, 1, false, []int{1, 0, 0}, []bool{false, false, true}},
		{"Failed_FailureResetsRise", 2, 1, false, []int{1, 0, 1, 0, 0}, []bool{false, false, false, false, true}},
		{"InitFail_StartsFailed_NeedsRise", 2, 1, true, []int{0, 0}, []bool{false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			fx := &fakeExec{codes: tc.codes}
			s := NewScript(ScriptConfig{Name: "chk", Args: []string{path}, Rise: tc.rise, Fall: tc.fall, InitFail: tc.initFail},
				ScriptOptions{Clock: clk, Exec: fx, Logger: quiet}, nil)
			if tc.initFail {
				if u := s.Current(); u.Init || u.OK {
					t.Fatalf("init_fail start: %+v, want failed", u)
				}
			} else if u := s.Current(); !u.Init {
				t.Fatalf("start: %+v, want Init", u)
			}
			s.Start()
			defer s.Stop()
			for i, want := range tc.wantOK {
				if i > 0 {
					clk.Advance(time.Second)
				}
				waitCalls(t, fx, s, i+1)
				if got := s.Current(); got.OK != want || got.Init {
					t.Fatalf("after run %d (exit %d): OK=%v Init=%v, want OK=%v", i+1, tc.codes[i], got.OK, got.Init, want)
				}
			}
		})
	}
}

func TestScriptNeverTwoRunsAtOnce(t *testing.T) {
	path := secureScript(t)
	clk := newFakeClock()
	fx := &fakeExec{block: make(chan struct{})}
	s := NewScript(ScriptConfig{Name: "slow", Args: []string{path}}, ScriptOptions{Clock: clk, Exec: fx, Logger: quiet}, nil)
	s.Start()
	clk.Advance(time.Second)
	clk.Advance(time.Second)
	close(fx.block)
	waitCalls(t, fx, s, 1)
	s.Stop()
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if fx.calls != 1 || fx.maxRun != 1 {
		t.Fatalf("calls=%d maxConcurrent=%d, want 1 and 1", fx.calls, fx.maxRun)
	}
	if st := s.Status(); st.Skipped != 2 {
		t.Fatalf("skipped=%d, want 2", st.Skipped)
	}
}

func TestScriptCannotStartIsFailure(t *testing.T) {
	lab.RequirePrivileged(t)
	d := secureDir(t)
	tests := []struct{ name, path, want string }{
		{"Missing", filepath.Join(d, "nope.sh"), "does not exist"},
		{"NotExecutable", filepath.Join(d, "plain.sh"), "does not let"},
		{"NotInPath", "xvrrp-no-such-command", "not found in"},
	}
	if err := os.WriteFile(filepath.Join(d, "plain.sh"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			up := newUpdates()
			fx := &fakeExec{}
			s := NewScript(ScriptConfig{Name: "chk", Args: []string{tc.path}}, ScriptOptions{Clock: clk, Exec: fx, Logger: quiet}, up.emit)
			s.Start()
			defer s.Stop()
			if u := up.next(t); !u.Init {
				t.Fatalf("first update %+v, want Init", u)
			}
			u := up.next(t)
			if u.OK || u.Init || !strings.Contains(u.Reason, tc.want) {
				t.Fatalf("update %+v, want failed with reason containing %q", u, tc.want)
			}
			if fx.calls != 0 {
				t.Fatalf("executor called %d times for a script that cannot run", fx.calls)
			}
			if c := Contribute(u, Weight{}); !c.Fault {
				t.Fatalf("weight-0 contribution %+v, want FAULT", c)
			}
		})
	}
}

func TestScriptSecurity(t *testing.T) {
	t.Run("Enabled_InsecureFailsClosed_Weight0Fault", func(t *testing.T) {
		path := secureScript(t)
		if err := os.Chmod(filepath.Dir(path), 0o777); err != nil {
			t.Fatal(err)
		}
		clk, up, fx := newFakeClock(), newUpdates(), &fakeExec{}
		s := NewScript(ScriptConfig{Name: "chk", Args: []string{path}}, ScriptOptions{Clock: clk, Exec: fx, Logger: quiet, EnableSecurity: true}, up.emit)
		s.Start()
		defer s.Stop()
		up.next(t)
		u := up.next(t)
		want := filepath.Dir(path) + " is mode 0777 (world-writable)"
		if u.OK || !strings.Contains(u.Insecure, want) || fx.calls != 0 {
			t.Fatalf("update %+v calls %d, want failed, insecure %q, not run", u, fx.calls, want)
		}
		if c := Contribute(u, Weight{}); !c.Fault {
			t.Fatalf("weight 0: %+v, want FAULT", c)
		}
		if c := Contribute(u, Weight{Weight: -30}); c.Delta != -30 {
			t.Fatalf("weight -30: %+v, want -30", c)
		}
		if st := s.Status(); !strings.Contains(st.Insecure, want) {
			t.Fatalf("status insecure %q", st.Insecure)
		}
	})
	t.Run("Disabled_InsecureRunsWithWarning", func(t *testing.T) {
		path := secureScript(t)
		if err := os.Chmod(filepath.Dir(path), 0o777); err != nil {
			t.Fatal(err)
		}
		clk, up, fx := newFakeClock(), newUpdates(), &fakeExec{}
		s := NewScript(ScriptConfig{Name: "chk", Args: []string{path}}, ScriptOptions{Clock: clk, Exec: fx, Logger: quiet}, up.emit)
		s.Start()
		defer s.Stop()
		up.next(t)
		u := up.next(t)
		if !u.OK || u.Insecure == "" || fx.calls != 1 {
			t.Fatalf("update %+v calls %d, want OK, insecure noted, run once", u, fx.calls)
		}
	})
	t.Run("RecheckedBeforeEachRun_PermissionChangeNoticed", func(t *testing.T) {
		path := secureScript(t)
		clk, up, fx := newFakeClock(), newUpdates(), &fakeExec{}
		s := NewScript(ScriptConfig{Name: "chk", Args: []string{path}, Fall: 3}, ScriptOptions{Clock: clk, Exec: fx, Logger: quiet, EnableSecurity: true}, up.emit)
		s.Start()
		defer s.Stop()
		up.next(t)
		if u := up.next(t); !u.OK {
			t.Fatalf("first run %+v, want OK", u)
		}
		if err := os.Chmod(path, 0o757); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
		u := up.next(t)
		if u.OK || !strings.Contains(u.Insecure, "chk.sh is mode 0757 (world-writable)") {
			t.Fatalf("after chmod: %+v, want failed at once (fail closed, not after fall)", u)
		}
		if err := os.Chmod(path, 0o755); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
		if u := up.next(t); !u.OK || u.Insecure != "" {
			t.Fatalf("after fix: %+v, want OK and secure", u)
		}
	})
}

func TestScriptSharedRunServesAllInstances(t *testing.T) {
	// One Script per vrrp_script: its single Update is contributed to every
	// instance with that instance's own weight.
	path := secureScript(t)
	clk, up, fx := newFakeClock(), newUpdates(), &fakeExec{codes: []int{1}}
	s := NewScript(ScriptConfig{Name: "chk", Args: []string{path}}, ScriptOptions{Clock: clk, Exec: fx, Logger: quiet}, up.emit)
	s.Start()
	defer s.Stop()
	up.next(t)
	u := up.next(t)
	a, b := Contribute(u, Weight{Weight: -10}), Contribute(u, Weight{})
	if fx.calls != 1 || a.Delta != -10 || !b.Fault {
		t.Fatalf("calls %d, VI_1 %+v, VI_2 %+v", fx.calls, a, b)
	}
}

func TestScriptPerInstanceEnv(t *testing.T) {
	path := secureScript(t)
	clk, fx := newFakeClock(), &fakeExec{}
	env := InstanceEnv{Instance: "VI_1", VRID: 51, Interface: "eth0", State: "BACKUP", Priority: 100}
	s := NewScript(ScriptConfig{Name: "chk", Args: []string{path}, Env: env.Environ}, ScriptOptions{Clock: clk, Exec: fx, Logger: quiet}, nil)
	s.Start()
	waitCalls(t, fx, s, 1)
	s.Stop()
	got := strings.Join(fx.env, " ")
	for _, w := range []string{"XVRRP_INSTANCE=VI_1", "XVRRP_VRID=51", "XVRRP_INTERFACE=eth0", "XVRRP_STATE=BACKUP", "XVRRP_PRIORITY=100"} {
		if !strings.Contains(got, w) {
			t.Fatalf("env %q lacks %s", got, w)
		}
	}
}
