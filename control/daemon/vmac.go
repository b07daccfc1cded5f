package daemon

import (
	"fmt"
	"time"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/vip"
)

// vmacConfig is an instance's use_vmac interface as keepalived makes it
// (vrrp_vmac.c): vrrp.<VRID> or the given name, on the instance's
// interface. IPv6 stays enabled on an IPv4 instance's VMAC when some of its
// addresses are IPv6 (keepalived VRRP_FLAG_EVIP_OTHER_FAMILY).
func vmacConfig(in *config.Instance) vip.VMACConfig {
	c := vip.VMACConfig{Name: in.VMACName, Parent: in.Interface, VRID: uint8(in.VRID), IPv6: in.Family == 6}
	if in.Family == 6 {
		c.LinkLocal = in.SrcIP
	}
	for _, vs := range [][]config.VIP{in.VIPs, in.ExcludedVIPs} {
		for _, v := range vs {
			if v.Prefix.Addr().Is6() && in.Family == 4 {
				c.KeepIPv6 = true
			}
		}
	}
	return c
}

// ensureVMAC creates (or adopts, after a reload or a restart) the
// instance's macvlan and opens its announcer, so that the VIPs go on it and
// GARPs/NAs announce its virtual MAC. The XDP program stays on the parent,
// which sees every frame before macvlan demultiplexes it. A failure leaves
// the instance in FAULT naming the VMAC, as a missing VIP interface does.
func (d *Daemon) ensureVMAC(r *instance, now time.Time) {
	if !r.cfg.UseVMAC {
		return
	}
	c := vmacConfig(r.cfg)
	v, err := vip.EnsureVMAC(c)
	if err == nil {
		r.vmac = v
		var ann *vip.Announcer
		if ann, err = vip.NewAnnouncer(vip.AnnouncerConfig{Ifindex: v.Index}); err == nil {
			r.ann = ann
		}
	}
	if err != nil {
		d.log.Error(fmt.Sprintf("%s: use_vmac: %v", r.cfg.Name, err), "instance", r.cfg.Name)
		d.handle(r, fsm.Event{Kind: fsm.EventSetFault, Fault: fsm.FaultReason{Kind: fsm.FaultTrackedInterfaceDown, Name: c.IfName()}}, now)
		return
	}
	if !v.Adopted {
		d.log.Info(fmt.Sprintf("%s: created VMAC %s (%s) on %s", r.cfg.Name, v.Name, v.MAC, c.Parent), "instance", r.cfg.Name)
	}
}

// removeVMAC deletes the instance's macvlan (SIGTERM, or the instance gone
// from the configuration), as keepalived does on exit.
func (d *Daemon) removeVMAC(r *instance) {
	if r.vmac == nil {
		return
	}
	if err := vip.RemoveVMAC(vmacConfig(r.cfg)); err != nil {
		d.log.Warn(fmt.Sprintf("%s: removing VMAC %s: %v", r.cfg.Name, r.vmac.Name, err), "instance", r.cfg.Name)
	}
	r.vmac = nil
}
