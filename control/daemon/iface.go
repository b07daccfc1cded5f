package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/loader"
	"github.com/xvrrp/xvrrp/vip"
)

// iface is one interface xvrrpd serves: XDP attached, VRRP multicast groups
// joined, an AF_PACKET sender open.
type iface struct {
	name   string
	index  int
	mode   loader.AttachMode
	up     bool
	sender *vip.Sender
	ann    *vip.Announcer
	groups io.Closer
	dp     *loader.Dataplane
	// readSource replaces the host's address lookup of sourceAddr when set
	// (tests: a netlink read that fails, an address that changes).
	readSource func(family int) (netip.Addr, error)
}

func (ifc *iface) attached() bool { return ifc.mode != loader.AttachMode(0) }

func (ifc *iface) close() {
	if ifc.groups != nil {
		_ = ifc.groups.Close()
	}
	if ifc.sender != nil {
		_ = ifc.sender.Close()
	}
	if ifc.ann != nil {
		_ = ifc.ann.Close()
	}
}

// linkUp is RFC 2863 operational state as the kernel reports it: a veth
// whose peer is down, or a NIC without carrier, is not up.
func linkUp(l netlink.Link) bool {
	a := l.Attrs()
	if a.Flags&net.FlagUp == 0 {
		return false
	}
	switch a.OperState {
	case netlink.OperUp, netlink.OperUnknown:
		return true
	}
	return false
}

// checkInterfaces fails with one line per missing interface before anything
// is touched.
func (d *Daemon) checkInterfaces(cfg *config.Config) error {
	seen := map[string]bool{}
	for _, in := range cfg.Instances {
		if seen[in.Interface] {
			continue
		}
		seen[in.Interface] = true
		if _, err := netlink.LinkByName(in.Interface); err != nil {
			return fmt.Errorf("%s: vrrp_instance %s: interface %s does not exist here: fix `interface` or create the link", in.Pos, in.Name, in.Interface)
		}
	}
	return nil
}

// ensureIface attaches XDP to name and opens its sender once.
func (d *Daemon) ensureIface(name string, cfg *config.Config) (*iface, error) {
	if ifc := d.ifaces[name]; ifc != nil {
		return ifc, nil
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	ifc := &iface{name: name, index: l.Attrs().Index, up: linkUp(l), dp: d.dp}
	mode, err := d.dp.Attach(name, loader.IfaceOptions{})
	if err != nil {
		return nil, err
	}
	ifc.mode = mode
	ifc.sender, err = vip.NewSender(vip.SenderConfig{Ifindex: ifc.index})
	if err == nil {
		ifc.ann, err = vip.NewAnnouncer(vip.AnnouncerConfig{Ifindex: ifc.index})
	}
	if err != nil {
		ifc.close()
		_ = d.dp.Detach(name)
		return nil, err
	}
	// A physical NIC filters multicast nobody joined: XDP only sees what
	// the NIC lets in (RFC 5798 §5.1.1.2 group 224.0.0.18, §5.1.2.2 ff02::12).
	ifc.groups, err = vip.JoinGroups(ifc.index, cfg.Global.McastGroup4, cfg.Global.McastGroup6)
	if err != nil {
		ifc.close()
		_ = d.dp.Detach(name)
		return nil, err
	}
	d.ifaces[name] = ifc
	d.log.Info("XDP attached", "interface", name, "mode", mode.String())
	return ifc, nil
}

func (d *Daemon) detachUnusedIfaces() {
	used := map[string]bool{}
	for _, r := range d.byName {
		used[r.ifc.name] = true
	}
	for name, ifc := range d.ifaces {
		if !used[name] {
			ifc.close()
			if err := d.dp.Detach(name); err != nil {
				d.log.Warn("detach XDP", "interface", name, "err", err)
			}
			delete(d.ifaces, name)
		}
	}
}

// sourceAddr picks the advert source when unicast_src_ip is not set: the
// interface's primary IPv4 address, or its IPv6 link-local address (RFC 5798
// §5.1.2.1: IPv6 adverts come from the link-local address).
// The zero address and an error wrapping vip.ErrNoSourceAddress: there is
// none; another error: it could not be read (netlink), which says nothing
// about the address.
func (ifc *iface) sourceAddr(family int) (netip.Addr, error) {
	if ifc.readSource != nil {
		return ifc.readSource(family)
	}
	if family == 6 {
		return vip.LinkLocalIPv6(ifc.index)
	}
	return vip.PrimaryIPv4(ifc.index)
}

// programDataplane writes the instance's receive policy into the XDP table.
func (d *Daemon) programDataplane(r *instance) {
	if r.rateInterval == 0 {
		r.rateInterval = r.cfg.AdvertInterval
	}
	d.noteInterval(r.rateInterval)
	p := loader.InstancePolicy{
		Version:      uint8(r.cfg.Version),
		MinTTL:       255,
		MaxTTL:       255,
		ChecksumAsV2: r.decOpts.ChecksumAsV2,
		Group:        r.cfg.McastGroup,
		Rates:        loader.DefaultRates(r.rateInterval),
		Master:       r.xdpMaster,
		Slot:         uint32(r.id),
	}
	if r.cfg.Unicast() {
		// keepalived's unicast_peer min_ttl/max_ttl (default 0..255: unicast
		// peers may be routed) replace RFC 5798 §7.1's TTL 255 rule; the
		// program checks the widest range of the instance's peers.
		p.MinTTL, p.MaxTTL = 255, 0
		for _, peer := range r.cfg.UnicastPeers {
			p.Peers = append(p.Peers, peer.Addr)
			p.MinTTL = min(p.MinTTL, uint8(peer.MinTTL))
			p.MaxTTL = max(p.MaxTTL, uint8(peer.MaxTTL))
		}
		// keepalived accepts its old unicast checksum form too, unless
		// old_unicast_checksum never; the decoder is told the same.
		p.LegacyUnicastChecksum = r.decOpts.LegacyUnicastChecksum
	}
	if err := d.dp.SetInstance(r.key, p); err != nil {
		d.log.Error("program the XDP instance table", "instance", r.cfg.Name, "err", err)
	}
}

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
				d.linkChanged(u.Link.Attrs().Name, u.Header.Type == unix.RTM_NEWLINK && linkUp(u.Link))
			}
		},
		func() {})
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
			// A master adding hundreds of VIPs makes a burst of events for
			// one interface: look its source addresses up once per burst.
			seen := make(map[int]bool, 4)
			for _, u := range us {
				if !seen[u.LinkIndex] {
					seen[u.LinkIndex] = true
					d.addrChanged(u.LinkIndex)
				}
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
