package config

import "github.com/xvrrp/xvrrp/vip"

// Routes and rules: virtual_routes / virtual_rules in a vrrp_instance (added
// while MASTER) and static_routes / static_rules at the top level (always
// present). keepalived.conf(5) "Static routes/addresses/rules": the syntax is
// ip-route(8) / ip-rule(8) as keepalived 2.2 reads it. The grammar has one
// home, the vip package (vip.ParseRoute, vip.ParseRule), whose types the
// netlink layer installs; this file only reports what it says at the line
// it came from.

// Route is one line of virtual_routes or static_routes.
type Route = vip.Route

// Nexthop is one `nexthop` of a multipath route.
type Nexthop = vip.Nexthop

// Rule is one line of virtual_rules or static_rules. Every rule has its
// preference set: one given none is numbered as keepalived numbers it.
type Rule = vip.Rule

// routes reads a virtual_routes / static_routes block.
func (p *parser) routes(owner string, s *stmt) []Route {
	return readLines(p, owner, s, "route", vip.ParseRoute, func(r *Route, pos Pos) {
		p.trackGroupNotServed(owner, r.TrackGroup, pos)
	})
}

// trackGroupNotServed warns about a static route's or rule's track_group:
// keepalived removes the object while the group's interfaces are down
// (vrrp_static_track.c); xvrrpd keeps it whatever their state.
func (p *parser) trackGroupNotServed(owner, group string, pos Pos) {
	if group != "" {
		p.d.warnfKW(pos, WarnIgnored, "track_group", "%s: track_group %s is not served yet: the object stays on the host whatever the group's interfaces do", owner, group)
	}
}

// rules reads a virtual_rules / static_rules block and numbers the rules
// given no preference in the order read (keepalived numbers them while
// parsing, over static_rules and every instance's virtual_rules together).
func (p *parser) rules(owner string, s *stmt) []Rule {
	return readLines(p, owner, s, "rule", vip.ParseRule, func(r *Rule, pos Pos) {
		p.trackGroupNotServed(owner, r.TrackGroup, pos)
		if w := p.rulePrios.Assign(r); w != "" {
			p.d.warnfKW(pos, WarnAdjusted, "rule preference", "%s: %s", owner, w)
		}
	})
}

// readLines parses each line of a route or rule block with parse. A line
// that cannot be read is skipped with a warning: keepalived
// (vrrp_iproute.c, vrrp_iprule.c) logs it and runs the rest.
func readLines[T any](p *parser, owner string, s *stmt, what string, parse func([]string) (T, []string, error), then func(*T, Pos)) []T {
	if !p.d.needBlock(s) {
		return nil
	}
	var out []T
	for _, l := range s.block {
		p.d.noBlock(l)
		v, warns, err := parse(l.words())
		for _, w := range warns {
			p.d.warnfKW(l.pos, WarnAdjusted, what, "%s: %s", owner, w)
		}
		if err != nil {
			p.d.warnfKW(l.pos, WarnAdjusted, what, "%s: %v; %s skipped, as keepalived skips it", owner, err, what)
			continue
		}
		if then != nil {
			then(&v, l.pos)
		}
		out = append(out, v)
	}
	return out
}
