package vip

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestMulticastMAC(t *testing.T) {
	for _, tc := range []struct {
		name  string
		group string
		want  string
		bad   bool
	}{
		{"MulticastMAC_VRRPv4Default_RFC1112", "224.0.0.18", "01:00:5e:00:00:12", false},
		{"MulticastMAC_IPv4High23BitsDropped", "239.128.1.2", "01:00:5e:00:01:02", false},
		{"MulticastMAC_VRRPv6Default_RFC2464", "ff02::12", "33:33:00:00:00:12", false},
		{"MulticastMAC_IPv6Low32Bits", "ff05::1:3", "33:33:00:01:00:03", false},
		{"MulticastMAC_UnicastRejected", "198.18.0.1", "", true},
		{"MulticastMAC_InvalidRejected", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g netip.Addr
			if tc.group != "" {
				g = netip.MustParseAddr(tc.group)
			}
			got, err := MulticastMAC(g)
			if tc.bad {
				if err == nil {
					t.Fatalf("MulticastMAC(%v) = %v, want error", g, got)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("MulticastMAC(%v) = %v, %v; want %s", g, got, err, tc.want)
			}
		})
	}
}

func TestVirtualRouterMAC_RFC5798Section7_3(t *testing.T) {
	if got := VirtualRouterMAC(false, 42).String(); got != "00:00:5e:00:01:2a" {
		t.Fatalf("IPv4 VMAC = %s", got)
	}
	if got := VirtualRouterMAC(true, 255).String(); got != "00:00:5e:00:02:ff" {
		t.Fatalf("IPv6 VMAC = %s", got)
	}
}

func TestNextIPv4ID_SkipsZeroLikeKeepalived(t *testing.T) {
	for _, tc := range []struct{ in, want uint16 }{{0, 1}, {1, 2}, {0xfffe, 0xffff}, {0xffff, 1}} {
		if got := nextIPv4ID(tc.in); got != tc.want {
			t.Errorf("nextIPv4ID(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

var (
	testSrcMAC = [6]byte{0x02, 0, 0, 0, 0, 1}
	testDstMAC = [6]byte{0x01, 0x00, 0x5e, 0, 0, 0x12}
	testVRRP   = []byte{0x31, 0x2a, 0x64, 0x01, 0x00, 0x64, 0xab, 0xcd, 198, 18, 0, 100}
)

func TestAppendAdvertFrame(t *testing.T) {
	t.Run("AdvertFrame_IPv4Header", func(t *testing.T) {
		src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("224.0.0.18")
		f, err := appendAdvertFrame(nil, testDstMAC, testSrcMAC, src, dst, 0x1234, testVRRP)
		if err != nil {
			t.Fatal(err)
		}
		checkIPv4Advert(t, f, testDstMAC, testSrcMAC, src, dst, 0x1234, testVRRP)
	})
	t.Run("AdvertFrame_IPv6Header", func(t *testing.T) {
		src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::12")
		f, err := appendAdvertFrame(nil, testDstMAC, testSrcMAC, src, dst, 0, testVRRP)
		if err != nil {
			t.Fatal(err)
		}
		checkIPv6Advert(t, f, testDstMAC, testSrcMAC, src, dst, testVRRP)
	})
	t.Run("AdvertFrame_MixedFamiliesRejected", func(t *testing.T) {
		if _, err := appendAdvertFrame(nil, testDstMAC, testSrcMAC, netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("ff02::12"), 0, testVRRP); err == nil {
			t.Fatal("IPv4 source with IPv6 destination accepted")
		}
		if _, err := appendAdvertFrame(nil, testDstMAC, testSrcMAC, netip.Addr{}, netip.MustParseAddr("224.0.0.18"), 0, testVRRP); err == nil {
			t.Fatal("invalid source accepted")
		}
	})
	t.Run("AdvertFrame_OversizedPayloadRejected", func(t *testing.T) {
		_, err := appendAdvertFrame(nil, testDstMAC, testSrcMAC, netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("224.0.0.18"), 0, make([]byte, maxVRRPPayload+1))
		if err == nil {
			t.Fatal("oversized payload accepted")
		}
	})
	t.Run("AdvertFrame_NoAllocation", func(t *testing.T) {
		buf := make([]byte, 0, frameBufferLen)
		src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("224.0.0.18")
		n := testing.AllocsPerRun(100, func() {
			_, _ = appendAdvertFrame(buf[:0], testDstMAC, testSrcMAC, src, dst, 7, testVRRP)
		})
		if n != 0 {
			t.Fatalf("appendAdvertFrame allocates %v times per frame", n)
		}
	})
}

// checkIPv4Advert asserts every byte of an Ethernet+IPv4 VRRP advert.
func checkIPv4Advert(t *testing.T, f []byte, dstMAC, srcMAC [6]byte, src, dst netip.Addr, id uint16, payload []byte) {
	t.Helper()
	if len(f) != ethHeaderLen+ipv4HeaderLen+len(payload) {
		t.Fatalf("frame length %d, want %d", len(f), ethHeaderLen+ipv4HeaderLen+len(payload))
	}
	if !bytes.Equal(f[0:6], dstMAC[:]) || !bytes.Equal(f[6:12], srcMAC[:]) {
		t.Fatalf("MACs dst %x src %x, want %x %x", f[0:6], f[6:12], dstMAC, srcMAC)
	}
	if et := binary.BigEndian.Uint16(f[12:]); et != etherTypeIPv4 {
		t.Fatalf("EtherType %#x", et)
	}
	ip := f[ethHeaderLen:]
	s, d := src.As4(), dst.As4()
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"version/IHL", int(ip[0]), 0x45},
		{"TOS (keepalived IPTOS_PREC_INTERNETCONTROL)", int(ip[1]), 0xc0},
		{"total length", int(binary.BigEndian.Uint16(ip[2:])), ipv4HeaderLen + len(payload)},
		{"identification", int(binary.BigEndian.Uint16(ip[4:])), int(id)},
		{"flags/fragment offset (DF clear like keepalived)", int(binary.BigEndian.Uint16(ip[6:])), 0},
		{"TTL (RFC 5798 §5.1.1.3)", int(ip[8]), 255},
		{"protocol", int(ip[9]), ProtocolVRRP},
		{"header checksum verifies", int(checksumFold(checksumAdd(0, ip[:ipv4HeaderLen]))), 0xffff},
	} {
		if c.got != c.want {
			t.Errorf("IPv4 %s = %#x, want %#x", c.what, c.got, c.want)
		}
	}
	if !bytes.Equal(ip[12:16], s[:]) || !bytes.Equal(ip[16:20], d[:]) {
		t.Errorf("IPv4 addresses %v -> %v, want %v -> %v", net.IP(ip[12:16]), net.IP(ip[16:20]), src, dst)
	}
	if !bytes.Equal(ip[ipv4HeaderLen:], payload) {
		t.Errorf("payload %x, want %x", ip[ipv4HeaderLen:], payload)
	}
}

// checkIPv6Advert asserts every byte of an Ethernet+IPv6 VRRP advert.
func checkIPv6Advert(t *testing.T, f []byte, dstMAC, srcMAC [6]byte, src, dst netip.Addr, payload []byte) {
	t.Helper()
	if len(f) != ethHeaderLen+ipv6HeaderLen+len(payload) {
		t.Fatalf("frame length %d, want %d", len(f), ethHeaderLen+ipv6HeaderLen+len(payload))
	}
	if !bytes.Equal(f[0:6], dstMAC[:]) || !bytes.Equal(f[6:12], srcMAC[:]) {
		t.Fatalf("MACs dst %x src %x, want %x %x", f[0:6], f[6:12], dstMAC, srcMAC)
	}
	if et := binary.BigEndian.Uint16(f[12:]); et != etherTypeIPv6 {
		t.Fatalf("EtherType %#x", et)
	}
	ip := f[ethHeaderLen:]
	vtf := binary.BigEndian.Uint32(ip)
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"version", int(vtf >> 28), 6},
		{"traffic class (keepalived 0xc0)", int(vtf >> 20 & 0xff), 0xc0},
		{"flow label", int(vtf & 0xfffff), 0},
		{"payload length", int(binary.BigEndian.Uint16(ip[4:])), len(payload)},
		{"next header", int(ip[6]), ProtocolVRRP},
		{"hop limit (RFC 5798 §5.1.2.3)", int(ip[7]), 255},
	} {
		if c.got != c.want {
			t.Errorf("IPv6 %s = %#x, want %#x", c.what, c.got, c.want)
		}
	}
	s, d := src.As16(), dst.As16()
	if !bytes.Equal(ip[8:24], s[:]) || !bytes.Equal(ip[24:40], d[:]) {
		t.Errorf("IPv6 addresses %v -> %v, want %v -> %v", net.IP(ip[8:24]), net.IP(ip[24:40]), src, dst)
	}
	if !bytes.Equal(ip[ipv6HeaderLen:], payload) {
		t.Errorf("payload %x, want %x", ip[ipv6HeaderLen:], payload)
	}
}

// checkGARP asserts keepalived's gratuitous ARP layout.
func checkGARP(t *testing.T, f []byte, mac [6]byte, vip netip.Addr) {
	t.Helper()
	if len(f) < ethHeaderLen+28 {
		t.Fatalf("ARP frame too short: %d", len(f))
	}
	ip := vip.As4()
	want := []byte{}
	want = append(want, broadcastMAC[:]...)
	want = append(want, mac[:]...)
	want = append(want, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1)
	want = append(want, mac[:]...)
	want = append(want, ip[:]...)
	want = append(want, broadcastMAC[:]...)
	want = append(want, ip[:]...)
	if !bytes.Equal(f[:ethHeaderLen+28], want) {
		t.Fatalf("gratuitous ARP\n got %x\nwant %x", f[:ethHeaderLen+28], want)
	}
}

// checkNA asserts an unsolicited NA (RFC 4861 §7.2.6).
func checkNA(t *testing.T, f []byte, mac [6]byte, src, target netip.Addr, router bool) {
	t.Helper()
	if len(f) != ethHeaderLen+ipv6HeaderLen+naLen {
		t.Fatalf("NA frame length %d, want %d", len(f), ethHeaderLen+ipv6HeaderLen+naLen)
	}
	if want := []byte{0x33, 0x33, 0, 0, 0, 1}; !bytes.Equal(f[0:6], want) || !bytes.Equal(f[6:12], mac[:]) {
		t.Fatalf("NA MACs dst %x src %x, want %x %x", f[0:6], f[6:12], want, mac)
	}
	ip := f[ethHeaderLen:]
	s, d, tg := src.As16(), allNodes.As16(), target.As16()
	if ip[0]>>4 != 6 || ip[6] != protoICMPv6 || ip[7] != 255 || binary.BigEndian.Uint16(ip[4:]) != naLen {
		t.Fatalf("NA IPv6 header: version %d next %d hop limit %d (want 255) plen %d", ip[0]>>4, ip[6], ip[7], binary.BigEndian.Uint16(ip[4:]))
	}
	if !bytes.Equal(ip[8:24], s[:]) || !bytes.Equal(ip[24:40], d[:]) {
		t.Fatalf("NA addresses %v -> %v, want %v -> ff02::1", net.IP(ip[8:24]), net.IP(ip[24:40]), src)
	}
	icmp := ip[ipv6HeaderLen:]
	if icmp[0] != 136 || icmp[1] != 0 {
		t.Fatalf("ICMPv6 type/code %d/%d, want 136/0", icmp[0], icmp[1])
	}
	if sum := checksumFold(checksumAdd(checksumAdd(uint32(len(icmp))+protoICMPv6, ip[8:40]), icmp)); sum != 0xffff {
		t.Fatalf("ICMPv6 checksum does not verify (sum %#x)", sum)
	}
	wantFlags := byte(0x20) // Override, not Solicited (§7.2.6)
	if router {
		wantFlags |= 0x80
	}
	if icmp[4] != wantFlags || icmp[5] != 0 || icmp[6] != 0 || icmp[7] != 0 {
		t.Fatalf("NA flags %x, want %#x 00 00 00", icmp[4:8], wantFlags)
	}
	if !bytes.Equal(icmp[8:24], tg[:]) {
		t.Fatalf("NA target %v, want %v", net.IP(icmp[8:24]), target)
	}
	if icmp[24] != 2 || icmp[25] != 1 || !bytes.Equal(icmp[26:32], mac[:]) {
		t.Fatalf("target link-layer option %x, want 02 01 %x", icmp[24:32], mac)
	}
}

func TestAppendGratuitousARP(t *testing.T) {
	vip := netip.MustParseAddr("198.18.0.100")
	frame, err := appendGratuitousARP(nil, testSrcMAC, vip)
	if err != nil {
		t.Fatal(err)
	}
	checkGARP(t, frame, testSrcMAC, vip)
}

func TestAppendUnsolicitedNA_RFC4861Section7_2_6(t *testing.T) {
	src, target := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::100")
	checkNA(t, appendUnsolicitedNA(nil, testSrcMAC, src, target, false), testSrcMAC, src, target, false)
	checkNA(t, appendUnsolicitedNA(nil, testSrcMAC, src, target, true), testSrcMAC, src, target, true)
}

func TestGARPConfig(t *testing.T) {
	d := DefaultGARPConfig()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Run("GARP_DefaultsMatchKeepalived", func(t *testing.T) {
		if d.MasterDelay != 5*time.Second || d.MasterRepeat != 5 || d.MasterRefresh != 0 || d.MasterRefreshRepeat != 1 || d.ARPInterval != 0 || d.NAInterval != 0 {
			t.Fatalf("defaults %+v", d)
		}
	})
	t.Run("GARP_EntryAndDelayedBurst", func(t *testing.T) {
		c := d
		c.ARPInterval, c.NAInterval = time.Millisecond, 2*time.Millisecond
		want := Burst{Repeat: 5, ARPInterval: time.Millisecond, NAInterval: 2 * time.Millisecond}
		if b := c.EntryBurst(); b != want {
			t.Fatalf("entry burst %+v, want %+v", b, want)
		}
		b, after, ok := c.DelayedBurst()
		if !ok || after != 5*time.Second || b != want {
			t.Fatalf("delayed burst %+v after %v ok %v", b, after, ok)
		}
	})
	t.Run("GARP_MasterDelayZeroMeansNoSecondBurst", func(t *testing.T) {
		c := d
		c.MasterDelay = 0
		if _, _, ok := c.DelayedBurst(); ok {
			t.Fatal("second burst with garp_master_delay 0")
		}
	})
	t.Run("GARP_RefreshOffByDefault", func(t *testing.T) {
		if _, _, ok := d.RefreshBurst(); ok {
			t.Fatal("refresh on by default")
		}
	})
	t.Run("GARP_RefreshUsesRefreshRepeat", func(t *testing.T) {
		c := d
		c.MasterRefresh, c.MasterRefreshRepeat = time.Minute, 2
		b, period, ok := c.RefreshBurst()
		if !ok || period != time.Minute || b.Repeat != 2 {
			t.Fatalf("refresh burst %+v every %v ok %v", b, period, ok)
		}
	})
	t.Run("GARP_MinGARP", func(t *testing.T) {
		c := d.MinGARP()
		if c.MasterRepeat != 1 || c.MasterDelay != 0 {
			t.Fatalf("vrrp_min_garp gave %+v", c)
		}
	})
	t.Run("GARP_ValidateRejects", func(t *testing.T) {
		for _, c := range []GARPConfig{
			{MasterRepeat: 0, MasterRefreshRepeat: 1},
			{MasterRepeat: 1, MasterRefreshRepeat: 0},
			{MasterRepeat: 1, MasterRefreshRepeat: 1, MasterDelay: -1},
			{MasterRepeat: 1, MasterRefreshRepeat: 1, ARPInterval: -1},
		} {
			if err := c.Validate(); err == nil {
				t.Errorf("Validate(%+v) accepted", c)
			}
		}
	})
}

func BenchmarkAppendAdvertFrame(b *testing.B) {
	buf := make([]byte, 0, frameBufferLen)
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("224.0.0.18")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := appendAdvertFrame(buf[:0], testDstMAC, testSrcMAC, src, dst, 7, testVRRP); err != nil {
			b.Fatal(err)
		}
	}
}
