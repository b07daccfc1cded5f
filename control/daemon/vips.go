package daemon

import (
	"fmt"
	"slices"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/vip"
)

// hostVIP is a configured address in the form the vip package manages.
type hostVIP struct{ vip.VIP }

// hostVIPFromConfig converts a parsed virtual_ipaddress line through the
// vip package's parser of the same keepalived syntax, so both agree on
// every option's meaning.
func hostVIPFromConfig(v config.VIP, defaultDev string) (hostVIP, error) {
	fields := []string{v.Prefix.String()}
	if v.Broadcast.IsValid() {
		fields = append(fields, "brd", v.Broadcast.String())
	}
	if v.Dev != "" {
		fields = append(fields, "dev", v.Dev)
	}
	if v.Scope != "" {
		fields = append(fields, "scope", v.Scope)
	}
	if v.Label != "" {
		fields = append(fields, "label", v.Label)
	}
	if v.NoTrack {
		fields = append(fields, "no_track")
	}
	hv, err := vip.ParseVIP(fields)
	if err != nil {
		return hostVIP{}, fmt.Errorf("%s: %w", v.Pos, err)
	}
	return hostVIP{hv.WithDefaultDev(defaultDev)}, nil
}

// addVIPs queues the instance's addresses for the host (vipQueue); errors
// are logged there and do not stop the others (a missing dev for one VIP
// must not cost the rest).
func (d *Daemon) addVIPs(r *instance) {
	for i := range r.vips {
		d.vipq.add(r.cfg.Name, r.vips[i].VIP)
	}
	d.addRoutes(r)
	r.vipsHeld = true
}

func (d *Daemon) removeVIPs(r *instance) {
	d.removeRoutes(r.cfg.Name, r.cfg.VirtualRoutes, r.cfg.VirtualRules)
	for i := range r.vips {
		d.vipq.remove(r.cfg.Name, r.vips[i].VIP)
	}
	r.vipsHeld = false
}

// removeVIPsExcept removes the addresses old holds, except, when keep is
// set, those next also has (it is taking over as master and re-adds them):
// a reload that changes a master's VIPs must not leave the dropped ones on
// the host.
func (d *Daemon) removeVIPsExcept(old, next *instance, keep bool) {
	if keep {
		d.dropRoutes(old.cfg.Name, old.cfg, next.cfg)
	} else {
		d.dropRoutes(old.cfg.Name, old.cfg, nil)
	}
	for i := range old.vips {
		v := old.vips[i].VIP
		if keep && slices.ContainsFunc(next.vips, func(n hostVIP) bool { return n.VIP == v }) {
			continue
		}
		d.vipq.remove(old.cfg.Name, v)
	}
	old.vipsHeld = false
}
