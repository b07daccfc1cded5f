package daemon

import (
	"errors"
	"os"
	"time"

	"github.com/xvrrp/xvrrp/loader"
)

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
