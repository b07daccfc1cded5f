package config

import (
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/xvrrp/xvrrp/vip"
)

// Options change how strictly Load judges a configuration.
type Options struct {
	// Strict turns unknown keywords into errors (xvrrpd --strict).
	Strict bool
	// ConfigID selects @ID conditional lines (keepalived -i/--config-id);
	// empty means DefaultConfigID, the host name's first label.
	ConfigID string
}

// Load reads the keepalived.conf at path and its includes, applies keepalived's
// defaults and validates everything the configuration alone allows. Warnings
// are returned in every case. When any error is found, Config is nil and the
// error is an Errors listing each one as "file:line: what is wrong".
func Load(path string, opts Options) (*Config, []Warning, error) {
	return load(path, nil, opts)
}

// Parse is Load for configuration text already in memory; name is used in
// messages and includes are resolved relative to its directory.
func Parse(name string, src []byte, opts Options) (*Config, []Warning, error) {
	return load(name, src, opts)
}

func load(path string, src []byte, opts Options) (*Config, []Warning, error) {
	d := &diag{strict: opts.Strict}
	id := opts.ConfigID
	if id == "" {
		id = DefaultConfigID()
	}
	lx := newLexer(d, id)
	if src == nil {
		lx.lexFile(path, Pos{}, 0)
	} else {
		abs, _ := filepath.Abs(path)
		lx.open[abs] = true
		lx.source = append(lx.source, path)
		lx.lexData(path, src, 0)
	}
	if lx.stopped || lx.pp.failed {
		// A bound was crossed: what was read is incomplete, and parsing it
		// would only add follow-on errors to the one that matters.
		return nil, d.warns, d.errs
	}
	tb := &treeBuilder{toks: lx.toks, d: d}
	top := tb.block(nil)

	p := newParser(d)
	p.cfg.Source = lx.source
	p.top(top)
	p.finish()
	p.cfg.Keywords = p.keywordUses()
	if len(d.errs) > 0 {
		return nil, d.warns, d.errs
	}
	return p.cfg, d.warns, nil
}

type parser struct {
	d      *diag
	cfg    *Config
	drafts []*instanceDraft
	groups []*groupDraft
	global globalDraft
	uses   map[*Keyword]int

	// rulePrios numbers rules without a preference (routes.go).
	rulePrios vip.RulePriorities
}

type globalDraft struct {
	set map[string]bool
}

func newParser(d *diag) *parser {
	return &parser{
		d: d,
		cfg: &Config{
			Global:         defaultGlobal(),
			Scripts:        map[string]*Script{},
			TrackFiles:     map[string]*TrackFile{},
			TrackProcesses: map[string]*TrackProcess{},
		},
		global: globalDraft{set: map[string]bool{}},
	}
}

// defaultGlobal holds keepalived's global defaults (keepalived.conf(5)
// "Global definitions").
func defaultGlobal() Global {
	return Global{
		VRRPVersion:             2,
		McastGroup4:             netip.MustParseAddr("224.0.0.18"),
		McastGroup6:             netip.MustParseAddr("ff02::12"),
		GarpMasterDelay:         5 * time.Second,
		GarpMasterRepeat:        5,
		GarpMasterRefreshRepeat: 1,
		DownTimerAdverts:        3,
	}
}

func (p *parser) top(stmts []*stmt) {
	for _, s := range stmts {
		if p.use(InTop, "the top level", s) == nil {
			continue
		}
		switch s.kw {
		case "static_ipaddress":
			if p.d.needBlock(s) {
				for _, l := range s.block {
					if v, ok := p.vip(l); ok {
						p.cfg.StaticAddresses = append(p.cfg.StaticAddresses, v)
					}
				}
			}
		case "static_routes":
			p.cfg.StaticRoutes = append(p.cfg.StaticRoutes, p.routes("static_routes", s)...)
		case "static_rules":
			p.cfg.StaticRules = append(p.cfg.StaticRules, p.rules("static_rules", s)...)
		case "global_defs":
			if p.d.needBlock(s) {
				p.cfg.Global.Pos = s.pos
				p.globalDefs(s.block)
			}
		case "vrrp_instance":
			p.instance(s)
		case "vrrp_sync_group":
			p.syncGroup(s)
		case "vrrp_script":
			p.script(s)
		case "vrrp_track_file", "track_file":
			p.trackFile(s)
		case "vrrp_track_process":
			p.trackProcess(s)
		}
	}
}

func (p *parser) globalDefs(stmts []*stmt) {
	g := &p.cfg.Global
	d := p.d
	for _, s := range stmts {
		k := p.use(InGlobal, "global_defs", s)
		if k == nil {
			continue
		}
		p.global.set[s.kw] = true
		if strings.HasPrefix(s.kw, "vrrp_") && p.garp(k, strings.TrimPrefix(s.kw, "vrrp_"), s, g.garpTargets()) {
			continue
		}
		if s.kw == "v3_checksum_as_v2" && p.garp(k, s.kw, s, g.garpTargets()) {
			continue
		}
		switch s.kw {
		case "router_id":
			if d.needArgs(s, 1, "a name") {
				g.RouterID = s.arg(0)
			}
		case "vrrp_version":
			if v, ok := p.intKW(k, s); ok {
				g.VRRPVersion = v
			}
		case "vrrp_mcast_group4":
			if a, ok := d.addrArg(s, 0); ok {
				if !a.Is4() || !a.IsMulticast() {
					d.errorf(s.pos, "vrrp_mcast_group4 %s is not an IPv4 multicast address", a)
				} else {
					g.McastGroup4 = a
				}
			}
		case "vrrp_mcast_group6":
			if a, ok := d.addrArg(s, 0); ok {
				// keepalived.conf(5): IPv6 multicast addresses must be link-local (ffX2::).
				if !a.Is6() || !a.IsLinkLocalMulticast() {
					d.errorf(s.pos, "vrrp_mcast_group6 %s is not a link-local IPv6 multicast address (ffX2::)", a)
				} else {
					g.McastGroup6 = a
				}
			}
		case "vrrp_garp_interval":
			if v, ok := p.durKW(k, s); ok {
				g.GarpInterval = v
			}
		case "vrrp_gna_interval":
			if v, ok := p.durKW(k, s); ok {
				g.GnaInterval = v
			}
		case "vrrp_min_garp":
			// keepalived.conf(5) vrrp_min_garp: one GARP/NA, no second burst.
			if v, ok := d.boolArg(s); ok && v {
				g.GarpMasterRepeat = 1
				g.GarpMasterDelay = 0
			}
		case "vrrp_strict":
			d.noArgs(s)
			g.Strict = true
		case "vrrp_priority":
			if v, ok := p.intKW(k, s); ok {
				g.VRRPNice, g.VRRPNiceSet = v, true
			}
		case "vrrp_rt_priority":
			if v, ok := p.intKW(k, s); ok {
				g.VRRPRTPriority = v
			}
		case "vrrp_rlimit_rttime":
			if v, ok := p.intKW(k, s); ok {
				g.VRRPRLimitRTTime = v
			}
		case "vrrp_cpu_affinity":
			// keepalived.conf(5): `vrrp_cpu_affinity <CPU-IDs>`, CPU numbers.
			if d.needArgs(s, 1, "CPU numbers") {
				g.VRRPCPUAffinity = nil
				for i := range s.args {
					if v, ok := d.intValue(s.pos, s.kw, s.arg(i), 0, 1023); ok {
						g.VRRPCPUAffinity = append(g.VRRPCPUAffinity, v)
					}
				}
			}
		case "vrrp_notify_priority_changes":
			if v, ok := d.boolArg(s); ok {
				g.NotifyPriorityChanges = v
			}
		case "vrrp_startup_delay":
			if v, ok := p.durKW(k, s); ok {
				g.StartupDelay = v
			}
		case "script_user":
			if d.needArgs(s, 1, "a user name") {
				if len(s.args) > 2 {
					d.errorf(s.pos, "script_user takes a user and an optional group")
				}
				g.ScriptUser, g.ScriptGroup = s.arg(0), s.arg(1)
			}
		case "enable_script_security":
			d.noArgs(s)
			g.EnableScriptSecurity = true
		case "notify_fifo", "vrrp_notify_fifo":
			if d.needArgs(s, 1, "a FIFO path") {
				if len(s.args) > 3 {
					d.errorf(s.pos, "%s takes a path, an optional user and an optional group", s.kw)
				}
				f := &FIFO{Pos: s.pos, Path: s.arg(0), User: s.arg(1), Group: s.arg(2)}
				if s.kw == "notify_fifo" {
					g.NotifyFIFO = f
				} else {
					g.VRRPNotifyFIFO = f
				}
			}
		}
	}
}

// finishGlobal applies the global defaults that depend on other global values.
func (p *parser) finishGlobal() {
	g := &p.cfg.Global
	// keepalived.conf(5): the lower-priority GARP settings default to the master ones.
	if !p.global.set["vrrp_garp_lower_prio_delay"] {
		g.GarpLowerPrioDelay = g.GarpMasterDelay
	}
	if !p.global.set["vrrp_garp_lower_prio_repeat"] {
		g.GarpLowerPrioRepeat = g.GarpMasterRepeat
	}
	// keepalived.conf(5) vrrp_lower_prio_no_advert: defaults to false unless strict.
	if g.Strict && !p.global.set["vrrp_lower_prio_no_advert"] {
		g.LowerPrioNoAdvert = true
	}
}
