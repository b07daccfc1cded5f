package track

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExecRunner(t *testing.T) {
	d := t.TempDir()
	mk := func(name, body string) string {
		p := filepath.Join(d, name)
		writeScript(t, p, body, 0o755)
		return p
	}
	t.Setenv("LD_PRELOAD", "/nonexistent.so")
	t.Setenv("LD_LIBRARY_PATH", "/evil")
	t.Setenv("IFS", "x")
	tests := []struct {
		name    string
		args    []string
		timeout time.Duration
		check   func(t *testing.T, r Result)
	}{
		{"ExitZero_Success", []string{mk("ok.sh", "exit 0")}, 0, func(t *testing.T, r Result) {
			if !r.Success() || r.ExitCode != 0 {
				t.Fatalf("%+v", r)
			}
		}},
		{"ExitCode_Failure", []string{mk("three.sh", "exit 3")}, 0, func(t *testing.T, r Result) {
			if r.Success() || r.ExitCode != 3 || r.Describe() != "exit status 3" {
				t.Fatalf("%+v %s", r, r.Describe())
			}
		}},
		{"CleanEnvironment", []string{mk("env.sh", `echo "P=$LD_PRELOAD L=$LD_LIBRARY_PATH I=$([ "$IFS" = x ] && echo leaked) X=$XVRRP_INSTANCE"`)}, 0, func(t *testing.T, r Result) {
			if got := strings.TrimSpace(string(r.Output)); got != "P= L= I= X=VI_1" {
				t.Fatalf("output %q", got)
			}
		}},
		{"OwnProcessGroup", []string{mk("pg.sh", `ps -o pgid= -p $$; echo $$`)}, 0, func(t *testing.T, r Result) {
			f := strings.Fields(string(r.Output))
			if len(f) != 2 || f[0] != f[1] {
				t.Fatalf("pgid/pid %q: script is not its own group leader", r.Output)
			}
		}},
		{"OutputTruncated", []string{mk("loud.sh", `head -c 5000 /dev/zero | tr '\0' a`)}, 0, func(t *testing.T, r Result) {
			if !strings.HasPrefix(string(r.Output), strings.Repeat("a", OutputLimit)+"... [4488 bytes truncated]") {
				t.Fatalf("output %d bytes: %.80q...", len(r.Output), r.Output)
			}
		}},
		{"Timeout_SIGTERM_CountsAsFailure", []string{mk("slow.sh", "sleep 30")}, 200 * time.Millisecond, func(t *testing.T, r Result) {
			if r.Success() || !r.TimedOut || r.Duration > KillGrace+5*time.Second {
				t.Fatalf("%+v", r)
			}
		}},
		{"Timeout_IgnoresSIGTERM_SIGKILLAfterGrace", []string{mk("stubborn.sh", `trap "" TERM; sleep 30 & wait; sleep 30`)}, 200 * time.Millisecond, func(t *testing.T, r Result) {
			if !r.TimedOut || r.Duration < KillGrace {
				t.Fatalf("%+v: want SIGKILL after the %s grace", r, KillGrace)
			}
		}},
		{"CannotStart_ExecFormatError", []string{func() string {
			p := filepath.Join(d, "garbage")
			if err := os.WriteFile(p, []byte{0x7f, 'E', 'L', 'F', 0, 0}, 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}()}, 0, func(t *testing.T, r Result) {
			if r.Success() || r.StartErr == nil || !strings.Contains(r.Describe(), "cannot start") {
				t.Fatalf("%+v", r)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ExecRunner{}.Run(context.Background(), Command{Args: tc.args, Env: []string{"XVRRP_INSTANCE=VI_1"}, RunAs: RunAs{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}, Timeout: tc.timeout})
			tc.check(t, r)
		})
	}
}

func TestExecRunnerKillsProcessGroupOnTimeout(t *testing.T) {
	d := t.TempDir()
	pidFile := filepath.Join(d, "child.pid")
	p := filepath.Join(d, "fork.sh")
	writeScript(t, p, "sleep 60 & echo $! > "+pidFile+"; wait", 0o755)
	r := ExecRunner{}.Run(context.Background(), Command{Args: []string{p}, RunAs: RunAs{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}, Timeout: 300 * time.Millisecond})
	if !r.TimedOut {
		t.Fatalf("%+v", r)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, c := range strings.TrimSpace(string(b)) {
		pid = pid*10 + int(c-'0')
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d survived the timeout kill", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Cancelling ctx kills the group, escalating to SIGKILL after CancelGrace
// rather than KillGrace.
func TestExecRunnerCancelGrace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stubborn.sh")
	writeScript(t, p, `trap "" TERM; sleep 30 & wait; sleep 30`, 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := ExecRunner{}.Run(ctx, Command{Args: []string{p}, RunAs: RunAs{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}, CancelGrace: 100 * time.Millisecond})
	if !r.Canceled || r.TimedOut || r.Success() || r.Duration >= KillGrace || !strings.Contains(r.Describe(), "cancelled") {
		t.Fatalf("%+v %q: want killed soon after the 100ms cancel grace", r, r.Describe())
	}
}
