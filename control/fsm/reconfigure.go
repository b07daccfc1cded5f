package fsm

import (
	"errors"
	"fmt"
	"time"
)

// ErrIdentityChanged is Reconfigure's refusal: the new configuration is
// another virtual router (or another kind of router) and needs a new Machine.
var ErrIdentityChanged = errors.New("virtual router identity changed")

// Reconfigure applies a reloaded configuration of the same virtual router
// in place, keeping the state, the master heard and the running timers
// (keepalived's reload keeps an instance whose identity is unchanged and
// sends nothing for it). A priority change is only a priority change: the
// next advert carries it, and an election it causes is an ordinary one (a
// backup that now beats its master takes over when its down timer expires
// after ignoring the master's lower-priority adverts, RFC 5798 §6.4.2; a
// master that now loses yields to the next higher advert, §6.4.3).
//
// The identity is what New fixes for the machine's life: name, VRID,
// version and whether it owns the addresses (priority 255: it never waits
// for a down timer, §6.4.1). ErrIdentityChanged says to build a new Machine.
// The initial state is not applied: it matters only at startup.
func (m *Machine) Reconfigure(cfg Config, now time.Time) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	old := m.cfg
	if cfg.Name != old.Name || cfg.VRID != old.VRID || cfg.Version != old.Version ||
		(cfg.Priority == PriorityOwner) != (old.Priority == PriorityOwner) {
		return fmt.Errorf("%s: %w", cfg.Name, ErrIdentityChanged)
	}
	if cfg.DownTimerAdverts == 0 {
		cfg.DownTimerAdverts = 3
	}
	// What New corrected stays corrected, and the runtime's values stay.
	cfg.InitialState = old.InitialState
	cfg.PrimaryAddr = old.PrimaryAddr
	if cfg.NoPreempt && cfg.InitialState == StateMaster {
		cfg.NoPreempt = false
	}
	m.cfg = cfg
	if old.Priority != PriorityOwner {
		// An owner keeps its base: 254 after an owner conflict stays.
		m.base = cfg.Priority
	}
	m.recomputePriority()
	switch m.state {
	case StateMaster:
		// Our own interval: the next advert keeps its phase when the
		// interval grows, and leaves no later than one new interval from
		// now when it shrinks.
		m.masterAdverInt = cfg.AdvertInterval
		m.masterAddr, m.masterPrio = cfg.PrimaryAddr, m.eff
		if next := now.Add(cfg.AdvertInterval); m.adverAt.After(next) {
			m.adverAt = next
		}
	case StateBackup:
		if cfg.PreemptDelay == 0 {
			m.preemptAt = time.Time{}
		}
		// v3 follows the master's advertised interval (§6.4.2); v2 and a
		// backup that has heard no master yet use their own.
		if cfg.Version == 2 || !m.masterAddr.IsValid() {
			m.masterAdverInt = cfg.AdvertInterval
		}
	default:
		m.masterAdverInt = cfg.AdvertInterval
	}
	return nil
}
