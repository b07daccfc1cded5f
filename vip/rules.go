package vip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// RuleAction is a policy rule's action (linux/fib_rules.h, FR_ACT_*).
type RuleAction uint8

const (
	RuleToTable     RuleAction = 1 // table/lookup
	RuleGoto        RuleAction = 2
	RuleNop         RuleAction = 3
	RuleBlackhole   RuleAction = 6
	RuleUnreachable RuleAction = 7
	RuleProhibit    RuleAction = 8
)

// RuleStartPriority is where keepalived starts numbering rules given without
// a preference, counting down per family in configuration order
// (vrrp_iprule.c, RULE_START_PRIORITY).
const RuleStartPriority = 16384

// PortRange is an inclusive port range (FRA_SPORT_RANGE/FRA_DPORT_RANGE).
type PortRange struct{ Start, End uint16 }

// UIDRange is an inclusive uid range (FRA_UID_RANGE).
type UIDRange struct{ Start, End uint32 }

// Rule is one line of keepalived's virtual_rules or static_rules block.
type Rule struct {
	Family int          // 4 or 6; keepalived: IPv4 unless something says IPv6
	From   netip.Prefix // invalid: all
	To     netip.Prefix
	Action RuleAction
	Table  uint32 // RuleToTable
	Goto   uint32 // RuleGoto: target preference, which must exceed Priority
	// Priority is the preference; PrioritySet false means none was given,
	// and RulePriorities gives it keepalived's.
	Priority    uint32
	PrioritySet bool
	Invert      bool // "not"
	Tos         uint8
	FwMark      uint32
	FwMask      uint32
	FwMarkSet   bool
	FwMaskSet   bool
	Realms      uint32
	// SuppressPrefixLen is -1 when not given.
	SuppressPrefixLen int
	SuppressIfGroup   uint32
	SuppressIfGroupOK bool
	Iif, Oif          string // "dev"/"iif", "oif"
	UIDRange          *UIDRange
	Protocol          uint8 // ProtoKeepalived for every tracked rule
	IPProto           uint8
	SPort, DPort      *PortRange
	NoTrack           bool
	TrackGroup        string
}

// Is6 reports whether r is an IPv6 rule.
func (r Rule) Is6() bool { return r.Family == 6 }

var ipProtoNames = map[string]uint8{"icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132}

func parsePortRange(s string) (*PortRange, error) {
	a, b, dash := strings.Cut(s, "-")
	x, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port range %q: want N or N-M", s)
	}
	y := x
	if dash {
		if y, err = strconv.ParseUint(b, 10, 16); err != nil || y < x {
			return nil, fmt.Errorf("port range %q: want N or N-M with N <= M", s)
		}
	}
	return &PortRange{uint16(x), uint16(y)}, nil
}

// ParseRule parses one virtual_rules / static_rules entry split into words,
// with keepalived 2.2's grammar (vrrp_iprule.c, alloc_rule):
//
//	[inet|inet6] [not] [from PREFIX] [to PREFIX] [table|lookup T]
//	[preference|order|priority N] [tos|dsfield N] [fwmark N[/M]] [realms R]
//	[suppress_prefixlength|sup_pl N] [suppress_ifgroup|sup_group N]
//	[dev|iif IF] [oif IF] [uidrange A-B] [protocol P] [ipproto P]
//	[sport A[-B]] [dport A[-B]] [[type] goto N|nop|blackhole|unreachable|prohibit]
//	[no_track] [track_group G]
//
// Exactly one action is required. Tracked rules get protocol keepalived as
// keepalived does. A rule without a preference keeps PrioritySet false; a
// RulePriorities shared by the whole configuration numbers it as keepalived
// does. l3mdev and tunnel-id are errors (xvrrp's netlink library
// cannot express them).
func ParseRule(fields []string) (Rule, []string, error) {
	r := Rule{SuppressPrefixLen: -1}
	var warns []string
	what := "rule " + strings.Join(fields, " ")
	var ft famTracker
	swallowed := "" // set when inet/inet6 stepped over a word: the usual cause of an error after it
	protoSet, tableOption := false, false
	errf := func(format string, a ...any) (Rule, []string, error) {
		return Rule{}, nil, fmt.Errorf("%s: %s%s", what, fmt.Sprintf(format, a...), swallowed)
	}
	setAction := func(a RuleAction) error {
		if r.Action != 0 {
			return fmt.Errorf("more than one of table/goto/nop/blackhole/prohibit/unreachable")
		}
		r.Action = a
		return nil
	}
	for i := 0; i < len(fields); i++ {
		w := fields[i]
		need := func() (string, error) {
			if i+1 >= len(fields) {
				return "", fmt.Errorf("%q needs a value", w)
			}
			i++
			return fields[i], nil
		}
		var err error
		var v string
		switch w {
		case "inet", "inet6":
			var skip int
			skip, err = ft.familyWord(fields, i, &warns, &swallowed)
			i += skip
		case "from", "to":
			if v, err = need(); err != nil {
				break
			}
			var p netip.Prefix
			if p, err = parseRoutePrefix(v, ft.family); err != nil {
				break
			}
			switch {
			case isAnyPrefix(v):
				// keepalived 2.2.7 alloc_rule: default/any/all have no
				// family, and one already fixed does not match it ("rule
				// specification has mixed IPv4 and IPv6"); later
				// addresses decide it.
				if ft.family != 0 {
					err = fmt.Errorf("%s %s after the family is fixed (by inet/inet6 or an address before it): keepalived 2.2.7 refuses it (\"rule specification has mixed IPv4 and IPv6\"); put it first", w, v)
				}
			case v == "default6":
				warns = append(warns, default6Warning)
				err = ft.set(6, w+" "+v)
			default:
				err = ft.set(famOf(p.Addr()), w+" "+v)
			}
			if w == "from" {
				r.From = p
			} else {
				r.To = p
			}
		case "table", "lookup":
			if v, err = need(); err != nil {
				break
			}
			if r.Table, err = parseTable(v); err == nil {
				if r.Table == 0 {
					err = fmt.Errorf("table 0 is not valid")
				} else {
					err = setAction(RuleToTable)
				}
			}
		case "not":
			r.Invert = true
		case "preference", "order", "priority":
			if v, err = need(); err != nil {
				break
			}
			var n uint64
			if n, err = parseUint(v, 32); err != nil {
				err = fmt.Errorf("preference %q is not an unsigned 32-bit number", v)
			}
			r.Priority, r.PrioritySet = uint32(n), true
		case "tos", "dsfield":
			if v, err = need(); err != nil {
				break
			}
			var n uint64
			if n, err = parseUint(v, 8); err != nil {
				err = fmt.Errorf("tos %q is not 0-255 (rt_dsfield names are not read)", v)
			}
			r.Tos = uint8(n)
		case "fwmark":
			if v, err = need(); err != nil {
				break
			}
			m, mask, hasMask := strings.Cut(v, "/")
			var n uint64
			if n, err = parseUint(m, 32); err != nil {
				err = fmt.Errorf("fwmark %q: want N or N/MASK", v)
				break
			}
			r.FwMark, r.FwMarkSet = uint32(n), true
			if hasMask {
				if n, err = parseUint(mask, 32); err != nil {
					err = fmt.Errorf("fwmark %q: want N or N/MASK", v)
					break
				}
				r.FwMask, r.FwMaskSet = uint32(n), true
			}
		case "realms":
			if v, err = need(); err != nil {
				break
			}
			if r.Realms, err = parseRealms(v); err == nil {
				tableOption = true
				err = ft.set(4, "realms")
			}
		case "suppress_prefixlength", "sup_pl":
			if v, err = need(); err != nil {
				break
			}
			var n uint64
			if n, err = strconv.ParseUint(v, 10, 31); err != nil {
				err = fmt.Errorf("%s %q is not a number", w, v)
			}
			r.SuppressPrefixLen, tableOption = int(n), true
		case "suppress_ifgroup", "sup_group":
			if v, err = need(); err != nil {
				break
			}
			var n uint64
			if n, err = parseUint(v, 32); err != nil {
				err = fmt.Errorf("%s %q: give the group number (group names are not read)", w, v)
			}
			r.SuppressIfGroup, r.SuppressIfGroupOK, tableOption = uint32(n), true, true
		case "dev", "iif":
			r.Iif, err = need()
		case "oif":
			r.Oif, err = need()
		case "uidrange":
			if v, err = need(); err != nil {
				break
			}
			a, b, ok := strings.Cut(v, "-")
			x, e1 := strconv.ParseUint(a, 10, 32)
			y, e2 := strconv.ParseUint(b, 10, 32)
			if !ok || e1 != nil || e2 != nil {
				err = fmt.Errorf("uidrange %q: want START-END", v)
				break
			}
			r.UIDRange = &UIDRange{uint32(x), uint32(y)}
		case "protocol":
			if v, err = need(); err != nil {
				break
			}
			r.Protocol, err = parseProto(v)
			protoSet = true
		case "ipproto":
			if v, err = need(); err != nil {
				break
			}
			if p, ok := ipProtoNames[strings.ToLower(v)]; ok {
				r.IPProto = p
			} else {
				var n uint64
				if n, err = strconv.ParseUint(v, 10, 8); err != nil {
					err = fmt.Errorf("ipproto %q is not a protocol number or name", v)
				}
				r.IPProto = uint8(n)
			}
		case "sport":
			if v, err = need(); err == nil {
				r.SPort, err = parsePortRange(v)
			}
		case "dport":
			if v, err = need(); err == nil {
				r.DPort, err = parsePortRange(v)
			}
		case "no_track":
			r.NoTrack = true
		case "track_group":
			r.TrackGroup, err = need()
		case "l3mdev", "tunnel-id":
			err = fmt.Errorf("%q is not supported by xvrrp (its netlink library cannot set it); remove it or keep this rule on keepalived", w)
		default:
			if w == "type" {
				if w, err = need(); err != nil {
					break
				}
			}
			switch w {
			case "goto":
				if v, err = need(); err != nil {
					break
				}
				var n uint64
				if n, err = parseUint(v, 32); err != nil {
					err = fmt.Errorf("goto %q is not a preference number", v)
					break
				}
				r.Goto = uint32(n)
				err = setAction(RuleGoto)
			case "nop":
				err = setAction(RuleNop)
			case "blackhole":
				err = setAction(RuleBlackhole)
			case "unreachable":
				err = setAction(RuleUnreachable)
			case "prohibit":
				err = setAction(RuleProhibit)
			default:
				err = fmt.Errorf("unknown rule option %q", w)
			}
		}
		if err != nil {
			return errf("%v", err)
		}
	}
	if r.Action == RuleGoto {
		if !r.PrioritySet {
			return errf("goto %d without a preference", r.Goto)
		}
		if r.Priority >= r.Goto {
			return errf("preference %d >= goto target %d", r.Priority, r.Goto)
		}
	}
	if r.Action == 0 {
		return errf("no action: give table, goto, nop, blackhole, unreachable or prohibit")
	}
	if r.Action != RuleToTable && tableOption {
		return errf("realms/suppress_prefixlength/suppress_ifgroup need a table action")
	}
	if r.TrackGroup != "" && r.Iif == "" {
		// keepalived logs this, drops the track_group and keeps the rule.
		warns = append(warns, fmt.Sprintf("static rule cannot have track_group if dev/iif not specified; track_group %s dropped, as keepalived drops it", r.TrackGroup))
		r.TrackGroup = ""
	}
	if !r.NoTrack {
		if protoSet && r.Protocol != ProtoKeepalived {
			warns = append(warns, fmt.Sprintf("protocol %d reset to keepalived(18): a tracked rule is recognised by its protocol (keepalived); give no_track to keep another", r.Protocol))
		}
		r.Protocol = ProtoKeepalived
	}
	r.Family = ft.family
	if r.Family == 0 {
		r.Family = 4
	}
	// default/any/all take the rule's family (keepalived 2.2.7 alloc_rule,
	// after the loop).
	for _, p := range []*netip.Prefix{&r.From, &r.To} {
		if p.IsValid() && p.Bits() == 0 && famOf(p.Addr()) != r.Family {
			*p = anyPrefix(r.Family)
		}
	}
	return r, warns, nil
}

// RulePriorities gives each rule without a preference keepalived's:
// RuleStartPriority counting down, separately for IPv4 and IPv6, in the
// order the rules are read (vrrp_iprule.c numbers them while parsing,
// static_rules and every instance's virtual_rules together, and starts again
// on each reload). The zero value starts at RuleStartPriority.
type RulePriorities struct {
	given4, given6 uint32 // numbers handed out so far
}

// Assign numbers r if it has no preference and returns keepalived's warning
// for it ("probably not what you want"), or "" when r had one.
func (n *RulePriorities) Assign(r *Rule) string {
	if r.PrioritySet {
		return ""
	}
	c := &n.given4
	if r.Is6() {
		c = &n.given6
	}
	r.Priority, r.PrioritySet = RuleStartPriority-*c, true
	*c++
	return fmt.Sprintf("rule has no preference; set to %d, which is probably not what you want (keepalived)", r.Priority)
}

// String renders r in keepalived's syntax (format_rule); ParseRule of its
// fields gives r back, except for an IPv6 rule with neither from nor to,
// which keepalived too renders with a leading inet6 that its own parser
// would step over together with the word after it.
func (r Rule) String() string {
	var w []string
	add := func(s ...string) { w = append(w, s...) }
	if r.Is6() && !r.From.IsValid() && !r.To.IsValid() {
		add("inet6")
	}
	if r.Invert {
		add("not")
	}
	if r.From.IsValid() {
		add("from", r.From.String())
	}
	if r.To.IsValid() {
		add("to", r.To.String())
	}
	switch r.Action {
	case RuleToTable:
		add("table", fmt.Sprint(r.Table))
	case RuleGoto:
		add("goto", fmt.Sprint(r.Goto))
	case RuleNop:
		add("nop")
	case RuleBlackhole:
		add("blackhole")
	case RuleUnreachable:
		add("unreachable")
	case RuleProhibit:
		add("prohibit")
	}
	if r.PrioritySet {
		add("preference", fmt.Sprint(r.Priority))
	}
	if r.Tos != 0 {
		add("tos", fmt.Sprint(r.Tos))
	}
	if r.FwMarkSet {
		m := fmt.Sprint(r.FwMark)
		if r.FwMaskSet {
			m += "/" + fmt.Sprint(r.FwMask)
		}
		add("fwmark", m)
	}
	if r.Realms != 0 {
		add("realms", formatRealms(r.Realms))
	}
	if r.SuppressPrefixLen >= 0 {
		add("suppress_prefixlength", fmt.Sprint(r.SuppressPrefixLen))
	}
	if r.SuppressIfGroupOK {
		add("suppress_ifgroup", fmt.Sprint(r.SuppressIfGroup))
	}
	if r.Iif != "" {
		add("iif", r.Iif)
	}
	if r.Oif != "" {
		add("oif", r.Oif)
	}
	if r.UIDRange != nil {
		add("uidrange", fmt.Sprintf("%d-%d", r.UIDRange.Start, r.UIDRange.End))
	}
	if r.NoTrack && r.Protocol != 0 {
		add("protocol", fmt.Sprint(r.Protocol))
	}
	if r.IPProto != 0 {
		add("ipproto", fmt.Sprint(r.IPProto))
	}
	if r.SPort != nil {
		add("sport", fmt.Sprintf("%d-%d", r.SPort.Start, r.SPort.End))
	}
	if r.DPort != nil {
		add("dport", fmt.Sprintf("%d-%d", r.DPort.Start, r.DPort.End))
	}
	if r.NoTrack {
		add("no_track")
	}
	if r.TrackGroup != "" {
		add("track_group", r.TrackGroup)
	}
	return strings.Join(w, " ")
}
