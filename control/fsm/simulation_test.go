package fsm

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// The simulation: N instances × 3 routers on an in-memory LAN, driven by a
// discrete-event loop on a fake clock. Adverts take simLatency to arrive;
// a partition drops them between components.

const (
	simRouters  = 3
	simVRIDs    = 40
	simInterval = 100 * time.Millisecond
	simLatency  = time.Millisecond
)

// allowed is the set of transitions the RFC (plus keepalived's FAULT and
// STOP) permits: RFC 5798 §6.4 figure, keepalived vrrp_scheduler.c.
var allowed = map[[2]State]bool{
	{StateInit, StateBackup}: true, {StateInit, StateMaster}: true, {StateInit, StateFault}: true,
	{StateBackup, StateMaster}: true, {StateMaster, StateBackup}: true,
	{StateBackup, StateFault}: true, {StateMaster, StateFault}: true,
	{StateFault, StateBackup}: true, {StateFault, StateMaster}: true,
	{StateInit, StateStop}: true, {StateBackup, StateStop}: true, {StateMaster, StateStop}: true, {StateFault, StateStop}: true,
	{StateStop, StateBackup}: true, {StateStop, StateMaster}: true, {StateStop, StateFault}: true,
}

type simItem struct {
	at       time.Time
	seq      uint64
	router   int
	vrid     int
	isAdvert bool
	gen      uint64 // timers: stale if the machine's generation moved on
	adv      Advert
}

type simQueue []simItem

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simItem)) }
func (q *simQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

type sim struct {
	t         *testing.T
	now       time.Time
	q         simQueue
	seq       uint64
	prio      [simRouters][simVRIDs]uint8
	m         [simRouters][simVRIDs]*Machine
	gen       [simRouters][simVRIDs]uint64
	up        [simRouters]bool
	component [simRouters]int // routers hear each other only in the same component
	out       []Action
	nTrans    int
}

func addrOf(r int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(r + 1)}) }

func (s *sim) startRouter(r int) {
	s.up[r] = true
	for v := range simVRIDs {
		m, err := New(Config{Name: fmt.Sprintf("R%d-V%d", r, v), VRID: uint8(v + 1), Version: 3, Priority: s.prio[r][v],
			AdvertInterval: simInterval, InitialState: StateBackup, PrimaryAddr: addrOf(r)})
		if err != nil {
			s.t.Fatal(err)
		}
		s.m[r][v] = m
		s.deliver(r, v, Event{Kind: EventStartup})
	}
}

func (s *sim) push(it simItem) {
	s.seq++
	it.seq = s.seq
	heap.Push(&s.q, it)
}

func (s *sim) deliver(r, v int, ev Event) {
	m := s.m[r][v]
	prev := m.State()
	s.out = m.Handle(ev, s.now, s.out[:0])
	for _, a := range s.out {
		switch a.Kind {
		case ActionTransition:
			s.nTrans++
			if a.From != prev || !allowed[[2]State{a.From, a.To}] || a.Reason == "" {
				s.t.Fatalf("router %d vrid %d: bad transition %v→%v (previous %v) %q", r, v, a.From, a.To, prev, a.Reason)
			}
			prev = a.To
		case ActionSendAdvert:
			for o := range simRouters {
				if o != r && s.component[o] == s.component[r] {
					s.push(simItem{at: s.now.Add(simLatency), router: o, vrid: v, isAdvert: true,
						adv: Advert{Src: addrOf(r), Priority: a.Priority, Interval: simInterval, Version: 3}})
				}
			}
		}
	}
	if prev != m.State() {
		s.t.Fatalf("router %d vrid %d: state %v but transitions ended in %v", r, v, m.State(), prev)
	}
	s.gen[r][v]++
	if d := m.NextDeadline(); !d.IsZero() {
		s.push(simItem{at: d, router: r, vrid: v, gen: s.gen[r][v]})
	}
}

func (s *sim) run(d time.Duration) {
	end := s.now.Add(d)
	for s.q.Len() > 0 && !s.q[0].at.After(end) {
		it := heap.Pop(&s.q).(simItem)
		s.now = it.at
		if !s.up[it.router] {
			continue
		}
		if it.isAdvert {
			s.deliver(it.router, it.vrid, Event{Kind: EventAdvert, Advert: it.adv})
		} else if it.gen == s.gen[it.router][it.vrid] {
			s.deliver(it.router, it.vrid, Event{Kind: EventTimer})
		}
	}
	s.now = end
}

// check asserts exactly one master per VRID in every component, and that it
// is the best live router there (highest priority, then highest address:
// RFC 5798 §6.4.3, all routers preempt).
func (s *sim) check(phase string) {
	for v := range simVRIDs {
		comps := map[int][]int{}
		for r := range simRouters {
			if s.up[r] {
				comps[s.component[r]] = append(comps[s.component[r]], r)
			}
		}
		for _, rs := range comps {
			best, masters := -1, 0
			for _, r := range rs {
				if s.m[r][v].State() == StateMaster {
					masters++
				}
				if best < 0 || s.prio[r][v] > s.prio[best][v] || (s.prio[r][v] == s.prio[best][v] && r > best) {
					best = r
				}
			}
			if masters != 1 {
				s.t.Fatalf("%s: vrid %d routers %v: %d masters, want exactly 1", phase, v, rs, masters)
			}
			if s.m[best][v].State() != StateMaster {
				s.t.Fatalf("%s: vrid %d: router %d (priority %d) is not master", phase, v, best, s.prio[best][v])
			}
		}
	}
}

func TestSimulation_OneMasterPerVRID(t *testing.T) {
	s := &sim{t: t, now: t0}
	r := rand.New(rand.NewPCG(5798, 9568))
	for v := range simVRIDs {
		for rt := range simRouters {
			s.prio[rt][v] = uint8(1 + r.IntN(254)) // ties happen: the address breaks them
		}
	}
	// Startup: every router starts at once and each may first claim
	// mastership; a few Master_Down_Intervals settle it.
	settle := 3*MasterDownInterval(3, 1, simInterval) + simInterval
	// After a change, RFC 5798 §6.4.2: the best remaining backup takes over
	// when its Master_Down_Interval (at most the lowest priority's) expires,
	// and the others hear its first advert before theirs do; equal
	// priorities both claim and the address decides within one advert.
	afterMDI := MasterDownInterval(3, 1, simInterval) + simInterval + 2*simLatency
	for rt := range simRouters {
		s.startRouter(rt)
	}
	s.run(settle)
	s.check("startup")

	// Remove the router that is master of VRID 0 (crash: no priority 0).
	victim := 0
	for rt := range simRouters {
		if s.m[rt][0].State() == StateMaster {
			victim = rt
		}
	}
	s.up[victim] = false
	s.run(afterMDI)
	s.check("master removed")

	s.startRouter(victim)
	s.run(afterMDI)
	s.check("master restored")

	// Partition router 2 away: each side elects its own master.
	s.component[2] = 1
	s.run(afterMDI)
	s.check("partitioned")

	s.component[2] = 0
	s.run(afterMDI)
	s.check("healed")

	// Graceful shutdown of the busiest master: priority 0 speeds takeover.
	for v := range simVRIDs {
		if s.m[1][v].State() == StateMaster {
			s.deliver(1, v, Event{Kind: EventShutdown})
		}
	}
	s.up[1] = false
	s.run(SkewTime(1, simInterval) + 2*simLatency)
	s.check("after shutdown, within Skew_Time")
	if s.nTrans < simVRIDs*simRouters {
		t.Fatalf("only %d transitions: the simulation did not exercise the machines", s.nTrans)
	}
}
