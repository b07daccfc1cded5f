// Package sched fires the timers of thousands of VRRP instances from one
// goroutine: a binary heap of deadlines indexed by instance id, woken by a
// single timer (a timerfd: see alarm), firing everything due in one batch
// callback.
//
// Why not one time.Timer per instance: see the benchmarks in this package
// (BenchmarkSchedulerLateness vs BenchmarkTimerPerInstanceLateness); the heap
// keeps the per-advert path free of allocation and lets the runtime send the
// adverts of one tick together.
package sched

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// FireFunc receives the ids whose deadline has come, with the instant they
// are due: the clock when they were taken off the heap, or the latest
// deadline of the batch when Slack took ids a little early (so that their
// timers are due at that instant and are not re-armed for a second wake-up).
// ids is reused after the call returns. It runs on the scheduler goroutine
// and may call Reset/Remove.
type FireFunc func(now time.Time, ids []int)

// Options tune the scheduler. The zero value is usable.
type Options struct {
	// Slack batches deadlines that fall within Slack after the earliest due
	// one into the same callback, trading that much earliness for fewer
	// wake-ups. 0 means 100µs.
	Slack time.Duration
	// Spin: wake this long before the earliest deadline and yield until it
	// is due. 0 or negative disables it, the default: it burns a CPU for
	// up to Spin per wake-up, and the timerfd alarm gets most of its
	// precision without that (BenchmarkSchedulerLateness; figures in
	// docs/benchmarks.md).
	Spin time.Duration
	// RuntimeTimer waits on the Go runtime's timer instead of a timerfd
	// (see alarm): the benchmark's baseline. Without a timerfd the
	// scheduler falls back to it.
	RuntimeTimer bool
	// Now replaces time.Now (tests).
	Now func() time.Time
	// Thread, when set, makes Run hold its goroutine on one OS thread
	// (runtime.LockOSThread), call Thread there first (xvrrpd:
	// procsched.EnterRealtime for vrrp_rt_priority) and wait in a blocking
	// poll(2) on a timerfd and an eventfd rather than in the runtime's
	// poller: a real-time thread is then woken by the kernel itself, not
	// by whichever SCHED_OTHER thread polls for the runtime, which a CPU
	// hog can hold off. Fire runs on that thread too, so the adverts it
	// sends leave from it.
	Thread func()
}

// Scheduler is a deadline heap. Reset, Remove and Lateness are safe from any
// goroutine; Run must be called once.
type Scheduler struct {
	mu    sync.Mutex
	at    []int64 // deadline per id in ns since base; 0 = none
	pos   []int32 // index of id in heap, -1 if absent
	heap  []int32
	batch []int
	fire  FireFunc
	wake  chan struct{}
	opts  Options
	base  time.Time
	hist  Histogram
	late  time.Duration // of the batch being fired: how late its earliest id
	efd   atomic.Int32  // Thread mode: the eventfd Reset writes; 0 otherwise
}

// New makes a scheduler for ids 0..capacity-1.
func New(capacity int, fire FireFunc, opts Options) (*Scheduler, error) {
	if capacity <= 0 || capacity > 1<<24 {
		return nil, fmt.Errorf("scheduler capacity %d out of range 1..%d", capacity, 1<<24)
	}
	if fire == nil {
		return nil, fmt.Errorf("scheduler needs a fire callback")
	}
	if opts.Slack == 0 {
		opts.Slack = 100 * time.Microsecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Scheduler{
		at:    make([]int64, capacity),
		pos:   make([]int32, capacity),
		heap:  make([]int32, 0, capacity),
		batch: make([]int, 0, capacity),
		fire:  fire,
		wake:  make(chan struct{}, 1),
		opts:  opts,
	}
	s.base = opts.Now().Add(-time.Second) // deadlines are always > 0
	for i := range s.pos {
		s.pos[i] = -1
	}
	return s, nil
}

func (s *Scheduler) ns(t time.Time) int64 { return int64(t.Sub(s.base)) }

// Reset schedules id at t (replacing any earlier deadline). A zero t removes.
func (s *Scheduler) Reset(id int, t time.Time) {
	if t.IsZero() {
		s.Remove(id)
		return
	}
	s.mu.Lock()
	if id < 0 || id >= len(s.at) {
		s.mu.Unlock()
		return
	}
	d := max(s.ns(t), 1)
	s.at[id] = d
	if p := s.pos[id]; p >= 0 {
		s.fix(int(p))
	} else {
		s.pos[id] = int32(len(s.heap))
		s.heap = append(s.heap, int32(id))
		s.up(len(s.heap) - 1)
	}
	top := s.heap[0] == int32(id)
	s.mu.Unlock()
	if top {
		s.kick()
	}
}

// kick wakes Run to look at the heap again.
func (s *Scheduler) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
	if fd := s.efd.Load(); fd > 0 {
		kickEventfd(int(fd))
	}
}

// Remove unschedules id.
func (s *Scheduler) Remove(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 0 || id >= len(s.at) || s.pos[id] < 0 {
		return
	}
	s.removeAt(int(s.pos[id]))
}

// Len is the number of scheduled ids.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.heap)
}

// Lateness returns a snapshot of how late ids were fired.
func (s *Scheduler) Lateness() Histogram {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hist
}

// BatchLateness is how late the batch being fired (or the last one) came:
// the time between its earliest deadline and the scheduler taking it. A
// large figure means the process did not get the CPU in time.
func (s *Scheduler) BatchLateness() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.late
}

// ResetLateness clears the lateness histogram (after warm-up).
func (s *Scheduler) ResetLateness() {
	s.mu.Lock()
	s.hist = Histogram{}
	s.mu.Unlock()
}

// Run fires due ids until ctx is done.
func (s *Scheduler) Run(ctx context.Context) {
	var wake alarm
	var blocking *threadAlarm
	if s.opts.Thread != nil {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		s.opts.Thread()
		if a, err := newThreadAlarm(ctx); err == nil {
			blocking = a
			s.efd.Store(int32(a.efd))
			defer func() { s.efd.Store(0); a.close() }()
		}
	}
	if blocking != nil {
		wake = blocking
	} else {
		wake = newAlarm(s.opts.RuntimeTimer)
		defer wake.close()
	}
	for {
		s.mu.Lock()
		now := s.opts.Now()
		n := s.ns(now)
		s.batch = s.batch[:0]
		next := int64(0)
		if len(s.heap) > 0 && s.at[s.heap[0]] <= n {
			s.late = time.Duration(n - s.at[s.heap[0]])
			limit := n + int64(s.opts.Slack)
			for len(s.heap) > 0 && s.at[s.heap[0]] <= limit {
				id := s.heap[0]
				if at := s.at[id]; at > n {
					now = now.Add(time.Duration(at - n))
					n = at
				}
				s.hist.Add(time.Duration(n - s.at[id]))
				s.removeAt(0)
				s.batch = append(s.batch, int(id))
			}
		} else if len(s.heap) > 0 {
			next = s.at[s.heap[0]]
		}
		s.mu.Unlock()
		if len(s.batch) > 0 {
			s.fire(now, s.batch)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if next == 0 && blocking != nil {
			blocking.block(-1)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if next == 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
			continue
		}
		wait := time.Duration(next - n)
		if s.opts.Spin > 0 && wait <= s.opts.Spin {
			// Close to the deadline: yield-spin the remainder (≤ Spin per
			// wake) rather than trust any timer with it.
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			default:
				spinYield()
			}
			continue
		}
		if s.opts.Spin > 0 {
			wait -= s.opts.Spin
		}
		// Armed afresh on every pass, so an earlier setting or a wake-up
		// left pending by a Reset costs at most one extra pass.
		if blocking != nil {
			blocking.block(wait)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		wake.set(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-wake.fired():
		}
	}
}

// less orders by deadline, then by id: instances due at the same instant
// (all that started together) fire in the same order every time, so each
// one's adverts keep their spacing instead of taking a random place in the
// batch.
func (s *Scheduler) less(i, j int) bool {
	a, b := s.heap[i], s.heap[j]
	return s.at[a] < s.at[b] || s.at[a] == s.at[b] && a < b
}

func (s *Scheduler) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.pos[s.heap[i]] = int32(i)
	s.pos[s.heap[j]] = int32(j)
}

func (s *Scheduler) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *Scheduler) down(i int) bool {
	start := i
	n := len(s.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && s.less(r, l) {
			c = r
		}
		if !s.less(c, i) {
			break
		}
		s.swap(i, c)
		i = c
	}
	return i > start
}

func (s *Scheduler) fix(i int) {
	if !s.down(i) {
		s.up(i)
	}
}

func (s *Scheduler) removeAt(i int) {
	id := s.heap[i]
	last := len(s.heap) - 1
	if i != last {
		s.swap(i, last)
	}
	s.heap = s.heap[:last]
	s.pos[id] = -1
	s.at[id] = 0
	if i < last {
		s.fix(i)
	}
}
