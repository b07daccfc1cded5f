package fsm

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	t0     = time.Unix(1_700_000_000, 0)
	ourIP  = netip.MustParseAddr("198.18.0.10")
	lowIP  = netip.MustParseAddr("198.18.0.5")
	highIP = netip.MustParseAddr("198.18.0.20")
)

func cfg(mod func(*Config)) Config {
	c := Config{Name: "VI_1", VRID: 51, Version: 3, Priority: 100, AdvertInterval: time.Second,
		InitialState: StateBackup, PrimaryAddr: ourIP}
	if mod != nil {
		mod(&c)
	}
	return c
}

// harness drives one machine with a fake clock.
type harness struct {
	t   *testing.T
	m   *Machine
	now time.Time
	out []Action
}

func newHarness(t *testing.T, c Config) *harness {
	t.Helper()
	m, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &harness{t: t, m: m, now: t0}
}

func (h *harness) ev(e Event) []Action {
	h.out = h.m.Handle(e, h.now, h.out[:0])
	return h.out
}
func (h *harness) start() []Action { return h.ev(Event{Kind: EventStartup}) }
func (h *harness) advert(src netip.Addr, prio uint8, interval time.Duration) []Action {
	return h.ev(Event{Kind: EventAdvert, Advert: Advert{Src: src, Priority: prio, Interval: interval, Version: h.m.cfg.Version}})
}

// fire advances the clock to the machine's deadline and delivers Timer.
func (h *harness) fire() []Action {
	h.t.Helper()
	d := h.m.NextDeadline()
	if d.IsZero() {
		h.t.Fatalf("no deadline in %v", h.m.State())
	}
	h.now = d
	return h.ev(Event{Kind: EventTimer})
}
func (h *harness) advance(d time.Duration) { h.now = h.now.Add(d) }

func (h *harness) wantState(s State) {
	h.t.Helper()
	if h.m.State() != s {
		h.t.Fatalf("state %v, want %v", h.m.State(), s)
	}
}

func has(acts []Action, k ActionKind) bool { return count(acts, k) > 0 }
func count(acts []Action, k ActionKind) int {
	n := 0
	for _, a := range acts {
		if a.Kind == k {
			n++
		}
	}
	return n
}
func sentPrio(t *testing.T, acts []Action) uint8 {
	t.Helper()
	for _, a := range acts {
		if a.Kind == ActionSendAdvert {
			return a.Priority
		}
	}
	t.Fatalf("no SendAdvert in %+v", acts)
	return 0
}
func transition(t *testing.T, acts []Action) Action {
	t.Helper()
	if n := count(acts, ActionTransition); n != 1 {
		t.Fatalf("%d Transition actions in %+v, want exactly 1", n, acts)
	}
	for _, a := range acts {
		if a.Kind == ActionTransition {
			if a.Reason == "" {
				t.Fatalf("transition %v→%v without a reason", a.From, a.To)
			}
			return a
		}
	}
	return Action{}
}

func TestTimers_SkewAndMasterDownInterval(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		prio                 uint8
		interval             time.Duration
		adverts              int
		wantSkew, wantMaster time.Duration
	}{
		{"RFC5798_6.1_prio100_1s", 100, time.Second, 0, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{"RFC5798_6.1_prio255_1s", 255, time.Second, 3, 3906 * time.Microsecond, 3003906 * time.Microsecond},
		// 10 ms at priority 250: the RFC's centiseconds would truncate the
		// skew (234 µs) to 0; microseconds keep it.
		{"Microseconds_prio250_10ms", 250, 10 * time.Millisecond, 3, 234 * time.Microsecond, 30234 * time.Microsecond},
		{"DownTimerAdverts_5", 100, time.Second, 5, 609375 * time.Microsecond, 5609375 * time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SkewTime(tc.prio, tc.interval); got != tc.wantSkew {
				t.Errorf("SkewTime = %v, want %v", got, tc.wantSkew)
			}
			if got := MasterDownInterval(tc.adverts, tc.prio, tc.interval); got != tc.wantMaster {
				t.Errorf("MasterDownInterval = %v, want %v", got, tc.wantMaster)
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"VRIDZero", func(c *Config) { c.VRID = 0 }, "virtual_router_id"},
		{"BadVersion", func(c *Config) { c.Version = 4 }, "version"},
		{"PriorityZero", func(c *Config) { c.Priority = 0 }, "priority 0"},
		{"NoInterval", func(c *Config) { c.AdvertInterval = 0 }, "advert_int"},
		{"BadInitialState", func(c *Config) { c.InitialState = StateFault }, "state must be"},
		{"NegativePreemptDelay", func(c *Config) { c.PreemptDelay = -1 }, "preempt_delay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(cfg(tc.mod))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestStartup(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mod       func(*Config)
		want      State
		wantAdv   bool
		wantDelay time.Duration // NextDeadline - t0
	}{
		{"BackupStartsWithFullDownTimer", nil, StateBackup, false, 3609375 * time.Microsecond},
		{"OwnerGoesStraightToMaster_RFC5798_6.4.1", func(c *Config) { c.Priority = 255 }, StateMaster, true, time.Second},
		{"InitialMasterWaitsSkewTime", func(c *Config) { c.InitialState = StateMaster }, StateBackup, false, 609375 * time.Microsecond},
		{"NoSourceAddressStartsInFault", func(c *Config) { c.PrimaryAddr = netip.Addr{} }, StateFault, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfg(tc.mod))
			acts := h.start()
			h.wantState(tc.want)
			tr := transition(t, acts)
			if tr.From != StateInit || tr.To != tc.want {
				t.Errorf("transition %v→%v, want INIT→%v", tr.From, tr.To, tc.want)
			}
			if has(acts, ActionSendAdvert) != tc.wantAdv {
				t.Errorf("SendAdvert = %v, want %v", has(acts, ActionSendAdvert), tc.wantAdv)
			}
			if tc.want == StateMaster && (!has(acts, ActionAddVIPs) || !has(acts, ActionSendGratuitous)) {
				t.Errorf("master without AddVIPs+SendGratuitous: %+v", acts)
			}
			var got time.Duration
			if d := h.m.NextDeadline(); !d.IsZero() {
				got = d.Sub(t0)
			}
			if got != tc.wantDelay {
				t.Errorf("deadline in %v, want %v", got, tc.wantDelay)
			}
		})
	}
}

func TestBackup_MasterDownTimerExpired_BecomesMaster(t *testing.T) {
	h := newHarness(t, cfg(nil))
	h.start()
	acts := h.fire()
	h.wantState(StateMaster)
	tr := transition(t, acts)
	if !strings.Contains(tr.Reason, "master down interval 3.609375s expired") {
		t.Errorf("reason %q", tr.Reason)
	}
	if sentPrio(t, acts) != 100 || !has(acts, ActionAddVIPs) || !has(acts, ActionSendGratuitous) {
		t.Errorf("actions %+v", acts)
	}
	// RFC 5798 §6.4.3: the Adver_Timer then fires every Advertisement_Interval.
	acts = h.fire()
	if h.now.Sub(t0) != 3609375*time.Microsecond+time.Second || sentPrio(t, acts) != 100 || has(acts, ActionTransition) {
		t.Errorf("adver timer at %v: %+v", h.now.Sub(t0), acts)
	}
}

func TestBackup_AdvertResetsDownTimer(t *testing.T) {
	h := newHarness(t, cfg(nil))
	h.start()
	h.advance(3 * time.Second)
	acts := h.advert(highIP, 150, time.Second)
	if len(acts) != 0 {
		t.Fatalf("backup accepting a master produced %+v", acts)
	}
	if got := h.m.NextDeadline().Sub(h.now); got != 3609375*time.Microsecond {
		t.Errorf("down timer %v after advert, want 3.609375s", got)
	}
	if a, p := h.m.Master(); a != highIP || p != 150 {
		t.Errorf("master = %v/%d", a, p)
	}
}

func TestV3_BackupAdoptsMasterInterval_RevertsAsMaster(t *testing.T) {
	h := newHarness(t, cfg(nil))
	h.start()
	h.advert(highIP, 150, 200*time.Millisecond)
	if h.m.MasterAdverInterval() != 200*time.Millisecond {
		t.Fatalf("Master_Adver_Interval = %v, want the advertised 200ms", h.m.MasterAdverInterval())
	}
	if got := h.m.NextDeadline().Sub(h.now); got != 3*200*time.Millisecond+SkewTime(100, 200*time.Millisecond) {
		t.Errorf("down timer %v", got)
	}
	h.fire()
	h.wantState(StateMaster)
	if h.m.MasterAdverInterval() != time.Second {
		t.Errorf("as master uses %v, want own 1s", h.m.MasterAdverInterval())
	}
	before := h.now
	h.fire()
	if h.now.Sub(before) != time.Second {
		t.Errorf("master advert period %v, want own 1s", h.now.Sub(before))
	}
}

func TestPreempt(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mod        func(*Config)
		masterPrio uint8
		// wantMasterAfter: latest takeover time after startup, 0 = never within 30s.
		wantMasterAfter time.Duration
	}{
		// RFC 5798 §6.4.2: preempt → a lower-priority advert is discarded,
		// the down timer expires, we take over.
		{"Preempt_LowerMasterDiscarded_TakeOverAfterDownInterval", nil, 50, 3609375 * time.Microsecond},
		{"Preempt_HigherMasterKept", nil, 150, 0},
		{"Preempt_EqualPriorityMasterKept", nil, 100, 0},
		// keepalived nopreempt: a lower-priority master is accepted.
		{"NoPreempt_LowerMasterKept", func(c *Config) { c.NoPreempt = true }, 50, 0},
		// keepalived preempt_delay: lower-priority adverts are accepted until
		// the delay since startup has passed, then discarded.
		{"PreemptDelay_TakeOverAfterDelayPlusDownInterval", func(c *Config) { c.PreemptDelay = 10 * time.Second }, 50, 10*time.Second + 3609375*time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfg(tc.mod))
			h.start()
			h.advance(500 * time.Millisecond)
			for i := 0; i < 30; i++ {
				if h.m.State() == StateMaster {
					break
				}
				next := h.now.Add(time.Second)
				if d := h.m.NextDeadline(); !d.IsZero() && d.Before(next) {
					acts := h.fire()
					if h.m.State() == StateMaster {
						tr := transition(t, acts)
						if tc.masterPrio < 100 && !strings.Contains(tr.Reason, "preempt: our priority 100 > master's 50") {
							t.Errorf("reason %q", tr.Reason)
						}
					}
					continue
				}
				h.now = next
				h.advert(lowIP, tc.masterPrio, time.Second)
			}
			took := h.m.State() == StateMaster
			if took != (tc.wantMasterAfter > 0) {
				t.Fatalf("became master = %v, want %v", took, tc.wantMasterAfter > 0)
			}
			if took {
				// Adverts come every second from first; the takeover is one
				// down interval after the last accepted one (or startup).
				got := h.now.Sub(t0)
				if got > tc.wantMasterAfter || got < tc.wantMasterAfter-time.Second {
					t.Errorf("took over %v after startup, want within 1s before %v", got, tc.wantMasterAfter)
				}
			}
		})
	}
}

func TestNoPreempt_IgnoredWithInitialMaster(t *testing.T) {
	m, err := New(cfg(func(c *Config) { c.NoPreempt = true; c.InitialState = StateMaster }))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config().NoPreempt || len(m.Warnings()) != 1 {
		t.Fatalf("nopreempt kept with state MASTER: %+v %v", m.Config(), m.Warnings())
	}
}

func TestMaster_Advert(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mod       func(*Config)
		ourPrio   uint8
		src       netip.Addr
		prio      uint8
		want      State
		wantSends int
		wantPrio  uint8 // priority of the advert sent, if any
		reason    string
	}{
		{"HigherPriority_YieldsToBackup_RFC5798_6.4.3", nil, 100, lowIP, 150, StateBackup, 0, 0, "higher priority 150 from 198.18.0.5"},
		{"EqualPriorityHigherAddress_Yields_RFC5798_6.4.3", nil, 100, highIP, 100, StateBackup, 0, 0, "equal priority 100 from higher address 198.18.0.20"},
		{"EqualPriorityLowerAddress_StaysAndAnswers", nil, 100, lowIP, 100, StateMaster, 1, 100, ""},
		{"LowerPriority_AnswersAtOnce_RFC9568", nil, 100, highIP, 50, StateMaster, 1, 100, ""},
		{"LowerPriority_LowerPrioNoAdvert_Silent", func(c *Config) { c.LowerPrioNoAdvert = true }, 100, highIP, 50, StateMaster, 0, 0, ""},
		{"PriorityZero_AnswersAtOnce_RFC5798_6.4.3", nil, 100, highIP, 0, StateMaster, 1, 100, ""},
		{"HigherPrioSendAdvert_SendsThenYields", func(c *Config) { c.HigherPrioSendAdvert = true }, 100, lowIP, 150, StateBackup, 1, 100, "higher priority 150"},
		{"OwnAddressEqualPriority_Ignored", nil, 100, ourIP, 100, StateMaster, 0, 0, ""},
		// keepalived vrrp_state_master_rx: two owners → local priority 254,
		// then the remote owner is higher and we yield.
		{"TwoOwners_LocalDropsTo254AndYields", func(c *Config) { c.Priority = 255 }, 255, lowIP, 255, StateBackup, 0, 0, "higher priority 255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfg(func(c *Config) {
				c.InitialState = StateMaster
				if tc.mod != nil {
					tc.mod(c)
				}
			}))
			h.start()
			if h.m.State() != StateMaster {
				h.fire()
			}
			h.wantState(StateMaster)
			h.advance(100 * time.Millisecond)
			acts := h.advert(tc.src, tc.prio, 2*time.Second)
			h.wantState(tc.want)
			if n := count(acts, ActionSendAdvert); n != tc.wantSends {
				t.Fatalf("%d adverts sent, want %d: %+v", n, tc.wantSends, acts)
			}
			if tc.wantSends > 0 && sentPrio(t, acts) != tc.wantPrio {
				t.Errorf("sent priority %d, want %d", sentPrio(t, acts), tc.wantPrio)
			}
			if tc.want == StateBackup {
				tr := transition(t, acts)
				if !strings.Contains(tr.Reason, tc.reason) {
					t.Errorf("reason %q, want it to contain %q", tr.Reason, tc.reason)
				}
				if !has(acts, ActionRemoveVIPs) {
					t.Errorf("yielded without RemoveVIPs: %+v", acts)
				}
				// v3: the new backup adopts the new master's interval.
				if h.m.MasterAdverInterval() != 2*time.Second {
					t.Errorf("Master_Adver_Interval %v, want 2s", h.m.MasterAdverInterval())
				}
			} else if has(acts, ActionTransition) {
				t.Errorf("unexpected transition %+v", acts)
			}
		})
	}
}

func TestBackup_PriorityZero_WaitsSkewTimeOnly(t *testing.T) {
	h := newHarness(t, cfg(nil))
	h.start()
	h.advert(highIP, 150, time.Second)
	h.advance(200 * time.Millisecond)
	h.advert(highIP, 0, time.Second)
	if got := h.m.NextDeadline().Sub(h.now); got != SkewTime(100, time.Second) {
		t.Fatalf("down timer after priority 0 = %v, want Skew_Time %v", got, SkewTime(100, time.Second))
	}
	acts := h.fire()
	h.wantState(StateMaster)
	if tr := transition(t, acts); !strings.Contains(tr.Reason, "sent priority 0") {
		t.Errorf("reason %q", tr.Reason)
	}
}

func TestShutdown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		initial  State
		prio     uint8
		wantZero bool
	}{
		{"MasterSendsPriorityZeroAndDropsVIPs_RFC5798_6.4.3", StateMaster, 255, true},
		{"BackupJustStops", StateBackup, 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfg(func(c *Config) { c.Priority = tc.prio }))
			h.start()
			h.wantState(tc.initial)
			acts := h.ev(Event{Kind: EventShutdown})
			h.wantState(StateStop)
			if tr := transition(t, acts); tr.From != tc.initial || tr.To != StateStop {
				t.Errorf("transition %+v", tr)
			}
			if has(acts, ActionSendAdvert) != tc.wantZero || (tc.wantZero && (sentPrio(t, acts) != 0 || !has(acts, ActionRemoveVIPs))) {
				t.Errorf("actions %+v", acts)
			}
			if !h.m.NextDeadline().IsZero() {
				t.Error("stopped machine still has a deadline")
			}
			if acts := h.ev(Event{Kind: EventShutdown}); len(acts) != 0 {
				t.Errorf("second shutdown produced %+v", acts)
			}
		})
	}
}

func TestFault(t *testing.T) {
	eth0 := FaultReason{Kind: FaultPrimaryInterfaceDown, Name: "eth0"}
	chk := FaultReason{Kind: FaultTracker, Name: "chk_x"}
	t.Run("MasterToFault_SendsPriorityZeroDropsVIPs", func(t *testing.T) {
		h := newHarness(t, cfg(func(c *Config) { c.Priority = 255 }))
		h.start()
		acts := h.ev(Event{Kind: EventSetFault, Fault: eth0})
		h.wantState(StateFault)
		if tr := transition(t, acts); tr.Reason != "interface eth0 down" {
			t.Errorf("reason %q", tr.Reason)
		}
		if sentPrio(t, acts) != 0 || !has(acts, ActionRemoveVIPs) {
			t.Errorf("actions %+v", acts)
		}
		if h.m.Stats().PriorityZeroSent != 1 {
			t.Errorf("stats %+v", h.m.Stats())
		}
	})
	t.Run("ReasonsAreASet_LeaveOnlyWhenAllClear", func(t *testing.T) {
		h := newHarness(t, cfg(nil))
		h.start()
		h.ev(Event{Kind: EventSetFault, Fault: eth0})
		h.ev(Event{Kind: EventSetFault, Fault: chk})
		h.ev(Event{Kind: EventSetFault, Fault: chk}) // idempotent
		if got := h.m.FaultReasons(); len(got) != 2 || got[0] != "interface eth0 down" || got[1] != "tracker chk_x failed" {
			t.Fatalf("reasons %q", got)
		}
		if acts := h.ev(Event{Kind: EventClearFault, Fault: eth0}); len(acts) != 0 {
			t.Fatalf("left FAULT with a reason still set: %+v", acts)
		}
		h.wantState(StateFault)
		h.advance(time.Second)
		acts := h.ev(Event{Kind: EventClearFault, Fault: chk})
		h.wantState(StateBackup)
		if tr := transition(t, acts); tr.Reason != "tracker chk_x failed cleared" {
			t.Errorf("reason %q", tr.Reason)
		}
		// keepalived vrrp_state_leave_fault: full down timer at our interval.
		if got := h.m.NextDeadline().Sub(h.now); got != 3609375*time.Microsecond {
			t.Errorf("down timer %v, want full 3.609375s", got)
		}
	})
	t.Run("OwnerLeavesFaultStraightToMaster", func(t *testing.T) {
		h := newHarness(t, cfg(func(c *Config) { c.Priority = 255 }))
		h.start()
		h.ev(Event{Kind: EventSetFault, Fault: chk})
		acts := h.ev(Event{Kind: EventClearFault, Fault: chk})
		h.wantState(StateMaster)
		if !has(acts, ActionAddVIPs) || sentPrio(t, acts) != 255 {
			t.Errorf("actions %+v", acts)
		}
	})
	t.Run("DontTrackPrimary_InterfaceDownIsNoFault", func(t *testing.T) {
		h := newHarness(t, cfg(func(c *Config) { c.DontTrackPrimary = true }))
		h.start()
		if acts := h.ev(Event{Kind: EventSetFault, Fault: eth0}); len(acts) != 0 {
			t.Fatalf("actions %+v", acts)
		}
		h.wantState(StateBackup)
		h.ev(Event{Kind: EventSetFault, Fault: FaultReason{Kind: FaultTrackedInterfaceDown, Name: "eth1"}})
		h.wantState(StateFault)
	})
	t.Run("NoUsableSourceAddress", func(t *testing.T) {
		h := newHarness(t, cfg(nil))
		h.start()
		h.ev(Event{Kind: EventSetPrimaryAddr})
		h.wantState(StateFault)
		if r := h.m.FaultReasons(); len(r) != 1 || r[0] != "no usable source address" {
			t.Errorf("reasons %q", r)
		}
		h.ev(Event{Kind: EventSetPrimaryAddr, Addr: highIP})
		h.wantState(StateBackup)
	})
	t.Run("FaultIgnoresAdvertsAndTimers", func(t *testing.T) {
		h := newHarness(t, cfg(nil))
		h.start()
		h.ev(Event{Kind: EventSetFault, Fault: chk})
		if acts := h.advert(highIP, 0, time.Second); len(acts) != 0 || h.m.Stats().DroppedInactive != 1 {
			t.Errorf("fault handled an advert: %+v", acts)
		}
		if !h.m.NextDeadline().IsZero() {
			t.Error("FAULT has a deadline")
		}
	})
}

func TestEffectivePriority(t *testing.T) {
	for _, tc := range []struct {
		name  string
		base  uint8
		delta int
		want  uint8
	}{
		{"BasePlusDelta", 100, 20, 120},
		{"NegativeDelta", 100, -30, 70},
		{"ClampedTo254", 200, 100, 254},
		{"ClampedTo1", 10, -50, 1},
		{"OwnerNeverChanges", 255, -100, 255},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfg(func(c *Config) { c.Priority = tc.base }))
			h.ev(Event{Kind: EventSetPriorityDelta, Delta: tc.delta})
			if got := h.m.EffectivePriority(); got != tc.want {
				t.Fatalf("effective priority %d, want %d", got, tc.want)
			}
		})
	}
	t.Run("MasterAdvertisesEffectivePriority", func(t *testing.T) {
		h := newHarness(t, cfg(nil))
		h.start()
		h.fire()
		h.ev(Event{Kind: EventSetPriorityDelta, Delta: -20})
		if p := sentPrio(t, h.fire()); p != 80 {
			t.Errorf("advertised %d, want 80", p)
		}
	})
}

func TestTimer_EarlyOrSpuriousIsNoOp(t *testing.T) {
	h := newHarness(t, cfg(nil))
	h.start()
	h.advance(time.Second)
	if acts := h.ev(Event{Kind: EventTimer}); len(acts) != 0 {
		t.Fatalf("early timer acted: %+v", acts)
	}
	h.wantState(StateBackup)
}

func TestEveryTransitionHasOneReason(t *testing.T) {
	// A tour through every state; transition() asserts one reason each.
	h := newHarness(t, cfg(nil))
	transition(t, h.start())
	transition(t, h.fire())
	transition(t, h.ev(Event{Kind: EventSetFault, Fault: FaultReason{Kind: FaultTracker, Name: "a"}}))
	transition(t, h.ev(Event{Kind: EventClearFault, Fault: FaultReason{Kind: FaultTracker, Name: "a"}}))
	transition(t, h.ev(Event{Kind: EventShutdown}))
	transition(t, h.start())
	h.wantState(StateBackup)
}

func TestEveryTransitionHasItsCause(t *testing.T) {
	peer := netip.MustParseAddr("198.18.0.99")
	want := func(t *testing.T, acts []Action, c Cause) {
		t.Helper()
		if got := transition(t, acts).Cause; got != c {
			t.Fatalf("cause %q, want %q", got, c)
		}
	}
	t.Run("tour", func(t *testing.T) {
		h := newHarness(t, cfg(nil))
		want(t, h.start(), CauseStartup)
		want(t, h.fire(), CauseMasterDown)
		want(t, h.advert(peer, 200, time.Second), CauseHigherPriority)
		h.advert(peer, 0, time.Second)
		want(t, h.fire(), CausePriorityZero)
		fault := FaultReason{Kind: FaultTracker, Name: "chk"}
		want(t, h.ev(Event{Kind: EventSetFault, Fault: fault}), CauseFault)
		want(t, h.ev(Event{Kind: EventClearFault, Fault: fault}), CauseFaultCleared)
		want(t, h.ev(Event{Kind: EventShutdown}), CauseShutdown)
	})
	t.Run("owner", func(t *testing.T) {
		h := newHarness(t, cfg(func(c *Config) { c.Priority = 255 }))
		want(t, h.start(), CauseOwner)
	})
	t.Run("preempt", func(t *testing.T) {
		h := newHarness(t, cfg(nil))
		h.start()
		h.advert(peer, 50, time.Second)
		want(t, h.fire(), CausePreempt)
	})
	t.Run("start_as_master", func(t *testing.T) {
		h := newHarness(t, cfg(func(c *Config) { c.InitialState = StateMaster }))
		h.start()
		want(t, h.fire(), CauseStartAsMaster)
	})
}

// kindsOf is the actions' kinds in order.
func kindsOf(acts []Action) []ActionKind {
	ks := make([]ActionKind, len(acts))
	for i, a := range acts {
		ks[i] = a.Kind
	}
	return ks
}

// RFC 5798 §6.4.3: a stopping master's priority 0 goes out before anything
// else it does (the backups' Skew_Time runs from it); the transition, which
// the daemon logs and notifies, comes last.
func TestShutdownSendsPriorityZeroFirst_RFC5798_6_4_3(t *testing.T) {
	h := newHarness(t, cfg(func(c *Config) { c.Priority = 255 }))
	h.start()
	h.wantState(StateMaster)
	got := kindsOf(h.ev(Event{Kind: EventShutdown}))
	want := []ActionKind{ActionSendAdvert, ActionRemoveVIPs, ActionTransition}
	if !slices.Equal(got, want) {
		t.Fatalf("shutdown actions %v, want %v", got, want)
	}
}

// RFC 5798 §6.4.2 (Master_Down_Timer fires): send an advert, announce the
// addresses, then transition to Master: the log line and notify follow the
// takeover instead of delaying it.
func TestBecomeMasterActsBeforeTheTransition_RFC5798_6_4_2(t *testing.T) {
	h := newHarness(t, cfg(nil))
	h.start()
	h.wantState(StateBackup)
	got := kindsOf(h.fire())
	h.wantState(StateMaster)
	want := []ActionKind{ActionSendAdvert, ActionAddVIPs, ActionSendGratuitous, ActionTransition}
	if !slices.Equal(got, want) {
		t.Fatalf("takeover actions %v, want %v", got, want)
	}
}

// keepalived vrrp_state_master_rx: a master that hears a lower-priority
// advert (another master: a split brain) answers it with its own advert,
// then re-announces its addresses and notifies MASTER_RX_LOWER_PRI; the
// answer may be suppressed (lower_prio_no_advert), the re-announcement not.
// Priority 0 and higher priorities are not a split brain.
func TestMasterRxLowerPri_AdvertThenReannounce_Keepalived(t *testing.T) {
	for _, tc := range []struct {
		name         string
		mod          func(*Config)
		src          netip.Addr
		prio         uint8
		wantKinds    []ActionKind
		wantReceived uint64
	}{
		{"LowerPriority", nil, highIP, 50, []ActionKind{ActionSendAdvert, ActionMasterRxLowerPri}, 1},
		{"EqualPriorityLowerAddress", nil, lowIP, 100, []ActionKind{ActionSendAdvert, ActionMasterRxLowerPri}, 1},
		{"LowerPrioNoAdvert_StillReannounces", func(c *Config) { c.LowerPrioNoAdvert = true }, highIP, 50, []ActionKind{ActionMasterRxLowerPri}, 1},
		{"PriorityZero_NotASplitBrain", nil, highIP, 0, []ActionKind{ActionSendAdvert}, 0},
		{"HigherPriority_Yields", nil, highIP, 150, []ActionKind{ActionTransition, ActionRemoveVIPs}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfg(func(c *Config) {
				c.Priority = 100
				if tc.mod != nil {
					tc.mod(c)
				}
			}))
			h.start()
			h.fire()
			h.wantState(StateMaster)
			h.advance(100 * time.Millisecond)
			acts := h.advert(tc.src, tc.prio, time.Second)
			var kinds []ActionKind
			for _, a := range acts {
				kinds = append(kinds, a.Kind)
			}
			if !slices.Equal(kinds, tc.wantKinds) {
				t.Fatalf("actions %v, want %v", kinds, tc.wantKinds)
			}
			if got := h.m.Stats().LowerPriorityReceived; got != tc.wantReceived {
				t.Errorf("LowerPriorityReceived %d, want %d", got, tc.wantReceived)
			}
		})
	}
}
