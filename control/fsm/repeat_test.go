package fsm

import (
	"testing"
	"time"
)

// TestRepeatOnlyRestartsTimer_RFC5798_6_4_2: a repeat of the master's
// advert only restarts a backup's Master_Down_Timer when the backup yields
// to it (§6.4.2: Preempt_Mode False, or priority >= ours) and waits on that
// timer; never for priority 0 (Skew_Time), a master, or a lower priority
// held only by keepalived's preempt_delay.
func TestRepeatOnlyRestartsTimer_RFC5798_6_4_2(t *testing.T) {
	for _, c := range []struct {
		name  string
		mod   func(*Config)
		setup func(h *harness)
		prio  uint8
		want  bool
	}{
		{"HigherPriorityMaster", nil, nil, 200, true},
		{"EqualPriorityMaster", nil, nil, 100, true},
		{"LowerPriorityMasterPreempted", nil, nil, 50, false},
		{"LowerPriorityMasterNoPreempt_Keepalived", func(c *Config) { c.NoPreempt = true }, nil, 50, true},
		{"LowerPriorityHeldByPreemptDelay_Keepalived", func(c *Config) { c.PreemptDelay = time.Minute }, nil, 50, false},
		{"PriorityZero_SkewTime", nil, nil, PriorityStop, false},
		{"NotABackup", nil, func(h *harness) { h.fire() }, 200, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, cfg(c.mod))
			h.start()
			h.wantState(StateBackup)
			if c.setup != nil {
				c.setup(h)
			}
			if got := h.m.RepeatOnlyRestartsTimer(c.prio); got != c.want {
				t.Fatalf("RepeatOnlyRestartsTimer(%d) in %v = %v, want %v", c.prio, h.m.State(), got, c.want)
			}
			if !c.want || h.m.State() != StateBackup {
				return
			}
			// What the answer promises: delivering the repeat changes
			// nothing but the deadline.
			h.advert(highIP, c.prio, time.Second)
			before, prio0 := h.m.NextDeadline(), h.m.EffectivePriority()
			h.advance(10 * time.Millisecond)
			acts := h.advert(highIP, c.prio, time.Second)
			if len(acts) != 0 || h.m.State() != StateBackup || h.m.EffectivePriority() != prio0 ||
				!h.m.NextDeadline().Equal(before.Add(10*time.Millisecond)) {
				t.Fatalf("repeat: actions %v, state %v, deadline moved by %v", acts, h.m.State(), h.m.NextDeadline().Sub(before))
			}
		})
	}
}
