package sched

import (
	"context"
	"flag"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("timers did not fire within 10s")
	}
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

var benchDuration = flag.Duration("sched.duration", 10*time.Second, "how long the scheduler lateness benchmarks run")

const (
	benchInstances = 1000
	benchInterval  = 10 * time.Millisecond
)

// newMasters makes n fsm machines in MASTER (owners) so the benchmark's
// callback does the real per-advert work: a state-machine step producing a
// SendAdvert action, into a reused slice.
func newMasters(b *testing.B, n int, now time.Time) []*fsm.Machine {
	ms := make([]*fsm.Machine, n)
	var out []fsm.Action
	for i := range ms {
		m, err := fsm.New(fsm.Config{Name: "bench", VRID: uint8(i%255 + 1), Version: 3, Priority: 255,
			AdvertInterval: benchInterval, PrimaryAddr: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})})
		if err != nil {
			b.Fatal(err)
		}
		out = m.Handle(fsm.Event{Kind: fsm.EventStartup}, now, out[:0])
		if m.State() != fsm.StateMaster {
			b.Fatalf("machine %d in %v, want MASTER", i, m.State())
		}
		ms[i] = m
	}
	return ms
}

func report(b *testing.B, h *Histogram, sent uint64) {
	b.ReportMetric(float64(h.Quantile(0.50).Microseconds())/1000, "p50-late-ms")
	b.ReportMetric(float64(h.Quantile(0.99).Microseconds())/1000, "p99-late-ms")
	b.ReportMetric(float64(h.Max().Microseconds())/1000, "max-late-ms")
	b.ReportMetric(float64(sent), "adverts")
}

// BenchmarkSchedulerLateness: 1,000 instances at 10 ms for -sched.duration
// (default 10 s) on the heap scheduler; reports advert lateness.
// Run with -benchtime=1x.
func BenchmarkSchedulerLateness(b *testing.B) {
	for _, spin := range []time.Duration{-1, time.Millisecond} {
		name := "spin=off"
		if spin > 0 {
			name = "spin=1ms"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				benchHeap(b, spin)
			}
		})
	}
}

func benchHeap(b *testing.B, spin time.Duration) {
	start := time.Now()
	ms := newMasters(b, benchInstances, start)
	var sent atomic.Uint64
	var s *Scheduler
	out := make([]fsm.Action, 0, 8)
	s, err := New(benchInstances, func(now time.Time, ids []int) {
		for _, id := range ids {
			out = ms[id].Handle(fsm.Event{Kind: fsm.EventTimer}, now, out[:0])
			sent.Add(uint64(len(out)))
			s.Reset(id, ms[id].NextDeadline())
		}
	}, Options{Spin: spin})
	if err != nil {
		b.Fatal(err)
	}
	// Spread the phases over one interval, as instances started at random.
	r := rand.New(rand.NewPCG(3, 4))
	for i, m := range ms {
		_ = m
		s.Reset(i, start.Add(time.Duration(r.Int64N(int64(benchInterval)))))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *benchDuration)
	defer cancel()
	b.ResetTimer()
	s.Run(ctx)
	b.StopTimer()
	h := s.Lateness()
	report(b, &h, sent.Load())
}

// BenchmarkTimerPerInstanceLateness is the alternative: one time.AfterFunc
// per instance, each re-armed from its own callback.
func BenchmarkTimerPerInstanceLateness(b *testing.B) {
	for range b.N {
		start := time.Now()
		ms := newMasters(b, benchInstances, start)
		var mu sync.Mutex
		var h Histogram
		var sent atomic.Uint64
		var stop atomic.Bool
		timers := make([]*time.Timer, benchInstances)
		first := make([]time.Time, benchInstances)
		r := rand.New(rand.NewPCG(3, 4))
		for i := range ms {
			i := i
			out := make([]fsm.Action, 0, 8)
			deadline := start.Add(time.Duration(r.Int64N(int64(benchInterval))))
			first[i] = deadline
			var mmu sync.Mutex
			timers[i] = time.AfterFunc(time.Hour, func() {
				if stop.Load() {
					return
				}
				now := time.Now()
				mmu.Lock()
				late := now.Sub(deadline)
				out = ms[i].Handle(fsm.Event{Kind: fsm.EventTimer}, now, out[:0])
				deadline = ms[i].NextDeadline()
				d := time.Until(deadline)
				mmu.Unlock()
				mu.Lock()
				h.Add(late)
				mu.Unlock()
				sent.Add(uint64(len(out)))
				timers[i].Reset(d)
			})
		}
		for i, t := range timers {
			t.Reset(time.Until(first[i]))
		}
		b.ResetTimer()
		time.Sleep(*benchDuration) // the benchmark's measured period, not synchronisation
		stop.Store(true)
		for _, t := range timers {
			t.Stop()
		}
		b.StopTimer()
		mu.Lock()
		report(b, &h, sent.Load())
		mu.Unlock()
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
