package vip

import "errors"

// Static is keepalived's static_ipaddress, static_routes and static_rules:
// set when the daemon starts whatever any instance's state, kept while it
// runs, removed when it stops (keepalived.conf(5), "Static
// routes/addresses/rules"; vrrp_daemon.c adds them at start and clears them
// in stop_vrrp).
type Static struct {
	Addresses []VIP // Dev must be filled in (WithDefaultDev)
	Routes    []Route
	Rules     []Rule
}

// AddStatic installs s in keepalived's order: addresses, then routes (which
// may need the addresses as sources or gateways' subnets), then rules. Every
// object is tried; the error joins one SetErrors per kind that failed.
// Adding what is already present succeeds, so it serves restart and reload.
func AddStatic(m *Manager, rm *RouteManager, s Static) error {
	return errors.Join(m.AddAll(s.Addresses), rm.AddRoutes(s.Routes), rm.AddRules(s.Rules))
}

// RemoveStatic removes s in the reverse order (rules, routes, addresses), as
// keepalived's stop_vrrp does. Removing what is gone succeeds.
func RemoveStatic(m *Manager, rm *RouteManager, s Static) error {
	return errors.Join(rm.RemoveRules(s.Rules), rm.RemoveRoutes(s.Routes), m.RemoveAll(s.Addresses))
}

// StaticRemoved returns what old has and updated lacks: on reload keepalived
// removes those (clear_diff_static_*) before adding the new set.
func StaticRemoved(old, updated Static) Static {
	var out Static
	for _, a := range old.Addresses {
		if !containsStr(updated.Addresses, a) {
			out.Addresses = append(out.Addresses, a)
		}
	}
	for _, r := range old.Routes {
		if !containsStr(updated.Routes, r) {
			out.Routes = append(out.Routes, r)
		}
	}
	for _, r := range old.Rules {
		if !containsStr(updated.Rules, r) {
			out.Rules = append(out.Rules, r)
		}
	}
	return out
}

// containsStr compares by keepalived rendering, which covers every field
// that reaches the kernel.
func containsStr[T interface{ String() string }](list []T, x T) bool {
	s := x.String()
	for _, y := range list {
		if y.String() == s {
			return true
		}
	}
	return false
}

// AddAll adds every address with Add; one failing does not stop the others.
func (m *Manager) AddAll(vs []VIP) error {
	var errs SetErrors
	for i, v := range vs {
		if err := m.Add(v); err != nil {
			errs = append(errs, ObjectError{i, v.String(), err})
		}
	}
	return errs.orNil()
}

// RemoveAll removes every address with Remove; one failing does not stop
// the others.
func (m *Manager) RemoveAll(vs []VIP) error {
	var errs SetErrors
	for i, v := range vs {
		if err := m.Remove(v); err != nil {
			errs = append(errs, ObjectError{i, v.String(), err})
		}
	}
	return errs.orNil()
}
