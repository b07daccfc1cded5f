package daemon

import (
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
//     master adds it too.
//
// It logs one line saying what it cleaned (nothing when there was
// nothing).
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
		cleaned = append(cleaned, "instance_table_entries", s)
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
		cleaned = append(cleaned, "xdp_links", links)
	}
	vips, err := d.removeUnheldVIPs()
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(vips) > 0 {
		cleaned = append(cleaned, "vips", vips)
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
