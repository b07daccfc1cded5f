package daemon

import (
	"testing"
	"time"
)

// TestRepeatsCheckAtWakesBackupsTogether: backups whose repeats arrived at
// scattered instants look at them at shared grid points of the master's
// interval, never after their deadline, and at the deadline itself once
// the grid point before it is past (a dead master is detected on time).
func TestRepeatsCheckAtWakesBackupsTogether(t *testing.T) {
	const iv = 100 * time.Millisecond
	now := gridEpoch.Add(10 * time.Second)
	seen := map[time.Time]bool{}
	for i := range 255 {
		// Scattered over one interval, as a flood of spoofed copies leaves
		// the latest repeats of 255 instances.
		deadline := now.Add(350*time.Millisecond + time.Duration(i)*iv/255)
		at := repeatsCheckAt(deadline, now, iv)
		if at.After(deadline) || deadline.Sub(at) >= iv || !at.After(now) {
			t.Fatalf("deadline %v: look at %v, want within one interval before it and after now", deadline.Sub(now), at.Sub(now))
		}
		seen[at] = true
	}
	if len(seen) > 2 {
		t.Errorf("255 backups look at %d different instants, want at most 2 (grid points of %v)", len(seen), iv)
	}
	// The grid point before the deadline is already past: the deadline.
	now2 := gridEpoch.Add(10*time.Second + 50*time.Millisecond) // 50 ms after a grid point
	if d := now2.Add(20 * time.Millisecond); !repeatsCheckAt(d, now2, iv).Equal(d) {
		t.Errorf("grid point passed: look at %v, want the deadline", repeatsCheckAt(d, now2, iv).Sub(now2))
	}
	past := now.Add(-time.Millisecond)
	if got := repeatsCheckAt(past, now, iv); !got.Equal(past) {
		t.Errorf("overdue deadline moved to %v", got.Sub(now))
	}
	if got := repeatsCheckAt(now.Add(time.Second), now, 0); !got.Equal(now.Add(time.Second)) {
		t.Errorf("no interval: deadline moved to %v", got.Sub(now))
	}
}
