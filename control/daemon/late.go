package daemon

import (
	"fmt"
	"runtime"
	"time"

	"github.com/xvrrp/xvrrp/control/procstat"
)

// lateTimers counts the timer batches that fired at least one advert
// interval (the shortest programmed) late, for status and metrics, and
// says so in the log at most once per lateLogEvery. A master whose timers
// run that late sends its adverts that late, and after three intervals of
// silence its peers take over: this is what to look for behind a false
// failover (keepalived's "thread timer expired"). Under d.mu.
//
// Each report also says how much CPU the hypervisor took from this machine
// since the previous one (/proc/stat's steal time): on a VM whose vCPUs
// were not running, every process stalled, a real-time priority cannot
// help, and the operator needs to know that before tuning xvrrpd.
type lateTimers struct {
	batches uint64
	max     time.Duration

	logged     time.Time // last report
	unreported uint64    // batches since it
	worstUnrep time.Duration

	// readSteal reads the machine's total steal time (nil: /proc/stat).
	readSteal func() (time.Duration, error)
	steal     time.Duration // at stealAt
	stealAt   time.Time     // zero: no reading yet
}

const lateLogEvery = 10 * time.Second

// stealNotable is the share of the machine's CPU time stolen by the
// hypervisor above which the report blames the hypervisor rather than
// xvrrpd's own scheduling.
const stealNotable = 0.02

// startStealWindow takes the first steal reading, so the first report has a
// window to compare against (called at start; a failed read leaves none).
func (l *lateTimers) startStealWindow(now time.Time) {
	if s, err := l.stealTime(); err == nil {
		l.steal, l.stealAt = s, now
	}
}

func (l *lateTimers) stealTime() (time.Duration, error) {
	if l.readSteal != nil {
		return l.readSteal()
	}
	c, err := procstat.Read()
	return c.Steal, err
}

// stealShare is the share of the machine's CPU time (all CPUs) that the
// hypervisor took since the last reading, and starts the next window; ok is
// false when it cannot be told.
func (l *lateTimers) stealShare(now time.Time) (share float64, ok bool) {
	s, err := l.stealTime()
	if err != nil {
		return 0, false
	}
	prev, prevAt := l.steal, l.stealAt
	l.steal, l.stealAt = s, now
	wall := now.Sub(prevAt)
	if prevAt.IsZero() || wall <= 0 || s < prev {
		return 0, false
	}
	return procstat.StealShare(s-prev, wall, runtime.NumCPU()), true
}

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
	what := fmt.Sprintf("timers fired up to %v late (%d times since the last report) with adverts every %v",
		l.worstUnrep.Round(time.Millisecond), l.unreported, iv)
	args := []any{"late", l.worstUnrep, "count", l.unreported, "advert_interval", iv}
	share, ok := l.stealShare(now)
	if ok {
		args = append(args, "steal", fmt.Sprintf("%.1f%%", 100*share))
	}
	if ok && share >= stealNotable {
		d.log.Warn(fmt.Sprintf("%s: the hypervisor took %.1f%% of this machine's CPU time since the last report (steal time), so no process here ran on time and adverts left late; a real-time priority cannot help: give the VM dedicated CPUs or use a longer advert_int", what, 100*share), args...)
	} else {
		d.log.Warn(what+": xvrrpd did not get the CPU in time, so adverts left late and peers may take over; give it CPU headroom or a real-time priority (chrt -r 10, systemd CPUSchedulingPolicy=rr)", args...)
	}
	l.logged, l.unreported, l.worstUnrep = now, 0, 0
}
