package vip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// RouteType is a route's rtm_type (linux/rtnetlink.h, RTN_*), named as
// iproute2 names it.
type RouteType uint8

// Route types keepalived accepts before the destination
// (vrrp_iproute.c, alloc_route, via find_rttables_rtntype).
const (
	RouteUnicast     RouteType = 1
	RouteLocal       RouteType = 2
	RouteBroadcast   RouteType = 3
	RouteAnycast     RouteType = 4
	RouteMulticast   RouteType = 5
	RouteBlackhole   RouteType = 6
	RouteUnreachable RouteType = 7
	RouteProhibit    RouteType = 8
	RouteThrow       RouteType = 9
	RouteNAT         RouteType = 10
)

var routeTypeNames = map[string]RouteType{
	"unicast": RouteUnicast, "local": RouteLocal, "broadcast": RouteBroadcast,
	"anycast": RouteAnycast, "multicast": RouteMulticast, "blackhole": RouteBlackhole,
	"unreachable": RouteUnreachable, "prohibit": RouteProhibit, "throw": RouteThrow, "nat": RouteNAT,
}

// ProtoKeepalived is RTPROT_KEEPALIVED: keepalived stamps every tracked
// route and rule with it so that it can recognise its own objects in netlink
// notifications; xvrrp does the same, so a route left by one is recognised by
// the other.
const ProtoKeepalived = 18

// Routing table ids iproute2 names without /etc/iproute2/rt_tables.
const (
	TableDefault = 253
	TableMain    = 254
	TableLocal   = 255
)

// RouteAddMode is how a route is added when a route with the same key
// (destination, tos, metric, table) already exists.
type RouteAddMode uint8

const (
	// RoutePrepend is keepalived's default and the kernel's: the route goes
	// before any matching route (NLM_F_CREATE alone, `ip route prepend`).
	RoutePrepend RouteAddMode = iota
	// RouteAddExcl fails when a matching route exists (`ip route add`,
	// NLM_F_EXCL).
	RouteAddExcl
	// RouteAppend puts the route after any matching route (NLM_F_APPEND).
	RouteAppend
)

// Nexthop is one `nexthop` of a multipath route.
type Nexthop struct {
	Via    netip.Addr // invalid: a device-only hop
	Dev    string
	Weight int // 1-256; 0 means unset (the kernel's 1)
	OnLink bool
	Realms uint32
}

// Route is one line of keepalived's virtual_routes or static_routes block.
// Zero values mean "not given"; fields that have a meaningful zero carry a
// ...Set flag, mirroring keepalived's IPROUTE_BIT_* mask.
type Route struct {
	Dst     netip.Prefix // required; keepalived: "Route must have a destination"
	Type    RouteType    // default RouteUnicast
	PrefSrc netip.Addr   // "src"
	Via     netip.Addr   // "via" / deprecated "gw"
	Dev     string       // "dev" / "oif"
	Table   uint32       // default TableMain
	// Scope defaults to universe even for device routes: keepalived sends
	// RT_SCOPE_UNIVERSE unless scope is given (unlike `ip route`, which picks
	// link for a route without a gateway).
	Scope     Scope
	Metric    uint32 // "metric" / "priority" / "preference"
	MetricSet bool
	// Protocol is ProtoKeepalived for every tracked route: keepalived resets
	// any other value with a warning, because it tracks by protocol.
	Protocol uint8
	Tos      uint8
	OnLink   bool
	Realms   uint32
	// RTAX metrics (rtnetlink.h); 0 means unset. Rtt, RttVar and RtoMin are
	// in the kernel's units (1/8 ms, 1/4 ms, ms), as keepalived stores them.
	MTU, AdvMSS, Hoplimit, Rtt, RttVar, Reordering, Window int
	Cwnd, Ssthresh, RtoMin, InitCwnd, InitRwnd             int
	MTULock, RtoMinLock                                    bool
	QuickACK, FastOpenNoCookie                             int // 0/1; valid when ...Set
	QuickACKSet, FastOpenNoCookieSet                       bool
	Congctl                                                string
	FeatureECN                                             bool
	Nexthops                                               []Nexthop
	Mode                                                   RouteAddMode
	// NoTrack: removing the route behind xvrrp's back is not a fault, and it
	// is not re-added until the next MASTER entry (keepalived.conf(5)).
	NoTrack bool
	// TrackGroup is static_routes' track_group; the daemon interprets it.
	TrackGroup string
}

// Is6 reports whether r is an IPv6 route.
func (r Route) Is6() bool { return r.Dst.Addr().Is6() }

// WithDefaultDev returns r with Dev set to dev when the route names neither a
// device nor a gateway nor nexthops (keepalived.conf(5): "If no dev element is
// specified, it defaults to default_interface"), and a device-less route of a
// type that needs none (blackhole, unreachable, prohibit, throw) unchanged.
func (r Route) WithDefaultDev(dev string) Route {
	if r.Dev != "" || r.Via.IsValid() || len(r.Nexthops) > 0 {
		return r
	}
	switch r.Type {
	case RouteBlackhole, RouteUnreachable, RouteProhibit, RouteThrow:
		return r
	}
	r.Dev = dev
	return r
}

// String renders r in keepalived's syntax; ParseRoute of its fields gives
// r back.
func (r Route) String() string {
	var w []string
	add := func(s ...string) { w = append(w, s...) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	if r.PrefSrc.IsValid() {
		add("src", r.PrefSrc.String())
	}
	if r.Type != RouteUnicast && r.Type != 0 {
		for n, t := range routeTypeNames {
			if t == r.Type {
				add(n)
			}
		}
	}
	add(r.Dst.String())
	if r.Via.IsValid() {
		add("via", r.Via.String())
	}
	if r.Dev != "" {
		add("dev", r.Dev)
	}
	if r.Table != TableMain {
		add("table", u(uint64(r.Table)))
	}
	if r.Scope != ScopeGlobal {
		add("scope", r.Scope.String())
	}
	if r.MetricSet {
		add("metric", u(uint64(r.Metric)))
	}
	if r.NoTrack && r.Protocol != ProtoKeepalived {
		add("protocol", u(uint64(r.Protocol)))
	}
	if r.Tos != 0 {
		add("tos", u(uint64(r.Tos)))
	}
	if r.OnLink {
		add("onlink")
	}
	if r.Realms != 0 {
		add("realms", formatRealms(r.Realms))
	}
	lock := func(name string, v int, locked bool) {
		if v == 0 && !locked {
			return
		}
		add(name)
		if locked {
			add("lock")
		}
		add(strconv.Itoa(v))
	}
	lock("mtu", r.MTU, r.MTULock)
	for _, m := range []struct {
		name string
		v    int
	}{{"advmss", r.AdvMSS}, {"hoplimit", r.Hoplimit}, {"rtt", r.Rtt}, {"rttvar", r.RttVar},
		{"reordering", r.Reordering}, {"window", r.Window}, {"cwnd", r.Cwnd}, {"ssthresh", r.Ssthresh}} {
		lock(m.name, m.v, false)
	}
	lock("rto_min", r.RtoMin, r.RtoMinLock)
	lock("initcwnd", r.InitCwnd, false)
	lock("initrwnd", r.InitRwnd, false)
	if r.QuickACKSet {
		add("quickack", strconv.Itoa(r.QuickACK))
	}
	if r.FastOpenNoCookieSet {
		add("fastopen_no_cookie", strconv.Itoa(r.FastOpenNoCookie))
	}
	if r.Congctl != "" {
		add("congctl", r.Congctl)
	}
	if r.FeatureECN {
		add("features", "ecn")
	}
	switch r.Mode {
	case RouteAddExcl:
		add("add")
	case RouteAppend:
		add("append")
	}
	if r.NoTrack {
		add("no_track")
	}
	if r.TrackGroup != "" {
		add("track_group", r.TrackGroup)
	}
	for _, nh := range r.Nexthops {
		add("nexthop")
		if nh.Via.IsValid() {
			add("via", nh.Via.String())
		}
		if nh.Dev != "" {
			add("dev", nh.Dev)
		}
		if nh.Weight != 0 {
			add("weight", strconv.Itoa(nh.Weight))
		}
		if nh.OnLink {
			add("onlink")
		}
		if nh.Realms != 0 {
			add("realms", formatRealms(nh.Realms))
		}
	}
	return strings.Join(w, " ")
}

// famTracker enforces keepalived's "Cannot mix IPv4 and IPv6 addresses"
// rule; inet/inet6 pin the family before any address is seen. Its errors
// name only the word that conflicts: the caller states the line once.
type famTracker struct {
	family int // 0 unset, 4, 6
}

func (f *famTracker) set(fam int, why string) error {
	if f.family == 0 {
		f.family = fam
		return nil
	}
	if f.family != fam {
		return fmt.Errorf("%s mixes IPv4 and IPv6", why)
	}
	return nil
}

// familyWord applies the inet/inet6 at fields[i] of a route or rule line:
// it fixes the family and, as keepalived 2.2.7 does, steps over the word
// after it (appending the warning, and to swallowed the note later errors
// carry). It returns how many words after fields[i] it consumed.
func (f *famTracker) familyWord(fields []string, i int, warns *[]string, swallowed *string) (int, error) {
	w := fields[i]
	if err := f.set(map[string]int{"inet": 4, "inet6": 6}[w], w); err != nil {
		return 0, err
	}
	word, warn, ok := familyWordSwallows(fields, i)
	if !ok {
		return 0, nil
	}
	*warns = append(*warns, warn)
	*swallowed = fmt.Sprintf(" (%q after %s is not read: keepalived 2.2.7 steps over the word after inet/inet6)", word, w)
	return 1, nil
}

// isAnyPrefix reports whether s is one of parse_route's familyless
// specials: keepalived 2.2.7 gives default/any/all no family
// (vrrp_ipaddress.c, parse_route, AF_UNSPEC), so that the route's or rule's
// other addresses decide it, IPv4 when none does.
func isAnyPrefix(s string) bool { return s == "default" || s == "any" || s == "all" }

// anyPrefix is default/any/all in family fam (0 is IPv4).
func anyPrefix(fam int) netip.Prefix {
	if fam == 6 {
		return netip.MustParsePrefix("::/0")
	}
	return netip.MustParsePrefix("0.0.0.0/0")
}

// familyWordSwallows is keepalived 2.2.7's reading of inet/inet6 at the top
// level of a route or rule: alloc_route and alloc_rule step over the keyword
// twice (an i++ in the branch and another at the end of the loop), so the
// word after it is never read. xvrrpd reads it the same way, with a warning,
// so that a line keepalived rejects is rejected here too.
func familyWordSwallows(fields []string, i int) (skipped string, warn string, ok bool) {
	if i+1 >= len(fields) {
		return "", "", false
	}
	return fields[i+1], fmt.Sprintf("%q after %q is not read: keepalived 2.2.7 steps over the word after inet/inet6 (give inet6 as a route's via inet6 ADDR, or omit it: the addresses decide the family)", fields[i+1], fields[i]), true
}

func famOf(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// parseRoutePrefix parses keepalived's parse_route argument: an address with
// an optional prefix length (host bits are kept as given; the kernel rejects
// them for IPv4 destinations), default/any/all in family fam, or the
// deprecated default6.
func parseRoutePrefix(s string, fam int) (netip.Prefix, error) {
	if isAnyPrefix(s) {
		return anyPrefix(fam), nil
	}
	if s == "default6" {
		return anyPrefix(6), nil
	}
	addrPart, bitsPart, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addrPart)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or prefix", s)
	}
	a = a.Unmap()
	bits := a.BitLen()
	if hasBits {
		n, err := strconv.Atoi(bitsPart)
		if err != nil || n < 0 || n > a.BitLen() {
			return netip.Prefix{}, fmt.Errorf("%q: prefix length must be 0-%d", s, a.BitLen())
		}
		bits = n
	}
	return netip.PrefixFrom(a, bits), nil
}

// default6Warning is what keepalived logs for its pre-2.0.8 spelling.
const default6Warning = `"default6" is deprecated; keepalived reads it as the IPv6 default (::/0)`

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a.Unmap(), nil
}

// parseUint accepts decimal, 0x hex and 0 octal as strtoul(…, 0) does.
func parseUint(s string, bits int) (uint64, error) {
	return strconv.ParseUint(s, 0, bits)
}

// parseTable resolves a routing table: a number (0 excluded by the caller
// for rules) or one of iproute2's built-in names. Names from
// /etc/iproute2/rt_tables are not read (parsing has no file access).
func parseTable(s string) (uint32, error) {
	switch s {
	case "main":
		return TableMain, nil
	case "local":
		return TableLocal, nil
	case "default":
		return TableDefault, nil
	}
	n, err := parseUint(s, 32)
	if err != nil {
		return 0, fmt.Errorf("table %q is not a number or main/local/default (xvrrp does not read /etc/iproute2/rt_tables; give the number)", s)
	}
	return uint32(n), nil
}

// protoNames are iproute2's built-in rt_protos.
var protoNames = map[string]uint8{
	"redirect": 1, "kernel": 2, "boot": 3, "static": 4, "gated": 8, "ra": 9, "mrt": 10,
	"zebra": 11, "bird": 12, "dnrouted": 13, "xorp": 14, "ntk": 15, "dhcp": 16,
	"keepalived": 18, "babel": 42, "openr": 99, "bgp": 186, "isis": 187, "ospf": 188,
	"rip": 189, "eigrp": 192,
}

func parseProto(s string) (uint8, error) {
	if p, ok := protoNames[s]; ok {
		return p, nil
	}
	n, err := parseUint(s, 8)
	if err != nil {
		return 0, fmt.Errorf("protocol %q is not 0-255 or a name from iproute2's rt_protos", s)
	}
	return uint8(n), nil
}

func parseScope(s string) (Scope, error) {
	if sc, ok := scopeNames[s]; ok {
		return sc, nil
	}
	n, err := parseUint(s, 8)
	if err != nil {
		return 0, fmt.Errorf("scope %q is not global, site, link, host, nowhere or 0-255", s)
	}
	return Scope(n), nil
}

// parseRealms parses realms [SRC/]DST as numbers: keepalived shifts the part
// before the slash into the upper 16 bits (get_realms).
func parseRealms(s string) (uint32, error) {
	a, b, slash := strings.Cut(s, "/")
	x, err := parseUint(a, 16)
	if err != nil {
		return 0, fmt.Errorf("realms %q: give numbers (rt_realms names are not read)", s)
	}
	if !slash {
		return uint32(x), nil
	}
	y, err := parseUint(b, 16)
	if err != nil {
		return 0, fmt.Errorf("realms %q: give numbers (rt_realms names are not read)", s)
	}
	return uint32(x)<<16 | uint32(y), nil
}

func formatRealms(v uint32) string {
	if v>>16 == 0 {
		return strconv.FormatUint(uint64(v), 10)
	}
	return strconv.FormatUint(uint64(v>>16), 10) + "/" + strconv.FormatUint(uint64(v&0xffff), 10)
}

// parseRTT parses keepalived's get_time_rtt: a bare number is in kernel
// units; "ms" or "s" suffixes are converted with unitsPerMs.
func parseRTT(s string, unitsPerMs uint64) (int, error) {
	low := strings.ToLower(s)
	mult := uint64(1)
	num := low
	for _, suf := range []struct {
		s string
		m uint64
	}{{"msecs", 1}, {"msec", 1}, {"ms", 1}, {"secs", 1000}, {"sec", 1000}, {"s", 1000}} {
		if strings.HasSuffix(low, suf.s) {
			num = strings.TrimSuffix(low, suf.s)
			mult = suf.m * unitsPerMs
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number with an optional ms/s unit", s)
	}
	return int(n * mult), nil
}

// ParseRoute parses one virtual_routes / static_routes entry split into
// words, with keepalived 2.2's grammar (vrrp_iproute.c, alloc_route):
//
//	[inet|inet6] [src ADDR] [to] [TYPE] PREFIX [via|gw [inet|inet6] ADDR]
//	[or ADDR] [dev|oif IF] [table T] [scope S] [metric|priority|preference N]
//	[protocol P] [tos|dsfield N] [onlink] [realms R] [mtu [lock] N] [advmss N]
//	[hoplimit N] [rtt T] [rttvar T] [reordering N] [window N] [cwnd N]
//	[ssthresh N] [rto_min [lock] T] [initcwnd N] [initrwnd N] [quickack 0|1]
//	[fastopen_no_cookie 0|1] [congctl NAME] [features ecn] [add|prepend|append]
//	[no_track] [track_group G] [nexthop [via ADDR] [dev IF] [weight W] [onlink] [realms R]]...
//
// Defaults as keepalived: table main, scope universe, type unicast, prepend,
// protocol keepalived (forced for tracked routes), IPv4 when nothing says.
// Options keepalived accepts that xvrrp cannot apply through its netlink
// library (from, encap, expires, pref, ttl-propagate, vrf, "as to", "lock" on
// metrics other than mtu and rto_min) are errors naming the option, never
// silently dropped. warnings are what keepalived logs and accepts (gw, or
// and default6 deprecated, a non-keepalived protocol on a tracked route
// reset, a route without dev not tracked, the word inet/inet6 steps over);
// the caller reports them with the line's position.
func ParseRoute(fields []string) (r Route, warnings []string, err error) {
	r, warnings, err = parseRoute(fields)
	if err != nil {
		return Route{}, nil, err
	}
	return r, warnings, nil
}

func parseRoute(fields []string) (Route, []string, error) {
	var warns []string
	r := Route{Type: RouteUnicast, Table: TableMain}
	what := "route " + strings.Join(fields, " ")
	var ft famTracker
	swallowed := "" // set when inet/inet6 stepped over a word: the usual cause of an error after it
	protoSet := false
	dstSeen := false
	dstAny := false // default/any/all: the family is settled at the end
	dstWord := ""   // the destination as written, for keepalived's messages
	errf := func(format string, a ...any) (Route, []string, error) {
		return Route{}, nil, fmt.Errorf("%s: %s%s", what, fmt.Sprintf(format, a...), swallowed)
	}
	i := 0
	arg := func() (string, bool) {
		if i+1 >= len(fields) {
			return "", false
		}
		i++
		return fields[i], true
	}
	// metric reads "NAME [lock] N".
	metric := func(name string, lockable bool, parse func(string) (int, error)) (int, bool, error) {
		v, ok := arg()
		if !ok {
			return 0, false, fmt.Errorf("%s needs a value", name)
		}
		locked := false
		if v == "lock" {
			if !lockable {
				return 0, false, fmt.Errorf("%s lock is not supported by xvrrp (its netlink library locks only mtu and rto_min); remove lock", name)
			}
			locked = true
			if v, ok = arg(); !ok {
				return 0, false, fmt.Errorf("%s lock needs a value", name)
			}
		}
		n, err := parse(v)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %v", name, err)
		}
		return n, locked, nil
	}
	u32 := func(s string) (int, error) {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not an unsigned number", s)
		}
		return int(n), nil
	}
	for ; i < len(fields); i++ {
		w := fields[i]
		need := func() (string, error) {
			v, ok := arg()
			if !ok {
				return "", fmt.Errorf("%q needs a value", w)
			}
			return v, nil
		}
		var err error
		switch w {
		case "inet", "inet6":
			var skip int
			skip, err = ft.familyWord(fields, i, &warns, &swallowed)
			i += skip
		case "src":
			var v string
			if v, err = need(); err == nil {
				if r.PrefSrc, err = parseAddr(v); err == nil {
					err = ft.set(famOf(r.PrefSrc), "src")
				}
			}
		case "via", "gw":
			if w == "gw" {
				warns = append(warns, `"gw" for routes is deprecated; use "via" (keepalived)`)
			}
			var v string
			if v, err = need(); err == nil {
				if v == "inet" || v == "inet6" {
					want := 4
					if v == "inet6" {
						want = 6
					}
					if err = ft.set(want, "via "+v); err != nil {
						break
					}
					if v, err = need(); err != nil {
						break
					}
				}
				if r.Via, err = parseAddr(v); err == nil {
					err = ft.set(famOf(r.Via), "via")
				}
			}
		case "tos", "dsfield":
			var v string
			if v, err = need(); err == nil {
				var n uint64
				if n, err = parseUint(v, 8); err != nil {
					err = fmt.Errorf("tos %q is not 0-255 (rt_dsfield names are not read)", v)
				}
				r.Tos = uint8(n)
			}
		case "table":
			var v string
			if v, err = need(); err == nil {
				r.Table, err = parseTable(v)
			}
		case "protocol":
			var v string
			if v, err = need(); err == nil {
				r.Protocol, err = parseProto(v)
				protoSet = true
			}
		case "scope":
			var v string
			if v, err = need(); err == nil {
				r.Scope, err = parseScope(v)
			}
		case "metric", "priority", "preference":
			var v string
			if v, err = need(); err == nil {
				var n uint64
				if n, err = strconv.ParseUint(v, 10, 32); err != nil {
					err = fmt.Errorf("metric %q is not an unsigned 32-bit number", v)
				}
				r.Metric, r.MetricSet = uint32(n), true
			}
		case "dev", "oif":
			r.Dev, err = need()
		case "onlink":
			r.OnLink = true
		case "realms":
			var v string
			if v, err = need(); err == nil {
				if r.Realms, err = parseRealms(v); err == nil {
					err = ft.set(4, "realms")
				}
			}
		case "mtu":
			r.MTU, r.MTULock, err = metric(w, true, u32)
		case "rto_min":
			r.RtoMin, r.RtoMinLock, err = metric(w, true, func(s string) (int, error) { return parseRTT(s, 1) })
		case "rtt":
			r.Rtt, _, err = metric(w, false, func(s string) (int, error) { return parseRTT(s, 8) })
		case "rttvar":
			r.RttVar, _, err = metric(w, false, func(s string) (int, error) { return parseRTT(s, 4) })
		case "advmss":
			r.AdvMSS, _, err = metric(w, false, u32)
		case "reordering":
			r.Reordering, _, err = metric(w, false, u32)
		case "cwnd":
			r.Cwnd, _, err = metric(w, false, u32)
		case "ssthresh":
			r.Ssthresh, _, err = metric(w, false, u32)
		case "hoplimit":
			r.Hoplimit, _, err = metric(w, false, func(s string) (int, error) {
				n, err := strconv.ParseUint(s, 10, 8)
				return int(n), err
			})
		case "window":
			r.Window, _, err = metric(w, false, u32)
		case "initcwnd":
			r.InitCwnd, _, err = metric(w, false, u32)
		case "initrwnd":
			r.InitRwnd, _, err = metric(w, false, u32)
		case "quickack", "fastopen_no_cookie":
			var v string
			if v, err = need(); err == nil {
				if v != "0" && v != "1" {
					err = fmt.Errorf("%s %q: want 0 or 1", w, v)
				} else if w == "quickack" {
					r.QuickACK, r.QuickACKSet = int(v[0]-'0'), true
				} else {
					r.FastOpenNoCookie, r.FastOpenNoCookieSet = int(v[0]-'0'), true
				}
			}
		case "congctl":
			var v string
			if v, err = need(); err == nil {
				if v == "lock" {
					err = fmt.Errorf("congctl lock is not supported by xvrrp's netlink library; remove lock")
				}
				r.Congctl = v
			}
		case "features":
			var v string
			if v, err = need(); err == nil && v != "ecn" {
				err = fmt.Errorf("features %q: keepalived supports only ecn", v)
			}
			r.FeatureECN = true
		case "add":
			r.Mode = RouteAddExcl
		case "prepend":
			r.Mode = RoutePrepend
		case "append":
			r.Mode = RouteAppend
		case "or":
			// keepalived's deprecated "via A or B": both become nexthops.
			warns = append(warns, `"or" for routes is deprecated; use "nexthop" (keepalived)`)
			var v string
			if v, err = need(); err == nil {
				if !r.Via.IsValid() {
					err = fmt.Errorf("\"or\" needs a via before it")
					break
				}
				if len(r.Nexthops) > 0 {
					err = fmt.Errorf("\"or\" given twice")
					break
				}
				var b netip.Addr
				if b, err = parseAddr(v); err == nil {
					if err = ft.set(famOf(b), "or"); err == nil {
						r.Nexthops = []Nexthop{{Via: r.Via}, {Via: b}}
						r.Via = netip.Addr{}
					}
				}
			}
		case "nexthop":
			if len(r.Nexthops) > 0 {
				return errf("cannot give nexthops with an \"or\" route")
			}
			if r.Nexthops, err = parseNexthops(fields[i:], &ft); err != nil {
				return errf("%v", err)
			}
			i = len(fields)
		case "no_track":
			r.NoTrack = true
		case "track_group":
			r.TrackGroup, err = need()
		case "from", "encap", "expires", "pref", "ttl-propagate", "vrf", "as":
			err = fmt.Errorf("%q is not supported by xvrrp (its netlink library cannot set it); remove it or keep this route on keepalived", w)
		default:
			if dstSeen {
				return errf("unknown route keyword %q", w)
			}
			if w == "to" {
				if w, err = need(); err != nil {
					break
				}
			}
			if t, ok := routeTypeNames[w]; ok {
				r.Type = t
				if w, err = need(); err != nil {
					break
				}
			}
			dstWord = w
			switch {
			case isAnyPrefix(w):
				// keepalived 2.2.7 compares the destination's family with
				// the one already fixed, and default/any/all have none:
				// "src 198.18.0.1 default" is "Cannot mix IPv4 and IPv6
				// addresses for route (default)". After it, via, src and
				// nexthops decide the family.
				if ft.family != 0 {
					err = fmt.Errorf("%s after the family is fixed (by inet/inet6 or an address before it): keepalived 2.2.7 refuses it (\"Cannot mix IPv4 and IPv6 addresses for route (%s)\"); put %s first", w, w, w)
					break
				}
				dstSeen, dstAny = true, true
			case w == "default6":
				warns = append(warns, default6Warning)
				r.Dst, dstSeen = anyPrefix(6), true
				err = ft.set(6, w)
			default:
				if r.Dst, err = parseRoutePrefix(w, ft.family); err != nil {
					err = fmt.Errorf("unknown route keyword or bad destination: %v", err)
					break
				}
				dstSeen, dstAny = true, false
				err = ft.set(famOf(r.Dst.Addr()), "destination "+w)
			}
		}
		if err != nil {
			return errf("%v", err)
		}
	}
	if !dstSeen {
		return errf("route must have a destination")
	}
	if dstAny {
		// keepalived 2.2.7 (alloc_route, "Check that family is set"): the
		// family the rest of the line gave, IPv4 when nothing did.
		r.Dst = anyPrefix(ft.family)
	}
	if r.Dst.Addr().Is6() && r.Realms != 0 {
		return errf("realms are IPv4 only")
	}
	if !r.NoTrack {
		// keepalived tracks its routes by protocol: a tracked route is
		// always RTPROT_KEEPALIVED (it warns and resets any other).
		if protoSet && r.Protocol != ProtoKeepalived {
			warns = append(warns, fmt.Sprintf("protocol %d reset to keepalived(18): a tracked route is recognised by its protocol (keepalived); give no_track to keep another", r.Protocol))
		}
		r.Protocol = ProtoKeepalived
		// keepalived 2.2.7 alloc_route tracks a route through its top-level
		// dev/oif only (a nexthop's dev does not count, nor does a type that
		// needs no device): without one the route is installed but not
		// tracked, as if no_track were given. (keepalived 2.3.2 lifted this.)
		if r.Dev == "" {
			warns = append(warns, fmt.Sprintf("cannot track route %s with no interface specified, not tracking (keepalived 2.2.7; give dev to track it)", dstWord))
			r.NoTrack = true
		}
	} else if !protoSet {
		r.Protocol = ProtoKeepalived
	}
	if r.TrackGroup != "" && r.Dev == "" {
		// keepalived logs this, drops the track_group and keeps the route.
		warns = append(warns, fmt.Sprintf("static route cannot have track group if no oif specified; track_group %s dropped, as keepalived drops it", r.TrackGroup))
		r.TrackGroup = ""
	}
	return r, warns, nil
}

func parseNexthops(fields []string, ft *famTracker) ([]Nexthop, error) {
	var out []Nexthop
	i := 0
	for i < len(fields) && fields[i] == "nexthop" {
		i++
		var nh Nexthop
	words:
		for ; i < len(fields); i++ {
			w := fields[i]
			need := func() (string, error) {
				if i+1 >= len(fields) {
					return "", fmt.Errorf("nexthop %q needs a value", w)
				}
				i++
				return fields[i], nil
			}
			var err error
			switch w {
			case "via":
				var v string
				if v, err = need(); err == nil {
					if v == "inet" || v == "inet6" {
						if err = ft.set(map[string]int{"inet": 4, "inet6": 6}[v], "nexthop via "+v); err != nil {
							break
						}
						if v, err = need(); err != nil {
							break
						}
					}
					if nh.Via, err = parseAddr(v); err == nil {
						err = ft.set(famOf(nh.Via), "nexthop via")
					}
				}
			case "dev":
				nh.Dev, err = need()
			case "weight":
				var v string
				if v, err = need(); err == nil {
					n, perr := strconv.ParseUint(v, 10, 16)
					if perr != nil || n < 1 || n > 256 {
						err = fmt.Errorf("nexthop weight %q: want 1-256", v)
					}
					nh.Weight = int(n)
				}
			case "onlink":
				nh.OnLink = true
			case "realms":
				var v string
				if v, err = need(); err == nil {
					if nh.Realms, err = parseRealms(v); err == nil {
						err = ft.set(4, "nexthop realms")
					}
				}
			case "encap", "as":
				err = fmt.Errorf("nexthop %q is not supported by xvrrp", w)
			default:
				break words
			}
			if err != nil {
				return nil, err
			}
		}
		if !nh.Via.IsValid() && nh.Dev == "" {
			return nil, fmt.Errorf("nexthop needs via or dev")
		}
		out = append(out, nh)
	}
	if i < len(fields) {
		return nil, fmt.Errorf("trailing words after nexthops: %q (keepalived: nexthops come last)", strings.Join(fields[i:], " "))
	}
	return out, nil
}
