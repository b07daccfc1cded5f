package fsm

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// downCause remembers why a backup's Master_Down_Timer is running, so the
// transition to MASTER can say why without building strings per advert.
type downCause uint8

const (
	causeNoAdvert  downCause = iota // ordinary expiry: the master went silent
	causePrioZero                   // the master sent priority 0
	causePreempt                    // we ignored a lower-priority master
	causeStartMast                  // initial state MASTER, waiting Skew_Time
	causeRouteLost                  // gave MASTER up for a deleted route or rule, waiting Skew_Time
)

// Machine is the state machine of one vrrp_instance. It is not safe for
// concurrent use; the runtime serialises events per instance.
type Machine struct {
	cfg      Config
	state    State
	base     uint8 // base priority; lowered to 254 on an owner conflict
	delta    int   // tracker sum
	eff      uint8 // effective priority
	faults   []FaultReason
	warnings []string

	masterAdverInt time.Duration // Master_Adver_Interval (RFC 5798 §6.1)
	masterAddr     netip.Addr
	masterPrio     uint8

	adverAt    time.Time // MASTER: Adver_Timer
	downAt     time.Time // BACKUP: Master_Down_Timer
	preemptAt  time.Time // BACKUP with preempt_delay: no preemption before this
	cause      downCause
	causePrio  uint8
	causeAddr  netip.Addr
	wantMaster bool // in a sync group: our down timer expired, waiting for the group
	inGroup    bool
	stats      Stats
}

// New checks cfg and returns a machine in INIT; send EventStartup to start.
func New(cfg Config) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DownTimerAdverts == 0 {
		cfg.DownTimerAdverts = 3
	}
	if cfg.InitialState == StateInit {
		// keepalived: with no `state`, the owner starts MASTER, others BACKUP.
		cfg.InitialState = StateBackup
		if cfg.Priority == PriorityOwner {
			cfg.InitialState = StateMaster
		}
	}
	m := &Machine{cfg: cfg, state: StateInit, base: cfg.Priority, masterAdverInt: cfg.AdvertInterval}
	// keepalived vrrp_complete_instance: nopreempt is reset for the owner,
	// which always preempts (RFC 5798 §6.4.2 "Preempt_Mode ... ignored by owner").
	if m.cfg.NoPreempt && cfg.Priority == PriorityOwner {
		m.cfg.NoPreempt = false
		m.warnings = append(m.warnings, fmt.Sprintf("%s: nopreempt is incompatible with priority 255, ignored", cfg.Name))
	}
	// nopreempt only makes sense when starting as BACKUP (keepalived.conf(5)
	// "nopreempt ... the initial state of this entry must be BACKUP"): a
	// router that starts MASTER preempts by definition.
	if m.cfg.NoPreempt && m.cfg.InitialState == StateMaster {
		m.cfg.NoPreempt = false
		m.warnings = append(m.warnings, fmt.Sprintf("%s: nopreempt requires state BACKUP, ignored", cfg.Name))
	}
	if !cfg.PrimaryAddr.IsValid() {
		m.faults = append(m.faults, FaultReason{Kind: FaultNoSourceAddr})
	}
	m.recomputePriority()
	return m, nil
}

// Config returns the configuration in effect (after New's corrections).
func (m *Machine) Config() Config { return m.cfg }

// Warnings are configuration corrections made by New, for the log.
func (m *Machine) Warnings() []string { return slices.Clone(m.warnings) }

// State is the current state.
func (m *Machine) State() State { return m.state }

// EffectivePriority is base priority plus tracker deltas (clamped).
func (m *Machine) EffectivePriority() uint8 { return m.eff }

// MasterAdverInterval is the interval used for the down timer: the master's
// advertised one in v3 BACKUP (RFC 5798 §6.4.2), otherwise ours.
func (m *Machine) MasterAdverInterval() time.Duration { return m.masterAdverInt }

// MasterDownInterval is the current Master_Down_Interval.
func (m *Machine) MasterDownInterval() time.Duration {
	return MasterDownInterval(m.cfg.DownTimerAdverts, m.eff, m.masterAdverInt)
}

// SkewTime is the current Skew_Time.
func (m *Machine) SkewTime() time.Duration { return SkewTime(m.eff, m.masterAdverInt) }

// Master is the last master heard from (address and priority); zero if none.
func (m *Machine) Master() (netip.Addr, uint8) { return m.masterAddr, m.masterPrio }

// FaultReasons lists the reasons that hold, sorted, as text.
func (m *Machine) FaultReasons() []string {
	out := make([]string, 0, len(m.faults))
	for _, r := range m.faults {
		if m.faultCounts(r) {
			out = append(out, r.String())
		}
	}
	slices.Sort(out)
	return out
}

// Stats returns the counters.
func (m *Machine) Stats() Stats { return m.stats }

// NextDeadline is when the runtime must deliver EventTimer; zero if none.
func (m *Machine) NextDeadline() time.Time {
	switch m.state {
	case StateMaster:
		return m.adverAt
	case StateBackup:
		if m.wantMaster {
			return time.Time{}
		}
		return m.downAt
	}
	return time.Time{}
}

// faultCounts: dont_track_primary makes the primary interface's state
// irrelevant (keepalived.conf(5) dont_track_primary).
func (m *Machine) faultCounts(r FaultReason) bool {
	return !(r.Kind == FaultPrimaryInterfaceDown && m.cfg.DontTrackPrimary)
}

func (m *Machine) faulted() bool {
	for _, r := range m.faults {
		if m.faultCounts(r) {
			return true
		}
	}
	return false
}

func (m *Machine) firstFault() string {
	best := ""
	for _, r := range m.faults {
		if m.faultCounts(r) {
			if s := r.String(); best == "" || s < best {
				best = s
			}
		}
	}
	return best
}

// ownFaulted: faulted for a reason other than its sync group.
func (m *Machine) ownFaulted() bool {
	for _, r := range m.faults {
		if r.Kind != FaultSyncGroup && m.faultCounts(r) {
			return true
		}
	}
	return false
}

// recomputePriority: effective priority = base + tracker deltas, clamped to
// 1..254 for non-owners; the owner's priority never changes (keepalived
// vrrp_set_effective_priority; 255 is reserved for the owner and 0 for a
// stopping master, RFC 5798 §5.2.4).
func (m *Machine) recomputePriority() {
	if m.base == PriorityOwner {
		m.eff = PriorityOwner
		return
	}
	p := int(m.base) + m.delta
	m.eff = uint8(min(max(p, 1), 254))
}

// Handle applies ev at now and appends the resulting actions to out.
// It never allocates on the advert and timer paths in steady state.
func (m *Machine) Handle(ev Event, now time.Time, out []Action) []Action {
	switch ev.Kind {
	case EventStartup:
		return m.startup(now, out)
	case EventAdvert:
		return m.advert(&ev.Advert, now, out)
	case EventTimer:
		return m.timer(now, out)
	case EventSetPriorityDelta:
		m.delta = ev.Delta
		m.recomputePriority()
		return out
	case EventSetFault:
		return m.setFault(ev.Fault, now, out)
	case EventClearFault:
		return m.clearFault(ev.Fault, now, out)
	case EventSetPrimaryAddr:
		m.cfg.PrimaryAddr = ev.Addr
		r := FaultReason{Kind: FaultNoSourceAddr}
		if ev.Addr.IsValid() {
			return m.clearFault(r, now, out)
		}
		return m.setFault(r, now, out)
	case EventShutdown:
		return m.shutdown(out)
	case EventLeaveMaster:
		return m.leaveMaster(ev.Reason, now, out)
	}
	return out
}

func (m *Machine) transition(to State, cause Cause, reason string, out []Action) []Action {
	from := m.state
	m.state = to
	if to == StateMaster {
		m.stats.BecomeMaster++
	}
	if from == StateMaster {
		m.stats.ReleaseMaster++
	}
	return append(out, Action{Kind: ActionTransition, From: from, To: to, Cause: cause, Reason: reason})
}

func (m *Machine) sendAdvert(prio uint8, out []Action) []Action {
	m.stats.AdvertsSent++
	if prio == PriorityStop {
		m.stats.PriorityZeroSent++
	}
	return append(out, Action{Kind: ActionSendAdvert, Priority: prio})
}

// becomeMaster is RFC 5798 §6.4.1/§6.4.2 "transition to Master": send an
// advert, take the addresses, announce them, start the Adver_Timer with our
// own interval (a v3 master reverts to its configured interval).
func (m *Machine) becomeMaster(now time.Time, cause Cause, reason string, out []Action) []Action {
	m.wantMaster = false
	m.masterAdverInt = m.cfg.AdvertInterval
	m.masterAddr = m.cfg.PrimaryAddr
	m.masterPrio = m.eff
	m.preemptAt = time.Time{}
	// In §6.4.2's order: the advert, the addresses and their announcement
	// first, the transition (the log line, notify) after them.
	out = m.sendAdvert(m.eff, out)
	out = append(out, Action{Kind: ActionAddVIPs}, Action{Kind: ActionSendGratuitous})
	out = m.transition(StateMaster, cause, reason, out)
	m.adverAt = now.Add(m.cfg.AdvertInterval)
	return out
}

// becomeBackup enters BACKUP with a full Master_Down_Timer at our own
// interval (RFC 5798 §6.4.1; keepalived vrrp_state_leave_fault).
func (m *Machine) becomeBackup(now time.Time, cause Cause, reason string, out []Action) []Action {
	m.wantMaster = false
	m.masterAdverInt = m.cfg.AdvertInterval
	m.cause = causeNoAdvert
	out = m.transition(StateBackup, cause, reason, out)
	m.downAt = now.Add(m.MasterDownInterval())
	return out
}

func (m *Machine) startup(now time.Time, out []Action) []Action {
	if m.state != StateInit && m.state != StateStop {
		return out
	}
	m.masterAddr, m.masterPrio = netip.Addr{}, 0
	if m.faulted() {
		return m.transition(StateFault, CauseFault, "startup: "+m.firstFault(), out)
	}
	// RFC 5798 §6.4.1: the owner goes straight to MASTER.
	if m.eff == PriorityOwner {
		return m.becomeMaster(now, CauseOwner, "startup: address owner (priority 255)", out)
	}
	out = m.becomeBackup(now, CauseStartup, "startup", out)
	if m.cfg.PreemptDelay > 0 {
		// keepalived.conf(5) preempt_delay: "after startup ... until preemption".
		m.preemptAt = now.Add(m.cfg.PreemptDelay)
	}
	if m.cfg.InitialState == StateMaster {
		// keepalived `state MASTER` on a non-owner: take over after Skew_Time
		// unless a current master is heard first, so that a restarting
		// "MASTER" does not flap a running higher-priority master.
		m.cause = causeStartMast
		m.downAt = now.Add(m.SkewTime())
	}
	return out
}

func (m *Machine) timer(now time.Time, out []Action) []Action {
	switch m.state {
	case StateMaster:
		if now.Before(m.adverAt) {
			return out
		}
		// RFC 5798 §6.4.3: send an advert, reset the Adver_Timer. Keep the
		// phase; if the runtime was very late, re-anchor instead of bursting.
		out = m.sendAdvert(m.eff, out)
		m.adverAt = m.adverAt.Add(m.cfg.AdvertInterval)
		if !m.adverAt.After(now) {
			m.adverAt = now.Add(m.cfg.AdvertInterval)
		}
		return out
	case StateBackup:
		if m.wantMaster || m.downAt.IsZero() || now.Before(m.downAt) {
			return out
		}
		if m.inGroup {
			// keepalived vrrp_sync_can_goto_master: a sync group member only
			// goes MASTER when every member wants to; the Group decides.
			m.wantMaster = true
			return out
		}
		return m.becomeMaster(now, m.downCause(), m.downReason(), out)
	}
	return out
}

// downCause is the Cause of a Master_Down_Timer expiry.
func (m *Machine) downCause() Cause {
	switch m.cause {
	case causePrioZero:
		return CausePriorityZero
	case causePreempt:
		return CausePreempt
	case causeStartMast:
		return CauseStartAsMaster
	case causeRouteLost:
		return CauseRouteLost
	}
	return CauseMasterDown
}

func (m *Machine) downReason() string {
	switch m.cause {
	case causePrioZero:
		return fmt.Sprintf("master %s sent priority 0, skew time %v expired", m.causeAddr, m.SkewTime())
	case causePreempt:
		return fmt.Sprintf("preempt: our priority %d > master's %d", m.eff, m.causePrio)
	case causeStartMast:
		return fmt.Sprintf("startup as MASTER: no master heard in skew time %v", m.SkewTime())
	case causeRouteLost:
		return fmt.Sprintf("no master heard in skew time %v after giving MASTER up for a deleted route or rule: taking it back to reinstate them", m.SkewTime())
	}
	return fmt.Sprintf("master down interval %v expired", m.MasterDownInterval())
}

// higher reports whether adv beats us: higher priority, or equal priority
// and a higher primary address (RFC 5798 §6.4.3, compared as unsigned
// integers in network order, which is what netip.Addr.Compare does).
func (m *Machine) higher(adv *Advert) bool {
	return adv.Priority > m.eff || (adv.Priority == m.eff && adv.Src.Compare(m.cfg.PrimaryAddr) > 0)
}

func (m *Machine) advert(adv *Advert, now time.Time, out []Action) []Action {
	switch m.state {
	// The receive rules common to every state (RFC 5798 §7.1, RFC 3768 §7.1,
	// keepalived check_unicast_src) are applied once, before the engine, by
	// advert.Check: an advert handed to Handle is one the instance accepts.
	case StateBackup:
		m.stats.AdvertsReceived++
		return m.backupAdvert(adv, now, out)
	case StateMaster:
		m.stats.AdvertsReceived++
		return m.masterAdvert(adv, now, out)
	}
	m.stats.AdvertsReceived++
	m.stats.DroppedInactive++
	return out
}

// backupAdvert is RFC 5798 §6.4.2 "If an ADVERTISEMENT is received" with
// keepalived's preempt_delay (vrrp.c vrrp_state_backup).
func (m *Machine) backupAdvert(adv *Advert, now time.Time, out []Action) []Action {
	if adv.Priority == PriorityStop {
		// §6.4.2: priority 0 → Master_Down_Timer = Skew_Time.
		m.stats.PriorityZeroReceived++
		m.wantMaster = false
		m.cause, m.causeAddr = causePrioZero, adv.Src
		m.downAt = now.Add(m.SkewTime())
		return out
	}
	preemptHeld := m.cfg.PreemptDelay > 0 && (m.preemptAt.IsZero() || now.Before(m.preemptAt))
	if m.yields(adv.Priority) || preemptHeld {
		// §6.4.2: accept the master. v3: adopt its advertised interval
		// (RFC 5798 §6.4.2 "Set Master_Adver_Interval to Adver Interval").
		if m.cfg.Version == 3 && adv.Interval > 0 {
			m.masterAdverInt = adv.Interval
		}
		m.masterAddr, m.masterPrio = adv.Src, adv.Priority
		m.wantMaster = false
		m.cause = causeNoAdvert
		m.downAt = now.Add(m.MasterDownInterval())
		if m.cfg.PreemptDelay > 0 {
			if adv.Priority >= m.eff {
				m.preemptAt = time.Time{} // a better master: no preemption pending
			} else if m.preemptAt.IsZero() {
				m.preemptAt = now.Add(m.cfg.PreemptDelay)
			}
		}
		return out
	}
	// §6.4.2 "Otherwise: discard": a lower-priority master while we preempt.
	// The down timer keeps running, so we take over when it expires.
	m.masterAddr, m.masterPrio = adv.Src, adv.Priority
	m.cause, m.causePrio = causePreempt, adv.Priority
	return out
}

// yields reports whether a backup accepts a master advertising prio (not
// 0) whatever the time: §6.4.2 "If Preempt_Mode is False, or if the
// Priority in the ADVERTISEMENT is greater than or equal to the local
// Priority". keepalived's preempt_delay accepts lower priorities too, for
// a while (backupAdvert).
func (m *Machine) yields(prio uint8) bool { return m.cfg.NoPreempt || prio >= m.eff }

// RepeatOnlyRestartsTimer reports whether a repeat of the advert last
// accepted from the current master, at priority prio, would do nothing but
// restart the Master_Down_Timer (RFC 5798 §6.4.2): the machine is a backup
// waiting on that timer and yields to prio. Then the caller may note the
// repeat's arrival instead of delivering it, and deliver the latest before
// the timer's expiry. Not while a lower priority is accepted only because
// preempt_delay holds (its end turns the same advert into a discard), not
// for priority 0 (Skew_Time), and not while a sync group holds the member
// as wanting to be master (no deadline).
func (m *Machine) RepeatOnlyRestartsTimer(prio uint8) bool {
	if m.state != StateBackup || m.NextDeadline().IsZero() || prio == PriorityStop {
		return false
	}
	return m.yields(prio)
}

// masterAdvert is RFC 5798 §6.4.3 "If an ADVERTISEMENT is received" with
// RFC 9568's answer to lower priorities and keepalived's owner conflict,
// lower_prio_no_advert and higher_prio_send_advert (vrrp.c
// vrrp_state_master_rx).
func (m *Machine) masterAdvert(adv *Advert, now time.Time, out []Action) []Action {
	if adv.Priority == PriorityStop {
		// §6.4.3: priority 0 → send an advert at once, reset Adver_Timer.
		m.stats.PriorityZeroReceived++
		out = m.sendAdvert(m.eff, out)
		m.adverAt = now.Add(m.cfg.AdvertInterval)
		return out
	}
	cmp := adv.Src.Compare(m.cfg.PrimaryAddr)
	if adv.Priority == m.eff && cmp == 0 {
		// Our own address at our priority: a loop or a duplicate address.
		m.stats.DroppedOwnAddr++
		return out
	}
	if adv.Priority == PriorityOwner && m.eff == PriorityOwner {
		// Two address owners: keepalived reports a configuration error and
		// drops the local priority to 254, so exactly one stays master.
		m.stats.OwnerConflicts++
		m.base = PriorityOwner - 1
		m.recomputePriority()
		m.warnings = append(m.warnings, fmt.Sprintf("%s: another router (%s) is also address owner (priority 255); lowered ours to 254, fix the configuration", m.cfg.Name, adv.Src))
	}
	if !m.higher(adv) {
		// RFC 9568 §6.4.3: answer a lower-priority master at once so it
		// yields, unless keepalived's lower_prio_no_advert.
		m.stats.LowerPriorityReceived++
		if !m.cfg.LowerPrioNoAdvert {
			m.stats.LowerPriorityAnswered++
			out = m.sendAdvert(m.eff, out)
		}
		// keepalived vrrp_state_master_rx: after the advert, GARPs/NAs so
		// that clients which followed the other master come back.
		return append(out, Action{Kind: ActionMasterRxLowerPri})
	}
	if m.cfg.HigherPrioSendAdvert {
		out = m.sendAdvert(m.eff, out)
	}
	// §6.4.3: a better master: cancel Adver_Timer, adopt its interval (v3),
	// set Master_Down_Timer, transition to Backup.
	var reason string
	if adv.Priority > m.eff {
		reason = fmt.Sprintf("higher priority %d from %s", adv.Priority, adv.Src)
	} else {
		reason = fmt.Sprintf("equal priority %d from higher address %s", adv.Priority, adv.Src)
	}
	out = m.transition(StateBackup, CauseHigherPriority, reason, out)
	out = append(out, Action{Kind: ActionRemoveVIPs})
	m.adverAt = time.Time{}
	m.masterAdverInt = m.cfg.AdvertInterval
	if m.cfg.Version == 3 && adv.Interval > 0 {
		m.masterAdverInt = adv.Interval
	}
	m.masterAddr, m.masterPrio = adv.Src, adv.Priority
	m.cause = causeNoAdvert
	m.downAt = now.Add(m.MasterDownInterval())
	return out
}

func (m *Machine) setFault(r FaultReason, now time.Time, out []Action) []Action {
	if !slices.Contains(m.faults, r) {
		m.faults = append(m.faults, r)
	}
	if !m.faultCounts(r) {
		return out
	}
	switch m.state {
	case StateMaster:
		// keepalived vrrp_state_leave_master → FAULT: priority 0 so backups
		// take over after Skew_Time, and give the addresses up.
		out = m.transition(StateFault, CauseFault, r.String(), out)
		out = m.sendAdvert(PriorityStop, out)
		out = append(out, Action{Kind: ActionRemoveVIPs})
		m.adverAt = time.Time{}
	case StateBackup:
		out = m.transition(StateFault, CauseFault, r.String(), out)
		m.downAt = time.Time{}
		m.wantMaster = false
	}
	return out
}

func (m *Machine) clearFault(r FaultReason, now time.Time, out []Action) []Action {
	i := slices.Index(m.faults, r)
	if i < 0 {
		return out
	}
	m.faults = slices.Delete(m.faults, i, i+1)
	if m.state != StateFault || m.faulted() {
		return out
	}
	reason := r.String() + " cleared"
	// keepalived vrrp_state_leave_fault: the owner goes straight to MASTER,
	// others to BACKUP with a full Master_Down_Interval at their own interval.
	if m.eff == PriorityOwner {
		return m.becomeMaster(now, CauseFaultCleared, reason+"; address owner", out)
	}
	return m.becomeBackup(now, CauseFaultCleared, reason, out)
}

// leaveMaster is keepalived's set_vrrp_backup (keepalived_netlink.c), run
// when a tracked virtual route or rule of a MASTER is deleted behind its
// back: BACKUP without a priority-0 advert, the addresses, routes and rules
// given up, and the Master_Down_Timer set to Skew_Time ("we want a quick
// transition back to master"), so that unless another master is heard
// meanwhile the instance takes MASTER back and reinstates everything.
func (m *Machine) leaveMaster(reason string, now time.Time, out []Action) []Action {
	if m.state != StateMaster {
		return out
	}
	out = append(out, Action{Kind: ActionRemoveVIPs})
	out = m.transition(StateBackup, CauseRouteLost, reason, out)
	m.adverAt = time.Time{}
	m.wantMaster = false
	m.masterAdverInt = m.cfg.AdvertInterval
	m.cause = causeRouteLost
	m.downAt = now.Add(m.SkewTime())
	return out
}

func (m *Machine) shutdown(out []Action) []Action {
	switch m.state {
	case StateStop:
		return out
	case StateMaster:
		// RFC 5798 §6.4.3 Shutdown: cancel Adver_Timer, send priority 0.
		// The advert goes first: the backups' Skew_Time starts when it is
		// on the wire, and logging the transition can wait for it.
		out = m.sendAdvert(PriorityStop, out)
		out = append(out, Action{Kind: ActionRemoveVIPs})
		out = m.transition(StateStop, CauseShutdown, "shutdown", out)
	default:
		out = m.transition(StateStop, CauseShutdown, "shutdown", out)
	}
	m.adverAt, m.downAt, m.preemptAt = time.Time{}, time.Time{}, time.Time{}
	m.wantMaster = false
	return out
}
