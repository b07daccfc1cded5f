package fsm

import (
	"strings"
	"testing"
	"time"
)

func newGroup(t *testing.T, prios ...uint8) *Group {
	t.Helper()
	ms := make([]*Machine, len(prios))
	for i, p := range prios {
		m, err := New(cfg(func(c *Config) { c.Name = "V" + string(rune('A'+i)); c.VRID = uint8(10 + i); c.Priority = p }))
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	g, err := NewGroup("G1", ms...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func states(g *Group) []State {
	var s []State
	for _, m := range g.Members() {
		s = append(s, m.State())
	}
	return s
}

func allIn(g *Group, s State) bool {
	for _, m := range g.Members() {
		if m.State() != s {
			return false
		}
	}
	return true
}

func TestSyncGroup_MemberFaultPutsGroupInFault(t *testing.T) {
	g := newGroup(t, 100, 100, 100)
	var out []GroupAction
	for i := range g.Members() {
		out = g.Handle(i, Event{Kind: EventStartup}, t0, out[:0])
	}
	chk := FaultReason{Kind: FaultTracker, Name: "chk_x"}
	out = g.Handle(1, Event{Kind: EventSetFault, Fault: chk}, t0, out[:0])
	if !allIn(g, StateFault) || g.State() != StateFault {
		t.Fatalf("states %v, want all FAULT", states(g))
	}
	if r := g.Members()[0].FaultReasons(); len(r) != 1 || r[0] != "sync group G1 member VB in FAULT" {
		t.Errorf("member A reasons %q", r)
	}
	if n := countG(out, ActionTransition); n != 3 {
		t.Errorf("%d transitions, want 3 in one call", n)
	}
	out = g.Handle(1, Event{Kind: EventClearFault, Fault: chk}, t0.Add(time.Second), out[:0])
	if !allIn(g, StateBackup) {
		t.Fatalf("states %v after clear, want all BACKUP", states(g))
	}
	if n := countG(out, ActionTransition); n != 3 {
		t.Errorf("%d transitions on clear, want 3", n)
	}
}

func TestSyncGroup_MasterOnlyWhenEveryMemberWould(t *testing.T) {
	g := newGroup(t, 100, 100)
	var out []GroupAction
	for i := range g.Members() {
		out = g.Handle(i, Event{Kind: EventStartup}, t0, out[:0])
	}
	a, b := g.Members()[0], g.Members()[1]
	// B keeps hearing its master; A's master is gone.
	now := t0.Add(2 * time.Second)
	out = g.Handle(1, Event{Kind: EventAdvert, Advert: Advert{Src: highIP, Priority: 200, Interval: time.Second, Version: 3}}, now, out[:0])
	now = a.NextDeadline()
	out = g.Handle(0, Event{Kind: EventTimer}, now, out[:0])
	if a.State() != StateBackup || len(out) != 0 {
		t.Fatalf("A went %v alone (actions %+v); a group member must wait for the others", a.State(), out)
	}
	now = b.NextDeadline()
	out = g.Handle(1, Event{Kind: EventTimer}, now, out[:0])
	if !allIn(g, StateMaster) {
		t.Fatalf("states %v, want all MASTER together", states(g))
	}
	if n := countG(out, ActionTransition); n != 2 {
		t.Fatalf("%d transitions in the call, want 2", n)
	}
	for _, ga := range out {
		if ga.Kind == ActionTransition && !strings.Contains(ga.Reason, "sync group G1") {
			t.Errorf("reason %q", ga.Reason)
		}
	}
}

func TestSyncGroup_TransitionsHappenTogether(t *testing.T) {
	g := newGroup(t, 255, 100, 100) // owner A starts MASTER and takes B, C along
	var out []GroupAction
	for i := range g.Members() {
		out = g.Handle(i, Event{Kind: EventStartup}, t0, out[:0])
	}
	if !allIn(g, StateMaster) {
		t.Fatalf("states %v after owner startup, want all MASTER", states(g))
	}
	// B hears a better master: the whole group yields in the same call.
	out = g.Handle(1, Event{Kind: EventAdvert, Advert: Advert{Src: highIP, Priority: 200, Interval: time.Second, Version: 3}}, t0.Add(time.Second), out[:0])
	if !allIn(g, StateBackup) {
		t.Fatalf("states %v, want all BACKUP", states(g))
	}
	if n := countG(out, ActionRemoveVIPs); n != 3 {
		t.Errorf("%d RemoveVIPs, want 3", n)
	}
}

func TestSyncGroup_NewGroupRejectsBadMembers(t *testing.T) {
	m, _ := New(cfg(nil))
	if _, err := NewGroup("G", m); err == nil {
		t.Error("one-member group accepted")
	}
	n, _ := New(cfg(nil))
	if _, err := NewGroup("G", m, n); err != nil {
		t.Fatal(err)
	}
	o, _ := New(cfg(nil))
	if _, err := NewGroup("H", m, o); err == nil {
		t.Error("instance in two groups accepted")
	}
	if _, err := NewGroup("H", o, nil); err == nil {
		t.Error("nil member accepted")
	}
}

func countG(out []GroupAction, k ActionKind) int {
	n := 0
	for _, a := range out {
		if a.Kind == k {
			n++
		}
	}
	return n
}
