package daemon

import (
	"context"
	"time"

	"github.com/xvrrp/xvrrp/control/fsm"

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

// lowerPrioBursts is a split brain's re-announcement (keepalived.conf(5)
// garp_lower_prio_repeat, garp_lower_prio_delay; vrrp.c
// vrrp_state_master_rx): when a master hears a lower-priority advert, a
// burst of garp_lower_prio_repeat GARPs/NAs at once and, when
// garp_lower_prio_delay is set, another that much later. 0 repeats: none.
func (d *Daemon) lowerPrioBursts(r *instance) (now, later vip.Burst, after time.Duration, ok bool) {
	in, g := r.cfg, d.cfg.Global
	// keepalived vrrp.c vrrp_complete_instance: strict mode sends none.
	if in.GarpLowerPrioRepeat <= 0 || in.Strict {
		return vip.Burst{}, vip.Burst{}, 0, false
	}
	b := vip.Burst{Repeat: in.GarpLowerPrioRepeat, ARPInterval: g.GarpInterval, NAInterval: g.GnaInterval}
	return b, b, in.GarpLowerPrioDelay, true
}

// masterRxLowerPri is the engine's ActionMasterRxLowerPri: count it,
// re-announce this instance's addresses and, in a sync group, those of the
// other members that re-announce too (keepalived: their backups yield with
// ours and will not make them hear a lower priority themselves), and
// notify (notify_master_rx_lower_pri, the FIFO's MASTER_RX_LOWER_PRI).
func (d *Daemon) masterRxLowerPri(r *instance) {
	d.reannounce(r)
	if r.group != nil {
		for _, mem := range r.group.members {
			if mem != r && mem.m.State() == fsm.StateMaster {
				d.reannounce(mem)
			}
		}
	}
	d.trackers.notifyRxLowerPri(r)
}

// reannounce starts r's lower-priority bursts, replacing a pending one: a
// peer that keeps advertising a lower priority gets one schedule per advert,
// as keepalived sends, without piling up delayed bursts.
func (d *Daemon) reannounce(r *instance) {
	first, second, after, ok := d.lowerPrioBursts(r)
	if !ok || !r.vipsHeld || r.ann == nil || len(r.vips) == 0 {
		return
	}
	if r.lowerPrio != nil {
		r.lowerPrio()
	}
	r.reannounced++
	vips := make([]vip.VIP, 0, len(r.vips))
	for _, v := range r.vips {
		vips = append(vips, v.VIP)
	}
	ctx, cancel := context.WithCancel(d.ctx)
	r.lowerPrio = cancel
	ann, name := r.ann, r.cfg.Name
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		send := func(b vip.Burst) bool {
			if err := ann.SendBurst(ctx, vips, b); err != nil && ctx.Err() == nil {
				d.log.Warn("gratuitous ARP/NA after a lower-priority advert", "instance", name, "err", err)
			}
			return ctx.Err() == nil
		}
		if !send(first) || after <= 0 {
			return
		}
		if sleep(ctx, after) {
			send(second)
		}
	}()
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
	if r.lowerPrio != nil {
		r.lowerPrio()
		r.lowerPrio = nil
	}
}
