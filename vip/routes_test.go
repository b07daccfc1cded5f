package vip

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	base := func(dst string) Route {
		return Route{Dst: p(dst), Type: RouteUnicast, Table: TableMain, Protocol: ProtoKeepalived}
	}
	with := func(r Route, f func(*Route)) Route { f(&r); return r }
	good := []struct {
		name  string
		spec  string
		want  Route
		warns int
	}{
		{"ParseRoute_Keepalived_DefaultsMainUniverseUnicastKeepalivedProto", "198.18.5.0/24 dev eth0",
			with(base("198.18.5.0/24"), func(r *Route) { r.Dev = "eth0" }), 0},
		{"ParseRoute_Keepalived_SrcToVia", "src 198.18.0.1 to 198.18.9.0/24 via 198.18.0.254 dev eth1",
			with(base("198.18.9.0/24"), func(r *Route) { r.PrefSrc = a("198.18.0.1"); r.Via = a("198.18.0.254"); r.Dev = "eth1" }), 0},
		{"ParseRoute_Keepalived_GwDeprecatedWarns", "0.0.0.0/0 gw 198.18.0.1 dev eth0 table 100",
			with(base("0.0.0.0/0"), func(r *Route) { r.Via = a("198.18.0.1"); r.Dev = "eth0"; r.Table = 100 }), 1},
		// keepalived 2.2.7 parse_route: default/any/all have no family of
		// their own; the addresses after them (via, src, nexthops) give it,
		// IPv4 when none does.
		{"ParseRoute_Keepalived_DefaultFamilyFromVia_IPv6_Octavia", "default via 2001:db8::ff dev eth1 onlink table 1",
			with(base("::/0"), func(r *Route) { r.Via = a("2001:db8::ff"); r.Dev = "eth1"; r.OnLink = true; r.Table = 1 }), 0},
		{"ParseRoute_Keepalived_DefaultFamilyFromVia_IPv4_Octavia", "default via 198.18.0.254 dev eth1 onlink table 1",
			with(base("0.0.0.0/0"), func(r *Route) { r.Via = a("198.18.0.254"); r.Dev = "eth1"; r.OnLink = true; r.Table = 1 }), 0},
		{"ParseRoute_Keepalived_DefaultFamilyFromViaInet6Keyword", "default via inet6 2001:db8::3 dev eth0 table 5",
			with(base("::/0"), func(r *Route) { r.Via = a("2001:db8::3"); r.Dev = "eth0"; r.Table = 5 }), 0},
		{"ParseRoute_Keepalived_DefaultFamilyFromSrc_IPv6", "default src 2001:db8::1 dev eth0 table 3",
			with(base("::/0"), func(r *Route) { r.PrefSrc = a("2001:db8::1"); r.Dev = "eth0"; r.Table = 3 }), 0},
		{"ParseRoute_Keepalived_AnyFamilyFromSrc_IPv4", "any src 198.18.0.1 dev eth0 table 4",
			with(base("0.0.0.0/0"), func(r *Route) { r.PrefSrc = a("198.18.0.1"); r.Dev = "eth0"; r.Table = 4 }), 0},
		{"ParseRoute_Keepalived_AllFamilyFromNexthops_IPv6", "all dev eth0 nexthop via 2001:db8::2 dev eth0 nexthop via 2001:db8::3 dev eth1",
			with(base("::/0"), func(r *Route) {
				r.Dev = "eth0"
				r.Nexthops = []Nexthop{{Via: a("2001:db8::2"), Dev: "eth0"}, {Via: a("2001:db8::3"), Dev: "eth1"}}
			}), 0},
		{"ParseRoute_Keepalived_DefaultFamilyFromNexthop_IPv4", "default dev eth0 nexthop via 198.18.0.2",
			with(base("0.0.0.0/0"), func(r *Route) { r.Dev = "eth0"; r.Nexthops = []Nexthop{{Via: a("198.18.0.2")}} }), 0},
		{"ParseRoute_Keepalived_DefaultWithoutAddressesIsIPv4", "default dev eth0 table 6",
			with(base("0.0.0.0/0"), func(r *Route) { r.Dev = "eth0"; r.Table = 6 }), 0},
		{"ParseRoute_Keepalived_DefaultViaIPv4WithoutDevNotTracked", "default via 198.18.0.1",
			with(base("0.0.0.0/0"), func(r *Route) { r.Via = a("198.18.0.1"); r.NoTrack = true }), 1},
		{"ParseRoute_Keepalived_Default6DeprecatedIsIPv6", "default6 dev eth0 table 7",
			with(base("::/0"), func(r *Route) { r.Dev = "eth0"; r.Table = 7 }), 1},
		// keepalived 2.2.7 alloc_route: a route with no top-level dev/oif is
		// not tracked, whatever its type or nexthops.
		{"ParseRoute_Keepalived_NoDevNotTracked", "198.18.112.0/24 via 198.18.100.254",
			with(base("198.18.112.0/24"), func(r *Route) { r.Via = a("198.18.100.254"); r.NoTrack = true }), 1},
		{"ParseRoute_Keepalived_Blackhole", "blackhole 198.18.14.0/24",
			with(base("198.18.14.0/24"), func(r *Route) { r.Type = RouteBlackhole; r.NoTrack = true }), 1},
		{"ParseRoute_Keepalived_Unreachable", "unreachable 2001:db8:5::/48",
			with(base("2001:db8:5::/48"), func(r *Route) { r.Type = RouteUnreachable; r.NoTrack = true }), 1},
		{"ParseRoute_Keepalived_Prohibit", "prohibit 198.18.14.0/24",
			with(base("198.18.14.0/24"), func(r *Route) { r.Type = RouteProhibit; r.NoTrack = true }), 1},
		{"ParseRoute_Keepalived_Throw", "throw 198.18.14.0/24 table 7",
			with(base("198.18.14.0/24"), func(r *Route) { r.Type = RouteThrow; r.Table = 7; r.NoTrack = true }), 1},
		{"ParseRoute_Keepalived_NoTrack", "198.18.11.0/24 dev eth2 no_track",
			with(base("198.18.11.0/24"), func(r *Route) { r.Dev = "eth2"; r.NoTrack = true }), 0},
		{"ParseRoute_Keepalived_NoTrackKeepsOwnProtocol", "198.18.11.0/24 dev eth2 protocol bird no_track",
			with(base("198.18.11.0/24"), func(r *Route) { r.Dev = "eth2"; r.NoTrack = true; r.Protocol = 12 }), 0},
		{"ParseRoute_Keepalived_TrackedProtocolResetWarns", "198.18.11.0/24 dev eth2 protocol static",
			with(base("198.18.11.0/24"), func(r *Route) { r.Dev = "eth2" }), 1},
		{"ParseRoute_Keepalived_MetricPriorityPreference", "198.18.1.0/24 dev eth0 preference 12 scope link tos 0x04",
			with(base("198.18.1.0/24"), func(r *Route) {
				r.Dev = "eth0"
				r.Metric, r.MetricSet = 12, true
				r.Scope = ScopeLink
				r.Tos = 4
			}), 0},
		{"ParseRoute_Keepalived_OnlinkIPv4", "198.18.1.0/24 via 198.18.200.1 dev eth0 onlink",
			with(base("198.18.1.0/24"), func(r *Route) { r.Via = a("198.18.200.1"); r.Dev = "eth0"; r.OnLink = true }), 0},
		{"ParseRoute_Keepalived_MetricsAndLocks", "198.18.2.0/24 dev eth0 mtu lock 1000 hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 window 105 cwnd 106 ssthresh 107 rto_min lock 108 initcwnd 109 initrwnd 110 realms 3/20 features ecn quickack 1 fastopen_no_cookie 1 congctl cubic append",
			with(base("198.18.2.0/24"), func(r *Route) {
				r.Dev = "eth0"
				r.MTU, r.MTULock, r.Hoplimit, r.AdvMSS, r.Rtt, r.RttVar = 1000, true, 100, 101, 102, 103
				r.Reordering, r.Window, r.Cwnd, r.Ssthresh, r.RtoMin, r.RtoMinLock = 104, 105, 106, 107, 108, true
				r.InitCwnd, r.InitRwnd, r.Realms, r.FeatureECN = 109, 110, 3<<16|20, true
				r.QuickACK, r.QuickACKSet, r.FastOpenNoCookie, r.FastOpenNoCookieSet = 1, true, 1, true
				r.Congctl, r.Mode = "cubic", RouteAppend
			}), 0},
		{"ParseRoute_Keepalived_RttUnits", "198.18.2.0/24 dev eth0 rtt 2ms rttvar 1s rto_min 5ms",
			with(base("198.18.2.0/24"), func(r *Route) { r.Dev = "eth0"; r.Rtt = 16; r.RttVar = 4000; r.RtoMin = 5 }), 0},
		{"ParseRoute_Keepalived_AddIsExclusive", "198.18.3.0/24 dev eth0 add",
			with(base("198.18.3.0/24"), func(r *Route) { r.Dev = "eth0"; r.Mode = RouteAddExcl }), 0},
		{"ParseRoute_Keepalived_NexthopDevsDoNotMakeItTracked", "198.18.100.0/24 table 6909 nexthop via 198.18.101.1 dev wlan0 onlink weight 1 nexthop via 198.18.101.2 dev wlan0 onlink weight 2",
			with(base("198.18.100.0/24"), func(r *Route) {
				r.Table = 6909
				r.NoTrack = true
				r.Nexthops = []Nexthop{{Via: a("198.18.101.1"), Dev: "wlan0", OnLink: true, Weight: 1}, {Via: a("198.18.101.2"), Dev: "wlan0", OnLink: true, Weight: 2}}
			}), 1},
		{"ParseRoute_Keepalived_OrBecomesNexthopsWarns", "198.18.13.0/24 via 198.18.200.254 or 198.18.100.254 dev eth1",
			with(base("198.18.13.0/24"), func(r *Route) {
				r.Dev = "eth1"
				r.Nexthops = []Nexthop{{Via: a("198.18.200.254")}, {Via: a("198.18.100.254")}}
			}), 1},
		{"ParseRoute_Keepalived_TableNames", "198.18.3.0/24 dev eth0 table local",
			with(base("198.18.3.0/24"), func(r *Route) { r.Dev = "eth0"; r.Table = TableLocal }), 0},
		{"ParseRoute_Keepalived_TrackGroup", "198.18.3.0/24 dev eth0 track_group G1",
			with(base("198.18.3.0/24"), func(r *Route) { r.Dev = "eth0"; r.TrackGroup = "G1" }), 0},
		// keepalived: "Static route cannot have track group if no oif
		// specified"; the group is dropped and the route kept (untracked).
		{"ParseRoute_Keepalived_TrackGroupWithoutDevDropped", "198.18.0.0/24 via 198.18.0.1 track_group G",
			with(base("198.18.0.0/24"), func(r *Route) { r.Via = a("198.18.0.1"); r.NoTrack = true }), 2},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, warns, err := ParseRoute(strings.Fields(tc.spec))
			if err != nil {
				t.Fatalf("ParseRoute(%q): %v", tc.spec, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseRoute(%q) =\n %+v\nwant\n %+v", tc.spec, got, tc.want)
			}
			if len(warns) != tc.warns {
				t.Fatalf("ParseRoute(%q) warnings %q, want %d", tc.spec, warns, tc.warns)
			}
			again, _, err := ParseRoute(strings.Fields(got.String()))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip via %q: %+v, %v", got.String(), again, err)
			}
		})
	}
	bad := []struct {
		name, spec, errWord string
	}{
		{"ParseRoute_Keepalived_NeedsDestination", "via 198.18.0.1 dev eth0", "destination"},
		{"ParseRoute_Keepalived_NoMixedFamilies", "2001:db8::/64 via 198.18.0.1", "mixes IPv4 and IPv6"},
		{"ParseRoute_Keepalived_Inet6ThenIPv4CannotMix", "inet6 inet6 198.18.0.0/24 dev eth0", "mixes IPv4 and IPv6"},
		// keepalived 2.2.7 steps over the word after a top-level inet/inet6.
		{"ParseRoute_Keepalived_Inet6StepsOverNextWord", "inet6 default via 2001:db8::1 dev eth0", `"default" after inet6 is not read`},
		// default after an address or inet/inet6: "Cannot mix IPv4 and
		// IPv6 addresses for route (default)", even for one family.
		{"ParseRoute_Keepalived_DefaultAfterSrcCannotMix_IPv6", "src 2001:db8::1 default dev eth0", "Cannot mix IPv4 and IPv6 addresses for route (default)"},
		{"ParseRoute_Keepalived_DefaultAfterSrcCannotMix_IPv4", "src 198.18.0.1 default dev eth0", "Cannot mix IPv4 and IPv6 addresses for route (default)"},
		{"ParseRoute_Keepalived_DefaultThenMixedAddresses", "default via 2001:db8::1 src 198.18.0.1 dev eth0", "src mixes IPv4 and IPv6"},
		{"ParseRoute_Keepalived_NexthopViaInet6WithIPv4", "default dev eth0 nexthop via inet6 198.18.0.2", "mixes IPv4 and IPv6"},
		{"ParseRoute_Keepalived_RealmsIPv4Only", "2001:db8::/64 realms 3", "mixes IPv4 and IPv6"},
		{"ParseRoute_Keepalived_UnknownKeyword", "198.18.0.0/24 frobnicate", "unknown route keyword"},
		{"ParseRoute_Keepalived_WeightZero", "198.18.0.0/24 nexthop via 198.18.0.1 weight 0", "weight"},
		{"ParseRoute_Keepalived_TrailingAfterNexthops", "198.18.0.0/24 nexthop via 198.18.0.1 no_track", "trailing"},
		{"ParseRoute_NotServed_Encap", "198.18.0.0/24 encap mpls 200 dev eth0", "not supported"},
		{"ParseRoute_NotServed_From", "2001:db8::/64 from 2001:db8:1::/64 dev eth0", "not supported"},
		{"ParseRoute_NotServed_Vrf", "198.18.0.0/24 dev eth0 vrf blue", "not supported"},
		{"ParseRoute_NotServed_LockOnAdvmss", "198.18.0.0/24 dev eth0 advmss lock 100", "lock"},
		{"ParseRoute_NotServed_RtTablesName", "198.18.0.0/24 dev eth0 table octavia", "rt_tables"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseRoute(strings.Fields(tc.spec))
			if err == nil || !strings.Contains(err.Error(), tc.errWord) {
				t.Fatalf("ParseRoute(%q) error %v, want one containing %q", tc.spec, err, tc.errWord)
			}
		})
	}
}

// keepalived 2.2.7 alloc_route: "Warning - cannot track route DEST with no
// interface specified, not tracking", DEST as written, for a tracked route
// without a top-level dev/oif; a no_track route or one with dev is not warned
// about.
func TestParseRoute_NoInterfaceNotTracking_Keepalived(t *testing.T) {
	cases := []struct {
		name, spec  string
		wantNoTrack bool
		wantWarn    string // "" for no warning
	}{
		{"ViaOnly", "198.18.112.0/24 via 198.18.100.254", true, "cannot track route 198.18.112.0/24 with no interface specified, not tracking"},
		{"DefaultAsWritten", "default via 2001:db8::1", true, "cannot track route default with no interface specified, not tracking"},
		{"BlackholeToo", "blackhole 198.18.113.1/32", true, "cannot track route 198.18.113.1/32 with no interface specified, not tracking"},
		{"OrRoute", "198.18.113.0/24 via 198.18.100.252 or 198.18.100.253", true, "cannot track route 198.18.113.0/24 with no interface specified, not tracking"},
		{"WithDevTracked", "198.18.110.0/24 via 198.18.200.254 dev eth1", false, ""},
		{"OifTracked", "198.18.110.0/24 oif eth1", false, ""},
		{"NoTrackGivenNotWarned", "198.18.115.0/24 via 198.18.100.254 no_track", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, warns, err := ParseRoute(strings.Fields(tc.spec))
			if err != nil {
				t.Fatalf("ParseRoute(%q): %v", tc.spec, err)
			}
			if r.NoTrack != tc.wantNoTrack {
				t.Errorf("NoTrack = %v, want %v", r.NoTrack, tc.wantNoTrack)
			}
			var found []string
			for _, w := range warns {
				if strings.Contains(w, "cannot track route") {
					found = append(found, w)
				}
			}
			switch {
			case tc.wantWarn == "" && len(found) != 0:
				t.Errorf("warnings %q, want none about tracking", found)
			case tc.wantWarn != "" && (len(found) != 1 || !strings.HasPrefix(found[0], tc.wantWarn)):
				t.Errorf("warnings %q, want one starting %q", warns, tc.wantWarn)
			}
			if r.Protocol != ProtoKeepalived {
				t.Errorf("Protocol = %d, want keepalived(18) (set before tracking is given up)", r.Protocol)
			}
		})
	}
}

// A skipped route's error states the route once (the caller adds the
// position and the owner).
func TestParseRouteError_StatesRouteOnce(t *testing.T) {
	for _, spec := range []string{"2001:db8::/64 via 198.18.0.1", "src 198.18.0.1 default dev eth0", "198.18.0.0/24 frobnicate"} {
		_, _, err := ParseRoute(strings.Fields(spec))
		if err == nil {
			t.Fatalf("ParseRoute(%q) accepted", spec)
		}
		if n := strings.Count(err.Error(), spec); n != 1 {
			t.Errorf("ParseRoute(%q) error %q names the route %d times, want 1", spec, err, n)
		}
	}
	_, _, err := ParseRule(strings.Fields("from 198.18.0.0/16 to 2001:db8::/32 table 1"))
	if err == nil || strings.Count(err.Error(), "from 198.18.0.0/16 to 2001:db8::/32 table 1") != 1 {
		t.Errorf("ParseRule error %v, want the rule named once", err)
	}
}

func TestRouteWithDefaultDev_Keepalived(t *testing.T) {
	r, _, _ := ParseRoute([]string{"198.18.5.0/24"})
	if got := r.WithDefaultDev("eth9").Dev; got != "eth9" {
		t.Errorf("RouteDefaultDev_DeviceRoute: Dev %q, want eth9", got)
	}
	r, _, _ = ParseRoute([]string{"198.18.5.0/24", "via", "198.18.0.1"})
	if got := r.WithDefaultDev("eth9").Dev; got != "" {
		t.Errorf("RouteDefaultDev_GatewayRouteKernelPicksDev: Dev %q, want none", got)
	}
	r, _, _ = ParseRoute([]string{"blackhole", "198.18.5.0/24"})
	if got := r.WithDefaultDev("eth9").Dev; got != "" {
		t.Errorf("RouteDefaultDev_BlackholeHasNoDev: Dev %q, want none", got)
	}
}

func TestParseRule(t *testing.T) {
	p := netip.MustParsePrefix
	base := Rule{Family: 4, Action: RuleToTable, SuppressPrefixLen: -1, Protocol: ProtoKeepalived}
	with := func(f func(*Rule)) Rule { r := base; f(&r); return r }
	good := []struct {
		name  string
		spec  string
		want  Rule
		warns int
	}{
		{"ParseRule_Keepalived_FromTable", "from 198.18.2.0/24 table 1",
			with(func(r *Rule) { r.From = p("198.18.2.0/24"); r.Table = 1 }), 0},
		{"ParseRule_Keepalived_ToLookupNoTrack", "to 198.18.2.0/24 lookup 1 no_track",
			with(func(r *Rule) { r.To = p("198.18.2.0/24"); r.Table = 1; r.NoTrack = true; r.Protocol = 0 }), 0},
		{"ParseRule_Keepalived_FullIPv4", "from 198.18.28.0/24 to 198.18.29.0/26 table 200 iif p33p1 oif wlan0 tos 22 fwmark 24/12 preference 39 realms 30/20",
			with(func(r *Rule) {
				r.From, r.To, r.Table, r.Iif, r.Oif, r.Tos = p("198.18.28.0/24"), p("198.18.29.0/26"), 200, "p33p1", "wlan0", 22
				r.FwMark, r.FwMarkSet, r.FwMask, r.FwMaskSet = 24, true, 12, true
				r.Priority, r.PrioritySet, r.Realms = 39, true, 30<<16|20
			}), 0},
		{"ParseRule_Keepalived_UIDRangeIPv6", "to 2001:db8:1::/112 from 2001:db8:2::/96 table 6908 uidrange 10000-19999",
			with(func(r *Rule) {
				r.Family, r.To, r.From, r.Table = 6, p("2001:db8:1::/112"), p("2001:db8:2::/96"), 6908
				r.UIDRange = &UIDRange{10000, 19999}
			}), 0},
		{"ParseRule_Keepalived_IPProtoPorts", "to 2001:db8:1::/112 table 5 ipproto UDP sport 10-20 dport 20",
			with(func(r *Rule) {
				r.Family, r.To, r.Table, r.IPProto = 6, p("2001:db8:1::/112"), 5, 17
				r.SPort, r.DPort = &PortRange{10, 20}, &PortRange{20, 20}
			}), 0},
		{"ParseRule_Keepalived_GotoNeedsLowerPreference", "from all preference 100 goto 200",
			with(func(r *Rule) {
				r.From = p("0.0.0.0/0")
				r.Action = RuleGoto
				r.Goto = 200
				r.Priority, r.PrioritySet = 100, true
			}), 0},
		{"ParseRule_Keepalived_TypeBlackhole", "from 198.18.0.0/16 type blackhole",
			with(func(r *Rule) { r.From = p("198.18.0.0/16"); r.Action = RuleBlackhole }), 0},
		{"ParseRule_Keepalived_ProhibitNot", "not from 198.18.0.0/16 prohibit",
			with(func(r *Rule) { r.Invert = true; r.From = p("198.18.0.0/16"); r.Action = RuleProhibit }), 0},
		{"ParseRule_Keepalived_Default6FromIsIPv6", "from default6 table 9 suppress_prefixlength 0",
			with(func(r *Rule) { r.Family = 6; r.From = p("::/0"); r.Table = 9; r.SuppressPrefixLen = 0 }), 1},
		// keepalived 2.2.7 alloc_rule: from/to all take the family of the
		// addresses after them, IPv4 when none.
		{"ParseRule_Keepalived_FromAllFamilyFromTo_IPv6", "from all to 2001:db8::/64 table 1 priority 1",
			with(func(r *Rule) {
				r.Family, r.From, r.To, r.Table = 6, p("::/0"), p("2001:db8::/64"), 1
				r.Priority, r.PrioritySet = 1, true
			}), 0},
		{"ParseRule_Keepalived_FromAllFamilyFromTo_IPv4", "from all to 198.18.0.0/16 table 1 priority 2",
			with(func(r *Rule) {
				r.From, r.To, r.Table = p("0.0.0.0/0"), p("198.18.0.0/16"), 1
				r.Priority, r.PrioritySet = 2, true
			}), 0},
		// Rules have no "cannot track ... no interface": a rule without iif
		// is tracked.
		{"ParseRule_Keepalived_NoIifStillTracked", "from 198.18.0.0/16 table 1 priority 7",
			with(func(r *Rule) { r.From, r.Table, r.Priority, r.PrioritySet = p("198.18.0.0/16"), 1, 7, true }), 0},
		// "Static rule cannot have track_group if dev/iif not specified":
		// the group is dropped, the rule kept.
		{"ParseRule_Keepalived_TrackGroupWithoutIifDropped", "from 198.18.0.0/16 table 1 track_group G",
			with(func(r *Rule) { r.From = p("198.18.0.0/16"); r.Table = 1 }), 1},
		{"ParseRule_Keepalived_TrackedProtocolResetWarns", "from 198.18.0.0/16 table 3 protocol 12",
			with(func(r *Rule) { r.From = p("198.18.0.0/16"); r.Table = 3 }), 1},
		{"ParseRule_Keepalived_Nop", "fwmark 0x10 nop",
			with(func(r *Rule) { r.Action = RuleNop; r.FwMark, r.FwMarkSet = 16, true }), 0},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, warns, err := ParseRule(strings.Fields(tc.spec))
			if err != nil {
				t.Fatalf("ParseRule(%q): %v", tc.spec, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseRule(%q) =\n %+v\nwant\n %+v", tc.spec, got, tc.want)
			}
			if len(warns) != tc.warns {
				t.Fatalf("ParseRule(%q) warnings %q, want %d", tc.spec, warns, tc.warns)
			}
			again, _, err := ParseRule(strings.Fields(got.String()))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip via %q: %+v, %v", got.String(), again, err)
			}
		})
	}
	bad := []struct{ name, spec, errWord string }{
		{"ParseRule_Keepalived_NoAction", "from 198.18.0.0/16", "no action"},
		{"ParseRule_Keepalived_TwoActions", "from 198.18.0.0/16 table 1 blackhole", "more than one"},
		{"ParseRule_Keepalived_TableZeroInvalid", "from 198.18.0.0/16 table 0", "table 0"},
		{"ParseRule_Keepalived_GotoWithoutPreference", "from 198.18.0.0/16 goto 9", "without a preference"},
		{"ParseRule_Keepalived_GotoBackwards", "preference 10 goto 9", ">= goto target"},
		{"ParseRule_Keepalived_RealmsNeedTable", "realms 3 blackhole", "need a table"},
		{"ParseRule_Keepalived_MixedFamilies", "from 198.18.0.0/16 to 2001:db8::/32 table 1", "mixes"},
		{"ParseRule_Keepalived_ToDefaultAfterFromMixed", "from 198.18.0.0/16 to default table 1", "rule specification has mixed IPv4 and IPv6"},
		{"ParseRule_Keepalived_Inet6StepsOverNextWord", "inet6 from default table 9", `"from" after inet6 is not read`},
		{"ParseRule_NotServed_L3mdev", "l3mdev", "not supported"},
		{"ParseRule_Keepalived_UnknownOption", "from 198.18.0.0/16 table 1 frob", "unknown rule option"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseRule(strings.Fields(tc.spec))
			if err == nil || !strings.Contains(err.Error(), tc.errWord) {
				t.Fatalf("ParseRule(%q) error %v, want one containing %q", tc.spec, err, tc.errWord)
			}
		})
	}
}

func TestRulePriorities_KeepalivedCountsDownPerFamily(t *testing.T) {
	r4a, _, _ := ParseRule([]string{"from", "198.18.0.0/24", "table", "1"})
	r6, _, _ := ParseRule([]string{"from", "2001:db8::/64", "table", "1"})
	r4b, _, _ := ParseRule([]string{"from", "198.18.1.0/24", "table", "1"})
	fixed, _, _ := ParseRule([]string{"from", "198.18.2.0/24", "table", "1", "priority", "7"})
	var n RulePriorities
	var warns []string
	for _, r := range []*Rule{&r4a, &r6, &fixed, &r4b} {
		if w := n.Assign(r); w != "" {
			warns = append(warns, w)
		}
	}
	got := []uint32{r4a.Priority, r6.Priority, fixed.Priority, r4b.Priority}
	want := []uint32{16384, 16384, 7, 16383}
	if !reflect.DeepEqual(got, want) || len(warns) != 3 {
		t.Fatalf("priorities %v (warnings %d), want %v (3 warnings)", got, len(warns), want)
	}
}
