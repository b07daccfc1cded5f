package track

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
