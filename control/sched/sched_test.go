package sched

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/control/advert"
	"github.com/xvrrp/xvrrp/control/fsm"
)

func TestHeapOrderAndRemove(t *testing.T) {
	base := time.Unix(1000, 0)
	s, err := New(64, func(time.Time, []int) {}, Options{Now: func() time.Time { return base }})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	want := map[int]time.Time{}
	for id := 0; id < 64; id++ {
		at := base.Add(time.Duration(r.IntN(1000)+1) * time.Millisecond)
		s.Reset(id, at)
		want[id] = at
	}
	for id := 0; id < 64; id += 3 {
		s.Remove(id)
		delete(want, id)
	}
	s.Reset(1, base.Add(5*time.Second)) // move one to the back
	want[1] = base.Add(5 * time.Second)
	if s.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", s.Len(), len(want))
	}
	var prev int64
	for s.Len() > 0 {
		id := int(s.heap[0])
		if s.at[id] < prev {
			t.Fatalf("heap popped %d at %d before previous %d", id, s.at[id], prev)
		}
		if got := s.at[id]; got != s.ns(want[id]) {
			t.Fatalf("id %d deadline %d, want %d", id, got, s.ns(want[id]))
		}
		prev = s.at[id]
		s.removeAt(0)
		delete(want, id)
	}
	if len(want) != 0 {
		t.Fatalf("ids never popped: %v", want)
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	if _, err := New(0, func(time.Time, []int) {}, Options{}); err == nil {
		t.Error("capacity 0 accepted")
	}
	if _, err := New(10, nil, Options{}); err == nil {
		t.Error("nil callback accepted")
	}
	s, _ := New(2, func(time.Time, []int) {}, Options{})
	s.Reset(-1, time.Now()) // out of range ids are ignored, never panic
	s.Reset(7, time.Now())
	s.Remove(9)
	if s.Len() != 0 {
		t.Errorf("out-of-range ids were scheduled: Len = %d", s.Len())
	}
}

// TestRunFiresDueIDsInDeadlineOrder uses the real clock but asserts only
// order and completeness, with a generous timeout.
func TestRunFiresDueIDsInDeadlineOrder(t *testing.T) {
	var mu sync.Mutex
	var got []int
	done := make(chan struct{})
	s, err := New(8, func(_ time.Time, ids []int) {
		mu.Lock()
		got = append(got, ids...)
		if len(got) == 4 {
			close(done)
		}
		mu.Unlock()
	}, Options{Slack: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s.Reset(3, now.Add(40*time.Millisecond))
	s.Reset(1, now.Add(10*time.Millisecond))
	s.Reset(5, now.Add(30*time.Millisecond))
	s.Reset(2, now.Add(20*time.Millisecond))
	s.Reset(6, now.Add(time.Hour))
	s.Remove(6)
	runUntil(t, s, done)
	mu.Lock()
	defer mu.Unlock()
	want := []int{1, 2, 5, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fired %v, want %v", got, want)
		}
	}
	if h := s.Lateness(); h.Count() != 4 {
		t.Fatalf("lateness samples = %d, want 4", h.Count())
	}
}

// runUntil runs s until done is closed, failing the test after 10 s, and
// stops it when the test ends.
func runUntil(t *testing.T, s *Scheduler, done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go s.Run(ctx)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("timers did not fire within 10s")
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Add(time.Duration(i) * 100 * time.Microsecond)
	}
	if got := h.Quantile(0.5); got < 5*time.Millisecond || got > 5*time.Millisecond+histBucket {
		t.Errorf("p50 = %v, want ~5ms", got)
	}
	if got := h.Quantile(0.99); got < 9900*time.Microsecond || got > 9900*time.Microsecond+histBucket {
		t.Errorf("p99 = %v, want ~9.9ms", got)
	}
	if h.Max() != 10*time.Millisecond {
		t.Errorf("max = %v, want 10ms", h.Max())
	}
	h.Add(-time.Second)
	if h.Quantile(0) > histBucket {
		t.Errorf("negative lateness not clamped to 0")
	}
}

var benchDuration = flag.Duration("sched.duration", 10*time.Second, "how long each scheduler lateness benchmark runs")

const (
	benchInstances = 1000
	benchInterval  = 10 * time.Millisecond
)

// benchInst is one master instance doing the daemon's per-advert work when
// its timer fires (control/daemon: fire → handle → sendAdvert): a
// state-machine step producing a SendAdvert action, and the advert encoded
// into the instance's reused buffer. Only the send is left out (it needs a
// network namespace; vip's BenchmarkTimerEncodeSend measures it).
type benchInst struct {
	m    *fsm.Machine
	tmpl advert.Advert
	src  netip.Addr
	buf  []byte
	out  []fsm.Action
}

// fire handles the instance's timer at now and returns the number of
// adverts produced and the lateness of the last, from the Adver_Timer
// deadline to the moment the advert is encoded and ready to send: it
// includes the work done for the instances fired before it in the same
// batch. A timer fired early (batched within Slack) produces no advert.
func (in *benchInst) fire(now time.Time) (adverts uint64, late time.Duration) {
	due := in.m.NextDeadline()
	in.out = in.m.Handle(fsm.Event{Kind: fsm.EventTimer}, now, in.out[:0])
	for _, a := range in.out {
		if a.Kind != fsm.ActionSendAdvert {
			continue
		}
		in.tmpl.Priority = a.Priority
		b, err := in.tmpl.Append(in.buf[:0], in.src, advert.GroupIPv4, advert.EncodeOptions{})
		if err != nil {
			panic(err) // the template is fixed and newMasters checked it
		}
		in.buf = b
		late = time.Since(due)
		adverts++
	}
	return adverts, late
}

// newMasters makes n owner instances (MASTER from startup) whose first
// advert is due at base+phase(i), one encoded advert checked.
func newMasters(b *testing.B, n int, base time.Time, phase func(int) time.Duration) []*benchInst {
	ins := make([]*benchInst, n)
	for i := range ins {
		src := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		m, err := fsm.New(fsm.Config{Name: "bench", VRID: uint8(i%255 + 1), Version: 3, Priority: fsm.PriorityOwner,
			AdvertInterval: benchInterval, PrimaryAddr: src})
		if err != nil {
			b.Fatal(err)
		}
		in := &benchInst{m: m, src: src, buf: make([]byte, 0, 64), out: make([]fsm.Action, 0, 8),
			tmpl: advert.Advert{Version: 3, Type: advert.TypeAdvertisement, VRID: uint8(i%255 + 1),
				Interval: uint16(benchInterval / (10 * time.Millisecond)),
				Addrs:    []netip.Addr{netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})}}}
		// Started one interval before its first advert is due.
		in.out = m.Handle(fsm.Event{Kind: fsm.EventStartup}, base.Add(phase(i)-benchInterval), in.out[:0])
		if m.State() != fsm.StateMaster {
			b.Fatalf("machine %d in %v, want MASTER", i, m.State())
		}
		if _, err := in.tmpl.Append(in.buf[:0], src, advert.GroupIPv4, advert.EncodeOptions{}); err != nil {
			b.Fatal(err)
		}
		ins[i] = in
	}
	return ins
}

// phases: "spread" starts the instances at random phases over one interval;
// "aligned" starts them together, as a daemon starting 1,000 owners does, or
// 1,000 backups of the same priority taking over from the same dead master:
// then every advert of a tick is due at the same instant.
var phases = []struct {
	name  string
	phase func(r *rand.Rand) func(int) time.Duration
}{
	{"phase=spread", func(r *rand.Rand) func(int) time.Duration {
		return func(int) time.Duration { return time.Duration(r.Int64N(int64(benchInterval))) }
	}},
	{"phase=aligned", func(*rand.Rand) func(int) time.Duration {
		return func(int) time.Duration { return 0 }
	}},
}

// startMargin leaves time for the setup before the first advert is due.
const startMargin = 50 * time.Millisecond

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// report: lateness quantiles of the adverts, their number, and the heap
// allocations of the whole measured run per advert (the scheduler, the
// runtime's timers and the per-advert path together; 0.000 means none).
func report(b *testing.B, h *Histogram, adverts, allocs uint64) {
	b.ReportMetric(float64(h.Quantile(0.50).Microseconds())/1000, "p50-late-ms")
	b.ReportMetric(float64(h.Quantile(0.99).Microseconds())/1000, "p99-late-ms")
	b.ReportMetric(float64(h.Max().Microseconds())/1000, "max-late-ms")
	b.ReportMetric(float64(adverts), "adverts")
	if adverts > 0 {
		b.ReportMetric(float64(allocs)/float64(adverts), "allocs/advert")
	}
	if want := uint64(float64(benchInstances) * float64(*benchDuration) / float64(benchInterval) * 0.9); adverts < want {
		b.Errorf("%d adverts in %v, want ≥ %d (1,000 instances at %v)", adverts, *benchDuration, want, benchInterval)
	}
}

// BenchmarkSchedulerLateness: 1,000 instances at 10 ms for -sched.duration
// (default 10 s) on the heap scheduler, each advert a state-machine step and
// an encode; reports the adverts' p50, p99 and maximum lateness (the
// target: p99 ≤ 2 ms, max ≤ 5 ms; not asserted, timing is the machine's).
// One run per call whatever b.N: use -benchtime=1x; ns/op is the duration.
func BenchmarkSchedulerLateness(b *testing.B) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"timerfd", Options{}},
		{"runtime-timer", Options{RuntimeTimer: true}},
		{"runtime-timer+spin=1ms", Options{RuntimeTimer: true, Spin: time.Millisecond}},
	} {
		for _, ph := range phases {
			b.Run(c.name+"/"+ph.name, func(b *testing.B) {
				benchHeap(b, c.opts, ph.phase(rand.New(rand.NewPCG(3, 4))))
			})
		}
	}
}

func benchHeap(b *testing.B, opts Options, phase func(int) time.Duration) {
	base := time.Now().Add(startMargin)
	ins := newMasters(b, benchInstances, base, phase)
	var h Histogram // only the scheduler goroutine touches it during Run
	var adverts uint64
	var s *Scheduler
	s, err := New(benchInstances, func(now time.Time, ids []int) {
		for _, id := range ids {
			n, late := ins[id].fire(now)
			for range n {
				h.Add(late)
			}
			adverts += n
			s.Reset(id, ins[id].m.NextDeadline())
		}
	}, opts)
	if err != nil {
		b.Fatal(err)
	}
	for i, in := range ins {
		s.Reset(i, in.m.NextDeadline())
	}
	ctx, cancel := context.WithTimeout(context.Background(), *benchDuration)
	defer cancel()
	runtime.GC()
	before := mallocs()
	b.ResetTimer()
	s.Run(ctx)
	b.StopTimer()
	report(b, &h, adverts, mallocs()-before)
}

// BenchmarkTimerPerInstanceLateness is the alternative: one time.AfterFunc
// per instance, each re-armed from its own callback, doing the same work.
// One run per call whatever b.N: use -benchtime=1x.
func BenchmarkTimerPerInstanceLateness(b *testing.B) {
	for _, ph := range phases {
		b.Run(ph.name, func(b *testing.B) {
			base := time.Now().Add(startMargin)
			ins := newMasters(b, benchInstances, base, ph.phase(rand.New(rand.NewPCG(3, 4))))
			var mu sync.Mutex
			var h Histogram
			var adverts atomic.Uint64
			var stop atomic.Bool
			timers := make([]*time.Timer, benchInstances)
			for i, in := range ins {
				// The callback re-arms its own timer last, so two runs of it
				// never overlap: in is used by one goroutine at a time.
				timers[i] = time.AfterFunc(time.Hour, func() {
					if stop.Load() {
						return
					}
					n, late := in.fire(time.Now())
					d := time.Until(in.m.NextDeadline())
					mu.Lock()
					for range n {
						h.Add(late)
					}
					mu.Unlock()
					adverts.Add(n)
					timers[i].Reset(d)
				})
			}
			runtime.GC()
			before := mallocs()
			for i, in := range ins {
				timers[i].Reset(time.Until(in.m.NextDeadline()))
			}
			b.ResetTimer()
			time.Sleep(*benchDuration) // the benchmark's measured period, not synchronisation
			stop.Store(true)
			for _, t := range timers {
				t.Stop()
			}
			b.StopTimer()
			allocs := mallocs() - before
			mu.Lock()
			report(b, &h, adverts.Load(), allocs)
			mu.Unlock()
		})
	}
}

// BenchmarkSchedulerReset: cost of re-arming one instance (the per-advert
// scheduler work besides the callback).
func BenchmarkSchedulerReset(b *testing.B) {
	s, _ := New(benchInstances, func(time.Time, []int) {}, Options{})
	now := time.Now()
	for i := range benchInstances {
		s.Reset(i, now.Add(time.Duration(i)*time.Microsecond))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Reset(i%benchInstances, now.Add(time.Duration(i)*time.Microsecond))
	}
}

// TestRunSlackBatchIsDueAtItsLatestDeadline: ids taken early by Slack are
// fired with an instant no earlier than their deadline, so a state machine
// finds its timer due and does not need a second wake-up for it.
func TestRunSlackBatchIsDueAtItsLatestDeadline(t *testing.T) {
	var mu sync.Mutex
	var clock time.Time
	base := time.Unix(1_000_000, 0)
	clock = base
	type fired struct {
		at  time.Time
		ids []int
	}
	got := make(chan fired, 4)
	s, err := New(8, func(at time.Time, ids []int) {
		got <- fired{at, append([]int(nil), ids...)}
	}, Options{Slack: time.Millisecond, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.Reset(1, base)
	s.Reset(2, base.Add(400*time.Microsecond))
	s.Reset(3, base.Add(2*time.Millisecond)) // beyond the slack
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	var f fired
	select {
	case f = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the due ids did not fire")
	}
	if len(f.ids) != 2 || f.ids[0] != 1 || f.ids[1] != 2 {
		t.Fatalf("first batch %v, want [1 2]", f.ids)
	}
	if want := base.Add(400 * time.Microsecond); !f.at.Equal(want) {
		t.Fatalf("batch fired at %v, want its latest deadline %v", f.at.Sub(base), want.Sub(base))
	}
	if s.Len() != 1 {
		t.Fatalf("%d ids left on the heap, want 1 (id 3)", s.Len())
	}
}

// TestEqualDeadlinesFireInIDOrder: ids due at one instant come off the heap
// in id order, whatever order they were scheduled in.
func TestEqualDeadlinesFireInIDOrder(t *testing.T) {
	at := time.Unix(2_000_000, 0)
	var got []int
	s, err := New(64, func(_ time.Time, ids []int) { got = append(got, ids...) }, Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{17, 3, 42, 8, 0, 63, 21} {
		s.Reset(id, at)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	want := []int{0, 3, 8, 17, 21, 42, 63}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

// TestBatchLatenessIsTheEarliestDeadlinesDelay: a batch taken 40 ms after
// its earliest deadline (the process was not scheduled) reports 40 ms to
// the fire callback, whatever the later ids of the batch.
func TestBatchLatenessIsTheEarliestDeadlinesDelay(t *testing.T) {
	base := time.Unix(3_000_000, 0)
	now := base.Add(40 * time.Millisecond)
	got := make(chan time.Duration, 1)
	var s *Scheduler
	s, err := New(8, func(time.Time, []int) { got <- s.BatchLateness() },
		Options{Slack: time.Millisecond, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s.Reset(1, base)
	s.Reset(2, base.Add(30*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	select {
	case late := <-got:
		if late != 40*time.Millisecond {
			t.Fatalf("BatchLateness() = %v in the callback, want 40ms", late)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the due ids did not fire")
	}
}

// The engine's timers must never fire early: Skew_Time and
// Master_Down_Interval (RFC 5798 §6.4.2) are minimum waits. Run checks the
// heap itself after every wake-up, so an alarm that came early costs a pass,
// never an early fire; this holds it to that with both alarms.
func TestRunNeverFiresBeforeTheDeadline(t *testing.T) {
	for _, rt := range []bool{false, true} {
		t.Run(map[bool]string{false: "timerfd", true: "runtime-timer"}[rt], func(t *testing.T) {
			const n = 6
			var mu sync.Mutex
			due := make([]time.Time, n)
			var early []string
			fired := 0
			done := make(chan struct{})
			s, err := New(n, func(_ time.Time, ids []int) {
				at := time.Now()
				mu.Lock()
				defer mu.Unlock()
				for _, id := range ids {
					if at.Before(due[id]) {
						early = append(early, fmt.Sprintf("id %d %v early", id, due[id].Sub(at)))
					}
					if fired++; fired == n {
						close(done)
					}
				}
			}, Options{Slack: time.Nanosecond, RuntimeTimer: rt})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			mu.Lock()
			for i := range n {
				// Odd offsets, so no deadline falls on a millisecond.
				due[i] = now.Add(time.Duration(i+1)*7*time.Millisecond + 373*time.Microsecond)
				s.Reset(i, due[i])
			}
			mu.Unlock()
			runUntil(t, s, done)
			mu.Lock()
			defer mu.Unlock()
			if len(early) > 0 {
				t.Fatalf("fired before the deadline: %v", early)
			}
		})
	}
}

// A Reset to an earlier deadline replaces the alarm's setting: the id fires
// at its new deadline, not at the old one an hour away.
func TestResetToAnEarlierDeadlineWakesTheTimerfdAlarm(t *testing.T) {
	fired := make(chan time.Time, 1)
	s, err := New(1, func(now time.Time, _ []int) { fired <- now }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Reset(0, time.Now().Add(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	time.Sleep(20 * time.Millisecond) // Run is asleep on the hour-long setting
	want := time.Now().Add(15 * time.Millisecond)
	s.Reset(0, want)
	select {
	case at := <-fired:
		if at.Before(want) {
			t.Fatalf("fired %v before its deadline", want.Sub(at))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the earlier deadline did not fire within 10s")
	}
}

// Closing the timerfd alarm ends its reader goroutine.
func TestTimerfdAlarmCloses(t *testing.T) {
	a, err := newTimerfdAlarm()
	if err != nil {
		t.Fatal(err)
	}
	a.set(time.Millisecond)
	select {
	case <-a.fired():
	case <-time.After(10 * time.Second):
		t.Fatal("a 1ms timerfd did not fire within 10s")
	}
	before := runtime.NumGoroutine()
	a.close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() >= before {
		if time.Now().After(deadline) {
			t.Fatalf("reader goroutine still running after close (%d goroutines)", runtime.NumGoroutine())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestThread_FiresOnTheLockedThread: with Options.Thread, Run calls it on
// one OS thread and fires every batch on that same thread (the one
// vrrp_rt_priority makes real-time), waking for a deadline set while it
// waits with an empty heap and for one set later that is earlier.
func TestThread_FiresOnTheLockedThread(t *testing.T) {
	var setupTID atomic.Int64
	fired := make(chan int, 16)
	var s *Scheduler
	s, err := New(4, func(now time.Time, ids []int) {
		for _, id := range ids {
			fired <- id
		}
		if tid := int64(unix.Gettid()); tid != setupTID.Load() {
			t.Errorf("fired on thread %d, Thread ran on %d", tid, setupTID.Load())
		}
	}, Options{Thread: func() { setupTID.Store(int64(unix.Gettid())) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	s.Reset(1, time.Now().Add(time.Hour))
	s.Reset(2, time.Now().Add(20*time.Millisecond))
	select {
	case id := <-fired:
		if id != 2 {
			t.Fatalf("fired %d, want 2", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the earlier deadline set while waiting never fired")
	}
	if setupTID.Load() == 0 {
		t.Fatal("Thread was not called")
	}
}
