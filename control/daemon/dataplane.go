package daemon

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/loader"
)

// This file is everything the daemon tells the XDP program about an
// instance: its receive policy (the instance table), the master it follows
// past the rate limit, and the master's repeats it records instead of
// queuing.

// instDataplane is one instance's part of the XDP program's tables.
type instDataplane struct {
	key loader.InstanceKey
	// rateInterval is the advert interval the XDP rate limits were
	// programmed for: the configured one, or a faster master's.
	rateInterval time.Duration
	// xdpMaster is the master whose adverts the XDP program admits past
	// the aggregate rate limit (followMaster); xdpMasterSeen when it was
	// last heard.
	xdpMaster     netip.Addr
	xdpMasterSeen time.Time
	// postponed is how long its expiring timer has waited for unread
	// adverts in the ring (fire).
	postponed time.Duration
	rep       repeats // what the XDP program records of its master's repeats
}

// programDataplane writes the instance's receive policy into the XDP table.
func (d *Daemon) programDataplane(r *instance) {
	if r.rateInterval == 0 {
		r.rateInterval = r.cfg.AdvertInterval
	}
	d.noteInterval(r.rateInterval)
	p := loader.InstancePolicy{
		Version:      uint8(r.cfg.Version),
		MinTTL:       255,
		MaxTTL:       255,
		ChecksumAsV2: r.policy.Decode.ChecksumAsV2,
		Group:        r.cfg.McastGroup,
		Rates:        loader.DefaultRates(r.rateInterval),
		Master:       r.xdpMaster,
		Slot:         uint32(r.id),
	}
	if r.cfg.Unicast() {
		// keepalived's unicast_peer min_ttl/max_ttl (default 0..255: unicast
		// peers may be routed) replace the RFC's TTL 255 rule (the XDP program's); the
		// program checks the widest range of the instance's peers.
		p.MinTTL, p.MaxTTL = 255, 0
		for _, peer := range r.cfg.UnicastPeers {
			p.Peers = append(p.Peers, peer.Addr)
			p.MinTTL = min(p.MinTTL, uint8(peer.MinTTL))
			p.MaxTTL = max(p.MaxTTL, uint8(peer.MaxTTL))
		}
		// keepalived accepts its old unicast checksum form too, unless
		// old_unicast_checksum never; the decoder is told the same.
		p.LegacyUnicastChecksum = r.policy.Decode.LegacyUnicastChecksum
	}
	if err := d.dp.SetInstance(r.key, p); err != nil {
		d.log.Error("program the XDP instance table", "instance", r.cfg.Name, "err", err)
	}
}

// followMasterInterval widens the XDP rate limits for a faster master.
// RFC 5798 §6.4.2: a v3 backup adopts the master's advert interval. When
// the master is faster than our own advert_int, the XDP rate limits must
// admit its adverts, or the backup would hear too few of them and take
// over within its (now shorter) master down interval. They stay wide
// afterwards: a master that changed its interval once may do so again.
func (d *Daemon) followMasterInterval(r *instance, src netip.Addr) {
	if mi := r.m.MasterAdverInterval(); mi > 0 && mi < r.rateInterval {
		d.log.Info(fmt.Sprintf("%s: master advertises every %v, faster than advert_int %v: XDP rate limits follow it", r.cfg.Name, mi, r.cfg.AdvertInterval),
			"instance", r.cfg.Name, "master", src)
		r.rateInterval = mi
		d.programDataplane(r)
	}
}

// followMaster tells the XDP program which master this backup follows: that
// source's adverts skip the instance's aggregate rate limit, so a flood from
// other sources cannot starve the backup of them and cause a false
// failover. It moves to a new master only once the programmed one has been
// silent for a Master_Down_Interval, so that a flood of spoofed
// higher-priority sources cannot make it reprogram the table per advert.
func (d *Daemon) followMaster(r *instance, src netip.Addr, now time.Time) {
	if src == r.xdpMaster {
		r.xdpMasterSeen = now
		return
	}
	if m, _ := r.m.Master(); m != src || r.m.State() != fsm.StateBackup {
		return
	}
	if r.xdpMaster.IsValid() && now.Sub(r.xdpMasterSeen) < r.m.MasterDownInterval() {
		return
	}
	r.xdpMaster, r.xdpMasterSeen = src, now
	d.programDataplane(r)
}

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
	d.heard.Expect(uint32(r.id), [8]byte{}, 0)
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
		// schedule already stopped the repeats if the engine left the
		// state where they hold; if not, they still do.
		return
	}
	if m, _ := r.m.Master(); m != adv.Src || !d.repeatsHold(r) || !r.m.NextDeadline().Equal(now.Add(r.m.MasterDownInterval())) {
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
	d.heard.Expect(uint32(r.id), h, onTime(adv.Interval))
}

// repeatsHold reports whether a repeat of the master's advert r expects
// would still only restart r's Master_Down_Timer: the engine's answer
// (fsm RepeatOnlyRestartsTimer) for the priority of that advert, or of the
// master's last one when none is expected yet. A stranger's advert in
// between does not matter: the engine takes the master back at its next
// advert, recorded or not.
func (d *Daemon) repeatsHold(r *instance) bool {
	prio := r.rep.adv.Priority
	if !r.rep.on() {
		_, prio = r.m.Master()
	}
	return r.m.RepeatOnlyRestartsTimer(prio)
}

// stopRepeats sends every advert of r through the ring again. It runs after
// an event that made the engine leave the state where a repeat means only
// a timer restart; handle gave the engine the repeats recorded before that
// event. One recorded in the microseconds between the event and this is
// counted but not given to the engine, like an advert lost on the wire.
func (d *Daemon) stopRepeats(r *instance) {
	if !r.rep.on() {
		return
	}
	d.heard.Expect(uint32(r.id), [8]byte{}, 0)
	last, n := d.heard.Heard(uint32(r.id))
	r.rep.uncounted += n - r.rep.count
	r.rep.hdr, r.rep.ns, r.rep.count = [8]byte{}, last, n
}

// countRepeats adds the repeats recorded since the last look to
// r.rep.uncounted.
func (d *Daemon) countRepeats(r *instance) {
	_, n := d.heard.Heard(uint32(r.id))
	r.rep.uncounted += n - r.rep.count
	r.rep.count = n
}

// takeRepeats gives r's engine the latest repeat the program recorded since
// the last look, at the time it arrived. handle calls it before any other
// event of r, so the engine sees adverts in the order they came: a timer
// that the repeat restarted is then ignored, and a stranger's advert that
// stops the repeats (a flood's spoofed source) comes after the master's
// latest, as on the wire.
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
	d.deliver(r, fsm.Event{Kind: fsm.EventAdvert, Advert: r.rep.adv}, at) // schedule stops the repeats if they no longer hold
}

// onTime is how long after a repeat the master counts as on time, for the
// XDP program to drop other sources' adverts meanwhile: one and a half of
// its interval, so a single missed advert lets them through again, two
// intervals before the Master_Down_Timer (three and the skew) expires.
func onTime(interval time.Duration) time.Duration { return interval + interval/2 }

// repeatsCheckAt is when fire looks at the repeats of a backup whose
// Master_Down_Timer expires at deadline: the point of a grid of the
// master's interval just before it, or the deadline itself when that point
// is past. Repeats push a live master's deadline on at every look,
// so its backups only ever wake at grid points, together, however the
// repeats' arrival times scatter (a flood of spoofed copies scatters them
// per instance, and each would wake the daemon on its own); a look that
// finds no new repeat leaves the engine's deadline as it is and the next
// wake-up is at it exactly, so a dead master is detected on time.
func repeatsCheckAt(deadline, now time.Time, interval time.Duration) time.Time {
	g := interval
	if g <= 0 {
		return deadline
	}
	at := deadline.Add(-deadline.Sub(gridEpoch) % g)
	if !at.After(now) {
		return deadline
	}
	return at
}

// gridEpoch anchors repeatsCheckAt's grid (on the monotonic clock).
var gridEpoch = time.Now()

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
