package vip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestJoinGroups(t *testing.T) {
	p := newPair(t)
	var c interface{ Close() error }
	must(t, p.A.Do(func() error {
		var err error
		c, err = JoinGroups(p.aIdx, GroupIPv4, GroupIPv6)
		return err
	}))
	out := p.A.IP("maddr", "show", "dev", "a0")
	for _, mac := range []string{"01:00:5e:00:00:12", "33:33:00:00:00:12"} {
		if !strings.Contains(out, mac) {
			t.Errorf("JoinGroups_ListsGroupMAC: %s missing from `ip maddr show dev a0`:\n%s", mac, out)
		}
	}
	must(t, c.Close())
	out = p.A.IP("maddr", "show", "dev", "a0")
	if strings.Contains(out, "01:00:5e:00:00:12") || strings.Contains(out, "33:33:00:00:00:12") {
		t.Errorf("JoinGroups_CloseLeaves: groups still joined after Close:\n%s", out)
	}
	must(t, p.A.Do(func() error {
		if _, err := JoinGroups(p.aIdx, netip.MustParseAddr("198.18.0.9")); err == nil {
			t.Error("JoinGroups_RejectsUnicast: joined a unicast address")
		}
		return nil
	}))
}

func TestSourceAddress(t *testing.T) {
	p := newPair(t)
	p.A.IP("addr", "add", "198.18.0.50/24", "dev", "a0") // secondary
	p.A.IP("link", "add", "d0", "type", "veth", "peer", "name", "d0p")
	p.A.IP("link", "set", "d0", "up")
	must(t, p.A.Do(func() error {
		got, err := PrimaryIPv4(p.aIdx)
		if err != nil || got != p.aIP4 {
			t.Errorf("Source_PrimaryIPv4SkipsSecondary: %v, %v; want %v", got, err, p.aIP4)
		}
		got, err = PrimaryIPv4(p.aIdx, p.aIP4)
		if !errors.Is(err, ErrNoSourceAddress) {
			t.Errorf("Source_PrimaryIPv4Excluded: %v, %v; want ErrNoSourceAddress", got, err)
		}
		ll, err := LinkLocalIPv6(p.aIdx)
		if err != nil || !ll.IsLinkLocalUnicast() {
			t.Errorf("Source_LinkLocalIPv6_RFC5798Section5_1_2: %v, %v", ll, err)
		}
		d0, err := netlink.LinkByName("d0")
		if err != nil {
			return err
		}
		if _, err := PrimaryIPv4(d0.Attrs().Index); !errors.Is(err, ErrNoSourceAddress) {
			t.Errorf("Source_NoIPv4IsDistinctError: %v", err)
		}
		return nil
	}))
	// Tentative link-local (DAD still running) is not usable.
	p.A.IP("link", "add", "d1", "type", "veth", "peer", "name", "d1p")
	p.A.IP("link", "set", "d1p", "up")
	p.A.Run("sysctl", "-qw", "net.ipv6.conf.d1.dad_transmits=50")
	p.A.IP("addr", "add", "fe80::99/64", "dev", "d1")
	p.A.IP("link", "set", "d1", "up")
	must(t, p.A.Do(func() error {
		d1, err := netlink.LinkByName("d1")
		if err != nil {
			return err
		}
		for _, a := range mustAddrs(t, d1, netlink.FAMILY_V6) {
			if a.IP.String() == "fe80::99" && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				return errors.New("fe80::99 finished DAD before the check; raise dad_transmits")
			}
		}
		if ll, err := LinkLocalIPv6(d1.Attrs().Index); err == nil && ll.String() == "fe80::99" {
			t.Errorf("Source_TentativeLinkLocalUnusable: got tentative %v", ll)
		}
		return nil
	}))
}

func mustAddrs(t testing.TB, l netlink.Link, fam int) []netlink.Addr {
	t.Helper()
	as, err := netlink.AddrList(l, fam)
	must(t, err)
	return as
}

func TestManager(t *testing.T) {
	p := newPair(t)
	var m *Manager
	must(t, p.A.Do(func() error { var err error; m, err = NewManager(); return err }))
	defer m.Close()
	find := func(v VIP) *netlink.Addr {
		var found *netlink.Addr
		must(t, p.A.Do(func() error {
			l, err := netlink.LinkByName(v.Dev)
			if err != nil {
				return err
			}
			fam := netlink.FAMILY_V4
			if v.Is6() {
				fam = netlink.FAMILY_V6
			}
			for _, a := range mustAddrs(t, l, fam) {
				if ones, _ := a.Mask.Size(); a.IP.String() == v.Addr().String() && ones == v.Prefix.Bits() {
					found = &a
				}
			}
			return nil
		}))
		return found
	}
	parse := func(s string) VIP {
		v, err := ParseVIP(strings.Fields(s))
		must(t, err)
		return v
	}
	for _, tc := range []struct {
		name  string
		spec  string
		check func(t *testing.T, a *netlink.Addr)
	}{
		{"Manager_LabelScopeBroadcast", "198.18.0.100/24 dev a0 label a0:vip scope global brd 198.18.0.255", func(t *testing.T, a *netlink.Addr) {
			if a.Label != "a0:vip" || a.Scope != 0 || a.Broadcast.String() != "198.18.0.255" {
				t.Errorf("read back label %q scope %d brd %v", a.Label, a.Scope, a.Broadcast)
			}
		}},
		{"Manager_ScopeHostDefaultPrefix32", "198.18.0.101 dev a0 scope host", func(t *testing.T, a *netlink.Addr) {
			if a.Scope != int(ScopeHost) {
				t.Errorf("scope %d, want host", a.Scope)
			}
		}},
		{"Manager_IPv6NoDAD", "2001:db8::100/64 dev a0", func(t *testing.T, a *netlink.Addr) {
			if a.Flags&unix.IFA_F_NODAD == 0 || a.Flags&unix.IFA_F_TENTATIVE != 0 {
				t.Errorf("flags %#x: want NODAD and not tentative", a.Flags)
			}
			if a.PreferedLft != int(PreferredForever) {
				t.Errorf("preferred_lft %d, want forever", a.PreferedLft)
			}
		}},
		{"Manager_IPv6Slash128Deprecated", "2001:db8::101 dev a0", func(t *testing.T, a *netlink.Addr) {
			if a.PreferedLft != 0 || a.Flags&unix.IFA_F_NODAD == 0 {
				t.Errorf("preferred_lft %d flags %#x: want 0 and NODAD (keepalived.conf(5))", a.PreferedLft, a.Flags)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := parse(tc.spec)
			must(t, m.Add(v))
			a := find(v)
			if a == nil {
				t.Fatalf("%s not on a0 after Add", v.Prefix)
			}
			tc.check(t, a)
			if err := m.Add(v); err != nil {
				t.Errorf("second Add (idempotent): %v", err)
			}
			if ok, err := m.Present(v); !ok || err != nil {
				t.Errorf("Present after Add = %v, %v", ok, err)
			}
			must(t, m.Remove(v))
			if find(v) != nil {
				t.Fatalf("%s still on a0 after Remove", v.Prefix)
			}
			if ok, err := m.Present(v); ok || err != nil {
				t.Errorf("Present after Remove = %v, %v", ok, err)
			}
			if err := m.Remove(v); err != nil {
				t.Errorf("second Remove (idempotent): %v", err)
			}
		})
	}
	t.Run("Manager_RemoveOnMissingDevice", func(t *testing.T) {
		if err := m.Remove(parse("198.18.0.102 dev nosuch0")); err != nil {
			t.Errorf("Remove on a missing device: %v", err)
		}
		if err := m.Add(parse("198.18.0.102 dev nosuch0")); err == nil {
			t.Error("Add on a missing device succeeded")
		}
		if err := m.Add(parse("198.18.0.102")); err == nil || !strings.Contains(err.Error(), "WithDefaultDev") {
			t.Errorf("Add without dev: %v", err)
		}
	})
}

func TestAnnouncer(t *testing.T) {
	p := newPair(t)
	v4 := VIP{Prefix: netip.MustParsePrefix("198.18.0.100/24")}
	v6 := VIP{Prefix: netip.MustParsePrefix("2001:db8::100/64")}
	newAnn := func(cfg AnnouncerConfig) *Announcer {
		var a *Announcer
		must(t, p.A.Do(func() error {
			var err error
			cfg.Ifindex = p.aIdx
			a, err = NewAnnouncer(cfg)
			return err
		}))
		t.Cleanup(func() { a.Close() })
		return a
	}
	t.Run("Announce_GARPAndUnsolicitedNA", func(t *testing.T) {
		c := p.capture(t)
		a := newAnn(AnnouncerConfig{})
		must(t, a.Announce([]VIP{v4, v6}))
		checkGARP(t, c.next("gratuitous ARP", isARPFor(v4.Addr())), p.aMAC, v4.Addr())
		checkNA(t, c.next("unsolicited NA", isNAFor(v6.Addr())), p.aMAC, v6.Addr(), v6.Addr(), false) // sourced from the VIP, as keepalived does
	})
	t.Run("Announce_VMACAndRouterFlag", func(t *testing.T) {
		c := p.capture(t)
		a := newAnn(AnnouncerConfig{SourceMAC: VirtualRouterMAC(false, 7), Router: true})
		must(t, a.Announce([]VIP{v4, v6}))
		vm := macOf(VirtualRouterMAC(false, 7))
		checkGARP(t, c.next("vmac gratuitous ARP", isARPFor(v4.Addr())), vm, v4.Addr())
		checkNA(t, c.next("vmac unsolicited NA", isNAFor(v6.Addr())), vm, v6.Addr(), v6.Addr(), true)
	})
	t.Run("Announce_BurstRepeatAndInterval", func(t *testing.T) {
		c := p.capture(t)
		a := newAnn(AnnouncerConfig{})
		var gaps []time.Duration
		a.sleep = func(_ context.Context, d time.Duration) error { gaps = append(gaps, d); return nil }
		b := Burst{Repeat: 3, ARPInterval: 7 * time.Millisecond, NAInterval: 11 * time.Millisecond}
		must(t, a.SendBurst(context.Background(), []VIP{v4, v6}, b))
		for i := 0; i < 3; i++ {
			c.next("gratuitous ARP of the burst", isARPFor(v4.Addr()))
		}
		want := []time.Duration{7 * time.Millisecond, 11 * time.Millisecond, 7 * time.Millisecond, 11 * time.Millisecond}
		if len(gaps) != len(want) {
			t.Fatalf("gaps %v, want %v (no wait before the first of each kind)", gaps, want)
		}
		for i := range want {
			if gaps[i] != want[i] {
				t.Fatalf("gaps %v, want %v", gaps, want)
			}
		}
	})
	t.Run("Announce_CancelledBurstStops", func(t *testing.T) {
		a := newAnn(AnnouncerConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := a.SendBurst(ctx, []VIP{v4}, Burst{Repeat: 5}); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled burst: %v", err)
		}
	})
}

// TestSourceAddressSurvivesAddressChurn: while addresses come and go on an
// interface with a thousand of them (VIPs added at a takeover), the primary
// address is read right every time.
func TestSourceAddressSurvivesAddressChurn(t *testing.T) {
	p := newPair(t)
	must(t, p.A.Do(func() error {
		a0, err := netlink.LinkByIndex(p.aIdx)
		if err != nil {
			return err
		}
		// Enough addresses that one dump takes several netlink messages.
		for i := range 1000 {
			ip := netip.AddrFrom4([4]byte{198, 19, byte(i / 250), byte(1 + i%250)})
			if err := netlink.AddrAdd(a0, &netlink.Addr{IPNet: netipPrefixToIPNet(netip.PrefixFrom(ip, 32))}); err != nil {
				return err
			}
		}
		churnDone := make(chan struct{})
		stop := make(chan struct{})
		go func() {
			defer close(churnDone)
			churn := &netlink.Addr{IPNet: netipPrefixToIPNet(netip.MustParsePrefix("198.19.10.1/32"))}
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = netlink.AddrAdd(a0, churn)
				_ = netlink.AddrDel(a0, churn)
			}
		}()
		defer func() { close(stop); <-churnDone }()
		for n := range 200 {
			if got, err := PrimaryIPv4(p.aIdx); err != nil || got != p.aIP4 {
				return fmt.Errorf("PrimaryIPv4 during address churn (read %d) = %v, %v; want %v", n, got, err, p.aIP4)
			}
		}
		return nil
	}))
}

// TestReadDumpRetriesInterruptedDumps: a dump the kernel marks as
// interrupted is read again, up to dumpRetries times; other errors are
// returned at once.
func TestReadDumpRetriesInterruptedDumps(t *testing.T) {
	calls := 0
	got, err := readDump(func() ([]int, error) {
		calls++
		if calls < 3 {
			return []int{1}, netlink.ErrDumpInterrupted
		}
		return []int{1, 2}, nil
	})
	if err != nil || len(got) != 2 || calls != 3 {
		t.Errorf("interrupted twice: %v, %v after %d calls; want the third, whole dump", got, err, calls)
	}
	calls = 0
	if _, err := readDump(func() ([]int, error) { calls++; return nil, netlink.ErrDumpInterrupted }); !errors.Is(err, netlink.ErrDumpInterrupted) || calls != dumpRetries+1 {
		t.Errorf("always interrupted: %v after %d calls; want ErrDumpInterrupted after %d", err, calls, dumpRetries+1)
	}
	calls = 0
	if _, err := readDump(func() ([]int, error) { calls++; return nil, unix.ENOBUFS }); !errors.Is(err, unix.ENOBUFS) || calls != 1 {
		t.Errorf("other error: %v after %d calls; want it at once", err, calls)
	}
}

func netipPrefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// TestSendBurstAnnouncesEveryVIP: a burst over more VIPs than one batch
// (several sendmmsg calls and chunks) announces every IPv4 VIP with a
// gratuitous ARP and every IPv6 VIP with an unsolicited NA, each round
// complete before the next (keepalived's order: every VIP's first
// announcement comes before any repeat).
func TestSendBurstAnnouncesEveryVIP(t *testing.T) {
	p := newPair(t)
	c := p.capture(t)
	bigReceiveBuffer(t, c)
	var a *Announcer
	must(t, p.A.Do(func() error { var err error; a, err = NewAnnouncer(AnnouncerConfig{Ifindex: p.aIdx}); return err }))
	defer a.Close()
	vips := append(benchVIPs(announceChunk, false), benchVIPs(300, true)...)
	const repeat = 2
	onOneCPU(t, func() { must(t, a.SendBurst(context.Background(), vips, Burst{Repeat: repeat})) })
	seen := map[netip.Addr]int{}
	ours := map[netip.Addr]bool{}
	for _, v := range vips {
		ours[v.Addr()] = true
	}
	target := func(f []byte) netip.Addr {
		switch {
		case len(f) >= 42 && f[12] == 0x08 && f[13] == 0x06:
			return netip.AddrFrom4([4]byte(f[ethHeaderLen+14 : ethHeaderLen+18]))
		case isNA(f):
			return netip.AddrFrom16([16]byte(f[ethHeaderLen+ipv6HeaderLen+8 : ethHeaderLen+ipv6HeaderLen+24]))
		}
		return netip.Addr{}
	}
	firstRoundDone := false
	for n := 0; n < repeat*len(vips); {
		f := c.next(fmt.Sprintf("announcement %d of %d", n+1, repeat*len(vips)), func(f []byte) bool {
			return ours[target(f)]
		})
		tg := target(f)
		if tg.Is4() {
			checkGARP(t, f, p.aMAC, tg)
		} else {
			checkNA(t, f, p.aMAC, tg, tg, false)
		}
		if !firstRoundDone && seen[tg] == 1 {
			t.Fatalf("%v announced again (frame %d) before every VIP was announced once", tg, n+1)
		}
		seen[tg]++
		n++
		if n == len(vips) {
			firstRoundDone = true
		}
	}
	for _, v := range vips {
		if seen[v.Addr()] != repeat {
			t.Fatalf("%v announced %d times, want %d", v.Addr(), seen[v.Addr()], repeat)
		}
	}
}

func isNA(f []byte) bool {
	return len(f) >= ethHeaderLen+ipv6HeaderLen+naLen && f[12] == 0x86 && f[13] == 0xdd &&
		f[ethHeaderLen+6] == protoICMPv6 && f[ethHeaderLen+ipv6HeaderLen] == icmpv6NeighbourAdvert
}
