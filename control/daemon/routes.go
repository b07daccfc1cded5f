package daemon

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/control/status"
	"github.com/xvrrp/xvrrp/vip"
)

// Routes and policy rules on the host: an instance's virtual_routes and
// virtual_rules follow its VIPs (added on becoming MASTER, removed on
// leaving it for BACKUP, FAULT or stop: keepalived vrrp_state_become_master
// and vrrp_restore_interface), and static_ipaddress / static_routes /
// static_rules are set at start whatever the state, reinstated when deleted
// behind xvrrpd's back, changed by the difference on reload and removed at
// stop (keepalived vrrp_daemon.c start_vrrp / stop_vrrp,
// clear_diff_static_*, reinstate_static_*).
//
// Every netlink call runs on the VIP queue's goroutine (vipqueue.go), never
// under d.mu, in order with the VIP changes: an instance's routes are added
// after its VIPs (a route may use a VIP as its source or reach its gateway
// through a VIP's subnet) and removed before them.
//
// Tracking (vip.RouteWatcher) follows keepalived_netlink.c: a tracked
// virtual route or rule deleted while its instance is MASTER sends the
// instance to BACKUP with a Skew_Time down timer (set_vrrp_backup,
// fsm.EventLeaveMaster), so it takes MASTER back and reinstates everything
// unless another master speaks first; a deleted static one is added again.
// no_track objects are never tracked. The queue untracks an owner before
// removing its objects, so xvrrpd's own removals are never reported.

// staticOwner is the watcher owner of the static objects; instance names
// cannot contain a NUL.
const staticOwner = "\x00static"

// routeState is the daemon's part for routes, rules and static objects.
type routeState struct {
	rm    *vip.RouteManager
	watch *vip.RouteWatcher
	addrs *staticAddrWatch

	// Under d.mu:
	static vip.Static
	// lost counts tracked objects deleted behind xvrrpd's back, by owner
	// (instance name, or staticOwner) and kind ("route_lost", "rule_lost").
	lost map[string]map[string]uint64
}

// startRoutes opens the route manager and watcher, starts the queue and
// sets the static objects of the configuration. Called by Start after the
// VIP queue exists.
func (d *Daemon) startRoutes() error {
	rm, err := vip.NewRouteManager()
	if err != nil {
		return err
	}
	w, err := vip.NewRouteWatcher()
	if err != nil {
		rm.Close()
		return err
	}
	d.routes = &routeState{rm: rm, watch: w, lost: map[string]map[string]uint64{}}
	// Not in d.wg: it ends when stopRoutes closes the watcher, after
	// teardown's wg.Wait.
	go d.followLost(w.Lost())
	s, err := d.staticFromConfig(d.cfg)
	if err != nil {
		return err
	}
	d.setStatic(vip.Static{}, s)
	if len(s.Addresses) > 0 {
		if d.routes.addrs, err = d.watchStaticAddrs(); err != nil {
			return err
		}
	}
	return nil
}

// stopRoutes removes the static objects, rules first, as keepalived's
// stop_vrrp does, after the virtual routes and rules the shutdown queued for
// removal, then closes the watcher.
func (d *Daemon) stopRoutes() {
	rs := d.routes
	if rs == nil {
		return
	}
	if rs.addrs != nil {
		rs.addrs.close()
	}
	d.mu.Lock()
	s := rs.static
	d.mu.Unlock()
	d.vipq.do(func() {
		rs.watch.Untrack(staticOwner)
		if err := vip.RemoveStatic(d.vips, rs.rm, s); err != nil {
			d.log.Error("removing static addresses, routes and rules", "err", err)
		}
	})
	d.vipq.flush()
	_ = rs.watch.Close()
	_ = rs.rm.Close()
}

// staticFromConfig converts the static_ipaddress lines (routes and rules
// are vip's types already).
func (d *Daemon) staticFromConfig(cfg *config.Config) (vip.Static, error) {
	s := vip.Static{Routes: cfg.StaticRoutes, Rules: cfg.StaticRules}
	for _, a := range cfg.StaticAddresses {
		// keepalived.conf(5): a static address without dev goes on
		// default_interface, whose default is eth0 (xvrrpd does not read
		// default_interface: see the keyword table).
		hv, err := hostVIPFromConfig(a, "eth0")
		if err != nil {
			return vip.Static{}, err
		}
		s.Addresses = append(s.Addresses, hv.VIP)
	}
	return s, nil
}

// setStatic makes the host's static objects go from old to s: what old
// has and s lacks is removed (clear_diff_static_*), then s is added
// (adding what is present succeeds) and tracked.
func (d *Daemon) setStatic(old, s vip.Static) {
	rs := d.routes
	rs.static = s
	gone := vip.StaticRemoved(old, s)
	d.vipq.do(func() {
		rs.watch.Untrack(staticOwner)
		if err := vip.RemoveStatic(d.vips, rs.rm, gone); err != nil {
			d.log.Error("removing static objects dropped by the configuration", "err", err)
		}
		err := vip.AddStatic(d.vips, rs.rm, s)
		if err != nil {
			d.log.Error("setting static addresses, routes and rules", "err", err)
		}
		routes, rules := applied(s.Routes, s.Rules, err)
		rs.watch.Track(staticOwner, routes, rules)
	})
}

// reloadStatic is Reload's: the static objects follow the new
// configuration (under d.mu).
func (d *Daemon) reloadStatic(cfg *config.Config) {
	if d.routes == nil {
		return
	}
	s, err := d.staticFromConfig(cfg)
	if err != nil {
		d.log.Error("static_ipaddress of the reloaded configuration", "err", err)
		return
	}
	d.setStatic(d.routes.static, s)
}

// applied returns the routes and rules of a set that were installed: those
// an add failed for are not tracked, as keepalived leaves them unset (a
// route that could not be added cannot be deleted behind our back).
func applied(routes []vip.Route, rules []vip.Rule, err error) ([]vip.Route, []vip.Rule) {
	var failed []string // keepalived renderings of the objects that failed
	for _, e := range flatten(err) {
		var se vip.SetErrors
		if errors.As(e, &se) {
			for _, oe := range se {
				failed = append(failed, oe.Object)
			}
		}
	}
	keepRoutes := slices.DeleteFunc(slices.Clone(routes), func(r vip.Route) bool { return slices.Contains(failed, r.String()) })
	keepRules := slices.DeleteFunc(slices.Clone(rules), func(r vip.Rule) bool { return slices.Contains(failed, r.String()) })
	return keepRoutes, keepRules
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// addRoutes queues r's virtual routes and rules for the host, after its
// VIPs (hook: addVIPs, under d.mu).
func (d *Daemon) addRoutes(r *instance) {
	rs := d.routes
	if rs == nil || (len(r.cfg.VirtualRoutes) == 0 && len(r.cfg.VirtualRules) == 0) {
		return
	}
	name, routes, rules := r.cfg.Name, r.cfg.VirtualRoutes, r.cfg.VirtualRules
	d.vipq.do(func() {
		// keepalived vrrp_state_become_master: routes, then rules.
		err := errors.Join(rs.rm.AddRoutes(routes), rs.rm.AddRules(rules))
		if err != nil {
			d.log.Error("add virtual routes and rules", "instance", name, "err", err)
		}
		tr, tu := applied(routes, rules, err)
		rs.watch.Track(name, tr, tu)
	})
}

// removeRoutes queues the removal of routes and rules, rules first
// (keepalived vrrp_restore_interface), untracking the owner before (hook:
// removeVIPs, under d.mu).
func (d *Daemon) removeRoutes(name string, routes []vip.Route, rules []vip.Rule) {
	rs := d.routes
	if rs == nil || (len(routes) == 0 && len(rules) == 0) {
		return
	}
	d.vipq.do(func() {
		rs.watch.Untrack(name)
		if err := errors.Join(rs.rm.RemoveRules(rules), rs.rm.RemoveRoutes(routes)); err != nil {
			d.log.Error("remove virtual routes and rules", "instance", name, "err", err)
		}
	})
}

// dropRoutes removes what old's virtual routes and rules have and next's
// lack, for a reload of a MASTER (hook: reconfigure, removeVIPsExcept); the
// add that follows tracks the new set.
func (d *Daemon) dropRoutes(name string, old, next *config.Instance) {
	var routes []vip.Route
	for _, r := range old.VirtualRoutes {
		if next == nil || !slices.ContainsFunc(next.VirtualRoutes, func(n vip.Route) bool { return n.String() == r.String() }) {
			routes = append(routes, r)
		}
	}
	var rules []vip.Rule
	for _, r := range old.VirtualRules {
		if next == nil || !slices.ContainsFunc(next.VirtualRules, func(n vip.Rule) bool { return n.String() == r.String() }) {
			rules = append(rules, r)
		}
	}
	d.removeRoutes(name, routes, rules)
}

// followLost acts on the tracked objects the watcher finds deleted.
func (d *Daemon) followLost(lost <-chan vip.Lost) {
	for l := range lost {
		d.mu.Lock()
		if !d.stopped {
			d.onLost(l)
		}
		d.mu.Unlock()
	}
}

func (d *Daemon) onLost(l vip.Lost) {
	rs := d.routes
	kind, what := "route_lost", ""
	if l.Route != nil {
		what = "virtual route " + l.Route.String()
	} else {
		kind, what = "rule_lost", "virtual rule "+l.Rule.String()
	}
	if l.Owner == staticOwner {
		// keepalived reinstate_static_route / reinstate_static_rule.
		rs.count(staticOwner, kind)
		d.log.Warn("static object deleted behind xvrrpd's back; restoring it", "object", what[len("virtual "):])
		s := rs.static
		d.vipq.do(func() {
			var err error
			if l.Route != nil {
				err = rs.rm.AddRoute(*l.Route)
			} else {
				err = rs.rm.AddRule(*l.Rule)
			}
			if err != nil {
				d.log.Error("restoring a deleted static object", "err", err)
			}
			rs.watch.Track(staticOwner, s.Routes, s.Rules)
		})
		return
	}
	r := d.byName[l.Owner]
	// Only a MASTER holding its routes gives MASTER up: a report racing
	// with a transition (the removal is queued, the watcher not yet told)
	// is stale (keepalived: "if (vrrp->state != VRRP_STATE_MAST) return").
	if r == nil || !r.vipsHeld || r.m.State() != fsm.StateMaster {
		return
	}
	rs.count(l.Owner, kind)
	d.log.Warn(fmt.Sprintf("%s: %s deleted behind xvrrpd's back; leaving MASTER to reinstate it", r.cfg.Name, what), "instance", r.cfg.Name)
	d.handle(r, fsm.Event{Kind: fsm.EventLeaveMaster, Reason: what + " deleted"}, time.Now())
}

func (rs *routeState) count(owner, kind string) {
	m := rs.lost[owner]
	if m == nil {
		m = map[string]uint64{}
		rs.lost[owner] = m
	}
	m[kind]++
}

// routeStatus fills r's routes and rules into its status (hook:
// instanceStatus, under d.mu); lost objects count as errors
// (xvrrp_instance_errors_total{kind="route_lost"|"rule_lost"}).
func (d *Daemon) routeStatus(r *instance, st *status.Instance) {
	st.VirtualRoutes, st.VirtualRules = len(r.cfg.VirtualRoutes), len(r.cfg.VirtualRules)
	st.RoutesHeld = r.vipsHeld && st.VirtualRoutes+st.VirtualRules > 0
	if d.routes == nil {
		return
	}
	for k, n := range d.routes.lost[r.cfg.Name] {
		st.Errors[k] += n
	}
}

// staticStatus reports the static objects (hook: Status, under d.mu).
func (d *Daemon) staticStatus(doc *status.Document) {
	if d.routes == nil {
		return
	}
	s := d.routes.static
	doc.Static = status.Static{Addresses: len(s.Addresses), Routes: len(s.Routes), Rules: len(s.Rules),
		Lost: d.routes.lost[staticOwner]["route_lost"] + d.routes.lost[staticOwner]["rule_lost"] + d.routes.lost[staticOwner]["address_lost"]}
}

// staticAddrWatch re-adds a static address deleted behind xvrrpd's back
// (keepalived_netlink.c → reinstate_static_address), unless no_track.
type staticAddrWatch struct {
	done chan struct{}
	once sync.Once
}

func (w *staticAddrWatch) close() { w.once.Do(func() { close(w.done) }) }

func (d *Daemon) watchStaticAddrs() (*staticAddrWatch, error) {
	w := &staticAddrWatch{done: make(chan struct{})}
	ch := make(chan netlink.AddrUpdate, 64)
	if err := netlink.AddrSubscribeWithOptions(ch, w.done, netlink.AddrSubscribeOptions{ReceiveBufferSize: netlinkRcvBuf}); err != nil {
		return nil, fmt.Errorf("subscribe to address events for static_ipaddress: %w", err)
	}
	go func() {
		for u := range ch {
			if u.NewAddr {
				continue
			}
			dev := ""
			if l, err := netlink.LinkByIndex(u.LinkIndex); err == nil {
				dev = l.Attrs().Name
			}
			d.mu.Lock()
			if d.stopped {
				d.mu.Unlock()
				continue
			}
			for _, a := range d.routes.static.Addresses {
				if a.NoTrack || !sameAddr(a, dev, u) {
					continue
				}
				d.routes.count(staticOwner, "address_lost")
				d.log.Warn("static address deleted behind xvrrpd's back; restoring it", "address", a.String())
				d.vipq.do(func() {
					if err := d.vips.Add(a); err != nil {
						d.log.Error("restoring a deleted static address", "address", a.String(), "err", err)
					}
				})
			}
			d.mu.Unlock()
		}
	}()
	return w, nil
}

func sameAddr(a vip.VIP, dev string, u netlink.AddrUpdate) bool {
	if u.LinkAddress.IP == nil || dev != a.Dev {
		return false
	}
	ones, _ := u.LinkAddress.Mask.Size()
	return ones == a.Prefix.Bits() && u.LinkAddress.IP.Equal(a.Prefix.Addr().AsSlice())
}
