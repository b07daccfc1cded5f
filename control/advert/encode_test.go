package advert

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestAppend_Refuses: what Append must never put on the wire.
func TestAppend_Refuses(t *testing.T) {
	v4 := []netip.Addr{netip.MustParseAddr("198.18.1.1")}
	many := make([]netip.Addr, 256)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{198, 18, 2, byte(i)})
	}
	cases := []struct {
		name     string
		a        Advert
		src, dst netip.Addr
		want     error
	}{
		{"Version1_RFC5798_5.2.1", Advert{Version: 1, Type: 1, Addrs: v4}, testSrc4, GroupIPv4, ErrVersion},
		{"Version2OverIPv6_RFC3768_1", Advert{Version: 2, Type: 1}, testSrc6, GroupIPv6, ErrVersion},
		{"TypeZero_RFC5798_5.2.2", Advert{Version: 3, Type: 0, Addrs: v4}, testSrc4, GroupIPv4, ErrType},
		{"AuthAH_NeverProduced_RFC3768_5.3.6", Advert{Version: 2, Type: 1, AuthType: AuthAH, Interval: 1, Addrs: v4}, testSrc4, GroupIPv4, ErrAuthType},
		{"AuthType3_RFC3768_5.3.6", Advert{Version: 2, Type: 1, AuthType: 3, Interval: 1, Addrs: v4}, testSrc4, GroupIPv4, ErrAuthType},
		{"V2Interval256_RFC3768_5.3.7", Advert{Version: 2, Type: 1, Interval: 256, Addrs: v4}, testSrc4, GroupIPv4, ErrInterval},
		{"V3Interval4096_RFC5798_5.2.7", Advert{Version: 3, Type: 1, Interval: 4096, Addrs: v4}, testSrc4, GroupIPv4, ErrInterval},
		{"IPv6AddrInIPv4Advert_RFC5798_5.2.9", Advert{Version: 3, Type: 1, Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}, testSrc4, GroupIPv4, ErrAddrFamily},
		{"IPv4AddrInIPv6Advert_RFC5798_5.2.9", Advert{Version: 3, Type: 1, Addrs: v4}, testSrc6, GroupIPv6, ErrAddrFamily},
		{"InvalidAddr", Advert{Version: 3, Type: 1, Addrs: []netip.Addr{{}}}, testSrc4, GroupIPv4, ErrAddrFamily},
		{"MixedSourceDestination", Advert{Version: 3, Type: 1, Addrs: v4}, testSrc4, GroupIPv6, ErrAddrFamily},
		{"256Addrs_RFC5798_5.2.5", Advert{Version: 3, Type: 1, Addrs: many}, testSrc4, GroupIPv4, ErrTooManyAddrs},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prefix := []byte{1, 2, 3}
			out, err := c.a.Append(prefix, c.src, c.dst, EncodeOptions{})
			if !errors.Is(err, c.want) {
				t.Fatalf("Append = %v, want %v", err, c.want)
			}
			if !slices.Equal(out, prefix) {
				t.Errorf("Append returned %x on error, want the input unchanged", out)
			}
		})
	}
}

// TestAppend_Limits: the largest values each field carries are encoded,
// not refused.
func TestAppend_Limits(t *testing.T) {
	many := make([]netip.Addr, 255)
	for i := range many {
		many[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i), 15: 1})
	}
	cases := []struct {
		name     string
		a        Advert
		src, dst netip.Addr
		wantLen  int
	}{
		{"V2Interval255", Advert{Version: 2, Type: 1, VRID: 255, Priority: 255, Interval: 255}, testSrc4, GroupIPv4, 16},
		{"V3Interval4095", Advert{Version: 3, Type: 1, VRID: 1, Interval: 4095}, testSrc4, GroupIPv4, 8},
		{"V3IPv6_255Addrs", Advert{Version: 3, Type: 1, VRID: 2, Interval: 1, Addrs: many}, testSrc6, GroupIPv6, 8 + 255*16},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := mustAppend(t, &c.a, c.src, c.dst, EncodeOptions{})
			if len(b) != c.wantLen {
				t.Fatalf("len = %d, want %d", len(b), c.wantLen)
			}
			var got Advert
			if err := Decode(b, c.src, c.dst, DecodeOptions{}, &got); err != nil {
				t.Fatal(err)
			}
			if got.Interval != c.a.Interval || got.VRID != c.a.VRID || got.Priority != c.a.Priority || len(got.Addrs) != len(c.a.Addrs) {
				t.Errorf("round trip %+v -> %+v", c.a, got)
			}
		})
	}
}

// TestAppend_V2AuthNoneZeroesAuthData: RFC 3768 §5.3.10, unused
// Authentication Data SHOULD be zero on transmission.
func TestAppend_V2AuthNoneZeroesAuthData(t *testing.T) {
	a := Advert{Version: 2, Type: 1, VRID: 3, Interval: 1, AuthType: AuthNone, AuthData: Password("leftover")}
	b := mustAppend(t, &a, testSrc4, GroupIPv4, EncodeOptions{})
	if !slices.Equal(b[HeaderLen:], make([]byte, 8)) {
		t.Errorf("auth data %x, want zeros", b[HeaderLen:])
	}
}

// TestAppend_V3IgnoresAuthFields: VRRPv3 has no authentication (RFC 5798
// §9: removed); stray v2 fields must not reach the wire.
func TestAppend_V3IgnoresAuthFields(t *testing.T) {
	a := Advert{Version: 3, Type: 1, VRID: 4, Interval: 100, AuthType: AuthPass, AuthData: Password("x")}
	b := mustAppend(t, &a, testSrc4, GroupIPv4, EncodeOptions{})
	if len(b) != HeaderLen || b[4] != 0 || b[5] != 100 {
		t.Errorf("v3 advert %x carries v2 auth fields", b)
	}
}

// TestAppend_NoAllocation: the sender appends into a reused buffer.
func TestAppend_NoAllocation(t *testing.T) {
	a := Advert{Version: 3, Type: 1, VRID: 5, Priority: 100, Interval: 100,
		Addrs: []netip.Addr{netip.MustParseAddr("198.18.5.1"), netip.MustParseAddr("198.18.5.2")}}
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = a.Append(buf[:0], testSrc4, GroupIPv4, EncodeOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Append allocated %v times per run into a buffer with room, want 0", allocs)
	}
}

// TestDecode_V2AuthAH: RFC 2338 §5.3.6.2 AH adverts (keepalived auth_type
// AH) are decoded, so the receive path can count and refuse them by policy.
func TestDecode_V2AuthAH(t *testing.T) {
	b := goodV2(t)
	b[4] = AuthAH
	refix(t, b, testSrc4, GroupIPv4)
	var a Advert
	if err := Decode(b, testSrc4, GroupIPv4, DecodeOptions{}, &a); err != nil {
		t.Fatal(err)
	}
	if a.AuthType != AuthAH || a.AuthMatches(Password("pw")) {
		t.Errorf("AH advert: AuthType %d, AuthMatches %v; want 2, false", a.AuthType, a.AuthMatches(Password("pw")))
	}
}

// TestAuthMatches: RFC 2338 §5.3.6.1 simple text password, keepalived
// semantics (8 bytes, zero padded, truncated).
func TestAuthMatches(t *testing.T) {
	cases := []struct {
		name string
		a    Advert
		pass string
		want bool
	}{
		{"SamePassword", Advert{Version: 2, AuthType: AuthPass, AuthData: Password("secret")}, "secret", true},
		{"DifferentPassword", Advert{Version: 2, AuthType: AuthPass, AuthData: Password("secret")}, "secreT", false},
		{"PrefixIsNotEnough", Advert{Version: 2, AuthType: AuthPass, AuthData: Password("secret")}, "secre", false},
		{"TruncatedTo8Bytes_keepalived", Advert{Version: 2, AuthType: AuthPass, AuthData: Password("12345678")}, "123456789", true},
		{"AuthNoneNeverMatches", Advert{Version: 2, AuthType: AuthNone, AuthData: Password("secret")}, "secret", false},
		{"V3NeverMatches", Advert{Version: 3, AuthType: AuthPass, AuthData: Password("secret")}, "secret", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.a.AuthMatches(Password(c.pass)); got != c.want {
				t.Errorf("AuthMatches(%q) = %v, want %v", c.pass, got, c.want)
			}
		})
	}
	if p := Password("ab"); p != [8]byte{'a', 'b'} {
		t.Errorf("Password(ab) = %x, want zero padded", p)
	}
}

// TestIntervalDuration: RFC 3768 §5.3.7 seconds, RFC 5798 §5.2.7
// centiseconds.
func TestIntervalDuration(t *testing.T) {
	cases := []struct {
		name string
		a    Advert
		want time.Duration
	}{
		{"V2OneSecond", Advert{Version: 2, Interval: 1}, time.Second},
		{"V2Max", Advert{Version: 2, Interval: 255}, 255 * time.Second},
		{"V3Default100cs", Advert{Version: 3, Interval: 100}, time.Second},
		{"V3Min1cs", Advert{Version: 3, Interval: 1}, 10 * time.Millisecond},
		{"V3Max4095cs", Advert{Version: 3, Interval: 4095}, 40950 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.a.IntervalDuration(); got != c.want {
				t.Errorf("IntervalDuration = %v, want %v", got, c.want)
			}
		})
	}
}

// TestVirtualMAC: RFC 5798 §7.3.
func TestVirtualMAC(t *testing.T) {
	if got := VirtualMAC(0x33, false); got != [6]byte{0, 0, 0x5e, 0, 1, 0x33} {
		t.Errorf("IPv4 VRID 51: %x", got)
	}
	if got := VirtualMAC(0x33, true); got != [6]byte{0, 0, 0x5e, 0, 2, 0x33} {
		t.Errorf("IPv6 VRID 51: %x", got)
	}
}

// TestConstants pins the numbers other packages (the XDP program's
// cross-check, the sender) build on.
func TestConstants(t *testing.T) {
	if ProtocolNumber != 112 || TTL != 255 {
		t.Errorf("ProtocolNumber %d TTL %d", ProtocolNumber, TTL)
	}
	if GroupIPv4.String() != "224.0.0.18" || GroupIPv6.String() != "ff02::12" {
		t.Errorf("groups %v %v", GroupIPv4, GroupIPv6)
	}
}
