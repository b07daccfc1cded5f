package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/vip"
)

// This file follows the host through netlink: link state (faults of the
// primary and tracked interfaces) and addresses (the advert source).

// watchLinks follows link state through a netlink subscription: a primary
// interface going down is a fault (unless dont_track_primary), as is the
// interface of a tracked VIP (unless no_track).
func (d *Daemon) watchLinks() error {
	return followNetlink(d, "link",
		func(ch chan<- netlink.LinkUpdate, done <-chan struct{}, onErr func(error), resync bool) error {
			// On a resubscription the kernel replays every link, so the
			// events lost with the old socket are made up for.
			return netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
				ErrorCallback: onErr, ListExisting: resync, ReceiveBufferSize: netlinkRcvBuf,
			})
		},
		func(us []netlink.LinkUpdate) {
			for _, u := range us {
				if u.Header.Type != unix.RTM_NEWLINK && u.Header.Type != unix.RTM_DELLINK {
					continue
				}
				a := u.Link.Attrs()
				exists := u.Header.Type == unix.RTM_NEWLINK
				d.linkEvent(a.Name, a.Index, exists, exists && linkUp(u.Link))
			}
		},
		d.recheckIfaces)
}

// linkEvent follows the interfaces by name, as keepalived does: the
// interface that carries a configured name may be deleted and re-created
// (a new ifindex: bond, VLAN or bridge re-created by a network manager, a
// driver reload) or renamed away and back. Everything bound to the old
// ifindex is dropped when it goes (ifaceLost) and bound again to the new
// one when the name reappears (ifaceFound). Then the link's state is
// followed as before (linkChanged).
func (d *Daemon) linkEvent(name string, index int, exists, up bool) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	now := time.Now()
	for _, ifc := range d.ifaces {
		if !ifc.present || ifc.index != index {
			continue
		}
		switch {
		case !exists:
			d.ifaceLost(ifc, "", now)
		case ifc.name != name:
			d.ifaceLost(ifc, name, now)
		}
	}
	ifc := d.ifaces[name]
	found := exists && ifc != nil && (!ifc.present || ifc.index != index)
	if found && ifc.present {
		// The deletion of the old one was not seen (a lost subscription).
		d.ifaceLost(ifc, "", now)
	}
	d.mu.Unlock()
	if found {
		d.ifaceFound(ifc, index)
	}
	d.linkChanged(name, up)
}

// recheckIfaces runs after a lost link subscription: an interface deleted
// or re-created meanwhile is noticed through its name's current index.
func (d *Daemon) recheckIfaces() {
	d.mu.Lock()
	names := make([]string, 0, len(d.ifaces))
	for name := range d.ifaces {
		names = append(names, name)
	}
	d.mu.Unlock()
	for _, name := range names {
		l, err := netlink.LinkByName(name)
		var nf netlink.LinkNotFoundError
		switch {
		case err == nil:
			d.linkEvent(name, l.Attrs().Index, true, linkUp(l))
		case errors.As(err, &nf):
			d.mu.Lock()
			if ifc := d.ifaces[name]; ifc != nil && ifc.present && !d.stopped {
				d.ifaceLost(ifc, "", time.Now())
			}
			d.mu.Unlock()
			d.linkChanged(name, false)
		}
	}
}

// watchAddrs follows address changes: an instance without unicast_src_ip
// sources its adverts from the interface's primary IPv4 or link-local IPv6
// address, which may appear late (IPv6 duplicate address detection) or
// change; without one it is in FAULT ("no usable source address").
func (d *Daemon) watchAddrs() error {
	rescanAll := func() {
		d.mu.Lock()
		idx := make([]int, 0, len(d.ifaces))
		for _, ifc := range d.ifaces {
			idx = append(idx, ifc.index)
		}
		d.mu.Unlock()
		for _, i := range idx {
			d.addrChanged(i)
		}
	}
	err := followNetlink(d, "address",
		func(ch chan<- netlink.AddrUpdate, done <-chan struct{}, onErr func(error), _ bool) error {
			return netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{
				ErrorCallback: onErr, ReceiveBufferSize: netlinkRcvBuf,
			})
		},
		func(us []netlink.AddrUpdate) {
			for _, i := range d.sourceMayChange(us) {
				d.addrChanged(i)
			}
		},
		rescanAll)
	if err != nil {
		return err
	}
	// An address may have settled between startup and the subscription.
	rescanAll()
	return nil
}

// sourceMayChange returns, once each, the interfaces whose advert source
// address a batch of address events may have changed. A master adding or
// removing its VIPs makes one event per address, and each re-read dumps the
// interface's whole address list (interrupted, and so repeated, while the
// adds go on); the events for the daemon's own VIPs are skipped when they
// cannot change the source: the VIP has global scope (the kernel puts a new
// global IPv4 primary after the existing ones, so the first primary stays),
// is not link-local (a new IPv6 link-local address goes before the
// existing one), and every instance on the interface that picks its source
// has one, which is not that VIP.
func (d *Daemon) sourceMayChange(us []netlink.AddrUpdate) []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	own := d.globalVIPs()
	settled := map[int]bool{} // ifindex → every source-picking instance has a source
	srcs := map[netip.Addr]bool{}
	for _, r := range d.byName {
		if r.cfg.SrcIP.IsValid() {
			continue
		}
		i := r.ifc.index
		if ok, seen := settled[i]; !seen || ok {
			settled[i] = r.src.IsValid()
		}
		srcs[r.src] = true
	}
	var out []int
	seen := make(map[int]bool, 4)
	for _, u := range us {
		if seen[u.LinkIndex] {
			continue
		}
		a, _ := netip.AddrFromSlice(u.LinkAddress.IP)
		a = a.Unmap()
		if own[a] && settled[u.LinkIndex] && !srcs[a] {
			continue
		}
		seen[u.LinkIndex] = true
		out = append(out, u.LinkIndex)
	}
	return out
}

// globalVIPs returns d.ownVIPs, building it first if an apply changed the
// instances. d.mu held.
func (d *Daemon) globalVIPs() map[netip.Addr]bool {
	if d.ownVIPs != nil {
		return d.ownVIPs
	}
	own := map[netip.Addr]bool{}
	for _, r := range d.byName {
		for _, v := range r.vips {
			if a := v.Prefix.Addr(); v.Scope == vip.ScopeGlobal && !a.IsLinkLocalUnicast() {
				own[a] = true
			}
		}
	}
	d.ownVIPs = own
	return own
}

// netlinkRcvBuf is the receive buffer of the link and address
// subscriptions: a master taking over 1,000 VIPs makes as many address
// events at once, and an overflow (ENOBUFS) ends a subscription.
const netlinkRcvBuf = 4 << 20

// followNetlink subscribes to one kind of netlink event and hands them to
// handle in batches (everything queued when the first one is read). When the
// kernel ends the subscription (ENOBUFS after a burst closes its socket) it
// subscribes again, with resync set, and calls lost, because events were
// missed. Only the first subscription's error is returned.
func followNetlink[U any](d *Daemon, what string,
	subscribe func(ch chan<- U, done <-chan struct{}, onErr func(error), resync bool) error,
	handle func([]U), lost func()) error {
	onErr := func(err error) {
		if d.ctx.Err() == nil { // closing the socket on shutdown is no error
			d.log.Warn("netlink "+what+" subscription", "err", err)
		}
	}
	ch := make(chan U, 1024)
	if err := subscribe(ch, d.ctx.Done(), onErr, false); err != nil {
		return fmt.Errorf("subscribe to %s events: %w", what, err)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		batch := make([]U, 0, cap(ch))
		for {
			for u := range ch {
				batch = append(batch[:0], u)
			drain:
				for len(batch) < cap(batch) {
					select {
					case u, ok := <-ch:
						if !ok {
							break drain
						}
						batch = append(batch, u)
					default:
						break drain
					}
				}
				handle(batch)
			}
			for {
				if !sleep(d.ctx, 100*time.Millisecond) {
					return
				}
				ch = make(chan U, cap(ch))
				err := subscribe(ch, d.ctx.Done(), onErr, true)
				if err == nil {
					d.log.Warn("netlink " + what + " subscription was lost and is restored; resynchronising")
					break
				}
				onErr(err)
			}
			lost()
		}
	}()
	return nil
}

// addrChanged re-reads the source addresses of interface ifindex, once per
// address family its instances need, without holding the daemon's lock (the
// netlink dumps can take milliseconds on an interface with many VIPs), and
// hands the instances whose source changed the new one.
func (d *Daemon) addrChanged(ifindex int) {
	d.mu.Lock()
	var ifc *iface
	need := map[int]bool{}
	for _, r := range d.byName {
		if r.ifc.index == ifindex && !r.cfg.SrcIP.IsValid() {
			ifc = r.ifc
			need[r.cfg.Family] = true
		}
	}
	d.mu.Unlock()
	if ifc == nil {
		return
	}
	src := make(map[int]netip.Addr, len(need))
	for fam := range need {
		a, err := ifc.sourceAddr(fam)
		if err != nil && !errors.Is(err, vip.ErrNoSourceAddress) {
			// Not read, so not changed: the next address event reads again.
			d.log.Warn("reading the advert source address", "interface", ifc.name, "err", err)
			continue
		}
		src[fam] = a
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	now := time.Now()
	for _, r := range d.byName {
		if r.ifc.index != ifindex || r.cfg.SrcIP.IsValid() {
			continue
		}
		a, ok := src[r.cfg.Family]
		if ok && a != r.src {
			d.log.Info("advert source address changed", "instance", r.cfg.Name, "from", r.src, "to", a)
			r.src = a
			d.handle(r, fsm.Event{Kind: fsm.EventSetPrimaryAddr, Addr: a}, now)
		}
	}
}

func (d *Daemon) linkChanged(name string, up bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	now := time.Now()
	if ifc := d.ifaces[name]; ifc != nil && ifc.up != up {
		ifc.up = up
		d.log.Info("interface state changed", "interface", name, "up", up)
		for _, r := range d.byName {
			if r.ifc != ifc {
				continue
			}
			d.handle(r, faultEvent(up, fsm.FaultReason{Kind: fsm.FaultPrimaryInterfaceDown, Name: name}), now)
		}
	}
	for _, r := range d.byName {
		for _, v := range r.vips {
			if v.Dev == name && v.Dev != r.ifc.name && !v.NoTrack {
				d.handle(r, faultEvent(up, fsm.FaultReason{Kind: fsm.FaultTrackedInterfaceDown, Name: name}), now)
				break
			}
		}
	}
	d.trackers.linkChanged(name, up)
}

// applyVIPInterfaceFaults sets the initial fault for VIPs on other, down
// interfaces (keepalived: a VIP's interface is tracked unless no_track).
func (d *Daemon) applyVIPInterfaceFaults(r *instance, now time.Time) {
	for _, v := range r.vips {
		if v.Dev == r.ifc.name || v.NoTrack {
			continue
		}
		l, err := netlink.LinkByName(v.Dev)
		if err != nil || !linkUp(l) {
			d.handle(r, fsm.Event{Kind: fsm.EventSetFault, Fault: fsm.FaultReason{Kind: fsm.FaultTrackedInterfaceDown, Name: v.Dev}}, now)
		}
	}
}

func faultEvent(ok bool, r fsm.FaultReason) fsm.Event {
	if ok {
		return fsm.Event{Kind: fsm.EventClearFault, Fault: r}
	}
	return fsm.Event{Kind: fsm.EventSetFault, Fault: r}
}
