package daemon

import (
	"fmt"
	"time"

	"github.com/xvrrp/xvrrp/control/advert"
	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/loader"
)

// startReceiver reads accepted adverts from the XDP ring buffer and feeds
// them to their instances.
func (d *Daemon) startReceiver() error {
	rd, err := d.dp.Events()
	if err != nil {
		return err
	}
	d.rd = rd
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		<-d.ctx.Done()
		_ = rd.Close()
	}()
	go func() {
		defer d.wg.Done()
		d.readRing(rd)
	}()
	return nil
}

// receive handles one advert the XDP program accepted: decode and check it
// against the instance's policy (advert.Check), then hand it to the engine
// and tell the dataplane what followed. The program already applied the
// rules it can see in the frame; Check applies them all again (cheaply) and
// those that need the configuration. now is when it arrived
// (kernelClock.receivedAt).
func (d *Daemon) receive(ev *loader.Event, now time.Time) {
	if len(ev.Payload) < 2 {
		return
	}
	key := loader.InstanceKey{Ifindex: ev.Ifindex, VRID: ev.Payload[1], Family: ev.Family}
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.byKey[key]
	if r == nil || d.stopped {
		return
	}
	if why := advert.Check(&r.policy, ev.Payload, ev.Src, ev.Dst, &r.rx); why != advert.Accepted {
		r.refused[why]++
		return
	}
	if r.rx.LegacyChecksum && !r.encOpts.LegacyUnicastChecksum {
		// keepalived (vrrp.c, old_unicast_checksum's automatic mode): a peer
		// whose advert verified only with the pre-1.3.7 unicast checksum is
		// answered in that form from then on.
		r.encOpts.LegacyUnicastChecksum = true
		d.log.Info(fmt.Sprintf("%s: %v sends keepalived's pre-1.3.7 unicast checksum; sending it too", r.cfg.Name, ev.Src),
			"instance", r.cfg.Name, "peer", ev.Src)
	}
	r.lastAdvert = now
	r.postponed = 0
	// A backup whose master's adverts come through the ring resets its
	// timer at each one and never fires: without this, its only counter
	// snapshot would be the takeover's own, and the takeover line would
	// say "no frames" over a window of 0 s whatever XDP dropped.
	d.snapCounters(now)
	adv := fsm.Advert{
		Src: ev.Src, Priority: r.rx.Priority, Interval: r.rx.IntervalDuration(), Version: r.rx.Version,
	}
	d.handle(r, fsm.Event{Kind: fsm.EventAdvert, Advert: adv}, now)
	d.followMasterInterval(r, ev.Src)
	d.followMaster(r, ev.Src, now)
	d.expectRepeats(r, adv, ev.Payload, ev.Time, now)
}

// receivePolicy is what the instance accepts (advert.Policy), from its
// configuration and the advert it sends (tmpl: version, interval, password,
// addresses).
func receivePolicy(in *config.Instance, tmpl advert.Advert, dec advert.DecodeOptions) advert.Policy {
	p := advert.Policy{
		Version:   tmpl.Version,
		Interval:  tmpl.Interval,
		Auth:      tmpl.AuthType == advert.AuthPass,
		Pass:      tmpl.AuthData,
		Addrs:     tmpl.Addrs,
		SkipAddrs: in.SkipCheckAdvAddr,
		Decode:    dec,
	}
	if in.CheckUnicastSrc {
		for _, peer := range in.UnicastPeers {
			p.Peers = append(p.Peers, peer.Addr)
		}
	}
	return p
}
