package vip

import (
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// routeNS is a namespace with veths d0 (peer d0p) and d1, d0 carrying 198.18.0.1/24 and
// 2001:db8::1/64, enough for gateways in both families.
func routeNS(t *testing.T) *lab.NS {
	t.Helper()
	ns := lab.NewNS(t, "rt")
	for _, d := range []string{"d0", "d1"} {
		ns.IP("link", "add", d, "type", "veth", "peer", "name", d+"p")
		ns.IP("link", "set", d+"p", "up")
		ns.IP("link", "set", d, "up")
	}
	ns.IP("addr", "add", "198.18.0.1/24", "dev", "d0")
	ns.IP("addr", "add", "198.18.1.1/24", "dev", "d1")
	ns.IP("addr", "add", "2001:db8::1/64", "dev", "d0", "nodad")
	return ns
}

func mustRoute(t *testing.T, spec string) Route {
	t.Helper()
	r, _, err := ParseRoute(strings.Fields(spec))
	must(t, err)
	return r
}

func mustRule(t *testing.T, spec string) Rule {
	t.Helper()
	r, _, err := ParseRule(strings.Fields(spec))
	must(t, err)
	return r
}

// The shapes OpenStack generates: neutron L3 HA puts the gateway's default
// route in virtual_routes; Octavia's amphora puts a table-1 default route and
// a rule selecting it by the VIP source.
func routeShapes(t *testing.T) ([]Route, []Rule) {
	routes := []Route{
		mustRoute(t, "0.0.0.0/0 via 198.18.0.254 dev d0"),                                                   // neutron
		mustRoute(t, "198.18.0.0/24 dev d0 src 198.18.0.1 scope link table 1"),                              // octavia
		mustRoute(t, "default via 198.18.0.254 dev d0 onlink table 1"),                                      // octavia
		mustRoute(t, "2001:db8:9::/48 via 2001:db8::fe dev d0 metric 50"),                                   // IPv6
		mustRoute(t, "blackhole 198.18.14.0/24"),                                                            // type
		mustRoute(t, "198.18.20.0/24 nexthop via 198.18.0.2 dev d0 nexthop via 198.18.1.2 dev d1 weight 2"), // multipath
		mustRoute(t, "198.18.30.0/24 dev d1 no_track"),
	}
	rules := []Rule{
		mustRule(t, "from 198.18.0.100/32 table 1 priority 100"),
		mustRule(t, "to 2001:db8:7::/48 table 1 priority 101"),
		mustRule(t, "from 198.18.0.101/32 table 1 priority 102 no_track"),
	}
	return routes, rules
}

func TestRouteManager_AddRemoveIdempotent_Keepalived(t *testing.T) {
	ns := routeNS(t)
	routes, rules := routeShapes(t)
	var m *RouteManager
	must(t, ns.Do(func() error { var err error; m, err = NewRouteManager(); return err }))
	defer m.Close()
	present := func(want bool) {
		t.Helper()
		must(t, ns.Do(func() error {
			for _, r := range routes {
				if ok, err := m.RoutePresent(r); err != nil || ok != want {
					t.Errorf("route %q present=%v (err %v), want %v", r, ok, err, want)
				}
			}
			for _, r := range rules {
				if ok, err := m.RulePresent(r); err != nil || ok != want {
					t.Errorf("rule %q present=%v (err %v), want %v", r, ok, err, want)
				}
			}
			return nil
		}))
	}
	for round := range 2 { // the second add finds everything in place
		must(t, ns.Do(func() error {
			if err := m.AddRoutes(routes); err != nil {
				t.Errorf("AddRoutes round %d: %v", round, err)
			}
			if err := m.AddRules(rules); err != nil {
				t.Errorf("AddRules round %d: %v", round, err)
			}
			return nil
		}))
		present(true)
	}
	// What iproute2 sees, field by field, for the shapes that matter.
	out := ns.IP("route", "show", "table", "1")
	for _, want := range []string{"default via 198.18.0.254 dev d0 proto keepalived onlink", "198.18.0.0/24 dev d0 proto keepalived scope link src 198.18.0.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("Route_OctaviaTable1: %q missing from `ip route show table 1`:\n%s", want, out)
		}
	}
	if out := ns.IP("-6", "route", "show", "2001:db8:9::/48"); !strings.Contains(out, "via 2001:db8::fe dev d0 proto keepalived metric 50") {
		t.Errorf("Route_IPv6Metric: got %q", out)
	}
	if out := ns.IP("route", "show", "198.18.20.0/24"); !strings.Contains(out, "nexthop via 198.18.1.2 dev d1 weight 2") {
		t.Errorf("Route_MultipathWeight: got %q", out)
	}
	if out := ns.IP("rule", "show", "pref", "100"); !strings.Contains(out, "from 198.18.0.100 lookup 1 proto keepalived") {
		t.Errorf("Rule_OctaviaSourceSelectsTable: got %q", out)
	}
	// A rule the kernel refuses is reported for that rule only.
	bad := mustRule(t, "from 198.18.0.102/32 table 1 priority 103 iif "+strings.Repeat("x", 20))
	must(t, ns.Do(func() error {
		err := m.AddRules([]Rule{rules[0], bad})
		se, ok := err.(SetErrors)
		if !ok || len(se) != 1 || se[0].Index != 1 {
			t.Errorf("SetErrors_PerObject: %v, want exactly index 1 failing", err)
		}
		return nil
	}))
	for range 2 { // removing what is gone succeeds
		must(t, ns.Do(func() error {
			if err := m.RemoveRoutes(routes); err != nil {
				t.Errorf("RemoveRoutes: %v", err)
			}
			if err := m.RemoveRules(rules); err != nil {
				t.Errorf("RemoveRules: %v", err)
			}
			return nil
		}))
		present(false)
	}
}

func TestRouteWatcher_RemovedBehindOurBackIsFault_Keepalived(t *testing.T) {
	ns := routeNS(t)
	routes, rules := routeShapes(t)
	var m *RouteManager
	var w *RouteWatcher
	must(t, ns.Do(func() error {
		var err error
		if m, err = NewRouteManager(); err != nil {
			return err
		}
		if err := m.AddRoutes(routes); err != nil {
			return err
		}
		if err := m.AddRules(rules); err != nil {
			return err
		}
		w, err = NewRouteWatcher()
		return err
	}))
	defer m.Close()
	defer w.Close()
	w.Track("VI_1", routes, rules)
	next := func(what string) Lost {
		t.Helper()
		select {
		case l := <-w.Lost():
			return l
		case <-time.After(10 * time.Second):
			t.Fatalf("no Lost for %s within 10s", what)
		}
		return Lost{}
	}
	// no_track objects first: had they been tracked, they would be reported
	// before the tracked ones deleted after them.
	ns.IP("route", "del", "198.18.30.0/24", "dev", "d1")
	ns.IP("rule", "del", "pref", "102")
	ns.IP("route", "del", "default", "table", "1")
	l := next("table-1 default route")
	if l.Owner != "VI_1" || l.Route == nil || l.Route.String() != routes[2].String() {
		t.Fatalf("Watch_TrackedRouteDeleted: got %+v (route %v), want route %q of VI_1", l, l.Route, routes[2])
	}
	ns.IP("rule", "del", "pref", "100")
	l = next("rule pref 100")
	if l.Rule == nil || l.Rule.String() != rules[0].String() {
		t.Fatalf("Watch_TrackedRuleDeleted: got %+v, want rule %q", l, rules[0])
	}
	// Re-adding and re-tracking arms the report again.
	must(t, ns.Do(func() error { return m.AddRoute(routes[2]) }))
	w.Track("VI_1", routes, rules)
	ns.IP("route", "del", "default", "table", "1")
	l = next("table-1 default route again")
	if l.Route == nil || l.Route.String() != routes[2].String() {
		t.Fatalf("Watch_ReportedAgainAfterReTrack: got %+v", l)
	}
	// Untracked owners are not reported: our own removal on BACKUP.
	w.Untrack("VI_1")
	must(t, ns.Do(func() error { return m.RemoveRoutes(routes) }))
	must(t, ns.Do(func() error { return m.AddRoute(mustRoute(t, "198.18.40.0/24 dev d0")) }))
	w.Track("VI_2", []Route{mustRoute(t, "198.18.40.0/24 dev d0")}, nil)
	ns.IP("route", "del", "198.18.40.0/24")
	l = next("VI_2 route")
	if l.Owner != "VI_2" {
		t.Fatalf("Watch_UntrackedNotReported: got %+v first, want VI_2's route", l)
	}
}
