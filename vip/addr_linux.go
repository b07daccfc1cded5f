package vip

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Manager adds and removes VIPs through netlink, in the network namespace
// that was current on the calling thread when NewManager ran.
type Manager struct {
	h  *netlink.Handle
	nb *nlBatch // Apply's socket
}

// NewManager opens a netlink handle in the calling thread's network
// namespace.
func NewManager() (*Manager, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink handle for VIPs: %w", err)
	}
	nb, err := openNLBatch()
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("VIPs: %w", err)
	}
	return &Manager{h: h, nb: nb}, nil
}

// Close releases the netlink handle and socket.
func (m *Manager) Close() error {
	m.h.Close()
	m.nb.close()
	return nil
}

func (m *Manager) link(v VIP) (netlink.Link, error) {
	if v.Dev == "" {
		return nil, fmt.Errorf("VIP %s has no dev: call WithDefaultDev with the instance interface first", v.Prefix)
	}
	l, err := m.h.LinkByName(v.Dev)
	if err != nil {
		return nil, fmt.Errorf("VIP %s: interface %s: %w", v.Prefix, v.Dev, err)
	}
	return l, nil
}

// nlAddr renders v as a netlink address; withAttrs adds what only matters on
// add (label, broadcast, flags, lifetimes), so that a delete matches the
// address whatever label it carries now.
func nlAddr(v VIP, withAttrs bool) *netlink.Addr {
	a := v.Addr()
	ipn := &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(v.Prefix.Bits(), a.BitLen())}
	na := &netlink.Addr{IPNet: ipn, Scope: int(v.Scope)}
	if a.Is4() {
		// The netlink library computes the broadcast for a nil Broadcast,
		// like `ip addr add ... brd +`; 0.0.0.0 means none.
		if v.NoBroadcast || !withAttrs {
			na.Broadcast = net.IPv4zero
		} else if v.Broadcast.IsValid() {
			na.Broadcast = net.IP(v.Broadcast.AsSlice())
		}
	}
	if !withAttrs {
		return na
	}
	if a.Is4() {
		na.Label = v.Label
	}
	flags := 0
	if a.Is6() && !v.DAD {
		// keepalived adds IPv6 VIPs with IFA_F_NODAD: a tentative address
		// cannot be used (nor answered for) until DAD ends, ~1 s after a
		// failover that must be instant.
		flags |= unix.IFA_F_NODAD
	}
	if v.Home {
		flags |= unix.IFA_F_HOMEADDRESS
	}
	if v.MngTmpAddr {
		flags |= unix.IFA_F_MANAGETEMPADDR
	}
	if v.NoPrefixRoute {
		flags |= unix.IFA_F_NOPREFIXROUTE
	}
	if v.AutoJoin {
		flags |= unix.IFA_F_MCAUTOJOIN
	}
	na.Flags = flags
	if a.Is6() {
		// keepalived.conf(5): a /128 VIP is deprecated (preferred_lft 0) by
		// default so the kernel never picks it as a source address.
		na.ValidLft = int(PreferredForever)
		na.PreferedLft = int(v.preferredLft())
	}
	return na
}

// Add puts v on its device. Adding an address that is already there
// succeeds (the engine re-adds on every MASTER entry).
func (m *Manager) Add(v VIP) error { return m.Apply([]Op{{Add: true, VIP: v}})[0] }

// Remove deletes v from its device. Removing an address that is not there,
// or whose device is gone, succeeds: BACKUP, FAULT and STOP all remove, and
// an operator may have removed it first.
func (m *Manager) Remove(v VIP) error { return m.Apply([]Op{{VIP: v}})[0] }

// Present reports whether v (address and prefix length) is on its device.
func (m *Manager) Present(v VIP) (bool, error) {
	l, err := m.link(v)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return false, err
	}
	fam := netlink.FAMILY_V4
	if v.Is6() {
		fam = netlink.FAMILY_V6
	}
	addrs, err := readDump(func() ([]netlink.Addr, error) { return m.h.AddrList(l, fam) })
	if err != nil {
		return false, fmt.Errorf("list addresses of %s: %w", v.Dev, err)
	}
	want := net.IP(v.Addr().AsSlice())
	for _, a := range addrs {
		if ones, _ := a.Mask.Size(); ones == v.Prefix.Bits() && a.IP.Equal(want) {
			return true, nil
		}
	}
	return false, nil
}
