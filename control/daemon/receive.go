package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/control/advert"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/loader"
)

// startReceiver reads accepted adverts from the XDP ring buffer and feeds
// them to their instances.
func (d *Daemon) startReceiver() error {
	rd, err := d.dp.Events()
	if err != nil {
		return err
	}
	d.rd = rd
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		<-d.ctx.Done()
		_ = rd.Close()
	}()
	go func() {
		defer d.wg.Done()
		d.readRing(rd)
	}()
	return nil
}

// readRing feeds the ring's adverts to their instances until the daemon
// stops. It reads in one of two modes, whichever costs fewer wake-ups
// (ringMode): blocking in Read, where the kernel wakes it when an advert
// lands in an empty ring (cheap when adverts come in bursts, as a master's
// do: one wake-up per tick of its scheduler), or polling every pollPeriod
// with the XDP program submitting without wake-ups (cheap when adverts come
// spread out, as a flood's do). The engine works on the adverts' kernel
// receive times, so the wait shifts no timer; fire gives a backup's
// expiring timer up to maxBacklogGrace for adverts still in the ring.
func (d *Daemon) readRing(rd ringReader) {
	var ev loader.Event
	var kc kernelClock
	var mode ringMode
	polling := false
	setPolling := func(on bool) {
		if err := rd.SetPolling(on); err != nil {
			d.log.Warn("switching the XDP ring reader's mode", "polling", on, "err", err)
			return
		}
		polling = on
		if !on {
			// A record submitted just before the switch carries no
			// wake-up: look once more, briefly, before blocking.
			rd.SetDeadline(time.Now().Add(loader.StragglerWait))
		}
	}
	defer func() {
		if polling {
			_ = rd.SetPolling(false)
		}
	}()
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	for {
		woke := false // this Read waits for the ring to fill
		if !rd.Pending() {
			if polling {
				period := d.pollPeriod()
				wait.Reset(period)
				select {
				case <-wait.C:
				case <-d.ctx.Done():
					wait.Stop()
					return
				}
				now := time.Now()
				if !mode.poll(now, rd.Pending(), period) {
					setPolling(false) // and Read below waits for stragglers
				} else if !rd.Pending() {
					continue
				}
			} else {
				woke = true
			}
		}
		if err := rd.Read(&ev); err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				rd.SetDeadline(time.Time{})
			case errors.Is(err, os.ErrClosed) || d.ctx.Err() != nil:
				return
			default:
				d.log.Warn("reading the XDP ring buffer", "err", err)
			}
			continue
		}
		now := time.Now()
		d.receive(&ev, kc.receivedAt(&ev, now))
		if woke && !polling && mode.woke(now, d.pollPeriod()) {
			setPolling(true)
		}
	}
}

// ringReader is what readRing needs of *loader.EventReader.
type ringReader interface {
	Read(*loader.Event) error
	Pending() bool
	SetPolling(on bool) error
	SetDeadline(time.Time)
}

// ringMode counts, over windows of ringModeWindow, the wake-ups of the mode
// the reader is in, and says when the other mode would cost fewer: blocking
// costs one per burst of adverts, polling one per period whatever arrives.
// A blocking wake-up costs more than a poll (the XDP program's CPU takes an
// interrupt to wake the reader, and the reader a netpoller round trip), and
// a poll reads everything that gathered: polling starts once blocking wakes
// more than half as often as polling would, and ends when fewer than a
// quarter of the polls find anything.
type ringMode struct {
	start time.Time
	n     int // wake-ups (blocking) or polls that found adverts (polling)
}

const ringModeWindow = 50 * time.Millisecond

// woke counts a blocking wake-up; true: poll from now on.
func (m *ringMode) woke(now time.Time, period time.Duration) bool {
	m.n++
	el := now.Sub(m.start)
	if el < ringModeWindow {
		return false
	}
	poll := float64(m.n)*float64(period) > 0.5*float64(el)
	m.start, m.n = now, 0
	return poll
}

// poll counts a poll (busy: it found adverts); false: block from now on.
func (m *ringMode) poll(now time.Time, busy bool, period time.Duration) bool {
	if busy {
		m.n++
	}
	el := now.Sub(m.start)
	if el < ringModeWindow {
		return true
	}
	keep := float64(m.n)*float64(period) >= 0.25*float64(el)
	m.start, m.n = now, 0
	return keep
}

// pollPeriod is how long a polling reader lets adverts gather: a 25th of
// the shortest advert interval any instance was programmed with, within
// [minPollPeriod, maxPollPeriod] (500 µs at 10 ms adverts, where a backup's
// Master_Down_Interval is 30 ms and more; 4 ms at 100 ms and slower, which
// fire's maxBacklogGrace covers).
func (d *Daemon) pollPeriod() time.Duration {
	iv := time.Duration(d.shortestInterval.Load())
	if iv <= 0 {
		return minPollPeriod
	}
	return min(max(iv/25, minPollPeriod), maxPollPeriod)
}

const (
	minPollPeriod = 500 * time.Microsecond
	maxPollPeriod = maxBacklogGrace
)

// noteInterval lowers the shortest advert interval pollPeriod works from.
// It never rises (a reload that removes the fastest instances leaves the
// reader polling a little more often than it needs).
func (d *Daemon) noteInterval(iv time.Duration) {
	for {
		cur := d.shortestInterval.Load()
		if iv <= 0 || (cur != 0 && int64(iv) >= cur) || d.shortestInterval.CompareAndSwap(cur, int64(iv)) {
			return
		}
	}
}

// kernelClock converts the kernel's receive timestamps (CLOCK_MONOTONIC,
// bpf_ktime_get_ns) of events to the daemon's clock: the engine times the
// master down interval from when an advert arrived, not from when it was
// read from the ring. Go's monotonic clock is CLOCK_MONOTONIC too, so one
// pair of readings of both maps every later timestamp; reading
// CLOCK_MONOTONIC per advert would cost a system call each (x/sys/unix
// does not use the vDSO), a tenth of a busy backup's CPU. The pair is
// re-read every kernelClockResync.
type kernelClock struct {
	mono time.Duration // CLOCK_MONOTONIC at at0
	at0  time.Time
}

const kernelClockResync = time.Second

// receivedAt is when the advert of ev arrived; now (the time it was read)
// when its timestamp is missing or implausible.
func (k *kernelClock) receivedAt(ev *loader.Event, now time.Time) time.Time {
	return k.at(ev.Time, now, time.Second)
}

// at converts the kernel time ktime, at most maxAge before now, to the
// daemon's clock; now when it is missing or implausible.
func (k *kernelClock) at(ktime time.Duration, now time.Time, maxAge time.Duration) time.Time {
	if ktime <= 0 {
		return now
	}
	if k.at0.IsZero() || now.Sub(k.at0) >= kernelClockResync || now.Before(k.at0) {
		var ts unix.Timespec
		if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
			return now
		}
		k.mono, k.at0 = time.Duration(ts.Nano()), time.Now()
	}
	t := k.at0.Add(ktime - k.mono)
	if age := now.Sub(t); age < 0 || age > maxAge {
		return now // not a plausible receive time
	}
	return t
}

// receive handles one advert the XDP program accepted. The program already
// checked TTL, length, checksum, version and the instance table; the
// decoder checks again (cheaply) and the engine applies the protocol. now
// is when it arrived (kernelClock.receivedAt).
func (d *Daemon) receive(ev *loader.Event, now time.Time) {
	if len(ev.Payload) < 2 {
		return
	}
	key := loader.InstanceKey{Ifindex: ev.Ifindex, VRID: ev.Payload[1], Family: ev.Family}
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.byKey[key]
	if r == nil || d.stopped {
		return
	}
	if err := advert.Decode(ev.Payload, ev.Src, ev.Dst, r.decOpts, &r.rx); err != nil {
		r.errs[decodeErrKind(err)]++
		return
	}
	if r.rx.LegacyChecksum && !r.encOpts.LegacyUnicastChecksum {
		// keepalived (vrrp.c, old_unicast_checksum's automatic mode): a peer
		// whose advert verified only with the pre-1.3.7 unicast checksum is
		// answered in that form from then on.
		r.encOpts.LegacyUnicastChecksum = true
		d.log.Info(fmt.Sprintf("%s: %v sends keepalived's pre-1.3.7 unicast checksum; sending it too", r.cfg.Name, ev.Src),
			"instance", r.cfg.Name, "peer", ev.Src)
	}
	// RFC 3768 §7.1 / RFC 2338 §5.3.6: with simple text authentication the
	// auth type and password must match ours, compared in constant time.
	if r.auth && (r.rx.AuthType != 1 || !r.rx.AuthMatches(r.pass)) {
		r.errs[errAuth]++
		return
	} else if !r.auth && r.cfg.Version == 2 && r.rx.AuthType != 0 {
		r.errs[errAuth]++
		return
	}
	// RFC 5798 §7.1: the address list MAY be verified; keepalived drops a
	// mismatching advert unless skip_check_adv_addr. Priority 0 adverts are
	// checked too: a stranger's shutdown must not make us take over.
	if !r.cfg.SkipCheckAdvAddr && !r.sameAddrs(r.rx.Addrs) {
		r.errs[errAddrList]++
		return
	}
	if r.cfg.Version == 2 && r.rx.Version == 2 && r.rx.Interval != r.tmpl.Interval {
		// keepalived: a v2 advert whose interval differs is dropped; the
		// engine applies the rule too, counted here for metrics.
		r.errs[errInterval]++
	}
	r.lastAdvert = now
	r.postponed = 0
	adv := fsm.Advert{
		Src: ev.Src, Priority: r.rx.Priority, Interval: r.rx.IntervalDuration(), Version: r.rx.Version,
	}
	d.handle(r, fsm.Event{Kind: fsm.EventAdvert, Advert: adv}, now)
	// RFC 5798 §6.4.2: a v3 backup adopts the master's advert interval. When
	// the master is faster than our own advert_int, the XDP rate limits must
	// admit its adverts, or the backup would hear too few of them and take
	// over within its (now shorter) master down interval. They stay wide
	// afterwards: a master that changed its interval once may do so again.
	if mi := r.m.MasterAdverInterval(); mi > 0 && mi < r.rateInterval {
		d.log.Info(fmt.Sprintf("%s: master advertises every %v, faster than advert_int %v: XDP rate limits follow it", r.cfg.Name, mi, r.cfg.AdvertInterval),
			"instance", r.cfg.Name, "master", ev.Src)
		r.rateInterval = mi
		d.programDataplane(r)
	}
	d.followMaster(r, ev.Src, now)
	d.expectRepeats(r, adv, ev.Payload, ev.Time, now)
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

func decodeErrKind(err error) errKind {
	switch {
	case errors.Is(err, advert.ErrChecksum):
		return errChecksum
	case errors.Is(err, advert.ErrTooShort), errors.Is(err, advert.ErrLength):
		return errLength
	case errors.Is(err, advert.ErrVersion), errors.Is(err, advert.ErrType):
		return errVersion
	case errors.Is(err, advert.ErrAuthType):
		return errAuth
	}
	return errOther
}

// fire is the scheduler's callback: the timers of ids are due.
func (d *Daemon) fire(now time.Time, ids []int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	d.noteLateness(d.sched.BatchLateness(), now)
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
