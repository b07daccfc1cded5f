package vip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xvrrp/xvrrp/test/lab"
	"golang.org/x/sys/unix"
)

func TestSendAdvert(t *testing.T) {
	p := newPair(t)
	g4, g6 := macOf(mustMAC(t, GroupIPv4)), macOf(mustMAC(t, GroupIPv6))
	vmac4 := macOf(VirtualRouterMAC(false, 42))
	vmac6 := macOf(VirtualRouterMAC(true, 42))

	t.Run("SendAdvert_MulticastIPv4", func(t *testing.T) {
		c := p.capture(t)
		s := p.newSender(t, SenderConfig{})
		must(t, s.SendAdvert(GroupIPv4, p.aIP4, testVRRP))
		f := c.next("IPv4 advert", isVRRP)
		checkIPv4Advert(t, f, g4, p.aMAC, p.aIP4, GroupIPv4, 1, testVRRP)
		// The second advert carries the next identification.
		must(t, s.SendAdvert(GroupIPv4, p.aIP4, testVRRP))
		f = c.next("second IPv4 advert", isVRRP)
		checkIPv4Advert(t, f, g4, p.aMAC, p.aIP4, GroupIPv4, 2, testVRRP)
	})
	t.Run("SendAdvert_MulticastIPv6FromLinkLocal", func(t *testing.T) {
		c := p.capture(t)
		s := p.newSender(t, SenderConfig{})
		must(t, s.SendAdvert(GroupIPv6, p.aLL, testVRRP))
		checkIPv6Advert(t, c.next("IPv6 advert", isVRRP), g6, p.aMAC, p.aLL, GroupIPv6, testVRRP)
	})
	t.Run("SendAdvert_ConfiguredGroupDerivesMAC", func(t *testing.T) {
		grp := netip.MustParseAddr("224.0.0.99")
		c := p.capture(t)
		s := p.newSender(t, SenderConfig{})
		must(t, s.SendAdvert(grp, p.aIP4, testVRRP))
		checkIPv4Advert(t, c.next("advert to 224.0.0.99", isVRRP), [6]byte{1, 0, 0x5e, 0, 0, 99}, p.aMAC, p.aIP4, grp, 1, testVRRP)
	})
	t.Run("SendAdvert_VMACSource", func(t *testing.T) {
		c := p.capture(t)
		s4 := p.newSender(t, SenderConfig{SourceMAC: VirtualRouterMAC(false, 42)})
		must(t, s4.SendAdvert(GroupIPv4, p.aIP4, testVRRP))
		checkIPv4Advert(t, c.next("IPv4 vmac advert", isVRRP), g4, vmac4, p.aIP4, GroupIPv4, 1, testVRRP)
		s6 := p.newSender(t, SenderConfig{SourceMAC: VirtualRouterMAC(true, 42)})
		must(t, s6.SendAdvert(GroupIPv6, p.aLL, testVRRP))
		checkIPv6Advert(t, c.next("IPv6 vmac advert", isVRRP), g6, vmac6, p.aLL, GroupIPv6, testVRRP)
	})
	t.Run("SendAdvert_UnicastProbesMissingNeighbour", func(t *testing.T) {
		p.A.IP("neigh", "flush", "dev", "a0")
		if out := p.A.IP("neigh", "show", "198.18.0.2", "dev", "a0"); strings.Contains(out, "lladdr") {
			t.Fatalf("neighbour already resolved before the test: %s", out)
		}
		c := p.capture(t)
		s := p.newSender(t, SenderConfig{})
		// The first advert finds no MAC: skipped, resolution starts.
		if err := s.SendAdvert(p.bIP4, p.aIP4, testVRRP); !errors.Is(err, ErrNeighbourUnresolved) {
			t.Fatalf("first advert to an unresolved peer: %v, want ErrNeighbourUnresolved", err)
		}
		// The probe: an ARP request for B's address reached B.
		c.next("ARP request for 198.18.0.2", func(f []byte) bool {
			return isARPWho(f, p.bIP4)
		})
		waitSent(t, s, p.bIP4, p.aIP4)
		checkIPv4Advert(t, c.next("unicast advert", isVRRP), p.bMAC, p.aMAC, p.aIP4, p.bIP4, 1, testVRRP)
		if out := p.A.IP("neigh", "show", "198.18.0.2", "dev", "a0"); !strings.Contains(out, fmtMAC(p.bMAC)) {
			t.Fatalf("kernel neighbour table after probe: %q, want lladdr %s", out, fmtMAC(p.bMAC))
		}
	})
	t.Run("SendAdvert_UnicastIPv6Peer", func(t *testing.T) {
		peer := netip.MustParseAddr("2001:db8::2")
		c := p.capture(t)
		s := p.newSender(t, SenderConfig{})
		waitSent(t, s, peer, netip.MustParseAddr("2001:db8::1"))
		checkIPv6Advert(t, c.next("unicast IPv6 advert", isVRRP), p.bMAC, p.aMAC, netip.MustParseAddr("2001:db8::1"), peer, testVRRP)
	})
	t.Run("SendAdvert_UnresolvableNeighbourIsDistinctErrorAndCached", func(t *testing.T) {
		s := p.newSender(t, SenderConfig{ResolveTimeout: 100 * time.Millisecond, NeighbourRetry: time.Hour})
		ghost := netip.MustParseAddr("198.18.0.77")
		err := s.SendAdvert(ghost, p.aIP4, testVRRP)
		var ne *NeighbourError
		if !errors.Is(err, ErrNeighbourUnresolved) || !errors.As(err, &ne) || ne.Peer != ghost || ne.Interface != "a0" {
			t.Fatalf("advert to absent peer: %v, want a NeighbourError for %v on a0", err, ghost)
		}
		if !strings.Contains(err.Error(), "198.18.0.77") || !strings.Contains(err.Error(), "a0") || !strings.Contains(err.Error(), "ARP") {
			t.Errorf("error does not tell the operator what to check: %v", err)
		}
		// After ResolveTimeout the background resolution gives up and the
		// reason says so; the failure is kept until NeighbourRetry.
		waitFor(t, 5*time.Second, "resolution of the absent peer to fail", func() bool {
			err = s.SendAdvert(ghost, p.aIP4, testVRRP)
			return errors.As(err, &ne) && strings.Contains(ne.Reason, "no ARP reply within 100ms")
		})
		if again := s.SendAdvert(ghost, p.aIP4, testVRRP); again != err {
			t.Fatalf("second advert to absent peer: %v, want the same cached error value %v", again, err)
		}
		if n := s.neighProbes.Load(); n != 1 {
			t.Errorf("%d probes for one peer before NeighbourRetry, want 1", n)
		}
	})
	t.Run("SendAdvert_PrimeNeighbour", func(t *testing.T) {
		s := p.newSender(t, SenderConfig{NeighbourRefresh: time.Hour})
		s.PrimeNeighbour(p.bIP4)
		waitResolved(t, s, p.bIP4)
		// The first advert finds the MAC cached.
		must(t, s.SendAdvert(p.bIP4, p.aIP4, testVRRP))
	})
	t.Run("SendAdvert_ForgetNeighbour", func(t *testing.T) {
		s := p.newSender(t, SenderConfig{NeighbourRefresh: time.Hour})
		waitSent(t, s, p.bIP4, p.aIP4)
		s.ForgetNeighbour(p.bIP4)
		if err := s.SendAdvert(p.bIP4, p.aIP4, testVRRP); !errors.Is(err, ErrNeighbourUnresolved) {
			t.Fatalf("advert after ForgetNeighbour: %v, want ErrNeighbourUnresolved", err)
		}
		waitSent(t, s, p.bIP4, p.aIP4)
	})
	t.Run("SendAdvert_FirewallOutputDropDoesNotStopAdverts", func(t *testing.T) {
		lab.RequireTool(t, "iptables")
		lab.RequireTool(t, "ip6tables")
		lab.RequireTool(t, "nft")
		p.A.Run("iptables", "-A", "OUTPUT", "-p", "112", "-j", "DROP")
		p.A.Run("ip6tables", "-A", "OUTPUT", "-p", "112", "-j", "DROP")
		p.A.Run("nft", "add", "table", "inet", "xvrrptest")
		p.A.Run("nft", "add", "chain", "inet", "xvrrptest", "out", "{ type filter hook output priority 0; policy accept; }")
		p.A.Run("nft", "add", "rule", "inet", "xvrrptest", "out", "meta", "l4proto", "112", "drop")
		// The rules bite: a kernel raw socket send of protocol 112 is dropped.
		must(t, p.A.Do(func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, ProtocolVRRP)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			err = unix.Sendto(fd, testVRRP, 0, &unix.SockaddrInet4{Addr: p.bIP4.As4()})
			if !errors.Is(err, unix.EPERM) {
				t.Errorf("raw-socket VRRP send under OUTPUT drop: %v, want EPERM (rule not active?)", err)
			}
			return nil
		}))
		c := p.capture(t)
		s := p.newSender(t, SenderConfig{})
		must(t, s.SendAdvert(GroupIPv4, p.aIP4, testVRRP))
		checkIPv4Advert(t, c.next("IPv4 advert through firewall", isVRRP), g4, p.aMAC, p.aIP4, GroupIPv4, 1, testVRRP)
		must(t, s.SendAdvert(GroupIPv6, p.aLL, testVRRP))
		checkIPv6Advert(t, c.next("IPv6 advert through firewall", isVRRP), g6, p.aMAC, p.aLL, GroupIPv6, testVRRP)
	})
}

func isARPWho(f []byte, target netip.Addr) bool {
	a := target.As4()
	return len(f) >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[ethHeaderLen+7] == 1 &&
		string(f[ethHeaderLen+24:ethHeaderLen+28]) == string(a[:])
}

func mustMAC(t testing.TB, g netip.Addr) []byte {
	m, err := MulticastMAC(g)
	must(t, err)
	return m
}

func TestSendAdvertNoAllocation(t *testing.T) {
	p := newPair(t)
	// No refresh and no retry during the test: AllocsPerRun counts the
	// resolver goroutine's allocations too.
	s := p.newSender(t, SenderConfig{NeighbourRefresh: time.Hour, NeighbourRetry: time.Hour, ResolveTimeout: 50 * time.Millisecond})
	// Resolve the unicast peer once; later sends hit the cache.
	waitSent(t, s, p.bIP4, p.aIP4)
	for _, dst := range []netip.Addr{GroupIPv4, p.bIP4} {
		n := testing.AllocsPerRun(200, func() {
			if err := s.SendAdvert(dst, p.aIP4, testVRRP); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("SendAdvert to %v allocates %v times per advert", dst, n)
		}
	}
	// Skipping an advert to an unresolved peer does not allocate either
	// (after the first, which creates the peer's entry and error).
	ghost := netip.MustParseAddr("198.18.0.77")
	waitFor(t, 5*time.Second, "resolution of the absent peer to fail", func() bool {
		var ne *NeighbourError
		return errors.As(s.SendAdvert(ghost, p.aIP4, testVRRP), &ne) && strings.Contains(ne.Reason, "no ARP reply")
	})
	n := testing.AllocsPerRun(200, func() {
		if err := s.SendAdvert(ghost, p.aIP4, testVRRP); !errors.Is(err, ErrNeighbourUnresolved) {
			t.Fatalf("advert to absent peer: %v", err)
		}
	})
	if n != 0 {
		t.Errorf("skipped SendAdvert to an unresolved peer allocates %v times per advert", n)
	}
}

func BenchmarkSendAdvert(b *testing.B) {
	lab.RequirePrivileged(b)
	a, bb := lab.NewNS(b, "a"), lab.NewNS(b, "b")
	lab.Veth(b, a, "a0", bb, "b0")
	a.IP("addr", "add", "198.18.0.1/24", "dev", "a0")
	var s *Sender
	must(b, a.Do(func() error {
		l, err := netlink.LinkByName("a0")
		if err != nil {
			return err
		}
		s, err = NewSender(SenderConfig{Ifindex: l.Attrs().Index})
		return err
	}))
	defer s.Close()
	src := netip.MustParseAddr("198.18.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SendAdvert(GroupIPv4, src, testVRRP); err != nil {
			b.Fatal(err)
		}
	}
}
