package daemon

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/loader"
)

// TestReceivedAtUsesTheKernelTimestamp: an advert that waited in the ring is
// timed from when it arrived; implausible timestamps fall back to now. One
// kernelClock serves every case, as one serves every advert.
func TestReceivedAtUsesTheKernelTimestamp(t *testing.T) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mono := time.Duration(ts.Nano())
	var kc kernelClock
	for _, c := range []struct {
		name    string
		evTime  time.Duration
		wantAge time.Duration // how far before now; -1: exactly now
		slack   time.Duration
	}{
		{"WaitedFiveMillis", mono - 5*time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond},
		{"NoTimestamp", 0, -1, 0},
		{"FromTheFuture", mono + time.Hour, -1, 0},
		{"Stale", mono - time.Hour, -1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := kc.receivedAt(&loader.Event{Time: c.evTime}, now)
			if c.wantAge < 0 {
				if !got.Equal(now) {
					t.Fatalf("receivedAt = now%+v, want now", got.Sub(now))
				}
				return
			}
			// Either pair of clock readings (the test's, the kernelClock's)
			// may be split by a preemption: the age is off by that much, in
			// either direction.
			age := now.Sub(got)
			if age < c.wantAge-c.slack || age > c.wantAge+c.slack {
				t.Fatalf("advert aged %v, want %v (±%v)", age, c.wantAge, c.slack)
			}
		})
	}
}

// TestKernelClockMapsWithOnePairOfReadings: between resyncs a timestamp is
// mapped through the pair of readings taken last, with no clock read of its
// own; a pair older than kernelClockResync is read again.
func TestKernelClockMapsWithOnePairOfReadings(t *testing.T) {
	now := time.Now()
	const mono = 1000 * time.Second
	kc := kernelClock{mono: mono, at0: now.Add(-100 * time.Millisecond)}
	got := kc.receivedAt(&loader.Event{Time: mono + 50*time.Millisecond}, now)
	if age := now.Sub(got); age != 50*time.Millisecond {
		t.Fatalf("advert aged %v through the pair, want exactly 50ms", age)
	}
	if kc.mono != mono {
		t.Fatal("a fresh pair was read again")
	}
	kc.at0 = now.Add(-kernelClockResync)
	kc.receivedAt(&loader.Event{Time: mono}, now)
	if kc.mono == mono || !kc.at0.After(now.Add(-time.Second/2)) {
		t.Fatalf("a pair %v old was kept", kernelClockResync)
	}
}

// TestRingModePicksTheCheaperMode: blocking turns to polling when it wakes
// more than half as often as polling would, and polling turns back when
// fewer than a quarter of its polls find adverts; a mode is judged over a
// whole window.
func TestRingModePicksTheCheaperMode(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const period = time.Millisecond
	// A master's burst per 100 ms tick: a few wake-ups a second.
	var m ringMode
	for i := range 20 {
		if m.woke(t0.Add(time.Duration(i)*100*time.Millisecond), period) {
			t.Fatalf("10 wake-ups/s switched to polling (period %v)", period)
		}
	}
	// 400 wake-ups/s against 1,000 polls/s: still cheaper blocking.
	m = ringMode{}
	for i := range 100 {
		if m.woke(t0.Add(time.Duration(i)*time.Second/400), period) {
			t.Fatal("400 wake-ups/s switched to polling at 1,000 polls/s")
		}
	}
	// Spread-out adverts: 700 wake-ups/s.
	m = ringMode{}
	switched := false
	for i := range 300 {
		switched = switched || m.woke(t0.Add(time.Duration(i)*time.Second/700), period)
	}
	if !switched {
		t.Fatal("700 wake-ups/s did not switch to polling at 1,000 polls/s")
	}
	// Polling where most polls find adverts: keep polling.
	m = ringMode{start: t0}
	for i := 1; i <= 200; i++ {
		if !m.poll(t0.Add(time.Duration(i)*period), i%4 != 0, period) {
			t.Fatalf("poll %d: 3 busy polls in 4 ended polling", i)
		}
	}
	// 1 busy poll in 3 still polls.
	m = ringMode{start: t0}
	for i := 1; i <= 200; i++ {
		if !m.poll(t0.Add(time.Duration(i)*period), i%3 == 0, period) {
			t.Fatalf("poll %d: 1 busy poll in 3 ended polling", i)
		}
	}
	// Polling where most find nothing: back to blocking within a window.
	m = ringMode{start: t0}
	stopped := 0
	for i := 1; i <= 200 && stopped == 0; i++ {
		if !m.poll(t0.Add(time.Duration(i)*period), i%5 == 0, period) {
			stopped = i
		}
	}
	if want := int(ringModeWindow / period); stopped != want {
		t.Fatalf("1 busy poll in 5: polling ended at poll %d, want %d (one window)", stopped, want)
	}
}

// TestPollPeriodFollowsTheShortestInterval: a 25th of the shortest advert
// interval programmed, within [500 µs, 4 ms]; it only ever shortens.
func TestPollPeriodFollowsTheShortestInterval(t *testing.T) {
	var d Daemon
	if got := d.pollPeriod(); got != minPollPeriod {
		t.Fatalf("no instance: %v, want %v", got, minPollPeriod)
	}
	for _, c := range []struct {
		note time.Duration
		want time.Duration
	}{
		{time.Second, maxPollPeriod},
		{50 * time.Millisecond, 2 * time.Millisecond},
		{time.Second, 2 * time.Millisecond}, // a slower instance changes nothing
		{10 * time.Millisecond, minPollPeriod},
	} {
		d.noteInterval(c.note)
		if got := d.pollPeriod(); got != c.want {
			t.Fatalf("after noting %v: %v, want %v", c.note, got, c.want)
		}
	}
}

// fakeRing is a ring whose records the test pushes; it records the mode
// switches readRing makes.
type fakeRing struct {
	mu       sync.Mutex
	cond     *sync.Cond
	queue    int
	read     int
	deadline time.Time
	polling  bool
	closed   bool
	log      []string // "poll on", "poll off", "deadline", "no deadline", "timeout"
}

func newFakeRing() *fakeRing {
	f := &fakeRing{}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *fakeRing) push(n int) {
	f.mu.Lock()
	f.queue += n
	f.mu.Unlock()
	f.cond.Broadcast()
}

func (f *fakeRing) Read(ev *loader.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.queue == 0 {
		if f.closed {
			return os.ErrClosed
		}
		if !f.deadline.IsZero() && !time.Now().Before(f.deadline) {
			f.log = append(f.log, "timeout")
			return os.ErrDeadlineExceeded
		}
		// Re-check the deadline now and then: the test's clock is real.
		go func() { time.Sleep(time.Millisecond); f.cond.Broadcast() }()
		f.cond.Wait()
	}
	f.queue--
	f.read++
	*ev = loader.Event{}
	return nil
}

func (f *fakeRing) Pending() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queue > 0
}

func (f *fakeRing) SetPolling(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polling = on
	f.log = append(f.log, map[bool]string{true: "poll on", false: "poll off"}[on])
	return nil
}

func (f *fakeRing) SetDeadline(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadline = t
	f.log = append(f.log, map[bool]string{true: "no deadline", false: "deadline"}[t.IsZero()])
}

func (f *fakeRing) snapshot() (read int, polling bool, log []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read, f.polling, slices.Clone(f.log)
}

// TestReadRingPollsWhileBusy: when blocking reads wake it more often than
// polling would, the receiver switches the ring to polling (no wake-ups)
// and reads everything on its own clock; once most polls find the ring
// empty it switches back, reads once more with a short deadline for records
// submitted without a wake-up during the switch, then blocks without one.
// Stopping the daemon leaves polling off.
func TestReadRingPollsWhileBusy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{log: slog.New(slog.DiscardHandler), ctx: ctx}
	d.noteInterval(100 * time.Millisecond) // polls every 4 ms
	f := newFakeRing()
	done := make(chan struct{})
	go func() { defer close(done); d.readRing(f) }()

	waitFor := func(what string, cond func(read int, polling bool, log []string) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			read, polling, log := f.snapshot()
			if cond(read, polling, log) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 10 s (read %d, polling %v, log %v)", what, read, polling, log)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// A trickle is read as it comes, without polling.
	for range 5 {
		f.push(1)
		time.Sleep(20 * time.Millisecond)
	}
	waitFor("trickle read", func(read int, _ bool, _ []string) bool { return read == 5 })
	if _, polling, log := f.snapshot(); polling || len(log) != 0 {
		t.Fatalf("50 adverts/s switched the ring's mode: %v", log)
	}
	// Spread-out records, each waking a blocked reader: polling, and every
	// record read. A push per 100 µs wakes it far more often than a poll
	// per 4 ms, even if each sleep takes a millisecond on a busy machine.
	pushed := 5
	for ; pushed < 5+1600; pushed += 16 {
		f.push(16)
		time.Sleep(100 * time.Microsecond)
	}
	waitFor("burst read", func(read int, _ bool, log []string) bool {
		return read == pushed && slices.Contains(log, "poll on")
	})
	// While polling, each poll drains the ring: 10,000 records read one
	// per poll would take 5 s.
	f.push(10000)
	pushed += 10000
	start := time.Now()
	waitFor("backlog drained", func(read int, _ bool, _ []string) bool { return read == pushed })
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("10,000 queued records took %v to read: the poller is not draining the ring", took)
	}
	// Quiet: back to blocking reads, through one bounded read.
	waitFor("polling off", func(_ int, polling bool, log []string) bool {
		return !polling && slices.Contains(log, "no deadline")
	})
	_, _, log := f.snapshot()
	if want := []string{"poll on", "poll off", "deadline", "timeout", "no deadline"}; !slices.Equal(log[len(log)-len(want):], want) {
		t.Fatalf("mode switches %v, want them to end %v", log, want)
	}
	// Blocking again: a lone record is still read.
	f.push(1)
	pushed++
	waitFor("record after the switch", func(read int, _ bool, _ []string) bool { return read == pushed })

	// Busy again, then stop while polling: polling is switched off.
	for range 100 {
		f.push(16)
		time.Sleep(100 * time.Microsecond)
	}
	waitFor("polling again", func(_ int, polling bool, _ []string) bool { return polling })
	cancel()
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cond.Broadcast()
	<-done
	if _, polling, _ := f.snapshot(); polling {
		t.Fatal("readRing returned with the ring still polling")
	}
}
