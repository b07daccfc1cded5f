package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// Routes and rules: virtual_routes / virtual_rules in a vrrp_instance (added
// while MASTER) and static_routes / static_rules / static_ipaddress at the top
// level (always present). keepalived.conf(5) "Static routes/addresses/rules":
// the syntax is ip-route(8) / ip-rule(8) without abbreviations. They are read
// into typed values here; acting on them on the host is the daemon's part.

// Route is one line of virtual_routes or static_routes.
type Route struct {
	Pos Pos
	// Type is "unicast" (default), "blackhole", "unreachable", "prohibit" or "throw".
	Type     string
	Dst      netip.Prefix // invalid for "default"
	Default  bool         // destination "default"
	Family   int          // 4 or 6 (inet6 forces 6; default 4 when nothing decides)
	Src      netip.Addr
	Via      netip.Addr
	Dev      string
	Scope    string
	Table    string // number or name from rt_tables
	Metric   int    // metric / priority / preference; -1 when not given
	Protocol string
	OnLink   bool
	NoTrack  bool
	Append   bool
	TOS      string
	MTU      int // 0: not given
	Nexthops []Nexthop
	// TrackGroup is static_routes' track_group.
	TrackGroup string
	// Other holds the ip-route(8) metrics and flags keepalived accepts and
	// passes to the kernel unchanged (hoplimit, advmss, rtt, rttvar, reordering,
	// window, cwnd, ssthresh, realms, rto_min, initcwnd, initrwnd, features,
	// quickack, congctl, fastopen_no_cookie, pref, ttl-propagate, expires, vrf,
	// encap), by name.
	Other map[string]string
}

// Nexthop is one `nexthop` of a multipath route.
type Nexthop struct {
	Via    netip.Addr
	Dev    string
	Weight int // 1..256, default 1
	OnLink bool
}

// Rule is one line of virtual_rules or static_rules.
type Rule struct {
	Pos    Pos
	Family int // 4 or 6
	Invert bool
	From   netip.Prefix // invalid when not given
	To     netip.Prefix
	// Action is "table" (Table set), "goto" (Goto set), "nop",
	// "blackhole", "unreachable" or "prohibit".
	Action            string
	Table             string
	Goto              int
	Priority          int // preference / priority / order; -1 when not given
	IIF, OIF          string
	FWMark, FWMask    uint32
	HasFWMark         bool
	TOS               string
	Realms            string
	UIDRange          string
	L3MDev            bool
	Protocol          string
	IPProto           string
	SPort, DPort      string
	SuppressPrefixLen int // -1 when not given
	SuppressIfGroup   string
	NoTrack           bool
	TrackGroup        string
}

var routeTypes = map[string]bool{"blackhole": true, "unreachable": true, "prohibit": true, "throw": true}

// valued route options stored in Route.Other.
var routeOtherValued = map[string]bool{
	"hoplimit": true, "advmss": true, "rtt": true, "rttvar": true, "reordering": true, "window": true,
	"cwnd": true, "realms": true, "rto_min": true, "initcwnd": true, "initrwnd": true, "features": true,
	"quickack": true, "congctl": true, "fastopen_no_cookie": true, "pref": true, "ttl-propagate": true,
	"expires": true, "vrf": true, "encap": true,
}

func parsePrefixWord(w string) (netip.Prefix, bool) {
	if strings.Contains(w, "/") {
		p, err := netip.ParsePrefix(w)
		return p, err == nil
	}
	a, err := netip.ParseAddr(w)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// routeLine parses one route; ok=false (with the error reported) when the
// line cannot be read.
func (p *parser) routeLine(owner string, l *stmt) (Route, bool) {
	d := p.d
	d.noBlock(l)
	words := l.words()
	r := Route{Pos: l.pos, Type: "unicast", Metric: -1, Family: 0}
	i := 0
	if routeTypes[words[0]] {
		r.Type = words[0]
		i++
	}

	destSet := false
	val := func(opt string) (string, bool) {
		if i+1 >= len(words) {
			d.errorf(l.pos, "%s: route %s: %s needs a value", owner, words[0], opt)
			return "", false
		}
		i++
		return words[i], true
	}
	addr := func(opt string) (netip.Addr, bool) {
		v, ok := val(opt)
		if !ok {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			d.errorf(l.pos, "%s: route %s: %s %q is not an IP address", owner, words[0], opt, v)
			return netip.Addr{}, false
		}
		return a, true
	}
	num := func(opt string, lo, hi int) (int, bool) {
		v, ok := val(opt)
		if !ok {
			return 0, false
		}
		return d.intValue(l.pos, owner+" route "+words[0]+" "+opt, v, lo, hi)
	}
	ok := true
	for ; i < len(words) && ok; i++ {
		switch opt := words[i]; opt {
		case "src":
			r.Src, ok = addr(opt)
		case "via", "gw":
			r.Via, ok = addr(opt)
		case "dev", "oif":
			r.Dev, ok = val(opt)
		case "scope":
			r.Scope, ok = val(opt)
		case "table":
			r.Table, ok = val(opt)
		case "metric", "priority", "preference":
			r.Metric, ok = num(opt, 0, 1<<31-1)
		case "proto", "protocol":
			r.Protocol, ok = val(opt)
		case "tos", "dsfield":
			r.TOS, ok = val(opt)
		case "mtu":
			if i+1 < len(words) && words[i+1] == "lock" {
				i++
			}
			r.MTU, ok = num(opt, 0, 65535)
		case "ssthresh", "window", "cwnd", "advmss", "hoplimit", "rtt", "rttvar", "rto_min", "initcwnd", "initrwnd", "reordering":
			if i+1 < len(words) && words[i+1] == "lock" {
				i++
			}
			var v string
			if v, ok = val(opt); ok {
				p.routeOther(&r, opt, v)
			}
		case "onlink":
			r.OnLink = true
		case "no_track":
			r.NoTrack = true
		case "append":
			r.Append = true
		case "inet6":
			r.Family = 6
		case "track_group":
			r.TrackGroup, ok = val(opt)
		case "nexthop":
			nh := Nexthop{Weight: 1}
			for i+1 < len(words) {
				switch words[i+1] {
				case "via":
					i++
					nh.Via, ok = addr("nexthop via")
				case "dev":
					i++
					nh.Dev, ok = val("nexthop dev")
				case "weight":
					i++
					nh.Weight, ok = num("nexthop weight", 1, 256)
				case "onlink":
					i++
					nh.OnLink = true
				default:
					goto done
				}
				if !ok {
					break
				}
			}
		done:
			r.Nexthops = append(r.Nexthops, nh)
		case "or":
			// keepalived vrrp_iproute.c: `"or" for routes is deprecated.
			// Please use "nexthop"`: one more gateway of a multipath route.
			var a netip.Addr
			if a, ok = addr(opt); ok {
				if len(r.Nexthops) == 0 && r.Via.IsValid() {
					r.Nexthops = append(r.Nexthops, Nexthop{Via: r.Via, Dev: r.Dev, Weight: 1})
				}
				r.Nexthops = append(r.Nexthops, Nexthop{Via: a, Weight: 1})
				d.warnfKW(l.pos, WarnAdjusted, "route or", "%s: \"or\" for routes is deprecated. Please use \"nexthop\" (read as a multipath route, as keepalived does)", owner)
			}
		default:
			if routeOtherValued[opt] {
				var v string
				if v, ok = val(opt); ok {
					p.routeOther(&r, opt, v)
				}
				continue
			}
			// ip-route(8): the destination is the word that is not an option.
			if !destSet {
				destSet = true
				if opt == "default" {
					r.Default = true
					continue
				}
				if pf, isPrefix := parsePrefixWord(opt); isPrefix {
					r.Dst = pf.Masked()
					if r.Family == 0 {
						r.Family = family(pf.Addr())
					}
					continue
				}
				d.errorf(l.pos, "%s: route destination %q is not an address, prefix or default", owner, opt)
				ok = false
				continue
			}
			d.errorf(l.pos, "%s: unknown route option %q", owner, opt)
			ok = false
		}
	}
	if !ok {
		return r, false
	}
	if !destSet {
		d.errorf(l.pos, "%s: route %q has no destination", owner, strings.Join(words, " "))
		return r, false
	}
	if r.Family == 0 {
		switch {
		case r.Via.IsValid():
			r.Family = family(r.Via)
		case r.Src.IsValid():
			r.Family = family(r.Src)
		default:
			// keepalived.conf(5): "If a route or rule could apply to either
			// IPv4 or IPv6 it will default to IPv4".
			r.Family = 4
		}
	}
	return r, true
}

func (p *parser) routeOther(r *Route, k, v string) {
	if r.Other == nil {
		r.Other = map[string]string{}
	}
	r.Other[k] = v
}

func (p *parser) ruleLine(owner string, l *stmt) (Rule, bool) {
	d := p.d
	d.noBlock(l)
	words := l.words()
	r := Rule{Pos: l.pos, Priority: -1, SuppressPrefixLen: -1}
	var i int
	val := func(opt string) (string, bool) {
		if i+1 >= len(words) {
			d.errorf(l.pos, "%s: rule: %s needs a value", owner, opt)
			return "", false
		}
		i++
		return words[i], true
	}
	prefix := func(opt string) (netip.Prefix, bool) {
		v, ok := val(opt)
		if !ok {
			return netip.Prefix{}, false
		}
		if v == "all" {
			return netip.Prefix{}, true
		}
		pf, ok := parsePrefixWord(v)
		if !ok {
			d.errorf(l.pos, "%s: rule: %s %q is not an address or prefix", owner, opt, v)
			return netip.Prefix{}, false
		}
		if r.Family == 0 {
			r.Family = family(pf.Addr())
		}
		return pf.Masked(), true
	}
	num := func(opt string, lo, hi int) (int, bool) {
		v, ok := val(opt)
		if !ok {
			return 0, false
		}
		return d.intValue(l.pos, owner+" rule "+opt, v, lo, hi)
	}
	ok := true
	for ; i < len(words) && ok; i++ {
		switch opt := words[i]; opt {
		case "from":
			r.From, ok = prefix(opt)
		case "to":
			r.To, ok = prefix(opt)
		case "not":
			r.Invert = true
		case "table", "lookup":
			r.Action = "table"
			r.Table, ok = val(opt)
		case "goto":
			r.Action = "goto"
			r.Goto, ok = num(opt, 0, 1<<32-1)
		case "nop", "blackhole", "unreachable", "prohibit":
			r.Action = opt
		case "priority", "preference", "order", "pref":
			r.Priority, ok = num(opt, 0, 1<<32-1)
		case "iif", "dev":
			r.IIF, ok = val(opt)
		case "oif":
			r.OIF, ok = val(opt)
		case "fwmark":
			var v string
			if v, ok = val(opt); ok {
				mark, mask, hasMask := strings.Cut(v, "/")
				m, err := strconv.ParseUint(mark, 0, 32)
				mk := uint64(0xffffffff)
				if err == nil && hasMask {
					mk, err = strconv.ParseUint(mask, 0, 32)
				}
				if err != nil {
					d.errorf(l.pos, "%s: rule: fwmark %q is not MARK[/MASK]", owner, v)
					ok = false
					break
				}
				r.FWMark, r.FWMask, r.HasFWMark = uint32(m), uint32(mk), true
			}
		case "tos", "dsfield":
			r.TOS, ok = val(opt)
		case "realms":
			r.Realms, ok = val(opt)
		case "uidrange":
			r.UIDRange, ok = val(opt)
		case "l3mdev":
			r.L3MDev = true
		case "protocol":
			r.Protocol, ok = val(opt)
		case "ip_proto", "ipproto":
			r.IPProto, ok = val(opt)
		case "sport":
			r.SPort, ok = val(opt)
		case "dport":
			r.DPort, ok = val(opt)
		case "suppress_prefixlength":
			r.SuppressPrefixLen, ok = num(opt, 0, 128)
		case "suppress_ifgroup":
			r.SuppressIfGroup, ok = val(opt)
		case "no_track":
			r.NoTrack = true
		case "inet6":
			r.Family = 6
		case "track_group":
			r.TrackGroup, ok = val(opt)
		default:
			d.errorf(l.pos, "%s: unknown rule option %q", owner, opt)
			ok = false
		}
	}
	if !ok {
		return r, false
	}
	if r.Family == 0 {
		r.Family = 4
	}
	if r.Action == "" {
		d.errorf(l.pos, "%s: rule needs an action (table, goto, nop, blackhole, unreachable or prohibit)", owner)
		return r, false
	}
	if r.Priority < 0 {
		// keepalived vrrp_iprule.c: "Rule has no preference specified -
		// setting to 16384. This is probably not what you want."
		d.warnfKW(l.pos, WarnAdjusted, "rule preference", "%s: rule has no preference; keepalived sets 16384 (\"probably not what you want\"); recorded as 16384", owner)
		r.Priority = 16384
	}
	return r, true
}

// routes reads a virtual_routes / static_routes block.
func (p *parser) routes(owner string, s *stmt) []Route {
	if !p.d.needBlock(s) {
		return nil
	}
	var out []Route
	for _, l := range s.block {
		n := len(p.d.errs)
		if r, ok := p.routeLine(owner, l); ok {
			out = append(out, r)
		}
		p.demote(n, "route")
	}
	return out
}

// demote turns the errors reported since n into warnings: keepalived
// (vrrp_iproute.c, vrrp_iprule.c) skips a route or rule it cannot read and
// runs the rest, and so does xvrrpd.
func (p *parser) demote(n int, what string) {
	for _, e := range p.d.errs[n:] {
		p.d.warnfKW(e.Pos, WarnAdjusted, what, "%s; %s skipped, as keepalived skips it", e.Msg, what)
	}
	p.d.errs = p.d.errs[:n]
}

// rules reads a virtual_rules / static_rules block.
func (p *parser) rules(owner string, s *stmt) []Rule {
	if !p.d.needBlock(s) {
		return nil
	}
	var out []Rule
	for _, l := range s.block {
		n := len(p.d.errs)
		if r, ok := p.ruleLine(owner, l); ok {
			out = append(out, r)
		}
		p.demote(n, "rule")
	}
	return out
}
