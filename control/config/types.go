// Package config reads keepalived.conf (keepalived.conf(5), keepalived 2.2.x) into
// plain, fully defaulted data for xvrrpd. It does no I/O beyond reading the
// configuration files and their includes: every check the configuration alone
// allows happens in Load, so `xvrrpd -t` can validate without touching the host.
package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Pos is where a statement was read: the file as opened (relative paths stay
// relative, includes are joined to the including file's directory) and its line.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("line %d", p.Line)
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// State is the initial state of an instance as configured (keepalived `state`).
type State string

const (
	StateMaster State = "MASTER"
	StateBackup State = "BACKUP"
)

// Config is one whole keepalived.conf after includes, defaults and validation.
type Config struct {
	Global         Global
	Instances      []*Instance
	SyncGroups     []*SyncGroup
	Scripts        map[string]*Script
	TrackFiles     map[string]*TrackFile
	TrackProcesses map[string]*TrackProcess
	// StaticAddresses, StaticRoutes and StaticRules are the top-level
	// static_ipaddress, static_routes and static_rules blocks (keepalived.conf(5)
	// "Static routes/addresses/rules"): present whatever the VRRP state.
	StaticAddresses []VIP
	StaticRoutes    []Route
	StaticRules     []Rule
	// Source lists every file read, main file first, in the order opened.
	Source []string
	// Keywords counts every keyword read, for the migration report.
	Keywords []KeywordUse
}

// FIFO is a notify FIFO (`notify_fifo FIFO_NAME [username [groupname]]`).
type FIFO struct {
	Pos   Pos
	Path  string
	User  string
	Group string
}

// Global holds global_defs, with keepalived's defaults where a keyword is absent.
type Global struct {
	Pos Pos
	// RouterID is empty when not configured; keepalived then uses the host name,
	// which the daemon fills in (this package makes no syscalls).
	RouterID    string
	VRRPVersion int        // vrrp_version, default 2
	McastGroup4 netip.Addr // vrrp_mcast_group4, default 224.0.0.18 (RFC 5798 §5.1.1.2)
	McastGroup6 netip.Addr // vrrp_mcast_group6, default ff02::12 (RFC 5798 §5.1.2.2)

	GarpMasterDelay         time.Duration // vrrp_garp_master_delay, default 5s
	GarpMasterRepeat        int           // vrrp_garp_master_repeat, default 5
	GarpLowerPrioDelay      time.Duration // vrrp_garp_lower_prio_delay, default GarpMasterDelay
	GarpLowerPrioRepeat     int           // vrrp_garp_lower_prio_repeat, default GarpMasterRepeat
	GarpMasterRefresh       time.Duration // vrrp_garp_master_refresh, default 0 (off)
	GarpMasterRefreshRepeat int           // vrrp_garp_master_refresh_repeat, default 1
	GarpInterval            time.Duration // vrrp_garp_interval, default 0
	GnaInterval             time.Duration // vrrp_gna_interval, default 0
	DownTimerAdverts        int           // vrrp_down_timer_adverts, default 3

	LowerPrioNoAdvert     bool // vrrp_lower_prio_no_advert, default false (true under vrrp_strict)
	HigherPrioSendAdvert  bool // vrrp_higher_prio_send_advert
	CheckUnicastSrc       bool // vrrp_check_unicast_src
	SkipCheckAdvAddr      bool // vrrp_skip_check_adv_addr
	Strict                bool // vrrp_strict
	NotifyPriorityChanges bool // vrrp_notify_priority_changes

	StartupDelay time.Duration // vrrp_startup_delay

	// Process scheduling (keepalived.conf(5) global_defs), applied by
	// control/procsched: vrrp_priority (nice, set when VRRPNiceSet),
	// vrrp_rt_priority (SCHED_RR 1..99, 0 none), vrrp_rlimit_rttime (µs, 0
	// keepalived's default), vrrp_cpu_affinity (CPU numbers).
	VRRPNice         int
	VRRPNiceSet      bool
	VRRPRTPriority   int
	VRRPRLimitRTTime int
	VRRPCPUAffinity  []int

	// V3ChecksumAsV2 is v3_checksum_as_v2 in global_defs: the default of the
	// vrrp_instance keyword of that name (keepalived.conf(5) global_defs:
	// "See vrrp_instance description of V3_checksum_as_V2").
	V3ChecksumAsV2 bool

	// ScriptUser/ScriptGroup are empty when not configured: keepalived then uses
	// keepalived_script if that user exists, else its own uid. Whether the user
	// exists is checked by the daemon, not here.
	ScriptUser           string
	ScriptGroup          string
	EnableScriptSecurity bool

	NotifyFIFO     *FIFO // notify_fifo
	VRRPNotifyFIFO *FIFO // vrrp_notify_fifo
}

// VIP is one line of virtual_ipaddress / virtual_ipaddress_excluded.
type VIP struct {
	Pos    Pos
	Prefix netip.Prefix // address and mask; no mask means /32 or /128
	// Dev is the interface named by `dev`, or the instance's interface.
	Dev   string
	Label string
	// Scope is one of global (default), site, link, host, nowhere, or a number.
	Scope     string
	Broadcast netip.Addr // invalid when not given
	NoTrack   bool
}

// UnicastPeer is one line of unicast_peer.
type UnicastPeer struct {
	Pos    Pos
	Addr   netip.Addr
	MinTTL int // default 0
	MaxTTL int // default 255
}

// Auth is the authentication block (RFC 2338 §5.3.6; removed by RFC 3768).
type Auth struct {
	Pos  Pos
	Type string // "PASS" or "AH"
	Pass string // at most 8 bytes: keepalived uses only the first eight
}

// TrackInterface is one line of track_interface.
type TrackInterface struct {
	Pos     Pos
	Name    string
	Weight  int
	Reverse bool
}

// TrackRef names a vrrp_script, track_file or vrrp_track_process from an
// instance or sync group. Weight and Reverse are resolved: the override given on
// the line, else the tracker's own.
type TrackRef struct {
	Pos     Pos
	Name    string
	Weight  int
	Reverse bool
}

// NotifyScript is a notify_* command line.
type NotifyScript struct {
	Pos Pos
	// Command is the command as written (quotes removed); Args is it split into
	// words with keepalived's rules (quotes group, backslash escapes).
	Command string
	Args    []string
	User    string // empty: the global script_user
	Group   string
}

// Notify holds the notify scripts of an instance or sync group.
type Notify struct {
	Master           *NotifyScript
	Backup           *NotifyScript
	Fault            *NotifyScript
	Stop             *NotifyScript
	Any              *NotifyScript // `notify`
	MasterRxLowerPri *NotifyScript
	PriorityChanges  bool // notify_priority_changes
}

// Instance is one vrrp_instance, fully defaulted.
type Instance struct {
	Pos       Pos
	Name      string
	State     State // configured initial state; default MASTER iff priority 255
	Interface string
	VRID      int // 1..255
	Priority  int // 1..255; default 255 with state MASTER, else 100
	// AdvertInterval is advert_int, default 1s.
	AdvertInterval time.Duration
	Version        int // 2 or 3 after defaulting (IPv6 instances default to 3)
	Family         int // 4 or 6: the family of the first VIP or unicast_src_ip

	Nopreempt    bool
	PreemptDelay time.Duration
	Accept       bool // accept mode; default true, under strict mode true iff priority 255
	Strict       bool // strict_mode, default the global vrrp_strict
	Auth         *Auth

	// SrcIP is unicast_src_ip or mcast_src_ip (one field in keepalived); invalid
	// when not configured.
	SrcIP        netip.Addr
	UnicastPeers []UnicastPeer
	// McastGroup is mcast_dst_ip, else the global group of the instance's family.
	McastGroup netip.Addr
	UnicastTTL int // unicast_ttl, default 255

	VIPs         []VIP
	ExcludedVIPs []VIP
	// VirtualRoutes / VirtualRules are virtual_routes / virtual_rules: added
	// with the VIPs when MASTER, removed when leaving it.
	VirtualRoutes []Route
	VirtualRules  []Rule

	UseVMAC      bool
	VMACName     string // empty: keepalived's vrrp.<VRID>
	VMACXmitBase bool

	DontTrackPrimary bool
	TrackInterfaces  []TrackInterface
	TrackScripts     []TrackRef
	TrackFiles       []TrackRef
	TrackProcesses   []TrackRef
	Notify           Notify

	GarpMasterDelay         time.Duration
	GarpMasterRepeat        int
	GarpLowerPrioDelay      time.Duration
	GarpLowerPrioRepeat     int
	GarpMasterRefresh       time.Duration
	GarpMasterRefreshRepeat int
	DownTimerAdverts        int
	LowerPrioNoAdvert       bool
	HigherPrioSendAdvert    bool
	CheckUnicastSrc         bool
	SkipCheckAdvAddr        bool

	// OldUnicastChecksum is old_unicast_checksum: which VRRPv3 IPv4 unicast
	// checksum form the instance sends and accepts (keepalived.conf(5)
	// vrrp_instance `old_unicast_checksum [never]`).
	OldUnicastChecksum UnicastChecksum
	// V3ChecksumAsV2 is v3_checksum_as_v2, default the global_defs keyword of
	// that name: the IPv4 VRRPv3 checksum leaves the pseudo-header out, as
	// VRRPv2 does, both sent and verified (keepalived.conf(5) vrrp_instance
	// `v3_checksum_as_v2 [<BOOL>]`). No effect on VRRPv2 or IPv6.
	V3ChecksumAsV2 bool

	SyncGroup string // name of the sync group holding this instance, if any
}

// UnicastChecksum is keepalived's unicast checksum compatibility mode for
// VRRPv3 over IPv4 (keepalived.conf(5) vrrp_instance old_unicast_checksum).
// keepalived ≤ 1.3.6 put 224.0.0.18 in the checksum pseudo-header of
// unicast adverts instead of the peer's address. It has no effect on
// multicast, VRRPv2 or IPv6 instances, nor with V3ChecksumAsV2 (no
// pseudo-header then).
type UnicastChecksum int

const (
	// UnicastChecksumAuto, the default: send the RFC 5798 §5.2.8 form and
	// accept the old form too ("keepalived will attempt to maintain
	// compatibility anyway if it sees an old version checksum"; keepalived
	// then switches to sending the old form, vrrp.c vrrp_check_packet).
	UnicastChecksumAuto UnicastChecksum = iota
	// UnicastChecksumOld, `old_unicast_checksum`: "forces the old checksum
	// algorithm to be used" when sending. xvrrp keeps accepting both forms
	// on receive (keepalived then verifies the old form only), so a peer
	// that already sends the RFC form is not refused.
	UnicastChecksumOld
	// UnicastChecksumNever, `old_unicast_checksum never`: "turn off auto
	// detection of old checksums"; only the RFC form is accepted.
	UnicastChecksumNever
)

func (u UnicastChecksum) String() string {
	switch u {
	case UnicastChecksumAuto:
		return "auto"
	case UnicastChecksumOld:
		return "old"
	case UnicastChecksumNever:
		return "never"
	}
	return fmt.Sprintf("UnicastChecksum(%d)", int(u))
}

// Unicast reports whether the instance sends adverts to unicast peers.
func (in *Instance) Unicast() bool { return len(in.UnicastPeers) > 0 }

// InstanceKey identifies an instance on the wire and across reloads: keepalived
// keeps the state of an instance across a reload when these match (its socket is
// per interface, family and unicast/multicast, and the VRID selects within it).
type InstanceKey struct {
	Interface string
	VRID      int
	Family    int
	Unicast   bool
}

// Key returns the reload-matching key of the instance.
func (in *Instance) Key() InstanceKey {
	return InstanceKey{Interface: in.Interface, VRID: in.VRID, Family: in.Family, Unicast: in.Unicast()}
}

// Equivalent reports whether a and b are the same virtual router for reload
// purposes (same Key), whatever else changed.
func Equivalent(a, b *Instance) bool { return a.Key() == b.Key() }

// SyncGroup is one vrrp_sync_group.
type SyncGroup struct {
	Pos     Pos
	Name    string
	Members []string // instance names, in order

	TrackInterfaces []TrackInterface
	TrackScripts    []TrackRef
	TrackFiles      []TrackRef
	TrackProcesses  []TrackRef
	Notify          Notify
	// TrackingWeight is sync_group_tracking_weight: members keep their trackers'
	// weights. Without it keepalived forces member tracker weights to 0.
	TrackingWeight bool
}

// Script is one vrrp_script.
type Script struct {
	Pos      Pos
	Name     string
	Command  string        // as written, quotes removed
	Args     []string      // Command split into words
	Interval time.Duration // default 1s, at least 1s
	Timeout  time.Duration // default Interval (keepalived vrrp_scheduler.c)
	Weight   int           // -253..253, default 0
	Reverse  bool
	Rise     int // default 1
	Fall     int // default 1
	User     string
	Group    string
	InitFail bool
}

// TrackFile is one vrrp_track_file / track_file block.
type TrackFile struct {
	Pos           Pos
	Name          string
	Path          string
	Weight        int // default 1
	Reverse       bool
	InitFile      bool // init_file given
	InitValue     int
	InitOverwrite bool
}

// TrackProcess is one vrrp_track_process block.
type TrackProcess struct {
	Pos     Pos
	Name    string
	Process string   // process name (or path) to match
	Params  []string // parameters to match, if any
	// ParamMatch is "" (exact, when Params given), "initial" or "partial".
	ParamMatch     string
	FullCommand    bool
	Weight         int // -254..254, default 1
	Reverse        bool
	Quorum         int // default 1
	QuorumMax      int // -1: no maximum (default)
	ForkDelay      time.Duration
	TerminateDelay time.Duration
}
