package config

import (
	"math"
	"time"
)

type groupDraft struct {
	g       *SyncGroup
	scripts []trackDraft
	files   []trackDraft
	procs   []trackDraft
	// prioChangesSet: the group gave notify_priority_changes, which its
	// members without their own inherit.
	prioChangesSet bool
}

func (p *parser) named(s *stmt) (string, bool) {
	if !p.d.needArgs(s, 1, "a name") || !p.d.needBlock(s) {
		return "", false
	}
	if len(s.args) > 1 {
		p.d.errorf(s.pos, "%s takes one name; quote a name that contains spaces", s.kw)
	}
	return s.arg(0), true
}

// weightArgs reads `weight N [reverse]`, N in k's range.
func (p *parser) weightArgs(k *Keyword, s *stmt) (int, bool, bool) {
	w, ok := p.intKW(k, s)
	if !ok {
		return 0, false, false
	}
	rev := false
	for _, a := range s.args[1:] {
		switch a.text {
		case "reverse":
			rev = true
		case "noreverse", "no_reverse":
			rev = false
		default:
			p.d.errorf(s.pos, "weight: unknown option %q (expected reverse)", a.text)
		}
	}
	return w, rev, true
}

func (p *parser) script(s *stmt) {
	d := p.d
	name, ok := p.named(s)
	if !ok {
		return
	}
	if prev, dup := p.cfg.Scripts[name]; dup {
		d.errorf(s.pos, "vrrp_script %s already defined at %s", name, prev.Pos)
		return
	}
	sc := &Script{Pos: s.pos, Name: name, Interval: time.Second, Rise: 1, Fall: 1}
	for _, c := range s.block {
		k := p.use(InScript, "vrrp_script "+name, c)
		if k == nil {
			continue
		}
		switch c.kw {
		case "script":
			if d.needArgs(c, 1, "a command") {
				// An unquoted command with arguments is the rest of the line.
				parts := make([]string, len(c.args))
				for i, a := range c.args {
					parts[i] = a.text
				}
				if len(c.args) == 1 {
					sc.Command = c.arg(0)
					sc.Args = splitCommand(sc.Command)
				} else {
					sc.Command = joinWords(parts)
					sc.Args = parts
				}
			}
		case "interval":
			if v, ok := p.durKW(k, c); ok {
				sc.Interval = v
			}
		case "timeout":
			if v, ok := p.durKW(k, c); ok {
				sc.Timeout = v
			}
		case "weight":
			if w, rev, ok := p.weightArgs(k, c); ok {
				sc.Weight, sc.Reverse = w, rev
			}
		case "rise":
			if v, ok := p.intKW(k, c); ok {
				sc.Rise = v
			}
		case "fall":
			if v, ok := p.intKW(k, c); ok {
				sc.Fall = v
			}
		case "user":
			if d.needArgs(c, 1, "a user name") {
				sc.User, sc.Group = c.arg(0), c.arg(1)
			}
		case "init_fail":
			d.noArgs(c)
			sc.InitFail = true
		}
	}
	if sc.Command == "" {
		// keepalived vrrp_parser.c: "No script set for vrrp_script X -
		// removing"; references to it then warn as not found.
		d.warnfKW(s.pos, WarnAdjusted, "vrrp_script", "No script set for vrrp_script %s - removing, as keepalived does", name)
		return
	}
	// keepalived vrrp_scheduler.c: a zero timeout means the interval.
	if sc.Timeout == 0 {
		sc.Timeout = sc.Interval
	}
	p.cfg.Scripts[name] = sc
}

func joinWords(w []string) string {
	out := ""
	for i, s := range w {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out
}

func (p *parser) trackFile(s *stmt) {
	d := p.d
	name, ok := p.named(s)
	if !ok {
		return
	}
	if prev, dup := p.cfg.TrackFiles[name]; dup {
		d.errorf(s.pos, "%s %s already defined at %s", s.kw, name, prev.Pos)
		return
	}
	// keepalived.conf(5) "Track files": weight defaults to 1.
	tf := &TrackFile{Pos: s.pos, Name: name, Weight: 1}
	for _, c := range s.block {
		k := p.use(InTrackFile, s.kw+" "+name, c)
		if k == nil {
			continue
		}
		switch c.kw {
		case "file":
			if d.needArgs(c, 1, "a file path") {
				tf.Path = c.arg(0)
			}
		case "weight":
			if w, rev, ok := p.weightArgs(k, c); ok {
				tf.Weight, tf.Reverse = w, rev
			}
		case "init_file":
			tf.InitFile = true
			for _, a := range c.args {
				if a.text == "overwrite" {
					tf.InitOverwrite = true
					continue
				}
				if v, ok := d.intValue(c.pos, "init_file", a.text, math.MinInt32, math.MaxInt32); ok {
					tf.InitValue = v
				}
			}
		}
	}
	if tf.Path == "" {
		d.errorf(s.pos, "%s %s has no file line", s.kw, name)
		return
	}
	p.cfg.TrackFiles[name] = tf
}

func (p *parser) trackProcess(s *stmt) {
	d := p.d
	name, ok := p.named(s)
	if !ok {
		return
	}
	if prev, dup := p.cfg.TrackProcesses[name]; dup {
		d.errorf(s.pos, "vrrp_track_process %s already defined at %s", name, prev.Pos)
		return
	}
	// keepalived.conf(5) "VRRP track processes": weight default 1, quorum 1.
	tp := &TrackProcess{Pos: s.pos, Name: name, Weight: 1, Quorum: 1, QuorumMax: -1}
	for _, c := range s.block {
		k := p.use(InTrackProcess, "vrrp_track_process "+name, c)
		if k == nil {
			continue
		}
		switch c.kw {
		case "process":
			if d.needArgs(c, 1, "a process name") {
				tp.Process = c.arg(0)
				tp.Params = nil
				for _, a := range c.args[1:] {
					tp.Params = append(tp.Params, a.text)
				}
			}
		case "param_match":
			if d.needArgs(c, 1, "initial or partial") {
				switch c.arg(0) {
				case "initial", "partial":
					tp.ParamMatch = c.arg(0)
				default:
					d.errorf(c.pos, "param_match %q must be initial or partial", c.arg(0))
				}
			}
		case "full_command":
			d.noArgs(c)
			tp.FullCommand = true
		case "weight":
			if w, rev, ok := p.weightArgs(k, c); ok {
				tp.Weight, tp.Reverse = w, rev
			}
		case "quorum":
			if v, ok := p.intKW(k, c); ok {
				tp.Quorum = v
			}
		case "quorum_max":
			if v, ok := p.intKW(k, c); ok {
				tp.QuorumMax = v
			}
		case "delay":
			if v, ok := p.durKW(k, c); ok {
				tp.ForkDelay, tp.TerminateDelay = v, v
			}
		case "fork_delay":
			if v, ok := p.durKW(k, c); ok {
				tp.ForkDelay = v
			}
		case "terminate_delay":
			if v, ok := p.durKW(k, c); ok {
				tp.TerminateDelay = v
			}
		}
	}
	if tp.Process == "" {
		d.errorf(s.pos, "vrrp_track_process %s has no process line", name)
		return
	}
	if tp.QuorumMax >= 0 && tp.QuorumMax < tp.Quorum {
		d.errorf(s.pos, "vrrp_track_process %s: quorum_max %d below quorum %d", name, tp.QuorumMax, tp.Quorum)
		return
	}
	p.cfg.TrackProcesses[name] = tp
}

func (p *parser) syncGroup(s *stmt) {
	d := p.d
	name, ok := p.named(s)
	if !ok {
		return
	}
	gd := &groupDraft{g: &SyncGroup{Pos: s.pos, Name: name}}
	p.groups = append(p.groups, gd)
	g := gd.g
	for _, c := range s.block {
		if _, known := LookupKeyword(InSyncGroup, c.kw); !known && !c.hasBlock && len(c.args) == 0 {
			// keepalived 2.2 reads a bare word here as an unknown keyword,
			// not a member (the pre-1.3 syntax without group { }).
			d.warnfKW(c.pos, WarnUnknown, "vrrp_sync_group", "vrrp_sync_group %s: %q is not a keyword; members must be listed in group { } (keepalived 2.2 ignores this line too)", name, c.kw)
			continue
		}
		if p.use(InSyncGroup, "vrrp_sync_group "+name, c) == nil {
			continue
		}
		switch c.kw {
		case "group":
			if d.needBlock(c) {
				for _, m := range c.block {
					g.Members = append(g.Members, m.words()...)
				}
			}
		case "track_interface":
			if d.needBlock(c) {
				g.TrackInterfaces = p.trackInterfaces(name, g.TrackInterfaces, c)
			}
		case "track_script":
			if d.needBlock(c) {
				gd.scripts = append(gd.scripts, p.trackRefs(c, -253, 253)...)
			}
		case "track_file":
			if d.needBlock(c) {
				gd.files = append(gd.files, p.trackRefs(c, -254, 254)...)
			}
		case "track_process":
			if d.needBlock(c) {
				gd.procs = append(gd.procs, p.trackRefs(c, -254, 254)...)
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify", "notify_priority_changes":
			p.notify(&g.Notify, c)
			gd.prioChangesSet = gd.prioChangesSet || c.kw == "notify_priority_changes"
		case "sync_group_tracking_weight":
			d.noArgs(c)
			g.TrackingWeight = true
		case "global_tracking":
			// keepalived.conf(5): deprecated; the replacement keeps weights.
			d.warnfKW(c.pos, WarnAdjusted, "global_tracking", "global_tracking is deprecated; treated as sync_group_tracking_weight")
			g.TrackingWeight = true
		}
	}
	p.cfg.SyncGroups = append(p.cfg.SyncGroups, g)
}

// dropGroup removes g from the configuration (a group keepalived removes).
func (p *parser) dropGroup(g *SyncGroup) {
	for i, x := range p.cfg.SyncGroups {
		if x == g {
			p.cfg.SyncGroups = append(p.cfg.SyncGroups[:i], p.cfg.SyncGroups[i+1:]...)
			return
		}
	}
}
