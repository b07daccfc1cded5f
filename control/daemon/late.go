package daemon

import (
	"fmt"
	"time"
)

// lateTimers counts the timer batches that fired at least one advert
// interval (the shortest programmed) late, for status and metrics, and
// says so in the log at most once per lateLogEvery. A master whose timers
// run that late sends its adverts that late, and after three intervals of
// silence its peers take over: this is what to look for behind a false
// failover (keepalived's "thread timer expired"). Under d.mu.
type lateTimers struct {
	batches uint64
	max     time.Duration

	logged     time.Time // last report
	unreported uint64    // batches since it
	worstUnrep time.Duration
}

const lateLogEvery = 10 * time.Second

// noteLateness records how late the batch being fired came.
func (d *Daemon) noteLateness(late time.Duration, now time.Time) {
	iv := time.Duration(d.shortestInterval.Load())
	if iv <= 0 || late < iv {
		return
	}
	l := &d.late
	l.batches++
	l.max = max(l.max, late)
	l.unreported++
	l.worstUnrep = max(l.worstUnrep, late)
	if !l.logged.IsZero() && now.Sub(l.logged) < lateLogEvery {
		return
	}
	d.log.Warn(fmt.Sprintf("timers fired up to %v late (%d times since the last report) with adverts every %v: xvrrpd did not get the CPU in time, so adverts left late and peers may take over; give it CPU headroom or a real-time priority (chrt -r 10, systemd CPUSchedulingPolicy=rr)",
		l.worstUnrep.Round(time.Millisecond), l.unreported, iv),
		"late", l.worstUnrep, "count", l.unreported, "advert_interval", iv)
	l.logged, l.unreported, l.worstUnrep = now, 0, 0
}
