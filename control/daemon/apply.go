package daemon

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
)

// apply makes the running set of instances match cfg. old is the running
// configuration (nil at start). keepalived's reload rule: an instance whose
// key (interface, VRID, family, unicast/multicast) is unchanged keeps its
// state and VIPs; instances that are gone are stopped (priority 0, VIPs
// removed); new ones start. An instance whose identity (sameIdentity) is
// unchanged takes its new parameters in place (reconfigure): no transition,
// no notify, its VIPs stay. One whose key matches but whose identity
// changed, or a sync group member, is rebuilt, keeping MASTER as its
// initial state if it was master so that the VIP does not bounce.
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
		upd  *instance // running instance taking r's parameters in place
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
			if sameIdentity(r.cfg, in) && r.group == nil && in.SyncGroup == "" {
				p.upd = r
			} else {
				p.repl = r
			}
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
		} else if p.upd != nil {
			byName[p.in.Name] = p.upd
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
	d.setInstances(byName)
	var start []*instance
	for _, p := range plans {
		switch {
		case p.keep != nil:
			p.keep.cfg = p.in // the same engine; new positions and trackers
			d.programDataplane(p.keep)
			d.trackers.recompute(p.keep) // its tracker lines may have changed
		case p.upd != nil:
			if err := d.reconfigure(p.upd, p.r, now); err != nil {
				d.log.Error(fmt.Sprintf("%s: %v", p.in.Name, err), "instance", p.in.Name)
			}
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

// reconfigure gives the running r the parameters of nr (built from the
// reloaded configuration, never registered) in place: keepalived's reload
// keeps an instance whose identity is unchanged, with its state, VIPs and
// notifications; a priority change is carried by the next advert, an
// interval change by the next timer, a VIP set change by adding the new
// addresses and removing the dropped ones while it holds them.
func (d *Daemon) reconfigure(r, nr *instance, now time.Time) error {
	if nr.sender != nil && nr.sender != nr.ifc.sender {
		_ = nr.sender.Close() // use_vmac: r keeps its own (sameIdentity)
	}
	if err := r.m.Reconfigure(fsmConfig(nr.cfg, r.src), now); err != nil {
		return err
	}
	oldCfg, oldVIPs := r.cfg, r.vips
	r.cfg = nr.cfg
	r.dsts, r.sendErr = nr.dsts, nr.sendErr
	r.tmpl, r.policy = nr.tmpl, nr.policy
	learned := r.encOpts.LegacyUnicastChecksum && nr.policy.Decode.LegacyUnicastChecksum
	r.encOpts = nr.encOpts
	r.encOpts.LegacyUnicastChecksum = r.encOpts.LegacyUnicastChecksum || learned
	r.vips = nr.vips
	if r.vipsHeld {
		for i := range oldVIPs {
			v := oldVIPs[i].VIP
			if !slices.ContainsFunc(r.vips, func(n hostVIP) bool { return n.VIP == v }) {
				d.vipq.remove(r.cfg.Name, v)
			}
		}
		d.dropRoutes(r.cfg.Name, oldCfg, r.cfg)
		d.addVIPs(r) // idempotent for the addresses already held
	}
	if oldCfg.AdvertInterval != r.cfg.AdvertInterval {
		r.rateInterval = 0 // programDataplane: the new interval's limits
	}
	// The master's repeats the XDP program records were judged against the
	// old parameters (priority, interval): every advert goes through the
	// engine again until it accepts one under the new ones.
	d.stopRepeats(r)
	d.programDataplane(r)
	d.trackers.recompute(r)
	d.schedule(r, now)
	d.log.Info(fmt.Sprintf("%s: reloaded in place, staying %s at priority %d", r.cfg.Name, r.m.State(), r.m.EffectivePriority()),
		"instance", r.cfg.Name, "state", r.m.State().String(), "priority", r.m.EffectivePriority())
	return nil
}

// sameIdentity reports whether a reload may apply b to the running a in
// place: the same virtual router (name, key, version), the same way of
// sending (use_vmac, source address) and the same address ownership
// (priority 255 never waits for a down timer, RFC 5798 §6.4.1).
func sameIdentity(a, b *config.Instance) bool {
	return a.Name == b.Name && a.Key() == b.Key() && a.Version == b.Version &&
		a.UseVMAC == b.UseVMAC && a.VMACName == b.VMACName && a.VMACXmitBase == b.VMACXmitBase &&
		a.SrcIP == b.SrcIP && (a.Priority == 255) == (b.Priority == 255)
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

// setInstances makes byName the daemon's instances. Their VIPs may differ
// from the last apply's (new instances, reconfigure in place), so the
// global-VIP set is built again when next needed.
func (d *Daemon) setInstances(byName map[string]*instance) {
	d.byName = byName
	d.ownVIPs = nil
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
