package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// A SIGTERM failover is three shares: the master's (signal to its
// priority-0 advert on the wire, RFC 5798 §6.4.3), the backup engine's
// (that advert to its transition to MASTER: Skew_Time, §6.4.2, and the
// time to read the advert and fire the timer) and the host's (the
// transition to the VIP on the interface: netlink under the kernel's
// rtnl_lock). The benchmark reports each so that a slow takeover names its
// cause.

// resignWatch records the master's priority-0 adverts seen on the wire.
type resignWatch struct {
	mu  sync.Mutex
	ats []time.Time
}

func (w *resignWatch) add(p Packet) {
	if isResign(p.Data) {
		w.mu.Lock()
		w.ats = append(w.ats, p.At)
		w.mu.Unlock()
	}
}

func (w *resignWatch) firstAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.ats {
		if !a.Before(t) {
			return a, true
		}
	}
	return time.Time{}, false
}

// isResign: a VRRP advert of priority 0 (RFC 5798 §5.2.4).
func isResign(frame []byte) bool {
	_, prio, ok := ParseAdvert(frame)
	return ok && prio == 0
}

// resignSplit is one SIGTERM repetition's shares; a zero time is unknown
// (no priority-0 advert captured; keepalived has no status to read the
// transition from).
type resignSplit struct {
	t0, resign, master time.Time
}

// splitResign finds when the master's priority-0 advert was on the wire
// after t0 and, for xvrrpd, when the backup's engine went MASTER (its
// status: the transition's time on its own clock, which is this host's).
func (r *Runner) splitResign(ctx context.Context, w *resignWatch, backup *Daemon, t0, tVIP time.Time) resignSplit {
	s := resignSplit{t0: t0}
	// tcpdump hands packets over in blocks: give it a second, as for the
	// GARP.
	_ = poll(ctx, time.Second, time.Millisecond, func() error {
		var ok bool
		if s.resign, ok = w.firstAfter(t0); !ok {
			return fmt.Errorf("no priority-0 advert")
		}
		return nil
	})
	if s.resign.After(tVIP) {
		s.resign = time.Time{}
	}
	if doc, err := backup.Status(); err == nil && doc != nil {
		for _, in := range doc.Instances {
			if in.State == "MASTER" && in.Since.After(t0) {
				s.master = in.Since
			}
		}
	}
	return s
}

// describe is the shares of a VIP ownership time, for the log.
func (s resignSplit) describe(vip time.Duration) string {
	out := fmt.Sprintf("VIP after %v", vip)
	if !s.resign.IsZero() {
		out += fmt.Sprintf(", priority 0 on the wire after %v", s.resign.Sub(s.t0))
	}
	if !s.master.IsZero() {
		out += fmt.Sprintf(", backup MASTER after %v", s.master.Sub(s.t0))
	}
	return out
}

// setResignRows adds the shares' rows of a SIGTERM scenario.
func setResignRows(res *Results, scen string, kind Kind, splits []resignSplit) {
	var wire, engine []time.Duration
	for _, s := range splits {
		if s.resign.IsZero() {
			continue
		}
		wire = append(wire, s.resign.Sub(s.t0))
		if !s.master.IsZero() {
			engine = append(engine, s.master.Sub(s.resign))
		}
	}
	if n := len(splits) - len(wire); n > 0 {
		res.Note(scen, "priority 0 on wire p50", fmt.Sprintf("%s: no priority-0 advert captured in %d reps", kind, n))
	}
	if len(wire) > 0 {
		w := Summarize(wire)
		res.Set(scen, "priority 0 on wire p50", "ms", kind, ms(w.P50))
		res.Set(scen, "priority 0 on wire p99", "ms", kind, ms(w.P99))
	}
	if len(engine) > 0 {
		e := Summarize(engine)
		res.Set(scen, "priority 0 to backup MASTER p50", "ms", kind, ms(e.P50))
		res.Set(scen, "priority 0 to backup MASTER p99", "ms", kind, ms(e.P99))
		res.Set(scen, "priority 0 to backup MASTER max", "ms", kind, ms(e.Max))
	}
}

// stopTook is the "stopped took=…" of xvrrpd's log tail, or "?".
func stopTook(logTail string) string {
	i := strings.LastIndex(logTail, "took=")
	if i < 0 {
		return "?"
	}
	f := strings.Fields(logTail[i+len("took="):])
	if len(f) == 0 {
		return "?"
	}
	return strings.Trim(f[0], `"`)
}
