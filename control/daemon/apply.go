package daemon

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
)

// apply makes the running set of instances match cfg. old is the running
// configuration (nil at start). keepalived's reload rule: an instance whose
// key (interface, VRID, family, unicast/multicast) is unchanged keeps its
// state and VIPs; instances that are gone are stopped (priority 0, VIPs
// removed); new ones start. An instance whose key matches but whose engine
// settings changed is rebuilt, keeping MASTER as its initial state if it was
// master so that the VIP does not bounce.
//
// Everything that can fail (interfaces, machine construction) is prepared
// before anything running is touched, so a failed apply changes nothing.
func (d *Daemon) apply(cfg, old *config.Config) (err error) {
	// An interface this configuration attached XDP to is detached again
	// when the apply fails: the running instances do not use it.
	defer func() {
		if err != nil {
			d.detachUnusedIfaces()
		}
	}()
	type plan struct {
		in   *config.Instance
		keep *instance // running instance kept as is
		repl *instance // running instance replaced by a new machine
		r    *instance // the new runtime (nil when kept)
	}
	running := map[config.InstanceKey]*instance{}
	for _, r := range d.byName {
		running[r.cfg.Key()] = r
	}
	// Prepare interfaces first: XDP attach is idempotent per interface.
	for _, in := range cfg.Instances {
		if _, err := d.ensureIface(in.Interface, cfg); err != nil {
			return err
		}
	}
	var plans []plan
	used := map[*instance]bool{}
	var errs []error
	for _, in := range cfg.Instances {
		p := plan{in: in}
		if r := running[in.Key()]; r != nil {
			used[r] = true
			if sameEngine(r.cfg, in) && r.group == nil && in.SyncGroup == "" {
				p.keep = r
				plans = append(plans, p)
				continue
			}
			p.repl = r
		}
		nr, err := d.newInstance(in, d.ifaces[in.Interface])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.r = nr
		plans = append(plans, p)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Sync groups of the new configuration, over the new machines.
	newGroups := map[string]*syncGroup{}
	byName := map[string]*instance{}
	for _, p := range plans {
		if p.keep != nil {
			byName[p.in.Name] = p.keep
		} else {
			byName[p.in.Name] = p.r
		}
	}
	for _, sg := range cfg.SyncGroups {
		g := &syncGroup{cfg: sg}
		var ms []*fsm.Machine
		for i, name := range sg.Members {
			r := byName[name]
			if r == nil {
				return fmt.Errorf("%s: sync group %s: unknown instance %s", sg.Pos, sg.Name, name)
			}
			r.group, r.member = g, i
			g.members = append(g.members, r)
			ms = append(ms, r.m)
		}
		fg, gerr := fsm.NewGroup(sg.Name, ms...)
		if gerr != nil {
			err = gerr
			return fmt.Errorf("%s: %w", sg.Pos, err)
		}
		g.g = fg
		newGroups[sg.Name] = g
	}

	// Commit: stop what is gone, swap replaced machines, start new ones.
	// The clock is read again: attaching XDP (program load and verification)
	// above can take most of a second, and a stale start time would expire
	// the new machines' timers at once.
	now := time.Now()
	for _, r := range d.byName {
		if !used[r] {
			d.log.Info(fmt.Sprintf("%s: removed from the configuration, stopping", r.cfg.Name))
			d.shutdownInstance(r, now)
			d.forget(r)
		}
	}
	d.groups = newGroups
	d.byName = byName
	var start []*instance
	for _, p := range plans {
		switch {
		case p.keep != nil:
			p.keep.cfg = p.in // the same engine; new positions and trackers
			d.programDataplane(p.keep)
			d.trackers.recompute(p.keep) // its tracker lines may have changed
		case p.repl != nil:
			d.sched.Remove(p.repl.id)
			d.stopGARP(p.repl)
			d.forget(p.repl)
			// A master outside a sync group stays master, keeping the
			// addresses it holds (the new machine adds them again, with
			// any new ones). A sync group decides its members' state
			// together, so its members start over like a backup does.
			stays := false
			if p.repl.m.State() == fsm.StateMaster && p.r.group == nil {
				c := p.r.m.Config()
				c.InitialState = fsm.StateMaster
				if m, merr := fsm.New(c); merr == nil {
					p.r.m, stays = m, true
				}
			}
			if p.repl.vipsHeld {
				d.removeVIPsExcept(p.repl, p.r, stays)
			}
			// The new instance adopts a VMAC of the same shape (it
			// survives the reload); any other goes.
			if p.repl.vmac != nil && (!p.in.UseVMAC || vmacConfig(p.in) != vmacConfig(p.repl.cfg)) {
				d.removeVMAC(p.repl)
			}
			d.register(p.r)
			start = append(start, p.r)
		default:
			d.register(p.r)
			start = append(start, p.r)
		}
	}
	for _, r := range start {
		d.ensureVMAC(r, now)
		d.programDataplane(r)
		if !r.ifc.up {
			d.handle(r, fsm.Event{Kind: fsm.EventSetFault, Fault: fsm.FaultReason{Kind: fsm.FaultPrimaryInterfaceDown, Name: r.ifc.name}}, now)
		}
		d.applyVIPInterfaceFaults(r, now)
	}
	delay := cfg.Global.StartupDelay
	if old != nil {
		delay = 0
	}
	for _, r := range start {
		d.trackers.recompute(r)
		if delay > 0 {
			// vrrp_startup_delay: keepalived waits before starting VRRP at
			// boot, so that interfaces settle.
			r := r
			time.AfterFunc(delay, func() {
				d.mu.Lock()
				defer d.mu.Unlock()
				if !d.stopped && d.byName[r.cfg.Name] == r {
					d.startInstance(r, time.Now())
				}
			})
			continue
		}
		d.startInstance(r, now)
	}
	d.detachUnusedIfaces()
	return nil
}

// startInstance sends the engine its Startup event, unless a weight-0
// tracker has not reported yet: keepalived holds such an instance in INIT,
// and trackers.recompute starts it when the result comes in.
func (d *Daemon) startInstance(r *instance, now time.Time) {
	if d.trackers.pendingInit(r) {
		r.waitingInit = true
		d.log.Info(fmt.Sprintf("%s: waiting in INIT for the first result of its trackers", r.cfg.Name))
		return
	}
	if r.cfg.Unicast() {
		// Learn the peers' MACs now, so the first advert after becoming
		// master is not skipped for an unresolved neighbour.
		for _, p := range r.dsts {
			r.sender.PrimeNeighbour(p)
		}
	}
	d.handle(r, fsm.Event{Kind: fsm.EventStartup}, now)
}

// sameEngine reports whether the running instance can continue unchanged:
// everything but file positions, trackers and notify scripts (the trackers
// are rebuilt on every reload and apply to the running machine) is equal.
func sameEngine(a, b *config.Instance) bool {
	return reflect.DeepEqual(engineView(*a), engineView(*b))
}

func engineView(in config.Instance) config.Instance {
	in.Pos = config.Pos{}
	in.VIPs = clearVIPPos(in.VIPs)
	in.ExcludedVIPs = clearVIPPos(in.ExcludedVIPs)
	if in.Auth != nil {
		a := *in.Auth
		a.Pos = config.Pos{}
		in.Auth = &a
	}
	peers := make([]config.UnicastPeer, len(in.UnicastPeers))
	for i, p := range in.UnicastPeers {
		p.Pos = config.Pos{}
		peers[i] = p
	}
	in.UnicastPeers = peers
	in.TrackScripts, in.TrackFiles, in.TrackProcesses, in.TrackInterfaces = nil, nil, nil, nil
	in.Notify = config.Notify{}
	return in
}

func clearVIPPos(v []config.VIP) []config.VIP {
	out := make([]config.VIP, len(v))
	for i, x := range v {
		x.Pos = config.Pos{}
		out[i] = x
	}
	return out
}

func (d *Daemon) register(r *instance) {
	r.id = d.freeID()
	d.insts[r.id] = r
	d.byKey[r.key] = r
	d.resetRepeats(r)
}

func (d *Daemon) forget(r *instance) {
	d.releaseSender(r)
	if d.insts[r.id] == r {
		d.insts[r.id] = nil
		d.resetRepeats(r)
	}
	if d.byKey[r.key] == r {
		delete(d.byKey, r.key)
	}
	if err := d.dp.DeleteInstance(r.key); err != nil && d.byKey[r.key] == nil {
		d.log.Warn("remove instance from the XDP table", "instance", r.cfg.Name, "err", err)
	}
}

func (d *Daemon) freeID() int {
	for i, r := range d.insts {
		if r == nil {
			return i
		}
	}
	d.insts = append(d.insts, nil)
	return len(d.insts) - 1
}
