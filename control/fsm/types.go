// Package fsm is the VRRP protocol engine: one pure state machine per
// vrrp_instance (RFC 5798 §6.4, RFC 9568 §6.4, RFC 3768 §6.4 for v2) with
// keepalived's extensions (FAULT state, nopreempt, preempt_delay, trackers,
// sync groups).
//
// A Machine is a transition function of (state, event, now) → (state,
// actions). It makes no syscalls, starts no goroutines and never reads the
// clock: the runtime passes `now`, asks NextDeadline for the single instant
// at which it must deliver a Timer event, and executes the Actions
// (send advert, add/remove VIPs, GARP/NA, notify) that Handle appends.
package fsm

import (
	"fmt"
	"net/netip"
	"time"
)

// State is a VRRP instance state. FAULT is keepalived's, STOP is the state
// after Shutdown (keepalived's notify "STOP").
type State uint8

const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
	StateStop
)

func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	case StateStop:
		return "STOP"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// PriorityOwner is the priority of the router that owns the virtual
// addresses (RFC 5798 §5.2.4); PriorityStop is the "I am leaving" priority
// sent when a master stops (RFC 5798 §5.2.4, §6.4.3).
const (
	PriorityOwner uint8 = 255
	PriorityStop  uint8 = 0
)

// Config is one vrrp_instance as the state machine needs it. Fields mirror
// keepalived.conf(5) keywords.
type Config struct {
	Name    string // vrrp_instance name, used in reasons and errors
	VRID    uint8  // virtual_router_id, 1..255
	Version uint8  // 2 or 3 (keepalived `version`, global vrrp_version)
	// Priority is the base priority, 1..255; 255 makes this router the
	// address owner (RFC 5798 §5.2.4).
	Priority uint8
	// AdvertInterval is our own Advertisement_Interval. v3 carries it in
	// centiseconds, v2 in whole seconds; the machine accepts any positive
	// duration and leaves wire rounding to the codec.
	AdvertInterval time.Duration
	// InitialState is keepalived's `state`: StateBackup or StateMaster.
	InitialState State
	// NoPreempt is keepalived's `nopreempt`. Only meaningful with
	// InitialState BACKUP; see Warnings.
	NoPreempt bool
	// PreemptDelay is keepalived's `preempt_delay`: after startup, or after
	// first seeing a lower-priority master, wait this long before preempting.
	PreemptDelay time.Duration
	// DownTimerAdverts replaces the 3 in Master_Down_Interval
	// (keepalived `down_timer_adverts`); 0 means 3.
	DownTimerAdverts int
	// LowerPrioNoAdvert: a master receiving a lower-priority advert does not
	// answer it (keepalived `lower_prio_no_advert`).
	LowerPrioNoAdvert bool
	// HigherPrioSendAdvert: a master receiving a higher-priority advert sends
	// one advert of its own before yielding, so that a master that had lost
	// contact learns of us (keepalived `higher_prio_send_advert`, global
	// vrrp_higher_prio_send_advert; vrrp.c vrrp_state_master_rx).
	HigherPrioSendAdvert bool
	// DontTrackPrimary: the primary interface going down is not a fault
	// (keepalived `dont_track_primary`).
	DontTrackPrimary bool
	// PrimaryAddr is our advert source address (unicast_src_ip or the
	// interface's primary address); used for the equal-priority tie-break
	// (RFC 5798 §6.4.3). Invalid means "no usable source address": FAULT.
	PrimaryAddr netip.Addr
}

// Validate reports the first configuration error, phrased for an operator.
func (c *Config) Validate() error {
	if c.VRID == 0 {
		return fmt.Errorf("vrrp_instance %s: virtual_router_id must be 1..255", c.Name)
	}
	if c.Version != 2 && c.Version != 3 {
		return fmt.Errorf("vrrp_instance %s: version %d unsupported, use 2 or 3", c.Name, c.Version)
	}
	if c.Priority == 0 {
		return fmt.Errorf("vrrp_instance %s: priority 0 is reserved for a stopping master (RFC 5798 §5.2.4), use 1..255", c.Name)
	}
	if c.AdvertInterval <= 0 {
		return fmt.Errorf("vrrp_instance %s: advert_int must be positive", c.Name)
	}
	if c.InitialState != StateBackup && c.InitialState != StateMaster && c.InitialState != StateInit {
		return fmt.Errorf("vrrp_instance %s: state must be MASTER or BACKUP, not %s", c.Name, c.InitialState)
	}
	if c.DownTimerAdverts < 0 || c.DownTimerAdverts > 100 {
		return fmt.Errorf("vrrp_instance %s: down_timer_adverts %d out of range 1..100", c.Name, c.DownTimerAdverts)
	}
	if c.PreemptDelay < 0 {
		return fmt.Errorf("vrrp_instance %s: preempt_delay must not be negative", c.Name)
	}
	return nil
}

// EventKind says which field of Event is meaningful.
type EventKind uint8

const (
	EventStartup EventKind = iota
	EventAdvert
	EventTimer
	EventSetPriorityDelta // Event.Delta: the sum of weighted tracker deltas
	EventSetFault         // Event.Fault
	EventClearFault       // Event.Fault
	EventSetPrimaryAddr   // Event.Addr; invalid sets FaultNoSourceAddr
	EventShutdown
	// EventLeaveMaster: a tracked virtual route or rule of a MASTER was
	// deleted behind the daemon's back (Event.Reason says which).
	EventLeaveMaster
)

// Advert is a decoded, checksum-verified advertisement addressed to this
// instance (the codec and the XDP program have already checked VRID, TTL,
// length and checksum).
type Advert struct {
	Src      netip.Addr
	Priority uint8
	// Interval is the advertised Max Adver Int (v3) or Adver Int (v2).
	Interval time.Duration
	Version  uint8
}

// FaultKind classifies fault reasons so that dont_track_primary and sync
// groups can treat some of them specially.
type FaultKind uint8

const (
	FaultPrimaryInterfaceDown FaultKind = iota + 1 // ignored with DontTrackPrimary
	FaultTrackedInterfaceDown                      // unweighted track_interface
	FaultTracker                                   // unweighted track_script/file/process/bfd
	FaultSyncGroup                                 // set by Group, never by the runtime
	FaultNoSourceAddr                              // no usable source address
	// FaultInterfaceMissing: no interface of the configured name exists
	// (deleted, or renamed away). Unlike FaultPrimaryInterfaceDown it holds
	// with dont_track_primary: nothing can be sent or received.
	FaultInterfaceMissing
)

// FaultReason is one cause of FAULT. Kind+Name is its identity.
type FaultReason struct {
	Kind FaultKind
	Name string // interface, tracker or group/member name
}

func (r FaultReason) String() string {
	switch r.Kind {
	case FaultPrimaryInterfaceDown, FaultTrackedInterfaceDown:
		return "interface " + r.Name + " down"
	case FaultTracker:
		return "tracker " + r.Name + " failed"
	case FaultSyncGroup:
		return "sync group " + r.Name + " in FAULT"
	case FaultNoSourceAddr:
		return "no usable source address" + nameSuffix(r.Name)
	case FaultInterfaceMissing:
		return "interface " + r.Name + " does not exist"
	}
	return fmt.Sprintf("fault(%d) %s", r.Kind, r.Name)
}

func nameSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " on " + s
}

// Event is an input to Machine.Handle.
type Event struct {
	Kind   EventKind
	Advert Advert      // EventAdvert
	Delta  int         // EventSetPriorityDelta
	Fault  FaultReason // EventSetFault, EventClearFault
	Addr   netip.Addr  // EventSetPrimaryAddr
	Reason string      // EventLeaveMaster
}

// ActionKind says what the runtime must do.
type ActionKind uint8

const (
	// ActionSendAdvert: send one advert with Action.Priority (0 when a master
	// stops or faults) at our own interval.
	ActionSendAdvert ActionKind = iota + 1
	ActionAddVIPs
	ActionRemoveVIPs
	// ActionSendGratuitous: GARP / unsolicited NA for the VIPs on becoming
	// master; repeats and refresh are the runtime's.
	ActionSendGratuitous
	// ActionTransition: the state changed From → To; Reason is for the log
	// ("VI_1: BACKUP → MASTER: <reason>"), notify scripts and metrics.
	// Exactly one per state change.
	ActionTransition
	// ActionMasterRxLowerPri: a master heard a lower-priority master (a
	// split brain ending), after answering it. The runtime re-announces the
	// VIPs now and again after garp_lower_prio_delay, garp_lower_prio_repeat
	// times each (0: not at all), and runs notify_master_rx_lower_pri and
	// the FIFO's MASTER_RX_LOWER_PRI line (keepalived vrrp_state_master_rx,
	// vrrp_lower_prio_gratuitous_arp_thread, send_event_notify).
	ActionMasterRxLowerPri
)

func (k ActionKind) String() string {
	switch k {
	case ActionSendAdvert:
		return "SendAdvert"
	case ActionAddVIPs:
		return "AddVIPs"
	case ActionRemoveVIPs:
		return "RemoveVIPs"
	case ActionSendGratuitous:
		return "SendGratuitous"
	case ActionTransition:
		return "Transition"
	case ActionMasterRxLowerPri:
		return "MasterRxLowerPri"
	}
	return fmt.Sprintf("ActionKind(%d)", uint8(k))
}

// Cause classifies a transition in one stable word, for metrics labels and
// alerting (Reason carries the details: numbers and addresses).
type Cause string

const (
	CauseStartup        Cause = "startup"
	CauseOwner          Cause = "address_owner"
	CauseMasterDown     Cause = "master_down"
	CausePriorityZero   Cause = "priority_zero"
	CausePreempt        Cause = "preempt"
	CauseStartAsMaster  Cause = "start_as_master"
	CauseHigherPriority Cause = "higher_priority"
	CauseFault          Cause = "fault"
	CauseFaultCleared   Cause = "fault_cleared"
	CauseSyncGroup      Cause = "sync_group"
	CauseShutdown       Cause = "shutdown"
	CauseRouteLost      Cause = "route_lost" // a virtual route or rule was deleted
)

// Action is an output of Machine.Handle.
type Action struct {
	Kind     ActionKind
	Priority uint8 // ActionSendAdvert
	From, To State // ActionTransition
	Cause    Cause // ActionTransition
	Reason   string
}

// Stats are per-instance counters (RFC 6527 MIB-like), for metrics.
type Stats struct {
	AdvertsReceived       uint64
	AdvertsSent           uint64
	PriorityZeroReceived  uint64
	PriorityZeroSent      uint64
	BecomeMaster          uint64
	ReleaseMaster         uint64
	DroppedOwnAddr        uint64 // equal priority from our own address
	DroppedInactive       uint64 // received in INIT, FAULT or STOP
	OwnerConflicts        uint64 // two address owners on the LAN
	LowerPriorityAnswered uint64 // master answered a lower-priority advert
	// LowerPriorityReceived: a master heard a non-zero lower-priority advert
	// (or an equal one from a lower address), i.e. another router was
	// master at the same time: a split brain (keepalived
	// MASTER_RX_LOWER_PRI).
	LowerPriorityReceived uint64
}
