package fsm

import (
	"errors"
	"testing"
	"time"
)

// A reload that changes only the priority of a master keeps it master and
// the next advert carries the new priority (keepalived reload: an instance
// whose identity is unchanged keeps its state; nothing is sent or notified
// for it).
func TestReconfigure_MasterPriorityChangeKeepsState_Keepalived(t *testing.T) {
	h := newHarness(t, cfg(func(c *Config) { c.Priority = 200; c.InitialState = StateMaster }))
	h.start()
	h.fire() // Skew_Time with no master heard: MASTER
	h.wantState(StateMaster)
	next := h.m.NextDeadline()
	if err := h.m.Reconfigure(cfg(func(c *Config) { c.Priority = 190; c.InitialState = StateMaster }), h.now); err != nil {
		t.Fatalf("Reconfigure: %v", err)
	}
	h.wantState(StateMaster)
	if got := h.m.EffectivePriority(); got != 190 {
		t.Fatalf("effective priority %d, want 190", got)
	}
	if !h.m.NextDeadline().Equal(next) {
		t.Fatalf("Adver_Timer moved from %v to %v", next, h.m.NextDeadline())
	}
	acts := h.fire()
	if got := sentPrio(t, acts); got != 190 {
		t.Fatalf("next advert priority %d, want 190", got)
	}
	if has(acts, ActionTransition) {
		t.Fatalf("a transition after a priority change: %+v", acts)
	}
}

// A backup whose new priority beats its master preempts through the
// ordinary election: it ignores the master's lower-priority adverts and
// takes over when its Master_Down_Timer expires (RFC 5798 §6.4.2).
func TestReconfigure_BackupRaisedAbovePreemptsByElection_RFC5798(t *testing.T) {
	h := newHarness(t, cfg(func(c *Config) { c.Priority = 100 }))
	h.start()
	h.advert(highIP, 150, time.Second)
	h.wantState(StateBackup)
	if err := h.m.Reconfigure(cfg(func(c *Config) { c.Priority = 200 }), h.now); err != nil {
		t.Fatalf("Reconfigure: %v", err)
	}
	h.wantState(StateBackup)
	h.advance(time.Second)
	if acts := h.advert(highIP, 150, time.Second); has(acts, ActionTransition) {
		t.Fatalf("took over on the advert itself: %+v", acts)
	}
	a := transition(t, h.fire())
	if a.To != StateMaster || a.Cause != CausePreempt {
		t.Fatalf("transition %v (%s), want MASTER by preemption", a.To, a.Cause)
	}
}

// The master's interval change applies from the next advert on: a shorter
// interval brings the next advert forward to at most one new interval.
func TestReconfigure_MasterIntervalShortened(t *testing.T) {
	h := newHarness(t, cfg(func(c *Config) { c.Priority = 200; c.InitialState = StateMaster }))
	h.start()
	h.fire()
	h.wantState(StateMaster)
	if err := h.m.Reconfigure(cfg(func(c *Config) {
		c.Priority = 200
		c.InitialState = StateMaster
		c.AdvertInterval = 100 * time.Millisecond
	}), h.now); err != nil {
		t.Fatalf("Reconfigure: %v", err)
	}
	if got, want := h.m.NextDeadline(), h.now.Add(100*time.Millisecond); !got.Equal(want) {
		t.Fatalf("next advert at %v, want %v", got, want)
	}
	h.fire()
	if got, want := h.m.NextDeadline(), h.now.Add(100*time.Millisecond); !got.Equal(want) {
		t.Fatalf("advert after that at %v, want %v", got, want)
	}
}

// Name, VRID, version and address ownership make the virtual router; a
// change of one needs a new machine.
func TestReconfigure_IdentityChangeRefused(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"VRID":    func(c *Config) { c.VRID = 52 },
		"Version": func(c *Config) { c.Version = 2 },
		"Name":    func(c *Config) { c.Name = "VI_2" },
		"Owner":   func(c *Config) { c.Priority = 255 },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, cfg(nil))
			h.start()
			if err := h.m.Reconfigure(cfg(mod), h.now); !errors.Is(err, ErrIdentityChanged) {
				t.Fatalf("Reconfigure: %v, want ErrIdentityChanged", err)
			}
			if got := h.m.EffectivePriority(); got != 100 {
				t.Fatalf("priority %d after a refused Reconfigure, want 100", got)
			}
		})
	}
}
