package vip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Scope is an address scope as iproute2 names them (rt_scopes).
type Scope uint8

// Address scopes (linux/rtnetlink.h, enum rt_scope_t).
const (
	ScopeGlobal  Scope = 0
	ScopeSite    Scope = 200
	ScopeLink    Scope = 253
	ScopeHost    Scope = 254
	ScopeNowhere Scope = 255
)

var scopeNames = map[string]Scope{
	"global":   ScopeGlobal,
	"universe": ScopeGlobal,
	"site":     ScopeSite,
	"link":     ScopeLink,
	"host":     ScopeHost,
	"nowhere":  ScopeNowhere,
}

func (s Scope) String() string {
	switch s {
	case ScopeGlobal:
		return "global"
	case ScopeSite:
		return "site"
	case ScopeLink:
		return "link"
	case ScopeHost:
		return "host"
	case ScopeNowhere:
		return "nowhere"
	}
	return strconv.Itoa(int(s))
}

// PreferredForever is the preferred_lft value meaning "forever".
const PreferredForever = ^uint32(0)

// maxLabelLen is IFNAMSIZ-1: the kernel stores IFA_LABEL in an interface-name
// sized buffer.
const maxLabelLen = 15

// VIP is one line of keepalived's virtual_ipaddress (or
// virtual_ipaddress_excluded) block.
type VIP struct {
	// Prefix is the address with its prefix length; /32 or /128 when the
	// configuration gives none (keepalived.conf(5), virtual_ipaddress).
	Prefix netip.Prefix
	// Dev is the interface; empty means the VRRP instance's interface, which
	// the daemon fills in with WithDefaultDev before calling Manager.
	Dev string
	// Label is the IPv4 address label (ifconfig alias, "eth0:1"). IPv6
	// addresses have no labels; the kernel ignores it for them.
	Label string
	Scope Scope
	// Broadcast is the IPv4 broadcast address; invalid (zero) means computed
	// from the prefix, as `ip addr add` and keepalived do, unless NoBroadcast.
	Broadcast   netip.Addr
	NoBroadcast bool
	// NoTrack: the instance does not leave MASTER when the address vanishes
	// (keepalived.conf(5)); the daemon interprets it, this package only
	// carries it.
	NoTrack bool
	// UseVMAC: the address goes on the instance's VMAC interface; the daemon
	// interprets it.
	UseVMAC bool
	// DAD: keepalived adds IPv6 VIPs with IFA_F_NODAD so they are usable at
	// once; the "-nodad" keyword turns duplicate address detection back on.
	DAD           bool
	Home          bool // IFA_F_HOMEADDRESS
	MngTmpAddr    bool // IFA_F_MANAGETEMPADDR
	NoPrefixRoute bool // IFA_F_NOPREFIXROUTE
	AutoJoin      bool // IFA_F_MCAUTOJOIN
	// PreferredLft is the IPv6 preferred lifetime in seconds when
	// PreferredLftSet; keepalived.conf(5): it defaults to 0 (deprecated, so
	// never chosen as a source address) for a /128 and forever otherwise.
	PreferredLft    uint32
	PreferredLftSet bool
}

// Addr is the VIP's address.
func (v VIP) Addr() netip.Addr { return v.Prefix.Addr() }

// Is6 reports whether the VIP is an IPv6 address.
func (v VIP) Is6() bool { return v.Prefix.Addr().Is6() }

// WithDefaultDev returns v with Dev set to dev when the configuration named
// no device.
func (v VIP) WithDefaultDev(dev string) VIP {
	if v.Dev == "" {
		v.Dev = dev
	}
	return v
}

// preferredLft resolves keepalived's default preferred lifetime for IPv6.
func (v VIP) preferredLft() uint32 {
	if v.PreferredLftSet {
		return v.PreferredLft
	}
	if v.Prefix.Bits() == 128 {
		return 0
	}
	return PreferredForever
}

// String renders v in keepalived's virtual_ipaddress syntax; ParseVIP of the
// fields of String gives v back.
func (v VIP) String() string {
	var b strings.Builder
	b.WriteString(v.Prefix.String())
	if v.NoBroadcast {
		b.WriteString(" brd -")
	} else if v.Broadcast.IsValid() {
		b.WriteString(" brd " + v.Broadcast.String())
	}
	if v.Dev != "" {
		b.WriteString(" dev " + v.Dev)
	}
	if v.Scope != ScopeGlobal {
		b.WriteString(" scope " + v.Scope.String())
	}
	if v.Label != "" {
		b.WriteString(" label " + v.Label)
	}
	for _, f := range []struct {
		on   bool
		word string
	}{{v.UseVMAC, "use_vmac"}, {v.Home, "home"}, {v.DAD, "-nodad"}, {v.MngTmpAddr, "mngtmpaddr"},
		{v.NoPrefixRoute, "noprefixroute"}, {v.AutoJoin, "autojoin"}, {v.NoTrack, "no_track"}} {
		if f.on {
			b.WriteString(" " + f.word)
		}
	}
	if v.PreferredLftSet {
		if v.PreferredLft == PreferredForever {
			b.WriteString(" preferred_lft forever")
		} else {
			b.WriteString(" preferred_lft " + strconv.FormatUint(uint64(v.PreferredLft), 10))
		}
	}
	return b.String()
}

// ParseVIP parses one virtual_ipaddress entry split into words:
//
//	<IPADDR>[/<MASK>] [brd <IPADDR>|+|-] [dev <STRING>] [use_vmac] [scope <SCOPE>]
//	[label <LABEL>] [home] [-nodad] [mngtmpaddr] [noprefixroute] [autojoin]
//	[no_track] [preferred_lft nn|forever]
//
// (keepalived.conf(5), virtual_ipaddress). "broadcast" is accepted for "brd"
// as iproute2 does. "peer" is rejected: xvrrp does not support
// point-to-point VIPs yet.
func ParseVIP(fields []string) (VIP, error) {
	var v VIP
	if len(fields) == 0 {
		return v, fmt.Errorf("virtual_ipaddress entry is empty: want <IPADDR>[/<MASK>] [options]")
	}
	p, err := parsePrefix(fields[0])
	if err != nil {
		return v, err
	}
	v.Prefix = p
	is6 := p.Addr().Is6()
	seen := map[string]bool{}
	for i := 1; i < len(fields); i++ {
		word := fields[i]
		key := word
		if key == "broadcast" {
			key = "brd"
		}
		if seen[key] {
			return v, fmt.Errorf("virtual_ipaddress %s: %q given twice", fields[0], word)
		}
		seen[key] = true
		arg := func() (string, error) {
			if i+1 >= len(fields) {
				return "", fmt.Errorf("virtual_ipaddress %s: %q needs a value", fields[0], word)
			}
			i++
			return fields[i], nil
		}
		switch key {
		case "brd":
			a, err := arg()
			if err != nil {
				return v, err
			}
			if is6 {
				return v, fmt.Errorf("virtual_ipaddress %s: brd applies to IPv4 only; remove it", fields[0])
			}
			switch a {
			case "+":
				// Computed from the prefix: the default.
			case "-":
				v.NoBroadcast = true
			default:
				b, err := netip.ParseAddr(a)
				if err != nil || !b.Is4() {
					return v, fmt.Errorf("virtual_ipaddress %s: brd %q is not an IPv4 address, + or -", fields[0], a)
				}
				v.Broadcast = b
			}
		case "dev":
			a, err := arg()
			if err != nil {
				return v, err
			}
			if len(a) > maxLabelLen || strings.ContainsAny(a, "/ \t") {
				return v, fmt.Errorf("virtual_ipaddress %s: dev %q is not a valid interface name (at most %d bytes, no '/' or blanks)", fields[0], a, maxLabelLen)
			}
			v.Dev = a
		case "scope":
			a, err := arg()
			if err != nil {
				return v, err
			}
			s, ok := scopeNames[a]
			if !ok {
				n, err := strconv.ParseUint(a, 10, 8)
				if err != nil {
					return v, fmt.Errorf("virtual_ipaddress %s: scope %q is not one of global, site, link, host, nowhere or 0-255", fields[0], a)
				}
				s = Scope(n)
			}
			v.Scope = s
		case "label":
			a, err := arg()
			if err != nil {
				return v, err
			}
			if len(a) > maxLabelLen {
				return v, fmt.Errorf("virtual_ipaddress %s: label %q is longer than %d bytes", fields[0], a, maxLabelLen)
			}
			v.Label = a
		case "preferred_lft":
			a, err := arg()
			if err != nil {
				return v, err
			}
			if !is6 {
				return v, fmt.Errorf("virtual_ipaddress %s: preferred_lft applies to IPv6 only; remove it", fields[0])
			}
			if a == "forever" {
				v.PreferredLft = PreferredForever
			} else {
				n, err := strconv.ParseUint(a, 10, 32)
				if err != nil || uint32(n) == PreferredForever {
					return v, fmt.Errorf("virtual_ipaddress %s: preferred_lft %q is not a number of seconds or forever", fields[0], a)
				}
				v.PreferredLft = uint32(n)
			}
			v.PreferredLftSet = true
		case "use_vmac":
			v.UseVMAC = true
		case "home":
			v.Home = true
		case "-nodad":
			v.DAD = true
		case "mngtmpaddr":
			v.MngTmpAddr = true
		case "noprefixroute":
			v.NoPrefixRoute = true
		case "autojoin":
			v.AutoJoin = true
		case "no_track":
			v.NoTrack = true
		case "peer":
			return v, fmt.Errorf("virtual_ipaddress %s: peer (point-to-point VIP) is not supported by xvrrp; remove it or keep this instance on keepalived", fields[0])
		default:
			return v, fmt.Errorf("virtual_ipaddress %s: unknown option %q (want brd, dev, scope, label, use_vmac, home, -nodad, mngtmpaddr, noprefixroute, autojoin, no_track, preferred_lft)", fields[0], word)
		}
	}
	return v, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	addrPart, bitsPart, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addrPart)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("virtual_ipaddress %q: %q is not an IP address", s, addrPart)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("virtual_ipaddress %q: use dev instead of a %%zone", s)
	}
	a = a.Unmap()
	if a.IsMulticast() || a.IsUnspecified() {
		return netip.Prefix{}, fmt.Errorf("virtual_ipaddress %q: a VIP must be a unicast address", s)
	}
	bits := a.BitLen()
	if hasBits {
		n, err := strconv.Atoi(bitsPart)
		if err != nil || n < 0 || n > a.BitLen() {
			return netip.Prefix{}, fmt.Errorf("virtual_ipaddress %q: prefix length %q must be 0-%d", s, bitsPart, a.BitLen())
		}
		bits = n
	}
	return netip.PrefixFrom(a, bits), nil
}
