// Package status defines the document xvrrpd serves on its control socket and
// xvrrpctl prints: the complete, current picture of every instance, sync
// group, tracker and interface ("who is master and why"). It also holds the
// socket's request/response framing (one JSON object per line each way).
package status

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// Document is the whole status.
type Document struct {
	Version    string      `json:"version"`
	RouterID   string      `json:"router_id,omitempty"`
	ConfigFile string      `json:"config_file"`
	PID        int         `json:"pid"`
	Started    time.Time   `json:"started"`
	Reload     Reload      `json:"reload"`
	Instances  []Instance  `json:"instances"`
	SyncGroups []SyncGroup `json:"sync_groups,omitempty"`
	Interfaces []Interface `json:"interfaces"`
	Dataplane  Dataplane   `json:"dataplane"`
	Timers     Timers      `json:"timers"`
	Warnings   []string    `json:"warnings,omitempty"`
	Static     Static      `json:"static"`
}

// Static counts static_ipaddress, static_routes and static_rules, and the
// times one was deleted behind xvrrpd's back (and restored).
type Static struct {
	Addresses int    `json:"addresses"`
	Routes    int    `json:"routes"`
	Rules     int    `json:"rules"`
	Lost      uint64 `json:"lost"`
}

// Dataplane holds the receive path's counters that are not per interface.
type Dataplane struct {
	// RingLost counts adverts the XDP program accepted but could not hand to
	// user space because the ring buffer was full.
	RingLost uint64 `json:"ring_lost"`
	PinDir   string `json:"pin_dir"`
}

// Timers reports whether xvrrpd got the CPU when its timers were due. A
// batch of timers fired a whole advert interval (the shortest configured)
// late means adverts left late or not at all: peers take over after three
// intervals of silence, and this is the cause to look for behind a false
// failover (keepalived logs "thread timer expired" for the same).
type Timers struct {
	LateBatches uint64   `json:"late_batches"`
	MaxLateness Duration `json:"max_lateness"`
}

// Reload reports the configuration reloads since start.
type Reload struct {
	Successes uint64    `json:"successes"`
	Failures  uint64    `json:"failures"`
	Last      time.Time `json:"last,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// Instance is one vrrp_instance.
type Instance struct {
	Name      string `json:"name"`
	Interface string `json:"interface"`
	VRID      int    `json:"vrid"`
	Family    string `json:"family"` // "inet" or "inet6"
	Version   int    `json:"version"`
	Unicast   bool   `json:"unicast"`

	State  string    `json:"state"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"` // why it is in State: the last transition's cause

	BasePriority      int `json:"base_priority"`
	EffectivePriority int `json:"effective_priority"`

	// Master is who this host believes is master: "self" or the source
	// address of the last accepted advert, with its priority.
	Master         string    `json:"master,omitempty"`
	MasterPriority int       `json:"master_priority,omitempty"`
	LastAdvert     time.Time `json:"last_advert,omitempty"`

	AdvertInterval       Duration `json:"advert_interval"`
	MasterAdvertInterval Duration `json:"master_advert_interval"`
	MasterDownInterval   Duration `json:"master_down_interval"`

	VIPs []VIP `json:"vips"`
	// VirtualRoutes and VirtualRules count the instance's virtual_routes and
	// virtual_rules; RoutesHeld says they are on the host (it is MASTER).
	VirtualRoutes int          `json:"virtual_routes,omitempty"`
	VirtualRules  int          `json:"virtual_rules,omitempty"`
	RoutesHeld    bool         `json:"routes_held,omitempty"`
	Trackers      []Tracker    `json:"trackers,omitempty"`
	FaultReasons  []string     `json:"fault_reasons,omitempty"`
	SyncGroup     string       `json:"sync_group,omitempty"`
	Transitions   []Transition `json:"transitions,omitempty"` // most recent last
	// TransitionCounts counts every transition since start by (from, to,
	// cause), cause being a short stable word (master_down, preempt, ...).
	TransitionCounts []TransitionCount `json:"transition_counts,omitempty"`

	AdvertsSent     uint64 `json:"adverts_sent"`
	AdvertsReceived uint64 `json:"adverts_received"`
	// SplitBrains counts lower-priority adverts heard as master (another
	// router was master too); LowerPrioReannouncements the GARP/NA
	// re-announcements they started (garp_lower_prio_repeat).
	SplitBrains              uint64            `json:"split_brains,omitempty"`
	LowerPrioReannouncements uint64            `json:"lower_prio_reannouncements,omitempty"`
	Errors                   map[string]uint64 `json:"errors,omitempty"`
}

// VIP is one virtual address and whether this host holds it now.
type VIP struct {
	Address string `json:"address"`
	Dev     string `json:"dev"`
	NoTrack bool   `json:"no_track,omitempty"`
	Present bool   `json:"present"`
}

// Tracker is one tracker as it applies to one instance.
type Tracker struct {
	Kind   string `json:"kind"` // script, process, file, interface
	Name   string `json:"name"`
	Status string `json:"status"` // ok, failed, insecure, unknown
	Weight int    `json:"weight"`
	// Delta is what the tracker adds to the instance's priority now; Fault
	// says it holds the instance in FAULT.
	Delta   int       `json:"delta"`
	Fault   bool      `json:"fault,omitempty"`
	Detail  string    `json:"detail,omitempty"` // last result, error or insecurity
	LastRun time.Time `json:"last_run,omitempty"`
	// Insecure is set while the script fails the security check.
	Insecure bool `json:"insecure,omitempty"`
	// Failures counts failed runs by reason: timeout, exit_code, exec_error,
	// insecure.
	Failures map[string]uint64 `json:"failures,omitempty"`
}

// TransitionCount is how often an instance went from one state to another
// for one cause.
type TransitionCount struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Cause string `json:"cause"`
	Count uint64 `json:"count"`
}

// Transition is one state change.
type Transition struct {
	Time   time.Time `json:"time"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Cause  string    `json:"cause"`
	Reason string    `json:"reason"`
}

// SyncGroup is one vrrp_sync_group.
type SyncGroup struct {
	Name    string   `json:"name"`
	State   string   `json:"state"`
	Members []string `json:"members"`
}

// Interface is the dataplane on one interface.
type Interface struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	// Attach is where the receive program runs: "native" or "generic"
	// (XDP), "tcx" (TCX ingress), or "" when not attached.
	Attach string `json:"attach"`
	// XDPMode is Attach under its name of before TCX, kept for readers of
	// that field.
	XDPMode string `json:"xdp_mode"`
	// Missing: no interface of this name exists (deleted, or renamed
	// away); its instances are in FAULT until one does.
	Missing  bool              `json:"missing,omitempty"`
	Counters map[string]uint64 `json:"counters,omitempty"`
}

// Duration marshals as a Go duration string ("1s", "10ms").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// String returns the duration as Go prints it.
func (d Duration) String() string { return time.Duration(d).String() }

// Commands the control socket accepts.
const (
	CmdStatus = "status"
	CmdReload = "reload"
)

// Request is one line from the client.
type Request struct {
	Command string `json:"command"`
}

// Response is the daemon's one-line answer.
type Response struct {
	OK     bool      `json:"ok"`
	Error  string    `json:"error,omitempty"`
	Errors []string  `json:"errors,omitempty"` // e.g. every parse error of a failed reload
	Status *Document `json:"status,omitempty"`
}

// Call sends one request to the control socket at path and returns the
// answer.
func Call(path string, req Request, timeout time.Duration) (*Response, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to xvrrpd at %s: %w (is xvrrpd running? pass --control-socket)", path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, fmt.Errorf("send %s to %s: %w", req.Command, path, err)
	}
	var resp Response
	r := bufio.NewReaderSize(c, 1<<16)
	if err := json.NewDecoder(r).Decode(&resp); err != nil {
		return nil, fmt.Errorf("read answer from %s: %w", path, err)
	}
	return &resp, nil
}
