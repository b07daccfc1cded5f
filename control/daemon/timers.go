package daemon

import (
	"time"

	"github.com/xvrrp/xvrrp/control/fsm"
)

// fire is the scheduler's callback: the timers of ids are due.
func (d *Daemon) fire(now time.Time, ids []int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	// The wait for d.mu counts: a timer that the scheduler took on time
	// but that waited for the lock (held across a slow call) fires as late
	// as one the process was not scheduled for, and must be reported.
	d.batchLate = d.sched.BatchLateness() + max(0, time.Since(now))
	d.noteLateness(d.batchLate, now)
	d.snapCounters(now)
	backlog := d.rd != nil && d.rd.Pending()
	d.batch.on = true
	defer func() {
		d.batch.on = false
		d.flushSends()
	}()
	for _, id := range ids {
		if id >= len(d.insts) || d.insts[id] == nil {
			continue
		}
		r := d.insts[id]
		if r.m.State() == fsm.StateBackup {
			d.takeRepeats(r, now)
		}
		if backlog && r.m.State() == fsm.StateBackup && r.postponed < maxBacklogGrace {
			// A backup's timer (its master down interval) is about the
			// adverts that arrived: while the ring still holds unread
			// ones, which may be its master's, let the receiver catch up
			// first, briefly. On a saturated host this is what separates
			// a late read from a dead master.
			r.postponed += backlogGrace
			d.sched.Reset(r.id, now.Add(backlogGrace))
			continue
		}
		r.postponed = 0
		d.handle(r, fsm.Event{Kind: fsm.EventTimer}, now)
	}
}

// backlogGrace is how long a backup's expiring timer waits for unread
// adverts in the ring, at most maxBacklogGrace in all: the failover budget
// of the benchmarks is Master_Down_Interval + 5 ms.
const (
	backlogGrace    = time.Millisecond
	maxBacklogGrace = 4 * time.Millisecond
)
