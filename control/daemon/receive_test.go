package daemon

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/loader"
)

// TestReceivedAtUsesTheKernelTimestamp: an advert that waited in the ring is
// timed from when it arrived; implausible timestamps fall back to now.
func TestReceivedAtUsesTheKernelTimestamp(t *testing.T) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mono := time.Duration(ts.Nano())
	for _, c := range []struct {
		name    string
		evTime  time.Duration
		wantAge time.Duration // how far before now; -1: exactly now
		slack   time.Duration
	}{
		{"WaitedFiveMillis", mono - 5*time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond},
		{"NoTimestamp", 0, -1, 0},
		{"FromTheFuture", mono + time.Hour, -1, 0},
		{"Stale", mono - time.Hour, -1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := receivedAt(&loader.Event{Time: c.evTime}, now)
			if c.wantAge < 0 {
				if !got.Equal(now) {
					t.Fatalf("receivedAt = now%+v, want now", got.Sub(now))
				}
				return
			}
			age := now.Sub(got)
			if age < c.wantAge || age > c.wantAge+c.slack {
				t.Fatalf("advert aged %v, want %v (+%v)", age, c.wantAge, c.slack)
			}
		})
	}
}

// TestCoalescerTurnsOnAboveTheRate: a receiver handling adverts faster than
// coalesceRate coalesces; a slow trickle does not.
func TestCoalescerTurnsOnAboveTheRate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var slow, fast coalescer
	for i := range 100 {
		slow.busy(t0.Add(time.Duration(i) * 5 * time.Millisecond)) // 200/s
	}
	if slow.busy(t0.Add(500 * time.Millisecond)) {
		t.Fatal("200 adverts/s coalesced")
	}
	for i := range 100 {
		fast.busy(t0.Add(time.Duration(i) * 100 * time.Microsecond)) // 10,000/s
	}
	if !fast.busy(t0.Add(10 * time.Millisecond)) {
		t.Fatal("10,000 adverts/s not coalesced")
	}
}
