package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// The shapes OpenStack generates: neutron's L3 HA router (a default route
// through the external gateway, only on the master) and Octavia's amphora
// (a route in table 1 and a rule sending the VIP's traffic to it), IPv4 and
// IPv6; plus static_* objects that every host holds whatever its state.
const routesStatic = `static_ipaddress {
    198.18.7.1/32 dev eth0
}
static_routes {
    198.18.8.0/24 via 198.18.0.1 dev eth0
}
static_rules {
    from 198.18.7.1 table 7 priority 200
}
`

func routesConf(prio int) string {
	v4 := inst{name: "VI_4", vrid: 61, prio: prio, vips: []string{"198.18.0.100/24"}, extra: `    virtual_routes {
        0.0.0.0/0 via 198.18.0.1 dev eth0
        198.18.9.0/24 via 198.18.0.1 dev eth0 table 1
    }
    virtual_rules {
        from 198.18.0.100 table 1 priority 100
    }
`}
	v6 := inst{name: "VI_6", vrid: 62, prio: prio, vips: []string{"2001:db8::100/64"}, extra: `    virtual_routes {
        ::/0 via 2001:db8::1 dev eth0
        2001:db8:9::/64 via 2001:db8::1 dev eth0 table 1
    }
    virtual_rules {
        from 2001:db8::100 table 1 priority 100
    }
`}
	return strings.Replace(confOf(v4, v6), "vrrp_instance", routesStatic+"vrrp_instance", 1)
}

// hostObject is one route or rule as `ip` lists it, and the command that
// lists its table.
type hostObject struct {
	list []string // ip arguments
	want string   // a substring of one line of the listing
}

var (
	virtualObjects = []hostObject{
		{[]string{"-4", "route", "show", "table", "main"}, "default via 198.18.0.1 dev eth0 proto keepalived"},
		{[]string{"-4", "route", "show", "table", "1"}, "198.18.9.0/24 via 198.18.0.1 dev eth0 proto keepalived"},
		{[]string{"-4", "rule", "show"}, "100:\tfrom 198.18.0.100 lookup 1 proto keepalived"},
		{[]string{"-6", "route", "show", "table", "main"}, "default via 2001:db8::1 dev eth0 proto keepalived"},
		{[]string{"-6", "route", "show", "table", "1"}, "2001:db8:9::/64 via 2001:db8::1 dev eth0 proto keepalived"},
		{[]string{"-6", "rule", "show"}, "100:\tfrom 2001:db8::100 lookup 1 proto keepalived"},
	}
	staticObjects = []hostObject{
		{[]string{"-4", "addr", "show", "dev", "eth0"}, "inet 198.18.7.1/32"},
		{[]string{"-4", "route", "show", "table", "main"}, "198.18.8.0/24 via 198.18.0.1 dev eth0 proto keepalived"},
		{[]string{"-4", "rule", "show"}, "200:\tfrom 198.18.7.1 lookup 7 proto keepalived"},
	}
)

// on lists o's table on h; a table that does not exist lists nothing.
func (o hostObject) on(h *lab.Host) bool {
	out, _ := o.show(h)
	return strings.Contains(out, o.want)
}

func (o hostObject) show(h *lab.Host) (string, error) {
	return lab.Output("ip", append([]string{"-n", h.Name}, o.list...)...)
}

// waitObjects waits until every object is present (want) or absent on h.
func waitObjects(t *testing.T, h *lab.Host, objs []hostObject, want bool, what string) {
	t.Helper()
	err := lab.Eventually(5*time.Second, func() error {
		for _, o := range objs {
			if o.on(h) != want {
				out, err := o.show(h)
				return fmt.Errorf("%q present=%v, want %v; ip %s (%v):\n%s", o.want, !want, want, strings.Join(o.list, " "), err, out)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s on %s: %v", what, h.Name, err)
	}
}

// keepalived.conf(5) virtual_routes/virtual_rules: on the master only,
// moved on failover, removed at stop; static_*: on every host at start and
// after a failover, removed at stop (vrrp_daemon.c stop_vrrp).
func TestVirtualRoutesFollowMaster_NeutronAndOctaviaShapes_Keepalived(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	h1, h2 := lan.Hosts[0], lan.Hosts[1]
	n1 := startXvrrpd(t, h1, routesConf(150), startOpts{})
	n2 := startXvrrpd(t, h2, routesConf(100), startOpts{})
	waitHolder(t, lan.Hosts, h1, "198.18.0.100", 10*time.Second)
	waitHolder(t, lan.Hosts, h1, "2001:db8::100", 10*time.Second)

	waitObjects(t, h1, virtualObjects, true, "virtual routes and rules of the master")
	waitObjects(t, h2, virtualObjects, false, "virtual routes and rules of the backup")
	waitObjects(t, h1, staticObjects, true, "static objects of the master")
	waitObjects(t, h2, staticObjects, true, "static objects of the backup")
	if st := n1.instance("VI_4"); st.VirtualRoutes != 2 || st.VirtualRules != 1 || !st.RoutesHeld {
		t.Fatalf("master status: %d routes, %d rules, held %v; want 2, 1, held", st.VirtualRoutes, st.VirtualRules, st.RoutesHeld)
	}
	if st := n2.instance("VI_4"); st.RoutesHeld {
		t.Fatal("backup status says it holds its routes")
	}
	if s := n2.status().Static; s.Addresses != 1 || s.Routes != 1 || s.Rules != 1 {
		t.Fatalf("static in status %+v, want 1 address, 1 route, 1 rule", s)
	}

	n1.stop()
	waitHolder(t, lan.Hosts, h2, "198.18.0.100", 5*time.Second)
	waitObjects(t, h2, virtualObjects, true, "virtual routes and rules after failover")
	waitObjects(t, h2, staticObjects, true, "static objects after failover")
	waitObjects(t, h1, virtualObjects, false, "virtual routes and rules after SIGTERM")
	waitObjects(t, h1, staticObjects, false, "static objects after SIGTERM")

	n2.stop()
	waitObjects(t, h2, virtualObjects, false, "virtual routes and rules after SIGTERM")
	waitObjects(t, h2, staticObjects, false, "static objects after SIGTERM")
}

// keepalived_netlink.c netlink_route_filter / netlink_rule_filter: a
// tracked virtual route or rule deleted on a MASTER sends it to BACKUP with
// a Skew_Time down timer (set_vrrp_backup), so it comes back MASTER and
// reinstates it; a deleted static route, rule or address is restored
// (reinstate_static_*); a no_track route deleted is left alone.
func TestDeletedRouteOrRuleReinstated_Keepalived(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	h1, h2 := lan.Hosts[0], lan.Hosts[1]
	conf := func(prio int) string {
		return strings.Replace(routesConf(prio), "        0.0.0.0/0 via 198.18.0.1 dev eth0\n",
			"        0.0.0.0/0 via 198.18.0.1 dev eth0\n        198.18.10.0/24 via 198.18.0.1 dev eth0 no_track\n", 1)
	}
	n1 := startXvrrpd(t, h1, conf(150), startOpts{})
	startXvrrpd(t, h2, conf(100), startOpts{})
	waitHolder(t, lan.Hosts, h1, "198.18.0.100", 10*time.Second)
	waitObjects(t, h1, virtualObjects, true, "virtual routes and rules of the master")

	tests := []struct {
		name  string
		del   []string
		obj   hostObject
		kind  string // the instance's lost counter, "" for a static object
		trans bool   // the instance went through BACKUP
	}{
		{"VirtualRouteInTable", []string{"route", "del", "198.18.9.0/24", "table", "1"}, virtualObjects[1], "route_lost", true},
		{"VirtualRule", []string{"rule", "del", "priority", "100", "from", "198.18.0.100"}, virtualObjects[2], "rule_lost", true},
		{"StaticRoute", []string{"route", "del", "198.18.8.0/24"}, staticObjects[1], "", false},
		{"StaticRule", []string{"rule", "del", "priority", "200"}, staticObjects[2], "", false},
		{"StaticAddress", []string{"addr", "del", "198.18.7.1/32", "dev", "eth0"}, staticObjects[0], "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := n1.instance("VI_4")
			staticBefore := n1.status().Static.Lost
			h1.IP(tt.del...)
			waitObjects(t, h1, []hostObject{tt.obj}, true, "the deleted object reinstated")
			waitObjects(t, h1, virtualObjects, true, "every virtual route and rule")
			waitHolder(t, lan.Hosts, h1, "198.18.0.100", 5*time.Second)
			after := n1.instance("VI_4")
			if tt.kind == "" {
				if got := n1.status().Static.Lost; got != staticBefore+1 {
					t.Errorf("static lost %d, want %d", got, staticBefore+1)
				}
				if after.State != "MASTER" || len(after.Transitions) != len(before.Transitions) {
					t.Errorf("a static object's deletion changed the instance: %s, %d → %d transitions", after.State, len(before.Transitions), len(after.Transitions))
				}
				return
			}
			if got := after.Errors[tt.kind]; got != before.Errors[tt.kind]+1 {
				t.Errorf("errors[%s] = %d, want %d", tt.kind, got, before.Errors[tt.kind]+1)
			}
			var lost bool
			for _, tr := range after.Transitions[len(before.Transitions):] {
				lost = lost || (tr.From == "MASTER" && tr.To == "BACKUP" && strings.Contains(tr.Reason, "deleted"))
			}
			if !lost || after.State != "MASTER" {
				t.Errorf("state %s, transitions %+v: want MASTER → BACKUP for the deletion, then MASTER again", after.State, after.Transitions)
			}
		})
	}
	t.Run("NoTrackRouteLeftAlone", func(t *testing.T) {
		before := n1.instance("VI_4")
		h1.IP("route", "del", "198.18.10.0/24")
		// The watcher handles deletions in order: once a tracked static
		// route deleted after it is restored, the no_track one was seen.
		h1.IP("route", "del", "198.18.8.0/24")
		waitObjects(t, h1, staticObjects[1:2], true, "the static route deleted after the no_track one")
		after := n1.instance("VI_4")
		if after.State != "MASTER" || len(after.Transitions) != len(before.Transitions) || after.Errors["route_lost"] != before.Errors["route_lost"] {
			t.Errorf("a no_track route's deletion was acted on: %+v", after.Transitions)
		}
		if strings.Contains(h1.IP("-4", "route", "show"), "198.18.10.0/24") {
			t.Error("the no_track route was re-added while MASTER (keepalived leaves it until the next MASTER entry)")
		}
	})
}
