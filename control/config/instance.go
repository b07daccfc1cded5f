package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// trackDraft is a tracker reference before the tracker's own defaults are known.
type trackDraft struct {
	pos        Pos
	name       string
	weight     int
	weightSet  bool
	reverse    bool
	reverseSet bool
}

type instanceDraft struct {
	in        *Instance
	set       map[string]Pos // keywords given, for defaulting and rule checks
	advertRaw string
	scripts   []trackDraft
	files     []trackDraft
	procs     []trackDraft
	famPos    Pos // what decided the family
}

func (p *parser) instance(s *stmt) {
	d := p.d
	if !d.needArgs(s, 1, "a name") || !d.needBlock(s) {
		return
	}
	if len(s.args) > 1 {
		d.errorf(s.pos, "vrrp_instance takes one name; quote a name that contains spaces")
	}
	in := &Instance{Pos: s.pos, Name: s.arg(0), UnicastTTL: 255}
	dr := &instanceDraft{in: in, set: map[string]Pos{}}
	p.drafts = append(p.drafts, dr)
	for _, c := range s.block {
		k := p.use(InInstance, "vrrp_instance "+in.Name, c)
		if k == nil {
			continue
		}
		dr.set[c.kw] = c.pos
		if p.garp(k, c.kw, c, in.garpTargets()) {
			continue
		}
		switch c.kw {
		case "virtual_routes":
			in.VirtualRoutes = append(in.VirtualRoutes, p.routes("vrrp_instance "+in.Name+" virtual_routes", c)...)
		case "virtual_rules":
			in.VirtualRules = append(in.VirtualRules, p.rules("vrrp_instance "+in.Name+" virtual_rules", c)...)
		case "state":
			if d.needArgs(c, 1, "MASTER or BACKUP") {
				switch strings.ToUpper(c.arg(0)) {
				case "MASTER":
					in.State = StateMaster
				case "BACKUP":
					in.State = StateBackup
				default:
					d.errorf(c.pos, "state %q must be MASTER or BACKUP", c.arg(0))
				}
			}
		case "interface":
			if d.needArgs(c, 1, "an interface name") {
				in.Interface = c.arg(0)
				if len(in.Interface) > 15 {
					d.errorf(c.pos, "interface name %q longer than 15 characters (IFNAMSIZ)", in.Interface)
				}
			}
		case "virtual_router_id":
			// RFC 5798 §5.2.3: VRID is 1..255.
			if v, ok := p.intKW(k, c); ok {
				in.VRID = v
			}
		case "priority":
			// RFC 5798 §5.2.4: 255 is the address owner, 0 is reserved for resigning.
			if v, ok := p.intKW(k, c); ok {
				in.Priority = v
			} else {
				delete(dr.set, "priority")
			}
		case "advert_int":
			if d.needArgs(c, 1, "an interval in seconds") {
				dr.advertRaw = c.arg(0)
			}
		case "version":
			if v, ok := p.intKW(k, c); ok {
				in.Version = v
			}
		case "nopreempt", "no_preempt":
			d.noArgs(c)
			in.Nopreempt = true
		case "preempt":
			d.noArgs(c)
			in.Nopreempt = false
		case "preempt_delay":
			if v, ok := p.durKW(k, c); ok {
				in.PreemptDelay = v
			}
		case "accept":
			d.noArgs(c)
			in.Accept = true
		case "no_accept":
			d.noArgs(c)
			in.Accept = false
		case "strict_mode":
			if v, ok := d.boolArg(c); ok {
				in.Strict = v
			}
		case "native_ipv6":
			if in.Family == 0 {
				in.Family, dr.famPos = 6, c.pos
			}
		case "authentication":
			p.auth(in, c)
		case "unicast_src_ip", "mcast_src_ip":
			if a, ok := d.addrArg(c, 0); ok {
				in.SrcIP = a
				// keepalived vrrp_parser.c vrrp_srcip_handler: the source address
				// sets the instance family when nothing has yet.
				if in.Family == 0 {
					in.Family, dr.famPos = family(a), c.pos
				} else if family(a) != in.Family {
					d.errorf(c.pos, "%s %s is IPv%d but instance %s is IPv%d (set by %s)", c.kw, a, family(a), in.Name, in.Family, dr.famPos)
				}
			}
		case "unicast_peer":
			p.unicastPeers(in, c)
		case "mcast_dst_ip":
			if a, ok := d.addrArg(c, 0); ok {
				if !a.IsMulticast() {
					d.errorf(c.pos, "mcast_dst_ip %s is not a multicast address", a)
				} else {
					in.McastGroup = a
				}
			}
		case "unicast_ttl":
			if v, ok := p.intKW(k, c); ok {
				in.UnicastTTL = v
			}
		case "virtual_ipaddress":
			if d.needBlock(c) {
				for _, l := range c.block {
					if v, ok := p.vip(l); ok {
						// keepalived vrrp_data.c alloc_vrrp_vip: the first VIP sets the
						// instance family; every VIP must match it (other families go
						// in virtual_ipaddress_excluded).
						f := family(v.Prefix.Addr())
						if in.Family == 0 {
							in.Family, dr.famPos = f, l.pos
						} else if f != in.Family {
							d.errorf(l.pos, "virtual_ipaddress %s is IPv%d but instance %s is IPv%d (set by %s); move it to virtual_ipaddress_excluded", v.Prefix, f, in.Name, in.Family, dr.famPos)
							continue
						}
						in.VIPs = append(in.VIPs, v)
					}
				}
			}
		case "virtual_ipaddress_excluded":
			if d.needBlock(c) {
				for _, l := range c.block {
					if v, ok := p.vip(l); ok {
						in.ExcludedVIPs = append(in.ExcludedVIPs, v)
					}
				}
			}
		case "use_vmac":
			in.UseVMAC = true
			for _, a := range c.args {
				if strings.Count(a.text, ":") >= 4 {
					d.warnf(c.pos, WarnIgnored, "use_vmac MAC address %s is not supported by xvrrp; the RFC 5798 §7.3 virtual MAC is used", a.text)
					continue
				}
				if len(a.text) > 15 {
					d.errorf(c.pos, "use_vmac interface name %q longer than 15 characters (IFNAMSIZ)", a.text)
					continue
				}
				in.VMACName = a.text
			}
		case "vmac_xmit_base":
			d.noArgs(c)
			in.VMACXmitBase = true
		case "dont_track_primary":
			d.noArgs(c)
			in.DontTrackPrimary = true
		case "track_interface":
			if d.needBlock(c) {
				in.TrackInterfaces = p.trackInterfaces(in.Name, in.TrackInterfaces, c)
			}
		case "track_script":
			if d.needBlock(c) {
				dr.scripts = append(dr.scripts, p.trackRefs(c, -253, 253)...)
			}
		case "track_file":
			if d.needBlock(c) {
				dr.files = append(dr.files, p.trackRefs(c, -254, 254)...)
			}
		case "track_process":
			if d.needBlock(c) {
				dr.procs = append(dr.procs, p.trackRefs(c, -254, 254)...)
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify",
			"notify_master_rx_lower_pri", "notify_priority_changes":
			p.notify(&in.Notify, c)
		case "old_unicast_checksum":
			// keepalived.conf(5) vrrp_instance: `old_unicast_checksum [never]`.
			// Alone it "forces the old checksum algorithm to be used" (the
			// ≤ 1.3.6 VRRPv3 unicast checksum, 224.0.0.18 in the pseudo-header);
			// "Specifying never will turn off auto detection of old checksums".
			// keepalived vrrp_parser.c vrrp_unicast_chksum_handler compares the
			// mode with strcmp, so "never" is case-sensitive.
			switch {
			case len(c.args) == 0:
				in.OldUnicastChecksum = UnicastChecksumOld
			case len(c.args) == 1 && c.arg(0) == "never":
				in.OldUnicastChecksum = UnicastChecksumNever
			default:
				d.errorf(c.pos, "old_unicast_checksum %q: the only mode is never (old_unicast_checksum alone sends the old checksum)", strings.Join(c.words()[1:], " "))
			}
		}
	}
}

func (p *parser) auth(in *Instance, s *stmt) {
	d := p.d
	if !d.needBlock(s) {
		return
	}
	a := &Auth{Pos: s.pos}
	for _, c := range s.block {
		if p.use(InAuth, "authentication", c) == nil {
			continue
		}
		switch c.kw {
		case "auth_type":
			if d.needArgs(c, 1, "PASS or AH") {
				switch strings.ToUpper(c.arg(0)) {
				case "PASS", "AH":
					a.Type = strings.ToUpper(c.arg(0))
				default:
					d.errorf(c.pos, "auth_type %q must be PASS or AH", c.arg(0))
				}
			}
		case "auth_pass":
			if d.needArgs(c, 1, "a password") {
				a.Pass = c.arg(0)
				// keepalived.conf(5): only the first eight characters are used
				// (RFC 2338 §5.3.10: the field is 8 octets).
				if len(a.Pass) > 8 {
					d.warnfKW(c.pos, WarnAdjusted, "auth_pass", "auth_pass longer than 8 characters; truncated to %q as keepalived does", a.Pass[:8])
					a.Pass = a.Pass[:8]
				}
			}
		}
	}
	if a.Type == "" {
		d.errorf(s.pos, "authentication needs auth_type PASS or AH")
		return
	}
	if a.Pass == "" {
		d.errorf(s.pos, "authentication needs auth_pass")
		return
	}
	if a.Type == "AH" {
		// RFC 2338 §5.3.6.2 IP Authentication Header: not implemented; sending
		// the password in PASS framing instead would be neither AH nor what
		// the operator asked for.
		d.warnfKW(s.pos, WarnIgnored, "auth_type AH", "auth_type AH is not served by xvrrp (no IPsec AH header); the instance runs without authentication, so peers that require AH will drop its adverts")
		return
	}
	in.Auth = a
}

func (p *parser) unicastPeers(in *Instance, s *stmt) {
	d := p.d
	if !d.needBlock(s) {
		return
	}
	for _, l := range s.block {
		d.noBlock(l)
		a, err := netip.ParseAddr(l.kw)
		if err != nil || a.Zone() != "" {
			d.errorf(l.pos, "unicast_peer %q is not an IP address", l.kw)
			continue
		}
		peer := UnicastPeer{Pos: l.pos, Addr: a, MinTTL: 0, MaxTTL: 255}
		for i := 0; i < len(l.args); i++ {
			opt := l.arg(i)
			if (opt == "min_ttl" || opt == "max_ttl") && i+1 < len(l.args) {
				v, ok := d.intValue(l.pos, opt, l.arg(i+1), 0, 255)
				i++
				if !ok {
					continue
				}
				if opt == "min_ttl" {
					peer.MinTTL = v
				} else {
					peer.MaxTTL = v
				}
				// keepalived.conf(5): min_ttl/max_ttl turn on check_unicast_src.
				in.CheckUnicastSrc = true
				continue
			}
			d.errorf(l.pos, "unicast_peer %s: unknown option %q (expected min_ttl N or max_ttl N)", a, opt)
		}
		if peer.MinTTL > peer.MaxTTL {
			d.errorf(l.pos, "unicast_peer %s: min_ttl %d above max_ttl %d", a, peer.MinTTL, peer.MaxTTL)
		}
		in.UnicastPeers = append(in.UnicastPeers, peer)
	}
}

var scopes = map[string]bool{"global": true, "site": true, "link": true, "host": true, "nowhere": true}

// vip parses `<IPADDR>[/<MASK>] [brd <IPADDR>] [dev <STRING>] [scope <SCOPE>]
// [label <LABEL>] [no_track] ...` (keepalived.conf(5) virtual_ipaddress).
func (p *parser) vip(l *stmt) (VIP, bool) {
	d := p.d
	d.noBlock(l)
	v := VIP{Pos: l.pos, Scope: "global"}
	addrText, maskText, hasMask := strings.Cut(l.kw, "/")
	a, err := netip.ParseAddr(addrText)
	if err != nil || a.Zone() != "" {
		d.errorf(l.pos, "virtual address %q is not an IP address", l.kw)
		return v, false
	}
	bits := a.BitLen()
	if hasMask {
		n, err := strconv.Atoi(maskText)
		if err != nil || n < 0 || n > a.BitLen() {
			d.errorf(l.pos, "virtual address %s: prefix length %q out of range 0..%d", l.kw, maskText, a.BitLen())
			return v, false
		}
		bits = n
	}
	v.Prefix = netip.PrefixFrom(a, bits)
	ok := true
	words := l.args
	for i := 0; i < len(words); i++ {
		opt := words[i].text
		val := func() (string, bool) {
			if i+1 >= len(words) {
				d.errorf(l.pos, "virtual address %s: %s needs a value", l.kw, opt)
				ok = false
				return "", false
			}
			i++
			return words[i].text, true
		}
		switch opt {
		case "dev":
			if s, has := val(); has {
				v.Dev = s
			}
		case "label":
			if s, has := val(); has {
				if len(s) > 15 {
					d.errorf(l.pos, "virtual address %s: label %q longer than 15 characters (IFNAMSIZ)", l.kw, s)
					ok = false
				}
				v.Label = s
			}
		case "scope":
			if s, has := val(); has {
				if _, err := strconv.ParseUint(s, 10, 8); err != nil && !scopes[s] {
					d.errorf(l.pos, "virtual address %s: scope %q must be global, site, link, host, nowhere or 0..255", l.kw, s)
					ok = false
				}
				v.Scope = s
			}
		case "brd", "broadcast":
			if s, has := val(); has {
				b, err := netip.ParseAddr(s)
				if err != nil || !b.Is4() || !a.Is4() {
					d.errorf(l.pos, "virtual address %s: brd %q must be an IPv4 address for an IPv4 VIP", l.kw, s)
					ok = false
				}
				v.Broadcast = b
			}
		case "no_track":
			v.NoTrack = true
		case "peer", "preferred_lft":
			if _, has := val(); has {
				d.warnf(l.pos, WarnIgnored, "virtual address %s: option %s is not supported by xvrrp; ignored", l.kw, opt)
			}
		case "home", "-nodad", "nodad", "mngtmpaddr", "noprefixroute", "autojoin", "use_vmac":
			d.warnf(l.pos, WarnIgnored, "virtual address %s: option %s is not supported by xvrrp; ignored", l.kw, opt)
		case "track_group":
			// keepalived.conf(5): track_group only applies to static addresses.
			if _, has := val(); has {
				d.warnf(l.pos, WarnIgnored, "virtual address %s: track_group applies only to static addresses; ignored", l.kw)
			}
		default:
			d.errorf(l.pos, "virtual address %s: unknown option %q", l.kw, opt)
			ok = false
		}
	}
	if a.Is6() {
		// keepalived vrrp_ipaddress.c: "Cannot specify label/scope for IPv6
		// addresses - ignoring"; the address is added without them.
		if v.Label != "" {
			d.warnfKW(l.pos, WarnAdjusted, "label", "Cannot specify label for IPv6 addresses (%s) - ignoring label, as keepalived does", v.Prefix)
			v.Label = ""
		}
		if v.Scope != "global" {
			d.warnfKW(l.pos, WarnAdjusted, "scope", "Cannot specify scope for IPv6 addresses (%s) - ignoring scope (the kernel derives it), as keepalived does", v.Prefix)
			v.Scope = "global"
		}
	}
	return v, ok
}

// trackInterfaces appends the interfaces of a track_interface block to out.
func (p *parser) trackInterfaces(owner string, out []TrackInterface, s *stmt) []TrackInterface {
	d := p.d
	for _, l := range s.block {
		d.noBlock(l)
		if dupTrackInterface(out, l.kw) {
			// keepalived vrrp_track.c: "(VI_1) duplicate track_interface X -
			// ignoring"; the first line (and its weight) is the one tracked.
			d.warnfKW(l.pos, WarnAdjusted, "track_interface", "(%s) duplicate track_interface %s - ignoring, as keepalived does", owner, l.kw)
			continue
		}
		ti := TrackInterface{Pos: l.pos, Name: l.kw}
		for i := 0; i < len(l.args); i++ {
			switch l.arg(i) {
			case "weight":
				if i+1 >= len(l.args) {
					d.errorf(l.pos, "track_interface %s: weight needs a value", l.kw)
					continue
				}
				i++
				// keepalived.conf(5) track_interface: weight -253..253.
				if w, ok := d.intValue(l.pos, "track_interface "+l.kw+" weight", l.arg(i), -253, 253); ok {
					ti.Weight = w
				}
			case "reverse":
				ti.Reverse = true
			case "noreverse", "no_reverse":
				ti.Reverse = false
			default:
				d.errorf(l.pos, "track_interface %s: unknown option %q (expected weight N [reverse])", l.kw, l.arg(i))
			}
		}
		out = append(out, ti)
	}
	return out
}

func (p *parser) trackRefs(s *stmt, lo, hi int) []trackDraft {
	d := p.d
	var out []trackDraft
	for _, l := range s.block {
		d.noBlock(l)
		t := trackDraft{pos: l.pos, name: l.kw}
		for i := 0; i < len(l.args); i++ {
			switch l.arg(i) {
			case "weight":
				if i+1 >= len(l.args) {
					d.errorf(l.pos, "%s %s: weight needs a value", s.kw, l.kw)
					continue
				}
				i++
				if w, ok := d.intValue(l.pos, s.kw+" "+l.kw+" weight", l.arg(i), lo, hi); ok {
					t.weight, t.weightSet = w, true
				}
			case "reverse":
				t.reverse, t.reverseSet = true, true
			case "noreverse", "no_reverse":
				t.reverse, t.reverseSet = false, true
			default:
				d.errorf(l.pos, "%s %s: unknown option %q (expected weight N [reverse|noreverse])", s.kw, l.kw, l.arg(i))
			}
		}
		out = append(out, t)
	}
	return out
}

func (p *parser) notify(n *Notify, s *stmt) {
	d := p.d
	if s.kw == "notify_priority_changes" {
		if v, ok := d.boolArg(s); ok {
			n.PriorityChanges = v
		}
		return
	}
	if !d.needArgs(s, 1, "a script") {
		return
	}
	ns := &NotifyScript{Pos: s.pos}
	// keepalived.conf(5): `notify_* <STRING>|<QUOTED-STRING> [username [groupname]]`.
	if s.args[0].quoted || len(s.args) <= 3 {
		ns.Command = s.arg(0)
		ns.User, ns.Group = s.arg(1), s.arg(2)
		if len(s.args) > 3 {
			d.errorf(s.pos, "%s takes a script, an optional user and group; quote a command with arguments", s.kw)
		}
	} else {
		d.errorf(s.pos, "%s takes a script, an optional user and group; quote a command with arguments", s.kw)
		return
	}
	ns.Args = splitCommand(ns.Command)
	if len(ns.Args) == 0 {
		d.errorf(s.pos, "%s has an empty command", s.kw)
		return
	}
	switch s.kw {
	case "notify_master":
		n.Master = ns
	case "notify_backup":
		n.Backup = ns
	case "notify_fault":
		n.Fault = ns
	case "notify_stop":
		n.Stop = ns
	case "notify":
		n.Any = ns
	case "notify_master_rx_lower_pri":
		n.MasterRxLowerPri = ns
	}
}

func dupTrackInterface(ts []TrackInterface, name string) bool {
	for _, t := range ts {
		if t.Name == name {
			return true
		}
	}
	return false
}
