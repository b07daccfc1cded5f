package fsm

import (
	"fmt"
	"time"
)

// Group is a keepalived vrrp_sync_group: member instances that fail over
// together (keepalived vrrp_sync.c).
//
// Contract:
//   - Once a Machine is in a Group, every event for it goes through
//     Group.Handle (never Machine.Handle directly); the runtime still
//     schedules each member's own NextDeadline and delivers EventTimer for
//     that member through Group.Handle.
//   - Group.Handle returns the actions of every member that changed, each
//     tagged with the member's index, in the order the runtime must execute
//     them; transitions caused by one event all appear in that one call.
//   - Rules: a member in FAULT for its own reasons puts every other member in
//     FAULT ("sync group G member X in FAULT"); the group goes MASTER only
//     when every member wants MASTER (each one's Master_Down_Timer expired,
//     keepalived vrrp_sync_can_goto_master); a member becoming MASTER by
//     another path (owner at startup or leaving FAULT) takes the others
//     with it (vrrp_sync_master); a member yielding to a better master
//     takes the others to BACKUP (vrrp_sync_backup).
type Group struct {
	name    string
	members []*Machine
	scratch []Action
}

// GroupAction is an Action of member Member.
type GroupAction struct {
	Member int
	Action
}

// NewGroup makes a sync group of members (at least two, each in one group
// only, all still in INIT).
func NewGroup(name string, members ...*Machine) (*Group, error) {
	if len(members) < 2 {
		return nil, fmt.Errorf("vrrp_sync_group %s: needs at least two instances, has %d", name, len(members))
	}
	for i, m := range members {
		if m == nil {
			return nil, fmt.Errorf("vrrp_sync_group %s: member %d is nil", name, i)
		}
		if m.inGroup {
			return nil, fmt.Errorf("vrrp_sync_group %s: instance %s is already in a sync group; an instance may be in one group only", name, m.cfg.Name)
		}
		if m.state != StateInit {
			return nil, fmt.Errorf("vrrp_sync_group %s: instance %s already started; build groups before startup", name, m.cfg.Name)
		}
	}
	for _, m := range members {
		m.inGroup = true
	}
	return &Group{name: name, members: members, scratch: make([]Action, 0, 16)}, nil
}

// Name is the group's name.
func (g *Group) Name() string { return g.name }

// Members returns the member machines (do not send them events directly).
func (g *Group) Members() []*Machine { return g.members }

// State is the group's state: MASTER or BACKUP when all members agree, FAULT
// if any member is in FAULT, otherwise the state of the first member.
func (g *Group) State() State {
	s := g.members[0].state
	for _, m := range g.members {
		if m.state == StateFault {
			return StateFault
		}
	}
	return s
}

// NextDeadline is the earliest deadline of any member (zero if none).
func (g *Group) NextDeadline() time.Time {
	var d time.Time
	for _, m := range g.members {
		if t := m.NextDeadline(); !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

func (g *Group) emit(member int, acts []Action, out []GroupAction) []GroupAction {
	for _, a := range acts {
		out = append(out, GroupAction{Member: member, Action: a})
	}
	return out
}

func (g *Group) step(member int, ev Event, now time.Time, out []GroupAction) []GroupAction {
	g.scratch = g.members[member].Handle(ev, now, g.scratch[:0])
	return g.emit(member, g.scratch, out)
}

// Handle delivers ev to member and applies the group rules; actions for all
// members are appended to out.
func (g *Group) Handle(member int, ev Event, now time.Time, out []GroupAction) []GroupAction {
	if member < 0 || member >= len(g.members) {
		return out
	}
	m := g.members[member]
	before := m.state
	out = g.step(member, ev, now, out)
	after := m.state

	// Fault propagation: keepalived vrrp_sync_fault.
	faultyName := ""
	for _, x := range g.members {
		if x.ownFaulted() {
			faultyName = x.cfg.Name
			break
		}
	}
	for i, x := range g.members {
		hasGroupFault := -1
		for j, r := range x.faults {
			if r.Kind == FaultSyncGroup {
				hasGroupFault = j
				break
			}
		}
		switch {
		case faultyName != "" && faultyName != x.cfg.Name && hasGroupFault < 0:
			r := FaultReason{Kind: FaultSyncGroup, Name: g.name + " member " + faultyName}
			out = g.step(i, Event{Kind: EventSetFault, Fault: r}, now, out)
		case faultyName == "" && hasGroupFault >= 0:
			out = g.step(i, Event{Kind: EventClearFault, Fault: x.faults[hasGroupFault]}, now, out)
		case faultyName == x.cfg.Name && hasGroupFault >= 0:
			// The faulty member keeps only its own reasons.
			x.faults = append(x.faults[:hasGroupFault], x.faults[hasGroupFault+1:]...)
		}
	}
	if faultyName != "" {
		return out
	}

	leader := -1
	if before != StateMaster && after == StateMaster {
		leader = member
	} else if after == StateBackup && before != StateMaster {
		// A member that starts (or leaves FAULT) while others are MASTER
		// joins them (vrrp_sync_master at startup).
		for i, x := range g.members {
			if x.state == StateMaster {
				leader = i
				break
			}
		}
	}
	switch {
	case leader >= 0:
		// vrrp_sync_master: one member became MASTER, the rest follow.
		reason := "sync group " + g.name + ": " + g.members[leader].cfg.Name + " is MASTER"
		for i, x := range g.members {
			if i != leader && x.state == StateBackup {
				g.scratch = x.becomeMaster(now, CauseSyncGroup, reason, g.scratch[:0])
				out = g.emit(i, g.scratch, out)
			}
		}
	case before == StateMaster && after == StateBackup:
		// vrrp_sync_backup: one member yielded, the rest follow.
		reason := "sync group " + g.name + ": " + m.cfg.Name + " became BACKUP"
		for i, x := range g.members {
			if i != member && x.state == StateMaster {
				g.scratch = g.scratch[:0]
				g.scratch = x.transition(StateBackup, CauseSyncGroup, reason, g.scratch)
				g.scratch = append(g.scratch, Action{Kind: ActionRemoveVIPs})
				x.adverAt = time.Time{}
				x.masterAdverInt = x.cfg.AdvertInterval
				x.cause = causeNoAdvert
				x.downAt = now.Add(x.MasterDownInterval())
				out = g.emit(i, g.scratch, out)
			}
		}
	default:
		// vrrp_sync_can_goto_master: all members want MASTER → go together.
		all := true
		for _, x := range g.members {
			if x.state != StateBackup || !x.wantMaster {
				all = false
				break
			}
		}
		if all {
			for i, x := range g.members {
				reason := "sync group " + g.name + ": every member's master down interval expired (" + x.downReason() + ")"
				g.scratch = x.becomeMaster(now, CauseSyncGroup, reason, g.scratch[:0])
				out = g.emit(i, g.scratch, out)
			}
		}
	}
	return out
}
