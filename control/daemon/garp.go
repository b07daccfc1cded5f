package daemon

import (
	"context"

	"github.com/xvrrp/xvrrp/vip"
)

// garpRun is one master's gratuitous ARP / unsolicited NA schedule
// (keepalived.conf(5) garp_master_delay, garp_master_repeat,
// garp_master_refresh, garp_master_refresh_repeat, vrrp_garp_interval,
// vrrp_gna_interval): a burst of garp_master_repeat on becoming master,
// another burst garp_master_delay later, then garp_master_refresh_repeat
// every garp_master_refresh while master. It stops when the instance leaves
// MASTER.
type garpRun struct {
	cancel context.CancelFunc
}

func (d *Daemon) garpConfig(r *instance) vip.GARPConfig {
	in, g := r.cfg, d.cfg.Global
	return vip.GARPConfig{
		MasterDelay:         in.GarpMasterDelay,
		MasterRepeat:        max(in.GarpMasterRepeat, 1),
		MasterRefresh:       in.GarpMasterRefresh,
		MasterRefreshRepeat: max(in.GarpMasterRefreshRepeat, 1),
		ARPInterval:         g.GarpInterval,
		NAInterval:          g.GnaInterval,
	}
}

func (d *Daemon) startGARP(r *instance) {
	d.stopGARP(r)
	vips := make([]vip.VIP, 0, len(r.vips))
	for _, v := range r.vips {
		vips = append(vips, v.VIP)
	}
	if len(vips) == 0 || r.ann == nil {
		return
	}
	ctx, cancel := context.WithCancel(d.ctx)
	r.garp = &garpRun{cancel: cancel}
	cfg := d.garpConfig(r)
	ann, name := r.ann, r.cfg.Name
	added := d.vipq.barrier() // announce the VIPs once they are on the host
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-added:
		case <-ctx.Done():
			return
		}
		send := func(b vip.Burst) bool {
			if err := ann.SendBurst(ctx, vips, b); err != nil && ctx.Err() == nil {
				d.log.Warn("gratuitous ARP/NA", "instance", name, "err", err)
			}
			return ctx.Err() == nil
		}
		if !send(cfg.EntryBurst()) {
			return
		}
		if b, after, ok := cfg.DelayedBurst(); ok {
			if !sleep(ctx, after) || !send(b) {
				return
			}
		}
		if b, period, ok := cfg.RefreshBurst(); ok {
			for sleep(ctx, period) && send(b) {
			}
		}
	}()
}

func (d *Daemon) stopGARP(r *instance) {
	if r.garp != nil {
		r.garp.cancel()
		r.garp = nil
	}
}
