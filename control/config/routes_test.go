package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The grammar's own table is vip's (TestParseRoute, TestParseRule); these
// check what the configuration adds: positions, skipping and numbering
// across blocks.
func TestRoutesAndRules_Keepalived(t *testing.T) {
	inst := func(name, vrid, body string) string {
		return "vrrp_instance " + name + " {\n interface eth0\n virtual_router_id " + vrid + "\n virtual_ipaddress {\n  198.18.0.100/24\n }\n" + body + "}\n"
	}
	tests := []struct {
		name, src string
		warn      string // a warning that must be given ("" none checked)
		check     func(*Config) string
	}{
		{"RulePreferencesCountDownPerFamilyAcrossBlocks_Keepalived",
			"static_rules {\n from 198.18.5.0/24 table 200\n from 2001:db8:5::/64 table 200\n}\n" +
				inst("VI_1", "1", " virtual_rules {\n  from 198.18.0.100 table 1\n  from 198.18.0.101 table 1 preference 7\n  from 2001:db8::100 table 1\n }\n"),
			"k.conf:2: static_rules: rule has no preference; set to 16384",
			func(c *Config) string {
				got := []uint32{c.StaticRules[0].Priority, c.StaticRules[1].Priority,
					c.Instances[0].VirtualRules[0].Priority, c.Instances[0].VirtualRules[1].Priority, c.Instances[0].VirtualRules[2].Priority}
				want := []uint32{16384, 16384, 16383, 7, 16383}
				if !slices.Equal(got, want) {
					return fmt.Sprintf("priorities %v, want %v", got, want)
				}
				return ""
			}},
		{"UnreadableRouteSkippedOthersKept_Keepalived",
			inst("VI_1", "1", " virtual_routes {\n  198.18.1.0/24 via 198.18.0.1 dev eth0\n  198.18.2.0/24 bogus 1\n  blackhole 198.18.9.0/24\n }\n"),
			"k.conf:9: vrrp_instance VI_1 virtual_routes: route 198.18.2.0/24 bogus 1: unknown route keyword \"bogus\"; route skipped, as keepalived skips it",
			func(c *Config) string {
				if r := c.Instances[0].VirtualRoutes; len(r) != 2 || r[0].Dst.String() != "198.18.1.0/24" || r[1].Dst.String() != "198.18.9.0/24" {
					return "routes " + strings.Join(routeStrings(r), "; ")
				}
				return ""
			}},
		{"OptionTheNetlinkLibraryCannotSendSkipsTheLine",
			inst("VI_1", "1", " virtual_routes {\n  198.18.1.0/24 via 198.18.0.1 vrf blue\n }\n"),
			"k.conf:8: vrrp_instance VI_1 virtual_routes: route 198.18.1.0/24 via 198.18.0.1 vrf blue: \"vrf\" is not supported by xvrrp",
			func(c *Config) string {
				if n := len(c.Instances[0].VirtualRoutes); n != 0 {
					return "the vrf route was kept"
				}
				return ""
			}},
		{"StaticBlocksRead_Keepalived",
			"static_ipaddress {\n 198.18.5.1/24 dev eth0 scope link\n}\nstatic_routes {\n 198.18.6.0/24 via 198.18.5.2 dev eth0\n}\nstatic_rules {\n from 198.18.5.0/24 table 200 priority 100\n}\n" +
				inst("VI_1", "1", " virtual_routes {\n  2001:db8:1::/48 via 2001:db8::1 onlink\n  198.18.2.0/24 nexthop via 198.18.0.1 dev eth0 weight 2 nexthop via 198.18.0.2 dev eth0\n }\n"),
			"", func(c *Config) string {
				if len(c.StaticAddresses) != 1 || len(c.StaticRoutes) != 1 || len(c.StaticRules) != 1 || c.StaticRules[0].Priority != 100 {
					return fmt.Sprintf("static blocks %+v %v %v", c.StaticAddresses, routeStrings(c.StaticRoutes), c.StaticRules)
				}
				r := c.Instances[0].VirtualRoutes
				if len(r) != 2 || !r[0].Is6() || !r[0].OnLink || len(r[1].Nexthops) != 2 || r[1].Nexthops[0].Weight != 2 {
					return "virtual routes " + strings.Join(routeStrings(r), "; ")
				}
				return ""
			}},
		{"StaticTrackGroupWarnedNotServed",
			"static_routes {\n 198.18.6.0/24 via 198.18.5.2 dev eth0 track_group G\n}\n" + inst("VI_1", "1", ""),
			"k.conf:2: static_routes: track_group G is not served yet",
			func(c *Config) string {
				if len(c.StaticRoutes) != 1 {
					return "the route was not kept"
				}
				return ""
			}},
		{"NonKeepalivedProtocolOnTrackedRouteReset_Keepalived",
			"static_routes {\n 198.18.6.0/24 via 198.18.5.2 dev eth0 protocol static\n}\n" + inst("VI_1", "1", ""),
			"k.conf:2: static_routes: protocol 4 reset to keepalived(18)",
			func(c *Config) string {
				if r := c.StaticRoutes; len(r) != 1 || r[0].Protocol != 18 {
					return "static route " + strings.Join(routeStrings(r), "; ")
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w, err := Parse("k.conf", []byte(tt.src), Options{ConfigID: "x"})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if msg := tt.check(c); msg != "" {
				t.Error(msg)
			}
			if tt.warn == "" {
				return
			}
			var got []string
			for _, x := range w {
				got = append(got, x.String())
				if strings.HasPrefix(x.String(), tt.warn) {
					return
				}
			}
			t.Errorf("no warning %q in %q", tt.warn, got)
		})
	}
}

func routeStrings(rs []Route) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}
