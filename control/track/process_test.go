package track

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

func TestProcessMatches(t *testing.T) {
	p := ProcInfo{Comm: "nginx", Argv: []string{"/usr/sbin/nginx", "-g", "daemon off;", "-c", "/etc/nginx.conf"}}
	tests := []struct {
		name string
		cfg  ProcessConfig
		want bool
	}{
		{"NameOnly_AnyParams", ProcessConfig{Process: "nginx"}, true},
		{"WrongName", ProcessConfig{Process: "httpd"}, false},
		{"Exact_AllParams", ProcessConfig{Process: "nginx", Params: []string{"-g", "daemon off;", "-c", "/etc/nginx.conf"}}, true},
		{"Exact_Prefix_NoMatch", ProcessConfig{Process: "nginx", Params: []string{"-g"}}, false},
		{"Initial_Prefix", ProcessConfig{Process: "nginx", Params: []string{"-g", "daemon off;"}, Match: ParamInitial}, true},
		{"Initial_NotPrefix", ProcessConfig{Process: "nginx", Params: []string{"-c"}, Match: ParamInitial}, false},
		{"Partial_Middle", ProcessConfig{Process: "nginx", Params: []string{"daemon off;", "-c"}, Match: ParamPartial}, true},
		{"Partial_NotContiguous", ProcessConfig{Process: "nginx", Params: []string{"-g", "-c"}, Match: ParamPartial}, false},
		{"FullCommand", ProcessConfig{Process: "/usr/sbin/nginx", FullCommand: true}, true},
		{"FullCommand_NameOnly_NoMatch", ProcessConfig{Process: "nginx", FullCommand: true}, false},
		{"LongName_First15Bytes", ProcessConfig{Process: "averyveryverylongname"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.Matches(p); got != tc.want {
				t.Fatalf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
	long := ProcInfo{Comm: "averyveryverylo", Argv: []string{"x"}}
	if !(&ProcessConfig{Process: "averyveryverylongname"}).Matches(long) {
		t.Fatal("a name longer than 15 bytes must match the kernel's truncated comm")
	}
}

func TestProcessTrackerQuorumAndDelays(t *testing.T) {
	mk := func(pid int) ProcInfo { return ProcInfo{PID: pid, Comm: "app", Argv: []string{"app"}} }
	t.Run("Quorum_Range", func(t *testing.T) {
		up := newUpdates()
		tr := NewProcessTracker([]ProcessConfig{{Name: "p", Process: "app", Quorum: 2, QuorumMax: 3}}, newFakeClock(), quiet, up.emit)
		tr.Resync([]ProcInfo{mk(1)})
		if u := up.next(t); u.OK || u.Value != 1 {
			t.Fatalf("1 process: %+v", u)
		}
		tr.Exec(mk(2))
		if u := up.next(t); !u.OK || u.Value != 2 {
			t.Fatalf("2 processes: %+v", u)
		}
		tr.Fork(2, 3)
		tr.Fork(2, 4)
		if u := up.next(t); u.OK || u.Value != 4 {
			t.Fatalf("4 processes, above quorum_max: %+v", u)
		}
		tr.Exit(4)
		if u := up.next(t); !u.OK || u.Value != 3 {
			t.Fatalf("3 processes: %+v", u)
		}
	})
	t.Run("TerminateDelay_HoldsLoss_RevertCancels", func(t *testing.T) {
		clk, up := newFakeClock(), newUpdates()
		tr := NewProcessTracker([]ProcessConfig{{Name: "p", Process: "app", TerminateDelay: 5 * time.Second, ForkDelay: 2 * time.Second}}, clk, quiet, up.emit)
		tr.Resync([]ProcInfo{mk(10)})
		if u := up.next(t); !u.OK {
			t.Fatalf("start: %+v", u)
		}
		tr.Exit(10)
		clk.Advance(4 * time.Second)
		tr.Exec(mk(11)) // back within terminate_delay: no report at all
		clk.Advance(10 * time.Second)
		if len(up.ch) != 0 {
			t.Fatalf("unexpected update %+v", <-up.ch)
		}
		tr.Exit(11)
		clk.Advance(4999 * time.Millisecond)
		if len(up.ch) != 0 {
			t.Fatal("loss reported before terminate_delay")
		}
		clk.Advance(time.Millisecond)
		if u := up.next(t); u.OK {
			t.Fatalf("after terminate_delay: %+v", u)
		}
		tr.Exec(mk(12))
		clk.Advance(time.Second)
		if len(up.ch) != 0 {
			t.Fatal("gain reported before fork_delay")
		}
		clk.Advance(time.Second)
		if u := up.next(t); !u.OK {
			t.Fatalf("after fork_delay: %+v", u)
		}
	})
	t.Run("ExecOfOtherProgram_Uncounts", func(t *testing.T) {
		up := newUpdates()
		tr := NewProcessTracker([]ProcessConfig{{Name: "p", Process: "app"}}, newFakeClock(), quiet, up.emit)
		tr.Resync([]ProcInfo{mk(5)})
		up.next(t)
		tr.Exec(ProcInfo{PID: 5, Comm: "sh", Argv: []string{"sh"}})
		if u := up.next(t); u.OK || u.Value != 0 {
			t.Fatalf("%+v", u)
		}
	})
}

// uniqueSleep copies /bin/sleep to a unique name so the test counts only
// its own processes.
func uniqueSleep(t testing.TB) (path, comm string) {
	t.Helper()
	comm = lab.UniqueName("xvs")
	path = filepath.Join(t.TempDir(), comm)
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, comm
}

func waitValue(t *testing.T, up *updates, ok bool, value int) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case u := <-up.ch:
			if u.OK == ok && u.Value == value {
				return
			}
		case <-deadline:
			t.Fatalf("no update with OK=%v count=%d", ok, value)
		}
	}
}

func waitCount(t testing.TB, tr *ProcessTracker, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for tr.Counts()["p"] != n {
		if time.Now().After(deadline) {
			t.Fatalf("count %v, want %d", tr.Counts(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProcessEventsBPF_InNetworkNamespace(t *testing.T) {
	lab.RequirePrivileged(t)
	ns := lab.NewNS(t, "proc")
	bin, comm := uniqueSleep(t)
	old := exec.Command(bin, "600")
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = old.Process.Kill(); _ = old.Wait() }()

	up := newUpdates()
	tr := NewProcessTracker([]ProcessConfig{{Name: "p", Process: comm, Params: []string{"600"}, Quorum: 2}}, nil, quiet, up.emit)
	var ev *ProcessEvents
	// keepalived's connector fails inside a network namespace; the BPF
	// source must work there.
	if err := ns.Do(func() error {
		var err error
		ev, err = StartProcessEvents(tr, "/proc", quiet)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	if ev.Source() != SourceBPF {
		t.Fatalf("source %q: BPF is tried first and must work in a network namespace", ev.Source())
	}
	waitValue(t, up, false, 1) // found by the start-up scan
	cmds := []*exec.Cmd{}
	for range 2 {
		c := ns.Command(bin, "600")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	waitCount(t, tr, 3) // exec events
	_ = old.Process.Kill()
	_ = old.Wait()
	waitCount(t, tr, 2) // exit event
	_ = cmds[0].Process.Kill()
	_ = cmds[0].Wait()
	waitValue(t, up, false, 1)
	if st := ev.Stats(); st.Events == 0 || st.Rescans != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestProcessEvents_ForkCounted: a subshell forks without exec; the child is
// a copy of the tracked process and counts, whichever source follows
// processes (BPF tracepoints, or the proc connector).
func TestProcessEvents_ForkCounted(t *testing.T) {
	lab.RequirePrivileged(t)
	for _, src := range []ProcessSource{SourceBPF, SourceConnector} {
		t.Run(string(src), func(t *testing.T) {
			d := t.TempDir()
			comm := lab.UniqueName("xvf")
			sh := filepath.Join(d, comm)
			b, _ := os.ReadFile("/bin/sh")
			if err := os.WriteFile(sh, b, 0o755); err != nil {
				t.Fatal(err)
			}
			up := newUpdates()
			tr := NewProcessTracker([]ProcessConfig{{Name: "p", Process: comm}}, nil, quiet, up.emit)
			ev, err := StartProcessEventsWith(tr, "/proc", quiet, ProcessEventsOptions{Sources: []ProcessSource{src}})
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Close()
			if ev.Source() != src {
				t.Fatalf("following processes with %s, want %s", ev.Source(), src)
			}
			waitValue(t, up, false, 0)
			c := exec.Command(sh, "-c", "(sleep 600; :) & sleep 600")
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = exec.Command("pkill", "-P", fmt.Sprint(c.Process.Pid)).Run()
				_ = c.Process.Kill()
				_ = c.Wait()
			}()
			waitValue(t, up, true, 1)
			waitCount(t, tr, 2)
		})
	}
}
