package daemon

import (
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/loader"
)

// TestCounterSnapsSinceTheLastAdvert: a takeover report compares the
// counters with the newest snapshot taken before the master was last heard
// (so the drops that hid its adverts are in the window), or with the
// oldest kept when the master was heard before all of them.
func TestCounterSnapsSinceTheLastAdvert(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var s counterSnaps
	if _, _, ok := s.since(t0); ok {
		t.Fatal("a snapshot from an empty set")
	}
	for i := range 20 { // more than snapKeep: the first four are gone
		var c loader.Counters
		c[loader.ReasonRingFull] = uint64(i)
		s.at[s.n%snapKeep], s.c[s.n%snapKeep] = t0.Add(time.Duration(i)*snapEvery), c
		s.n++
	}
	for _, c := range []struct {
		name  string
		heard time.Time
		want  uint64 // the snapshot's ring_full, which is its number
	}{
		{"HeardBetweenSnapshots", t0.Add(10*snapEvery + snapEvery/2), 10},
		{"HeardAtASnapshot", t0.Add(12 * snapEvery), 12},
		{"HeardBeforeAllKept", t0, 4},
		{"NeverHeard", time.Time{}, 4},
		{"HeardAfterTheLast", t0.Add(time.Hour), 19},
	} {
		t.Run(c.name, func(t *testing.T) {
			at, got, ok := s.since(c.heard)
			if !ok || got[loader.ReasonRingFull] != c.want || !at.Equal(t0.Add(time.Duration(c.want)*snapEvery)) {
				t.Fatalf("since(%v) = snapshot %d at %v (ok %v), want %d", c.heard, got[loader.ReasonRingFull], at, ok, c.want)
			}
		})
	}
}
