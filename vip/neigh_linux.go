package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
)

// ErrNeighbourUnresolved is returned when a unicast peer's MAC address is
// not in the kernel's neighbour table and a probe did not find it.
var ErrNeighbourUnresolved = errors.New("unicast peer MAC address unresolved")

// neighEntry caches one unicast peer's MAC. Until checkAt the cached answer
// (a MAC, or a failure) is used without asking the kernel, so a steady
// stream of adverts costs no netlink round trip and no allocation.
type neighEntry struct {
	mac     [6]byte
	ok      bool
	checkAt time.Time
}

// usableNeigh is the set of states whose link-layer address may be used.
const usableNeigh = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
	netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

// confirmedNeigh needs no revalidation.
const confirmedNeigh = netlink.NUD_REACHABLE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

// lookupNeigh reads dst's entry on ifindex from the kernel's neighbour table.
func (s *Sender) lookupNeigh(dst netip.Addr) (mac [6]byte, state int, found bool, err error) {
	fam := netlink.FAMILY_V4
	if dst.Is6() {
		fam = netlink.FAMILY_V6
	}
	list, err := s.nl.NeighList(s.ifindex, fam)
	if err != nil {
		return mac, 0, false, fmt.Errorf("read neighbour table of %s: %w", s.ifname, err)
	}
	want := net.IP(dst.AsSlice())
	for _, n := range list {
		if !n.IP.Equal(want) {
			continue
		}
		if n.State&usableNeigh == 0 || len(n.HardwareAddr) != 6 {
			return mac, n.State, false, nil
		}
		copy(mac[:], n.HardwareAddr)
		return mac, n.State, true, nil
	}
	return mac, 0, false, nil
}

// probeNeigh asks the kernel to resolve dst (or revalidate a stale entry):
// RTM_NEWNEIGH with NTF_USE runs neigh_event_send, which sends ARP requests
// or neighbour solicitations exactly as if the stack had a packet for dst.
// ARP and NS leave through the neighbour subsystem, not the IP OUTPUT
// chain, so a firewall dropping VRRP does not stop them.
func (s *Sender) probeNeigh(dst netip.Addr) error {
	fam := netlink.FAMILY_V4
	if dst.Is6() {
		fam = netlink.FAMILY_V6
	}
	n := &netlink.Neigh{
		LinkIndex: s.ifindex,
		Family:    fam,
		IP:        net.IP(dst.AsSlice()),
		Flags:     netlink.NTF_USE,
	}
	if err := s.nl.NeighSet(n); err != nil {
		return fmt.Errorf("probe neighbour %v on %s: %w", dst, s.ifname, err)
	}
	return nil
}

// neighbourMAC returns dst's MAC, from the cache while it is fresh.
func (s *Sender) neighbourMAC(dst netip.Addr) ([6]byte, error) {
	now := s.now()
	if e, ok := s.neigh[dst]; ok && now.Before(e.checkAt) {
		if !e.ok {
			return e.mac, fmt.Errorf("%v on %s: %w (cached failure; retry after %v)", dst, s.ifname, ErrNeighbourUnresolved, e.checkAt.Sub(now).Round(time.Millisecond))
		}
		return e.mac, nil
	}
	mac, err := s.resolveNeigh(dst)
	if err != nil {
		s.neigh[dst] = neighEntry{checkAt: s.now().Add(s.cfg.NeighbourRetry)}
		return mac, err
	}
	s.neigh[dst] = neighEntry{mac: mac, ok: true, checkAt: s.now().Add(s.cfg.NeighbourRefresh)}
	return mac, nil
}

func (s *Sender) resolveNeigh(dst netip.Addr) ([6]byte, error) {
	mac, state, found, err := s.lookupNeigh(dst)
	if err != nil {
		return mac, err
	}
	if found {
		if state&confirmedNeigh == 0 {
			// Our AF_PACKET sends never confirm the entry, so it ages to
			// STALE; a probe revalidates it (and notices a peer whose MAC
			// changed) while we keep using the address we have.
			if err := s.probeNeigh(dst); err != nil {
				return mac, err
			}
		}
		return mac, nil
	}
	if err := s.probeNeigh(dst); err != nil {
		return mac, err
	}
	deadline := s.now().Add(s.cfg.ResolveTimeout)
	for s.now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		mac, state, found, err = s.lookupNeigh(dst)
		if err != nil {
			return mac, err
		}
		if found {
			return mac, nil
		}
		if state&netlink.NUD_FAILED != 0 {
			break
		}
	}
	return mac, fmt.Errorf("%v on %s: %w within %v (is the peer up and on this link?)", dst, s.ifname, ErrNeighbourUnresolved, s.cfg.ResolveTimeout)
}

// ForgetNeighbour drops the cached MAC of dst, so the next advert to it
// asks the kernel again (e.g. after the peer reported a changed address).
func (s *Sender) ForgetNeighbour(dst netip.Addr) {
	s.mu.Lock()
	delete(s.neigh, dst)
	s.mu.Unlock()
}
