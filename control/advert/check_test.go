package advert

import (
	"net/netip"
	"slices"
	"testing"
)

// TestCheck: one case per receive rule, named after the RFC section or
// keepalived rule it applies; each refusal is checked against the policy
// that would have accepted the same advert otherwise (the "Accepted" cases).
func TestCheck(t *testing.T) {
	var (
		src   = netip.MustParseAddr("198.18.0.1")
		peer  = netip.MustParseAddr("198.18.0.2")
		other = netip.MustParseAddr("198.18.0.9")
		vip1  = netip.MustParseAddr("198.18.1.1")
		vip2  = netip.MustParseAddr("198.18.1.2")
		pass  = Password("secret")
	)
	v3 := Advert{Version: 3, Type: TypeAdvertisement, VRID: 51, Priority: 100, Interval: 100, Addrs: []netip.Addr{vip1, vip2}}
	v2 := Advert{Version: 2, Type: TypeAdvertisement, VRID: 51, Priority: 100, Interval: 1, Addrs: []netip.Addr{vip1}}
	v2auth := v2
	v2auth.AuthType, v2auth.AuthData = AuthPass, pass
	v3pol := Policy{Version: 3, Interval: 1, Addrs: []netip.Addr{vip2, vip1}}
	v2pol := Policy{Version: 2, Interval: 1, Addrs: []netip.Addr{vip1}}
	v2authPol := v2pol
	v2authPol.Auth, v2authPol.Pass = true, pass

	enc := func(a Advert, src, dst netip.Addr, o EncodeOptions) []byte {
		b, err := a.Append(nil, src, dst, o)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		return b
	}
	with := func(a Advert, f func(*Advert)) Advert {
		a.Addrs = slices.Clone(a.Addrs)
		f(&a)
		return a
	}
	pol := func(p Policy, f func(*Policy)) Policy { f(&p); return p }
	corrupt := func(b []byte, i int) []byte { b = slices.Clone(b); b[i] ^= 0x40; return b }

	for _, c := range []struct {
		name string
		pol  Policy
		b    []byte
		src  netip.Addr
		dst  netip.Addr
		want Reason
	}{
		{"V3Accepted", v3pol, enc(v3, src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, Accepted},
		{"V2Accepted", v2pol, enc(v2, src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, Accepted},
		{"V2PasswordAccepted_RFC2338_5.3.6.1", v2authPol, enc(v2auth, src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, Accepted},
		{"ChecksumMismatch_RFC5798_7.1", v3pol, corrupt(enc(v3, src, GroupIPv4, EncodeOptions{}), 2), src, GroupIPv4, RefusedChecksum},
		{"ChecksumCoversPseudoHeader_RFC5798_5.2.8", v3pol, enc(v3, other, GroupIPv4, EncodeOptions{}), src, GroupIPv4, RefusedChecksum},
		{"ChecksumAsV2Accepted_KeepalivedV3ChecksumAsV2", pol(v3pol, func(p *Policy) { p.Decode.ChecksumAsV2 = true }),
			enc(v3, src, GroupIPv4, EncodeOptions{ChecksumAsV2: true}), src, GroupIPv4, Accepted},
		{"ChecksumAsV2RefusedWithoutIt_KeepalivedV3ChecksumAsV2", v3pol,
			enc(v3, src, GroupIPv4, EncodeOptions{ChecksumAsV2: true}), src, GroupIPv4, RefusedChecksum},
		{"LegacyUnicastChecksumAccepted_KeepalivedOldUnicastChecksum", pol(v3pol, func(p *Policy) { p.Decode.LegacyUnicastChecksum = true }),
			enc(v3, src, peer, EncodeOptions{LegacyUnicastChecksum: true}), src, peer, Accepted},
		{"LegacyUnicastChecksumRefusedWithNever_KeepalivedOldUnicastChecksum", v3pol,
			enc(v3, src, peer, EncodeOptions{LegacyUnicastChecksum: true}), src, peer, RefusedChecksum},
		{"LengthMismatch_RFC5798_7.1", v3pol, enc(v3, src, GroupIPv4, EncodeOptions{})[:12], src, GroupIPv4, RefusedLength},
		{"TooShort_RFC5798_7.1", v3pol, []byte{0x31, 51, 100}, src, GroupIPv4, RefusedLength},
		{"TypeNotAdvertisement_RFC5798_5.2.2", v3pol, func() []byte {
			b := enc(v3, src, GroupIPv4, EncodeOptions{})
			b[0] = 0x32
			return b
		}(), src, GroupIPv4, RefusedVersion},
		{"OtherVersionThanTheInstance_RFC5798_7.1", v3pol, enc(with(v2, func(a *Advert) { a.Addrs = v3.Addrs }), src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, RefusedVersion},
		{"UnknownAuthType_RFC3768_5.3.6", v2pol, func() []byte {
			b := enc(v2, src, GroupIPv4, EncodeOptions{})
			b[4] = 3
			return b
		}(), src, GroupIPv4, RefusedAuth},
		{"PasswordMismatch_RFC2338_5.3.6.1", v2authPol, enc(with(v2auth, func(a *Advert) { a.AuthData = Password("wrong") }), src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, RefusedAuth},
		{"NoAuthWhenConfigured_RFC3768_7.1", v2authPol, enc(v2, src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, RefusedAuth},
		{"AuthWhenNoneConfigured_Keepalived", v2pol, enc(v2auth, src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, RefusedAuth},
		{"AddressListMismatch_RFC5798_7.1_Keepalived", v3pol, enc(with(v3, func(a *Advert) { a.Addrs = a.Addrs[:1] }), src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, RefusedAddrList},
		{"AddressListMismatchOnPriorityZero_RFC5798_7.1_Keepalived", v3pol, enc(with(v3, func(a *Advert) { a.Priority, a.Addrs[1] = 0, other }), src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, RefusedAddrList},
		{"AddressListInAnyOrder_Keepalived", v3pol, enc(with(v3, func(a *Advert) { a.Addrs[0], a.Addrs[1] = a.Addrs[1], a.Addrs[0] }), src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, Accepted},
		{"AddressListNotChecked_KeepalivedSkipCheckAdvAddr", pol(v3pol, func(p *Policy) { p.SkipAddrs = true }),
			enc(with(v3, func(a *Advert) { a.Addrs = []netip.Addr{other} }), src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, Accepted},
		{"V2IntervalMismatch_RFC3768_7.1", v2pol, enc(with(v2, func(a *Advert) { a.Interval = 2 }), src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, RefusedInterval},
		{"V3IntervalAdopted_RFC5798_6.4.2", v3pol, enc(with(v3, func(a *Advert) { a.Interval = 7 }), src, GroupIPv4, EncodeOptions{}), src, GroupIPv4, Accepted},
		{"UnknownPeer_KeepalivedCheckUnicastSrc", pol(v3pol, func(p *Policy) { p.Peers = []netip.Addr{peer} }),
			enc(v3, other, src, EncodeOptions{}), other, src, RefusedUnknownPeer},
		{"ListedPeer_KeepalivedCheckUnicastSrc", pol(v3pol, func(p *Policy) { p.Peers = []netip.Addr{peer} }),
			enc(v3, peer, src, EncodeOptions{}), peer, src, Accepted},
		{"AddressFamilyMismatch_RFC5798_5.2.9", v3pol, enc(v3, src, GroupIPv4, EncodeOptions{}), src, GroupIPv6, RefusedOther},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a Advert
			if got := Check(&c.pol, c.b, c.src, c.dst, &a); got != c.want {
				t.Fatalf("Check = %v, want %v", got, c.want)
			}
		})
	}
}

// TestReasonsMapOneToOneToMetrics: every refusal has its own error metric
// label, and Accepted none.
func TestReasonsMapOneToOneToMetrics(t *testing.T) {
	seen := map[string]Reason{}
	if Accepted.Metric() != "" {
		t.Fatalf("Accepted has metric %q", Accepted.Metric())
	}
	for r := Accepted + 1; r < NumReasons; r++ {
		m := r.Metric()
		if m == "" {
			t.Fatalf("reason %d has no metric", r)
		}
		if prev, ok := seen[m]; ok {
			t.Fatalf("reasons %d and %d share metric %q", prev, r, m)
		}
		seen[m] = r
	}
	if len(seen) != int(NumReasons)-1 {
		t.Fatalf("%d metrics for %d refusals", len(seen), NumReasons-1)
	}
}
