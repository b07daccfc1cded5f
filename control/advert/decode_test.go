package advert

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
)

var (
	testSrc4 = netip.MustParseAddr("198.18.0.1")
	testSrc6 = netip.MustParseAddr("fe80::1")
	testPeer = netip.MustParseAddr("198.18.0.2")
)

// goodV2, goodV3v4 and goodV3v6 return valid adverts for the mutation tables.
func goodV2(t testing.TB) []byte {
	a := Advert{Version: 2, Type: 1, VRID: 7, Priority: 100, Interval: 1, AuthType: AuthPass,
		AuthData: Password("pw"), Addrs: []netip.Addr{netip.MustParseAddr("198.18.7.1")}}
	return mustAppend(t, &a, testSrc4, GroupIPv4, EncodeOptions{})
}

func goodV3v4(t testing.TB) []byte {
	a := Advert{Version: 3, Type: 1, VRID: 8, Priority: 200, Interval: 100,
		Addrs: []netip.Addr{netip.MustParseAddr("198.18.8.1"), netip.MustParseAddr("198.18.8.2")}}
	return mustAppend(t, &a, testSrc4, GroupIPv4, EncodeOptions{})
}

func goodV3v6(t testing.TB) []byte {
	a := Advert{Version: 3, Type: 1, VRID: 9, Priority: 50, Interval: 4095,
		Addrs: []netip.Addr{netip.MustParseAddr("2001:db8:9::1")}}
	return mustAppend(t, &a, testSrc6, GroupIPv6, EncodeOptions{})
}

func mustAppend(t testing.TB, a *Advert, src, dst netip.Addr, opts EncodeOptions) []byte {
	t.Helper()
	b, err := a.Append(nil, src, dst, opts)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return b
}

// refix recomputes the checksum after a mutation, so that the test reaches
// the check it is aimed at rather than failing on the checksum.
func refix(t testing.TB, b []byte, src, dst netip.Addr) []byte {
	t.Helper()
	c := refChecksum(b, src, dst, false, false)
	binary.BigEndian.PutUint16(b[6:8], c)
	return b
}

// refChecksum is an independent, deliberately naive RFC 1071 checksum: it
// lays out the pseudo-header bytes exactly as RFC 8200 §8.1 (IPv6) or the
// IPv4 TCP/UDP pseudo-header (keepalived's VRRPv3 IPv4 form) and sums 16-bit
// words one at a time.
func refChecksum(b []byte, src, dst netip.Addr, asV2, legacy bool) uint16 {
	var data []byte
	if b[0]>>4 == 3 {
		switch {
		case src.Is6():
			s, d := src.As16(), dst.As16()
			data = append(data, s[:]...)
			data = append(data, d[:]...)
			data = binary.BigEndian.AppendUint32(data, uint32(len(b)))
			data = append(data, 0, 0, 0, ProtocolNumber)
		case !asV2:
			if legacy {
				dst = GroupIPv4
			}
			s, d := src.As4(), dst.As4()
			data = append(data, s[:]...)
			data = append(data, d[:]...)
			data = append(data, 0, ProtocolNumber)
			data = binary.BigEndian.AppendUint16(data, uint16(len(b)))
		}
	}
	msg := slices.Clone(b)
	msg[6], msg[7] = 0, 0
	data = append(data, msg...)
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	var s uint32
	for i := 0; i < len(data); i += 2 {
		s += uint32(data[i])<<8 | uint32(data[i+1])
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// TestDecode_Malformed: every way a message can be refused, each built by
// mutating a good one, with the sentinel the receive path counts it under.
func TestDecode_Malformed(t *testing.T) {
	type tc struct {
		name     string
		msg      []byte
		src, dst netip.Addr
		want     error
	}
	mut := func(b []byte, f func([]byte) []byte) []byte { return f(slices.Clone(b)) }
	v2, v3, v6 := goodV2(t), goodV3v4(t), goodV3v6(t)
	cases := []tc{
		{"Empty_TooShort", nil, testSrc4, GroupIPv4, ErrTooShort},
		{"SevenBytes_TooShort", v3[:7], testSrc4, GroupIPv4, ErrTooShort},
		// RFC 3768 §5.3.1 / RFC 5798 §5.2.1
		{"Version1_RFC5798_5.2.1", mut(v3, func(b []byte) []byte { b[0] = 0x11; return refix(t, b, testSrc4, GroupIPv4) }), testSrc4, GroupIPv4, ErrVersion},
		{"Version4_RFC5798_5.2.1", mut(v3, func(b []byte) []byte { b[0] = 0x41; return b }), testSrc4, GroupIPv4, ErrVersion},
		{"Version0_RFC5798_5.2.1", mut(v3, func(b []byte) []byte { b[0] = 0x01; return b }), testSrc4, GroupIPv4, ErrVersion},
		// RFC 3768 §1: VRRPv2 is IPv4 only.
		{"V2OverIPv6_RFC3768_1", mut(v6, func(b []byte) []byte { b[0] = 0x21; return b }), testSrc6, GroupIPv6, ErrVersion},
		// RFC 3768 §5.3.2 / RFC 5798 §5.2.2
		{"Type0_RFC5798_5.2.2", mut(v3, func(b []byte) []byte { b[0] = 0x30; return refix(t, b, testSrc4, GroupIPv4) }), testSrc4, GroupIPv4, ErrType},
		{"Type2_RFC3768_5.3.2", mut(v2, func(b []byte) []byte { b[0] = 0x22; return refix(t, b, testSrc4, GroupIPv4) }), testSrc4, GroupIPv4, ErrType},
		// RFC 3768 §7.1 / RFC 5798 §7.1: complete packet for the count.
		{"CountTooHigh_RFC5798_7.1", mut(v3, func(b []byte) []byte { b[3] = 3; return b }), testSrc4, GroupIPv4, ErrLength},
		{"CountTooLow_RFC5798_7.1", mut(v3, func(b []byte) []byte { b[3] = 1; return b }), testSrc4, GroupIPv4, ErrLength},
		{"Truncated_RFC5798_7.1", v3[:len(v3)-1], testSrc4, GroupIPv4, ErrLength},
		{"TrailingByte_RFC5798_7.1", append(slices.Clone(v3), 0), testSrc4, GroupIPv4, ErrLength},
		{"V2MissingAuthData_RFC3768_5.1", v2[:len(v2)-8], testSrc4, GroupIPv4, ErrLength},
		{"V3AsIPv6WithIPv4Sizes_RFC5798_5.2.9", v3, testSrc6, GroupIPv6, ErrLength},
		{"CountMax255Short_RFC5798_7.1", mut(v3, func(b []byte) []byte { b[3] = 255; return b }), testSrc4, GroupIPv4, ErrLength},
		// RFC 3768 §5.3.6
		{"AuthType3_RFC3768_5.3.6", mut(v2, func(b []byte) []byte { b[4] = 3; return refix(t, b, testSrc4, GroupIPv4) }), testSrc4, GroupIPv4, ErrAuthType},
		{"AuthType255_RFC3768_5.3.6", mut(v2, func(b []byte) []byte { b[4] = 255; return refix(t, b, testSrc4, GroupIPv4) }), testSrc4, GroupIPv4, ErrAuthType},
		// RFC 3768 §5.3.8 / RFC 5798 §5.2.8
		{"V2BadChecksum_RFC3768_5.3.8", mut(v2, func(b []byte) []byte { b[7] ^= 1; return b }), testSrc4, GroupIPv4, ErrChecksum},
		{"V2FlippedAuthData_RFC3768_5.3.8", mut(v2, func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }), testSrc4, GroupIPv4, ErrChecksum},
		{"V3BadChecksum_RFC5798_5.2.8", mut(v3, func(b []byte) []byte { b[6] ^= 0x10; return b }), testSrc4, GroupIPv4, ErrChecksum},
		{"V3WrongSource_RFC5798_5.2.8", v3, testPeer, GroupIPv4, ErrChecksum},
		{"V3WrongDestination_RFC5798_5.2.8", v3, testSrc4, testPeer, ErrChecksum},
		{"V3IPv6WrongSource_RFC5798_5.2.8", v6, netip.MustParseAddr("fe80::2"), GroupIPv6, ErrChecksum},
		{"V3IPv6FlippedAddress_RFC5798_5.2.8", mut(v6, func(b []byte) []byte { b[20] ^= 4; return b }), testSrc6, GroupIPv6, ErrChecksum},
		// RFC 5798 §5.2.9: one family, decided by the IP header.
		{"MixedFamilies", v3, testSrc4, GroupIPv6, ErrAddrFamily},
		{"InvalidSource", v3, netip.Addr{}, GroupIPv4, ErrAddrFamily},
		{"InvalidDestination", v3, testSrc4, netip.Addr{}, ErrAddrFamily},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := Advert{VRID: 99, Addrs: make([]netip.Addr, 1, 4)}
			before := a
			err := Decode(c.msg, c.src, c.dst, DecodeOptions{}, &a)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode = %v, want %v", err, c.want)
			}
			if a.VRID != before.VRID || len(a.Addrs) != 1 {
				t.Errorf("Decode changed the Advert on error: %+v", a)
			}
		})
	}
}

// TestDecode_V3ReservedBitsIgnored: RFC 5798 §5.2.6, rsvd MUST be ignored on
// reception; the interval is the low 12 bits.
func TestDecode_V3ReservedBitsIgnored(t *testing.T) {
	b := goodV3v4(t)
	b[4] |= 0xf0
	refix(t, b, testSrc4, GroupIPv4)
	var a Advert
	if err := Decode(b, testSrc4, GroupIPv4, DecodeOptions{}, &a); err != nil {
		t.Fatal(err)
	}
	if a.Interval != 100 {
		t.Errorf("Interval = %d, want 100 with rsvd bits set", a.Interval)
	}
}

// TestDecode_ChecksumAllOnesAccepted: RFC 1071 one's complement has two
// zeros; a message whose checksum is sent as 0xffff instead of 0x0000 still
// sums to all ones, and keepalived accepts it too.
func TestDecode_ChecksumAllOnesAccepted(t *testing.T) {
	// Find a VRID/priority whose checksum is 0x0000, then send it as 0xffff.
	for prio := 0; prio < 256; prio++ {
		for vrid := 1; vrid < 256; vrid++ {
			a := Advert{Version: 2, Type: 1, VRID: uint8(vrid), Priority: uint8(prio), Interval: 1,
				Addrs: []netip.Addr{netip.MustParseAddr("198.18.1.1")}}
			b := mustAppend(t, &a, testSrc4, GroupIPv4, EncodeOptions{})
			if a.Checksum != 0 {
				continue
			}
			b[6], b[7] = 0xff, 0xff
			var got Advert
			if err := Decode(b, testSrc4, GroupIPv4, DecodeOptions{}, &got); err != nil {
				t.Fatalf("checksum 0xffff for a zero checksum refused: %v", err)
			}
			if got.Checksum != 0xffff {
				t.Errorf("Checksum = %#04x, want the wire's 0xffff", got.Checksum)
			}
			return
		}
	}
	t.Fatal("no VRID/priority with a zero checksum found; the test needs another search space")
}

// TestChecksum_MatchesReference compares the optimised sum with the naive
// reference for every variant and odd/even lengths.
func TestChecksum_MatchesReference(t *testing.T) {
	type tc struct {
		name     string
		src, dst netip.Addr
		opts     EncodeOptions
		version  uint8
		naddrs   int
	}
	var cases []tc
	for n := 0; n <= 9; n++ {
		cases = append(cases,
			tc{"V2", testSrc4, GroupIPv4, EncodeOptions{}, 2, n},
			tc{"V3IPv4", testSrc4, GroupIPv4, EncodeOptions{}, 3, n},
			tc{"V3IPv4Unicast", testSrc4, testPeer, EncodeOptions{}, 3, n},
			tc{"V3IPv4AsV2", testSrc4, GroupIPv4, EncodeOptions{ChecksumAsV2: true}, 3, n},
			tc{"V3IPv4Legacy", testSrc4, testPeer, EncodeOptions{LegacyUnicastChecksum: true}, 3, n},
			tc{"V3IPv6", testSrc6, GroupIPv6, EncodeOptions{}, 3, n},
			tc{"V3IPv6AsV2Ignored", testSrc6, GroupIPv6, EncodeOptions{ChecksumAsV2: true}, 3, n},
			tc{"V3IPv6LegacyIgnored", testSrc6, netip.MustParseAddr("2001:db8::2"), EncodeOptions{LegacyUnicastChecksum: true}, 3, n},
		)
	}
	for _, c := range cases {
		a := Advert{Version: c.version, Type: 1, VRID: uint8(40 + c.naddrs), Priority: 0xfe, Interval: 3}
		for i := 0; i < c.naddrs; i++ {
			if c.src.Is6() {
				a.Addrs = append(a.Addrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i*37 + 1)}))
			} else {
				a.Addrs = append(a.Addrs, netip.AddrFrom4([4]byte{198, 19, byte(i * 91), byte(255 - i)}))
			}
		}
		b := mustAppend(t, &a, c.src, c.dst, c.opts)
		want := refChecksum(b, c.src, c.dst, c.opts.ChecksumAsV2 && c.src.Is4(), c.opts.LegacyUnicastChecksum && c.src.Is4() && !c.opts.ChecksumAsV2)
		if a.Checksum != want {
			t.Errorf("%s/%daddrs: Append checksum %#04x, reference %#04x", c.name, c.naddrs, a.Checksum, want)
		}
		if got, err := Checksum(b, c.src, c.dst, c.opts); err != nil || got != want {
			t.Errorf("%s/%daddrs: Checksum = %#04x, %v; reference %#04x", c.name, c.naddrs, got, err, want)
		}
	}
	// Odd length (not a VRRP message, but Checksum must pad per RFC 1071 §4.1).
	odd := []byte{0x31, 1, 2, 0, 0, 100, 0xaa, 0xbb, 0x7f}
	if got, _ := Checksum(odd, testSrc4, GroupIPv4, EncodeOptions{}); got != refChecksum(odd, testSrc4, GroupIPv4, false, false) {
		t.Errorf("odd length: Checksum %#04x, reference %#04x", got, refChecksum(odd, testSrc4, GroupIPv4, false, false))
	}
}

// TestDecode_ChecksumVariants: which checksum forms each DecodeOptions
// accepts (keepalived v3_checksum_as_v2 and the old unicast checksum).
func TestDecode_ChecksumVariants(t *testing.T) {
	base := Advert{Version: 3, Type: 1, VRID: 60, Priority: 100, Interval: 100,
		Addrs: []netip.Addr{netip.MustParseAddr("198.18.60.1")}}
	enc := func(dst netip.Addr, o EncodeOptions) []byte { a := base; return mustAppend(t, &a, testSrc4, dst, o) }
	rfcMcast := enc(GroupIPv4, EncodeOptions{})
	rfcUni := enc(testPeer, EncodeOptions{})
	asV2 := enc(GroupIPv4, EncodeOptions{ChecksumAsV2: true})
	asV2Uni := enc(testPeer, EncodeOptions{ChecksumAsV2: true})
	legacyUni := enc(testPeer, EncodeOptions{LegacyUnicastChecksum: true})
	if !slices.Equal(legacyUni, rfcMcast) {
		t.Errorf("old unicast checksum = %x, want the multicast form %x (pseudo-header destination 224.0.0.18)", legacyUni, rfcMcast)
	}
	cases := []struct {
		name       string
		msg        []byte
		dst        netip.Addr
		opts       DecodeOptions
		wantErr    error
		wantLegacy bool
	}{
		{"RFCMulticast_Default", rfcMcast, GroupIPv4, DecodeOptions{}, nil, false},
		{"RFCUnicast_Default", rfcUni, testPeer, DecodeOptions{}, nil, false},
		{"RFCUnicast_LegacyAllowed_PrefersRFC", rfcUni, testPeer, DecodeOptions{LegacyUnicastChecksum: true}, nil, false},
		{"LegacyUnicast_Default_Refused", legacyUni, testPeer, DecodeOptions{}, ErrChecksum, false},
		{"LegacyUnicast_LegacyAllowed", legacyUni, testPeer, DecodeOptions{LegacyUnicastChecksum: true}, nil, true},
		{"AsV2_Default_Refused", asV2, GroupIPv4, DecodeOptions{}, ErrChecksum, false},
		{"AsV2_AsV2", asV2, GroupIPv4, DecodeOptions{ChecksumAsV2: true}, nil, false},
		{"AsV2Unicast_AsV2_DestinationIrrelevant", asV2Uni, testPeer, DecodeOptions{ChecksumAsV2: true}, nil, false},
		{"RFCMulticast_AsV2_Refused", rfcMcast, GroupIPv4, DecodeOptions{ChecksumAsV2: true}, ErrChecksum, false},
		{"LegacyUnicast_AsV2AndLegacy_Refused", legacyUni, testPeer, DecodeOptions{ChecksumAsV2: true, LegacyUnicastChecksum: true}, ErrChecksum, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a Advert
			err := Decode(c.msg, testSrc4, c.dst, c.opts, &a)
			if !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Fatalf("Decode = %v, want %v", err, c.wantErr)
			}
			if err == nil && a.LegacyChecksum != c.wantLegacy {
				t.Errorf("LegacyChecksum = %v, want %v", a.LegacyChecksum, c.wantLegacy)
			}
		})
	}
	// v3_checksum_as_v2 does not apply to IPv6: the kernel sums IPv6.
	a6 := Advert{Version: 3, Type: 1, VRID: 61, Interval: 100, Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::61")}}
	b6 := mustAppend(t, &a6, testSrc6, GroupIPv6, EncodeOptions{ChecksumAsV2: true})
	if err := Decode(b6, testSrc6, GroupIPv6, DecodeOptions{}, new(Advert)); err != nil {
		t.Errorf("IPv6 with ChecksumAsV2 must still carry the pseudo-header: %v", err)
	}
}

// TestDecode_ReusesAddrs: the receive path decodes into one Advert; once
// Addrs has grown, decoding must not allocate and must not keep stale
// addresses.
func TestDecode_ReusesAddrs(t *testing.T) {
	big, small := goodV3v4(t), goodV3v6(t)
	var a Advert
	if err := Decode(big, testSrc4, GroupIPv4, DecodeOptions{}, &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Addrs) != 2 {
		t.Fatalf("Addrs = %v", a.Addrs)
	}
	if err := Decode(small, testSrc6, GroupIPv6, DecodeOptions{}, &a); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Addrs, []netip.Addr{netip.MustParseAddr("2001:db8:9::1")}) {
		t.Errorf("Addrs = %v after a smaller advert", a.Addrs)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := Decode(big, testSrc4, GroupIPv4, DecodeOptions{}, &a); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocated %v times per run with grown Addrs, want 0", allocs)
	}
}

// TestDecode_V3ClearsV2Fields: decoding a v3 advert into an Advert that
// held a v2 one must not leave the v2 auth fields behind.
func TestDecode_V3ClearsV2Fields(t *testing.T) {
	var a Advert
	if err := Decode(goodV2(t), testSrc4, GroupIPv4, DecodeOptions{}, &a); err != nil {
		t.Fatal(err)
	}
	if err := Decode(goodV3v4(t), testSrc4, GroupIPv4, DecodeOptions{}, &a); err != nil {
		t.Fatal(err)
	}
	if a.AuthType != 0 || a.AuthData != [8]byte{} {
		t.Errorf("v2 auth fields left after a v3 decode: %d %x", a.AuthType, a.AuthData)
	}
}
