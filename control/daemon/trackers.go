package daemon

import (
	"github.com/vishvananda/netlink"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/control/status"
)

// trackerSet runs every tracker of the configuration and turns their
// results into priority deltas and fault reasons of the instances.
type trackerSet struct {
	d      *Daemon
	linkUp map[string]bool
}

func newTrackerSet(d *Daemon) *trackerSet {
	return &trackerSet{d: d, linkUp: map[string]bool{}}
}

// start (re)starts the trackers of cfg.
func (t *trackerSet) start(cfg *config.Config) error {
	t.d.mu.Lock()
	defer t.d.mu.Unlock()
	for _, in := range cfg.Instances {
		for _, ti := range in.TrackInterfaces {
			if _, ok := t.linkUp[ti.Name]; !ok {
				l, err := netlink.LinkByName(ti.Name)
				t.linkUp[ti.Name] = err == nil && linkUp(l)
			}
		}
	}
	for _, r := range t.d.byName {
		t.recompute(r)
	}
	return nil
}

func (t *trackerSet) stop() {}

// linkChanged is called (under d.mu) for every link event.
func (t *trackerSet) linkChanged(name string, up bool) {
	if old, ok := t.linkUp[name]; !ok || old == up {
		return
	}
	t.linkUp[name] = up
	for _, r := range t.d.byName {
		for _, ti := range r.cfg.TrackInterfaces {
			if ti.Name == name {
				t.recompute(r)
				break
			}
		}
	}
}

// interfaceContribution is keepalived's track_interface rule
// (keepalived.conf(5) track_interface): weight 0 — down means FAULT; a
// positive weight is added while up; a negative weight is added while down;
// reverse swaps up and down.
func interfaceContribution(up bool, weight int, reverse bool) (delta int, fault bool) {
	if reverse {
		up = !up
	}
	switch {
	case weight == 0:
		return 0, !up
	case weight > 0 && up:
		return weight, false
	case weight < 0 && !up:
		return weight, false
	}
	return 0, false
}

// recompute derives the instance's delta and tracker faults and tells the
// engine (called under d.mu).
func (t *trackerSet) recompute(r *instance) {
	now := timeNow()
	delta := 0
	for _, ti := range r.cfg.TrackInterfaces {
		dl, fault := interfaceContribution(t.linkUp[ti.Name], ti.Weight, ti.Reverse)
		delta += dl
		t.d.handle(r, faultEvent(!fault, fsm.FaultReason{Kind: fsm.FaultTrackedInterfaceDown, Name: ti.Name}), now)
	}
	if delta != r.delta {
		r.delta = delta
		t.d.handle(r, fsm.Event{Kind: fsm.EventSetPriorityDelta, Delta: delta}, now)
	}
}

// instanceTrackers reports the trackers of r for status (under d.mu).
func (t *trackerSet) instanceTrackers(r *instance) []status.Tracker {
	var out []status.Tracker
	for _, ti := range r.cfg.TrackInterfaces {
		up := t.linkUp[ti.Name]
		dl, fault := interfaceContribution(up, ti.Weight, ti.Reverse)
		st := "ok"
		if !up {
			st = "down"
		}
		out = append(out, status.Tracker{Kind: "interface", Name: ti.Name, Status: st, Weight: ti.Weight, Delta: dl, Fault: fault})
	}
	return out
}

func (t *trackerSet) notifyInstance(r *instance, to fsm.State) {}

func (t *trackerSet) notifyGroup(g *syncGroup, to fsm.State) {}

func scriptSecurityFindings(cfg *config.Config) []string { return nil }
