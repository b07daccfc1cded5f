package fsm

import (
	"testing"
	"time"
)

// The per-advert paths: a backup receiving its master's advert, a master
// answering a lower-priority advert, a master's advert timer.

func backupForBench(tb testing.TB) (*Machine, time.Time) {
	m, err := New(cfg(nil))
	if err != nil {
		tb.Fatal(err)
	}
	m.Handle(Event{Kind: EventStartup}, t0, nil)
	return m, t0
}

func TestAllocs_PerAdvertPathsAllocateNothing(t *testing.T) {
	m, now := backupForBench(t)
	ev := Event{Kind: EventAdvert, Advert: Advert{Src: highIP, Priority: 150, Interval: time.Second, Version: 3}}
	out := make([]Action, 0, 8)
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Second)
		out = m.Handle(ev, now, out[:0])
	}); n != 0 {
		t.Errorf("backup receiving an advert: %v allocs, want 0", n)
	}
	master, err := New(cfg(func(c *Config) { c.Priority = 255 }))
	if err != nil {
		t.Fatal(err)
	}
	master.Handle(Event{Kind: EventStartup}, t0, nil)
	low := Event{Kind: EventAdvert, Advert: Advert{Src: highIP, Priority: 50, Interval: time.Second, Version: 3}}
	if n := testing.AllocsPerRun(1000, func() {
		out = master.Handle(low, t0, out[:0])
		out = master.Handle(Event{Kind: EventTimer}, master.NextDeadline(), out[:0])
	}); n != 0 {
		t.Errorf("master advert paths: %v allocs, want 0", n)
	}
	if master.Stats().AdvertsSent < 2000 {
		t.Errorf("master sent %d adverts, the loop did not exercise it", master.Stats().AdvertsSent)
	}
}

func BenchmarkStep(b *testing.B) {
	b.Run("BackupReceivesMasterAdvert", func(b *testing.B) {
		m, now := backupForBench(b)
		ev := Event{Kind: EventAdvert, Advert: Advert{Src: highIP, Priority: 150, Interval: time.Second, Version: 3}}
		out := make([]Action, 0, 8)
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(time.Millisecond)
			out = m.Handle(ev, now, out[:0])
		}
	})
	b.Run("MasterAnswersLowerPriority", func(b *testing.B) {
		m, _ := New(cfg(func(c *Config) { c.Priority = 255 }))
		m.Handle(Event{Kind: EventStartup}, t0, nil)
		ev := Event{Kind: EventAdvert, Advert: Advert{Src: highIP, Priority: 50, Interval: time.Second, Version: 3}}
		out := make([]Action, 0, 8)
		b.ReportAllocs()
		for b.Loop() {
			out = m.Handle(ev, t0, out[:0])
		}
	})
	b.Run("MasterAdverTimer", func(b *testing.B) {
		m, _ := New(cfg(func(c *Config) { c.Priority = 255 }))
		m.Handle(Event{Kind: EventStartup}, t0, nil)
		ev := Event{Kind: EventTimer}
		out := make([]Action, 0, 8)
		b.ReportAllocs()
		for b.Loop() {
			out = m.Handle(ev, m.NextDeadline(), out[:0])
		}
	})
}
