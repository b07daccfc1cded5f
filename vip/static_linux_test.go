package vip

import (
	"reflect"
	"strings"
	"testing"
)

func TestStatic_SetAtStartRemovedAtStop_Keepalived(t *testing.T) {
	ns := routeNS(t)
	addr, err := ParseVIP(strings.Fields("198.18.2.10/24 dev d1 label d1:st"))
	must(t, err)
	addr6, err := ParseVIP(strings.Fields("2001:db8:2::10/64 dev d1"))
	must(t, err)
	s := Static{
		Addresses: []VIP{addr, addr6},
		// The route's src is the static address: it only works added after it.
		Routes: []Route{mustRoute(t, "198.18.50.0/24 via 198.18.2.254 dev d1 src 198.18.2.10")},
		Rules:  []Rule{mustRule(t, "from 198.18.2.10 table 7 preference 300")},
	}
	var m *Manager
	var rm *RouteManager
	must(t, ns.Do(func() error {
		var err error
		if m, err = NewManager(); err != nil {
			return err
		}
		rm, err = NewRouteManager()
		return err
	}))
	defer m.Close()
	defer rm.Close()
	check := func(want bool) {
		t.Helper()
		must(t, ns.Do(func() error {
			for _, a := range s.Addresses {
				if ok, err := m.Present(a); err != nil || ok != want {
					t.Errorf("address %s present=%v (%v), want %v", a, ok, err, want)
				}
			}
			if ok, err := rm.RoutePresent(s.Routes[0]); err != nil || ok != want {
				t.Errorf("route present=%v (%v), want %v", ok, err, want)
			}
			if ok, err := rm.RulePresent(s.Rules[0]); err != nil || ok != want {
				t.Errorf("rule present=%v (%v), want %v", ok, err, want)
			}
			return nil
		}))
	}
	for range 2 { // a restart finds them in place
		must(t, ns.Do(func() error { return AddStatic(m, rm, s) }))
		check(true)
	}
	if out := ns.IP("-4", "addr", "show", "dev", "d1"); !strings.Contains(out, "198.18.2.10/24") || !strings.Contains(out, "d1:st") {
		t.Errorf("Static_AddressWithLabel: %s", out)
	}
	for range 2 {
		must(t, ns.Do(func() error { return RemoveStatic(m, rm, s) }))
		check(false)
	}
	// A failure is reported per object and does not stop the rest.
	missing, err := ParseVIP(strings.Fields("198.18.3.10/24 dev nosuch0"))
	must(t, err)
	must(t, ns.Do(func() error {
		err := AddStatic(m, rm, Static{Addresses: []VIP{missing, addr}, Routes: s.Routes, Rules: s.Rules})
		if err == nil || !strings.Contains(err.Error(), "nosuch0") {
			t.Errorf("Static_FailurePerObject: %v", err)
		}
		return RemoveStatic(m, rm, s)
	}))
}

func TestStaticRemoved_ReloadDropsOnlyGone_Keepalived(t *testing.T) {
	a1, _ := ParseVIP([]string{"198.18.2.10/24", "dev", "d1"})
	a2, _ := ParseVIP([]string{"198.18.2.11/24", "dev", "d1"})
	r1 := mustRoute(t, "198.18.50.0/24 via 198.18.2.254")
	r2 := mustRoute(t, "198.18.51.0/24 via 198.18.2.254")
	old := Static{Addresses: []VIP{a1, a2}, Routes: []Route{r1, r2}}
	updated := Static{Addresses: []VIP{a2}, Routes: []Route{r1}}
	got := StaticRemoved(old, updated)
	want := Static{Addresses: []VIP{a1}, Routes: []Route{r2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("StaticRemoved = %+v, want %+v", got, want)
	}
}
