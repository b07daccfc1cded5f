package vip

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrNoSourceAddress is returned when an interface has no address an advert
// (or neighbour advertisement) can be sourced from. The engine turns it into
// a FAULT reason; test with errors.Is.
var ErrNoSourceAddress = errors.New("no usable source address")

// PrimaryIPv4 returns the primary IPv4 address of the interface: the first
// address the kernel lists that is not secondary and is not one of exclude
// (pass the instance's VIPs, which may be primary in their own subnet).
// keepalived sources IPv4 adverts from it when unicast_src_ip is not set.
func PrimaryIPv4(ifindex int, exclude ...netip.Addr) (netip.Addr, error) {
	return sourceAddr(ifindex, netlink.FAMILY_V4, exclude, func(a netlink.Addr, ip netip.Addr) bool {
		return a.Flags&unix.IFA_F_SECONDARY == 0
	})
}

// LinkLocalIPv6 returns the interface's IPv6 link-local address. RFC 5798
// §5.1.2.1: the source address of an IPv6 advert is the IPv6 link-local
// address of the interface the packet is sent from. An address still doing
// DAD (tentative) or that failed it is not usable.
func LinkLocalIPv6(ifindex int) (netip.Addr, error) {
	return sourceAddr(ifindex, netlink.FAMILY_V6, nil, usableLinkLocal)
}

func usableLinkLocal(a netlink.Addr, ip netip.Addr) bool {
	return ip.IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0
}

func sourceAddr(ifindex, family int, exclude []netip.Addr, ok func(netlink.Addr, netip.Addr) bool) (netip.Addr, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("open rtnetlink handle: %w", err)
	}
	defer h.Close()
	return sourceAddrWith(h, ifindex, family, exclude, ok)
}

// dumpRetries is how many times an interrupted address dump is read again.
const dumpRetries = 20

// readDump runs a netlink dump, again while the kernel marks it as
// interrupted: addresses changed during it (a thousand VIPs being added),
// so its list may miss the primary address, which must not be taken for
// "no address".
func readDump[T any](dump func() ([]T, error)) ([]T, error) {
	for try := 0; ; try++ {
		l, err := dump()
		if err == nil || !errors.Is(err, netlink.ErrDumpInterrupted) || try == dumpRetries {
			return l, err
		}
	}
}

// AddrList lists the addresses of link (nil: every link) of family,
// reading the dump again while the kernel marks it interrupted: a list
// read while VIPs are being added may miss addresses that are there.
func AddrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	return readDump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, family) })
}

func sourceAddrWith(h *netlink.Handle, ifindex, family int, exclude []netip.Addr, ok func(netlink.Addr, netip.Addr) bool) (netip.Addr, error) {
	l, err := h.LinkByIndex(ifindex)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %d: %w", ifindex, err)
	}
	addrs, err := readDump(func() ([]netlink.Addr, error) { return h.AddrList(l, family) })
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
next:
	for _, a := range addrs {
		ip, valid := netip.AddrFromSlice(a.IP)
		if !valid {
			continue
		}
		ip = ip.Unmap()
		for _, x := range exclude {
			if x == ip {
				continue next
			}
		}
		if ok(a, ip) {
			return ip, nil
		}
	}
	fam := "IPv4"
	if family == netlink.FAMILY_V6 {
		fam = "IPv6 link-local"
	}
	return netip.Addr{}, fmt.Errorf("%s on %s: %w (add one, or set unicast_src_ip)", fam, l.Attrs().Name, ErrNoSourceAddress)
}
