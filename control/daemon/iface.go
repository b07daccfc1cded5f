package daemon

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/loader"
	"github.com/xvrrp/xvrrp/vip"
)

// iface is one interface xvrrpd serves: XDP attached, VRRP multicast groups
// joined, an AF_PACKET sender open.
type iface struct {
	name  string
	index int
	mode  loader.AttachMode
	up    bool
	// present: an interface of this name exists with this index. While it
	// does not (deleted, renamed away), nothing is attached, joined or
	// open, and its instances are in FAULT (ifaceLost, ifaceFound).
	present bool
	snaps   counterSnaps // recent XDP counters, for takeover reports
	sender  *vip.Sender
	ann     *vip.Announcer
	groups  io.Closer
	dp      *loader.Dataplane
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
	ifc.groups, ifc.sender, ifc.ann = nil, nil, nil
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

// checkXDPSlots is checkInterfaces' for --attach xdp: no configured
// interface's XDP slot may hold another program (loader.CheckXDPSlot).
func (d *Daemon) checkXDPSlots(cfg *config.Config) error {
	seen := map[string]bool{}
	for _, in := range cfg.Instances {
		if seen[in.Interface] {
			continue
		}
		seen[in.Interface] = true
		if err := loader.CheckXDPSlot(d.opts.PinDir, in.Interface); err != nil {
			return err
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
	b, err := d.bindIface(name, ifc.index, cfg)
	if err != nil {
		return nil, err
	}
	ifc.setBinding(b)
	d.ifaces[name] = ifc
	// Which hook auto chose, for the operator (also in status and metrics).
	d.log.Info("receive program attached", "interface", name, "mode", b.mode.String(), "attach", d.opts.Attach.String())
	return ifc, nil
}

// ifaceBinding is what an interface's ifindex carries: the attached
// program, the AF_PACKET sender and announcer, the multicast groups.
type ifaceBinding struct {
	index  int
	mode   loader.AttachMode
	sender *vip.Sender
	ann    *vip.Announcer
	groups io.Closer
}

func (b *ifaceBinding) close() {
	if b.groups != nil {
		_ = b.groups.Close()
	}
	if b.sender != nil {
		_ = b.sender.Close()
	}
	if b.ann != nil {
		_ = b.ann.Close()
	}
}

func (ifc *iface) setBinding(b *ifaceBinding) {
	ifc.index, ifc.mode, ifc.sender, ifc.ann, ifc.groups = b.index, b.mode, b.sender, b.ann, b.groups
	ifc.present = true
}

// bindIface attaches XDP to the interface name (whose index is index),
// opens its sender and announcer and joins the VRRP groups; on error it
// undoes what it did. It takes no daemon lock (loading the program takes
// milliseconds to a second).
func (d *Daemon) bindIface(name string, index int, cfg *config.Config) (*ifaceBinding, error) {
	b := &ifaceBinding{index: index}
	mode, err := d.dp.Attach(name, loader.IfaceOptions{})
	if err != nil {
		return nil, err
	}
	b.mode = mode
	b.sender, err = vip.NewSender(vip.SenderConfig{Ifindex: index})
	if err == nil {
		b.ann, err = vip.NewAnnouncer(vip.AnnouncerConfig{Ifindex: index})
	}
	if err == nil {
		// A physical NIC filters multicast nobody joined: XDP only sees
		// what the NIC lets in (RFC 5798 §5.1.1.2 group 224.0.0.18,
		// §5.1.2.2 ff02::12).
		b.groups, err = vip.JoinGroups(index, cfg.Global.McastGroup4, cfg.Global.McastGroup6)
	}
	if err != nil {
		b.close()
		_ = d.dp.Detach(name)
		return nil, err
	}
	return b, nil
}

// missingFault is the fault of an instance whose interface does not exist.
func missingFault(name string) fsm.FaultReason {
	return fsm.FaultReason{Kind: fsm.FaultInterfaceMissing, Name: name}
}

// ifaceLost drops what was bound to ifc's ifindex, which no longer carries
// its name: deleted (renamedTo ""), or renamed to renamedTo. Its instances
// go to FAULT (a master sends priority 0 while it still can, and gives its
// addresses up: on a renamed interface they are removed under the new name,
// or they would stay there). Under d.mu.
func (d *Daemon) ifaceLost(ifc *iface, renamedTo string, now time.Time) {
	if renamedTo == "" {
		d.log.Warn(fmt.Sprintf("interface %s (index %d) was deleted: its instances are in FAULT until an interface of that name exists again", ifc.name, ifc.index),
			"interface", ifc.name, "ifindex", ifc.index)
	} else {
		d.log.Warn(fmt.Sprintf("interface %s (index %d) was renamed to %s: its instances are in FAULT until an interface named %s exists again", ifc.name, ifc.index, renamedTo, ifc.name),
			"interface", ifc.name, "ifindex", ifc.index, "new_name", renamedTo)
	}
	for _, r := range d.byName {
		if r.ifc != ifc {
			continue
		}
		held := r.vipsHeld
		d.handle(r, fsm.Event{Kind: fsm.EventSetFault, Fault: missingFault(ifc.name)}, now)
		if ifc.up {
			d.handle(r, fsm.Event{Kind: fsm.EventSetFault, Fault: fsm.FaultReason{Kind: fsm.FaultPrimaryInterfaceDown, Name: ifc.name}}, now)
		}
		if held && renamedTo != "" {
			for _, v := range r.vips {
				if v.Dev == ifc.name {
					v.Dev = renamedTo
					d.vipq.remove(r.cfg.Name, v.VIP)
				}
			}
		}
		d.stopGARP(r)
		d.releaseSender(r)
		r.sender, r.ann = nil, nil
		d.resetRepeats(r)
		if d.byKey[r.key] == r {
			delete(d.byKey, r.key)
		}
		if err := d.dp.DeleteInstance(r.key); err != nil {
			d.log.Debug("remove instance from the XDP table", "instance", r.cfg.Name, "err", err)
		}
	}
	ifc.up = false
	ifc.present = false
	ifc.close()
	ifc.mode = loader.ModeNone
	if err := d.dp.Detach(ifc.name); err != nil {
		d.log.Debug("forget the XDP link", "interface", ifc.name, "err", err)
	}
}

// ifaceFound binds ifc again, now that its name carries ifindex index:
// XDP attached, sender, announcer and groups on the new index, the
// instances' table entries re-keyed, and their FAULT cleared; they come
// back as BACKUP with a full Master_Down_Interval (keepalived
// vrrp_state_leave_fault), never straight to MASTER (except the address
// owner, RFC 5798 §6.4.1). The program is loaded without the daemon lock.
func (d *Daemon) ifaceFound(ifc *iface, index int) {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	b, err := d.bindIface(ifc.name, index, cfg)
	if err != nil {
		d.log.Error(fmt.Sprintf("interface %s is back (index %d) but could not be served: its instances stay in FAULT", ifc.name, index),
			"interface", ifc.name, "ifindex", index, "err", err)
		return
	}
	d.mu.Lock()
	if d.stopped || d.ifaces[ifc.name] != ifc || ifc.present {
		// Stopped, or a reload or a later event got there first.
		d.mu.Unlock()
		b.close()
		if !ifc.present || ifc.index != index {
			_ = d.dp.Detach(ifc.name)
		}
		return
	}
	ifc.setBinding(b)
	d.log.Info(fmt.Sprintf("interface %s exists again (index %d): receive program attached (%s), its instances leave FAULT as BACKUP", ifc.name, index, b.mode),
		"interface", ifc.name, "ifindex", index, "mode", b.mode.String())
	now := time.Now()
	for _, r := range d.byName {
		if r.ifc != ifc {
			continue
		}
		r.key.Ifindex = uint32(index)
		d.byKey[r.key] = r
		r.sender, r.ann = ifc.sender, ifc.ann
		if r.cfg.UseVMAC {
			mac := vip.VirtualRouterMAC(r.cfg.Family == 6, uint8(r.cfg.VRID))
			if r.sender, err = vip.NewSender(vip.SenderConfig{Ifindex: index, SourceMAC: mac}); err != nil {
				d.log.Error("open the use_vmac sender", "instance", r.cfg.Name, "err", err)
				continue // stays in FAULT
			}
		}
		clear(r.sendErr)
		r.xdpMaster, r.xdpMasterSeen = netip.Addr{}, time.Time{}
		r.rateInterval = 0
		d.programDataplane(r)
		d.handle(r, fsm.Event{Kind: fsm.EventClearFault, Fault: missingFault(ifc.name)}, now)
	}
	d.mu.Unlock()
	// The new interface's addresses: the advert source.
	d.addrChanged(index)
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
