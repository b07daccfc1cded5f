package daemon

import (
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/xvrrp/xvrrp/control/config"
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
	// Which hook auto chose, for the operator (also in status and metrics).
	d.log.Info("receive program attached", "interface", name, "mode", mode.String(), "attach", d.opts.Attach.String())
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
