package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/xvrrp/xvrrp/loader"
	"github.com/xvrrp/xvrrp/vip"
)

// reconcileStart cleans what a previous run of xvrrpd on the same pin
// directory left when it died without its shutdown (kill -9, OOM, a
// crash). It runs at start under d.mu, after apply, when every instance
// has its starting state; the pin directory's lock (loader.LockPinDir)
// makes sure no live daemon owns what it cleans:
//
//   - the instance-table entries of instances no longer configured, so
//     their adverts count as unknown VRID again;
//   - the XDP links pinned for interfaces no longer configured (only links
//     pinned under the pin directory, never another program's);
//   - the configured VIPs on the host that no instance holds in its
//     starting state: keepalived removes its configured addresses from an
//     instance that does not start as master, so a daemon restarted as
//     BACKUP does not keep the VIP its predecessor added while the new
//     master adds it too;
//   - likewise the configured virtual_routes and virtual_rules on the host
//     that no instance holds in its starting state (keepalived's
//     vrrp_restore_interface for an instance that does not start as
//     master), removed before the VIPs as a BACKUP transition removes
//     them, rules first.
//
// It logs one line saying what it cleaned (nothing when there was
// nothing), each kind a comma-separated list.
func (d *Daemon) reconcileStart() {
	var cleaned []any
	var errs []string
	stale, err := d.dp.PruneInstances(func(k loader.InstanceKey) bool { return d.byKey[k] != nil })
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(stale) > 0 {
		s := make([]string, len(stale))
		for i, k := range stale {
			s[i] = k.String()
		}
		cleaned = append(cleaned, "instance_table_entries", strings.Join(s, ", "))
	}
	keep := make([]string, 0, len(d.ifaces))
	for name := range d.ifaces {
		keep = append(keep, name)
	}
	links, err := d.dp.DetachUnlisted(keep)
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(links) > 0 {
		cleaned = append(cleaned, "xdp_links", strings.Join(links, ", "))
	}
	routes, rules, err := d.removeUnheldRoutes()
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(routes) > 0 {
		cleaned = append(cleaned, "routes", strings.Join(routes, ", "))
	}
	if len(rules) > 0 {
		cleaned = append(cleaned, "rules", strings.Join(rules, ", "))
	}
	vips, err := d.removeUnheldVIPs()
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(vips) > 0 {
		cleaned = append(cleaned, "vips", strings.Join(vips, ", "))
	}
	if len(errs) > 0 {
		cleaned = append(cleaned, "errors", strings.Join(errs, "; "))
	}
	if len(cleaned) > 0 {
		d.log.Info("cleaned what a previous run left", cleaned...)
	}
}

// removeUnheldVIPs queues the removal of every configured VIP that is on
// the host while no instance holds it, and returns them (address dev).
func (d *Daemon) removeUnheldVIPs() ([]string, error) {
	type onLink struct {
		index int
		p     netip.Prefix
	}
	held := map[onLink]bool{}
	index := map[string]int{}
	indexOf := func(dev string) int {
		if i, ok := index[dev]; ok {
			return i
		}
		i := 0
		if l, err := netlink.LinkByName(dev); err == nil {
			i = l.Attrs().Index
		}
		index[dev] = i
		return i
	}
	for _, r := range d.byName {
		if r.vipsHeld {
			for _, v := range r.vips {
				held[onLink{indexOf(v.Dev), v.Prefix}] = true
			}
		}
	}
	addrs, err := vip.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list the host's addresses: %w", err)
	}
	present := map[onLink]bool{}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		present[onLink{a.LinkIndex, netip.PrefixFrom(ip.Unmap(), ones)}] = true
	}
	var out []string
	queued := map[onLink]bool{}
	for _, r := range d.byName {
		if r.vipsHeld {
			continue
		}
		for _, v := range r.vips {
			k := onLink{indexOf(v.Dev), v.Prefix}
			if k.index == 0 || held[k] || queued[k] || !present[k] {
				continue
			}
			queued[k] = true
			d.vipq.remove(r.cfg.Name, v.VIP)
			out = append(out, v.Prefix.String()+" dev "+v.Dev)
		}
	}
	return out, nil
}

// removeUnheldRoutes removes the configured virtual routes and rules that
// are on the host while no instance holds them, rules first, and returns
// them (keepalived renderings). The presence checks and removals run on the
// VIP queue's goroutine, which owns the route manager's netlink handle; the
// caller waits for them (at start, before the scheduler runs: nothing else
// waits on d.mu yet).
func (d *Daemon) removeUnheldRoutes() (routes, rules []string, err error) {
	rs := d.routes
	if rs == nil {
		return nil, nil, nil
	}
	held := map[string]bool{}
	for _, r := range d.byName {
		if r.vipsHeld {
			for _, x := range r.cfg.VirtualRoutes {
				held["route "+x.String()] = true
			}
			for _, x := range r.cfg.VirtualRules {
				held["rule "+x.String()] = true
			}
		}
	}
	var candRoutes []vip.Route
	var candRules []vip.Rule
	for _, r := range d.byName {
		if r.vipsHeld {
			continue
		}
		for _, x := range r.cfg.VirtualRoutes {
			if k := "route " + x.String(); !held[k] {
				held[k] = true // once, when two instances name it
				candRoutes = append(candRoutes, x)
			}
		}
		for _, x := range r.cfg.VirtualRules {
			if k := "rule " + x.String(); !held[k] {
				held[k] = true
				candRules = append(candRules, x)
			}
		}
	}
	if len(candRoutes) == 0 && len(candRules) == 0 {
		return nil, nil, nil
	}
	done := make(chan struct{})
	d.vipq.do(func() {
		defer close(done)
		var errs []error
		for _, x := range candRules {
			on, perr := rs.rm.RulePresent(x)
			if perr == nil && on {
				perr = rs.rm.RemoveRule(x)
				if perr == nil {
					rules = append(rules, x.String())
				}
			}
			errs = append(errs, perr)
		}
		for _, x := range candRoutes {
			on, perr := rs.rm.RoutePresent(x)
			if perr == nil && on {
				perr = rs.rm.RemoveRoute(x)
				if perr == nil {
					routes = append(routes, x.String())
				}
			}
			errs = append(errs, perr)
		}
		err = errors.Join(errs...)
	})
	<-done
	return routes, rules, err
}
