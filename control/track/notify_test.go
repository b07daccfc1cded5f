package track

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestFIFOLine(t *testing.T) {
	tests := []struct {
		name string
		ev   NotifyEvent
		want string
	}{
		{"Instance", NotifyEvent{Name: "VI_1", State: "MASTER", Priority: 100}, "INSTANCE \"VI_1\" MASTER 100\n"},
		{"Group", NotifyEvent{Group: true, Name: "G1", State: "BACKUP"}, "GROUP \"G1\" BACKUP 0\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FIFOLine(tc.ev); got != tc.want {
				t.Fatalf("%q, want %q", got, tc.want)
			}
		})
	}
}

// recordExec records runs in order and can be made slow.
type recordExec struct {
	mu    sync.Mutex
	runs  [][]string
	envs  [][]string
	delay time.Duration
	done  chan struct{}
}

func (r *recordExec) Run(ctx context.Context, c Command) Result {
	time.Sleep(r.delay)
	r.mu.Lock()
	r.runs = append(r.runs, c.Args)
	r.envs = append(r.envs, c.Env)
	r.mu.Unlock()
	r.done <- struct{}{}
	return Result{}
}

func TestNotifier(t *testing.T) {
	path := secureScript(t)
	fifo := filepath.Join(t.TempDir(), "notify.fifo")
	rx := &recordExec{delay: 300 * time.Millisecond, done: make(chan struct{}, 100)}
	n, err := NewNotifier(NotifyOptions{Exec: rx, Logger: quiet, FIFO: fifo})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	rd, err := os.Open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	scripts := NotifyScripts{Master: []string{path, "m"}, Backup: []string{path, "b"}, Notify: []string{path}}

	start := time.Now()
	n.Notify(NotifyEvent{Name: "VI_1", State: "BACKUP", Priority: 90, Scripts: scripts, Env: InstanceEnv{Instance: "VI_1", VRID: 51, Interface: "eth0"}})
	n.Notify(NotifyEvent{Name: "VI_1", State: "MASTER", Priority: 100, Scripts: scripts})
	if el := time.Since(start); el > 200*time.Millisecond {
		t.Fatalf("Notify blocked the caller for %s behind slow scripts", el)
	}
	t.Run("FIFOLines", func(t *testing.T) {
		br := bufio.NewReader(rd)
		for _, want := range []string{"INSTANCE \"VI_1\" BACKUP 90\n", "INSTANCE \"VI_1\" MASTER 100\n"} {
			got, err := br.ReadString('\n')
			if err != nil || got != want {
				t.Fatalf("fifo line %q (%v), want %q", got, err, want)
			}
		}
	})
	t.Run("OrderPerInstance_AndNotifyArgs", func(t *testing.T) {
		for range 4 {
			select {
			case <-rx.done:
			case <-time.After(10 * time.Second):
				t.Fatal("notify scripts did not run")
			}
		}
		rx.mu.Lock()
		defer rx.mu.Unlock()
		want := []string{path + " b", path + " INSTANCE VI_1 BACKUP 90", path + " m", path + " INSTANCE VI_1 MASTER 100"}
		for i, w := range want {
			if got := strings.Join(rx.runs[i], " "); got != w {
				t.Fatalf("run %d = %q, want %q", i, got, w)
			}
		}
		env := strings.Join(rx.envs[0], " ")
		if !strings.Contains(env, "XVRRP_VRID=51") || !strings.Contains(env, "XVRRP_STATE=BACKUP") {
			t.Fatalf("env %q", env)
		}
	})
}

func TestNotifierInsecureScriptRefused(t *testing.T) {
	path := secureScript(t)
	if err := os.Chmod(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	rx := &recordExec{done: make(chan struct{}, 10)}
	n, err := NewNotifier(NotifyOptions{Exec: rx, Logger: quiet, EnableSecurity: true})
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(NotifyEvent{Name: "VI_1", State: "FAULT", Scripts: NotifyScripts{Fault: []string{path}}})
	n.Close()
	if st := n.Stats(); st.Refused != 1 || len(rx.runs) != 0 {
		t.Fatalf("stats %+v runs %d: want refused, not run", st, len(rx.runs))
	}
}

// groupMembers lists the live (not zombie) processes of process group pgid.
func groupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			out = append(out, pid)
		}
	}
	return out
}

// alive is kill(pid, 0) that counts a zombie (killed, not yet reaped by
// whoever inherited it) as gone.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// waitPIDs waits for the script to write its pid and its child's.
func waitPIDs(t *testing.T, file string) (script, child int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(file)
		if f := strings.Fields(string(b)); len(f) == 2 {
			script, _ = strconv.Atoi(f[0])
			child, _ = strconv.Atoi(f[1])
			return script, child
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the notify script did not start")
	return 0, 0
}

// A notify_stop that never exits must not hold Close (xvrrpd's SIGTERM
// and reload paths): Close kills its process group after the grace.
func TestNotifierCloseKillsHungScript(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"Sleeps", "sleep 1000 & echo $! >> %s; wait"},
		{"IgnoresSIGTERM_SIGKILLed", "trap '' TERM; sleep 1000 & echo $! >> %s; wait; wait"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := secureDir(t)
			pidFile := filepath.Join(t.TempDir(), "pids")
			p := filepath.Join(d, "stop.sh")
			writeScript(t, p, "echo $$ > "+pidFile+"\n"+strings.ReplaceAll(tc.body, "%s", pidFile), 0o755)
			n, err := NewNotifier(NotifyOptions{Logger: quiet, RunAs: RunAs{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			n.Notify(NotifyEvent{Name: "VI_1", State: "STOP", Scripts: NotifyScripts{Stop: []string{p}}})
			// Queued behind the hung script: dropped once Close gives up.
			n.Notify(NotifyEvent{Name: "VI_1", State: "STOP", Scripts: NotifyScripts{Stop: []string{p}}})
			if el := time.Since(start); el > 200*time.Millisecond {
				t.Fatalf("Notify blocked the caller for %s", el)
			}
			script, child := waitPIDs(t, pidFile)

			start = time.Now()
			closed := make(chan struct{})
			go func() {
				n.Close()
				close(closed)
			}()
			const bound = 2 * time.Second
			select {
			case <-closed:
			case <-time.After(bound):
				syscall.Kill(-script, syscall.SIGKILL)
				t.Fatalf("Close still blocked after %s by a hung notify script", bound)
			}
			el := time.Since(start)
			if el < DefaultNotifyCloseGrace-50*time.Millisecond {
				t.Fatalf("Close returned after %s, before the %s grace", el, DefaultNotifyCloseGrace)
			}
			// Close reaped the script itself.
			if syscall.Kill(script, 0) == nil {
				t.Fatalf("notify script %d still exists after Close", script)
			}
			deadline := time.Now().Add(time.Second)
			for alive(child) || len(groupMembers(t, script)) > 0 {
				if time.Now().After(deadline) {
					syscall.Kill(-script, syscall.SIGKILL)
					t.Fatalf("process group %d survived Close: %v (child %d)", script, groupMembers(t, script), child)
				}
				time.Sleep(10 * time.Millisecond)
			}
			st := n.Stats()
			if st.Runs != 1 || st.Failures != 1 || st.Dropped != 1 {
				t.Fatalf("stats %+v: want the hung run failed and the queued one dropped", st)
			}
		})
	}
}

// Close waits for a notify script that finishes within the grace.
func TestNotifierCloseLetsQuickScriptFinish(t *testing.T) {
	d := secureDir(t)
	mark := filepath.Join(t.TempDir(), "done")
	p := filepath.Join(d, "stop.sh")
	writeScript(t, p, "sleep 0.1; echo ok > "+mark, 0o755)
	n, err := NewNotifier(NotifyOptions{Logger: quiet, RunAs: RunAs{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}})
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(NotifyEvent{Name: "VI_1", State: "STOP", Scripts: NotifyScripts{Stop: []string{p}}})
	n.Close()
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("notify_stop did not complete before Close returned: %v", err)
	}
	if st := n.Stats(); st.Runs != 1 || st.Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A hung notify script is killed after Timeout and its instance's later
// notifications still run.
func TestNotifierTimeout(t *testing.T) {
	d := secureDir(t)
	mark := filepath.Join(t.TempDir(), "master")
	hung := filepath.Join(d, "backup.sh")
	writeScript(t, hung, "sleep 1000", 0o755)
	master := filepath.Join(d, "master.sh")
	writeScript(t, master, "echo ok > "+mark, 0o755)
	n, err := NewNotifier(NotifyOptions{Logger: quiet, RunAs: RunAs{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	scripts := NotifyScripts{Backup: []string{hung}, Master: []string{master}}
	n.Notify(NotifyEvent{Name: "VI_1", State: "BACKUP", Scripts: scripts})
	n.Notify(NotifyEvent{Name: "VI_1", State: "MASTER", Scripts: scripts})
	deadline := time.Now().Add(KillGrace + 5*time.Second)
	for n.Stats().Runs < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("notify_master never ran behind a hung notify_backup: %+v", n.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("notify_master did not run: %v", err)
	}
	if st := n.Stats(); st.Runs != 2 || st.Failures != 1 {
		t.Fatalf("stats %+v: want the hung run counted as failed", st)
	}
}

func TestNotifyOptionsDefaults(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"Zero_Default", 0, DefaultNotifyTimeout},
		{"Set", 3 * time.Second, 3 * time.Second},
		{"Negative_None", -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNotifier(NotifyOptions{Logger: quiet, Timeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if n.opts.Timeout != tc.want || n.opts.CloseGrace != DefaultNotifyCloseGrace {
				t.Fatalf("timeout %s grace %s, want %s and %s", n.opts.Timeout, n.opts.CloseGrace, tc.want, DefaultNotifyCloseGrace)
			}
		})
	}
}

// TestNotifyBareCommandLookedUpInPath_Keepalived: keepalived runs a notify
// script given as a bare command through PATH; so does the notifier, with
// the clean PATH scripts get, and it runs the resolved path.
func TestNotifyBareCommandLookedUpInPath_Keepalived(t *testing.T) {
	want := ""
	for _, dir := range strings.Split(strings.TrimPrefix(safePath, "PATH="), ":") {
		if st, err := os.Stat(filepath.Join(dir, "true")); err == nil && st.Mode().IsRegular() {
			want = filepath.Join(dir, "true")
			break
		}
	}
	if want == "" {
		t.Fatal("no true(1) in " + safePath)
	}
	got, err := LookPath("true")
	if err != nil || got != want {
		t.Fatalf("LookPath(true) = %q, %v; want %q", got, err, want)
	}
	if _, err := LookPath("bin/true"); err == nil {
		t.Errorf("LookPath(bin/true): relative path accepted")
	}
	if _, err := LookPath("xvrrp-no-such-command-" + strconv.Itoa(os.Getpid())); err == nil {
		t.Errorf("LookPath of a missing command succeeded")
	}
	rx := &recordExec{done: make(chan struct{}, 10)}
	n, err := NewNotifier(NotifyOptions{Exec: rx, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.Notify(NotifyEvent{Name: "VI_1", State: "MASTER", Priority: 100, Scripts: NotifyScripts{Master: []string{"true", "x"}}})
	select {
	case <-rx.done:
	case <-time.After(10 * time.Second):
		t.Fatal("bare notify command did not run")
	}
	rx.mu.Lock()
	defer rx.mu.Unlock()
	if g := strings.Join(rx.runs[0], " "); g != want+" x" {
		t.Errorf("ran %q, want %q", g, want+" x")
	}
}

// TestNotifierEventLines_Keepalived: keepalived's FIFO carries events that
// are not states (vrrp_notify.c notify_fifo): MASTER_RX_LOWER_PRI runs
// notify_master_rx_lower_pri only (send_event_notify), MASTER_PRIORITY and
// BACKUP_PRIORITY run no script (send_instance_priority_notifies); the
// generic `notify` script is for state changes only (notify_script_exec).
func TestNotifierEventLines_Keepalived(t *testing.T) {
	path := secureScript(t)
	fifo := filepath.Join(t.TempDir(), "notify.fifo")
	rx := &recordExec{done: make(chan struct{}, 100)}
	n, err := NewNotifier(NotifyOptions{Exec: rx, Logger: quiet, FIFO: fifo})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	rd, err := os.Open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	generic := NotifyScripts{Notify: []string{path, "any"}}
	n.Notify(NotifyEvent{Name: "VI_1", State: EventMasterPriority, Priority: 90, Scripts: generic})
	n.Notify(NotifyEvent{Name: "VI_1", State: EventBackupPriority, Priority: 80, Scripts: generic})
	n.Notify(NotifyEvent{Name: "VI_1", State: EventMasterRxLowerPri, Priority: 100,
		Scripts: NotifyScripts{Notify: []string{path, "any"}, Event: []string{path, "rx"}}})
	br := bufio.NewReader(rd)
	for _, want := range []string{"INSTANCE \"VI_1\" MASTER_PRIORITY 90\n", "INSTANCE \"VI_1\" BACKUP_PRIORITY 80\n", "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100\n"} {
		got, err := br.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("fifo line %q (%v), want %q", got, err, want)
		}
	}
	select {
	case <-rx.done:
	case <-time.After(10 * time.Second):
		t.Fatal("notify_master_rx_lower_pri did not run")
	}
	// The worker serves the instance's events in order: once the third
	// ran, the first two are done; a close flushes anything left.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	rx.mu.Lock()
	defer rx.mu.Unlock()
	if len(rx.runs) != 1 || strings.Join(rx.runs[0], " ") != path+" rx" {
		t.Fatalf("runs %q, want only %q", rx.runs, path+" rx")
	}
}
