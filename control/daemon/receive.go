package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/xvrrp/xvrrp/control/advert"
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

// receive handles one advert the XDP program accepted. The program already
// checked TTL, length, checksum, version and the instance table; the
// decoder checks again (cheaply) and the engine applies the protocol. now
// is when it arrived (kernelClock.receivedAt).
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
	if err := advert.Decode(ev.Payload, ev.Src, ev.Dst, r.decOpts, &r.rx); err != nil {
		r.errs[decodeErrKind(err)]++
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
	// RFC 3768 §7.1 / RFC 2338 §5.3.6: with simple text authentication the
	// auth type and password must match ours, compared in constant time.
	if r.auth && (r.rx.AuthType != 1 || !r.rx.AuthMatches(r.pass)) {
		r.errs[errAuth]++
		return
	} else if !r.auth && r.cfg.Version == 2 && r.rx.AuthType != 0 {
		r.errs[errAuth]++
		return
	}
	// RFC 5798 §7.1: the address list MAY be verified; keepalived drops a
	// mismatching advert unless skip_check_adv_addr. Priority 0 adverts are
	// checked too: a stranger's shutdown must not make us take over.
	if !r.cfg.SkipCheckAdvAddr && !r.sameAddrs(r.rx.Addrs) {
		r.errs[errAddrList]++
		return
	}
	if r.cfg.Version == 2 && r.rx.Version == 2 && r.rx.Interval != r.tmpl.Interval {
		// keepalived: a v2 advert whose interval differs is dropped; the
		// engine applies the rule too, counted here for metrics.
		r.errs[errInterval]++
	}
	r.lastAdvert = now
	r.postponed = 0
	adv := fsm.Advert{
		Src: ev.Src, Priority: r.rx.Priority, Interval: r.rx.IntervalDuration(), Version: r.rx.Version,
	}
	d.handle(r, fsm.Event{Kind: fsm.EventAdvert, Advert: adv}, now)
	d.followMasterInterval(r, ev.Src)
	d.followMaster(r, ev.Src, now)
	d.expectRepeats(r, adv, ev.Payload, ev.Time, now)
}

func decodeErrKind(err error) errKind {
	switch {
	case errors.Is(err, advert.ErrChecksum):
		return errChecksum
	case errors.Is(err, advert.ErrTooShort), errors.Is(err, advert.ErrLength):
		return errLength
	case errors.Is(err, advert.ErrVersion), errors.Is(err, advert.ErrType):
		return errVersion
	case errors.Is(err, advert.ErrAuthType):
		return errAuth
	}
	return errOther
}
