package vip

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseVIP(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	good := []struct {
		name string
		spec string
		want VIP
	}{
		{"ParseVIP_DefaultPrefixIPv4_32", "198.18.0.100", VIP{Prefix: p("198.18.0.100/32")}},
		{"ParseVIP_DefaultPrefixIPv6_128", "2001:db8::100", VIP{Prefix: p("2001:db8::100/128")}},
		{"ParseVIP_HostBitsKept", "198.18.0.100/24", VIP{Prefix: p("198.18.0.100/24")}},
		{"ParseVIP_FullKeepalivedLine", "198.18.0.100/24 dev eth0 label eth0:0 scope global brd 198.18.0.255",
			VIP{Prefix: p("198.18.0.100/24"), Dev: "eth0", Label: "eth0:0", Scope: ScopeGlobal, Broadcast: a("198.18.0.255")}},
		{"ParseVIP_BroadcastKeyword", "198.18.0.100/24 broadcast 198.18.0.255", VIP{Prefix: p("198.18.0.100/24"), Broadcast: a("198.18.0.255")}},
		{"ParseVIP_BrdPlusIsDefault", "198.18.0.100/24 brd +", VIP{Prefix: p("198.18.0.100/24")}},
		{"ParseVIP_BrdMinusIsNone", "198.18.0.100/24 brd -", VIP{Prefix: p("198.18.0.100/24"), NoBroadcast: true}},
		{"ParseVIP_ScopeNames", "198.18.0.1 scope host", VIP{Prefix: p("198.18.0.1/32"), Scope: ScopeHost}},
		{"ParseVIP_ScopeLink", "198.18.0.1 scope link", VIP{Prefix: p("198.18.0.1/32"), Scope: ScopeLink}},
		{"ParseVIP_ScopeSite", "2001:db8::1 scope site", VIP{Prefix: p("2001:db8::1/128"), Scope: ScopeSite}},
		{"ParseVIP_ScopeNowhere", "198.18.0.1 scope nowhere", VIP{Prefix: p("198.18.0.1/32"), Scope: ScopeNowhere}},
		{"ParseVIP_ScopeNumeric", "198.18.0.1 scope 200", VIP{Prefix: p("198.18.0.1/32"), Scope: ScopeSite}},
		{"ParseVIP_NoTrackCarried", "198.18.0.1/24 dev eth1 no_track", VIP{Prefix: p("198.18.0.1/24"), Dev: "eth1", NoTrack: true}},
		{"ParseVIP_FlagWords", "2001:db8::1/64 use_vmac home -nodad mngtmpaddr noprefixroute autojoin",
			VIP{Prefix: p("2001:db8::1/64"), UseVMAC: true, Home: true, DAD: true, MngTmpAddr: true, NoPrefixRoute: true, AutoJoin: true}},
		{"ParseVIP_PreferredLftForever", "2001:db8::1 preferred_lft forever", VIP{Prefix: p("2001:db8::1/128"), PreferredLft: PreferredForever, PreferredLftSet: true}},
		{"ParseVIP_PreferredLftSeconds", "2001:db8::1 preferred_lft 60", VIP{Prefix: p("2001:db8::1/128"), PreferredLft: 60, PreferredLftSet: true}},
		{"ParseVIP_MappedIPv4Unmapped", "::ffff:198.18.0.1", VIP{Prefix: p("198.18.0.1/32")}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVIP(strings.Fields(tc.spec))
			if err != nil {
				t.Fatalf("ParseVIP(%q): %v", tc.spec, err)
			}
			if got != tc.want {
				t.Fatalf("ParseVIP(%q) =\n %+v\nwant\n %+v", tc.spec, got, tc.want)
			}
			// String renders keepalived syntax that parses back to the same VIP.
			again, err := ParseVIP(strings.Fields(got.String()))
			if err != nil || again != got {
				t.Fatalf("round trip of %q via %q: %+v, %v", tc.spec, got.String(), again, err)
			}
		})
	}
	bad := []struct {
		name    string
		fields  []string
		errWord string
	}{
		{"ParseVIP_Empty", nil, "empty"},
		{"ParseVIP_NotAnAddress", []string{"eth0"}, "not an IP address"},
		{"ParseVIP_PrefixTooLongIPv4", []string{"198.18.0.1/33"}, "prefix length"},
		{"ParseVIP_PrefixTooLongIPv6", []string{"2001:db8::1/129"}, "prefix length"},
		{"ParseVIP_PrefixNotNumber", []string{"198.18.0.1/255.255.255.0"}, "prefix length"},
		{"ParseVIP_PrefixNegative", []string{"198.18.0.1/-1"}, "prefix length"},
		{"ParseVIP_Multicast", []string{"224.0.0.18"}, "unicast"},
		{"ParseVIP_Unspecified", []string{"::"}, "unicast"},
		{"ParseVIP_Zone", []string{"fe80::1%eth0"}, "zone"},
		{"ParseVIP_DevMissingValue", []string{"198.18.0.1", "dev"}, "needs a value"},
		{"ParseVIP_DevTooLong", []string{"198.18.0.1", "dev", "abcdefghijklmnop"}, "not a valid interface name"},
		{"ParseVIP_LabelTooLong", []string{"198.18.0.1", "label", "eth0:abcdefghijkl"}, "longer than"},
		{"ParseVIP_BadScope", []string{"198.18.0.1", "scope", "planet"}, "scope"},
		{"ParseVIP_ScopeOutOfRange", []string{"198.18.0.1", "scope", "256"}, "scope"},
		{"ParseVIP_BrdNotAddress", []string{"198.18.0.1/24", "brd", "x"}, "not an IPv4 address"},
		{"ParseVIP_BrdIPv6Value", []string{"198.18.0.1/24", "brd", "2001:db8::ff"}, "not an IPv4 address"},
		{"ParseVIP_BrdOnIPv6", []string{"2001:db8::1/64", "brd", "+"}, "IPv4 only"},
		{"ParseVIP_PreferredLftOnIPv4", []string{"198.18.0.1", "preferred_lft", "0"}, "IPv6 only"},
		{"ParseVIP_PreferredLftBad", []string{"2001:db8::1", "preferred_lft", "soon"}, "preferred_lft"},
		{"ParseVIP_Peer", []string{"198.18.0.1", "peer", "198.18.0.2"}, "not supported"},
		{"ParseVIP_UnknownOption", []string{"198.18.0.1", "colour", "blue"}, "unknown option"},
		{"ParseVIP_Duplicate", []string{"198.18.0.1", "dev", "a", "dev", "b"}, "twice"},
		{"ParseVIP_DuplicateBrdSpellings", []string{"198.18.0.1/24", "brd", "+", "broadcast", "+"}, "twice"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseVIP(tc.fields)
			if err == nil {
				t.Fatalf("ParseVIP(%q) succeeded, want an error containing %q", tc.fields, tc.errWord)
			}
			if !strings.Contains(err.Error(), tc.errWord) {
				t.Fatalf("ParseVIP(%q) error %q does not contain %q", tc.fields, err, tc.errWord)
			}
		})
	}
}

func FuzzParseVIP(f *testing.F) {
	f.Add("198.18.0.100/24 dev eth0 label eth0:0 scope global brd 198.18.0.255")
	f.Add("2001:db8::1 preferred_lft forever -nodad")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVIP(strings.Fields(s))
		if err != nil {
			return
		}
		if _, err := ParseVIP(strings.Fields(v.String())); err != nil {
			t.Fatalf("String() of a parsed VIP does not parse: %q: %v", v.String(), err)
		}
	})
}

func TestVIPPreferredLftDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec string
		want uint32
	}{
		{"PreferredLft_Slash128DeprecatedByDefault", "2001:db8::1/128", 0},
		{"PreferredLft_Slash64ForeverByDefault", "2001:db8::1/64", PreferredForever},
		{"PreferredLft_ExplicitForeverOn128", "2001:db8::1/128 preferred_lft forever", PreferredForever},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVIP(strings.Fields(tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			if got := v.preferredLft(); got != tc.want {
				t.Fatalf("preferredLft(%q) = %d, want %d", tc.spec, got, tc.want)
			}
		})
	}
}
