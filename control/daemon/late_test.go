package daemon

import (
	"bytes"
	"log/slog"
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
