//go:build linux

package loader

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// TestProcEventsSeesExecForkAndExitOfWatched: a child started by this test
// is reported forked by its parent (watched), then exec'ing, then, once
// watched itself, exiting — what keepalived's track_process learns from the
// proc connector.
func TestProcEventsSeesExecForkAndExitOfWatched(t *testing.T) {
	lab.RequirePrivileged(t)
	p, err := OpenProcEvents()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	self := uint32(os.Getpid())
	if err := p.Watch(self, true); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child := uint32(cmd.Process.Pid)
	if err := p.Watch(child, true); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	seen := map[ProcKind]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for !(seen[ProcFork] && seen[ProcExec] && seen[ProcExit]) {
		p.SetDeadline(deadline)
		var ev ProcEvent
		if err := p.Read(&ev); err != nil {
			t.Fatalf("Read: %v (seen for pid %d: %v)", err, child, seen)
		}
		if ev.Pid != child {
			continue
		}
		if ev.Kind == ProcFork && ev.Ppid != self {
			t.Errorf("fork of %d reported with parent %d, want %d", child, ev.Ppid, self)
		}
		seen[ev.Kind] = true
	}
	if err := p.Watch(child, false); err != nil {
		t.Errorf("unwatch: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var ev ProcEvent
	if err := p.Read(&ev); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read after Close = %v, want os.ErrClosed", err)
	}
}
