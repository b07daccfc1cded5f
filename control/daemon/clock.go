package daemon

import (
	"context"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/loader"
)

// sleep waits d or until ctx ends; it reports whether the time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
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
