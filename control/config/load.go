package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// Options change how strictly Load judges a configuration.
type Options struct {
	// Strict turns unknown keywords into errors (xvrrpd --strict).
	Strict bool
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
	lx := &lexer{d: d, open: map[string]bool{}, read: os.ReadFile}
	if src == nil {
		lx.lexFile(path, Pos{}, 0)
	} else {
		abs, _ := filepath.Abs(path)
		lx.open[abs] = true
		lx.source = append(lx.source, path)
		lx.lexData(path, src, 0)
	}
	tb := &treeBuilder{toks: lx.toks, d: d}
	top := tb.block(nil)

	p := newParser(d)
	p.cfg.Source = lx.source
	p.top(top)
	p.finish()
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

// Top-level blocks keepalived defines for features xvrrp does not serve.
var ignoredTop = map[string]string{
	"virtual_server":           "LVS",
	"virtual_server_group":     "LVS",
	"real_server":              "LVS",
	"ssl":                      "LVS checkers",
	"bfd_instance":             "BFD",
	"static_ipaddress":         "static addresses",
	"static_routes":            "static routes",
	"static_rules":             "static rules",
	"static_track_group":       "static addresses",
	"garp_group":               "per-interface GARP groups",
	"linkbeat_interfaces":      "linkbeat polling",
	"interface_up_down_delays": "interface debouncing",
	"vrrp_track_bfd":           "BFD",
}

func (p *parser) top(stmts []*stmt) {
	for _, s := range stmts {
		switch s.kw {
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
		default:
			if why, ok := ignoredTop[s.kw]; ok {
				p.d.ignored(s, why)
				continue
			}
			p.d.unknown(s, "the top level")
		}
	}
}

// Global keywords keepalived defines for features xvrrp does not serve.
var ignoredGlobal = map[string]string{
	"notification_email": "SMTP alerts", "notification_email_from": "SMTP alerts",
	"smtp_server": "SMTP alerts", "smtp_helo_name": "SMTP alerts", "smtp_connect_timeout": "SMTP alerts",
	"smtp_alert": "SMTP alerts", "smtp_alert_vrrp": "SMTP alerts", "smtp_alert_checker": "SMTP alerts",
	"no_email_faults": "SMTP alerts",
	"enable_traps":    "SNMP", "enable_snmp_vrrp": "SNMP", "enable_snmp_keepalived": "SNMP",
	"enable_snmp_checker": "SNMP", "enable_snmp_rfc": "SNMP", "enable_snmp_rfcv2": "SNMP",
	"enable_snmp_rfcv3": "SNMP", "snmp_socket": "SNMP",
	"enable_dbus": "D-Bus", "dbus_service_name": "D-Bus",
	"lvs_id": "LVS", "lvs_sync_daemon": "LVS", "lvs_timeouts": "LVS", "lvs_flush": "LVS",
	"lvs_flush_on_stop": "LVS", "lvs_notify_fifo": "LVS", "lvs_notify_fifo_script": "LVS",
	"checker_priority": "LVS checkers", "checker_rt_priority": "LVS checkers",
	"checker_process_name": "LVS checkers", "checker_no_swap": "LVS checkers",
	"checker_cpu_affinity": "LVS checkers", "checker_log_all_failures": "LVS checkers",
	"bfd_priority": "BFD", "bfd_rt_priority": "BFD", "bfd_process_name": "BFD", "bfd_no_swap": "BFD",
	"bfd_cpu_affinity": "BFD",
	"vrrp_iptables":    "firewall rules", "vrrp_ipsets": "firewall rules", "nftables": "firewall rules",
	"nftables_priority": "firewall rules", "nftables_ifindex": "firewall rules",
	"nftables_counters": "firewall rules", "nftables_ipvs_priority": "firewall rules",
	"default_interface":  "static addresses",
	"vrrp_garp_extra_if": "extra-interface GARP refresh",
	"vrrp_no_swap":       "process scheduling", "max_auto_priority": "process scheduling",
	"min_auto_priority_delay": "process scheduling", "vrrp_process_name": "process naming",
	"process_names": "process naming", "process_name": "process naming",
	"dynamic_interfaces": "dynamic interfaces", "log_unknown_vrids": "logging (counted by the XDP program instead)",
	"vmac_prefix": "VMAC naming", "vmac_addr_prefix": "VMAC naming", "random_seed": "parameter substitution",
	"reload_check_config": "reload checking", "include_check": "include checks",
	"notify_fifo_script": "FIFO scripts", "vrrp_notify_fifo_script": "FIFO scripts",
	"net_namespace": "network namespaces", "net_namespace_ipvs": "network namespaces",
	"namespace_with_ipsets": "network namespaces", "instance": "multiple instances",
	"use_pid_dir": "pid directories", "linkbeat_use_polling": "linkbeat polling",
	"disable_local_igmp": "IGMP control", "vrrp_rx_bufs_policy": "socket buffer tuning",
	"vrrp_rx_bufs_multiplier": "socket buffer tuning", "vrrp_netlink_cmd_rcv_bufs": "netlink tuning",
	"vrrp_netlink_cmd_rcv_bufs_force": "netlink tuning", "vrrp_netlink_monitor_rcv_bufs": "netlink tuning",
	"vrrp_netlink_monitor_rcv_bufs_force": "netlink tuning", "umask": "file modes",
	"startup_script": "startup/shutdown scripts", "startup_script_timeout": "startup/shutdown scripts",
	"shutdown_script": "startup/shutdown scripts", "shutdown_script_timeout": "startup/shutdown scripts",
	"script_security": "script security", "vrrp_dont_load": "", "vrrp_version_ipv6": "",
}

func (p *parser) globalDefs(stmts []*stmt) {
	g := &p.cfg.Global
	d := p.d
	for _, s := range stmts {
		p.global.set[s.kw] = true
		if s.kw != "notification_email" {
			d.noBlock(s)
		}
		switch s.kw {
		case "router_id":
			if d.needArgs(s, 1, "a name") {
				g.RouterID = s.arg(0)
			}
		case "vrrp_version":
			// keepalived.conf(5): vrrp_version <2 or 3>.
			if v, ok := d.intArg(s, 0, 2, 3); ok {
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
		case "vrrp_garp_master_delay":
			if v, ok := d.secondsArg(s, 0, 255*time.Second); ok {
				g.GarpMasterDelay = v.Truncate(time.Second)
			}
		case "vrrp_garp_master_repeat":
			if v, ok := d.intArg(s, 0, 0, 255); ok {
				g.GarpMasterRepeat = v
			}
		case "vrrp_garp_lower_prio_delay":
			if v, ok := d.secondsArg(s, 0, 255*time.Second); ok {
				g.GarpLowerPrioDelay = v.Truncate(time.Second)
			}
		case "vrrp_garp_lower_prio_repeat":
			if v, ok := d.intArg(s, 0, 0, 255); ok {
				g.GarpLowerPrioRepeat = v
			}
		case "vrrp_garp_master_refresh":
			if v, ok := d.secondsArg(s, 0, 86400*time.Second); ok {
				g.GarpMasterRefresh = v.Truncate(time.Second)
			}
		case "vrrp_garp_master_refresh_repeat":
			if v, ok := d.intArg(s, 0, 1, 255); ok {
				g.GarpMasterRefreshRepeat = v
			}
		case "vrrp_garp_interval":
			if v, ok := d.secondsArg(s, 0, time.Second); ok {
				g.GarpInterval = v
			}
		case "vrrp_gna_interval":
			if v, ok := d.secondsArg(s, 0, time.Second); ok {
				g.GnaInterval = v
			}
		case "vrrp_min_garp":
			// keepalived.conf(5) vrrp_min_garp: one GARP/NA, no second burst.
			if v, ok := d.boolArg(s); ok && v {
				g.GarpMasterRepeat = 1
				g.GarpMasterDelay = 0
			}
		case "vrrp_down_timer_adverts":
			if v, ok := d.intArg(s, 0, 1, 100); ok {
				g.DownTimerAdverts = v
			}
		case "vrrp_lower_prio_no_advert":
			if v, ok := d.boolArg(s); ok {
				g.LowerPrioNoAdvert = v
			}
		case "vrrp_higher_prio_send_advert":
			if v, ok := d.boolArg(s); ok {
				g.HigherPrioSendAdvert = v
			}
		case "vrrp_check_unicast_src":
			d.noArgs(s)
			g.CheckUnicastSrc = true
		case "vrrp_skip_check_adv_addr":
			if v, ok := d.boolArg(s); ok {
				g.SkipCheckAdvAddr = v
			}
		case "vrrp_strict":
			d.noArgs(s)
			g.Strict = true
		case "vrrp_priority":
			if v, ok := d.intArg(s, 0, -20, 19); ok {
				g.VRRPNice, g.VRRPNiceSet = v, true
			}
		case "vrrp_rt_priority":
			if v, ok := d.intArg(s, 0, 1, 99); ok {
				g.VRRPRTPriority = v
			}
		case "vrrp_rlimit_rttime":
			if v, ok := d.intArg(s, 0, 2, 1<<31-1); ok {
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
		case "v3_checksum_as_v2":
			// keepalived.conf(5) global_defs: `v3_checksum_as_v2 [<BOOL>]`,
			// "See vrrp_instance description": the default for every instance.
			if v, ok := d.boolArg(s); ok {
				g.V3ChecksumAsV2 = v
			}
		case "vrrp_startup_delay":
			if v, ok := d.secondsArg(s, 0, 3600*time.Second); ok {
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
		default:
			if why, ok := ignoredGlobal[s.kw]; ok {
				if why == "" {
					why = "not applicable"
				}
				d.ignored(s, why)
				continue
			}
			d.unknown(s, "global_defs")
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
