//go:build linux

package loader

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/bpf"
	"github.com/xvrrp/xvrrp/test/lab"
)

// loIndex is the interface test runs pretend to receive on: the loopback
// exists in every network namespace.
const loIndex = 1

func openTest(t testing.TB) *Dataplane {
	t.Helper()
	return openTestRing(t, 1<<16)
}

// openTestRing is openTest with a ring of ringBytes.
func openTestRing(t testing.TB, ringBytes int) *Dataplane {
	t.Helper()
	lab.RequirePrivileged(t)
	dir := filepath.Join("/sys/fs/bpf", lab.UniqueName("xvrrp-test-"))
	d, err := Open(Options{PinDir: dir, RingBytes: ringBytes})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pin directory %s left behind after Close (stat: %v)", dir, err)
		}
	})
	return d
}

var wideOpen = Rates{SourcePerSec: MaxRate, SourceBurst: MaxRate, InstancePerSec: MaxRate, InstanceBurst: MaxRate}

func mustSet(t testing.TB, d *Dataplane, k InstanceKey, p InstancePolicy) {
	t.Helper()
	if err := d.SetInstance(k, p); err != nil {
		t.Fatalf("SetInstance(%v): %v", k, err)
	}
}

// tableInstances programs the instances the frame table is written against.
func tableInstances(t testing.TB, d *Dataplane) {
	v4, v6 := func(vrid uint8) InstanceKey { return InstanceKey{loIndex, vrid, IPv4} },
		func(vrid uint8) InstanceKey { return InstanceKey{loIndex, vrid, IPv6} }
	mustSet(t, d, v4(10), InstancePolicy{Version: 3, Rates: wideOpen})
	mustSet(t, d, v4(20), InstancePolicy{Version: 2, Rates: wideOpen})
	mustSet(t, d, v6(10), InstancePolicy{Version: 3, Rates: wideOpen})
	mustSet(t, d, v4(30), InstancePolicy{Version: 3, MinTTL: 1, MaxTTL: 255, LegacyUnicastChecksum: true, Rates: wideOpen,
		Peers: []netip.Addr{netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("198.18.0.2")}})
	mustSet(t, d, v4(31), InstancePolicy{Version: 3, Rates: wideOpen,
		Peers: []netip.Addr{netip.MustParseAddr("198.18.0.2")}})
	mustSet(t, d, v6(30), InstancePolicy{Version: 3, LegacyUnicastChecksum: true, Rates: wideOpen,
		Peers: []netip.Addr{netip.MustParseAddr("2001:db8::2")}})
	mustSet(t, d, v6(40), InstancePolicy{Version: 3, ChecksumAsV2: true, Rates: wideOpen})
	mustSet(t, d, v4(40), InstancePolicy{Version: 3, ChecksumAsV2: true, Rates: wideOpen})
	mustSet(t, d, v4(50), InstancePolicy{Version: 3, Group: netip.MustParseAddr("224.0.0.100"), Rates: wideOpen})
}

func unicast4(a advert) advert {
	a.vrid, a.dst = 30, netip.MustParseAddr("198.18.0.1")
	return a
}

func unicast6(a advert) advert {
	a.vrid, a.src, a.dst = 30, netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::1")
	return a
}

type frameCase struct {
	name    string
	frame   []byte
	verdict Verdict
	reason  Reason
	event   *advert // the advert the event must describe, nil for none
	vlan    [2]uint16
}

func with(a advert, f func(*advert)) advert { f(&a); return a }

func accepted(name string, a advert) frameCase {
	c := frameCase{name: name, frame: a.frame(), verdict: VerdictPass, reason: ReasonAccepted, event: &a}
	if len(a.vlans) > 0 {
		c.vlan[0] = a.vlans[0]
	}
	if len(a.vlans) > 1 {
		c.vlan[1] = a.vlans[1]
	}
	return c
}

func dropped(name string, frame []byte, r Reason) frameCase {
	return frameCase{name: name, frame: frame, verdict: VerdictDrop, reason: r}
}

func passed(name string, frame []byte, r Reason) frameCase {
	return frameCase{name: name, frame: frame, verdict: VerdictPass, reason: r}
}

func frameTable() []frameCase {
	v4, v6, v2 := v3adv4(), v3adv6(), v2adv4()
	cases := []frameCase{
		accepted("V3IPv4Multicast", v4),
		accepted("V3IPv6Multicast", v6),
		accepted("V2IPv4Multicast", v2),
		accepted("V2IPv4AuthPass", with(v2, func(a *advert) { a.auth = 1 })),
		accepted("V2IPv4AuthAH", with(v2, func(a *advert) { a.auth = 2 })),
		accepted("V3IPv6ChecksumAsV2FlagIgnored", with(v6, func(a *advert) { a.vrid = 40 })),
		accepted("V3IPv4NoAddresses", with(v4, func(a *advert) { a.addrs = nil })),
		accepted("V3IPv4EthernetPadding", with(v4, func(a *advert) { a.ethPad = 14 })),
		accepted("V3IPv4VLAN8021Q", with(v4, func(a *advert) { a.vlans = []uint16{100} })),
		accepted("V3IPv6QinQ8021ad", with(v6, func(a *advert) { a.vlans = []uint16{200, 300} })),
		accepted("V2IPv4QinQ8021ad", with(v2, func(a *advert) { a.vlans = []uint16{4094, 1} })),
		accepted("V3IPv4WithIPOptions", with(v4, func(a *advert) { a.ipOptions = []byte{0x94, 4, 0, 0} })),
		accepted("V3IPv4ManyAddressesLargeRecord", with(v4, func(a *advert) {
			for i := range 40 {
				a.addrs = append(a.addrs, netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}))
			}
		})),
		accepted("V3IPv4UnicastRelaxedTTL", with(unicast4(v4), func(a *advert) { a.ttl = 3 })),
		accepted("V3IPv4UnicastLegacyChecksum", with(unicast4(v4), func(a *advert) { a.csum = csumLegacy })),
		accepted("V3IPv6Unicast", unicast6(v6)),
		accepted("V3IPv4ChecksumAsV2", with(v4, func(a *advert) { a.vrid, a.csum = 40, csumAsV2 })),
		accepted("V3IPv4CustomGroup", with(v4, func(a *advert) { a.vrid, a.dst = 50, netip.MustParseAddr("224.0.0.100") })),

		passed("NotVRRPTCP", tcpFrame(), ReasonNotVRRP),
		passed("NotVRRPARP", arpFrame(), ReasonNotVRRP),
		passed("NotVRRPICMPv6", icmpv6Frame(), ReasonNotVRRP),
		passed("NotVRRPIPv6HopByHopBeforeVRRP", hopByHopAdvert(), ReasonNotVRRP),
		passed("UnknownVRIDPassedByDefault", with(v4, func(a *advert) { a.vrid = 99 }).frame(), ReasonUnknownVRID),
		passed("UnknownVRIDWrongFamily", with(v6, func(a *advert) { a.vrid = 20 }).frame(), ReasonUnknownVRID),

		// RFC 5798 §7.1 / RFC 3768 §7.1: TTL must be 255.
		dropped("BadTTLMulticastV3", with(v4, func(a *advert) { a.ttl = 254 }).frame(), ReasonBadTTL),
		dropped("BadTTLMulticastV2", with(v2, func(a *advert) { a.ttl = 1 }).frame(), ReasonBadTTL),
		dropped("BadHopLimitIPv6", with(v6, func(a *advert) { a.ttl = 64 }).frame(), ReasonBadTTL),
		dropped("BadTTLUnicastStrictIPv6", with(unicast6(v6), func(a *advert) { a.ttl = 64 }).frame(), ReasonBadTTL),
		// Version and type.
		dropped("BadVersion1", with(v4, func(a *advert) { a.version = 1 }).frame(), ReasonBadVersion),
		dropped("BadVersion4", with(v4, func(a *advert) { a.version = 4 }).frame(), ReasonBadVersion),
		dropped("BadVersionV2OverIPv6", with(v6, func(a *advert) { a.version = 2 }).frame(), ReasonBadVersion),
		dropped("BadVersionV2ForV3Instance", with(v2, func(a *advert) { a.vrid = 10 }).frame(), ReasonBadVersion),
		dropped("BadVersionV3ForV2Instance", with(v4, func(a *advert) { a.vrid = 20 }).frame(), ReasonBadVersion),
		dropped("BadType0", with(v4, func(a *advert) { a.typ = 0 }).frame(), ReasonBadType),
		dropped("BadType2", with(v2, func(a *advert) { a.typ = 2 }).frame(), ReasonBadType),
		dropped("BadAuthTypeV2", with(v2, func(a *advert) { a.auth = 3 }).frame(), ReasonBadAuthType),
		// Checksums.
		dropped("BadChecksumV3IPv4", with(v4, func(a *advert) { a.csum = csumCorrupt }).frame(), ReasonBadChecksum),
		dropped("BadChecksumV3IPv6", with(v6, func(a *advert) { a.csum = csumCorrupt }).frame(), ReasonBadChecksum),
		dropped("BadChecksumV2", with(v2, func(a *advert) { a.csum = csumCorrupt }).frame(), ReasonBadChecksum),
		dropped("BadChecksumZero", with(v4, func(a *advert) { a.csum = csumZeroField }).frame(), ReasonBadChecksum),
		dropped("BadChecksumAsV2WithoutFlag", with(v4, func(a *advert) { a.csum = csumAsV2 }).frame(), ReasonBadChecksum),
		dropped("BadChecksumLegacyWithoutFlag", with(unicast4(v4), func(a *advert) { a.vrid, a.csum = 31, csumLegacy }).frame(), ReasonBadChecksum),
		dropped("BadChecksumLegacyFlagIgnoredForIPv6", with(unicast6(v6), func(a *advert) { a.csum = csumLegacy }).frame(), ReasonBadChecksum),
		dropped("BadChecksumAsV2FlagIgnoredForIPv6", with(v6, func(a *advert) { a.vrid, a.csum = 40, csumAsV2 }).frame(), ReasonBadChecksum),
		dropped("BadChecksumRFCWithAsV2Flag", with(v4, func(a *advert) { a.vrid = 40 }).frame(), ReasonBadChecksum),
		// Length against count.
		dropped("BadLengthCountLargerThanPacket", with(v4, func(a *advert) { a.count = 5 }).frame(), ReasonBadLength),
		dropped("BadLengthCountSmallerThanPacket", with(v6, func(a *advert) { a.count = 1 }).frame(), ReasonBadLength),
		dropped("BadLengthV2MissingAuthData", func() []byte {
			f := v2.frame()
			f = f[:len(f)-8]
			ipLen := len(f) - 14
			f[16], f[17] = byte(ipLen>>8), byte(ipLen)
			return f
		}(), ReasonBadLength),
		dropped("BadLengthIPv4TotalLengthBeyondFrame", func() []byte {
			f := v4.frame()
			f[17] += 4
			return f
		}(), ReasonBadLength),
		dropped("BadLengthIPv4IHLBelow5", func() []byte {
			f := v4.frame()
			f[14] = 0x44
			return f
		}(), ReasonBadLength),
		// Destination and source.
		dropped("BadDestinationMulticastToUnicast", with(v4, func(a *advert) { a.dst = netip.MustParseAddr("198.18.0.1") }).frame(), ReasonBadDestination),
		dropped("BadDestinationWrongGroup", with(v4, func(a *advert) { a.vrid = 50 }).frame(), ReasonBadDestination),
		dropped("BadDestinationUnicastToMulticast", with(unicast4(v4), func(a *advert) { a.dst = netip.MustParseAddr("224.0.0.18") }).frame(), ReasonBadDestination),
		dropped("BadDestinationUnicastIPv6ToMulticast", with(unicast6(v6), func(a *advert) { a.dst = netip.MustParseAddr("ff02::12") }).frame(), ReasonBadDestination),
		dropped("PeerNotAllowedIPv4", with(unicast4(v4), func(a *advert) { a.src = netip.MustParseAddr("198.18.0.3") }).frame(), ReasonPeerNotAllowed),
		dropped("PeerNotAllowedIPv6", with(unicast6(v6), func(a *advert) { a.src = netip.MustParseAddr("2001:db8::3") }).frame(), ReasonPeerNotAllowed),
		// Fragments are never adverts.
		dropped("FragmentMoreFragments", with(v4, func(a *advert) { a.fragOff = 0x2000 }).frame(), ReasonFragment),
		dropped("FragmentNonZeroOffset", with(v4, func(a *advert) { a.fragOff = 0x0010 }).frame(), ReasonFragment),
	}
	cases = append(cases, truncations("V3IPv4VLAN", with(v4, func(a *advert) { a.vlans = []uint16{7} }), 18, 20)...)
	cases = append(cases, truncations("V3IPv6QinQ", with(v6, func(a *advert) { a.vlans = []uint16{7, 8} }), 22, 40)...)
	cases = append(cases, truncations("V2IPv4", v2, 14, 20)...)
	return cases
}

// truncations cuts a valid frame at every header boundary (and inside each
// header): before the IP protocol is known the frame is not VRRP and passes;
// after, it is a broken advert and is dropped.
func truncations(name string, a advert, l3, ipHdr int) []frameCase {
	f := a.frame()
	var out []frameCase
	cut := func(n int, r Reason, v Verdict) {
		out = append(out, frameCase{name: name + "TruncatedAt" + itoa(n), frame: f[:n], verdict: v, reason: r})
	}
	for n := 14; n < l3; n += 2 {
		cut(n, ReasonNotVRRP, VerdictPass) // inside the VLAN tags
	}
	cut(l3, ReasonNotVRRP, VerdictPass)           // Ethernet (and tags) only
	cut(l3+ipHdr/2, ReasonNotVRRP, VerdictPass)   // half an IP header
	cut(l3+ipHdr, ReasonBadLength, VerdictDrop)   // IP header, no VRRP
	cut(l3+ipHdr+4, ReasonBadLength, VerdictDrop) // half the VRRP header
	cut(l3+ipHdr+8, ReasonBadLength, VerdictDrop) // VRRP header, no addresses
	cut(len(f)-1, ReasonBadLength, VerdictDrop)   // one byte short
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func monotonicNow(t testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

func checkEvent(t testing.TB, got Event, want advert, vlan [2]uint16, ifindex uint32, before time.Duration) {
	t.Helper()
	fam := IPv4
	if want.v6 {
		fam = IPv6
	}
	if got.Ifindex != ifindex || got.Family != fam || got.Src != want.src || got.Dst != want.dst ||
		got.TTL != want.ttl || got.VLAN != vlan[0] || got.VLANInner != vlan[1] {
		t.Errorf("event header = {ifindex %d %v %v→%v ttl %d vlan %d/%d}, want {ifindex %d %v %v→%v ttl %d vlan %d/%d}",
			got.Ifindex, got.Family, got.Src, got.Dst, got.TTL, got.VLAN, got.VLANInner,
			ifindex, fam, want.src, want.dst, want.ttl, vlan[0], vlan[1])
	}
	if !bytes.Equal(got.Payload, want.vrrp()) {
		t.Errorf("event payload = %x, want %x", got.Payload, want.vrrp())
	}
	if now := monotonicNow(t); got.Time < before || got.Time > now {
		t.Errorf("event time %v outside the run [%v, %v]", got.Time, before, now)
	}
}

func TestXDPFrameTable(t *testing.T) {
	d := openTest(t)
	tableInstances(t, d)
	for _, c := range frameTable() {
		t.Run(c.name, func(t *testing.T) {
			before := monotonicNow(t)
			res, err := d.RunFrame(c.frame, loIndex)
			if err != nil {
				t.Fatalf("RunFrame: %v", err)
			}
			if res.Verdict != c.verdict || res.Reason != c.reason {
				t.Errorf("got %v/%v, want %v/%v", res.Verdict, res.Reason, c.verdict, c.reason)
			}
			if (c.event != nil) != res.HasEvent {
				t.Fatalf("event produced = %v, want %v (event %+v)", res.HasEvent, c.event != nil, res.Event)
			}
			if c.event != nil {
				checkEvent(t, res.Event, *c.event, c.vlan, loIndex, before)
			}
		})
	}
}

// TestXDPIfaceOptions covers the per-interface switches: unknown VRIDs
// dropped, accepted adverts consumed.
func TestXDPIfaceOptions(t *testing.T) {
	d := openTest(t)
	tableInstances(t, d)
	for _, c := range []struct {
		name    string
		opts    IfaceOptions
		frame   []byte
		verdict Verdict
		reason  Reason
		event   bool
	}{
		{"DropUnknownVRID", IfaceOptions{DropUnknownVRID: true}, with(v3adv4(), func(a *advert) { a.vrid = 99 }).frame(), VerdictDrop, ReasonUnknownVRID, false},
		{"DropUnknownVRIDStillAccepts", IfaceOptions{DropUnknownVRID: true}, v3adv4().frame(), VerdictPass, ReasonAccepted, true},
		{"ConsumeAccepted", IfaceOptions{ConsumeAccepted: true}, v3adv4().frame(), VerdictDrop, ReasonAccepted, true},
		{"ConsumeAcceptedPassesNonVRRP", IfaceOptions{ConsumeAccepted: true}, tcpFrame(), VerdictPass, ReasonNotVRRP, false},
		{"ConsumeAcceptedPassesUnknownVRID", IfaceOptions{ConsumeAccepted: true}, with(v3adv4(), func(a *advert) { a.vrid = 99 }).frame(), VerdictPass, ReasonUnknownVRID, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := d.RunFrameWith(c.frame, loIndex, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != c.verdict || res.Reason != c.reason || res.HasEvent != c.event {
				t.Errorf("got %v/%v event %v, want %v/%v event %v", res.Verdict, res.Reason, res.HasEvent, c.verdict, c.reason, c.event)
			}
		})
	}
}

// TestXDPDeleteInstance: a deleted instance's adverts become unknown VRID.
func TestXDPDeleteInstance(t *testing.T) {
	d := openTest(t)
	k := InstanceKey{loIndex, 10, IPv4}
	mustSet(t, d, k, InstancePolicy{Version: 3, Rates: wideOpen})
	if res, err := d.RunFrame(v3adv4().frame(), loIndex); err != nil || res.Reason != ReasonAccepted {
		t.Fatalf("before delete: %v %v", res.Reason, err)
	}
	if err := d.DeleteInstance(k); err != nil {
		t.Fatal(err)
	}
	if res, err := d.RunFrame(v3adv4().frame(), loIndex); err != nil || res.Reason != ReasonUnknownVRID {
		t.Fatalf("after delete: %v %v", res.Reason, err)
	}
	if err := d.DeleteInstance(k); err == nil || !strings.Contains(err.Error(), "no such instance") {
		t.Errorf("second delete: %v, want no such instance", err)
	}
}

func TestSetInstanceRejectsBadPolicy(t *testing.T) {
	d := openTest(t)
	k4, k6 := InstanceKey{loIndex, 1, IPv4}, InstanceKey{loIndex, 1, IPv6}
	for _, c := range []struct {
		name string
		k    InstanceKey
		p    InstancePolicy
		want string
	}{
		{"VRIDZero", InstanceKey{loIndex, 0, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen}, "VRID must be 1-255"},
		{"FamilyUnset", InstanceKey{Ifindex: loIndex, VRID: 1}, InstancePolicy{Version: 3, Rates: wideOpen}, "family"},
		{"Version4", k4, InstancePolicy{Version: 4, Rates: wideOpen}, "must be 2 or 3"},
		{"V2OverIPv6", k6, InstancePolicy{Version: 2, Rates: wideOpen}, "only for IPv4"},
		{"RatesZero", k4, InstancePolicy{Version: 3}, "DefaultRates"},
		{"RateTooHigh", k4, InstancePolicy{Version: 3, Rates: Rates{MaxRate + 1, 1, 1, 1}}, "DefaultRates"},
		{"TooManyPeers", k4, InstancePolicy{Version: 3, Rates: wideOpen, Peers: make([]netip.Addr, MaxPeers+1)}, "at most 8"},
		{"PeerWrongFamily", k4, InstancePolicy{Version: 3, Rates: wideOpen, Peers: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}, "not a ipv4 unicast"},
		{"PeerMulticast", k6, InstancePolicy{Version: 3, Rates: wideOpen, Peers: []netip.Addr{netip.MustParseAddr("ff02::12")}}, "not a ipv6 unicast"},
		{"GroupNotMulticast", k4, InstancePolicy{Version: 3, Rates: wideOpen, Group: netip.MustParseAddr("198.18.0.1")}, "multicast"},
		{"MinTTLAboveMax", k4, InstancePolicy{Version: 3, Rates: wideOpen, MinTTL: 200, MaxTTL: 100}, "min TTL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := d.SetInstance(c.k, c.p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("SetInstance = %v, want error containing %q", err, c.want)
			}
		})
	}
}

// TestReasonNamesMatchCEnum fails when the Go reason names drift from the C
// enum xvrrp_reason (names are XVRRP_REASON_<NAME> in C).
func TestReasonNamesMatchCEnum(t *testing.T) {
	spec, err := bpf.LoadXvrrp()
	if err != nil {
		t.Fatal(err)
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("xvrrp_reason", &enum); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range enum.Values {
		if v.Name == "XVRRP_REASON_MAX" {
			if int(v.Value) != NumReasons {
				t.Errorf("XVRRP_REASON_MAX = %d, NumReasons = %d", v.Value, NumReasons)
			}
			continue
		}
		names = append(names, v.Name)
		if got, want := Reason(v.Value).String(), strings.ToLower(strings.TrimPrefix(v.Name, "XVRRP_REASON_")); got != want {
			t.Errorf("Reason(%d).String() = %q, C enum says %s", v.Value, got, v.Name)
		}
	}
	if len(names) != NumReasons {
		t.Errorf("C enum has %d reasons, Go has %d", len(names), NumReasons)
	}
	for i, n := range reasonNames {
		if n == "" {
			t.Errorf("Reason %d has no Go name", i)
		}
	}
}

// TestStatsFieldsMatchReasons: the counter struct that bpftool shows has
// one field per reason, named and placed as the enum says.
func TestStatsFieldsMatchReasons(t *testing.T) {
	spec, err := bpf.LoadXvrrp()
	if err != nil {
		t.Fatal(err)
	}
	var st *btf.Struct
	if err := spec.Types.TypeByName("xvrrp_stats", &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != NumReasons {
		t.Fatalf("struct xvrrp_stats has %d fields, %d reasons", len(st.Members), NumReasons)
	}
	for i, m := range st.Members {
		if m.Name != Reason(i).String() || m.Offset != btf.Bits(64*i) {
			t.Errorf("field %d is %s at bit %d, want %s at bit %d", i, m.Name, m.Offset, Reason(i), 64*i)
		}
	}
}

func TestFamilyValuesMatchCEnum(t *testing.T) {
	spec, err := bpf.LoadXvrrp()
	if err != nil {
		t.Fatal(err)
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("xvrrp_family", &enum); err != nil {
		t.Fatal(err)
	}
	want := map[string]Family{"XVRRP_FAMILY_IPV4": IPv4, "XVRRP_FAMILY_IPV6": IPv6}
	for _, v := range enum.Values {
		if f, ok := want[v.Name]; !ok || uint64(f) != v.Value {
			t.Errorf("C %s = %d, Go has %d (known: %v)", v.Name, v.Value, f, ok)
		}
	}
}

// probeCounters reads the counters of the RunFrameWith program copy for o
// on the loopback (RunFrame uses the IfaceOptions{} copy unless the ifindex
// is attached).
func (d *Dataplane) probeCounters(o IfaceOptions) (Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.probes[probeKey{o, hookXDP, loIndex}]
	if p == nil {
		return Counters{}, fmt.Errorf("no probe program for %+v", o)
	}
	return readCounters(p.stats)
}
