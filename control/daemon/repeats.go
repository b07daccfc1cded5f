package daemon

import (
	"time"

	"github.com/xvrrp/xvrrp/control/fsm"
)

// repeats is what a backup leaves to the XDP program of its master's
// adverts (loader.HeardTable). RFC 5798 §6.4.2: a backup that accepts an
// advert from its master restarts its Master_Down_Timer, and that is all
// an unchanged repeat of the same advert does. Once the engine has accepted
// one, the daemon names its header to the program (expect) and the
// program records the repeats' arrival instead of queuing them; when the
// timer expires, fire looks at the table first (takeRepeats) and gives the
// engine the latest repeat, at the time it arrived, as if it had been read
// from the ring. A backup at 10 ms adverts goes from a ring record, a
// wake-up and a decode per advert to one memory read per timer expiry, and
// a flood of spoofed copies of the master's advert costs the daemon
// nothing. Anything the master changes (priority, priority 0, interval,
// addresses) differs in those bytes and comes through the ring.
type repeats struct {
	hdr [8]byte    // expected; zero: none
	adv fsm.Advert // the advert hdr is the header of
	// ns is the kernel time (bpf_ktime_get_ns) of the latest repeat given
	// to the engine, or of the advert that set hdr: later ones are new.
	ns time.Duration
	// count is the table's repeat count at the last look; uncounted the
	// repeats that were recorded but not given to the engine one by one
	// (it gets only the latest of those recorded between two looks),
	// added to the instance's received adverts.
	count, uncounted uint64
}

func (p *repeats) on() bool { return p.hdr != [8]byte{} }

// resetRepeats forgets what the slot of r recorded before r (a reload
// reuses slots) and expects nothing.
func (d *Daemon) resetRepeats(r *instance) {
	r.rep = repeats{}
	if d.heard == nil {
		return
	}
	d.heard.Expect(uint32(r.id), [8]byte{})
	r.rep.ns, r.rep.count = d.heard.Heard(uint32(r.id))
}

// expectRepeats runs after the engine took an advert from the ring (hdr its
// first 8 bytes, at kernel time ktime): when the advert restarted a
// backup's Master_Down_Timer, from the master the XDP program follows,
// its repeats are left to the program. Any other outcome keeps every
// advert coming through the ring.
func (d *Daemon) expectRepeats(r *instance, adv fsm.Advert, hdr []byte, ktime time.Duration, now time.Time) {
	if d.heard == nil || len(hdr) < 8 || ktime <= 0 {
		return
	}
	if adv.Src != r.xdpMaster {
		// Another router's advert (a flood's, a preempting router's):
		// schedule already stopped the repeats if the engine changed its
		// master or state; if not, the master's repeats still hold.
		return
	}
	if !d.repeatsHold(r) || !r.m.NextDeadline().Equal(now.Add(r.m.MasterDownInterval())) {
		d.stopRepeats(r)
		return
	}
	h := [8]byte(hdr[:8])
	d.countRepeats(r)
	r.rep.ns = max(r.rep.ns, ktime)
	if h == r.rep.hdr {
		return
	}
	r.rep.hdr, r.rep.adv = h, adv
	d.heard.Expect(uint32(r.id), h)
}

// repeatsHold reports whether the repeats of the advert r's engine last
// accepted still only restart its timer: r is a backup waiting on its
// Master_Down_Timer for that master, which is at least as good as r (or r
// does not preempt). Anything else (a transition, a fault, a priority
// that now preempts the master, a sync group holding r) needs every
// advert through the engine.
func (d *Daemon) repeatsHold(r *instance) bool {
	if r.m.State() != fsm.StateBackup || r.m.NextDeadline().IsZero() {
		return false
	}
	m, prio := r.m.Master()
	if m != r.xdpMaster || prio == fsm.PriorityStop {
		return false
	}
	return prio >= r.m.EffectivePriority() || r.m.Config().NoPreempt
}

// stopRepeats sends every advert of r through the ring again. A repeat the
// program recorded since the last look is counted but not given to the
// engine: the instance left the state where it meant nothing more than a
// timer restart (this runs when the engine changed its mind, within the
// same microseconds), like an advert lost on the wire.
func (d *Daemon) stopRepeats(r *instance) {
	if !r.rep.on() {
		return
	}
	d.heard.Expect(uint32(r.id), [8]byte{})
	d.countRepeats(r)
	r.rep.hdr = [8]byte{}
	r.rep.ns, _ = d.heard.Heard(uint32(r.id))
}

// countRepeats adds the repeats recorded since the last look to
// r.rep.uncounted.
func (d *Daemon) countRepeats(r *instance) {
	_, n := d.heard.Heard(uint32(r.id))
	r.rep.uncounted += n - r.rep.count
	r.rep.count = n
}

// takeRepeats gives r's engine the latest repeat the program recorded since
// the last look, at the time it arrived; fire calls it before the expiring
// timer, which the engine then ignores when the repeat restarted it.
func (d *Daemon) takeRepeats(r *instance, now time.Time) {
	if !r.rep.on() {
		return
	}
	last, n := d.heard.Heard(uint32(r.id))
	if last <= r.rep.ns {
		return
	}
	if n > r.rep.count {
		r.rep.uncounted += n - r.rep.count - 1 // the engine counts the one it gets
	}
	r.rep.count, r.rep.ns = n, last
	at := d.kclock.at(last, now, maxRepeatAge)
	r.lastAdvert = at
	r.xdpMasterSeen = at
	d.handle(r, fsm.Event{Kind: fsm.EventAdvert, Advert: r.rep.adv}, at) // schedule stops the repeats if they no longer hold
}

// maxRepeatAge bounds how old a recorded repeat may be when fire reads it:
// the longest Master_Down_Interval (3 × 40.95 s, VRRPv3's longest interval,
// and the skew).
const maxRepeatAge = 2 * time.Minute

// pendingRepeats is what status shows of repeats not yet given to the
// engine: their count and the latest one's time (zero: none).
func (d *Daemon) pendingRepeats(r *instance, now time.Time) (uint64, time.Time) {
	if d.heard == nil {
		return r.rep.uncounted, time.Time{}
	}
	last, n := d.heard.Heard(uint32(r.id))
	extra := r.rep.uncounted + (n - r.rep.count)
	if !r.rep.on() || last <= r.rep.ns {
		return extra, time.Time{}
	}
	return extra, d.kclock.at(last, now, maxRepeatAge)
}
