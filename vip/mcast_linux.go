package vip

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Default VRRP groups (RFC 5798 §5.1.1.2, §5.1.2.2); keepalived's
// vrrp_mcast_group4/6 may override them.
var (
	GroupIPv4 = netip.MustParseAddr("224.0.0.18")
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

type groupMembership struct {
	fds []int
}

func (g *groupMembership) Close() error {
	var errs []error
	for _, fd := range g.fds {
		if err := unix.Close(fd); err != nil {
			errs = append(errs, err)
		}
	}
	g.fds = nil
	return errors.Join(errs...)
}

// JoinGroups makes the interface accept the given multicast groups, by
// joining them at the IP layer on a socket that is otherwise unused. A NIC
// filters multicast nobody asked for, and XDP only sees what the NIC lets in;
// joining also sends IGMP/MLD reports, so snooping switches forward the
// groups. This is what keepalived does (if_join_vrrp_group). The groups stay
// joined until the returned Closer is closed (or the process exits).
//
// The socket is opened in the calling thread's network namespace.
func JoinGroups(ifindex int, groups ...netip.Addr) (io.Closer, error) {
	m := &groupMembership{}
	fds := map[bool]int{}
	for _, g := range groups {
		if !g.IsMulticast() {
			m.Close()
			return nil, fmt.Errorf("join %v on interface %d: not a multicast group (check vrrp_mcast_group4/6)", g, ifindex)
		}
		is6 := g.Is6() && !g.Is4In6()
		fd, ok := fds[is6]
		if !ok {
			domain := unix.AF_INET
			if is6 {
				domain = unix.AF_INET6
			}
			var err error
			fd, err = unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				m.Close()
				return nil, fmt.Errorf("open socket to join %v: %w", g, err)
			}
			fds[is6] = fd
			m.fds = append(m.fds, fd)
		}
		var err error
		if is6 {
			mreq := &unix.IPv6Mreq{Multiaddr: g.As16(), Interface: uint32(ifindex)}
			err = unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq)
		} else {
			mreq := &unix.IPMreqn{Multiaddr: g.Unmap().As4(), Ifindex: int32(ifindex)}
			err = unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq)
		}
		if err != nil && !errors.Is(err, unix.EADDRINUSE) {
			m.Close()
			return nil, fmt.Errorf("join %v on interface %d: %w (is the interface up, with IPv6 enabled for IPv6 groups?)", g, ifindex, err)
		}
	}
	return m, nil
}
