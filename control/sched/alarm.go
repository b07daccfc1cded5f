package sched

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// An alarm wakes the scheduler once after a duration. Run owns it; only the
// scheduler goroutine calls set and close.
//
// The Go runtime's own timers wake an idle process up to a millisecond and
// more late, for two reasons: an idle runtime sleeps in epoll_pwait, whose
// timeout is in whole milliseconds (runtime/netpoll_epoll.go rounds a
// sub-millisecond remainder up to one), and the kernel lets a
// normal-priority epoll timeout expire up to 0.1 % of its length late
// (fs/select.c select_estimate_accuracy: 0.6 ms of a 609 ms Skew_Time).
// A timerfd is an hrtimer without that slack whose expiry makes a file
// descriptor readable, which wakes the runtime's poller at once
// (`bin/xvrrp-wakeup -mode sched` with and without -runtime-timer compares
// them; docs/benchmarks.md has the figures). RFC 5798 §6.4.2's Skew_Time after a priority-0 advert is
// where this shows: the timer's lateness is added to the failover as is.
type alarm interface {
	set(d time.Duration) // fire once after d > 0, replacing any earlier setting
	fired() <-chan struct{}
	close()
}

// newAlarm is a timerfd alarm, or the runtime timer if runtimeTimer is set
// or a timerfd cannot be made.
func newAlarm(runtimeTimer bool) alarm {
	if !runtimeTimer {
		if a, err := newTimerfdAlarm(); err == nil {
			return a
		}
	}
	return newRuntimeAlarm()
}

// timerfdAlarm is a CLOCK_MONOTONIC timerfd read through the runtime's
// poller by one goroutine, which turns each expiry into a send on c.
type timerfdAlarm struct {
	fd int      // for timerfd_settime; f owns it
	f  *os.File // non-blocking, so Read parks in the poller, not a thread
	c  chan struct{}
}

func newTimerfdAlarm() (*timerfdAlarm, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	a := &timerfdAlarm{fd: fd, f: os.NewFile(uintptr(fd), "sched-timerfd"), c: make(chan struct{}, 1)}
	go a.read()
	return a, nil
}

func (a *timerfdAlarm) read() {
	var b [8]byte // the expiry count; any count is one wake-up
	for {
		if _, err := a.f.Read(b[:]); err != nil {
			return // closed
		}
		a.notify()
	}
}

func (a *timerfdAlarm) notify() { notify(a.c) }

// notify makes one wake-up pending on c (buffered, 1).
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default: // a wake-up is already pending: Run re-reads the heap anyway
	}
}

func (a *timerfdAlarm) set(d time.Duration) {
	// A zero it_value disarms: never ask for less than a nanosecond.
	v := unix.NsecToTimespec(int64(max(d, time.Nanosecond)))
	if err := unix.TimerfdSettime(a.fd, 0, &unix.ItimerSpec{Value: v}, nil); err != nil {
		// Cannot happen on a valid fd with a valid value; never leave Run
		// asleep (or spinning): the runtime's timer wakes it instead.
		time.AfterFunc(d, a.notify)
	}
}

func (a *timerfdAlarm) fired() <-chan struct{} { return a.c }
func (a *timerfdAlarm) close()                 { _ = a.f.Close() }

// runtimeAlarm is the Go runtime's timer.
type runtimeAlarm struct {
	t *time.Timer
	c chan struct{}
}

func newRuntimeAlarm() *runtimeAlarm {
	a := &runtimeAlarm{c: make(chan struct{}, 1)}
	a.t = time.AfterFunc(time.Hour, func() { notify(a.c) })
	a.t.Stop()
	return a
}

func (a *runtimeAlarm) set(d time.Duration)    { a.t.Reset(d) }
func (a *runtimeAlarm) fired() <-chan struct{} { return a.c }
func (a *runtimeAlarm) close()                 { a.t.Stop() }

// threadAlarm is Options.Thread's wait: poll(2) on a timerfd (the deadline)
// and an eventfd (Reset, ctx), blocking the locked thread in the kernel.
type threadAlarm struct {
	tfd, efd int
	stop     func() bool
}

func newThreadAlarm(ctx context.Context) (*threadAlarm, error) {
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(tfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	a := &threadAlarm{tfd: tfd, efd: efd}
	a.stop = context.AfterFunc(ctx, func() { kickEventfd(efd) })
	return a, nil
}

func kickEventfd(fd int) {
	var one = [8]byte{1}
	_, _ = unix.Write(fd, one[:])
}

// block waits until d has passed (d < 0: no deadline), Reset kicked or ctx
// ended, and drains what woke it.
func (a *threadAlarm) block(d time.Duration) {
	if d >= 0 {
		v := unix.NsecToTimespec(int64(max(d, time.Nanosecond)))
		_ = unix.TimerfdSettime(a.tfd, 0, &unix.ItimerSpec{Value: v}, nil)
	}
	fds := []unix.PollFd{{Fd: int32(a.tfd), Events: unix.POLLIN}, {Fd: int32(a.efd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err != unix.EINTR {
			break
		}
	}
	var b [8]byte
	_, _ = unix.Read(a.tfd, b[:])
	_, _ = unix.Read(a.efd, b[:])
}

func (a *threadAlarm) set(time.Duration)      {}
func (a *threadAlarm) fired() <-chan struct{} { return nil }
func (a *threadAlarm) close() {
	a.stop()
	unix.Close(a.tfd)
	unix.Close(a.efd)
}
