package config

import (
	"net/netip"
	"sort"
	"strings"
	"time"
)

// finish applies the defaults that depend on the whole file and checks the
// rules that span blocks. Order matters: instances first (sync groups refer to
// them), then cross-instance checks.
func (p *parser) finish() {
	p.finishGlobal()
	names := map[string]*Instance{}
	ownPrioChanges := map[string]bool{} // instances that set notify_priority_changes
	for _, dr := range p.drafts {
		in := dr.in
		if prev, dup := names[in.Name]; dup {
			p.d.errorf(in.Pos, "vrrp_instance %s already defined at %s", in.Name, prev.Pos)
			continue
		}
		names[in.Name] = in
		if _, ok := dr.set["notify_priority_changes"]; ok {
			ownPrioChanges[in.Name] = true
		}
		p.finishInstance(dr)
		p.cfg.Instances = append(p.cfg.Instances, in)
	}
	p.finishGroups(names, ownPrioChanges)
	p.checkDuplicateVRIDs()
	p.checkUnusedScripts()
}

// checkUnusedScripts warns about a vrrp_script no instance or sync group
// tracks: xvrrpd runs only the scripts that move a priority or a state, so
// such a script never runs (keepalived -t reports its SECURITY VIOLATION for
// it all the same; neutron writes the preamble before the routes that use it).
func (p *parser) checkUnusedScripts() {
	used := map[string]bool{}
	for _, in := range p.cfg.Instances {
		for _, r := range in.TrackScripts {
			used[r.Name] = true
		}
	}
	for _, g := range p.cfg.SyncGroups {
		for _, r := range g.TrackScripts {
			used[r.Name] = true
		}
	}
	var unused []*Script
	for name, s := range p.cfg.Scripts {
		if !used[name] {
			unused = append(unused, s)
		}
	}
	sort.Slice(unused, func(i, j int) bool {
		return unused[i].Pos.Line < unused[j].Pos.Line || unused[i].Pos.Line == unused[j].Pos.Line && unused[i].Pos.File < unused[j].Pos.File
	})
	for _, s := range unused {
		p.d.warnfKW(s.Pos, WarnIgnored, "vrrp_script", "vrrp_script %s is not tracked by any vrrp_instance or vrrp_sync_group; xvrrpd does not run it", s.Name)
	}
}

func (p *parser) finishInstance(dr *instanceDraft) {
	d, g, in := p.d, &p.cfg.Global, dr.in
	_, strictSet := dr.set["strict_mode"]
	if !strictSet {
		in.Strict = g.Strict
	}
	if _, ok := dr.set["virtual_router_id"]; !ok {
		d.errorf(in.Pos, "vrrp_instance %s has no virtual_router_id; set one in 1..255", in.Name)
	}
	if in.Interface == "" && !in.Unicast() {
		// keepalived.conf(5) interface: may be omitted only when unicasting.
		d.errorf(in.Pos, "vrrp_instance %s has no interface; set interface (only unicast instances may omit it)", in.Name)
	}
	if in.Family == 0 {
		// keepalived vrrp.c: default to IPv4 when nothing set the family.
		in.Family = 4
	}

	// keepalived vrrp.c vrrp_complete_instance: "If no priority has been set,
	// derive it from the initial state" (MASTER: 255, else 100), and "If no
	// initial state has been set, derive it from the priority".
	_, prioSet := dr.set["priority"]
	if !prioSet {
		if in.State == StateMaster {
			in.Priority = 255
		} else {
			in.Priority = 100
		}
	}
	if in.State == "" {
		if in.Priority == 255 {
			in.State = StateMaster
		} else {
			in.State = StateBackup
		}
	}

	// keepalived.conf(5) version: default is vrrp_version, but IPv6 instances use 3.
	if _, ok := dr.set["version"]; !ok {
		if in.Family == 6 {
			in.Version = 3
		} else {
			in.Version = g.VRRPVersion
		}
	}
	if in.Family == 6 && in.Version == 2 {
		// RFC 3768 (VRRPv2) is IPv4 only; IPv6 needs RFC 5798.
		d.errorf(dr.set["version"], "vrrp_instance %s is IPv6 but version 2 is IPv4 only (RFC 3768); use version 3", in.Name)
	}
	p.advertInterval(dr)

	if in.Auth != nil && in.Version == 3 {
		// RFC 5798 §9 removed authentication from VRRPv3; keepalived vrrp.c
		// logs this and runs the instance without it.
		d.warnfKW(in.Auth.Pos, WarnAdjusted, "authentication", "vrrp_instance %s: VRRP version 3 does not support authentication. Ignoring. (adverts are sent and accepted without it, as keepalived does)", in.Name)
		in.Auth = nil
	}
	if in.Strict {
		// keepalived vrrp.c vrrp_complete_instance: under strict mode the
		// initial state follows address ownership; it reports the mismatch
		// and runs with the state the priority implies.
		if (in.State == StateMaster) != (in.Priority == 255) {
			want := StateBackup
			if in.Priority == 255 {
				want = StateMaster
			}
			d.warnfKW(dr.set["state"], WarnAdjusted, "vrrp_strict", "vrrp_instance %s: State MASTER must match being address owner (vrrp_strict, RFC 5798 §6.4.1); starting in state %s at priority %d as keepalived does", in.Name, want, in.Priority)
			in.State = want
		}
	}

	// Preemption rules, keepalived vrrp.c vrrp_complete_instance.
	if in.Nopreempt && in.Priority == 255 {
		d.warnfKW(dr.set["nopreempt"], WarnAdjusted, "nopreempt", "vrrp_instance %s: nopreempt is incompatible with priority 255; preempting", in.Name)
		in.Nopreempt = false
	}
	if in.Nopreempt && in.State == StateMaster {
		d.warnfKW(dr.set["nopreempt"], WarnAdjusted, "nopreempt", "vrrp_instance %s: nopreempt only works with state BACKUP; clearing it", in.Name)
		in.Nopreempt = false
	}
	if in.PreemptDelay > 0 && in.State == StateMaster {
		d.warnfKW(dr.set["preempt_delay"], WarnAdjusted, "preempt_delay", "vrrp_instance %s: preempt_delay does not work with state MASTER; clearing it", in.Name)
		in.PreemptDelay = 0
	}
	if in.PreemptDelay > 0 && in.Nopreempt {
		d.warnfKW(dr.set["preempt_delay"], WarnAdjusted, "preempt_delay", "vrrp_instance %s: preempt_delay is incompatible with nopreempt; clearing it", in.Name)
		in.PreemptDelay = 0
	}

	// keepalived.conf(5) accept: the default unless strict mode, where accept is
	// set iff the priority is 255.
	_, acceptSet := dr.set["accept"]
	_, noAcceptSet := dr.set["no_accept"]
	if !acceptSet && !noAcceptSet {
		in.Accept = !in.Strict || in.Priority == 255
	}

	inherit := func(kw string, dst *time.Duration, v time.Duration) {
		if _, ok := dr.set[kw]; !ok {
			*dst = v
		}
	}
	inheritInt := func(kw string, dst *int, v int) {
		if _, ok := dr.set[kw]; !ok {
			*dst = v
		}
	}
	inheritBool := func(kw string, dst *bool, v bool) {
		if _, ok := dr.set[kw]; !ok {
			*dst = *dst || v
		}
	}
	// keepalived.conf(5): instance GARP/advert settings default to the globals.
	inherit("garp_master_delay", &in.GarpMasterDelay, g.GarpMasterDelay)
	inheritInt("garp_master_repeat", &in.GarpMasterRepeat, g.GarpMasterRepeat)
	inherit("garp_lower_prio_delay", &in.GarpLowerPrioDelay, g.GarpLowerPrioDelay)
	inheritInt("garp_lower_prio_repeat", &in.GarpLowerPrioRepeat, g.GarpLowerPrioRepeat)
	inherit("garp_master_refresh", &in.GarpMasterRefresh, g.GarpMasterRefresh)
	inheritInt("garp_master_refresh_repeat", &in.GarpMasterRefreshRepeat, g.GarpMasterRefreshRepeat)
	inheritInt("down_timer_adverts", &in.DownTimerAdverts, g.DownTimerAdverts)
	inheritBool("lower_prio_no_advert", &in.LowerPrioNoAdvert, g.LowerPrioNoAdvert || in.Strict)
	inheritBool("higher_prio_send_advert", &in.HigherPrioSendAdvert, g.HigherPrioSendAdvert)
	inheritBool("check_unicast_src", &in.CheckUnicastSrc, g.CheckUnicastSrc)
	inheritBool("skip_check_adv_addr", &in.SkipCheckAdvAddr, g.SkipCheckAdvAddr)
	// keepalived.conf(5) global_defs v3_checksum_as_v2: "See vrrp_instance
	// description"; the instance keyword, when given, wins either way.
	inheritBool("v3_checksum_as_v2", &in.V3ChecksumAsV2, g.V3ChecksumAsV2)
	if _, ok := dr.set["notify_priority_changes"]; !ok {
		in.Notify.PriorityChanges = g.NotifyPriorityChanges
	}

	if !in.McastGroup.IsValid() {
		if in.Family == 4 {
			in.McastGroup = g.McastGroup4
		} else {
			in.McastGroup = g.McastGroup6
		}
	} else if family(in.McastGroup) != in.Family {
		d.errorf(dr.set["mcast_dst_ip"], "vrrp_instance %s: mcast_dst_ip %s is not IPv%d like the instance", in.Name, in.McastGroup, in.Family)
	}
	for _, peer := range in.UnicastPeers {
		if family(peer.Addr) != in.Family {
			d.errorf(peer.Pos, "vrrp_instance %s: unicast_peer %s is IPv%d but the instance is IPv%d", in.Name, peer.Addr, family(peer.Addr), in.Family)
		}
	}
	for i := range in.VIPs {
		if in.VIPs[i].Dev == "" {
			in.VIPs[i].Dev = in.Interface
		}
	}
	for i := range in.ExcludedVIPs {
		if in.ExcludedVIPs[i].Dev == "" {
			in.ExcludedVIPs[i].Dev = in.Interface
		}
	}

	// keepalived vrrp.c: "No VIP specified; at least one is required" for VRRPv3,
	// IPv6 and strict mode; otherwise only sensible.
	if len(in.VIPs) == 0 {
		if in.Version == 3 || in.Family == 6 || in.Strict {
			d.errorf(in.Pos, "vrrp_instance %s has no virtual_ipaddress; at least one is required for VRRPv3, IPv6 and strict mode", in.Name)
		} else {
			d.warnfKW(in.Pos, WarnAdjusted, "virtual_ipaddress", "vrrp_instance %s has no virtual_ipaddress; at least one is sensible", in.Name)
		}
	}
	if in.Strict {
		p.strictRules(dr)
	}
	p.resolveInstanceTrackers(dr)
}

// advertInterval checks advert_int against the version's field: VRRPv2 carries
// whole seconds in 8 bits (RFC 3768 §5.3.7), VRRPv3 centiseconds in 12 bits
// (RFC 5798 §5.2.7).
func (p *parser) advertInterval(dr *instanceDraft) {
	d, in := p.d, dr.in
	in.AdvertInterval = time.Second
	if dr.advertRaw == "" {
		return
	}
	pos := dr.set["advert_int"]
	v, ok := parseDecimal(dr.advertRaw)
	if !ok {
		d.errorf(pos, "advert_int %q is not a time in seconds (e.g. 1 or 0.5)", dr.advertRaw)
		return
	}
	if in.Version == 2 {
		if v%time.Second != 0 || v < time.Second || v > 255*time.Second {
			d.errorf(pos, "advert_int %s out of range for VRRPv2: whole seconds 1..255 (RFC 3768 §5.3.7)", dr.advertRaw)
			return
		}
	} else {
		if v%(10*time.Millisecond) != 0 || v < 10*time.Millisecond || v > 40950*time.Millisecond {
			d.errorf(pos, "advert_int %s out of range for VRRPv3: 0.01..40.95 in steps of 0.01 (RFC 5798 §5.2.7)", dr.advertRaw)
			return
		}
	}
	in.AdvertInterval = v
}

// strictRules enforces vrrp_strict / strict_mode as keepalived.conf(5)
// "vrrp_strict" lists them. The GARP-repeat rule is not enforced (see README of
// this package in the report).
func (p *parser) strictRules(dr *instanceDraft) {
	d, in := p.d, dr.in
	at := func(kw string) Pos {
		if pos, ok := dr.set[kw]; ok {
			return pos
		}
		return in.Pos
	}
	// keepalived 2.2.7 accepts unicast peers under vrrp_strict without a
	// word (keepalived.conf(5) says strict disallows them; the code does not).
	if in.Auth != nil {
		d.warnfKW(in.Auth.Pos, WarnAdjusted, "vrrp_strict", "vrrp_instance %s: Strict mode does not support authentication. Ignoring. (vrrp_strict; adverts carry none, as keepalived sends them)", in.Name)
		in.Auth = nil
	}
	if in.PreemptDelay > 0 {
		d.warnfKW(at("preempt_delay"), WarnAdjusted, "vrrp_strict", "vrrp_instance %s: preempt_delay is incompatible with strict mode - resetting to 0 as keepalived does", in.Name)
		in.PreemptDelay = 0
	}
	if _, ok := dr.set["accept"]; ok && in.Version == 2 && in.Accept {
		d.warnfKW(at("accept"), WarnAdjusted, "vrrp_strict", "vrrp_instance %s: accept mode for VRRP version 2 does not comply with RFC 3768 - resetting (accept off) as keepalived does", in.Name)
		in.Accept = false
	}
	if _, ok := dr.set["lower_prio_no_advert"]; ok && !in.LowerPrioNoAdvert {
		d.warnfKW(at("lower_prio_no_advert"), WarnAdjusted, "vrrp_strict", "vrrp_instance %s: Strict mode requires no lower priority advert - resetting lower_prio_no_advert to on as keepalived does", in.Name)
		in.LowerPrioNoAdvert = true
	}
	if in.HigherPrioSendAdvert {
		d.warnfKW(at("higher_prio_send_advert"), WarnAdjusted, "vrrp_strict", "vrrp_instance %s: strict mode requires higher_prio_send_advert to be clear - resetting as keepalived does", in.Name)
		in.HigherPrioSendAdvert = false
	}
	if in.VMACXmitBase {
		d.warnfKW(at("vmac_xmit_base"), WarnAdjusted, "vrrp_strict", "vrrp_instance %s: vmac_xmit_base is incompatible with strict mode - resetting as keepalived does", in.Name)
		in.VMACXmitBase = false
	}
	if in.DownTimerAdverts != 3 {
		d.warnfKW(at("down_timer_adverts"), WarnAdjusted, "vrrp_strict", "vrrp_instance %s: down_timer_adverts is incompatible with strict mode - resetting to 3 (RFC 5798 §6.1) as keepalived does", in.Name)
		in.DownTimerAdverts = 3
	}
	// RFC 5798 §5.2.9: for IPv6 the first address should be the link-local
	// one; keepalived reports it and runs the addresses in the given order.
	if in.Family == 6 && len(in.VIPs) > 0 && !in.VIPs[0].Prefix.Addr().IsLinkLocalUnicast() {
		d.warnfKW(in.VIPs[0].Pos, WarnAdjusted, "vrrp_strict", "vrrp_instance %s: the first IPv6 VIP address must be link local (vrrp_strict, RFC 5798 §5.2.9); kept in the configured order as keepalived does", in.Name)
	}
}

// resolveRefs turns tracker references into TrackRefs, taking the tracker's own
// weight when the line gives none; unknown names are dropped with keepalived's
// warning.
func (p *parser) resolveRefs(owner, kind string, drafts []trackDraft, lookup func(string) (int, bool, bool)) []TrackRef {
	var out []TrackRef
	for _, t := range drafts {
		w, rev, ok := lookup(t.name)
		if !ok {
			// keepalived vrrp_parser.c: "(VI_1) track script X not found,
			// ignoring..." — the reference is dropped and the instance runs
			// without it, so its priority does not follow that tracker.
			p.d.warnfKW(t.pos, WarnAdjusted, kind, "(%s) %s %s not found, ignoring... (%s runs without it, as in keepalived)", ownerName(owner), strings.ReplaceAll(kind, "_", " "), t.name, owner)
			continue
		}
		if t.weightSet {
			w = t.weight
		}
		if t.reverseSet {
			rev = t.reverse
		}
		out = append(out, TrackRef{Pos: t.pos, Name: t.name, Weight: w, Reverse: rev})
	}
	return out
}

func (p *parser) lookupScript(n string) (int, bool, bool) {
	s, ok := p.cfg.Scripts[n]
	if !ok {
		return 0, false, false
	}
	return s.Weight, s.Reverse, true
}

func (p *parser) lookupFile(n string) (int, bool, bool) {
	f, ok := p.cfg.TrackFiles[n]
	if !ok {
		return 0, false, false
	}
	return f.Weight, f.Reverse, true
}

func (p *parser) lookupProcess(n string) (int, bool, bool) {
	t, ok := p.cfg.TrackProcesses[n]
	if !ok {
		return 0, false, false
	}
	return t.Weight, t.Reverse, true
}

func (p *parser) resolveInstanceTrackers(dr *instanceDraft) {
	in := dr.in
	owner := "vrrp_instance " + in.Name
	in.TrackScripts = p.resolveRefs(owner, "track_script", dr.scripts, p.lookupScript)
	in.TrackFiles = p.resolveRefs(owner, "track_file", dr.files, p.lookupFile)
	in.TrackProcesses = p.resolveRefs(owner, "track_process", dr.procs, p.lookupProcess)
	// keepalived.conf(5) "Track files"/"VRRP track processes": the address owner
	// (priority 255) must track with weight 0; its priority cannot change.
	if in.Priority == 255 {
		zeroWeights(p.d, in, "priority 255 (address owner)")
	}
}

// zeroWeights forces every tracker weight of in to 0, warning for each.
func zeroWeights(d *diag, in *Instance, why string) {
	for i := range in.TrackInterfaces {
		t := &in.TrackInterfaces[i]
		if t.Weight != 0 {
			d.warnfKW(t.Pos, WarnAdjusted, "track_interface", "vrrp_instance %s: track_interface %s weight %d set to 0 because of %s", in.Name, t.Name, t.Weight, why)
			t.Weight = 0
		}
	}
	for _, l := range []struct {
		kind string
		refs []TrackRef
	}{{"track_script", in.TrackScripts}, {"track_file", in.TrackFiles}, {"track_process", in.TrackProcesses}} {
		for i := range l.refs {
			t := &l.refs[i]
			if t.Weight != 0 {
				d.warnfKW(t.Pos, WarnAdjusted, l.kind, "vrrp_instance %s: %s %s weight %d set to 0 because of %s", in.Name, l.kind, t.Name, t.Weight, why)
				t.Weight = 0
			}
		}
	}
}

func (p *parser) finishGroups(names map[string]*Instance, ownPrioChanges map[string]bool) {
	d := p.d
	seen := map[string]*SyncGroup{}
	for _, gd := range p.groups {
		g := gd.g
		if prev, dup := seen[g.Name]; dup {
			d.errorf(g.Pos, "vrrp_sync_group %s already defined at %s", g.Name, prev.Pos)
			continue
		}
		seen[g.Name] = g
		owner := "vrrp_sync_group " + g.Name
		g.TrackScripts = p.resolveRefs(owner, "track_script", gd.scripts, p.lookupScript)
		g.TrackFiles = p.resolveRefs(owner, "track_file", gd.files, p.lookupFile)
		g.TrackProcesses = p.resolveRefs(owner, "track_process", gd.procs, p.lookupProcess)
		// keepalived vrrp_data.c: a member that names no vrrp_instance is
		// dropped with a warning; a group left with no member is removed (its
		// instances run unsynchronised); a group of one is kept, with a warning.
		declared := len(g.Members)
		var members []string
		for _, m := range g.Members {
			if _, ok := names[m]; !ok {
				d.warnfKW(g.Pos, WarnAdjusted, "vrrp_sync_group", "Virtual router %s specified in sync group %s doesn't exist - ignoring", m, g.Name)
				continue
			}
			members = append(members, m)
		}
		g.Members = members
		if len(g.Members) == 0 {
			if declared == 0 {
				d.warnfKW(g.Pos, WarnAdjusted, "vrrp_sync_group", "Sync group %s has no virtual router(s) in group { }; removing it as keepalived does (its instances run unsynchronised)", g.Name)
			} else {
				d.warnfKW(g.Pos, WarnAdjusted, "vrrp_sync_group", "Sync group %s, no matching virtual router found in group declaration - removing, as keepalived does", g.Name)
			}
			p.dropGroup(g)
			continue
		}
		if len(g.Members) == 1 {
			d.warnfKW(g.Pos, WarnAdjusted, "vrrp_sync_group", "Sync group %s has only 1 virtual router(s) - this probably isn't what you want (kept, as keepalived keeps it)", g.Name)
		}
		for _, m := range g.Members {
			in := names[m]
			if in.SyncGroup != "" {
				d.errorf(g.Pos, "vrrp_instance %s is in vrrp_sync_group %s and %s; an instance can be in one sync group only", m, in.SyncGroup, g.Name)
				continue
			}
			in.SyncGroup = g.Name
			// keepalived vrrp.c vrrp_complete_instance: an instance's
			// notify_priority_changes comes from itself, else its sync
			// group's, else vrrp_notify_priority_changes.
			if gd.prioChangesSet && !ownPrioChanges[m] {
				in.Notify.PriorityChanges = g.Notify.PriorityChanges
			}
			// keepalived.conf(5) "VRRP synchronization group(s)": member trackers
			// get weight 0 unless sync_group_tracking_weight is set.
			if !g.TrackingWeight {
				zeroWeights(d, in, "membership of vrrp_sync_group "+g.Name+" (set sync_group_tracking_weight to keep weights)")
			}
		}
	}
}

// checkDuplicateVRIDs: keepalived.conf(5) virtual_router_id must be unique per
// interface, address family and multicast/unicast socket. Two multicast
// instances may share a VRID on different mcast_dst_ip groups, and two unicast
// instances may if their peers do not overlap.
func (p *parser) checkDuplicateVRIDs() {
	type key struct {
		ifname string
		family int
		vrid   int
	}
	byKey := map[key][]*Instance{}
	for _, in := range p.cfg.Instances {
		if in.VRID == 0 {
			continue
		}
		k := key{in.Interface, in.Family, in.VRID}
		for _, prev := range byKey[k] {
			if conflict(prev, in) {
				p.d.errorf(in.Pos, "vrrp_instance %s: virtual_router_id %d on %s (IPv%d) is already used by vrrp_instance %s at %s",
					in.Name, in.VRID, in.Interface, in.Family, prev.Name, prev.Pos)
				break
			}
		}
		byKey[k] = append(byKey[k], in)
	}
}

func conflict(a, b *Instance) bool {
	if a.Unicast() != b.Unicast() {
		return false
	}
	if !a.Unicast() {
		return a.McastGroup == b.McastGroup
	}
	peers := map[netip.Addr]bool{}
	for _, x := range a.UnicastPeers {
		peers[x.Addr] = true
	}
	for _, y := range b.UnicastPeers {
		if peers[y.Addr] {
			return true
		}
	}
	return false
}

// ownerName is the name keepalived puts in parentheses: "vrrp_instance VI_1"
// gives "VI_1".
func ownerName(owner string) string {
	if i := strings.LastIndexByte(owner, ' '); i >= 0 {
		return owner[i+1:]
	}
	return owner
}
