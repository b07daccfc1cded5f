package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/xvrrp/xvrrp/loader"
)

// A backup that takes over because its master went silent (RFC 5798 §6.4.2
// Master_Down_Timer) says in the same log line what it saw of the master:
// how long ago the last advert was heard, what the XDP program did with the
// interface's frames since about then (drops by reason: a full ring, rate
// limits...), whether the ring still held unread adverts, and how late the
// timer that decided it ran (the scheduler's lateness plus the wait for the
// daemon lock). A takeover that the wire explains (no advert arrived) is
// then told apart from one the host caused, from the log alone.

// counterSnaps keeps an interface's XDP counters as they were at recent
// moments (every snapEvery, the last snapKeep), so that a takeover can
// report what changed since its master was last heard.
type counterSnaps struct {
	at [snapKeep]time.Time
	c  [snapKeep]loader.Counters
	n  int // snapshots taken
}

const (
	snapEvery = 500 * time.Millisecond
	snapKeep  = 16 // 8 s: three intervals of 1 s adverts and the skew
)

// snapCounters takes a snapshot of every interface's counters when the
// last one is older than snapEvery (fire and receive call it: one map read
// per interface, no netlink, at most every snapEvery). Under d.mu.
func (d *Daemon) snapCounters(now time.Time) {
	if d.dp == nil {
		return
	}
	for name, ifc := range d.ifaces {
		s := &ifc.snaps
		if s.n > 0 && now.Sub(s.at[(s.n-1)%snapKeep]) < snapEvery {
			continue
		}
		if !ifc.present {
			continue
		}
		c, err := d.dp.Counters(name)
		if err != nil {
			continue
		}
		s.at[s.n%snapKeep], s.c[s.n%snapKeep] = now, c
		s.n++
	}
}

// since returns the newest snapshot taken at or before t, or the oldest
// kept when all are later; ok is false when there is none.
func (s *counterSnaps) since(t time.Time) (time.Time, loader.Counters, bool) {
	if s.n == 0 {
		return time.Time{}, loader.Counters{}, false
	}
	first := max(0, s.n-snapKeep)
	best := first
	for i := first; i < s.n; i++ {
		if s.at[i%snapKeep].After(t) {
			break
		}
		best = i
	}
	return s.at[best%snapKeep], s.c[best%snapKeep], true
}

// takeoverEvidence is the log attributes of a master-down takeover of r.
func (d *Daemon) takeoverEvidence(r *instance, now time.Time) []any {
	args := make([]any, 0, 12)
	if r.lastAdvert.IsZero() {
		args = append(args, "last_advert", "never heard")
	} else {
		args = append(args, "last_advert_age", now.Sub(r.lastAdvert).Round(time.Microsecond))
	}
	args = append(args, "timer_late", d.batchLate.Round(time.Microsecond), "backlog_grace", r.postponed)
	if d.rd != nil {
		args = append(args, "ring_unread", d.rd.Pending())
	}
	if d.dp == nil || !r.ifc.present {
		return append(args, "xdp", "interface missing")
	}
	cur, err := d.dp.Counters(r.ifc.name)
	if err != nil {
		return append(args, "xdp", err.Error())
	}
	at, prev, ok := r.ifc.snaps.since(r.lastAdvert)
	if !ok {
		return args
	}
	var b strings.Builder
	for _, reason := range loader.Reasons() {
		if n := cur[reason] - prev[reason]; n > 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%d", reason, n)
		}
	}
	if b.Len() == 0 {
		b.WriteString("no frames")
	}
	return append(args, "xdp_since", now.Sub(at).Round(time.Millisecond), "xdp_frames", b.String())
}
