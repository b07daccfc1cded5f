package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ObjectError is the failure of one route, rule or address of a set.
type ObjectError struct {
	Index  int    // position in the slice passed in
	Object string // the object in keepalived syntax
	Err    error
}

func (e ObjectError) Error() string { return e.Object + ": " + e.Err.Error() }
func (e ObjectError) Unwrap() error { return e.Err }

// SetErrors lists the objects of a set that failed; the others were
// applied. Set operations return nil rather than an empty SetErrors.
type SetErrors []ObjectError

func (s SetErrors) Error() string {
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (s SetErrors) orNil() error {
	if len(s) == 0 {
		return nil
	}
	return s
}

// RouteManager adds and removes routes and policy rules through netlink, in
// the network namespace current on the calling thread when NewRouteManager
// ran.
type RouteManager struct {
	h *netlink.Handle
}

// NewRouteManager opens a netlink handle in the calling thread's namespace.
func NewRouteManager() (*RouteManager, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink handle for routes: %w", err)
	}
	return &RouteManager{h: h}, nil
}

// Close releases the handle.
func (m *RouteManager) Close() error {
	m.h.Close()
	return nil
}

func ipnet(p netip.Prefix) *net.IPNet {
	a := p.Addr()
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

func family(is6 bool) int {
	if is6 {
		return netlink.FAMILY_V6
	}
	return netlink.FAMILY_V4
}

func (m *RouteManager) ifindex(name string) (int, error) {
	l, err := m.h.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	return l.Attrs().Index, nil
}

// nlRoute renders r as the netlink request keepalived's netlink_route sends.
func (m *RouteManager) nlRoute(r Route) (*netlink.Route, error) {
	nr := &netlink.Route{
		Family:   family(r.Is6()),
		Dst:      ipnet(r.Dst),
		Table:    int(r.Table),
		Scope:    netlink.Scope(r.Scope),
		Protocol: netlink.RouteProtocol(r.Protocol),
		Type:     int(r.Type),
		Tos:      int(r.Tos),
		Realm:    int(r.Realms),
		MTU:      r.MTU, MTULock: r.MTULock, AdvMSS: r.AdvMSS, Hoplimit: r.Hoplimit,
		Rtt: r.Rtt, RttVar: r.RttVar, Reordering: r.Reordering, Window: r.Window,
		Cwnd: r.Cwnd, Ssthresh: r.Ssthresh, RtoMin: r.RtoMin, RtoMinLock: r.RtoMinLock,
		InitCwnd: r.InitCwnd, InitRwnd: r.InitRwnd, Congctl: r.Congctl,
	}
	if r.MetricSet {
		nr.Priority = int(r.Metric)
	}
	if r.PrefSrc.IsValid() {
		nr.Src = net.IP(r.PrefSrc.AsSlice())
	}
	if r.Via.IsValid() {
		nr.Gw = net.IP(r.Via.AsSlice())
	}
	if r.OnLink {
		nr.Flags |= unix.RTNH_F_ONLINK
	}
	if r.FeatureECN {
		nr.Features = unix.RTAX_FEATURE_ECN
	}
	if r.QuickACKSet {
		// The library sends RTAX_QUICKACK only when non-zero; 0 is the
		// kernel's default, so an explicit 0 changes nothing.
		nr.QuickACK = r.QuickACK
	}
	if r.FastOpenNoCookieSet {
		nr.FastOpenNoCookie = r.FastOpenNoCookie
	}
	if r.Dev != "" {
		idx, err := m.ifindex(r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = idx
	}
	for _, nh := range r.Nexthops {
		ni := &netlink.NexthopInfo{}
		if nh.Via.IsValid() {
			ni.Gw = net.IP(nh.Via.AsSlice())
		}
		if nh.Dev != "" {
			idx, err := m.ifindex(nh.Dev)
			if err != nil {
				return nil, err
			}
			ni.LinkIndex = idx
		}
		if nh.Weight > 0 {
			ni.Hops = nh.Weight - 1 // rtnh_hops is weight-1
		}
		if nh.OnLink {
			ni.Flags |= unix.RTNH_F_ONLINK
		}
		if nh.Realms != 0 {
			return nil, fmt.Errorf("nexthop realms are not supported by xvrrp's netlink library")
		}
		nr.MultiPath = append(nr.MultiPath, ni)
	}
	return nr, nil
}

// AddRoute installs r. It is idempotent: a route already present (EEXIST with
// the same route found in the table) succeeds, as the engine re-adds on every
// MASTER entry. The add mode is keepalived's: prepend unless add or append.
func (m *RouteManager) AddRoute(r Route) error {
	nr, err := m.nlRoute(r)
	if err != nil {
		return err
	}
	switch r.Mode {
	case RouteAddExcl:
		err = m.h.RouteAdd(nr)
	case RouteAppend:
		err = m.h.RouteAppend(nr)
	default:
		// NLM_F_CREATE alone: the kernel's (and keepalived's) prepend.
		err = m.h.RouteAddEcmp(nr)
	}
	if errors.Is(err, unix.EEXIST) {
		if ok, perr := m.RoutePresent(r); perr == nil && ok {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("add route %s: %w", r, err)
	}
	return nil
}

// RemoveRoute deletes r; a route or device that is already gone succeeds
// (BACKUP, FAULT and stop all remove, and an operator may have been first).
func (m *RouteManager) RemoveRoute(r Route) error {
	nr, err := m.nlRoute(r)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	if err := m.h.RouteDel(nr); err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return fmt.Errorf("remove route %s: %w", r, err)
	}
	return nil
}

// AddRoutes adds every route; one failing does not stop the others.
func (m *RouteManager) AddRoutes(rs []Route) error {
	var errs SetErrors
	for i, r := range rs {
		if err := m.AddRoute(r); err != nil {
			errs = append(errs, ObjectError{i, r.String(), err})
		}
	}
	return errs.orNil()
}

// RemoveRoutes removes every route; one failing does not stop the others.
func (m *RouteManager) RemoveRoutes(rs []Route) error {
	var errs SetErrors
	for i, r := range rs {
		if err := m.RemoveRoute(r); err != nil {
			errs = append(errs, ObjectError{i, r.String(), err})
		}
	}
	return errs.orNil()
}

// defaultMetric is the metric the kernel gives a route added without one:
// 0 for IPv4, IP6_RT_PRIO_USER (1024) for IPv6.
func defaultMetric(is6 bool) int {
	if is6 {
		return 1024
	}
	return 0
}

// RoutePresent reports whether r is in its table: same destination, type,
// tos, metric, protocol and, when r names them, gateway, device and number
// of nexthops.
func (m *RouteManager) RoutePresent(r Route) (bool, error) {
	list, err := m.h.RouteListFiltered(family(r.Is6()), &netlink.Route{Table: int(r.Table)}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return false, fmt.Errorf("list routes of table %d: %w", r.Table, err)
	}
	return m.routeIn(r, list), nil
}

func (m *RouteManager) routeIn(r Route, list []netlink.Route) bool {
	want := ipnet(r.Dst)
	metric := defaultMetric(r.Is6())
	if r.MetricSet && r.Metric != 0 {
		metric = int(r.Metric)
	}
	dev := 0
	if r.Dev != "" {
		var err error
		if dev, err = m.ifindex(r.Dev); err != nil {
			return false
		}
	}
	for _, k := range list {
		dst := k.Dst
		if dst == nil {
			dst = ipnet(netip.PrefixFrom(netip.IPv4Unspecified(), 0))
			if r.Is6() {
				dst = ipnet(netip.PrefixFrom(netip.IPv6Unspecified(), 0))
			}
		}
		if dst.String() != want.String() || k.Type != int(r.Type) || k.Tos != int(r.Tos) ||
			k.Priority != metric || uint8(k.Protocol) != r.Protocol {
			continue
		}
		if r.Via.IsValid() && !k.Gw.Equal(net.IP(r.Via.AsSlice())) {
			continue
		}
		if dev != 0 && k.LinkIndex != dev {
			continue
		}
		if len(r.Nexthops) > 0 && len(k.MultiPath) != len(r.Nexthops) {
			continue
		}
		return true
	}
	return false
}

// nlRule renders r as keepalived's netlink_rule request.
func nlRule(r Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = family(r.Is6())
	if r.From.IsValid() {
		nr.Src = ipnet(r.From)
	}
	if r.To.IsValid() {
		nr.Dst = ipnet(r.To)
	}
	nr.Type = uint8(r.Action)
	switch r.Action {
	case RuleToTable:
		nr.Table = int(r.Table)
	case RuleGoto:
		nr.Goto = int(r.Goto)
	}
	if r.PrioritySet {
		nr.Priority = int(r.Priority)
	}
	nr.Invert = r.Invert
	nr.Tos = uint(r.Tos)
	if r.FwMarkSet {
		nr.Mark = r.FwMark
	}
	if r.FwMaskSet {
		mask := r.FwMask
		nr.Mask = &mask
	}
	if r.Realms != 0 {
		nr.Flow = int(r.Realms)
	}
	nr.SuppressPrefixlen = r.SuppressPrefixLen
	if r.SuppressIfGroupOK {
		nr.SuppressIfgroup = int(r.SuppressIfGroup)
	}
	nr.IifName, nr.OifName = r.Iif, r.Oif
	if r.UIDRange != nil {
		nr.UIDRange = netlink.NewRuleUIDRange(r.UIDRange.Start, r.UIDRange.End)
	}
	nr.Protocol = r.Protocol
	nr.IPProto = int(r.IPProto)
	if r.SPort != nil {
		nr.Sport = netlink.NewRulePortRange(r.SPort.Start, r.SPort.End)
	}
	if r.DPort != nil {
		nr.Dport = netlink.NewRulePortRange(r.DPort.Start, r.DPort.End)
	}
	return nr
}

// AddRule installs r; a rule already present (EEXIST: keepalived adds rules
// with NLM_F_EXCL) succeeds.
func (m *RouteManager) AddRule(r Rule) error {
	if err := m.h.RuleAdd(nlRule(r)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add rule %s: %w", r, err)
	}
	return nil
}

// RemoveRule deletes r; a rule already gone succeeds.
func (m *RouteManager) RemoveRule(r Rule) error {
	if err := m.h.RuleDel(nlRule(r)); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove rule %s: %w", r, err)
	}
	return nil
}

// AddRules adds every rule; one failing does not stop the others.
func (m *RouteManager) AddRules(rs []Rule) error {
	var errs SetErrors
	for i, r := range rs {
		if err := m.AddRule(r); err != nil {
			errs = append(errs, ObjectError{i, r.String(), err})
		}
	}
	return errs.orNil()
}

// RemoveRules removes every rule; one failing does not stop the others.
func (m *RouteManager) RemoveRules(rs []Rule) error {
	var errs SetErrors
	for i, r := range rs {
		if err := m.RemoveRule(r); err != nil {
			errs = append(errs, ObjectError{i, r.String(), err})
		}
	}
	return errs.orNil()
}

// RulePresent reports whether r is installed: same preference, action,
// table or goto target, selectors and protocol.
func (m *RouteManager) RulePresent(r Rule) (bool, error) {
	list, err := m.h.RuleList(family(r.Is6()))
	if err != nil {
		return false, fmt.Errorf("list rules: %w", err)
	}
	return ruleIn(r, list), nil
}

func prefixEq(p netip.Prefix, n *net.IPNet) bool {
	if !p.IsValid() || p.Bits() == 0 {
		return n == nil || n.IP == nil || func() bool { o, _ := n.Mask.Size(); return o == 0 }()
	}
	return n != nil && n.String() == ipnet(p).String()
}

func ruleIn(r Rule, list []netlink.Rule) bool {
	for _, k := range list {
		if r.PrioritySet && k.Priority != int(r.Priority) {
			continue
		}
		if !prefixEq(r.From, k.Src) || !prefixEq(r.To, k.Dst) {
			continue
		}
		if k.Protocol != r.Protocol || k.Invert != r.Invert || k.IifName != r.Iif || k.OifName != r.Oif ||
			k.Tos != uint(r.Tos) || (r.FwMarkSet && k.Mark != r.FwMark) {
			continue
		}
		switch r.Action {
		case RuleToTable:
			if k.Table != int(r.Table) {
				continue
			}
		case RuleGoto:
			if k.Goto != int(r.Goto) {
				continue
			}
		default:
			if k.Type != uint8(r.Action) {
				continue
			}
		}
		return true
	}
	return false
}

// Lost is a tracked route or rule found missing after a netlink deletion
// notification: keepalived treats it as a fault of the owning instance
// (unless no_track, which is never tracked).
type Lost struct {
	Owner string // as passed to Track
	Route *Route // exactly one of Route and Rule is set
	Rule  *Rule
}

// RouteWatcher reports tracked routes and rules that disappear behind the
// daemon's back. It listens to the rtnetlink route and rule groups; a
// deletion (or a lost notification, ENOBUFS) makes it check every tracked
// object of that kind against the kernel's tables, so what it reports is
// what is really missing, not what a message seemed to say.
//
// The daemon must Untrack an owner before removing its routes itself
// (BACKUP, FAULT, stop), or its own removal is reported.
type RouteWatcher struct {
	m      *RouteManager
	sock   *nl.NetlinkSocket
	lost   chan Lost
	done   chan struct{}
	mu     sync.Mutex
	routes map[string][]Route
	rules  map[string][]Rule
	// reported keeps a lost object from being reported again on every
	// later deletion until it is tracked anew.
	reported map[string]bool
}

// NewRouteWatcher subscribes in the calling thread's namespace. Lost
// objects arrive on Lost(); the channel is closed by Close.
func NewRouteWatcher() (*RouteWatcher, error) {
	m, err := NewRouteManager()
	if err != nil {
		return nil, err
	}
	s, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE,
		unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("subscribe to route and rule notifications: %w", err)
	}
	w := &RouteWatcher{m: m, sock: s, lost: make(chan Lost, 64), done: make(chan struct{}),
		routes: map[string][]Route{}, rules: map[string][]Rule{}, reported: map[string]bool{}}
	go w.run()
	return w, nil
}

// Lost delivers missing tracked objects.
func (w *RouteWatcher) Lost() <-chan Lost { return w.lost }

// Track replaces owner's tracked routes and rules; entries with NoTrack are
// left out (keepalived: no fault, not reinstated until the next MASTER).
func (w *RouteWatcher) Track(owner string, routes []Route, rules []Rule) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var rs []Route
	for _, r := range routes {
		if !r.NoTrack {
			rs = append(rs, r)
			delete(w.reported, owner+"\x00route\x00"+r.String())
		}
	}
	var ru []Rule
	for _, r := range rules {
		if !r.NoTrack {
			ru = append(ru, r)
			delete(w.reported, owner+"\x00rule\x00"+r.String())
		}
	}
	w.routes[owner], w.rules[owner] = rs, ru
}

// Untrack stops watching owner's objects.
func (w *RouteWatcher) Untrack(owner string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.routes, owner)
	delete(w.rules, owner)
}

// Close stops the watcher and closes Lost.
func (w *RouteWatcher) Close() error {
	close(w.done)
	w.sock.Close()
	return nil
}

func (w *RouteWatcher) run() {
	defer close(w.lost)
	defer w.m.Close()
	for {
		msgs, from, err := w.sock.Receive()
		if err != nil {
			select {
			case <-w.done:
				return
			default:
			}
			if errors.Is(err, unix.ENOBUFS) {
				// Notifications were dropped: check everything.
				w.check(true, true)
				continue
			}
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if from.Pid != nl.PidKernel {
			continue
		}
		var routes, rules bool
		for _, msg := range msgs {
			switch msg.Header.Type {
			case unix.RTM_DELROUTE:
				routes = true
			case unix.RTM_DELRULE:
				rules = true
			}
		}
		w.check(routes, rules)
	}
}

func (w *RouteWatcher) check(routes, rules bool) {
	type item struct {
		owner string
		route *Route
		rule  *Rule
		key   string
	}
	var missing []item
	w.mu.Lock()
	if routes {
		for owner, rs := range w.routes {
			for i := range rs {
				r := rs[i]
				key := owner + "\x00route\x00" + r.String()
				if w.reported[key] {
					continue
				}
				if ok, err := w.m.RoutePresent(r); err == nil && !ok {
					w.reported[key] = true
					missing = append(missing, item{owner, &r, nil, key})
				}
			}
		}
	}
	if rules {
		for owner, rs := range w.rules {
			for i := range rs {
				r := rs[i]
				key := owner + "\x00rule\x00" + r.String()
				if w.reported[key] {
					continue
				}
				if ok, err := w.m.RulePresent(r); err == nil && !ok {
					w.reported[key] = true
					missing = append(missing, item{owner, nil, &r, key})
				}
			}
		}
	}
	w.mu.Unlock()
	for _, it := range missing {
		select {
		case w.lost <- Lost{Owner: it.owner, Route: it.route, Rule: it.rule}:
		case <-w.done:
			return
		}
	}
}
