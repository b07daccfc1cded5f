package track

import (
	"fmt"
	"sort"

	"github.com/xvrrp/xvrrp/control/config"
)

// This file maps keepalived's configuration (control/config) onto the
// trackers' settings: which trackers an instance uses, who scripts run as,
// and each tracker kind's config. The daemon starts what it returns.

// RunAsFor resolves who a script runs as: its own user/group, else the
// global script_user, else keepalived_script when that user exists, else
// xvrrpd's own user (keepalived.conf(5) script_user: "the user keepalived
// runs as"). That is root when xvrrpd runs as root, as in keepalived; a
// non-root xvrrpd never raises scripts to root unless told to.
func RunAsFor(user, group string, g config.Global) (RunAs, error) {
	switch {
	case user != "":
		return LookupRunAs(user, group)
	case g.ScriptUser != "":
		return LookupRunAs(g.ScriptUser, g.ScriptGroup)
	}
	if r, err := LookupRunAs("keepalived_script", ""); err == nil {
		return r, nil
	}
	return Self(), nil
}

// Used lists the trackers some instance or sync group refers to, and for
// scripts which instances.
type Used struct {
	Scripts map[string][]string
	Files   map[string]bool
	Procs   map[string]bool
}

// UsedBy lists the trackers cfg's instances and sync groups refer to.
func UsedBy(cfg *config.Config) Used {
	u := Used{Scripts: map[string][]string{}, Files: map[string]bool{}, Procs: map[string]bool{}}
	groups := map[string]*config.SyncGroup{}
	for _, g := range cfg.SyncGroups {
		groups[g.Name] = g
	}
	for _, in := range cfg.Instances {
		for _, ref := range RefsOf(in, groups[in.SyncGroup]) {
			switch ref.Kind {
			case KindScript:
				u.Scripts[ref.Name] = append(u.Scripts[ref.Name], in.Name)
			case KindFile:
				u.Files[ref.Name] = true
			case KindProcess:
				u.Procs[ref.Name] = true
			}
		}
	}
	return u
}

// Ref is one tracker as one instance uses it.
type Ref struct {
	Kind Kind
	config.TrackRef
}

// ContributionWeight is the instance's weight for the tracker, for
// Contribute.
func (r Ref) ContributionWeight() Weight { return Weight{Weight: r.Weight, Reverse: r.Reverse} }

// RefsOf lists an instance's trackers: its own and its sync group's
// (keepalived applies a group's track_* to every member). g may be nil.
func RefsOf(in *config.Instance, g *config.SyncGroup) []Ref {
	var out []Ref
	add := func(k Kind, refs []config.TrackRef) {
		for _, r := range refs {
			out = append(out, Ref{k, r})
		}
	}
	addIf := func(tis []config.TrackInterface) {
		for _, ti := range tis {
			out = append(out, Ref{KindInterface, config.TrackRef(ti)})
		}
	}
	add(KindScript, in.TrackScripts)
	add(KindFile, in.TrackFiles)
	add(KindProcess, in.TrackProcesses)
	addIf(in.TrackInterfaces)
	if g != nil {
		add(KindScript, g.TrackScripts)
		add(KindFile, g.TrackFiles)
		add(KindProcess, g.TrackProcesses)
		addIf(g.TrackInterfaces)
	}
	return out
}

// ScriptConfigFrom is a vrrp_script's tracker settings; the caller sets Env.
func ScriptConfigFrom(name string, sc *config.Script, ra RunAs) ScriptConfig {
	return ScriptConfig{Name: name, Args: sc.Args, Interval: sc.Interval, Timeout: sc.Timeout,
		Rise: sc.Rise, Fall: sc.Fall, RunAs: ra, InitFail: sc.InitFail}
}

// FileConfigFrom is a track_file's tracker settings.
func FileConfigFrom(name string, f *config.TrackFile) FileConfig {
	return FileConfig{Name: name, Path: f.Path, InitFile: f.InitFile, InitValue: f.InitValue, InitOverwrite: f.InitOverwrite}
}

// ProcessConfigFrom is a vrrp_track_process's tracker settings.
func ProcessConfigFrom(name string, p *config.TrackProcess) ProcessConfig {
	pc := ProcessConfig{Name: name, Process: p.Process, Params: p.Params, FullCommand: p.FullCommand,
		Quorum: p.Quorum, QuorumMax: p.QuorumMax, ForkDelay: p.ForkDelay, TerminateDelay: p.TerminateDelay}
	switch p.ParamMatch {
	case "initial":
		pc.Match = ParamInitial
	case "partial":
		pc.Match = ParamPartial
	}
	return pc
}

// NotifyScriptsFrom is the notify scripts of an instance or sync group.
func NotifyScriptsFrom(n config.Notify) NotifyScripts {
	args := func(s *config.NotifyScript) []string {
		if s == nil {
			return nil
		}
		return s.Args
	}
	return NotifyScripts{Master: args(n.Master), Backup: args(n.Backup), Fault: args(n.Fault), Stop: args(n.Stop), Notify: args(n.Any)}
}

// SecurityFindings applies the script-security rule to every used script
// and every notify script of cfg, for xvrrpd -t: one line per insecure
// script.
func SecurityFindings(cfg *config.Config) []string {
	var out []string
	check := func(pos config.Pos, what string, args []string, user, group string) {
		if len(args) == 0 {
			return
		}
		ra, err := RunAsFor(user, group, cfg.Global)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %s: %v", pos, what, err))
			return
		}
		// The runtime looks a bare command up in PATH; so does the check.
		path, err := LookPath(args[0])
		if err == nil {
			err = CheckScriptSecurity(path, ra)
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %s: %v", pos, what, err))
		}
	}
	// In file order, so xvrrpd -t prints the same report every time.
	used := UsedBy(cfg).Scripts
	names := make([]string, 0, len(used))
	for name := range used {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := cfg.Scripts[names[i]].Pos, cfg.Scripts[names[j]].Pos
		return a.File < b.File || a.File == b.File && a.Line < b.Line
	})
	for _, name := range names {
		s := cfg.Scripts[name]
		check(s.Pos, "vrrp_script "+name, s.Args, s.User, s.Group)
	}
	notify := func(owner string, n config.Notify) {
		for _, s := range []*config.NotifyScript{n.Master, n.Backup, n.Fault, n.Stop, n.Any} {
			if s != nil {
				check(s.Pos, owner+" notify", s.Args, s.User, s.Group)
			}
		}
	}
	for _, in := range cfg.Instances {
		notify("vrrp_instance "+in.Name, in.Notify)
	}
	for _, g := range cfg.SyncGroups {
		notify("vrrp_sync_group "+g.Name, g.Notify)
	}
	return out
}

// RunsScriptsAsRoot reports whether any script or notify script in use runs
// with uid or gid 0.
func RunsScriptsAsRoot(cfg *config.Config) bool {
	for _, ra := range ScriptIdentities(cfg) {
		if ra.UID == 0 || ra.GID == 0 {
			return true
		}
	}
	return false
}

// ScriptIdentities lists who the scripts and notify scripts in use run as
// (RunAsFor); identities that do not resolve are left out (the trackers
// report them when they start).
func ScriptIdentities(cfg *config.Config) []RunAs {
	var out []RunAs
	add := func(user, group string) {
		if ra, err := RunAsFor(user, group, cfg.Global); err == nil {
			out = append(out, ra)
		}
	}
	for name := range UsedBy(cfg).Scripts {
		if s := cfg.Scripts[name]; s != nil {
			add(s.User, s.Group)
		}
	}
	notify := func(n config.Notify) {
		for _, s := range []*config.NotifyScript{n.Master, n.Backup, n.Fault, n.Stop, n.Any, n.MasterRxLowerPri} {
			if s != nil {
				add(s.User, s.Group)
			}
		}
	}
	for _, in := range cfg.Instances {
		notify(in.Notify)
	}
	for _, g := range cfg.SyncGroups {
		notify(g.Notify)
	}
	return out
}
