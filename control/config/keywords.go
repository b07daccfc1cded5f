package config

import (
	"fmt"
	"sort"
	"strings"
)

// Where is the block a keyword may appear in.
type Where string

const (
	InTop          Where = "top level"
	InGlobal       Where = "global_defs"
	InInstance     Where = "vrrp_instance"
	InSyncGroup    Where = "vrrp_sync_group"
	InScript       Where = "vrrp_script"
	InTrackFile    Where = "vrrp_track_file"
	InTrackProcess Where = "vrrp_track_process"
	InAuth         Where = "authentication"
)

// Serving says what xvrrpd does with a keyword.
type Serving int

const (
	// Served: read and acted on.
	Served Serving = iota
	// NotServed: accepted (with its block, if any) and skipped with a warning
	// giving Why.
	NotServed
	// NotServedYet: read into typed configuration and checked, not yet acted
	// on (warned about with Why).
	NotServedYet
)

func (s Serving) String() string {
	switch s {
	case Served:
		return "served"
	case NotServed:
		return "ignored"
	case NotServedYet:
		return "parsed, not served yet"
	}
	return fmt.Sprintf("Serving(%d)", int(s))
}

// ValueKind is how the parser reads a keyword's value.
type ValueKind int

const (
	// KindText: words its handler reads and checks (names, addresses, commands).
	KindText ValueKind = iota
	// KindNone: the keyword alone.
	KindNone
	// KindBool: keepalived's optional <BOOL> (on|off|true|false|yes|no).
	KindBool
	// KindInt: an integer in [Min, Max].
	KindInt
	// KindSeconds: whole seconds in [Min, Max] (keepalived reads an unsigned
	// integer: "0.5" is invalid).
	KindSeconds
	// KindDecimal: decimal seconds to the microsecond in [Min, Max]
	// (keepalived.conf(5) <TIMER>).
	KindDecimal
)

func (k ValueKind) String() string {
	return [...]string{"text", "none", "bool", "integer", "whole seconds", "decimal seconds"}[k]
}

// Keyword declares one keyword of keepalived.conf(5): where it may appear,
// its value, and what xvrrpd does with it. The parser dispatches on this
// table and reads numeric values through it (parser.intKW, parser.durKW), so
// a range is written once; unknown-keyword and not-served warnings come from
// it, and docs/configuration.md is generated from it
// (TestKeywordDocUpToDate).
type Keyword struct {
	Name  string
	Where Where
	// Value is the value's form as keepalived.conf(5) writes it, "" for none.
	Value string
	Kind  ValueKind
	// Min, Max bound a KindInt/KindSeconds/KindDecimal value, in Unit
	// ("s", "adverts"); they are keepalived 2.2.7's own bounds (measured
	// with keepalived -t).
	Min, Max float64
	Unit     string
	// ClampLow: a value below Min is raised to Min with keepalived's warning
	// ("must be greater than 0, setting to 1") instead of being refused.
	ClampLow bool
	// LowKeepsDefault: a value in [0, Min) is one keepalived reports as
	// invalid and ignores, keeping its default; xvrrpd warns and keeps the
	// same default (keepalived's own installed keepalived.conf writes
	// vrrp_garp_interval 0, which is the default).
	LowKeepsDefault bool
	Block           bool // takes a { } block
	Serve           Serving
	// Why: for NotServed/NotServedYet, what is not done; for Served, how xvrrpd
	// differs from keepalived ("" when it does not).
	Why string
}

// Numeric reports whether the parser range-checks the value.
func (k *Keyword) Numeric() bool {
	return k.Kind == KindInt || k.Kind == KindSeconds || k.Kind == KindDecimal
}

// Reasons shared by many keywords.
const (
	whyLVS      = "LVS"
	whyBFD      = "BFD"
	whySMTP     = "SMTP alerts are not sent; use notify scripts"
	whySNMP     = "SNMP is not served; use the Prometheus metrics"
	whyDBus     = "D-Bus is not served; use xvrrpctl's control socket"
	whySched    = "xvrrpd runs at the priority it is started with (chrt, nice, systemd CPUSchedulingPolicy=)"
	whyFirewall = "xvrrpd installs no iptables/nftables rules"
	whyNames    = "process naming applies to keepalived's child processes, which xvrrpd does not fork"
	whyTuning   = "socket and netlink buffer tuning is not needed by the XDP receive path"
	whyRoutes   = "a line with an option the netlink library cannot send, or a name from /etc/iproute2 (rt_tables, rt_realms, rt_dsfield), is skipped with a warning: see docs/configuration-routes.md"
	whyNS       = "run xvrrpd inside the namespace instead (ip netns exec)"
)

func kw(name string, w Where, value string) Keyword {
	k := Keyword{Name: name, Where: w, Value: value}
	switch {
	case value == "":
		k.Kind = KindNone
	case value == "[BOOL]":
		k.Kind = KindBool
	}
	return k
}

// kwr declares an integer keyword.
func kwr(name string, w Where, value string, lo, hi float64, unit string) Keyword {
	return Keyword{Name: name, Where: w, Value: value, Kind: KindInt, Min: lo, Max: hi, Unit: unit}
}

// kws declares a whole-seconds keyword.
func kws(name string, w Where, lo, hi float64) Keyword {
	return Keyword{Name: name, Where: w, Value: "SECONDS", Kind: KindSeconds, Min: lo, Max: hi, Unit: "s"}
}

// kwd declares a decimal-seconds keyword.
func kwd(name string, w Where, lo, hi float64) Keyword {
	return Keyword{Name: name, Where: w, Value: "SECONDS", Kind: KindDecimal, Min: lo, Max: hi, Unit: "s"}
}
func kwb(name string, w Where) Keyword {
	return Keyword{Name: name, Where: w, Block: true, Kind: KindNone}
}
func ign(name string, w Where, why string) Keyword {
	return Keyword{Name: name, Where: w, Serve: NotServed, Why: why, Block: true}
}
func differs(k Keyword, why string) Keyword { k.Why = why; return k }
func notYet(k Keyword, why string) Keyword  { k.Serve, k.Why = NotServedYet, why; return k }
func clampLow(k Keyword) Keyword            { k.ClampLow = true; return k }
func lowKeepsDefault(k Keyword) Keyword     { k.LowKeepsDefault = true; return k }

// maxUint32 is keepalived's "unsigned integer range".
const maxUint32 = 4294967295

// garpKeywords are the GARP/advert timing keywords that exist in global_defs
// (with a vrrp_ prefix, the default) and in vrrp_instance (without it): one
// declaration each, one parser (parser.garp) for both places.
var garpKeywords = []Keyword{
	kws("garp_master_delay", "", 0, 4294),
	clampLow(kwr("garp_master_repeat", "", "COUNT", 1, maxUint32, "messages")),
	kws("garp_lower_prio_delay", "", 0, 4294),
	kwr("garp_lower_prio_repeat", "", "COUNT", 0, 2147483647, "messages"),
	kws("garp_master_refresh", "", 0, maxUint32),
	clampLow(kwr("garp_master_refresh_repeat", "", "COUNT", 1, maxUint32, "messages")),
	kwr("down_timer_adverts", "", "COUNT", 1, 100, "adverts"),
	kw("lower_prio_no_advert", "", "[BOOL]"),
	kw("higher_prio_send_advert", "", "[BOOL]"),
	kw("skip_check_adv_addr", "", "[BOOL]"),
	kw("check_unicast_src", "", ""),
	kw("v3_checksum_as_v2", "", "[BOOL]"),
}

var keywordTable = func() []Keyword {
	t := []Keyword{
		kwb("global_defs", InTop), kwb("vrrp_instance", InTop), kwb("vrrp_sync_group", InTop),
		kwb("vrrp_script", InTop), kwb("vrrp_track_file", InTop), kwb("track_file", InTop),
		kwb("vrrp_track_process", InTop),
		{Name: "static_ipaddress", Where: InTop, Block: true, Kind: KindNone, Serve: Served, Why: "an address without dev goes on eth0 (default_interface is not read)"},
		{Name: "static_routes", Where: InTop, Block: true, Kind: KindNone, Serve: Served, Why: whyRoutes},
		{Name: "static_rules", Where: InTop, Block: true, Kind: KindNone, Serve: Served, Why: whyRoutes},
		ign("virtual_server", InTop, whyLVS), ign("virtual_server_group", InTop, whyLVS),
		ign("real_server", InTop, whyLVS), ign("ssl", InTop, whyLVS), ign("bfd_instance", InTop, whyBFD),
		ign("static_track_group", InTop, "track groups apply to static addresses, which are not served yet"),
		ign("garp_group", InTop, "per-interface GARP groups are not served"),
		ign("linkbeat_interfaces", InTop, "link state comes from netlink, not polling"),
		ign("interface_up_down_delays", InTop, "interface debouncing is not served"),
		ign("vrrp_track_bfd", InTop, whyBFD),
		// keepalived reads these process-wide keywords outside global_defs too.
		ign("net_namespace", InTop, whyNS), ign("net_namespace_ipvs", InTop, whyNS),
		ign("namespace_with_ipsets", InTop, whyNS),
		ign("instance", InTop, "one xvrrpd per configuration; use distinct -pid-file and -control-socket"),
		ign("use_pid_dir", InTop, "use -pid-file"),

		kw("router_id", InGlobal, "STRING"), kwr("vrrp_version", InGlobal, "2|3", 2, 3, ""),
		kw("vrrp_mcast_group4", InGlobal, "IPV4 MULTICAST"), kw("vrrp_mcast_group6", InGlobal, "IPV6 LINK-LOCAL MULTICAST"),
		lowKeepsDefault(kwd("vrrp_garp_interval", InGlobal, 0.000001, 4294.967295)),
		lowKeepsDefault(kwd("vrrp_gna_interval", InGlobal, 0.000001, 4294.967295)),
		kw("vrrp_min_garp", InGlobal, "[BOOL]"), kw("vrrp_strict", InGlobal, ""),
		{Name: "vrrp_notify_priority_changes", Where: InGlobal, Value: "[BOOL]", Kind: KindBool},
		kwr("vrrp_priority", InGlobal, "NICE", -20, 19, ""), kwr("vrrp_rt_priority", InGlobal, "PRIORITY", 1, 99, ""),
		kwr("vrrp_rlimit_rttime", InGlobal, "MICROSECONDS", 2, 1<<31-1, "µs"), kw("vrrp_cpu_affinity", InGlobal, "CPU..."),
		lowKeepsDefault(kwd("vrrp_startup_delay", InGlobal, 0.001, 4294.967295)),
		kw("script_user", InGlobal, "USER [GROUP]"),
		differs(kw("enable_script_security", InGlobal, ""), "an insecure script fails its tracker with a message naming the path component, instead of being removed silently"),
		kw("notify_fifo", InGlobal, "PATH [USER [GROUP]]"),
		{Name: "vrrp_notify_fifo", Where: InGlobal, Value: "PATH [USER [GROUP]]", Serve: NotServedYet, Why: "only notify_fifo is written; use it instead"},

		kw("state", InInstance, "MASTER|BACKUP"), kw("interface", InInstance, "IFNAME"),
		kwr("virtual_router_id", InInstance, "VRID", 1, 255, ""), kwr("priority", InInstance, "PRIORITY", 1, 255, ""),
		kw("advert_int", InInstance, "SECONDS"), kwr("version", InInstance, "2|3", 2, 3, ""),
		kw("nopreempt", InInstance, ""), kw("no_preempt", InInstance, ""), kw("preempt", InInstance, ""),
		kwd("preempt_delay", InInstance, 0, 1000),
		kw("accept", InInstance, ""), kw("no_accept", InInstance, ""), kw("strict_mode", InInstance, "[BOOL]"),
		kw("native_ipv6", InInstance, ""),
		kwb("authentication", InInstance),
		kw("unicast_src_ip", InInstance, "IPADDR"), kw("mcast_src_ip", InInstance, "IPADDR"),
		kwb("unicast_peer", InInstance), kw("mcast_dst_ip", InInstance, "IPADDR"),
		notYet(kwr("unicast_ttl", InInstance, "TTL", 0, 255, ""), "unicast adverts are sent with TTL 255 (RFC 5798 §5.1.1.3) whatever is configured"),
		kwb("virtual_ipaddress", InInstance), kwb("virtual_ipaddress_excluded", InInstance),
		{Name: "virtual_routes", Where: InInstance, Block: true, Kind: KindNone, Serve: Served, Why: whyRoutes},
		{Name: "virtual_rules", Where: InInstance, Block: true, Kind: KindNone, Serve: Served, Why: whyRoutes},
		differs(kw("use_vmac", InInstance, "[IFNAME]"), "adverts leave on the parent's packet socket with the virtual MAC as source (the same frame keepalived sends from the macvlan)"),
		kw("vmac_xmit_base", InInstance, ""), kw("dont_track_primary", InInstance, ""),
		kwb("track_interface", InInstance), kwb("track_script", InInstance), kwb("track_file", InInstance),
		kwb("track_process", InInstance),
		kw("notify_master", InInstance, "COMMAND [USER [GROUP]]"), kw("notify_backup", InInstance, "COMMAND [USER [GROUP]]"),
		kw("notify_fault", InInstance, "COMMAND [USER [GROUP]]"), kw("notify_stop", InInstance, "COMMAND [USER [GROUP]]"),
		kw("notify", InInstance, "COMMAND [USER [GROUP]]"),
		kw("notify_master_rx_lower_pri", InInstance, "COMMAND [USER [GROUP]]"),
		kw("notify_priority_changes", InInstance, "[BOOL]"),
		kw("old_unicast_checksum", InInstance, "[never]"),
		ign("smtp_alert", InInstance, whySMTP), ign("debug", InInstance, "keepalived does not implement it either"),
		ign("promote_secondaries", InInstance, "interface flags are left as they are"),
		ign("track_bfd", InInstance, whyBFD), ign("use_vmac_addr", InInstance, "VMACs per VIP are not served"),
		ign("use_ipvlan", InInstance, "ipvlan interfaces are not created"), ign("vrf", InInstance, "VRFs are not served"),
		ign("kernel_rx_buf_size", InInstance, whyTuning), ign("linkbeat_use_polling", InInstance, "link state comes from netlink, not polling"),
		ign("track_src_ip", InInstance, "source address tracking is not served"),
		ign("unicast_fault_no_peer", InInstance, "an instance without peers is not put in FAULT"),
		ign("notify_deleted", InInstance, "DELETED notifications are not sent"),
		ign("garp_extra_if", InInstance, "GARP refresh on extra interfaces is not served"),
		ign("garp_extra_if_vmac", InInstance, "GARP refresh on extra interfaces is not served"),
		ign("lvs_sync_daemon_interface", InInstance, whyLVS),

		kwb("group", InSyncGroup), kwb("track_interface", InSyncGroup), kwb("track_script", InSyncGroup),
		kwb("track_file", InSyncGroup), kwb("track_process", InSyncGroup),
		kw("notify_master", InSyncGroup, "COMMAND [USER [GROUP]]"), kw("notify_backup", InSyncGroup, "COMMAND [USER [GROUP]]"),
		kw("notify_fault", InSyncGroup, "COMMAND [USER [GROUP]]"), kw("notify_stop", InSyncGroup, "COMMAND [USER [GROUP]]"),
		kw("notify", InSyncGroup, "COMMAND [USER [GROUP]]"),
		kw("notify_priority_changes", InSyncGroup, "[BOOL]"),
		kw("sync_group_tracking_weight", InSyncGroup, ""),
		differs(kw("global_tracking", InSyncGroup, ""), "deprecated by keepalived; read as sync_group_tracking_weight"),
		ign("smtp_alert", InSyncGroup, whySMTP), ign("track_bfd", InSyncGroup, whyBFD),
		ign("notify_deleted", InSyncGroup, "DELETED notifications are not sent"),

		kw("script", InScript, "COMMAND"), clampLow(kws("interval", InScript, 1, 4294)),
		clampLow(kws("timeout", InScript, 1, 4294)), kwr("weight", InScript, "WEIGHT [reverse]", -253, 253, ""),
		clampLow(kwr("rise", InScript, "COUNT", 1, 2147483647, "runs")), clampLow(kwr("fall", InScript, "COUNT", 1, 2147483647, "runs")),
		kw("user", InScript, "USER [GROUP]"), kw("init_fail", InScript, ""),

		kw("file", InTrackFile, "PATH"), kwr("weight", InTrackFile, "WEIGHT [reverse]", -254, 254, ""), kw("init_file", InTrackFile, "[VALUE] [overwrite]"),

		kw("process", InTrackProcess, "NAME [PARAMS...]"), kw("param_match", InTrackProcess, "initial|partial"),
		kw("full_command", InTrackProcess, ""), kwr("weight", InTrackProcess, "WEIGHT [reverse]", -254, 254, ""),
		kwr("quorum", InTrackProcess, "COUNT", 1, 65535, "processes"), kwr("quorum_max", InTrackProcess, "COUNT", 0, 65535, "processes"),
		kwd("delay", InTrackProcess, 0.000001, 3600), kwd("fork_delay", InTrackProcess, 0.000001, 3600),
		kwd("terminate_delay", InTrackProcess, 0.000001, 3600),

		kw("auth_type", InAuth, "PASS|AH (AH: warned, the instance runs without authentication)"), kw("auth_pass", InAuth, "PASSWORD"),
	}
	for _, g := range garpKeywords {
		in, gl := g, g
		in.Where = InInstance
		gl.Where, gl.Name = InGlobal, "vrrp_"+g.Name
		if g.Name == "v3_checksum_as_v2" {
			// the one global spelling without the vrrp_ prefix
			gl.Name = g.Name
		}
		t = append(t, in, gl)
	}
	for name, why := range ignoredGlobalReasons {
		t = append(t, Keyword{Name: name, Where: InGlobal, Serve: NotServed, Why: why, Block: true})
	}
	sort.SliceStable(t, func(i, j int) bool {
		if t[i].Where != t[j].Where {
			return whereOrder(t[i].Where) < whereOrder(t[j].Where)
		}
		return t[i].Name < t[j].Name
	})
	return t
}()

// ignoredGlobalReasons: global_defs keywords of keepalived features xvrrp does
// not serve, with why.
var ignoredGlobalReasons = map[string]string{
	"notification_email": whySMTP, "notification_email_from": whySMTP, "smtp_server": whySMTP,
	"smtp_helo_name": whySMTP, "smtp_connect_timeout": whySMTP, "smtp_alert": whySMTP,
	"smtp_alert_vrrp": whySMTP, "smtp_alert_checker": whySMTP, "no_email_faults": whySMTP,
	"enable_traps": whySNMP, "enable_snmp_vrrp": whySNMP, "enable_snmp_keepalived": whySNMP,
	"enable_snmp_checker": whySNMP, "enable_snmp_rfc": whySNMP, "enable_snmp_rfcv2": whySNMP,
	"enable_snmp_rfcv3": whySNMP, "snmp_socket": whySNMP,
	"enable_dbus": whyDBus, "dbus_service_name": whyDBus,
	"lvs_id": whyLVS, "lvs_sync_daemon": whyLVS, "lvs_sync_daemon_interface": whyLVS, "lvs_timeouts": whyLVS,
	"lvs_flush": whyLVS, "lvs_flush_on_stop": whyLVS, "lvs_notify_fifo": whyLVS, "lvs_notify_fifo_script": whyLVS,
	"checker_priority": whyLVS, "checker_rt_priority": whyLVS, "checker_process_name": whyNames,
	"checker_no_swap": whyLVS, "checker_cpu_affinity": whyLVS, "checker_log_all_failures": whyLVS,
	"bfd_priority": whyBFD, "bfd_rt_priority": whyBFD, "bfd_process_name": whyBFD, "bfd_no_swap": whyBFD,
	"bfd_cpu_affinity": whyBFD,
	"vrrp_iptables":    whyFirewall, "vrrp_ipsets": whyFirewall, "nftables": whyFirewall,
	"nftables_priority": whyFirewall, "nftables_ifindex": whyFirewall, "nftables_counters": whyFirewall,
	"nftables_ipvs_priority": whyFirewall,
	"default_interface":      "static addresses without dev go on eth0, keepalived's default",
	"vrrp_garp_extra_if":     "GARP refresh on extra interfaces is not served",
	"vrrp_no_swap":           whySched, "max_auto_priority": whySched,
	"min_auto_priority_delay": whySched, "vrrp_process_name": whyNames, "process_names": whyNames,
	"process_name": whyNames, "dynamic_interfaces": "interfaces must exist when an instance starts",
	"log_unknown_vrids": "unknown VRIDs are counted by the XDP program instead",
	"vmac_prefix":       "macvlan names are vrrp.VRID or use_vmac's name", "vmac_addr_prefix": "macvlan names are vrrp.VRID or use_vmac's name",
	"random_seed":             "xvrrpd uses no seeded randomness a configuration could fix",
	"reload_check_config":     "a reload is always checked before it replaces the running configuration",
	"include_check":           "includes are always checked",
	"notify_fifo_script":      "FIFO reader scripts are not started; read the FIFO with your own service",
	"vrrp_notify_fifo_script": "FIFO reader scripts are not started; read the FIFO with your own service",
	"net_namespace":           whyNS, "net_namespace_ipvs": whyNS, "namespace_with_ipsets": whyNS,
	"instance":    "one xvrrpd per configuration; use distinct -pid-file and -control-socket",
	"use_pid_dir": "use -pid-file", "linkbeat_use_polling": "link state comes from netlink, not polling",
	"disable_local_igmp":  "IGMP is left to the kernel",
	"vrrp_rx_bufs_policy": whyTuning, "vrrp_rx_bufs_multiplier": whyTuning,
	"vrrp_netlink_cmd_rcv_bufs": whyTuning, "vrrp_netlink_cmd_rcv_bufs_force": whyTuning,
	"vrrp_netlink_monitor_rcv_bufs": whyTuning, "vrrp_netlink_monitor_rcv_bufs_force": whyTuning,
	"umask":                   "files are created with xvrrpd's own modes",
	"startup_script":          "run it from the service manager (ExecStartPre=)",
	"startup_script_timeout":  "run it from the service manager (ExecStartPre=)",
	"shutdown_script":         "run it from the service manager (ExecStopPost=)",
	"shutdown_script_timeout": "run it from the service manager (ExecStopPost=)",
	"script_security":         "use enable_script_security",
	"vrrp_dont_load":          "not applicable", "vrrp_version_ipv6": "not applicable",
	"child_wait_time": "xvrrpd forks no child processes to wait for",
}

func whereOrder(w Where) int {
	for i, x := range []Where{InTop, InGlobal, InInstance, InSyncGroup, InScript, InTrackFile, InTrackProcess, InAuth} {
		if x == w {
			return i
		}
	}
	return 99
}

var keywordIndex = func() map[Where]map[string]*Keyword {
	m := map[Where]map[string]*Keyword{}
	for i := range keywordTable {
		k := &keywordTable[i]
		if m[k.Where] == nil {
			m[k.Where] = map[string]*Keyword{}
		}
		m[k.Where][k.Name] = k
	}
	return m
}()

// Keywords returns the keyword table, in the order of docs/configuration.md's reference.
func Keywords() []Keyword { return append([]Keyword(nil), keywordTable...) }

// LookupKeyword finds the declaration of name in w.
func LookupKeyword(w Where, name string) (*Keyword, bool) {
	k, ok := keywordIndex[w][name]
	return k, ok
}

// KeywordUse counts one keyword's appearances in a configuration, for the
// migration report.
type KeywordUse struct {
	Keyword
	Count int
}

// use records s for the report and applies the table: it returns the
// declaration when the caller's handler must serve s, nil when s is done
// with (unknown, or not served and warned about).
func (p *parser) use(w Where, owner string, s *stmt) *Keyword {
	k, ok := LookupKeyword(w, s.kw)
	if !ok {
		p.d.unknown(s, owner)
		return nil
	}
	if p.uses == nil {
		p.uses = map[*Keyword]int{}
	}
	p.uses[k]++
	switch k.Serve {
	case NotServed:
		p.d.warnfKW(s.pos, WarnIgnored, k.Name, "%s is not supported by xvrrp (%s); ignored", s.kw, k.Why)
		return nil
	case NotServedYet:
		p.d.warnfKW(s.pos, WarnIgnored, k.Name, "%s is read and checked but not served yet (%s)", s.kw, k.Why)
	}
	if !k.Block {
		p.d.noBlock(s)
	}
	return k
}

// keywordUses lists the recorded uses in table order.
func (p *parser) keywordUses() []KeywordUse {
	var out []KeywordUse
	for i := range keywordTable {
		if n := p.uses[&keywordTable[i]]; n > 0 {
			out = append(out, KeywordUse{Keyword: keywordTable[i], Count: n})
		}
	}
	return out
}

// KeywordDoc renders the table as the keyword reference of
// docs/configuration.md (markdown): per block, each keyword with its value,
// range, unit and what xvrrpd does with it.
func KeywordDoc() string {
	var b strings.Builder
	var where Where = "-"
	cell := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	for _, k := range keywordTable {
		if k.Where != where {
			where = k.Where
			fmt.Fprintf(&b, "\n### %s\n\n| keyword | value | range | unit | xvrrpd |\n|---|---|---|---|---|\n", where)
		}
		v := k.Value
		if k.Block {
			v = strings.TrimSpace(v + " { }")
		}
		rng, unit := "", ""
		if k.Numeric() {
			rng, unit = fmtNum(k.Min)+".."+fmtNum(k.Max), k.Unit
			switch {
			case k.ClampLow:
				rng += fmt.Sprintf(" (0 is raised to %s, as keepalived does)", fmtNum(k.Min))
			case k.LowKeepsDefault:
				rng += " (0 is ignored with a warning, keeping the default, as keepalived does)"
			}
			if k.Kind == KindDecimal {
				unit += ", decimal"
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k.Name, cell(v), rng, unit, cell(k.Doing()))
	}
	return b.String()
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}
