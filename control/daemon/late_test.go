package daemon

import (
	"bytes"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestLateTimersAreCountedAndReported: a batch a whole advert interval late
// is counted and logged once per lateLogEvery with how many came since the
// last report and the worst; lateness under an interval is not.
func TestLateTimersAreCountedAndReported(t *testing.T) {
	var buf bytes.Buffer
	d := &Daemon{log: slog.New(slog.NewTextHandler(&buf, nil))}
	d.shortestInterval.Store(int64(10 * time.Millisecond))
	t0 := time.Unix(5_000_000, 0)

	d.noteLateness(4*time.Millisecond, t0)
	if d.late.batches != 0 || buf.Len() != 0 {
		t.Fatalf("4 ms late at 10 ms adverts: counted %d, logged %q; want neither", d.late.batches, buf.String())
	}
	d.noteLateness(41*time.Millisecond, t0)
	if d.late.batches != 1 || !strings.Contains(buf.String(), "timers fired up to 41ms late (1 times") {
		t.Fatalf("41 ms late: counted %d, logged %q; want 1 and a report", d.late.batches, buf.String())
	}
	buf.Reset()
	d.noteLateness(12*time.Millisecond, t0.Add(time.Second))
	d.noteLateness(25*time.Millisecond, t0.Add(2*time.Second))
	if buf.Len() != 0 {
		t.Fatalf("second report within %v: %q", lateLogEvery, buf.String())
	}
	d.noteLateness(11*time.Millisecond, t0.Add(lateLogEvery+time.Second))
	if !strings.Contains(buf.String(), "up to 25ms late (3 times since the last report)") {
		t.Fatalf("report after %v: %q, want the 3 late batches since and the worst, 25ms", lateLogEvery, buf.String())
	}
	if d.late.batches != 4 || d.late.max != 41*time.Millisecond {
		t.Fatalf("totals %d batches, max %v; want 4 and 41ms", d.late.batches, d.late.max)
	}
}

// TestLateReportBlamesTheHypervisorWhenItStoleTheCPU: when the machine's
// steal time since the last report is a notable share of its CPU time, the
// late-timer report says the hypervisor did not run the VM (no process ran
// on time) instead of advising a real-time priority; without steal it keeps
// that advice; the share is in the structured fields either way.
func TestLateReportBlamesTheHypervisorWhenItStoleTheCPU(t *testing.T) {
	var buf bytes.Buffer
	d := &Daemon{log: slog.New(slog.NewTextHandler(&buf, nil))}
	d.shortestInterval.Store(int64(20 * time.Millisecond))
	steal := time.Duration(0)
	d.late.readSteal = func() (time.Duration, error) { return steal, nil }
	t0 := time.Unix(5_000_000, 0)
	d.late.startStealWindow(t0)

	// 10 s later, the hypervisor took 15% of every CPU of the machine.
	now := t0.Add(10 * time.Second)
	steal = time.Duration(float64(10*time.Second) * 0.15 * float64(runtime.NumCPU()))
	d.noteLateness(45*time.Millisecond, now)
	got := buf.String()
	if !strings.Contains(got, "the hypervisor took 15.0% of this machine's CPU time") || !strings.Contains(got, "steal=15.0%") ||
		strings.Contains(got, "chrt") {
		t.Fatalf("report with 15%% steal: %q", got)
	}

	// The next window has no steal: xvrrpd's own scheduling is the suspect.
	buf.Reset()
	d.noteLateness(30*time.Millisecond, now.Add(lateLogEvery+time.Second))
	got = buf.String()
	if !strings.Contains(got, "xvrrpd did not get the CPU in time") || !strings.Contains(got, "chrt -r 10") || !strings.Contains(got, "steal=0.0%") {
		t.Fatalf("report without steal: %q", got)
	}
}
